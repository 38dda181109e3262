/**
 * ECS Exec sessions: ExecuteCommand on a resolved container (`ecsExecResolve.ts`), the session it returns opened
 * as any other (`Session.make`, the container's `ecs:` target for KMS, resumed and terminated through SsmApi), and
 * what runs in it. The agent in a container splits the command with google/shlex and execs it on a pty, without a
 * shell and without ever sending an exit code, so a command runs under `sh -c '<script>'` (`containerCommand`):
 * - framed (stdin, separate stdout and stderr, the exit code): the wrapper of `framedCommand.ts`, the command
 *   inlined (`framedScript`; `launch` for `RemoteCommand.startWithInput` and `FileTransfer`);
 * - on a terminal: the command, then the exit-code marker of `terminalExit.ts`, which the output filter takes out
 *   (`terminalScript`, `startTerminal`);
 * - raw: the command exactly as ECS runs it, no wrapper (`startRaw`), for a container without `sh`.
 *
 * @internal
 */
import type * as Socket from "@effect/platform/Socket"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as EcsApi from "../../EcsApi.js"
import type * as EcsExec from "../../EcsExec.js"
import type * as RemoteCommand from "../../RemoteCommand.js"
import type * as Session from "../../Session.js"
import type * as Shell from "../../Shell.js"
import type * as SsmApi from "../../SsmApi.js"
import { tag as ecsApiTag } from "../aws/ecsApi.js"
import { resumer, tag as ssmApiTag, terminateOnClose } from "../aws/ssmApi.js"
import * as internalResumer from "../channel/resumer.js"
import * as internalSession from "../channel/session.js"
import * as framed from "./framedSession.js"
import { closedBeforeReady, RemoteCommandError, shellQuote } from "./remoteCommand.js"
import * as internalShell from "./shell.js"
import * as TerminalExit from "./terminalExit.js"

/** words google/shlex (and sh) leave as they are */
const PLAIN_WORD = /^[A-Za-z0-9_@%+=:,./-]+$/

/**
 * A command line that google/shlex (the agent's `shlex.Split`) splits back into `argv` exactly: plain words as
 * they are, any other in single quotes (`'` as `'\''`).
 *
 * @internal
 */
export const containerCommand = (argv: ReadonlyArray<string>): string =>
  argv.map((word) => PLAIN_WORD.test(word) ? word : shellQuote(word)).join(" ")

/** `sh -c '<the framed wrapper, the command inlined>'` @internal */
export const framedScript = (command: string): string => containerCommand(["sh", "-c", framed.inlineWrapper(command)])

/** `sh -c '<the command line, then the exit-code marker with the session's nonce>'` @internal */
export const terminalScript = (command: string, nonce: string): string =>
  containerCommand(["sh", "-c", TerminalExit.script(command, nonce)])

/** What a terminal runs when given no command: bash if the container has it, else sh. @internal */
export const DEFAULT_SHELL_COMMAND = "command -v bash >/dev/null 2>&1 && exec bash; exec sh"

type OpenServices = Scope.Scope | EcsApi.EcsApi | SsmApi.SsmApi | Socket.WebSocketConstructor

/** @internal */
export const openSession = (
  target: EcsExec.ExecTarget,
  command: string,
  options: EcsExec.OpenOptions = {}
): Effect.Effect<Session.Session, EcsApi.EcsApiError | Session.SessionError, OpenServices> =>
  Effect.gen(function*() {
    const ecs = yield* ecsApiTag
    const ssm = yield* ssmApiTag
    const response = yield* ecs.executeCommand({
      cluster: target.cluster,
      task: target.taskArn,
      container: target.containerName,
      command
    })
    // the session resumes through SsmApi (ssm:ResumeSession), unless a Resumer of the caller's own is provided
    const provided = yield* Effect.serviceOption(internalResumer.tag)
    // the target feeds the KMS encryption context of encrypted sessions
    const session = yield* internalSession.make({ ...options.session, ...response.session, target: target.target }).pipe(
      Effect.provideService(internalResumer.tag, Option.getOrElse(provided, () => resumer(ssm)))
    )
    yield* terminateOnClose(session)
    return session
  }).pipe(Effect.annotateLogs("target", target.target))

/** An EcsApiError as `RemoteCommand`'s `Start` error. @internal */
export const startError = (
  error: EcsApi.EcsApiError | Session.SessionError
): RemoteCommand.RemoteCommandError | Session.SessionError =>
  error._tag === "EcsApiError" ? new RemoteCommandError({ reason: "Start", detail: error.message, cause: error }) : error

/** @internal */
export const launch = (target: EcsExec.ExecTarget): Effect.Effect<RemoteCommand.Launch, never, EcsApi.EcsApi> =>
  Effect.map(Effect.context<EcsApi.EcsApi>(), (context) => ({
    target: target.target,
    open: (script, options) =>
      openSession(target, containerCommand(["sh", "-c", script]), options).pipe(
        Effect.mapError(startError),
        Effect.provide(context)
      )
  }))

const inputOptions = <E, R>(options: EcsExec.InputOptions<E, R>, launched: RemoteCommand.Launch) => {
  const { target: _target, ...rest } = options
  return { ...rest, target: launched.target, launch: launched }
}

/** @internal */
export const startWithInput = <E, R>(
  options: EcsExec.InputOptions<E, R>
): Effect.Effect<
  RemoteCommand.RunningCommand,
  RemoteCommand.RemoteCommandError | Session.SessionError | SsmApi.SsmApiError,
  OpenServices | R
> => Effect.flatMap(launch(options.target), (launched) => framed.start(inputOptions(options, launched)))

/** @internal */
export const execWithInput = <E, R>(
  options: EcsExec.InputOptions<E, R>
): Effect.Effect<
  RemoteCommand.CommandResult,
  RemoteCommand.RemoteCommandError | Session.SessionError | SsmApi.SsmApiError,
  Exclude<OpenServices, Scope.Scope> | R
> => Effect.flatMap(launch(options.target), (launched) => framed.exec(inputOptions(options, launched)))

const noExitCode = (detail: string, cause?: unknown) =>
  new RemoteCommandError({
    reason: "NoExitCode",
    detail: `${detail} (the terminal wrapper runs the command with sh: a container without sh needs --raw)`,
    ...(cause === undefined ? {} : { cause })
  })

const sessionFailed = (cause: Cause.Cause<Shell.ShellError>) => {
  const error = Cause.squash(cause)
  return new RemoteCommandError({
    reason: "Session",
    detail: error instanceof Error ? error.message : "the session failed",
    cause: error
  })
}

/**
 * The shell's output without the marker; `exit` gets the marker's code once the output ended (or an error).
 */
const filtered = (
  output: Stream.Stream<Uint8Array, Shell.ShellError>,
  nonce: string,
  exit: Deferred.Deferred<number, RemoteCommand.RemoteCommandError>
): Stream.Stream<Uint8Array, Shell.ShellError> =>
  Stream.suspend(() => {
    const filter = TerminalExit.make(nonce)
    return output.pipe(
      Stream.map((bytes) => filter.push(bytes).output),
      Stream.concat(Stream.sync(() => filter.end())),
      Stream.filter((bytes) => bytes.length > 0),
      Stream.tapErrorCause((cause) => Deferred.fail(exit, sessionFailed(cause))),
      Stream.concat(Stream.execute(Effect.suspend(() => {
        const code = filter.exitCode()
        return code === undefined
          ? Deferred.fail(exit, noExitCode("the session ended without the exit-code marker"))
          : Deferred.succeed(exit, code)
      }))),
      Stream.ensuring(Deferred.fail(exit, noExitCode("the output was not read to its end")))
    )
  })

/**
 * how long a terminal session waits for a first output before it counts as ready: the agent sends a
 * HandshakeRequest at once when the session has one (KMS), and otherwise nothing until the command prints (its
 * first read comes after 1 s), so a command silent at first (`sleep 30`) would never make the session ready
 */
const SILENCE_READY = "3 seconds"

const withSilenceReady = (options: EcsExec.OpenOptions): EcsExec.OpenOptions => ({
  ...options,
  session: { readyAfterSilence: SILENCE_READY, ...options.session }
})

/** @internal */
export const startTerminal = (
  options: EcsExec.TerminalOptions
): Effect.Effect<
  EcsExec.Terminal,
  EcsApi.EcsApiError | Session.SessionError | Shell.ShellError | RemoteCommand.RemoteCommandError,
  OpenServices
> =>
  Effect.gen(function*() {
    // the session's own marker: output holding another (made up, or from another session) is not this exit code
    const nonce = TerminalExit.makeNonce()
    const session = yield* openSession(
      options.target,
      terminalScript(options.command ?? DEFAULT_SHELL_COMMAND, nonce),
      withSilenceReady(options)
    )
      .pipe(
        Effect.catchIf(
          closedBeforeReady,
          (cause) => Effect.fail(noExitCode("the session ended before the command said anything", cause))
        )
      )
    const shell = yield* internalShell.make(session, { size: options.size })
    const exit = yield* Deferred.make<number, RemoteCommand.RemoteCommandError>()
    return {
      shell: { ...shell, output: filtered(shell.output, nonce, exit) },
      exitCode: Deferred.await(exit)
    }
  })

/** @internal */
export const startRaw = (
  options: EcsExec.RawOptions
): Effect.Effect<Shell.Shell, EcsApi.EcsApiError | Session.SessionError | Shell.ShellError, OpenServices> =>
  Effect.flatMap(
    openSession(options.target, options.command, withSilenceReady(options)),
    (session) => internalShell.make(session, { size: options.size })
  )
