/**
 * Port forwarding over a ready Port session (AGENT-PROTOCOL.md section 10): the client's mode gates, tunnel
 * connections in each mode, piping local byte streams through them, and starting the whole thing through the API.
 *
 * @internal
 */
import type * as Socket from "@effect/platform/Socket"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as PubSub from "effect/PubSub"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as PortForwarding from "../PortForwarding.js"
import * as Session from "../Session.js"
import * as Smux from "../Smux.js"
import * as SsmApi from "../SsmApi.js"
import * as Pull from "./pull.js"
import { fromDuplex } from "./socket.js"
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

/** @internal */
export const tag = Context.GenericTag<PortForwarding.PortForwarding>("ssm-session-manager/PortForwarding")

/** @internal */
export const metrics: PortForwarding.PortForwardingMetrics = {
  connections: Metric.counter("ssm_port_connections_total", { description: "tunnel connections opened" }),
  activeConnections: Metric.counter("ssm_port_connections_active", { description: "tunnel connections open now" }),
  bytesSent: Metric.counter("ssm_port_bytes_sent_total", { description: "bytes sent to the destination" }),
  bytesReceived: Metric.counter("ssm_port_bytes_received_total", { description: "bytes from the destination" }),
  connectErrors: Metric.counter("ssm_port_connect_errors_total", {
    description: "connections the agent could not make (ConnectToPortError)"
  })
}

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

/** One connection through the tunnel. */
interface Tunnel {
  readonly pull: Pull.Pull<Uint8Array, PortForwardingError>
  readonly write: (bytes: Uint8Array) => Effect.Effect<void, PortForwardingError>
  readonly close: Effect.Effect<void>
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
    const events = yield* Effect.acquireRelease(
      PubSub.sliding<PortForwarding.PortForwardingEvent>(1024),
      PubSub.shutdown
    )
    const stats = { connections: 0, activeConnections: 0, bytesSent: 0, bytesReceived: 0, connectErrors: 0 }

    // what broke the tunnel, once something has: the session failing, smux failing, or the service closing the
    // channel while connections were open. Connections cut by it are reset, never ended as if all went well.
    const broken = yield* Deferred.make<PortForwardingError>()
    /** how the tunnel ended: decided once, after any cut connections were reset */
    const verdict = yield* Deferred.make<void, PortForwardingError>()
    /** connections the tunnel's failure ended */
    let cutConnections = 0
    /** the local sides of the connections being forwarded, to reset when the tunnel breaks */
    const resets = new Set<Effect.Effect<void>>()
    // resets first, then the verdict: whoever waits on `closed` (and then closes the scope) comes after the RSTs
    const breakWith = (reason: PortForwarding.PortForwardingError.Reason, detail: string, cause?: unknown) =>
      Effect.suspend(() => {
        const pending = [...resets]
        resets.clear()
        const error = new PortForwardingError(cause === undefined ? { reason, detail } : { reason, detail, cause })
        return Effect.all([
          Effect.all(pending, { discard: true }),
          Deferred.succeed(broken, error),
          Deferred.fail(verdict, error)
        ], { discard: true })
      })
    yield* Effect.forkScoped(Effect.matchEffect(session.closed, {
      onFailure: (error) => breakWith("Session", error.message, error),
      // connections the closing already cut count as open: they were, when it came
      // a standard stream's channel closes without a reason when its destination closes: its normal end (10.4)
      onSuccess: (output) =>
        (stats.activeConnections === 0 && cutConnections === 0) || (mode._tag === "StandardStream" && output === "")
          ? Deferred.succeed(verdict, undefined)
          : breakWith(
          "ChannelClosed",
          `the service closed the channel with ${stats.activeConnections + cutConnections} connection(s) open` +
            (output === "" ? "" : `: ${output}`)
        )
    }))

    // the session's events must be read (they share its receive buffer); the agent reports a failed dial with a
    // ConnectToPortError flag and, in multiplexed mode, closes that connection's stream
    yield* Effect.forkScoped(Stream.runForEach(session.events, (event) => {
      if (event._tag !== "Flag" || event.flag !== 3) return Effect.void
      stats.connectErrors++
      return Effect.all([
        Metric.increment(metrics.connectErrors),
        PubSub.publish(events, { _tag: "ConnectToPortError" }),
        Effect.logWarning("the agent could not connect to the destination (ConnectToPortError)")
      ], { discard: true })
    }).pipe(Effect.ignore))

    const smux = mode._tag === "Mux"
      ? Option.some(yield* Smux.make({ incoming: session.output, write: session.write }, {
        role: "client",
        keepAlive: mode.keepAlive
      }))
      : Option.none()
    if (Option.isSome(smux)) {
      const mux = smux.value
      yield* Effect.forkScoped(Effect.catchAll(mux.await, (error) =>
        error.reason === "SessionClosed" ? Effect.void : breakWith("Tunnel", error.message, error)))
      // the agent never opens streams: refuse any at once (FIN), so that they cannot fill the accept queue
      yield* Effect.forkScoped(Effect.ignore(mux.serve(() => Effect.void)))
    }
    const openTunnel = Option.match(smux, {
      onNone: () => singleTunnels(session, mode),
      onSome: (smux) => Effect.succeed(muxTunnel(smux))
    })
    const open = yield* openTunnel

    const openConnection: Effect.Effect<Connection, PortForwardingError, Scope.Scope> = Effect.gen(function*() {
      const tunnel = yield* open
      const id = ++stats.connections
      stats.activeConnections++
      let sent = 0
      let received = 0
      yield* Effect.all([
        Metric.increment(metrics.connections),
        Metric.incrementBy(metrics.activeConnections, 1),
        PubSub.publish(events, { _tag: "ConnectionOpened", connection: id }),
        Effect.logDebug("tunnel connection opened").pipe(Effect.annotateLogs("connection", id))
      ], { discard: true })
      /** set when the connection ends because the tunnel failed under it */
      let cut: PortForwardingError | undefined
      yield* Effect.addFinalizer(() => {
        stats.activeConnections--
        if (cut !== undefined) cutConnections++
        const outcome: PortForwarding.ConnectionOutcome = cut === undefined ? { _tag: "Ended" } : { _tag: "Cut", error: cut }
        return Effect.all([
          Metric.incrementBy(metrics.activeConnections, -1),
          Metric.incrementBy(metrics.bytesSent, sent),
          Metric.incrementBy(metrics.bytesReceived, received),
          PubSub.publish(events, { _tag: "ConnectionClosed", connection: id, bytesSent: sent, bytesReceived: received, outcome }),
          (cut === undefined ? Effect.logDebug("tunnel connection closed") : Effect.logWarning(
            `tunnel connection cut: ${cut.message}`
          )).pipe(Effect.annotateLogs({ connection: id, bytesSent: sent, bytesReceived: received }))
        ], { discard: true })
      })
      const cutBy = (error: PortForwardingError) => {
        cut ??= error
      }
      return {
        outcome: () => cut === undefined ? { _tag: "Ended" } : { _tag: "Cut", error: cut },
        pull: Effect.map(tunnel.pull, (chunk) => {
          let length = 0
          for (const bytes of chunk) length += bytes.length
          received += length
          stats.bytesReceived += length
          return chunk
        }).pipe(Effect.tapError(Option.match({ onNone: () => Effect.void, onSome: (error) => Effect.sync(() => cutBy(error)) }))),
        write: (bytes) => {
          sent += bytes.length
          stats.bytesSent += bytes.length
          return Effect.tapError(tunnel.write(bytes), (error) => Effect.sync(() => cutBy(error)))
        },
        close: tunnel.close
      } satisfies Connection
    })

    const forward = <E1, E2>(local: PortForwarding.LocalConnection<E1, E2>) =>
      Effect.scoped(Effect.gen(function*() {
        const tunnel = yield* openConnection
        let reset = false
        const resetOnce = Effect.suspend(() => {
          if (reset || local.reset === undefined) return Effect.void
          reset = true
          return local.reset
        })
        resets.add(resetOnce)
        yield* Effect.addFinalizer(() => Effect.sync(() => resets.delete(resetOnce)))
        const upstream = local.pull === undefined
          ? Stream.runForEach(local.incoming, tunnel.write)
          : Pull.drain(local.pull, tunnel.write)
        // the same clock as the linger's sleep
        const clock = yield* Effect.clock
        let lastFromDestination = 0
        let endedLocallyAt = 0
        const downstream = Pull.drain(tunnel.pull, (bytes) => {
          lastFromDestination = clock.unsafeCurrentTimeMillis()
          return local.write(bytes)
        })
        // after the local end, what the destination still sends, until it has been quiet for a while
        const lingering = Effect.suspend(function loop(): Effect.Effect<void> {
          const quiet = clock.unsafeCurrentTimeMillis() - Math.max(lastFromDestination, endedLocallyAt)
          return quiet >= STANDARD_STREAM_LINGER
            ? Effect.void
            : Effect.zipRight(Effect.sleep(STANDARD_STREAM_LINGER - quiet), Effect.suspend(loop))
        })
        // smux v1 has no half-close: when either direction ends, both do (as the official client). A standard stream
        // has none either, but its destination may still answer what came before the local end (`echo … |
        // ssh-proxy`): its bytes are carried until it closes (the session's channel closes with it) or is quiet
        yield* (mode._tag === "StandardStream"
          ? Effect.raceFirst(
            downstream,
            upstream.pipe(
              Effect.zipRight(Effect.sync(() => endedLocallyAt = clock.unsafeCurrentTimeMillis())),
              Effect.zipRight(lingering)
            )
          )
          : Effect.raceFirst(upstream, downstream)).pipe(
          // ended by the tunnel's failure too (its Deferred, not only what this connection saw)
          Effect.raceFirst(Effect.flatMap(Deferred.await(broken), (error) => Effect.fail(error))),
          Effect.catchAllCause((cause) => Effect.logDebug("tunnel connection ended by a failure", cause))
        )
        const outcome = tunnel.outcome()
        const tunnelBroke = yield* Deferred.isDone(broken)
        if (outcome._tag === "Ended" && !tunnelBroke) return outcome
        // the tunnel's failure, when known, says more than what this connection saw (a stream closed under it)
        const error = outcome._tag === "Ended" || tunnelBroke ? yield* Deferred.await(broken) : outcome.error
        yield* resetOnce
        return { _tag: "Cut", error } as const
      }))

    return {
      mode,
      session,
      connect: Effect.map(
        openConnection,
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
      forward,
      events: Stream.fromPubSub(events),
      subscribe: Effect.map(PubSub.subscribe(events), Stream.fromQueue),
      stats: Effect.sync(() => ({ ...stats })),
      closed: Deferred.await(verdict)
    } satisfies PortForwarding.PortForwarding
  })

/** A counted connection: a tunnel that knows how it ended. */
interface Connection extends Tunnel {
  /** how the connection ended, once it has; `Cut` when the tunnel broke under it */
  readonly outcome: () => PortForwarding.ConnectionOutcome
}

const tunnelError = (cause: unknown) =>
  new PortForwardingError({
    reason: "Tunnel",
    detail: `the tunnel failed${
      Predicate.hasProperty(cause, "message") && typeof cause.message === "string" ? `: ${cause.message}` : ""
    }`,
    cause
  })

/** Multiplexed mode: each connection is an smux stream, closed (FIN) with its scope. */
const muxTunnel = (smux: Smux.Smux): Effect.Effect<Tunnel, PortForwardingError, Scope.Scope> =>
  Effect.map(Effect.mapError(smux.open, tunnelError), (stream) => ({
    pull: Effect.mapError(stream.pull, Option.map(tunnelError)),
    write: (bytes) => Effect.mapError(stream.write(bytes), tunnelError),
    close: stream.close
  }))

/**
 * Basic and standard-stream modes: the session's bytes are one connection's bytes, so connections take turns;
 * in basic mode the end of each sends DisconnectToPort, and the agent dials again on the next data (10.2, 10.4).
 * Output nobody reads stays in the session for the next connection, as with the official client: a destination
 * that speaks first (SSH, SMTP) must not lose its greeting.
 */
/**
 * How long a standard stream (ssh's ProxyCommand) keeps carrying its destination's bytes after the local end ended,
 * once the destination is quiet: a reply to the last request still arrives, and a destination that never closes
 * does not hold the program for ever.
 */
const STANDARD_STREAM_LINGER = 2000

const singleTunnels = (
  session: Session.Session,
  mode: PortForwarding.Mode
): Effect.Effect<Effect.Effect<Tunnel, PortForwardingError, Scope.Scope>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const pull = yield* Stream.toPull(session.output)
    const turn = yield* Effect.makeSemaphore(1)
    return Effect.gen(function*() {
      yield* Effect.acquireRelease(turn.take(1), () =>
        Effect.zipRight(
          mode._tag === "Basic" ? Effect.ignore(session.sendFlag(1)) : Effect.void,
          turn.release(1)
        ))
      let closed = false
      return {
        pull: Effect.suspend(() =>
          closed
            ? Effect.fail(Option.none())
            : Effect.mapError(pull, (error) =>
              Option.isSome(error)
                ? Option.some(tunnelError(error.value))
                // the session's output ended: the channel closed. A standard stream ends so when its destination
                // closes (10.4); a basic-mode connection is cut by it (the agent keeps those sessions open)
                : mode._tag === "Basic"
                ? Option.some(new PortForwardingError({ reason: "ChannelClosed", detail: "the channel closed" }))
                : Option.none())
        ),
        write: (bytes) => Effect.mapError(session.write(bytes), tunnelError),
        close: Effect.sync(() => {
          closed = true
        })
      } satisfies Tunnel
    })
  })

// ---------------------------------------------------------------------------------------------------------------
// starting a session through the API
// ---------------------------------------------------------------------------------------------------------------

/** The tunnel over a session opened for it, with the warnings and the log line a user wants to see. */
const forwardOver = (session: Session.Session) =>
  Effect.gen(function*() {
    const annotate = Effect.annotateLogs("sessionId", session.sessionId)
    const forwarding = yield* make(session)
    if (
      typeof session.properties?.["host"] === "string" && session.properties["host"] !== "" &&
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
