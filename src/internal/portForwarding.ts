/**
 * Port forwarding over a ready Port session (AGENT-PROTOCOL.md section 10): the client's mode gates, and
 * in-process connections as `Socket`s (multiplexed mode: one smux stream each).
 *
 * @internal
 */
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
    if (mode._tag !== "Mux") {
      return yield* new PortForwardingError({
        reason: "Unsupported",
        detail: `${mode._tag} mode is not implemented yet (agents up to 3.0.196.0, or documents whose type is not ` +
          `LocalPortForwarding)`
      })
    }
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
