/**
 * Shell sessions (AGENT-PROTOCOL.md section 13): input as bytes, output as a stream, the terminal size on start
 * and on every change, signals as the control bytes the agent's pty turns into signals, and the end with the
 * reason `channel_closed` carries.
 *
 * @internal
 */
import type * as Socket from "@effect/platform/Socket"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import type * as Scope from "effect/Scope"
import * as Sink from "effect/Sink"
import * as Stream from "effect/Stream"
import type * as Shell from "../Shell.js"
import * as Session from "../Session.js"
import * as SsmApi from "../SsmApi.js"

/** @internal */
export const ErrorTypeId: Shell.ErrorTypeId = Symbol.for("ssm-session-manager/Shell/ShellError") as Shell.ErrorTypeId

/** @internal */
export class ShellError extends Data.TaggedError("ShellError")<{
  readonly reason: Shell.ShellError.Reason
  readonly detail: string
  readonly cause?: unknown
}> {
  readonly [ErrorTypeId]: Shell.ErrorTypeId = ErrorTypeId
  override get message(): string {
    return `${this.reason}: ${this.detail}`
  }
}

/** @internal */
export const isShellError = (u: unknown): u is ShellError => Predicate.hasProperty(u, ErrorTypeId)

const sessionError = (cause: Session.SessionError) => new ShellError({ reason: "Session", detail: cause.message, cause })

/** The bytes a terminal sends for each signal (section 13). @internal */
export const signalBytes: Record<Shell.Signal, number> = { SIGINT: 0x03, SIGQUIT: 0x1c, SIGTSTP: 0x1a }

/**
 * The official client's quirk, kept for keyboard input only: a lone LF becomes CR (what Enter sends in raw mode).
 * @internal
 */
export const keyboardInput = (bytes: Uint8Array): Uint8Array =>
  bytes.length === 1 && bytes[0] === 0x0a ? new Uint8Array([0x0d]) : bytes

const shellTypes = new Set(["Standard_Stream", "InteractiveCommands"])

/** @internal */
export const make = (
  session: Session.Session,
  options: Shell.ShellOptions = {}
): Effect.Effect<Shell.Shell, ShellError> =>
  Effect.gen(function*() {
    if (!shellTypes.has(session.sessionType)) {
      return yield* new ShellError({ reason: "NotAShellSession", detail: `the session is of type ${session.sessionType}` })
    }
    const resize = (size: Shell.TerminalSize) => {
      if (!Number.isInteger(size.cols) || !Number.isInteger(size.rows) || size.cols < 1 || size.rows < 1 ||
        size.cols > 65535 || size.rows > 65535) {
        return Effect.fail(new ShellError({ reason: "InvalidSize", detail: `${size.cols}x${size.rows} is not a terminal size` }))
      }
      return Effect.mapError(session.resize(size), sessionError)
    }
    if (options.size !== undefined) yield* resize(options.size)
    const write = (bytes: Uint8Array) => Effect.mapError(session.write(bytes), sessionError)
    // the session's events must be read; stderr (from agents that separate it) joins the output
    const stderr = session.events.pipe(
      Stream.filterMap((event) => event._tag === "StdErr" ? Option.some(event.bytes) : Option.none())
    )
    return {
      session,
      output: Stream.merge(session.output, stderr).pipe(Stream.mapError(sessionError)),
      write,
      input: Sink.forEach(write),
      resize,
      signal: (signal) => write(new Uint8Array([signalBytes[signal]])),
      closed: Effect.mapError(session.closed, sessionError)
    } satisfies Shell.Shell
  })

/** @internal */
export const start = (
  options: Shell.StartOptions
): Effect.Effect<
  Shell.Shell,
  ShellError | Session.SessionError | SsmApi.SsmApiError,
  Scope.Scope | SsmApi.SsmApi | Socket.WebSocketConstructor
> =>
  Effect.gen(function*() {
    const session = yield* SsmApi.openSession({
      target: options.target,
      documentName: options.documentName,
      parameters: options.parameters,
      reason: options.reason
    }, options.session)
    return yield* make(session, options)
  })
