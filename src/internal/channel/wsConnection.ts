/**
 * The one place that reaches under a `ws` WebSocket to its TCP connection.
 *
 * Why it is needed: `ws` offers no public way to
 * - cork the connection for a batch of frames (one system call per frame otherwise),
 * - hear when the connection has taken what was written (`bufferedAmount` is polled otherwise, and a browser has no
 *   event at all),
 * - and, in the simulator only, stop reading, end without a close frame, or reset the connection, which is how it
 *   models a network that goes silent, drops or resets.
 *
 * `ws` keeps the connection in `_socket` (unchanged since ws 1.x). Everything here is structural, so a browser's
 * WebSocket, or a `ws` without the field, gives `undefined` and every caller falls back to the public API. No
 * `node:` import: the core can use it.
 *
 * @internal
 */

/**
 * What of a Node `net.Socket` this library uses, every member optional.
 * @internal
 */
export interface WsConnection {
  readonly cork?: () => void
  readonly uncork?: () => void
  readonly pause?: () => void
  readonly end?: () => void
  readonly resetAndDestroy?: () => void
  readonly on?: (event: "drain" | "close", listener: () => void) => void
  readonly off?: (event: "drain" | "close", listener: () => void) => void
  readonly writableNeedDrain?: boolean
  readonly writableLength?: number
  readonly writableCorked?: number
  readonly destroyed?: boolean
}

/**
 * The TCP connection under a `ws` WebSocket, or `undefined` for any other WebSocket (or one already closed).
 * @internal
 */
export const wsConnection = (webSocket: unknown): WsConnection | undefined => {
  if (typeof webSocket !== "object" || webSocket === null) return undefined
  const connection = (webSocket as { readonly _socket?: unknown })._socket
  return typeof connection === "object" && connection !== null ? connection as WsConnection : undefined
}
