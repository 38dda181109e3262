/**
 * The Node WebSocket for sessions: `ws` with `binaryType = "arraybuffer"` and a WebSocket ping every 5 minutes,
 * as AWS's client does.
 *
 * @since 0.1.0
 */
import * as Socket from "@effect/platform/Socket"
import * as Layer from "effect/Layer"
import * as WS from "ws"

/**
 * The ping interval of AWS's client.
 *
 * @since 0.1.0
 * @category constants
 */
export const pingInterval = 5 * 60 * 1000

/**
 * A `WebSocketConstructor` on `ws` (on every Node version: undici's global WebSocket hands binary frames over as
 * Blobs, 5-8x slower), pinging every 5 minutes while open.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerWebSocketConstructor: Layer.Layer<Socket.WebSocketConstructor> = Layer.succeed(
  Socket.WebSocketConstructor,
  (url, protocols) => {
    const socket = new WS.WebSocket(url, protocols)
    socket.binaryType = "arraybuffer"
    const timer = setInterval(() => {
      if (socket.readyState === WS.WebSocket.OPEN) socket.ping("keepalive")
    }, pingInterval)
    timer.unref?.()
    socket.on("open", () => socket.ping("keepalive"))
    socket.on("close", () => clearInterval(timer))
    return socket as unknown as globalThis.WebSocket
  }
)
