/**
 * Several port-forwarding sessions to one destination, used as one tunnel. The service caps each session at
 * about 1000 messages a second (about 1 MB/s); a pool of k sessions spreads its connections over them, the
 * least-loaded session first, so parallel connections get about k times as much. A session that ends is
 * replaced while the others carry on (its own connections are reset, as with a single tunnel), and the pool
 * grows on demand, one session per connection that finds every session busy, up to `maxSessions`.
 *
 * A pool has the `forward` and `closed` of a `PortForwarding`, so `NodePortForwarding.listen` takes it as it is.
 *
 * @since 0.2.0
 */
import type * as Socket from "@effect/platform/Socket"
import type * as Effect from "effect/Effect"
import type * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import * as internal from "./internal/tunnels/portForwardingPool.js"
import type * as PortForwarding from "./PortForwarding.js"
import type * as Session from "./Session.js"
import type * as SsmApi from "./SsmApi.js"

/**
 * @since 0.2.0
 * @category models
 */
export interface PoolOptions {
  /** sessions started at once and kept (replaced when one ends); default 1 */
  readonly sessions?: number | undefined
  /** the limit the pool grows to when every session carries a connection; default `sessions` (no growth) */
  readonly maxSessions?: number | undefined
  /**
   * how a session that could not start is retried (default: 5 more times, 250 ms doubling). When every session
   * has ended and none can be started, the pool fails
   */
  readonly restart?: Schedule.Schedule<unknown, unknown> | undefined
}

/**
 * What happens to the pool's sessions.
 *
 * @since 0.2.0
 * @category models
 */
export type PoolEvent =
  | { readonly _tag: "SessionStarted"; readonly sessionId: string }
  /** a session ended (its connections were reset when it broke); `error` says why when it broke */
  | {
    readonly _tag: "SessionEnded"
    readonly sessionId: string
    readonly error?: PortForwarding.PortForwardingError | undefined
  }
  /** what happens to one session's connections (see `PortForwarding.PortForwardingEvent`) */
  | { readonly _tag: "Connection"; readonly sessionId: string; readonly event: PortForwarding.PortForwardingEvent }
  /** an attempt to start a session failed (it is retried on the pool's `restart` schedule) */
  | { readonly _tag: "StartFailed"; readonly error: PortForwarding.PortForwardingError }

/**
 * The counters of every session the pool has had, with how many it has now.
 *
 * @since 0.2.0
 * @category models
 */
export interface PoolStats extends PortForwarding.PortForwardingStats {
  /** sessions open now */
  readonly sessions: number
  readonly sessionsStarted: number
  readonly sessionsEnded: number
}

/**
 * @since 0.2.0
 * @category models
 */
export interface PortForwardingPool {
  /** Carries a local byte stream over the least-loaded session (see `PortForwarding.forward`). */
  readonly forward: <E1, E2>(
    local: PortForwarding.LocalConnection<E1, E2>
  ) => Effect.Effect<PortForwarding.ConnectionOutcome, PortForwarding.PortForwardingError>
  /** A connection over the least-loaded session, as a Socket, closed with its scope. */
  readonly connect: Effect.Effect<Socket.Socket, PortForwarding.PortForwardingError, Scope.Scope>
  /** the sessions open now and how many connections each carries */
  readonly sessions: Effect.Effect<ReadonlyArray<{ readonly sessionId: string; readonly activeConnections: number }>>
  /** the tunnels open now, one per session */
  readonly members: Effect.Effect<ReadonlyArray<PortForwarding.PortForwarding>>
  readonly events: Stream.Stream<PoolEvent>
  /** events from now on, for the caller's scope (subscribed at once, so none is missed) */
  readonly subscribe: Effect.Effect<Stream.Stream<PoolEvent>, never, Scope.Scope>
  readonly stats: Effect.Effect<PoolStats>
  /** fails when every session has ended and none can be started again; the pool never ends on its own otherwise */
  readonly closed: Effect.Effect<void, PortForwarding.PortForwardingError>
}

/**
 * A pool over any way of opening a tunnel (`PortForwarding.start`, `fromResponse` with fresh responses, a
 * simulator's): `sessions` of them start at once, and the pool fails if none can.
 *
 * @since 0.2.0
 * @category constructors
 */
export const make: <E, R>(
  open: Effect.Effect<PortForwarding.PortForwarding, E, Scope.Scope | R>,
  options?: PoolOptions
) => Effect.Effect<PortForwardingPool, E | PortForwarding.PortForwardingError, Scope.Scope | R> = internal.make

/**
 * A pool of `PortForwarding.start` sessions to one destination, as one scoped resource.
 *
 * @since 0.2.0
 * @category constructors
 */
export const start: (
  options: PortForwarding.StartOptions & PoolOptions
) => Effect.Effect<
  PortForwardingPool,
  PortForwarding.PortForwardingError | Session.SessionError | SsmApi.SsmApiError,
  Scope.Scope | SsmApi.SsmApi | Socket.WebSocketConstructor
> = internal.start
