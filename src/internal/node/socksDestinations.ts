/**
 * The SOCKS proxy's destinations over time: starting a destination's pool of port-forwarding sessions and watching
 * it, its idle timer, closing it (idle, evicted, refused), and leasing it to a connection.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberMap from "effect/FiberMap"
import * as FiberSet from "effect/FiberSet"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as PubSub from "effect/PubSub"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as NodeSocks from "../../NodeSocks.js"
import * as PortForwardingPool from "../../PortForwardingPool.js"
import { SocksError } from "./socksError.js"
import { claim, type Destination, detach, release, type SocksServerState } from "./socksState.js"

const MIN_REFUSAL_WAIT = 100
const MAX_REFUSAL_WAIT = 1000

/** @internal */
export const describe = (error: unknown): string =>
  Predicate.hasProperty(error, "message") && typeof error.message === "string" ? error.message : String(error)

/** @internal */
export const publish = (state: SocksServerState, event: NodeSocks.SocksEvent) => PubSub.publish(state.events, event)

const closeDestination = (destination: Destination) =>
  destination.scope === undefined ? Effect.void : Scope.close(destination.scope, Exit.void)

/** Starts a destination's pool, tells the CONNECTs waiting for it, and watches it until it ends. @internal */
export const startDestination = (state: SocksServerState, destination: Destination): Effect.Effect<void> =>
  Effect.gen(function*() {
    const { config } = state
    const scope = yield* Scope.fork(state.destinationsScope, ExecutionStrategy.sequential)
    destination.scope = scope
    const started = yield* Effect.exit(
      PortForwardingPool.start({
        target: config.target,
        host: destination.host,
        portNumber: destination.port,
        // one document for every destination, 127.0.0.1 and localhost included
        documentName: "AWS-StartPortForwardingSessionToRemoteHost",
        sessions: config.sessions,
        reason: config.reason,
        session: config.session
      }).pipe(Scope.extend(scope), Effect.provide(state.context))
    )
    if (Exit.isFailure(started)) {
      const cause = Cause.squash(started.cause)
      const error = new SocksError({
        reason: "Start",
        detail: `no session to ${destination.name} could be started: ${describe(cause)}`,
        cause
      })
      detach(state, destination)
      state.stats.startFailures++
      yield* Scope.close(scope, Exit.void)
      yield* Deferred.fail(destination.ready, error)
      yield* Effect.logWarning(error.message)
      yield* publish(state, { _tag: "StartFailed", destination: destination.name, error })
      return
    }
    const pool = started.value
    destination.pool = pool
    const opened = yield* pool.sessions
    state.stats.sessionsStarted += opened.length
    // later sessions (replacements, growth) are told by the pool's events
    const poolEvents = yield* Scope.extend(pool.subscribe, scope)
    yield* Effect.forEach(opened, (session) =>
      Effect.zipRight(
        Effect.logDebug(`session ${session.sessionId} opened for ${destination.name}`),
        publish(state, { _tag: "SessionOpened", destination: destination.name, sessionId: session.sessionId })
      ), { discard: true })
    yield* Deferred.succeed(destination.ready, pool)
    yield* Effect.forkIn(Stream.runForEach(poolEvents, (event) => onPoolEvent(state, destination, event)), scope)
    yield* Effect.forkIn(Effect.catchAll(pool.closed, (cause) => onPoolFailed(state, destination, cause)), scope)
    if (destination.active === 0) yield* scheduleIdle(state, destination)
  })

/** A pool's event as the proxy's (sessions replaced or grown, sessions ended, starts that failed). @internal */
export const onPoolEvent = (
  state: SocksServerState,
  destination: Destination,
  event: PortForwardingPool.PoolEvent
): Effect.Effect<boolean> => {
  switch (event._tag) {
    case "SessionStarted":
      state.stats.sessionsStarted++
      return publish(state, { _tag: "SessionOpened", destination: destination.name, sessionId: event.sessionId })
    case "SessionEnded": {
      state.stats.sessionsClosed++
      const error = event.error === undefined ? undefined : new SocksError({
        reason: "Broken",
        detail: `session ${event.sessionId} to ${destination.name} failed: ${event.error.message}`,
        cause: event.error
      })
      return publish(state, {
        _tag: "SessionClosed",
        destination: destination.name,
        sessionId: event.sessionId,
        reason: error === undefined ? "Ended" : "Broken",
        ...(error === undefined ? {} : { error })
      })
    }
    case "Connection":
      return Effect.succeed(true)
    case "StartFailed":
      state.stats.startFailures++
      return publish(state, {
        _tag: "StartFailed",
        destination: destination.name,
        error: new SocksError({
          reason: "Start",
          detail: `a session to ${destination.name} could not start: ${event.error.message}`,
          cause: event.error
        })
      })
  }
}

/**
 * Every session of the pool ended and none could be started again: the destination is dropped (its connections
 * were reset by the pool); the next CONNECT starts afresh.
 */
const onPoolFailed = (state: SocksServerState, destination: Destination, cause: { readonly message: string }) =>
  Effect.suspend(() => {
    if (!detach(state, destination)) return Effect.void
    const error = new SocksError({
      reason: "Broken",
      detail: `the sessions to ${destination.name} ended: ${cause.message}`,
      cause
    })
    return Effect.all([
      Effect.logWarning(error.message),
      publish(state, { _tag: "DestinationFailed", destination: destination.name, error }),
      FiberSet.run(state.background, closeDestination(destination))
    ], { discard: true })
  })

/** After `idleTimeout` with no connection, the destination's sessions are closed. @internal */
export const scheduleIdle = (state: SocksServerState, destination: Destination): Effect.Effect<void> => {
  const idle = state.config.idleTimeout
  return Effect.asVoid(FiberMap.run(
    state.idleTimers,
    destination.id,
    // scheduled from a release (uninterruptible): the timer itself must stay interruptible
    Effect.interruptible(Effect.zipRight(
      Effect.sleep(idle),
      Effect.suspend(() => {
        if (destination.active > 0 || destination.pool === undefined || !detach(state, destination)) return Effect.void
        return Effect.asVoid(retire(state, destination, "Idle", `idle for ${Duration.format(idle)}`))
      })
    ))
  ))
}

/**
 * Closes the sessions of a destination already detached (so that no timer or CONNECT takes it again): tells each
 * session's close, then closes its scope from another fiber (the caller may be its idle timer, which the close
 * must not interrupt); the fiber that closes it.
 *
 * @internal
 */
export const retire = (
  state: SocksServerState,
  destination: Destination,
  reason: "Idle" | "Evicted" | "Refused",
  why: string
): Effect.Effect<Fiber.RuntimeFiber<void>> =>
  Effect.gen(function*() {
    const pool = destination.pool
    if (pool !== undefined) {
      const open = yield* pool.sessions
      state.stats.sessionsClosed += open.length
      yield* Effect.forEach(open, (session) =>
        Effect.zipRight(
          Effect.logDebug(`session ${session.sessionId} to ${destination.name} closed: ${why}`),
          publish(state, { _tag: "SessionClosed", destination: destination.name, sessionId: session.sessionId, reason })
        ), { discard: true })
    }
    return yield* FiberSet.run(state.background, closeDestination(destination))
  })

/** The claim's effects: the evicted destination closed first (never more than the bound at once), then the start. */
const acquireDestination = (state: SocksServerState, host: string, port: number) =>
  Effect.suspend((): Effect.Effect<Destination, SocksError> => {
    const claimed = claim(state, host, port)
    switch (claimed._tag) {
      case "Limit":
        return Effect.fail(
          new SocksError({
            reason: "Limit",
            detail:
              `the proxy keeps ${state.config.maxDestinations} destinations (maxDestinations) and each has connections now`
          })
        )
      case "Found":
        return Effect.as(FiberMap.remove(state.idleTimers, claimed.destination.id), claimed.destination)
      case "Created": {
        const { destination, evicted } = claimed
        const room = evicted === undefined ? Effect.void : FiberMap.remove(state.idleTimers, evicted.id).pipe(
          Effect.zipRight(retire(
            state,
            evicted,
            "Evicted",
            `the least recently used of ${state.config.maxDestinations} destinations (maxDestinations)`
          )),
          Effect.flatMap(Fiber.await),
          Effect.asVoid
        )
        // forked from an uninterruptible region (the acquire), so made interruptible again: the proxy's close must
        // be able to stop a start, and the fibers it forks
        return Effect.as(
          Effect.zipRight(room, FiberSet.run(state.background, Effect.interruptible(startDestination(state, destination)))),
          destination
        )
      }
    }
  })

const releaseDestination = (state: SocksServerState, destination: Destination) =>
  Effect.suspend(() => {
    switch (release(state, destination)) {
      case "Held":
        return Effect.void
      case "Refused":
        return Effect.zipRight(
          FiberMap.remove(state.idleTimers, destination.id),
          Effect.asVoid(retire(state, destination, "Refused", "the agent refused every connection to it"))
        )
      case "Idle":
        return scheduleIdle(state, destination)
    }
  })

/**
 * The destination's pool for the caller's scope, counted as in use until the scope closes; the first CONNECT
 * starts it, concurrent ones wait for the same start.
 *
 * @internal
 */
export const lease = (
  state: SocksServerState,
  host: string,
  port: number
): Effect.Effect<
  { readonly destination: Destination; readonly pool: PortForwardingPool.PortForwardingPool },
  SocksError,
  Scope.Scope
> =>
  Effect.acquireRelease(
    acquireDestination(state, host, port),
    (destination) => releaseDestination(state, destination)
  ).pipe(Effect.flatMap((destination) =>
    Effect.map(Deferred.await(destination.ready), (pool) => ({ destination, pool }))
  ))

/** How long a CONNECT to a destination not yet proven waits for the agent to report a failed dial. @internal */
export const refusalWaitFor = (
  state: SocksServerState,
  pool: PortForwardingPool.PortForwardingPool
): Effect.Effect<Duration.Duration> =>
  Option.match(state.config.refusalWait, {
    onSome: Effect.succeed,
    onNone: () =>
      Effect.gen(function*() {
        // the agent's ConnectToPortError (and the stream's FIN) come back one round trip after the SYN
        let rtt = 0
        for (const member of yield* pool.members) rtt = Math.max(rtt, (yield* member.session.stats).rtt)
        return Duration.millis(Math.min(MAX_REFUSAL_WAIT, Math.max(MIN_REFUSAL_WAIT, 2 * rtt)))
      })
  })
