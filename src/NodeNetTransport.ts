/**
 * Byte transports over Node `net` sockets (TCP or Unix): an `Smux.Transport` with read backpressure (the socket is
 * paused while nobody is pulling) and a TCP reset, for an smux session over TCP (a Go smux peer), a local
 * connection to forward through a tunnel (`PortForwarding.forward`), or anything else that wants a socket's bytes
 * pull-style. Formerly `NodeSmux`, a name that said nothing of what it is: nothing in it speaks smux.
 *
 * @since 0.3.0
 */
import type * as Cause from "effect/Cause"
import type * as Chunk from "effect/Chunk"
import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type * as Net from "node:net"
import * as internal from "./internal/node/netTransport.js"
import * as readable from "./internal/node/readable.js"
import type * as Smux from "./Smux.js"

/**
 * @since 0.3.0
 * @category type ids
 */
export const ErrorTypeId: unique symbol = internal.ErrorTypeId as ErrorTypeId

/**
 * @since 0.3.0
 * @category type ids
 */
export type ErrorTypeId = typeof ErrorTypeId

/**
 * A failure of the socket under a transport.
 *
 * @since 0.3.0
 * @category errors
 */
export interface NetTransportError extends Cause.YieldableError {
  readonly [ErrorTypeId]: ErrorTypeId
  readonly _tag: "NetTransportError"
  readonly reason: NetTransportError.Reason
  readonly detail: string
  /** the Node error */
  readonly cause?: unknown
}

/**
 * @since 0.3.0
 * @category errors
 */
export declare namespace NetTransportError {
  /**
   * - `Connect`: the connection could not be made (refused, unreachable, no such socket file).
   * - `Read`: the socket failed while its bytes were being read (a reset, a timeout).
   * - `Write`: bytes could not be written (the socket was closed or reset).
   *
   * @since 0.3.0
   * @category errors
   */
  export type Reason = "Connect" | "Read" | "Write"
}

/**
 * @since 0.3.0
 * @category errors
 */
export const NetTransportError: new(args: {
  readonly reason: NetTransportError.Reason
  readonly detail: string
  readonly cause?: unknown
}) => NetTransportError = internal.NetTransportError

/**
 * @since 0.3.0
 * @category refinements
 */
export const isNetTransportError: (u: unknown) => u is NetTransportError = internal.isNetTransportError

/**
 * A transport over a socket, with its incoming bytes also pull-style (cheaper than running `incoming`).
 *
 * @since 0.3.0
 * @category models
 */
export interface NetTransport extends Smux.Transport<NetTransportError> {
  readonly pull: Effect.Effect<Chunk.Chunk<Uint8Array>, Option.Option<NetTransportError>>
  /** aborts the connection with a TCP RST, so the program at the other end sees an error, not an end */
  readonly reset: Effect.Effect<void>
}

/**
 * A transport over a connected socket; the socket is destroyed when the scope closes.
 *
 * @since 0.3.0
 * @category constructors
 */
export const fromNetSocket: (socket: Net.Socket) => Effect.Effect<NetTransport, never, Scope.Scope> =
  internal.fromNetSocket

/**
 * Connects to `options` (a TCP host and port, or a Unix socket's path) and returns a transport over the socket.
 *
 * @since 0.3.0
 * @category constructors
 */
export const connect: (
  options: Net.NetConnectOpts
) => Effect.Effect<NetTransport, NetTransportError, Scope.Scope> = internal.connect

/**
 * Any other Node readable (stdin, a child's stdout, a file) as a Stream of its bytes: chunks as they come, with
 * backpressure (the readable is paused while a chunk waits for room), ending with it. An error fails the stream
 * with `onError`'s value, and the readable is destroyed when the stream ends or is interrupted. What a session's
 * `write` or a transport's `incoming` can be fed from without `@effect/platform-node`.
 *
 * @since 0.3.0
 * @category constructors
 */
export const fromReadable: <E>(
  evaluate: () => NodeJS.ReadableStream,
  onError: (error: unknown) => E
) => Stream.Stream<Uint8Array, E> = readable.fromReadable
