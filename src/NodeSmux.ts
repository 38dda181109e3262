/**
 * Smux over Node TCP sockets: a transport with read backpressure (the socket is paused while the session is
 * not reading), for talking to a Go smux peer or any smux endpoint over TCP.
 *
 * @since 0.1.0
 */
import type * as Chunk from "effect/Chunk"
import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type * as Net from "node:net"
import * as internal from "./internal/nodeSmux.js"
import type * as Smux from "./Smux.js"

/**
 * A failure of the TCP socket under a transport.
 *
 * @since 0.1.0
 * @category errors
 */
export interface NetTransportError {
  readonly _tag: "NetTransportError"
  readonly cause: unknown
}

/**
 * A transport over a TCP socket, with its incoming bytes also pull-style (cheaper than running `incoming`).
 *
 * @since 0.1.0
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
 * @since 0.1.0
 * @category constructors
 */
export const fromNetSocket: (socket: Net.Socket) => Effect.Effect<NetTransport, never, Scope.Scope> =
  internal.fromNetSocket

/**
 * Connects to `options` and returns a transport over the socket.
 *
 * @since 0.1.0
 * @category constructors
 */
export const connect: (
  options: Net.NetConnectOpts
) => Effect.Effect<NetTransport, NetTransportError, Scope.Scope> = internal.connect
