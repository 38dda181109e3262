/**
 * Interactive shells (`Standard_Stream` and `InteractiveCommands` sessions): input as a `Sink` (or `write`),
 * output as a `Stream`, the terminal size on start and on every change, signals as the control bytes the remote
 * pty turns into signals, and the end with the reason `channel_closed` gives. Bytes go through unchanged: the
 * official client's LF-to-CR rewriting is `keyboardInput`, for keyboard input only.
 *
 * @since 0.1.0
 */
import type * as Socket from "@effect/platform/Socket"
import type * as Cause from "effect/Cause"
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type * as Sink from "effect/Sink"
import type * as Stream from "effect/Stream"
import * as internal from "./internal/tunnels/shell.js"
import type * as Session from "./Session.js"
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
export interface ShellError {
  readonly [ErrorTypeId]: ErrorTypeId
  readonly _tag: "ShellError"
  readonly reason: ShellError.Reason
  readonly detail: string
  readonly cause?: unknown
  readonly message: string
}

/**
 * @since 0.1.0
 * @category errors
 */
export declare namespace ShellError {
  /**
   * - `NotAShellSession`: the session is not `Standard_Stream` or `InteractiveCommands`.
   * - `InvalidSize`: a terminal size that is not two integers from 1 to 65535.
   * - `Session`: the session failed.
   *
   * @since 0.1.0
   * @category errors
   */
  export type Reason = "NotAShellSession" | "InvalidSize" | "Session"
}

/**
 * @since 0.1.0
 * @category errors
 */
export const ShellError: new(args: {
  readonly reason: ShellError.Reason
  readonly detail: string
  readonly cause?: unknown
}) => ShellError & Cause.YieldableError = internal.ShellError

/**
 * @since 0.1.0
 * @category refinements
 */
export const isShellError: (u: unknown) => u is ShellError = internal.isShellError

/**
 * @since 0.1.0
 * @category models
 */
export interface TerminalSize {
  readonly cols: number
  readonly rows: number
}

/**
 * The signals a terminal can send: Ctrl-C, Ctrl-\ and Ctrl-Z.
 *
 * @since 0.1.0
 * @category models
 */
export type Signal = "SIGINT" | "SIGQUIT" | "SIGTSTP"

/**
 * @since 0.1.0
 * @category models
 */
export interface Shell {
  readonly session: Session.Session
  /** What the remote terminal prints (stderr, from agents that separate it, included). Read it once. */
  readonly output: Stream.Stream<Uint8Array, ShellError>
  readonly write: (bytes: Uint8Array) => Effect.Effect<void, ShellError>
  /** `write` as a Sink, for piping a Stream of input in */
  readonly input: Sink.Sink<void, Uint8Array, never, ShellError>
  /** Sends the terminal size (the remote pty is resized and its programs get SIGWINCH). */
  readonly resize: (size: TerminalSize) => Effect.Effect<void, ShellError>
  /** Sends a signal's control byte (0x03, 0x1c, 0x1a), as a terminal in raw mode does. */
  readonly signal: (signal: Signal) => Effect.Effect<void, ShellError>
  /** Completes when the remote shell ends, with the reason `channel_closed` carried (often empty). */
  readonly closed: Effect.Effect<string, ShellError>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface ShellOptions {
  /** sent on start; the agent's pty has no size until told */
  readonly size?: TerminalSize | undefined
}

/**
 * A shell over a ready `Standard_Stream` or `InteractiveCommands` session.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (session: Session.Session, options?: ShellOptions) => Effect.Effect<Shell, ShellError> =
  internal.make

/**
 * @since 0.1.0
 * @category models
 */
export interface StartOptions extends ShellOptions {
  readonly target: string
  /** none: the account's default shell document (`SSM-SessionManagerRunShell`); or `AWS-StartInteractiveCommand` */
  readonly documentName?: string | undefined
  readonly parameters?: Readonly<Record<string, ReadonlyArray<string>>> | undefined
  readonly reason?: string | undefined
  readonly session?: Omit<Session.SessionOptions, "sessionId" | "streamUrl" | "tokenValue"> | undefined
}

/**
 * StartSession through the `SsmApi` service and a shell over it, closed with the scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const start: (
  options: StartOptions
) => Effect.Effect<
  Shell,
  ShellError | Session.SessionError | SsmApi.SsmApiError,
  Scope.Scope | SsmApi.SsmApi | Socket.WebSocketConstructor
> = internal.start

/**
 * The official client's LF-to-CR rewriting, for keyboard input only: a lone LF becomes CR.
 *
 * @since 0.1.0
 * @category input
 */
export const keyboardInput: (bytes: Uint8Array) => Uint8Array = internal.keyboardInput

/**
 * The agent's closing text ("" for none) when `u` is the `SessionError` of a shell or interactive command whose
 * channel the agent closed before the session was ready (no handshake, no output yet: a command that ended, or
 * could not start, in silence); undefined for any other value.
 *
 * @since 0.5.0
 * @category errors
 */
export const closedBeforeReady: (u: unknown) => string | undefined = internal.closedBeforeReady
