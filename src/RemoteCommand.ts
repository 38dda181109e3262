/**
 * Commands with exit codes: run a command on an instance and get its stdout, stderr and exit code as a value, or
 * as a stream for long output. The session's document must set `separateOutputStream` under the instance's OS key
 * (stdout as Output, stderr as StdErr, the exit code as an ExitCode message); AWS's `AWS-StartNonInteractiveCommand`
 * does not, so create `DOCUMENT_CONTENT` once as `DOCUMENT_NAME` (see the README). A non-zero exit is a value, not
 * an error; a session that ends without an exit code is a `NoExitCode` error naming what to check.
 *
 * @since 0.1.0
 */
import type * as Socket from "@effect/platform/Socket"
import type * as Cause from "effect/Cause"
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type * as Duration from "effect/Duration"
import * as framed from "./internal/tunnels/framedSession.js"
import * as internal from "./internal/tunnels/remoteCommand.js"
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
export interface RemoteCommandError {
  readonly [ErrorTypeId]: ErrorTypeId
  readonly _tag: "RemoteCommandError"
  readonly reason: RemoteCommandError.Reason
  readonly detail: string
  readonly cause?: unknown
  readonly message: string
}

/**
 * @since 0.1.0
 * @category errors
 */
export declare namespace RemoteCommandError {
  /**
   * - `NotACommandSession`: the session is not of a command type.
   * - `NoExitCode`: the session ended without an exit code: a flat document (properties not under `linux`,
   *   `macos` or `windows`, so the agent finds no command), one without `separateOutputStream: true`, a plain
   *   shell document such as `AWS-StartNonInteractiveCommand`, or properties the agent cannot read; the detail
   *   names these and quotes what the agent said (`channel_closed`'s text, its last StdErr).
   * - `OutputTooLarge`: `run` collected more than `maxOutputBytes`.
   * - `Session`: the session failed.
   * - `MissingTools` (`startWithInput`): the remote wrapper found a tool missing (its words are in the detail);
   *   commands with input need a Linux instance with coreutils and grep, or busybox.
   * - `Protocol` (`startWithInput`): the wrapper's output could not be read (not the framed protocol).
   * - `Timeout` (`startWithInput`): the wrapper did not say it was ready in time.
   * - `Input` (`startWithInput`): the input stream failed; nothing more was sent (the command's stdin stays open
   *   until the session ends).
   * - `Start` (`startWithInput` with a `launch`): the session could not be started (cause: e.g. an `EcsApiError`).
   *
   * @since 0.1.0
   * @category errors
   */
  export type Reason =
    | "NotACommandSession"
    | "NoExitCode"
    | "OutputTooLarge"
    | "Session"
    | "MissingTools"
    | "Protocol"
    | "Timeout"
    | "Input"
    | "Start"
}

/**
 * @since 0.1.0
 * @category errors
 */
export const RemoteCommandError: new(args: {
  readonly reason: RemoteCommandError.Reason
  readonly detail: string
  readonly cause?: unknown
}) => RemoteCommandError & Cause.YieldableError = internal.RemoteCommandError

/**
 * @since 0.1.0
 * @category refinements
 */
export const isRemoteCommandError: (u: unknown) => u is RemoteCommandError = internal.isRemoteCommandError

/**
 * The document `exec` uses by default. It is not one of AWS's: create it once from `DOCUMENT_CONTENT`
 * (`aws ssm create-document --document-type Session --name SSM-RunShellCommandWithExitCode --content …`).
 *
 * @since 0.1.0
 * @category documents
 */
export const DOCUMENT_NAME: string = internal.DOCUMENT_NAME

/**
 * What `DOCUMENT_CONTENT` sets for one OS.
 *
 * @since 0.1.0
 * @category documents
 */
export interface DocumentCommandProperties {
  readonly commands: string
  readonly runAsElevated: boolean
  readonly separateOutputStream: boolean
}

/**
 * A Session document that runs `{{ command }}` with separate output streams and an exit code, on Linux and
 * macOS instances. The agent reads a command document's properties under its own OS's key only (`linux`,
 * `macos`, `windows`; amazon-ssm-agent `agent/session/shell/constants/constants_unix.go` and its siblings): with
 * flat properties it finds no command and ends the session with "Commands cannot be empty for session type
 * NonInteractiveCommands".
 *
 * On Linux and macOS the agent splits the command into words (quotes and backslashes as a shell reads them, but
 * no `;`, pipes, redirections or variables) and runs them without a shell; `exec` therefore sends
 * `sh -c '<command>'` (see `ExecOptions.shell`). There is no `windows` key: on Windows the agent hands those words
 * to `powershell.exe` (`agent/session/shell/shell_windows.go`), so neither a shell command line nor its `sh -c`
 * form means the same there; Windows instances need a document with a `windows` key and PowerShell commands,
 * run with `shell: false`.
 *
 * @since 0.1.0
 * @category documents
 */
export const DOCUMENT_CONTENT: {
  readonly schemaVersion: string
  readonly description: string
  readonly sessionType: string
  readonly parameters: { readonly command: { readonly type: string; readonly description: string } }
  readonly properties: { readonly linux: DocumentCommandProperties; readonly macos: DocumentCommandProperties }
} = internal.DOCUMENT_CONTENT

/**
 * The `command` parameter `exec` sends for a shell command line: `sh -c '<command>'`, quoted for the agent's
 * splitting into words, which gives `sh` the command line unchanged.
 *
 * @since 0.1.0
 * @category documents
 */
export const shellCommand: (command: string) => string = internal.shellCommand

/**
 * What a running command produces, in arrival order within each stream (stdout and stderr are separate streams,
 * so their relative order is not kept); `Exit` comes last.
 *
 * @since 0.1.0
 * @category models
 */
export type CommandOutput =
  | { readonly _tag: "Stdout"; readonly bytes: Uint8Array }
  | { readonly _tag: "Stderr"; readonly bytes: Uint8Array }
  | { readonly _tag: "Exit"; readonly code: number }

/**
 * @since 0.1.0
 * @category models
 */
export interface CommandResult {
  readonly stdout: Uint8Array
  readonly stderr: Uint8Array
  readonly exitCode: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface RunOptions {
  /** stdout and stderr together, beyond which `run` fails with `OutputTooLarge`. Default 64 MiB */
  readonly maxOutputBytes?: number | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface ExecOptions extends RunOptions {
  readonly target: string
  /** run by the remote shell: `sh -c` on Linux and macOS (see `shell`) */
  readonly command: string
  /**
   * `true` (default): send `shellCommand(command)`, so that `sh -c` runs it. `false`: send `command` as it is, for
   * documents that do not put `{{ command }}` alone in `commands`, or Windows (PowerShell) documents; a Linux or
   * macOS agent then splits it into words and runs the first with the others as arguments, without a shell
   */
  readonly shell?: boolean | undefined
  /** default `DOCUMENT_NAME` */
  readonly documentName?: string | undefined
  readonly parameters?: Readonly<Record<string, ReadonlyArray<string>>> | undefined
  readonly reason?: string | undefined
  readonly session?: Omit<Session.SessionOptions, "sessionId" | "streamUrl" | "tokenValue"> | undefined
}

/**
 * The output of a command session as it arrives, ending after `Exit`; fails with `NoExitCode` if the session
 * ends without one.
 *
 * @since 0.1.0
 * @category running
 */
export const stream: (session: Session.Session) => Stream.Stream<CommandOutput, RemoteCommandError> = internal.stream

/**
 * Collects a command session's stdout, stderr and exit code.
 *
 * @since 0.1.0
 * @category running
 */
export const run: (session: Session.Session, options?: RunOptions) => Effect.Effect<CommandResult, RemoteCommandError> =
  internal.run

/**
 * StartSession with the command and open its session (closed with the scope, through the API if it has not
 * ended), for `stream`, `run` and `signal`. A session the agent closes before its handshake (it could not read
 * the document's properties) is a `NoExitCode` error.
 *
 * @since 0.1.0
 * @category running
 */
export const start: (
  options: ExecOptions
) => Effect.Effect<
  Session.Session,
  RemoteCommandError | Session.SessionError | SsmApi.SsmApiError,
  Scope.Scope | SsmApi.SsmApi | Socket.WebSocketConstructor
> = internal.start

/**
 * StartSession with the command, then `run`: the whole round trip; the session is closed when it returns.
 *
 * @since 0.1.0
 * @category running
 */
export const exec: (
  options: ExecOptions
) => Effect.Effect<
  CommandResult,
  RemoteCommandError | Session.SessionError | SsmApi.SsmApiError,
  SsmApi.SsmApi | Socket.WebSocketConstructor
> = internal.exec

/**
 * StartSession with the command, then `stream`, for long output.
 *
 * @since 0.1.0
 * @category running
 */
export const execStream: (
  options: ExecOptions
) => Stream.Stream<
  CommandOutput,
  RemoteCommandError | Session.SessionError | SsmApi.SsmApiError,
  SsmApi.SsmApi | Socket.WebSocketConstructor
> = internal.execStream

/**
 * Sends the remote command an interrupt (0x03) or quit (0x1c), the bytes command agents act on. On Linux and
 * macOS the agent sends SIGINT or SIGQUIT to the command's process alone, not to its process group
 * (`agent/session/shell/shell_unix.go` InputStreamMessageHandler, `execcmd/execcmd.go` Signal): under `sh -c`
 * (as `exec` runs a command line) the shell gets it, and what it started, such as a `sleep`, runs on. The agent
 * then waits for the command to exit before it reads any more input, so a second signal is not delivered, and it
 * usually reports exit code 1 for a command it signalled, whatever the command's own code (its two waits for the
 * process race, `agent/session/shell/shell.go`). To end a command that does not exit, end its session
 * (`ssm:TerminateSession`): the agent then kills the command's process. Windows agents kill the process.
 *
 * @since 0.1.0
 * @category running
 */
export const signal: (session: Session.Session, signal: "SIGINT" | "SIGQUIT") => Effect.Effect<void, RemoteCommandError> =
  internal.signal

/**
 * The InteractiveCommands document `startWithInput` uses by default (`SSM-RunCommandWithStdin`). It is not one of
 * AWS's: create it once from `INTERACTIVE_DOCUMENT_CONTENT` (the CLI's `create-document` does).
 *
 * @since 0.4.0
 * @category documents
 */
export const INTERACTIVE_DOCUMENT_NAME: string = framed.DOCUMENT_NAME

/**
 * A Session document (InteractiveCommands, Linux) whose `commands` is a POSIX sh wrapper: it checks its tools,
 * sets the agent's pty raw (restoring it on any exit), says it is ready, then runs the base64-encoded `command`
 * parameter under `sh -c` with its stdin fed from input frames and its stdout and stderr sent as separate output
 * frames, and ends with the exit code. It needs `sh`, `stty`, `mkfifo`, `mktemp`, `dd` (`iflag=fullblock`,
 * `count_bytes`), `od`, `tr`, `grep`, `wc`, `cat`, `rm` and `base64`: coreutils and grep, or busybox.
 *
 * @since 0.4.0
 * @category documents
 */
export const INTERACTIVE_DOCUMENT_CONTENT: {
  readonly schemaVersion: string
  readonly description: string
  readonly sessionType: string
  readonly parameters: {
    readonly command: { readonly type: string; readonly description: string; readonly allowedPattern: string }
  }
  readonly properties: { readonly linux: { readonly commands: string; readonly runAsElevated: boolean } }
} = framed.DOCUMENT_CONTENT

/**
 * What `startWithInput` takes: `exec`'s options (`shell` does not apply: the wrapper always runs the command line
 * with `sh -c`; `documentName` defaults to `INTERACTIVE_DOCUMENT_NAME`) and the command's stdin.
 *
 * @since 0.4.0
 * @category models
 */
export interface InputOptions<E, R> extends ExecOptions {
  /** the command's stdin, byte for byte; its end closes the command's stdin */
  readonly input: Stream.Stream<Uint8Array, E, R>
  /** how long to wait for the remote wrapper to be ready. Default 30 seconds */
  readonly readyTimeout?: Duration.DurationInput | undefined
  /** how the session is opened; default: StartSession with `documentName` on `target` (`EcsExec.launch`: ECS) */
  readonly launch?: Launch | undefined
}

/**
 * How `startWithInput` opens the InteractiveCommands session running the framed wrapper other than by StartSession
 * (ECS Exec's ExecuteCommand: `EcsExec.launch`).
 *
 * @since 0.5.0
 * @category models
 */
export interface Launch {
  /** what the session is started on, for messages (an instance, `ecs:…`) */
  readonly target: string
  /** opens the session running `script`: the framed wrapper with the base64 command inlined (`sh` code) */
  readonly open: (script: string, options: Pick<ExecOptions, "reason" | "session">) => Effect.Effect<
    Session.Session,
    RemoteCommandError | Session.SessionError | SsmApi.SsmApiError,
    Scope.Scope | SsmApi.SsmApi | Socket.WebSocketConstructor
  >
}

/**
 * A command started with `startWithInput`.
 *
 * @since 0.4.0
 * @category models
 */
export interface RunningCommand {
  readonly session: Session.Session
  /**
   * stdout and stderr chunks as they arrive, then `Exit`, after which the stream ends. Read it once. Fails with
   * `NoExitCode` if the session ends first, `Protocol` for output the wrapper cannot have sent, `Input` if the
   * input stream failed.
   */
  readonly output: Stream.Stream<CommandOutput, RemoteCommandError>
  /**
   * Sends SIGINT or SIGQUIT to the command's process group, as a terminal's Ctrl-C and Ctrl-\ do (the wrapper
   * itself carries on and reports the exit code). It is sent between input frames, so it waits while the input
   * waits for the command to read.
   */
  readonly signal: (signal: "SIGINT" | "SIGQUIT") => Effect.Effect<void, RemoteCommandError>
}

/**
 * Runs a command with stdin over an InteractiveCommands session (the `INTERACTIVE_DOCUMENT_NAME` document, Linux
 * instances): `input` reaches the command's stdin byte for byte and its end closes it, stdout and stderr come
 * back apart and byte for byte, and the exit code last. Returns once the remote wrapper is ready (a missing tool
 * is a `MissingTools` error); a fiber in the scope then sends the input, as the session's window allows. The
 * session is closed with the scope.
 *
 * @since 0.4.0
 * @category running
 */
export const startWithInput: <E, R>(
  options: InputOptions<E, R>
) => Effect.Effect<
  RunningCommand,
  RemoteCommandError | Session.SessionError | SsmApi.SsmApiError,
  Scope.Scope | SsmApi.SsmApi | Socket.WebSocketConstructor | R
> = framed.start

/**
 * `startWithInput`, then collect stdout, stderr and the exit code as `exec` does (up to `maxOutputBytes`).
 *
 * @since 0.4.0
 * @category running
 */
export const execWithInput: <E, R>(
  options: InputOptions<E, R>
) => Effect.Effect<
  CommandResult,
  RemoteCommandError | Session.SessionError | SsmApi.SsmApiError,
  SsmApi.SsmApi | Socket.WebSocketConstructor | R
> = framed.exec
