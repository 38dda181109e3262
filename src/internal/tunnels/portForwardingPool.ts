/**
 * A pool of port-forwarding sessions to one destination: each new connection goes to the least-loaded session, a
 * session that ends is replaced while the others carry on, and the pool grows on demand up to its limit. The
 * service caps each session at about 1000 messages a second, so k sessions carry about k times as much.
 *
 * @internal
 */
import type * as Socket from "@effect/platform/Socket"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as FiberSet from "effect/FiberSet"
import * as PubSub from "effect/PubSub"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as PortForwarding from "../../PortForwarding.js"
import type * as PortForwardingPool from "../../PortForwardingPool.js"
import type * as Session from "../../Session.js"
import type * as SsmApi from "../../SsmApi.js"
import { PortForwardingError, start as startOne } from "./portForwarding.js"
import { emptyTotals, lease, poolStats, type PoolState, startFirst } from "./poolState.js"

/** @internal */
export const defaultRestart: Schedule.Schedule<unknown> = Schedule.exponential("250 millis").pipe(
  Schedule.intersect(Schedule.recurs(5))
)

/**
 * The pool over `open`. Its state and behaviours are `tunnels/poolState.ts`; this checks the options and wires.
 *
 * @internal
 */
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
    const context = yield* Effect.context<R>()
    const state: PoolState<E> = {
      size,
      limit,
      restart: options.restart ?? defaultRestart,
      open: (scope): Effect.Effect<PortForwarding.PortForwarding, E> =>
        open.pipe(Scope.extend(scope), Effect.provide(context)),
      scope: yield* Effect.scope,
      fibers: yield* FiberSet.make(),
      events: yield* Effect.acquireRelease(PubSub.sliding<PortForwardingPool.PoolEvent>(1024), PubSub.shutdown),
      verdict: yield* Deferred.make<void, PortForwardingError>(),
      available: yield* Effect.makeLatch(false),
      members: [],
      starting: 0,
      closing: false,
      failure: undefined,
      retired: { ...emptyTotals(), sessionsStarted: 0, sessionsEnded: 0 }
    }
    yield* Effect.addFinalizer(() => Effect.sync(() => state.closing = true))
    yield* startFirst(state)

    return {
      forward: <E1, E2>(local: PortForwarding.LocalConnection<E1, E2>) =>
        Effect.scoped(Effect.flatMap(lease(state), (member) => member.forwarding.forward(local))),
      connect: Effect.flatMap(lease(state), (member) => member.forwarding.connect),
      sessions: Effect.sync(() =>
        state.members.map((member) => ({
          sessionId: member.forwarding.session.sessionId,
          activeConnections: member.load
        }))
      ),
      members: Effect.sync(() => state.members.map((member) => member.forwarding)),
      events: Stream.fromPubSub(state.events),
      subscribe: Effect.map(PubSub.subscribe(state.events), Stream.fromQueue),
      stats: poolStats(state),
      closed: Deferred.await(state.verdict)
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
