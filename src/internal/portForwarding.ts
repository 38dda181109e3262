/**
 * Port forwarding over a ready Port session (AGENT-PROTOCOL.md section 10): the client's mode gates, and
 * in-process connections as `Socket`s (multiplexed mode: one smux stream each).
 *
 * @internal
 */
import * as Socket from "@effect/platform/Socket"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as PortForwarding from "../PortForwarding.js"
import type * as Session from "../Session.js"
import * as Smux from "../Smux.js"
import * as Version from "./version.js"

/** @internal */
export const ErrorTypeId: PortForwarding.ErrorTypeId = Symbol.for(
  "ssm-session-manager/PortForwarding/PortForwardingError"
) as PortForwarding.ErrorTypeId

/** @internal */
export class PortForwardingError extends Data.TaggedError("PortForwardingError")<{
  readonly reason: PortForwarding.PortForwardingError.Reason
  readonly detail: string
  readonly cause?: unknown
}> {
  readonly [ErrorTypeId]: PortForwarding.ErrorTypeId = ErrorTypeId
  override get message(): string {
    return `${this.reason}: ${this.detail}`
  }
}

/** @internal */
export const isPortForwardingError = (u: unknown): u is PortForwardingError => Predicate.hasProperty(u, ErrorTypeId)

/**
 * The mode the official client picks (section 10.1, gates 9 and 10): both ends must agree or the session carries
 * garbage, and the agent's side of the gate depends on the ClientVersion we report (1.2.694.0).
 * @internal
 */
export const chooseMode = (
  properties: Readonly<Record<string, unknown>> | null,
  agentVersion: Option.Option<string>
): PortForwarding.Mode => {
  if (properties?.["type"] !== "LocalPortForwarding") return { _tag: "StandardStream" }
  const agent = Option.getOrElse(agentVersion, () => "")
  if (!Version.isGreaterThan(agent, Version.MUX_AFTER_AGENT_VERSION)) return { _tag: "Basic" }
  return { _tag: "Mux", keepAlive: !Version.isGreaterThan(agent, Version.KEEPALIVE_DISABLED_AFTER_AGENT_VERSION) }
}

/** @internal */
export const make = (
  session: Session.Session
): Effect.Effect<PortForwarding.PortForwarding, PortForwardingError, Scope.Scope> =>
  Effect.gen(function*() {
    if (session.sessionType !== "Port") {
      return yield* new PortForwardingError({
        reason: "NotAPortSession",
        detail: `the session is of type ${session.sessionType}`
      })
    }
    const mode = chooseMode(session.properties, session.agentVersion)
    if (mode._tag !== "Mux") return yield* makeSingle(session, mode)
    const smux = yield* Smux.make({ incoming: session.output, write: session.write }, {
      role: "client",
      keepAlive: mode.keepAlive
    })
    let connectErrors = 0
    // the agent reports a failed dial with a ConnectToPortError flag and closes that stream (FIN)
    yield* Effect.forkScoped(Stream.runForEach(session.events, (event) =>
      event._tag === "Flag" && event.flag === 3
        ? Effect.zipRight(
          Effect.sync(() => connectErrors++),
          Effect.logWarning("PortForwarding: the agent could not connect to the destination port")
        )
        : Effect.void).pipe(Effect.ignore))
    const openStream = Effect.mapError(
      smux.open,
      (cause) => new PortForwardingError({ reason: "Tunnel", detail: "the tunnel could not open a stream", cause })
    )
    return {
      mode,
      session,
      openStream,
      connect: Effect.map(openStream, Smux.toSocket),
      connectErrors: Effect.sync(() => connectErrors)
    } satisfies PortForwarding.PortForwarding
  })

const encoder = new TextEncoder()

/**
 * Basic and standard-stream modes: the session's bytes are one connection's bytes, so connections take turns;
 * in basic mode the end of each sends DisconnectToPort, and the agent dials again on the next data (10.2, 10.4).
 */
const makeSingle = (
  session: Session.Session,
  mode: PortForwarding.Mode
): Effect.Effect<PortForwarding.PortForwarding, never, Scope.Scope> =>
  Effect.gen(function*() {
    const pull = yield* Stream.toPull(session.output)
    const turn = yield* Effect.makeSemaphore(1)
    const readError = (cause: unknown) => new Socket.SocketGenericError({ reason: "Read", cause })

    const connect: Effect.Effect<Socket.Socket, PortForwardingError, Scope.Scope> = Effect.gen(function*() {
      yield* Effect.acquireRelease(turn.take(1), () =>
        Effect.zipRight(
          mode._tag === "Basic" ? Effect.ignore(session.sendFlag(1)) : Effect.void,
          turn.release(1)
        ))
      let closed = false
      const runRaw = <_, E, R>(
        handler: (data: Uint8Array) => Effect.Effect<_, E, R> | void,
        options?: { readonly onOpen?: Effect.Effect<void> | undefined }
      ): Effect.Effect<void, Socket.SocketError | E, R> =>
        Effect.zipRight(
          options?.onOpen ?? Effect.void,
          Effect.gen(function*() {
            while (!closed) {
              // the session's output ending ends the connection; a session failure is a read error
              const chunk = yield* Effect.catchAll(
                Effect.map(pull, Option.some),
                (error) => Option.isNone(error) ? Effect.succeed(Option.none()) : Effect.fail(readError(error.value))
              )
              if (Option.isNone(chunk)) return
              for (const bytes of chunk.value) {
                const result = handler(bytes)
                if (Effect.isEffect(result)) yield* result
              }
            }
          })
        )
      return {
        [Socket.TypeId]: Socket.TypeId,
        run: runRaw,
        runRaw,
        writer: Effect.succeed((chunk: Uint8Array | string | Socket.CloseEvent) =>
          Socket.isCloseEvent(chunk)
            ? Effect.sync(() => {
              closed = true
            })
            : Effect.mapError(
              session.write(typeof chunk === "string" ? encoder.encode(chunk) : chunk),
              (cause) => new Socket.SocketGenericError({ reason: "Write", cause })
            ))
      } satisfies Socket.Socket
    })

    return {
      mode,
      session,
      openStream: Effect.fail(
        new PortForwardingError({ reason: "Unsupported", detail: `smux streams exist only in multiplexed mode, not ${mode._tag}` })
      ),
      connect,
      connectErrors: Effect.succeed(0)
    } satisfies PortForwarding.PortForwarding
  })
