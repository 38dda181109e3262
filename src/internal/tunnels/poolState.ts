/**
 * A pool of port-forwarding sessions as one record and the functions over it: choosing the least-loaded session
 * (or growing), starting a session and watching it (replaced when it ends), keeping the pool at its size, and the
 * pool's verdict once no session is left and none is starting.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as FiberSet from "effect/FiberSet"
import * as PubSub from "effect/PubSub"
import type * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as PortForwarding from "../../PortForwarding.js"
import type * as PortForwardingPool from "../../PortForwardingPool.js"
import { isPortForwardingError, PortForwardingError } from "./portForwardingError.js"

/** One session of the pool and the connections it carries now. @internal */
export interface Member {
  readonly forwarding: PortForwarding.PortForwarding
  readonly scope: Scope.CloseableScope
  load: number
}

/** @internal */
export type Totals = { -readonly [K in keyof PortForwarding.PortForwardingStats]: number }

/** Everything a pool keeps while it serves. @internal */
export interface PoolState<E> {
  /** the sessions it keeps */
  readonly size: number
  /** the sessions it may grow to */
  readonly limit: number
  readonly restart: Schedule.Schedule<unknown>
  /** starts one session in the scope given */
  readonly open: (scope: Scope.Scope) => Effect.Effect<PortForwarding.PortForwarding, E>
  readonly scope: Scope.Scope
  /** the members' watchers and the starts that refill the pool */
  readonly fibers: FiberSet.FiberSet
  readonly events: PubSub.PubSub<PortForwardingPool.PoolEvent>
  readonly verdict: Deferred.Deferred<void, PortForwardingError>
  /** open while the pool has a member */
  readonly available: Effect.Latch
  readonly members: Array<Member>
  /** sessions being started now, counted against the limit */
  starting: number
  closing: boolean
  /** why the pool ended: no session could be kept */
  failure: PortForwardingError | undefined
  /** the counters of the sessions that ended, and of starts and ends */
  readonly retired: Totals & { sessionsStarted: number; sessionsEnded: number }
}

/** @internal */
export const emptyTotals = (): Totals => ({
  connections: 0,
  activeConnections: 0,
  bytesSent: 0,
  bytesReceived: 0,
  connectErrors: 0
})

/** Adds a session's counters; `active` false for a session that ended (its connections are closed). @internal */
export const addStats = (into: Totals, stats: PortForwarding.PortForwardingStats, active: boolean): void => {
  into.connections += stats.connections
  if (active) into.activeConnections += stats.activeConnections
  into.bytesSent += stats.bytesSent
  into.bytesReceived += stats.bytesReceived
  into.connectErrors += stats.connectErrors
}

const describe = (error: unknown): string =>
  error instanceof Error ? error.message : Cause.isCause(error) ? Cause.pretty(error) : String(error)

/** @internal */
export const asPortForwardingError = (error: unknown, detail: string): PortForwardingError =>
  isPortForwardingError(error)
    ? error
    : new PortForwardingError({ reason: "Session", detail: `${detail}: ${describe(error)}`, cause: error })

const publish = <E>(state: PoolState<E>, event: PortForwardingPool.PoolEvent) => PubSub.publish(state.events, event)

const startFailed = <E>(state: PoolState<E>, error: unknown) =>
  publish(state, { _tag: "StartFailed", error: asPortForwardingError(error, "a session could not start") })

/** The pool fails once no session is left and none is starting: nothing would serve a connection again. @internal */
export const failIfNoneLeft = <E>(state: PoolState<E>, error: unknown): Effect.Effect<void> =>
  Effect.suspend(() => {
    if (state.members.length > 0 || state.starting > 0 || state.closing || state.failure !== undefined) {
      return Effect.void
    }
    state.failure = asPortForwardingError(error, "no session of the pool could be started")
    return Deferred.fail(state.verdict, state.failure)
  })

/** Starts one session into the pool and watches it; it is replaced when it ends while the pool is open. @internal */
export const startMember = <E>(state: PoolState<E>): Effect.Effect<Member, E> =>
  Effect.gen(function*() {
    const scope = yield* Scope.fork(state.scope, ExecutionStrategy.sequential)
    const forwarding = yield* Effect.onError(state.open(scope), () => Scope.close(scope, Exit.void))
    const member: Member = { forwarding, scope, load: 0 }
    state.members.push(member)
    state.retired.sessionsStarted++
    state.available.unsafeOpen()
    const sessionId = forwarding.session.sessionId
    // subscribed now, before any connection: the session's connection events, as the pool's
    const connectionEvents = yield* Scope.extend(forwarding.subscribe, scope)
    yield* Effect.forkIn(
      Stream.runForEach(connectionEvents, (event) => publish(state, { _tag: "Connection", sessionId, event })),
      scope
    )
    yield* publish(state, { _tag: "SessionStarted", sessionId })
    yield* FiberSet.run(state.fibers, watchMember(state, member))
    return member
  })

/** Waits for a member's session to end, takes it out, and refills the pool. */
const watchMember = <E>(state: PoolState<E>, member: Member): Effect.Effect<void> =>
  Effect.gen(function*() {
    const { forwarding } = member
    const ended = yield* Effect.exit(forwarding.closed)
    state.members.splice(state.members.indexOf(member), 1)
    if (state.members.length === 0) state.available.unsafeClose()
    addStats(state.retired, yield* forwarding.stats, false)
    state.retired.sessionsEnded++
    yield* Scope.close(member.scope, Exit.void)
    if (state.closing) return
    const error = Exit.isFailure(ended) ? Cause.squash(ended.cause) : undefined
    yield* publish(state, {
      _tag: "SessionEnded",
      sessionId: forwarding.session.sessionId,
      ...(error === undefined ? {} : { error: asPortForwardingError(error, "the session failed") })
    })
    yield* fill(state)
  })

/** Starts sessions (retried on `restart`) until the pool has its size again; fails the pool if it cannot. @internal */
export const fill = <E>(state: PoolState<E>): Effect.Effect<void> =>
  Effect.suspend(() => {
    const missing = state.size - state.members.length - state.starting
    if (state.closing || missing <= 0) return Effect.void
    state.starting += missing
    return Effect.forEach(Array.from({ length: missing }), () =>
      FiberSet.run(
        state.fibers,
        startMember(state).pipe(
          Effect.tapError((error) => startFailed(state, error)),
          Effect.retry(state.restart),
          Effect.ensuring(Effect.sync(() => state.starting--)),
          Effect.catchAll((error) => failIfNoneLeft(state, error))
        )
      ), { discard: true })
  })

/** The member with the fewest connections (the first of equals). @internal */
export const leastLoaded = (members: ReadonlyArray<Member>): Member | undefined => {
  let best: Member | undefined
  for (const member of members) if (best === undefined || member.load < best.load) best = member
  return best
}

/** Whether a connection should start a session of its own: every session is busy (or none is left) and the limit allows. @internal */
export const shouldGrow = <E>(state: PoolState<E>, best: Member | undefined): boolean =>
  (best === undefined || best.load > 0) && state.members.length + state.starting < state.limit && !state.closing

/** The least-loaded session, or a new one when every session is busy and the limit allows. @internal */
export const choose = <E>(state: PoolState<E>): Effect.Effect<Member, PortForwardingError> =>
  Effect.suspend(() => {
    if (state.failure !== undefined) return Effect.fail(state.failure)
    const best = leastLoaded(state.members)
    if (shouldGrow(state, best)) {
      state.starting++
      return startMember(state).pipe(
        Effect.ensuring(Effect.sync(() => state.starting--)),
        Effect.catchAll((error) =>
          Effect.zipRight(
            startFailed(state, error),
            // with no session to fall back on, wait for a replacement (not another start of our own: that would
            // call StartSession again at once, with no backoff); if none is coming, the pool fails
            best === undefined ? Effect.zipRight(failIfNoneLeft(state, error), awaitMember(state)) : Effect.succeed(best)
          )
        )
      )
    }
    if (best !== undefined) return Effect.succeed(best)
    return awaitMember(state)
  })

/** Every session ended and replacements are starting: wait for one, or for the pool to fail. */
const awaitMember = <E>(state: PoolState<E>): Effect.Effect<Member, PortForwardingError> =>
  Effect.suspend(() =>
    Effect.zipRight(Effect.raceFirst(state.available.await, Deferred.await(state.verdict)), choose(state))
  )

/** A member for the caller's scope, counted in its load until the scope closes. @internal */
export const lease = <E>(state: PoolState<E>): Effect.Effect<Member, PortForwardingError, Scope.Scope> =>
  Effect.flatMap(choose(state), (member) =>
    // choosing may start a session, which must stay interruptible: only the count is acquired
    Effect.acquireRelease(
      Effect.sync(() => {
        member.load++
        return member
      }),
      () => Effect.sync(() => member.load--)
    ))

/** The pool's counters: those of the sessions that ended, and of those open now. @internal */
export const poolStats = <E>(state: PoolState<E>): Effect.Effect<PortForwardingPool.PoolStats> =>
  Effect.gen(function*() {
    const total = { ...state.retired }
    for (const member of state.members) addStats(total, yield* member.forwarding.stats, true)
    return { ...total, sessions: state.members.length }
  })

/** The first sessions, started together; the pool fails with the first failure if none of them can start. @internal */
export const startFirst = <E>(state: PoolState<E>): Effect.Effect<void, E> =>
  Effect.gen(function*() {
    const first = yield* Effect.all(Array.from({ length: state.size }, () => Effect.either(startMember(state))), {
      concurrency: "unbounded"
    })
    if (state.members.length === 0) {
      const failed = first.find((result) => result._tag === "Left")!
      return yield* Effect.fail(failed.left as E)
    }
    for (const result of first) if (result._tag === "Left") yield* startFailed(state, result.left)
    yield* fill(state)
  })
