/**
 * Sessions in a web page. The page gets the browser's own WebSocket as the `WebSocketConstructor` (binary frames
 * as ArrayBuffers; no pings, so a Session's liveness is judged by its traffic; no pausing, so a slow reader is
 * handled by leaving messages unacknowledged), and the `SsmApi` service over its own server (`layer`), so that
 * `Shell.start`, `RemoteCommand.execStream` and the resumption of a lost WebSocket work unchanged in a page that
 * holds no AWS credentials. The server's half is `makeHandler`: it answers the page's calls through the server's
 * own `SsmApi` (AWS's, or the simulator's), after the server's checks of who may start what. This module imports
 * nothing from Node.
 *
 * @since 0.1.0
 */
import type * as Socket from "@effect/platform/Socket"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as internal from "./internal/browserSession.js"
import type * as SsmApi from "./SsmApi.js"

/**
 * The browser's WebSocket (`globalThis.WebSocket`) with `binaryType` `arraybuffer`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerWebSocketConstructor: Layer.Layer<Socket.WebSocketConstructor> = internal.layerWebSocketConstructor

/**
 * Where the page's server answers the session calls, and how to reach it.
 *
 * @since 0.1.0
 * @category models
 */
export interface ServerOptions {
  /** the URL the calls are POSTed to, e.g. `/api/session` (the page's own origin: its cookies go along) */
  readonly url: string
  /** headers for every call (a CSRF token, an Authorization header), or a function that gives them each time */
  readonly headers?:
    | Readonly<Record<string, string>>
    | (() => Readonly<Record<string, string>> | Promise<Readonly<Record<string, string>>>)
    | undefined
  /** default `globalThis.fetch` */
  readonly fetch?: typeof globalThis.fetch | undefined
  /** how long one call may take before it fails with `Timeout` (and is aborted). Default 30 seconds */
  readonly timeout?: Duration.DurationInput | undefined
}

/**
 * The `SsmApi` service over the page's server: StartSession, ResumeSession and TerminateSession as JSON POSTs
 * to `url`, answered by a `makeHandler` handler (or anything that speaks its format: AWS's field names, and
 * `{"__type": reason, "message"}` with a 4xx or 5xx status for a failure).
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromServer: (options: ServerOptions) => SsmApi.SsmApi = internal.fromServer

/**
 * `fromServer` as a layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerSsmApi: (options: ServerOptions) => Layer.Layer<SsmApi.SsmApi> = internal.layerSsmApi

/**
 * What a page needs for sessions: `layerSsmApi` and `layerWebSocketConstructor`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: (options: ServerOptions) => Layer.Layer<SsmApi.SsmApi | Socket.WebSocketConstructor> =
  internal.layer

/**
 * What the server checks before it calls AWS for a page. `context` is whatever the server passes along with the
 * request (its user, say).
 *
 * @since 0.1.0
 * @category models
 */
export interface HandlerOptions {
  /**
   * The StartSession request to make for the one the page sent: the server picks or checks the target, the
   * document and its parameters for the page's user; a failure (its text shown to the page) refuses the call
   * with `AccessDenied`.
   */
  readonly authorizeStart: (
    request: SsmApi.StartSessionRequest,
    context: unknown
  ) => Effect.Effect<SsmApi.StartSessionRequest, string>
  /**
   * Whether the page may resume or terminate `sessionId`. Default: only the sessions this handler started (kept
   * in memory); a server with several processes, or several users, checks its own records instead.
   */
  readonly authorizeSession?:
    | ((
      sessionId: string,
      operation: "ResumeSession" | "TerminateSession",
      context: unknown
    ) => Effect.Effect<void, string>)
    | undefined
}

/**
 * An answer for the page: the HTTP status and the JSON body.
 *
 * @since 0.1.0
 * @category models
 */
export interface HandlerResponse {
  readonly status: number
  readonly body: unknown
}

/**
 * Answers one call of a page, given its parsed JSON body. It never fails: a refusal or an AWS error is a 4xx or
 * 5xx response that `fromServer` reads back as the same `SsmApiError` reason.
 *
 * @since 0.1.0
 * @category models
 */
export type Handler = (body: unknown, context?: unknown) => Effect.Effect<HandlerResponse>

/**
 * The server's half: a handler for the calls `fromServer` makes, through the server's `SsmApi`. The server
 * authenticates the page's user first, checks the request's origin (the calls are same-origin), and parses the
 * body as JSON; the token of a session goes only in the answer to the page that asked for it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeHandler: (options: HandlerOptions) => Effect.Effect<Handler, never, SsmApi.SsmApi> =
  internal.makeHandler
