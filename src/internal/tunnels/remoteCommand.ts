/**
 * Commands with exit codes over NonInteractiveCommands sessions whose document sets `separateOutputStream`
 * (AGENT-PROTOCOL.md section 13): stdout as Output, stderr as StdErr, and `EXIT_CODE: n` as ExitCode.
 *
 * What the agent does with such a document (`aws/amazon-ssm-agent`, under `agent/`): it reads the properties
 * under its own OS's key only (`session/shell/constants/constants_unix.go`, `_darwin.go`, `_windows.go`), so flat
 * properties leave the command empty and the session ends at once with "Commands cannot be empty for session type
 * NonInteractiveCommands" (`session/plugins/singlecommand/singlecommand_unix.go` validateProperties); on Linux
 * and macOS it splits the command into words as google/shlex does and runs them without a shell
 * (`session/shell/shell_unix.go` StartCommandExecutor), which is why `start` hands it `sh -c '<command>'`.
 *
 * @internal
 */
import type * as Socket from "@effect/platform/Socket"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as AgentMessage from "../../AgentMessage.js"
import * as AgentPayload from "../../AgentPayload.js"
import type * as RemoteCommand from "../../RemoteCommand.js"
import * as Session from "../../Session.js"
import * as SsmApi from "../../SsmApi.js"
import { isClosedBeforeReady } from "../channel/sessionError.js"
import { concat } from "../protocol/bytes.js"
import { isReasonError, ReasonError } from "../error.js"

/** @internal */
export const ErrorTypeId: RemoteCommand.ErrorTypeId = Symbol.for(
  "ssm-session-manager/RemoteCommand/RemoteCommandError"
) as RemoteCommand.ErrorTypeId

/** @internal */
export class RemoteCommandError extends ReasonError(ErrorTypeId, "RemoteCommandError")<
  RemoteCommand.RemoteCommandError.Reason
> {}

/** @internal */
export const isRemoteCommandError = isReasonError<RemoteCommandError>(ErrorTypeId)

/** @internal */
export const DOCUMENT_NAME = "SSM-RunShellCommandWithExitCode"

/** what each OS key of `DOCUMENT_CONTENT` holds */
const commandProperties = { commands: "{{ command }}", runAsElevated: false, separateOutputStream: true } as const

/** @internal */
export const DOCUMENT_CONTENT = {
  schemaVersion: "1.0",
  description: "Runs one command and reports stdout, stderr and the exit code separately (ssm-session-manager exec)",
  sessionType: AgentPayload.SessionType.NonInteractiveCommands,
  parameters: { command: { type: "String", description: "the command to run" } },
  // the agent reads only the key of its OS (session/shell/constants/constants_unix.go, constants_darwin.go)
  properties: { linux: commandProperties, macos: commandProperties }
} as const

/**
 * The `command` parameter that runs `command` in `sh -c` on an agent that splits it into words (google/shlex,
 * `session/shell/shell_unix.go` StartCommandExecutor): one single-quoted word, each `'` written `'\''`. The
 * document's `commands` is exactly `{{ command }}`, which the agent replaces by the value unchanged
 * (`framework/docparser/parameters/parameters.go` ReplaceParameters).
 *
 * @internal
 */
export const shellCommand = (command: string): string => `sh -c ${shellQuote(command)}`

/**
 * A word for sh, and for google/shlex (which the agent splits ContainerMode commands with): single-quoted, each
 * `'` written `'\''`.
 * @internal
 */
export const shellQuote = (word: string): string => `'${word.replaceAll("'", "'\\''")}'`

/** the start of what the agent sent last on StdErr, kept for a NoExitCode error */
const STDERR_TAIL = 512

/**
 * Why a command session ends without an exit code, for the user: the document's shape first (what the agent
 * does with flat properties), then what the agent said, if anything.
 *
 * @internal
 */
export const noExitCode = (said: {
  readonly closing?: string | undefined
  readonly stderr?: string | undefined
  /** the agent closed the session before its handshake: it could not read the properties */
  readonly beforeHandshake?: { readonly cause: unknown } | undefined
}): RemoteCommandError => {
  const closing = said.closing?.trim() ?? ""
  const stderr = said.stderr?.trim() ?? ""
  return new RemoteCommandError({
    reason: "NoExitCode",
    detail: "the session ended without an exit code" +
      (said.beforeHandshake === undefined ? "" : ", closed by the agent before its handshake, as it does when the " +
        "document's properties do not read as the agent's types (`commands` and the separator prefixes strings, " +
        "`runAsElevated` a boolean, `separateOutputStream` a boolean or \"true\"/\"false\")") +
      ". Check the session document: its properties must be under the instance's OS key (`linux`, `macos` or " +
      "`windows`), not flat (the agent reads only its OS's key, so a flat document has no command); that key must " +
      "set `separateOutputStream: true`; and a plain shell document such as AWS-StartNonInteractiveCommand does " +
      `not report exit codes (create RemoteCommand.DOCUMENT_CONTENT as ${DOCUMENT_NAME})` +
      (closing === "" ? "" : `. The agent's closing text: ${JSON.stringify(closing)}`) +
      (stderr === "" ? "" : `. Its last StdErr: ${JSON.stringify(stderr)}`),
    ...(said.beforeHandshake === undefined ? {} : { cause: said.beforeHandshake.cause })
  })
}

const sessionError = (cause: Session.SessionError) =>
  new RemoteCommandError({ reason: "Session", detail: cause.message, cause })

/**
 * The properties of a command session that this module reads: the separator prefixes the agent puts before
 * stdout and stderr chunks (`session/shell/shell.go`), when the document sets them. Each is read on its own, as
 * the code before the Schema read them: one that is not a string leaves the other in place.
 */
const StdOutPrefix = Schema.Struct({ stdOutSeparatorPrefix: Schema.String })
const StdErrPrefix = Schema.Struct({ stdErrSeparatorPrefix: Schema.String })
const decodeStdOutPrefix = Schema.decodeUnknownOption(StdOutPrefix)
const decodeStdErrPrefix = Schema.decodeUnknownOption(StdErrPrefix)

/** The separator prefixes of a command session's properties; none for one that is not a string. @internal */
export const separatorPrefixes = (
  properties: Readonly<Record<string, unknown>> | null
): { readonly stdOutSeparatorPrefix?: string; readonly stdErrSeparatorPrefix?: string } => {
  const stdout = Option.getOrUndefined(decodeStdOutPrefix(properties ?? {}))
  const stderr = Option.getOrUndefined(decodeStdErrPrefix(properties ?? {}))
  return {
    ...(stdout === undefined ? {} : stdout),
    ...(stderr === undefined ? {} : stderr)
  }
}

const exitCodePattern = /EXIT_CODE:\s*(-?\d+)/
const textDecoder = new TextDecoder()

/**
 * The exit code of an ExitCode payload (`EXIT_CODE: n`, section 13); NaN when it holds none.
 * @internal
 */
export const exitCodeOf = (payload: Uint8Array): number => {
  const match = exitCodePattern.exec(textDecoder.decode(payload))
  return match === null ? Number.NaN : Number(match[1])
}

/** Removes a configured separator prefix from the start of a chunk. */
const stripper = (prefix: string | undefined) => {
  if (prefix === undefined || prefix === "") return (bytes: Uint8Array) => bytes
  const marker = new TextEncoder().encode(prefix)
  return (bytes: Uint8Array) => {
    if (bytes.length < marker.length) return bytes
    for (let i = 0; i < marker.length; i++) if (bytes[i] !== marker[i]) return bytes
    return bytes.subarray(marker.length)
  }
}

/** @internal */
export const stream = (session: Session.Session): Stream.Stream<RemoteCommand.CommandOutput, RemoteCommandError> => {
  if (
    session.sessionType !== AgentPayload.SessionType.NonInteractiveCommands &&
    session.sessionType !== AgentPayload.SessionType.InteractiveCommands
  ) {
    return Stream.fail(
      new RemoteCommandError({ reason: "NotACommandSession", detail: `the session is of type ${session.sessionType}` })
    )
  }
  const prefixes = separatorPrefixes(session.properties)
  const stdout = stripper(prefixes.stdOutSeparatorPrefix)
  const stderr = stripper(prefixes.stdErrSeparatorPrefix)
  let exited = false
  // what the agent said, for a NoExitCode error: channel_closed's Output, and the end of the StdErr stream (where
  // the agent sends its own errors, shell.go sendErrorToDataChannel)
  let closing = ""
  let stderrTail = new Uint8Array(0)
  const output = session.output.pipe(
    Stream.map((bytes): RemoteCommand.CommandOutput => ({ _tag: "Stdout", bytes: stdout(bytes) }))
  )
  const events = session.events.pipe(
    Stream.filterMap((event): Option.Option<RemoteCommand.CommandOutput> => {
      if (event._tag === "StdErr") {
        const bytes = stderr(event.bytes)
        if (!exited) stderrTail = concat([stderrTail, bytes], stderrTail.length + bytes.length).slice(-STDERR_TAIL)
        return Option.some({ _tag: "Stderr", bytes })
      }
      if (event._tag === "Payload" && event.payloadType === AgentMessage.PayloadType.ExitCode) {
        const code = exitCodeOf(event.bytes)
        if (Number.isNaN(code)) return Option.none()
        exited = true
        return Option.some({ _tag: "Exit", code })
      }
      if (event._tag === "ChannelClosed") closing = event.output
      return Option.none()
    })
  )
  return Stream.merge(output, events).pipe(
    Stream.mapError(sessionError),
    Stream.concat(Stream.suspend(() =>
      exited
        ? Stream.empty
        : Stream.fail(noExitCode({ closing, stderr: new TextDecoder().decode(stderrTail) }))
    ))
  )
}

/** @internal */
export const run = (
  session: Session.Session,
  options: RemoteCommand.RunOptions = {}
): Effect.Effect<RemoteCommand.CommandResult, RemoteCommandError> => collect(stream(session), options)

/** Collects a command's output stream into stdout, stderr and the exit code, up to `maxOutputBytes`. @internal */
export const collect = <E>(
  output: Stream.Stream<RemoteCommand.CommandOutput, E>,
  options: RemoteCommand.RunOptions = {}
): Effect.Effect<RemoteCommand.CommandResult, E | RemoteCommandError> =>
  Effect.gen(function*() {
    const limit = options.maxOutputBytes ?? 64 * 1024 * 1024
    const out: Array<Uint8Array> = []
    const err: Array<Uint8Array> = []
    let outLength = 0
    let errLength = 0
    let exitCode = Number.NaN
    yield* Stream.runForEach(output, (item) => {
      if (item._tag === "Exit") {
        exitCode = item.code
        return Effect.void
      }
      if (item._tag === "Stdout") {
        out.push(item.bytes)
        outLength += item.bytes.length
      } else {
        err.push(item.bytes)
        errLength += item.bytes.length
      }
      return outLength + errLength > limit
        ? Effect.fail(
          new RemoteCommandError({
            reason: "OutputTooLarge",
            detail: `the output exceeded ${limit} bytes: use RemoteCommand.stream for long output`
          })
        )
        : Effect.void
    })
    return { stdout: concat(out, outLength), stderr: concat(err, errLength), exitCode }
  })

/** Session.make's error for a channel that closed before the handshake (or a first Output). @internal */
export const closedBeforeReady: (u: unknown) => u is Session.SessionError = isClosedBeforeReady

/** @internal */
export const start = (
  options: RemoteCommand.ExecOptions
): Effect.Effect<
  Session.Session,
  RemoteCommandError | Session.SessionError | SsmApi.SsmApiError,
  Scope.Scope | SsmApi.SsmApi | Socket.WebSocketConstructor
> =>
  SsmApi.openSession({
    target: options.target,
    documentName: options.documentName ?? DOCUMENT_NAME,
    parameters: {
      command: [options.shell === false ? options.command : shellCommand(options.command)],
      ...options.parameters
    },
    reason: options.reason
  }, options.session).pipe(
    // the agent ends a NonInteractiveCommands session before its handshake when it cannot read the document's
    // properties (session/plugins/sessionplugin/sessionplugin.go Execute): a command that never ran
    Effect.catchIf(closedBeforeReady, (error) => Effect.fail(noExitCode({ beforeHandshake: { cause: error } })))
  )

/** @internal */
export const exec = (
  options: RemoteCommand.ExecOptions
): Effect.Effect<
  RemoteCommand.CommandResult,
  RemoteCommandError | Session.SessionError | SsmApi.SsmApiError,
  SsmApi.SsmApi | Socket.WebSocketConstructor
> => Effect.scoped(Effect.flatMap(start(options), (session) => run(session, options)))

/** @internal */
export const execStream = (
  options: RemoteCommand.ExecOptions
): Stream.Stream<
  RemoteCommand.CommandOutput,
  RemoteCommandError | Session.SessionError | SsmApi.SsmApiError,
  SsmApi.SsmApi | Socket.WebSocketConstructor
> => Stream.unwrapScoped(Effect.map(start(options), stream))

/** The remote side's interrupt: NonInteractiveCommands agents look for 0x03 (SIGINT) and 0x1c (SIGQUIT). @internal */
export const signal = (session: Session.Session, signal: "SIGINT" | "SIGQUIT"): Effect.Effect<void, RemoteCommandError> =>
  Effect.mapError(session.write(new Uint8Array([signal === "SIGINT" ? 0x03 : 0x1c])), sessionError)
