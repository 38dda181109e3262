/**
 * The Node WebSocket for sessions: `ws` with `binaryType = "arraybuffer"`. The Session itself pings through it
 * (`pingInterval`, 30 seconds by default) and checks the pongs.
 *
 * @since 0.1.0
 */
import * as Socket from "@effect/platform/Socket"
import * as Layer from "effect/Layer"
import * as WS from "ws"

/**
 * The ping interval of AWS's client (5 minutes). The Session pings more often by default (`pingInterval`).
 *
 * @since 0.1.0
 * @category constants
 */
export const pingInterval = 5 * 60 * 1000

/**
 * A `WebSocketConstructor` on `ws` (on every Node version: undici's global WebSocket hands binary frames over as
 * Blobs, 5-8x slower), which can ping and pause reading.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerWebSocketConstructor: Layer.Layer<Socket.WebSocketConstructor> = Layer.succeed(
  Socket.WebSocketConstructor,
  (url, protocols) => {
    const socket = new WS.WebSocket(url, protocols)
    socket.binaryType = "arraybuffer"
    return socket as unknown as globalThis.WebSocket
  }
)
