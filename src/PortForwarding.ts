/**
 * Port forwarding over a ready Port session: the mode the official client would choose (multiplexed smux,
 * basic, or a standard stream) and in-process connections through the tunnel as `@effect/platform` Sockets, so
 * a service can talk to a port on (or behind) an instance without any local listener.
 *
 * `start` (or `toInstancePort`, `toRemoteHost`) does it all: StartSession through the `SsmApi` service, the
 * Session, forwarding, and on scope close the TerminateSession flag, falling back to the API for agents that
 * ignore it. A local TCP or Unix listener is `NodePortForwarding.listen`.
 *
 * @since 0.1.0
 */
import type * as Socket from "@effect/platform/Socket"
import type * as Cause from "effect/Cause"
import type * as Chunk from "effect/Chunk"
import type * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type * as Metric from "effect/Metric"
import type * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import * as internal from "./internal/tunnels/portForwarding.js"
import type * as Session from "./Session.js"
import type * as Smux from "./Smux.js"
import type * as SsmApi from "./SsmApi.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const ErrorTypeId: unique symbol = internal.ErrorTypeId as ErrorTypeId

/**
 * @since 0.1.0
 * @category type ids
 */
export type ErrorTypeId = typeof ErrorTypeId

/**
 * The one error of this module.
 *
 * @since 0.1.0
 * @category errors
 */
export interface PortForwardingError {
  readonly [ErrorTypeId]: ErrorTypeId
  readonly _tag: "PortForwardingError"
  readonly reason: PortForwardingError.Reason
  readonly detail: string
  readonly cause?: unknown
  readonly message: string
}

/**
 * @since 0.1.0
 * @category errors
 */
export declare namespace PortForwardingError {
  /**
   * - `NotAPortSession`: the session's type is not `Port`.
   * - `Unsupported`: smux streams asked of a tunnel that is not multiplexed.
   * - `Tunnel`: the tunnel could not open or carry a connection (an smux protocol error, stream ids ran out).
   * - `Session`: the session under the tunnel failed (the transport was lost, give-up, a protocol error).
   * - `ChannelClosed`: the service closed the channel while connections were open.
   * - `InvalidOptions`: a port number out of range, and the like.
   * - `Listen`: the local listener could not listen (address in use, no permission).
   *
   * @since 0.1.0
   * @category errors
   */
  export type Reason =
    | "NotAPortSession"
    | "Unsupported"
    | "Tunnel"
    | "Session"
    | "ChannelClosed"
    | "InvalidOptions"
    | "Listen"
}

/**
 * @since 0.1.0
 * @category errors
 */
export const PortForwardingError: new(args: {
  readonly reason: PortForwardingError.Reason
  readonly detail: string
  readonly cause?: unknown
}) => PortForwardingError & Cause.YieldableError = internal.PortForwardingError

/**
 * @since 0.1.0
 * @category refinements
 */
export const isPortForwardingError: (u: unknown) => u is PortForwardingError = internal.isPortForwardingError

/**
 * How the bytes of a port session are carried (section 10.1).
 *
 * @since 0.1.0
 * @category models
 */
export type Mode =
  | { readonly _tag: "Mux"; readonly keepAlive: boolean }
  | { readonly _tag: "Basic" }
  | { readonly _tag: "StandardStream" }

/**
 * The mode the official client picks from the document's `type` property and the agent's version: smux when the
 * type is `LocalPortForwarding` and the agent is above 3.0.196.0, with smux keepalive unless the agent is above
 * 3.1.1511.0; basic for older agents; a plain byte stream for other types.
 *
 * @since 0.1.0
 * @category constructors
 */
export const chooseMode: (
  properties: Readonly<Record<string, unknown>> | null,
  agentVersion: Option.Option<string>
) => Mode = internal.chooseMode

/**
 * What happens to the tunnel's connections.
 *
 * @since 0.1.0
 * @category models
 */
export type PortForwardingEvent =
  | { readonly _tag: "ConnectionOpened"; readonly connection: number }
  | {
    readonly _tag: "ConnectionClosed"
    readonly connection: number
    readonly bytesSent: number
    readonly bytesReceived: number
    readonly outcome: ConnectionOutcome
  }
  /**
   * The agent could not connect to the destination. In multiplexed mode it also closes the connection's stream,
   * so the affected connection ends (the flag itself does not say which connection it was).
   */
  | { readonly _tag: "ConnectToPortError" }

/**
 * How a forwarded connection ended: `Ended` when either side closed it (or its scope closed), `Cut` when the
 * tunnel broke under it, which is never passed off as a normal end: the local side is reset.
 *
 * @since 0.1.0
 * @category models
 */
export type ConnectionOutcome =
  | { readonly _tag: "Ended" }
  | { readonly _tag: "Cut"; readonly error: PortForwardingError }

/**
 * Counters of a tunnel since it started.
 *
 * @since 0.1.0
 * @category models
 */
export interface PortForwardingStats {
  readonly connections: number
  readonly activeConnections: number
  /** bytes sent towards the destination */
  readonly bytesSent: number
  /** bytes received from the destination */
  readonly bytesReceived: number
  readonly connectErrors: number
}

/**
 * A local byte stream to carry through the tunnel: a TCP connection, a Unix socket, stdin and stdout.
 * `Smux.Transport` has this shape.
 *
 * @since 0.1.0
 * @category models
 */
export interface LocalConnection<E1, E2> {
  readonly incoming: Stream.Stream<Uint8Array, E1>
  readonly write: (bytes: Uint8Array) => Effect.Effect<void, E2>
  /**
   * Optional: the same bytes as `incoming`, pull-style (the next chunk, failing with `None` at the end), used
   * instead of running `incoming` because it costs less per connection (`NodeNetTransport` transports have it).
   */
  readonly pull?: Effect.Effect<Chunk.Chunk<Uint8Array>, Option.Option<E1>> | undefined
  /**
   * Optional: aborts the local side so that its program sees an error rather than an end (a TCP RST), for a
   * connection the tunnel's failure cut (`NodeNetTransport` transports have it)
   */
  readonly reset?: Effect.Effect<void> | undefined
}

/**
 * A tunnel over a port session.
 *
 * @since 0.1.0
 * @category models
 */
export interface PortForwarding {
  readonly mode: Mode
  readonly session: Session.Session
  /**
   * A new connection to the destination as a Socket, closed with its scope. Multiplexed: any number at once.
   * Basic and standard-stream: one at a time (others wait their turn); in basic mode each ends with
   * DisconnectToPort, and the agent dials the destination again for the next.
   */
  readonly connect: Effect.Effect<Socket.Socket, PortForwardingError, Scope.Scope>
  /**
   * Carries a local byte stream through a new connection until either side ends (smux v1 has no half-close, so
   * the end of one direction ends both, as with the official client), and says how it ended. When the tunnel
   * breaks under it (`Cut`), the local side is reset (`reset`). Fails only when the tunnel cannot open a
   * connection; the local side is the caller's to close afterwards.
   */
  readonly forward: <E1, E2>(
    local: LocalConnection<E1, E2>
  ) => Effect.Effect<ConnectionOutcome, PortForwardingError>
  /** A new connection as a raw smux stream, closed (FIN) with its scope; multiplexed mode only, not counted. */
  readonly openStream: Effect.Effect<Smux.SmuxStream, PortForwardingError, Scope.Scope>
  /**
   * Events from the moment the stream starts running (a bounded buffer: a slow subscriber loses the oldest). To
   * miss nothing from a known point on, use `subscribe`.
   */
  readonly events: Stream.Stream<PortForwardingEvent>
  /** Subscribes now, for the scope: the stream has every event from this moment on (bounded as `events`). */
  readonly subscribe: Effect.Effect<Stream.Stream<PortForwardingEvent>, never, Scope.Scope>
  readonly stats: Effect.Effect<PortForwardingStats>
  /**
   * Completes when the session ends normally (the service closed an idle tunnel, or the scope closed); fails with
   * what broke the tunnel: the session failing (`Session`), an smux error (`Tunnel`), or the service closing the
   * channel while connections were open (`ChannelClosed`).
   */
  readonly closed: Effect.Effect<void, PortForwardingError>
}

/**
 * @since 0.1.0
 * @category tags
 */
export const PortForwarding: Context.Tag<PortForwarding, PortForwarding> = internal.tag

/**
 * Effect metrics of every tunnel, named `ssm_port_*`.
 *
 * @since 0.1.0
 * @category models
 */
export interface PortForwardingMetrics {
  readonly connections: Metric.Metric.Counter<number>
  readonly activeConnections: Metric.Metric.Counter<number>
  readonly bytesSent: Metric.Metric.Counter<number>
  readonly bytesReceived: Metric.Metric.Counter<number>
  readonly connectErrors: Metric.Metric.Counter<number>
}

/**
 * @since 0.1.0
 * @category metrics
 */
export const metrics: PortForwardingMetrics = internal.metrics

/**
 * Starts forwarding over a ready Port session; it runs until its scope closes. Closing it closes every
 * connection; the session is the caller's.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (session: Session.Session) => Effect.Effect<PortForwarding, PortForwardingError, Scope.Scope> =
  internal.make

/**
 * Session tunables for the constructors that open the session themselves.
 *
 * @since 0.1.0
 * @category models
 */
export interface FromResponseOptions {
  readonly session?: Omit<Session.SessionOptions, "sessionId" | "streamUrl" | "tokenValue"> | undefined
}

/**
 * Opens the session of a StartSession response (from the AWS CLI, say) and forwards over it. On scope close: the
 * TerminateSession flag, a brief wait for the channel to close, and the `ssm:TerminateSession` API when the
 * agent does not honour the flag (2.3.722.0 and older) or the channel stays open, if an `SsmApi` is provided.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromResponse: (
  response: SsmApi.SessionResponse,
  options?: FromResponseOptions
) => Effect.Effect<
  PortForwarding,
  PortForwardingError | Session.SessionError,
  Scope.Scope | Socket.WebSocketConstructor
> = internal.fromResponse

/**
 * @since 0.1.0
 * @category models
 */
export interface StartOptions extends FromResponseOptions {
  /** an instance id, a managed node id, or an ECS target */
  readonly target: string
  /** the destination port on the instance, or on `host` */
  readonly portNumber: number
  /** a host the instance can reach: uses `AWS-StartPortForwardingSessionToRemoteHost` (agents 3.1.1188.0 on) */
  readonly host?: string | undefined
  /** default `AWS-StartPortForwardingSession`, or `AWS-StartPortForwardingSessionToRemoteHost` with a host */
  readonly documentName?: string | undefined
  /** more document parameters */
  readonly parameters?: Readonly<Record<string, ReadonlyArray<string>>> | undefined
  readonly reason?: string | undefined
}

/**
 * StartSession through the `SsmApi` service, then `fromResponse`: the whole tunnel as one scoped resource.
 *
 * @since 0.1.0
 * @category constructors
 */
export const start: (
  options: StartOptions
) => Effect.Effect<
  PortForwarding,
  PortForwardingError | Session.SessionError | SsmApi.SsmApiError,
  Scope.Scope | SsmApi.SsmApi | Socket.WebSocketConstructor
> = internal.start

/**
 * Forwarding to a port on the instance itself.
 *
 * @since 0.1.0
 * @category constructors
 */
export const toInstancePort = (
  options: FromResponseOptions & {
    readonly target: string
    readonly portNumber: number
    readonly reason?: string | undefined
  }
): Effect.Effect<
  PortForwarding,
  PortForwardingError | Session.SessionError | SsmApi.SsmApiError,
  Scope.Scope | SsmApi.SsmApi | Socket.WebSocketConstructor
> => internal.start(options)

/**
 * Forwarding to a host the instance can reach (a database, say).
 *
 * @since 0.1.0
 * @category constructors
 */
export const toRemoteHost = (
  options: FromResponseOptions & {
    readonly target: string
    readonly host: string
    readonly portNumber: number
    readonly reason?: string | undefined
  }
): Effect.Effect<
  PortForwarding,
  PortForwardingError | Session.SessionError | SsmApi.SsmApiError,
  Scope.Scope | SsmApi.SsmApi | Socket.WebSocketConstructor
> => internal.start(options)

/**
 * `start` as a Layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: (
  options: StartOptions
) => Layer.Layer<
  PortForwarding,
  PortForwardingError | Session.SessionError | SsmApi.SsmApiError,
  SsmApi.SsmApi | Socket.WebSocketConstructor
> = internal.layer
