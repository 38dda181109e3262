/**
 * The Node WebSocket for sessions: `ws`, handing binary frames over as Buffers (no copy). The Session itself pings
 * through it (`pingInterval`, 30 seconds by default) and checks the pongs.
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

const zeroMask = (mask: Uint8Array): void => {
  mask.fill(0)
}

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
    const socket = new WS.WebSocket(url, protocols, {
      // the service offers no compression; not asking for it spares a zlib context per WebSocket
      perMessageDeflate: false,
      // a zero masking key: frames go out unmasked in effect, with no copy and no random bytes per frame. The key
      // guards caches against scripts in browsers (RFC 6455 section 10.3); a program has none to guard against,
      // and the WebSocket runs inside TLS
      generateMask: zeroMask
    })
    // Buffers are Uint8Arrays: the Session reads them in place and copies what it keeps
    socket.binaryType = "nodebuffer"
    return socket as unknown as globalThis.WebSocket
  }
)
