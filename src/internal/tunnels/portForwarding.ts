/**
 * Port forwarding over a ready Port session (AGENT-PROTOCOL.md section 10): the client's mode gates, tunnel
 * connections in each mode, piping local byte streams through them, and starting the whole thing through the API.
 *
 * @internal
 */
import type * as Socket from "@effect/platform/Socket"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { decodePortProperties, PortType, SessionType } from "../../AgentPayload.js"
import type * as PortForwarding from "../../PortForwarding.js"
import * as Session from "../../Session.js"
import * as Smux from "../../Smux.js"
import * as SsmApi from "../../SsmApi.js"
import * as Pull from "../smux/pull.js"
import { fromDuplex } from "../smux/socket.js"
import { type Connection, forward, openConnection } from "./forwardConnection.js"
import {
  breakWith,
  closingFlag,
  type ForwardingState,
  makeCounters,
  onSessionEvent,
  watchSession
} from "./forwardingState.js"
import { PortForwardingError, tunnelError } from "./portForwardingError.js"
import { muxTunnel, singleTunnels } from "./tunnel.js"
import * as Version from "../protocol/version.js"

/** @internal */
export { ErrorTypeId, isPortForwardingError, PortForwardingError } from "./portForwardingError.js"
/** @internal */
export { metrics } from "./forwardingState.js"

/** @internal */
export const tag = Context.GenericTag<PortForwarding.PortForwarding>("ssm-session-manager/PortForwarding")

/**
 * The document's properties read as the agent's `PortParameters`; undefined when there are none the agent could
 * read.
 */
const portProperties = (properties: Readonly<Record<string, unknown>> | null) =>
  Either.getOrUndefined(decodePortProperties(properties))

/**
 * The mode the official client picks (section 10.1, gates 9 and 10): both ends must agree or the session carries
 * garbage, and the agent's side of the gate depends on the ClientVersion we report (1.2.694.0).
 * @internal
 */
export const chooseMode = (
  properties: Readonly<Record<string, unknown>> | null,
  agentVersion: Option.Option<string>
): PortForwarding.Mode => {
  if (portProperties(properties)?.type !== PortType.LocalPortForwarding) return { _tag: "StandardStream" }
  const agent = Option.getOrElse(agentVersion, () => "")
  if (!Version.isGreaterThan(agent, Version.MUX_AFTER_AGENT_VERSION)) return { _tag: "Basic" }
  return { _tag: "Mux", keepAlive: !Version.isGreaterThan(agent, Version.KEEPALIVE_DISABLED_AFTER_AGENT_VERSION) }
}

/**
 * The tunnel over a ready Port session. Its state is `tunnels/forwardingState.ts`, its connections
 * `tunnels/forwardConnection.ts`, the tunnels of each mode `tunnels/tunnel.ts`; this only wires them.
 *
 * @internal
 */
export const make = (
  session: Session.Session
): Effect.Effect<PortForwarding.PortForwarding, PortForwardingError, Scope.Scope> =>
  Effect.gen(function*() {
    if (session.sessionType !== SessionType.Port) {
      return yield* new PortForwardingError({
        reason: "NotAPortSession",
        detail: `the session is of type ${session.sessionType}`
      })
    }
    const flag = closingFlag(session.agentVersion)
    if (Option.isSome(flag)) yield* session.closeWith(flag.value)
    const mode = chooseMode(session.properties, session.agentVersion)
    const state: ForwardingState = {
      mode,
      events: yield* Effect.acquireRelease(PubSub.sliding<PortForwarding.PortForwardingEvent>(1024), PubSub.shutdown),
      stats: makeCounters(),
      broken: yield* Deferred.make<PortForwardingError>(),
      verdict: yield* Deferred.make<void, PortForwardingError>(),
      cutConnections: 0,
      resets: new Set()
    }
    yield* Effect.forkScoped(watchSession(state, session))
    // the agent reports a failed dial with a ConnectToPortError flag and, in multiplexed mode, closes that
    // connection's stream (events have their own bound: nothing stalls if this reader falls behind)
    yield* Effect.forkScoped(Stream.runForEach(session.events, (event) => onSessionEvent(state, event)).pipe(Effect.ignore))

    const smux = mode._tag === "Mux"
      ? Option.some(yield* Smux.make({ incoming: session.output, write: session.write }, {
        role: "client",
        keepAlive: mode.keepAlive
      }))
      : Option.none()
    if (Option.isSome(smux)) {
      const mux = smux.value
      yield* Effect.forkScoped(Effect.catchAll(mux.await, (error) =>
        error.reason === "SessionClosed" ? Effect.void : breakWith(state, "Tunnel", error.message, error)))
      // the agent never opens streams: refuse any at once (FIN), so that they cannot fill the accept queue
      yield* Effect.forkScoped(Effect.ignore(mux.serve(() => Effect.void)))
    }
    const open = yield* Option.match(smux, {
      onNone: () => singleTunnels(session, mode),
      onSome: (smux) => Effect.succeed(muxTunnel(smux))
    })
    const connection: Effect.Effect<Connection, PortForwardingError, Scope.Scope> = openConnection(state, open)

    return {
      mode,
      session,
      connect: Effect.map(
        connection,
        (tunnel) => fromDuplex({ readable: Pull.toStream(tunnel.pull), write: tunnel.write, close: tunnel.close })
      ),
      openStream: Option.match(smux, {
        onNone: () =>
          Effect.fail(
            new PortForwardingError({
              reason: "Unsupported",
              detail: `smux streams exist only in multiplexed mode, not ${mode._tag}`
            })
          ),
        onSome: (smux) => Effect.mapError(smux.open, tunnelError)
      }),
      forward: (local) => forward(state, connection, local),
      events: Stream.fromPubSub(state.events),
      subscribe: Effect.map(PubSub.subscribe(state.events), Stream.fromQueue),
      stats: Effect.sync(() => ({ ...state.stats })),
      closed: Deferred.await(state.verdict)
    } satisfies PortForwarding.PortForwarding
  })

// ---------------------------------------------------------------------------------------------------------------
// starting a session through the API
// ---------------------------------------------------------------------------------------------------------------

/** The tunnel over a session opened for it, with the warnings and the log line a user wants to see. */
const forwardOver = (session: Session.Session) =>
  Effect.gen(function*() {
    const annotate = Effect.annotateLogs("sessionId", session.sessionId)
    const forwarding = yield* make(session)
    const host = portProperties(session.properties)?.host
    if (
      host !== undefined && host !== "" &&
      Option.exists(session.agentVersion, (version) =>
        Version.compareAgentStyle(version, Version.REMOTE_HOST_FROM_AGENT_VERSION) < 0)
    ) {
      yield* Effect.logWarning(
        `agent ${Option.getOrElse(session.agentVersion, () => "")} predates remote hosts (3.1.1188.0): it ignores host and connects to its own localhost`
      ).pipe(annotate)
    }
    yield* Effect.logDebug(`port forwarding session ready (${forwarding.mode._tag})`).pipe(
      annotate,
      Effect.annotateLogs("agentVersion", Option.getOrElse(session.agentVersion, () => "unknown"))
    )
    return forwarding
  })

/** @internal */
export const fromResponse = (
  response: SsmApi.SessionResponse,
  options: PortForwarding.FromResponseOptions = {}
): Effect.Effect<
  PortForwarding.PortForwarding,
  PortForwardingError | Session.SessionError,
  Scope.Scope | Socket.WebSocketConstructor
> =>
  Effect.gen(function*() {
    const session = yield* Session.make({ ...options.session, ...response })
    yield* SsmApi.terminateOnClose(session)
    return yield* forwardOver(session)
  })

/** @internal */
export const start = (
  options: PortForwarding.StartOptions
): Effect.Effect<
  PortForwarding.PortForwarding,
  PortForwardingError | Session.SessionError | SsmApi.SsmApiError,
  Scope.Scope | SsmApi.SsmApi | Socket.WebSocketConstructor
> =>
  Effect.gen(function*() {
    if (!Number.isInteger(options.portNumber) || options.portNumber < 1 || options.portNumber > 65535) {
      return yield* new PortForwardingError({
        reason: "InvalidOptions",
        detail: `portNumber must be an integer from 1 to 65535, not ${options.portNumber}`
      })
    }
    const host = options.host
    const session = yield* SsmApi.openSession({
      target: options.target,
      documentName: options.documentName ??
        (host !== undefined ? "AWS-StartPortForwardingSessionToRemoteHost" : "AWS-StartPortForwardingSession"),
      parameters: {
        portNumber: [String(options.portNumber)],
        ...(host !== undefined ? { host: [host] } : {}),
        ...options.parameters
      },
      reason: options.reason
    }, options.session)
    return yield* forwardOver(session)
  })

/** @internal */
export const layer = (options: PortForwarding.StartOptions) => Layer.scoped(tag, start(options))
