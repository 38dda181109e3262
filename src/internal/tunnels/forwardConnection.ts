/**
 * A tunnel's connections: each counted, measured and told (opened, closed, cut), and a local byte stream piped
 * through one until either side ends, or the tunnel breaks under it.
 *
 * @internal
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as PortForwarding from "../../PortForwarding.js"
import * as Pull from "../smux/pull.js"
import { type ForwardingState, metrics } from "./forwardingState.js"
import type { PortForwardingError } from "./portForwardingError.js"
import type { Tunnel } from "./tunnel.js"

/**
 * How long a standard stream (ssh's ProxyCommand) keeps carrying its destination's bytes after the local end ended,
 * once the destination is quiet: a reply to the last request still arrives, and a destination that never closes
 * does not hold the program for ever.
 *
 * @internal
 */
export const STANDARD_STREAM_LINGER = 2000

/** A counted connection: a tunnel that knows how it ended. @internal */
export interface Connection extends Tunnel {
  /** how the connection ended, once it has; `Cut` when the tunnel broke under it */
  readonly outcome: () => PortForwarding.ConnectionOutcome
}

/** A connection through a tunnel that `open` opens, counted until the scope closes. @internal */
export const openConnection = (
  state: ForwardingState,
  open: Effect.Effect<Tunnel, PortForwardingError, Scope.Scope>
): Effect.Effect<Connection, PortForwardingError, Scope.Scope> =>
  Effect.gen(function*() {
    const { stats } = state
    const tunnel = yield* open
    const id = ++stats.connections
    stats.activeConnections++
    let sent = 0
    let received = 0
    yield* Effect.all([
      Metric.increment(metrics.connections),
      Metric.incrementBy(metrics.activeConnections, 1),
      PubSub.publish(state.events, { _tag: "ConnectionOpened", connection: id }),
      Effect.logDebug("tunnel connection opened").pipe(Effect.annotateLogs("connection", id))
    ], { discard: true })
    /** set when the connection ends because the tunnel failed under it */
    let cut: PortForwardingError | undefined
    const outcome = (): PortForwarding.ConnectionOutcome => cut === undefined ? { _tag: "Ended" } : { _tag: "Cut", error: cut }
    yield* Effect.addFinalizer(() => {
      stats.activeConnections--
      if (cut !== undefined) state.cutConnections++
      return Effect.all([
        Metric.incrementBy(metrics.activeConnections, -1),
        Metric.incrementBy(metrics.bytesSent, sent),
        Metric.incrementBy(metrics.bytesReceived, received),
        PubSub.publish(state.events, {
          _tag: "ConnectionClosed",
          connection: id,
          bytesSent: sent,
          bytesReceived: received,
          outcome: outcome()
        }),
        (cut === undefined ? Effect.logDebug("tunnel connection closed") : Effect.logWarning(
          `tunnel connection cut: ${cut.message}`
        )).pipe(Effect.annotateLogs({ connection: id, bytesSent: sent, bytesReceived: received }))
      ], { discard: true })
    })
    const cutBy = (error: PortForwardingError) => {
      cut ??= error
    }
    return {
      outcome,
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

/**
 * Pipes a local connection through a new tunnel connection until either side ends; `Cut` (after resetting the
 * local side) when the tunnel broke under it.
 *
 * @internal
 */
export const forward = <E1, E2>(
  state: ForwardingState,
  open: Effect.Effect<Connection, PortForwardingError, Scope.Scope>,
  local: PortForwarding.LocalConnection<E1, E2>
): Effect.Effect<PortForwarding.ConnectionOutcome, PortForwardingError> =>
  Effect.scoped(Effect.gen(function*() {
    const tunnel = yield* open
    let reset = false
    const resetOnce = Effect.suspend(() => {
      if (reset || local.reset === undefined) return Effect.void
      reset = true
      return local.reset
    })
    state.resets.add(resetOnce)
    yield* Effect.addFinalizer(() => Effect.sync(() => state.resets.delete(resetOnce)))
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
    yield* (state.mode._tag === "StandardStream"
      ? Effect.raceFirst(
        downstream,
        upstream.pipe(
          Effect.zipRight(Effect.sync(() => endedLocallyAt = clock.unsafeCurrentTimeMillis())),
          Effect.zipRight(lingering)
        )
      )
      : Effect.raceFirst(upstream, downstream)).pipe(
        // ended by the tunnel's failure too (its Deferred, not only what this connection saw)
        Effect.raceFirst(Effect.flatMap(Deferred.await(state.broken), (error) => Effect.fail(error))),
        Effect.catchAllCause((cause) => Effect.logDebug("tunnel connection ended by a failure", cause))
      )
    const outcome = tunnel.outcome()
    const tunnelBroke = yield* Deferred.isDone(state.broken)
    if (outcome._tag === "Ended" && !tunnelBroke) return outcome
    // the tunnel's failure, when known, says more than what this connection saw (a stream closed under it)
    const error = outcome._tag === "Ended" || tunnelBroke ? yield* Deferred.await(state.broken) : outcome.error
    yield* resetOnce
    return { _tag: "Cut", error } as const
  }))
