/**
 * Shell sessions (AGENT-PROTOCOL.md section 13): input as bytes, output as a stream, the terminal size on start
 * and on every change, signals as the control bytes the agent's pty turns into signals, and the end with the
 * reason `channel_closed` carries.
 *
 * @internal
 */
import type * as Socket from "@effect/platform/Socket"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Sink from "effect/Sink"
import * as Stream from "effect/Stream"
import * as AgentMessage from "../../AgentMessage.js"
import * as AgentPayload from "../../AgentPayload.js"
import type * as Shell from "../../Shell.js"
import * as Session from "../../Session.js"
import * as SsmApi from "../../SsmApi.js"
import { isReasonError, ReasonError } from "../error.js"

/** @internal */
export { closedBeforeReady } from "../channel/sessionError.js"

/** @internal */
export const ErrorTypeId: Shell.ErrorTypeId = Symbol.for("ssm-session-manager/Shell/ShellError") as Shell.ErrorTypeId

/** @internal */
export class ShellError extends ReasonError(ErrorTypeId, "ShellError")<Shell.ShellError.Reason> {}

/** @internal */
export const isShellError = isReasonError<ShellError>(ErrorTypeId)

const sessionError = (cause: Session.SessionError) => new ShellError({ reason: "Session", detail: cause.message, cause })

/** The bytes a terminal sends for each signal (section 13). @internal */
export const signalBytes: Record<Shell.Signal, number> = { SIGINT: 0x03, SIGQUIT: 0x1c, SIGTSTP: 0x1a }

/**
 * The official client's quirk, kept for keyboard input only: a lone LF becomes CR (what Enter sends in raw mode).
 * @internal
 */
export const keyboardInput = (bytes: Uint8Array): Uint8Array =>
  bytes.length === 1 && bytes[0] === 0x0a ? new Uint8Array([0x0d]) : bytes

const shellTypes: ReadonlySet<AgentPayload.SessionType> = new Set([
  AgentPayload.SessionType.StandardStream,
  AgentPayload.SessionType.InteractiveCommands
])

const textEncoder = new TextEncoder()

/**
 * The body of a Size message (section 13): the terminal size as JSON, `{"cols":…,"rows":…}`.
 * @internal
 */
export const sizePayload = (size: Shell.TerminalSize): Uint8Array =>
  textEncoder.encode(`{"cols":${Math.trunc(size.cols)},"rows":${Math.trunc(size.rows)}}`)

/** @internal */
export const isTerminalSize = (size: Shell.TerminalSize): boolean =>
  Number.isInteger(size.cols) && Number.isInteger(size.rows) && size.cols >= 1 && size.rows >= 1 &&
  size.cols <= 65535 && size.rows <= 65535

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
      if (!isTerminalSize(size)) {
        return Effect.fail(new ShellError({ reason: "InvalidSize", detail: `${size.cols}x${size.rows} is not a terminal size` }))
      }
      return Effect.mapError(session.send(AgentMessage.PayloadType.Size, sizePayload(size)), sessionError)
    }
    if (options.size !== undefined) yield* resize(options.size)
    const write = (bytes: Uint8Array) => Effect.mapError(session.write(bytes), sessionError)
    // the session's events must be read (StdErr counts in the receive buffer); stderr (from agents that separate
    // it) joins the output
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
