/**
 * A pool of port-forwarding sessions to one destination: each new connection goes to the least-loaded session, a
 * session that ends is replaced while the others carry on, and the pool grows on demand up to its limit. The
 * service caps each session at about 1000 messages a second, so k sessions carry about k times as much.
 *
 * @internal
 */
import type * as Socket from "@effect/platform/Socket"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as FiberSet from "effect/FiberSet"
import * as PubSub from "effect/PubSub"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as PortForwarding from "../PortForwarding.js"
import type * as PortForwardingPool from "../PortForwardingPool.js"
import type * as Session from "../Session.js"
import type * as SsmApi from "../SsmApi.js"
import { isPortForwardingError, PortForwardingError, start as startOne } from "./portForwarding.js"

/** One session of the pool and the connections it carries now. */
interface Member {
  readonly forwarding: PortForwarding.PortForwarding
  readonly scope: Scope.CloseableScope
  load: number
}

const emptyStats = (): PortForwarding.PortForwardingStats => ({
  connections: 0,
  activeConnections: 0,
  bytesSent: 0,
  bytesReceived: 0,
  connectErrors: 0
})

type Totals = { -readonly [K in keyof PortForwarding.PortForwardingStats]: number }

/** Adds a session's counters; `active` false for a session that ended (its connections are closed). */
const addStats = (into: Totals, stats: PortForwarding.PortForwardingStats, active: boolean) => {
  into.connections += stats.connections
  if (active) into.activeConnections += stats.activeConnections
  into.bytesSent += stats.bytesSent
  into.bytesReceived += stats.bytesReceived
  into.connectErrors += stats.connectErrors
}

const describe = (error: unknown): string =>
  error instanceof Error ? error.message : Cause.isCause(error) ? Cause.pretty(error) : String(error)

const asPortForwardingError = (error: unknown, detail: string): PortForwardingError =>
  isPortForwardingError(error)
    ? error
    : new PortForwardingError({ reason: "Session", detail: `${detail}: ${describe(error)}`, cause: error })

/** @internal */
export const defaultRestart: Schedule.Schedule<unknown> = Schedule.exponential("250 millis").pipe(
  Schedule.intersect(Schedule.recurs(5))
)

/** @internal */
export const make = <E, R>(
  open: Effect.Effect<PortForwarding.PortForwarding, E, Scope.Scope | R>,
  options: PortForwardingPool.PoolOptions = {}
): Effect.Effect<PortForwardingPool.PortForwardingPool, E | PortForwardingError, Scope.Scope | R> =>
  Effect.gen(function*() {
    const size = options.sessions ?? 1
    const limit = options.maxSessions ?? size
    if (!Number.isInteger(size) || size < 1 || !Number.isInteger(limit) || limit < size) {
      return yield* new PortForwardingError({
        reason: "InvalidOptions",
        detail: `a pool needs 1 or more sessions and a limit no lower (sessions ${size}, maxSessions ${limit})`
      })
    }
    const restart = options.restart ?? defaultRestart
    const context = yield* Effect.context<R>()
    const poolScope = yield* Effect.scope
    const fibers = yield* FiberSet.make()
    const events = yield* Effect.acquireRelease(PubSub.sliding<PortForwardingPool.PoolEvent>(1024), PubSub.shutdown)
    const verdict = yield* Deferred.make<void, PortForwardingError>()
    const available = yield* Effect.makeLatch(false)
    const members: Array<Member> = []
    /** sessions being started now, counted against the limit */
    let starting = 0
    let closing = false
    /** why the pool ended: no session could be kept */
    let failure: PortForwardingError | undefined
    const retired = { ...emptyStats(), sessionsStarted: 0, sessionsEnded: 0 }
    yield* Effect.addFinalizer(() => Effect.sync(() => closing = true))

    const publish = (event: PortForwardingPool.PoolEvent) => PubSub.publish(events, event)
    const startFailed = (error: unknown) =>
      publish({ _tag: "StartFailed", error: asPortForwardingError(error, "a session could not start") })
    /** The pool fails once no session is left and none is starting: nothing would serve a connection again. */
    const failIfNoneLeft = (error: unknown) =>
      Effect.suspend(() => {
        if (members.length > 0 || starting > 0 || closing || failure !== undefined) return Effect.void
        failure = asPortForwardingError(error, "no session of the pool could be started")
        return Deferred.fail(verdict, failure)
      })

    /** Starts one session into the pool and watches it; it is replaced when it ends while the pool is open. */
    const startMember: Effect.Effect<Member, E> = Effect.gen(function*() {
      const scope = yield* Scope.fork(poolScope, ExecutionStrategy.sequential)
      const forwarding = yield* open.pipe(
        Scope.extend(scope),
        Effect.provide(context),
        Effect.onError(() => Scope.close(scope, Exit.void))
      )
      const member: Member = { forwarding, scope, load: 0 }
      members.push(member)
      retired.sessionsStarted++
      available.unsafeOpen()
      const sessionId = forwarding.session.sessionId
      // subscribed now, before any connection: the session's connection events, as the pool's
      const connectionEvents = yield* Scope.extend(forwarding.subscribe, scope)
      yield* Effect.forkIn(
        Stream.runForEach(connectionEvents, (event) => publish({ _tag: "Connection", sessionId, event })),
        scope
      )
      yield* publish({ _tag: "SessionStarted", sessionId })
      yield* FiberSet.run(fibers, Effect.gen(function*() {
        const ended = yield* Effect.exit(forwarding.closed)
        members.splice(members.indexOf(member), 1)
        if (members.length === 0) available.unsafeClose()
        addStats(retired, yield* forwarding.stats, false)
        retired.sessionsEnded++
        yield* Scope.close(scope, Exit.void)
        if (closing) return
        const error = Exit.isFailure(ended) ? Cause.squash(ended.cause) : undefined
        yield* publish({
          _tag: "SessionEnded",
          sessionId,
          ...(error === undefined ? {} : { error: asPortForwardingError(error, "the session failed") })
        })
        yield* fill
      }))
      return member
    })

    /** Starts sessions (retried on `restart`) until the pool has its size again; fails the pool if it cannot. */
    const fill: Effect.Effect<void> = Effect.suspend(() => {
      const missing = size - members.length - starting
      if (closing || missing <= 0) return Effect.void
      starting += missing
      return Effect.forEach(Array.from({ length: missing }), () =>
        FiberSet.run(
          fibers,
          startMember.pipe(
            Effect.tapError(startFailed),
            Effect.retry(restart),
            Effect.ensuring(Effect.sync(() => starting--)),
            Effect.catchAll(failIfNoneLeft)
          )
        ), { discard: true })
    })

    /** The least-loaded session, or a new one when every session is busy and the limit allows. */
    const choose: Effect.Effect<Member, PortForwardingError> = Effect.suspend(() => {
      if (failure !== undefined) return Effect.fail(failure)
      let best: Member | undefined
      for (const member of members) if (best === undefined || member.load < best.load) best = member
      if ((best === undefined || best.load > 0) && members.length + starting < limit && !closing) {
        starting++
        return startMember.pipe(
          Effect.ensuring(Effect.sync(() => starting--)),
          Effect.catchAll((error) =>
            Effect.zipRight(
              startFailed(error),
              // with no session to fall back on, wait for a replacement (not another start of our own: that would
              // call StartSession again at once, with no backoff); if none is coming, the pool fails
              best === undefined ? Effect.zipRight(failIfNoneLeft(error), awaitMember) : Effect.succeed(best)
            )
          )
        )
      }
      if (best !== undefined) return Effect.succeed(best)
      return awaitMember
    })
    /** Every session ended and replacements are starting: wait for one, or for the pool to fail. */
    const awaitMember: Effect.Effect<Member, PortForwardingError> = Effect.suspend(() =>
      Effect.zipRight(Effect.raceFirst(available.await, Deferred.await(verdict)), choose)
    )

    /** A member for the caller's scope, counted in its load until the scope closes. */
    const lease = Effect.flatMap(choose, (member) =>
      // choosing may start a session, which must stay interruptible: only the count is acquired
      Effect.acquireRelease(
        Effect.sync(() => {
          member.load++
          return member
        }),
        () => Effect.sync(() => member.load--)
      ))

    // the first sessions start together; the pool fails if none of them can start
    const first = yield* Effect.all(Array.from({ length: size }, () => Effect.either(startMember)), {
      concurrency: "unbounded"
    })
    if (members.length === 0) {
      const failed = first.find((result) => result._tag === "Left")!
      return yield* Effect.fail(failed.left as E)
    }
    for (const result of first) if (result._tag === "Left") yield* startFailed(result.left)
    yield* fill

    return {
      forward: <E1, E2>(local: PortForwarding.LocalConnection<E1, E2>) =>
        Effect.scoped(Effect.flatMap(lease, (member) => member.forwarding.forward(local))),
      connect: Effect.flatMap(lease, (member) => member.forwarding.connect),
      sessions: Effect.sync(() =>
        members.map((member) => ({ sessionId: member.forwarding.session.sessionId, activeConnections: member.load }))
      ),
      members: Effect.sync(() => members.map((member) => member.forwarding)),
      events: Stream.fromPubSub(events),
      subscribe: Effect.map(PubSub.subscribe(events), Stream.fromQueue),
      stats: Effect.gen(function*() {
        const total = { ...retired }
        for (const member of members) addStats(total, yield* member.forwarding.stats, true)
        return { ...total, sessions: members.length }
      }),
      closed: Deferred.await(verdict)
    } satisfies PortForwardingPool.PortForwardingPool
  })

/** @internal */
export const start = (
  options: PortForwarding.StartOptions & PortForwardingPool.PoolOptions
): Effect.Effect<
  PortForwardingPool.PortForwardingPool,
  PortForwardingError | Session.SessionError | SsmApi.SsmApiError,
  Scope.Scope | SsmApi.SsmApi | Socket.WebSocketConstructor
> => make(startOne(options), options)
