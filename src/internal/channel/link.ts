/**
 * One WebSocket carrying a data channel: dialled, opened with the OpenDataChannel text frame, watched for
 * liveness, and ended. A Session runs one link at a time and dials a new one to resume (AGENT-PROTOCOL.md
 * sections 2.2-2.3 and 11).
 *
 * Liveness: where the WebSocket can ping (`ws` on Node), a ping goes out at open and every `pingInterval`, and a
 * link that hears neither a pong nor a frame for two intervals is dead (AWS's client never checks its pongs and
 * hangs on such a link). Where it cannot (browsers), a link is dead when it hears nothing for two intervals while
 * `expectingTraffic` says an answer is due (messages sent and not acknowledged).
 *
 * @internal
 */
import * as Socket from "@effect/platform/Socket"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import type * as Scope from "effect/Scope"
import { wsConnection } from "./wsConnection.js"

/**
 * Corks the TCP socket under a `ws` WebSocket for a batch of frames, when there is one: one frame per WebSocket
 * message otherwise costs one system call each. Elsewhere it does nothing.
 * @internal
 */
export const corkSocket = (webSocket: unknown): () => void => {
  const connection = wsConnection(webSocket)
  const cork = connection?.cork
  const uncork = connection?.uncork
  if (typeof cork !== "function" || typeof uncork !== "function") return () => {}
  cork.call(connection)
  return () => uncork.call(connection)
}

/**
 * Bytes of frames written and not yet taken by the network past which the link is congested: acknowledgements then
 * wait in the data-channel engine (one small entry per sequence number, bounded) instead of piling up here, so what
 * a peer that does not read leaves in our memory is bounded by this, the engine's bound and the window of data
 * messages.
 * @internal
 */
export const MAX_UNSENT_BYTES = 256 * 1024

/** How soon a congested link looks again at its backlog, if it has not drained before. */
const DRAIN_POLL_MILLIS = 10

/** How a link ended. @internal */
export type LinkEnd =
  | { readonly _tag: "Closed"; readonly code: number; readonly reason: string }
  | { readonly _tag: "Failed"; readonly detail: string; readonly cause: unknown }
  | { readonly _tag: "Dead"; readonly silentFor: Duration.Duration }

/** Why a link could not open. @internal */
export interface LinkOpenError {
  readonly detail: string
  readonly cause?: unknown
}

/** @internal */
export interface Link {
  /** writes one binary frame; a frame written to a link that is going away is lost, as in the network */
  readonly send: (frame: Uint8Array) => void
  /** holds the connection's writes until the returned function is called (a Node socket's cork) */
  readonly cork: () => () => void
  /**
   * more than `MAX_UNSENT_BYTES` beyond `allowance` bytes of ours wait for the network (or the link is going away):
   * acknowledgements should wait for `whenDrained`
   */
  readonly congested: (allowance: number) => boolean
  /**
   * calls `callback` once when the backlog may be under the bound again: when it has drained, or `DRAIN_POLL_MILLIS`
   * later, whichever comes first (a backlog of data that keeps coming may never drain whole), or when the connection
   * closes (nothing is written then: the next link takes what waits)
   */
  readonly whenDrained: (callback: () => void) => void
  /** stops and resumes reading, where the platform can (`ws`): TCP then pushes back on the service */
  readonly pauseReading: () => void
  readonly resumeReading: () => void
  readonly canPause: boolean
  /** completes when the link ends, whatever ended it */
  readonly ended: Effect.Effect<LinkEnd>
}

/** @internal */
export interface LinkOptions {
  readonly url: string
  /** the OpenDataChannel text frame, sent as soon as the WebSocket opens */
  readonly openFrame: string
  readonly openTimeout: Duration.Duration
  /** 0 for no liveness checks */
  readonly pingInterval: Duration.Duration
  readonly onFrame: (frame: Uint8Array) => void
  readonly expectingTraffic: () => boolean
}

/** The WebSocket as `ws` has it on Node: it can ping, hear pongs, stop reading and end at once. */
interface NodeWebSocket extends globalThis.WebSocket {
  readonly ping?: (data?: string) => void
  readonly on?: {
    (event: "pong", listener: () => void): void
    (event: "message", listener: (data: Uint8Array, isBinary: boolean) => void): void
  }
  readonly pause?: () => void
  readonly resume?: () => void
  readonly terminate?: () => void
}

/** What a WebSocket error event says: ws's carry the Error (ECONNREFUSED, "Unexpected server response: 403"). */
const describeError = (event: unknown): string => {
  const error = (event as { readonly error?: { readonly message?: unknown }; readonly message?: unknown } | undefined)
  const message = error?.error?.message ?? error?.message
  return typeof message === "string" && message !== "" ? message : "the WebSocket failed"
}

/**
 * `Link.whenDrained`: Node's connection says "drain" once what it held has gone (it always says so after refusing a
 * write, as past MAX_UNSENT_BYTES, far above its high-water mark); browsers have no such event. Either way the backlog
 * is looked at again after `DRAIN_POLL_MILLIS`: data that keeps coming may keep it from draining whole.
 */
const whenDrained = (webSocket: NodeWebSocket, callback: () => void): void => {
  if (webSocket.readyState !== 1) return
  const connection = wsConnection(webSocket)
  const watched = connection !== undefined && connection.writableNeedDrain === true &&
      connection.destroyed !== true && connection.on !== undefined && connection.off !== undefined
    ? { connection, on: connection.on, off: connection.off }
    : undefined
  let timer: ReturnType<typeof setTimeout> | undefined = undefined
  // both listeners go at once, whichever comes (each is a `once`)
  const done = () => {
    clearTimeout(timer)
    watched?.off.call(watched.connection, "drain", done)
    watched?.off.call(watched.connection, "close", done)
    callback()
  }
  timer = setTimeout(done, DRAIN_POLL_MILLIS)
  watched?.on.call(watched.connection, "drain", done)
  watched?.on.call(watched.connection, "close", done)
}

/** @internal */
export const describeEnd = (end: LinkEnd): string => {
  switch (end._tag) {
    case "Closed":
      return end.code === 1000 || end.code === 1005
        ? `the WebSocket closed${end.code === 1000 ? "" : " without a close frame"}${end.reason ? ` (${end.reason})` : ""}`
        : `the WebSocket closed with code ${end.code}${end.reason ? ` (${end.reason})` : ""}`
    case "Failed":
      return `the WebSocket failed: ${end.detail}`
    case "Dead":
      return `the WebSocket was silent for ${Duration.format(end.silentFor)} (no pong, no traffic)`
  }
}

/**
 * Dials `url`, sends the OpenDataChannel frame once open and returns the link; the scope closes the WebSocket.
 * @internal
 */
export const open = (
  options: LinkOptions
): Effect.Effect<Link, LinkOpenError, Scope.Scope | Socket.WebSocketConstructor> =>
  Effect.gen(function*() {
    const construct = yield* Socket.WebSocketConstructor
    const ended = Deferred.unsafeMake<LinkEnd>(FiberId.none)
    let heard = false
    const end = (linkEnd: LinkEnd) => Deferred.unsafeDone(ended, Exit.succeed(linkEnd))

    const webSocket = yield* Effect.acquireRelease(
      Effect.try({
        try: () => construct(options.url) as NodeWebSocket,
        catch: (cause): LinkOpenError => ({ detail: describeError(cause), cause })
      }),
      (webSocket) =>
        Effect.sync(() => {
          end({ _tag: "Closed", code: 1000, reason: "closed by the client" })
          try {
            webSocket.close(1000)
          } catch {
            // already closing
          }
        })
    )
    // `ws` hands Buffers over as set up by its layer (`nodebuffer`); browsers give ArrayBuffers
    if (webSocket.binaryType !== ("nodebuffer" as BinaryType)) webSocket.binaryType = "arraybuffer"
    if (typeof webSocket.on === "function") {
      // ws's own event: no MessageEvent made per frame; text frames are not the data channel's
      webSocket.on("message", (data: Uint8Array, isBinary: boolean) => {
        if (!isBinary) return
        heard = true
        options.onFrame(data)
      })
    } else {
      webSocket.addEventListener("message", (event: MessageEvent) => {
        const data = event.data
        if (typeof data === "string") return
        heard = true
        options.onFrame(data instanceof Uint8Array ? data : new Uint8Array(data as ArrayBuffer))
      })
    }
    webSocket.addEventListener("close", (event: CloseEvent) => end({ _tag: "Closed", code: event.code, reason: event.reason }))
    webSocket.addEventListener("error", (event: Event) => end({ _tag: "Failed", detail: describeError(event), cause: event }))

    // open, or say why not: an error, a close, or no answer in time
    yield* Effect.async<void, LinkOpenError>((resume) => {
      if (webSocket.readyState === 1) return resume(Effect.void)
      webSocket.addEventListener("open", () => resume(Effect.void), { once: true })
      webSocket.addEventListener("error", (event: Event) => resume(Effect.fail({ detail: describeError(event), cause: event })), {
        once: true
      })
      webSocket.addEventListener("close", (event: CloseEvent) =>
        resume(Effect.fail({
          detail: describeEnd({ _tag: "Closed", code: event.code, reason: event.reason }),
          cause: event
        })), { once: true })
    }).pipe(
      Effect.timeoutFail({
        duration: options.openTimeout,
        onTimeout: (): LinkOpenError => ({ detail: "no answer in time" })
      })
    )
    // the token leaves Redacted only in this frame
    webSocket.send(options.openFrame)

    const interval = Duration.toMillis(options.pingInterval)
    if (interval > 0) {
      const ping = typeof webSocket.ping === "function" ? () => webSocket.ping!("keepalive") : undefined
      if (ping !== undefined) {
        webSocket.on?.("pong", () => heard = true)
        ping()
      }
      let silent = 0
      yield* Effect.forkScoped(Effect.forever(Effect.gen(function*() {
        yield* Effect.sleep(options.pingInterval)
        if (heard || (ping === undefined && !options.expectingTraffic())) silent = 0
        else if (++silent >= 2) {
          end({ _tag: "Dead", silentFor: Duration.millis(interval * silent) })
          if (typeof webSocket.terminate === "function") webSocket.terminate()
          else webSocket.close()
          return
        }
        heard = false
        ping?.()
      })))
    }

    // frames written in one turn of the event loop (the acknowledgements of every message one read brought, say)
    // leave together in one system call, not one each: the socket is corked at the first and uncorked when the
    // turn's synchronous work is done
    let batch: (() => void) | undefined
    const flush = () => {
      const uncork = batch
      batch = undefined
      uncork?.()
    }

    // past MAX_UNSENT_BYTES of ours waiting for the network, the engine holds its acknowledgements back (bounded,
    // one per sequence number) until the connection drains: a peer that does not read them would otherwise fill our
    // memory with them, and dropping them instead loses them for good when the repeat 50 ms later is dropped too
    // (the agent then resends one message per 100 ms). Reading goes on while writes wait, which keeps both sides
    // moving: a link that stopped reading until its writes drained could wait for ever on a peer doing the same.
    // Every frame written here goes; data frames are bounded by the window.
    const congested = (allowance: number) =>
      webSocket.readyState !== 1 || webSocket.bufferedAmount > MAX_UNSENT_BYTES + allowance
    return {
      send: (frame) => {
        if (webSocket.readyState !== 1) return
        if (batch === undefined) {
          batch = corkSocket(webSocket)
          queueMicrotask(flush)
        }
        webSocket.send(frame)
      },
      cork: () => corkSocket(webSocket),
      congested,
      whenDrained: (callback) => whenDrained(webSocket, callback),
      canPause: typeof webSocket.pause === "function" && typeof webSocket.resume === "function",
      pauseReading: () => webSocket.pause?.(),
      resumeReading: () => webSocket.resume?.(),
      ended: Deferred.await(ended)
    } satisfies Link
  })
