/**
 * A SOCKS5 proxy on Node (RFC 1928: no authentication, CONNECT only; IPv4, domain-name and IPv6 addresses) whose
 * destinations are reached from an instance: each CONNECT to host:port goes through a port-forwarding session to
 * that host (`AWS-StartPortForwardingSessionToRemoteHost`), started on the destination's first CONNECT (CONNECTs
 * that arrive while it starts share the start), reused by later ones (one smux stream each), and closed when the
 * destination has had no connection for `idleTimeout`. Failures get the reply code that fits: the agent unable
 * to connect is "connection refused" (5); a session that cannot start is "general failure" (1), "not allowed"
 * (2) when the caller may not start it, "network unreachable" (3) when the target is offline, "host unreachable"
 * (4) when the service rejects the host.
 *
 * The proxy keeps at most `maxDestinations` destinations (default 64). A CONNECT to a new destination beyond
 * that closes the sessions of the least recently used destination that has no connection; when every kept
 * destination has connections, the CONNECT is answered "general failure" (1) and nothing is closed. A
 * destination whose every CONNECT so far was refused by the agent is not kept: its sessions close as soon as its
 * last connection ends (the next CONNECT to it starts afresh, as after a failed start).
 *
 * The reply to a CONNECT waits for the tunnel connection to be open and for the agent's answer: success comes
 * with the destination's first bytes, or, when the destination speaks second (HTTP), once a refusal would have
 * come back (twice the session's round-trip time, from 100 ms to 1 s; `refusalWait`). A destination that has
 * already sent bytes to a connection is answered as soon as the stream is open.
 *
 * @since 0.2.0
 */
import type * as Socket from "@effect/platform/Socket"
import type * as Cause from "effect/Cause"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import * as internal from "./internal/node/nodeSocks.js"
import type * as Session from "./Session.js"
import type * as SsmApi from "./SsmApi.js"

/**
 * @since 0.2.0
 * @category type ids
 */
export const ErrorTypeId: unique symbol = internal.ErrorTypeId as ErrorTypeId

/**
 * @since 0.2.0
 * @category type ids
 */
export type ErrorTypeId = typeof ErrorTypeId

/**
 * The one error of this module.
 *
 * @since 0.2.0
 * @category errors
 */
export interface SocksError {
  readonly [ErrorTypeId]: ErrorTypeId
  readonly _tag: "SocksError"
  readonly reason: SocksError.Reason
  readonly detail: string
  readonly cause?: unknown
  readonly message: string
}

/**
 * @since 0.2.0
 * @category errors
 */
export declare namespace SocksError {
  /**
   * - `InvalidOptions`: a port out of range, a pool size below 1, a duration that is not one.
   * - `Listen`: the proxy could not listen (address in use, no permission), or its listener failed.
   * - `Handshake`: a client's greeting or request could not be served (not SOCKS5, no acceptable method, a
   *   command other than CONNECT, an unknown address type, no complete request in time).
   * - `Refused`: the agent could not connect to the destination (or the destination closed at once).
   * - `Start`: no session to the destination could be started (the StartSession call or the session failed).
   * - `Broken`: the destination's sessions failed under a connection.
   * - `Limit`: a new destination beyond `maxDestinations` while every kept destination has connections.
   *
   * @since 0.2.0
   * @category errors
   */
  export type Reason = "InvalidOptions" | "Listen" | "Handshake" | "Refused" | "Start" | "Broken" | "Limit"
}

/**
 * @since 0.2.0
 * @category errors
 */
export const SocksError: new(args: {
  readonly reason: SocksError.Reason
  readonly detail: string
  readonly cause?: unknown
}) => SocksError & Cause.YieldableError = internal.SocksError

/**
 * @since 0.2.0
 * @category refinements
 */
export const isSocksError: (u: unknown) => u is SocksError = internal.isSocksError

/**
 * The reply codes of RFC 1928 (section 6).
 *
 * @since 0.2.0
 * @category constants
 */
export const Reply: {
  readonly Succeeded: 0x00
  readonly GeneralFailure: 0x01
  readonly NotAllowed: 0x02
  readonly NetworkUnreachable: 0x03
  readonly HostUnreachable: 0x04
  readonly ConnectionRefused: 0x05
  readonly TtlExpired: 0x06
  readonly CommandNotSupported: 0x07
  readonly AddressTypeNotSupported: 0x08
} = internal.Reply

/**
 * @since 0.2.0
 * @category models
 */
export interface ServeOptions {
  /** the instance (or managed node) every destination is reached from */
  readonly target: string
  /** the address to listen on; default 127.0.0.1 (anyone who can connect can use the target's network) */
  readonly host?: string | undefined
  /** default 1080; 0 for an ephemeral port, reported in `address` */
  readonly port?: number | undefined
  /** a destination with no connection for this long has its sessions closed; default 5 minutes */
  readonly idleTimeout?: Duration.DurationInput | undefined
  /**
   * the most destinations kept at once (default 64): a new one beyond it closes the least recently used
   * destination with no connection, or, when every one has connections, is answered "general failure" (1)
   */
  readonly maxDestinations?: number | undefined
  /** sessions per destination (a `PortForwardingPool`), for more than one session's rate cap; default 1 */
  readonly sessions?: number | undefined
  /** the time a client has to send a complete greeting and request; default 10 seconds */
  readonly handshakeTimeout?: Duration.DurationInput | undefined
  /**
   * how long a CONNECT to a destination that has not yet sent any bytes waits for the agent to report that it
   * could not connect, before replying success; default twice the session's round-trip time, from 100 ms to 1 s
   */
  readonly refusalWait?: Duration.DurationInput | undefined
  /** recorded with every session */
  readonly reason?: string | undefined
  readonly session?: Omit<Session.SessionOptions, "sessionId" | "streamUrl" | "tokenValue"> | undefined
}

/**
 * What happens to the proxy's destinations and connections.
 *
 * @since 0.2.0
 * @category models
 */
export type SocksEvent =
  /** a session to a destination opened (on its first CONNECT, or replacing one that ended) */
  | { readonly _tag: "SessionOpened"; readonly destination: string; readonly sessionId: string }
  /**
   * a session closed: `Idle` (no connection for `idleTimeout`), `Ended` (the service ended it), `Broken`,
   * `Evicted` (its destination was the least recently used one when a new destination went beyond
   * `maxDestinations`), `Refused` (the agent refused every connection to its destination, and the last one ended)
   */
  | {
    readonly _tag: "SessionClosed"
    readonly destination: string
    readonly sessionId: string
    readonly reason: "Idle" | "Ended" | "Broken" | "Evicted" | "Refused"
    readonly error?: SocksError | undefined
  }
  /** a session to a destination could not start (the CONNECTs waiting for it were answered with a failure) */
  | { readonly _tag: "StartFailed"; readonly destination: string; readonly error: SocksError }
  /** every session of a destination ended and none could start again: the next CONNECT starts afresh */
  | { readonly _tag: "DestinationFailed"; readonly destination: string; readonly error: SocksError }
  /** a client's handshake or CONNECT was answered with a failure (`reply`), or closed without a reply */
  | {
    readonly _tag: "Rejected"
    readonly destination: string | undefined
    readonly reply: number | undefined
    readonly error: SocksError
  }

/**
 * Counters since the proxy started.
 *
 * @since 0.2.0
 * @category models
 */
export interface SocksStats {
  /** client connections accepted */
  readonly connections: number
  readonly activeConnections: number
  /** CONNECTs answered with success */
  readonly succeeded: number
  /** handshakes and CONNECTs answered with a failure or closed */
  readonly rejected: number
  /** destinations with sessions open (or starting) now */
  readonly destinations: number
  readonly sessionsStarted: number
  readonly sessionsClosed: number
  readonly startFailures: number
  /** bytes from clients to destinations */
  readonly bytesSent: number
  /** bytes from destinations to clients */
  readonly bytesReceived: number
}

/**
 * A destination the proxy has sessions to (or is starting them for).
 *
 * @since 0.2.0
 * @category models
 */
export interface DestinationInfo {
  /** `host:port` as clients asked for it (`[v6]:port` for an IPv6 address) */
  readonly destination: string
  /** connections that use it now */
  readonly connections: number
  /** its sessions (none while they start) */
  readonly sessions: ReadonlyArray<string>
}

/**
 * @since 0.2.0
 * @category models
 */
export interface SocksServer {
  /** where it listens, with the real port when an ephemeral one was asked for */
  readonly address: { readonly host: string; readonly port: number }
  readonly stats: Effect.Effect<SocksStats>
  readonly destinations: Effect.Effect<ReadonlyArray<DestinationInfo>>
  /** events from the moment the stream starts running (a bounded buffer: a slow subscriber loses the oldest) */
  readonly events: Stream.Stream<SocksEvent>
  /** subscribes now, for the scope: every event from this moment on */
  readonly subscribe: Effect.Effect<Stream.Stream<SocksEvent>, never, Scope.Scope>
  /** completes when the proxy's scope closes; fails if its listener fails */
  readonly closed: Effect.Effect<void, SocksError>
}

/**
 * Listens for SOCKS5 clients until the scope closes; closing it closes every connection and every session.
 *
 * @since 0.2.0
 * @category constructors
 */
export const serve: (
  options: ServeOptions
) => Effect.Effect<SocksServer, SocksError, Scope.Scope | SsmApi.SsmApi | Socket.WebSocketConstructor> =
  internal.serve
