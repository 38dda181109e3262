/**
 * `ecs exec` and `ecs shell`: a command in a task's container, its stdout, stderr and exit code ours (through the
 * framed wrapper, with `-i` our stdin its stdin), on a terminal (`-t`, `ecs shell`: ssh's escapes, the exit code
 * from the marker the terminal wrapper prints), or exactly as ECS runs it (`--raw`, no exit code).
 *
 * @since 0.5.0
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as EcsExec from "../EcsExec.js"
import { fromReadable } from "../NodeNetTransport.js"
import * as RemoteCommand from "../RemoteCommand.js"
import * as Shell from "../Shell.js"
import { awsOptions, layerAws } from "./aws.js"
import { resolveContainer, selectorOptions } from "./ecsTarget.js"
import { CliError } from "./error.js"
import { commandLine, relay, stdinHasInput } from "./exec.js"
import { escapeChar, escapeOption } from "./shell.js"
import { runShell, terminalSize } from "./terminal.js"
import { printLine } from "./status.js"

/**
 * What `ecs exec` without `-i` says on stderr when its stdin holds input.
 *
 * @since 0.5.0
 * @category input
 */
export const ECS_INPUT_NOT_SENT_LINE =
  "ssm-session-manager: stdin is not sent to the command (ecs exec runs it without input): use ecs exec -i to send it"

/**
 * The error of a wrapper that could not run in the container, with the way around it in the same line: `--raw`
 * for a container without `sh` (the wrapper never started), and `-t` too when only its tools are missing.
 *
 * @since 0.5.0
 * @category errors
 */
export const withFallback = (error: RemoteCommand.RemoteCommandError, terminal: boolean): RemoteCommand.RemoteCommandError => {
  const fallback = error.reason === "MissingTools"
    ? "without them, ecs exec -t (a terminal; the exit code kept) or ecs exec --raw (as ECS runs it; no exit code) " +
      "still run a command"
    : error.reason === "NoExitCode" || error.reason === "Protocol" || error.reason === "Timeout"
    ? `a container without sh runs commands with ecs exec --raw only (as ECS runs them, without sh; no exit code)${
      terminal ? "" : ", one with sh but not coreutils or busybox with ecs exec -t"
    }`
    : undefined
  // the library's own words may name it already (a terminal's NoExitCode does)
  return fallback === undefined || error.detail.includes("--raw")
    ? error
    : new RemoteCommand.RemoteCommandError({ reason: error.reason, detail: `${error.detail}: ${fallback}`, cause: error })
}

const mapFallback = (terminal: boolean) => <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.catchIf(
    self,
    (error): error is E & RemoteCommand.RemoteCommandError => RemoteCommand.isRemoteCommandError(error),
    (error) => Effect.fail(withFallback(error, terminal) as E)
  )

/**
 * A session the agent closed before it was ready: none for a silent end (a command that printed nothing and
 * ended), the agent's reason as a `SessionClosed` failure otherwise.
 */
const endedBeforeReady = <A, E, R>(start: Effect.Effect<A, E, R>): Effect.Effect<Option.Option<A>, E | CliError, R> =>
  Effect.catchAll(Effect.asSome(start), (error): Effect.Effect<Option.Option<A>, E | CliError> => {
    const closing = Shell.closedBeforeReady(error)?.trim()
    return closing === undefined
      ? Effect.fail(error)
      : closing === ""
      ? Effect.succeed(Option.none())
      : Effect.fail(sessionClosed(closing))
  })

/** A raw session the agent closed with a reason: the command did not run (or was ended), in the agent's words. */
const sessionClosed = (reason: string) =>
  new CliError({ reason: "SessionClosed", detail: `the session was closed: ${reason.trim()}` })

/**
 * The command line `--raw` gives ECS: one argument as it is (ECS splits it as a shell would, without one);
 * several, each quoted so that it is one word again.
 *
 * @since 0.5.0
 * @category formatting
 */
export const rawCommand = (args: ReadonlyArray<string>): string =>
  args.length === 1 ? args[0]! : EcsExec.containerCommand(args)

/**
 * @since 0.5.0
 * @category commands
 */
export const ecsExec = Command.make(
  "exec",
  {
    ...awsOptions,
    ...selectorOptions,
    interactive: Options.boolean("interactive").pipe(
      Options.withAlias("i"),
      Options.withDescription("send our stdin to the command, byte for byte (its end closes the command's stdin)")
    ),
    tty: Options.boolean("tty").pipe(
      Options.withAlias("t"),
      Options.withDescription("run it on the container's terminal, in this one (ssh's escapes), its exit code kept")
    ),
    raw: Options.boolean("raw").pipe(
      Options.withDescription(
        "run it exactly as ECS does (split into words, no sh: for a container without sh), on a terminal; exit 0"
      )
    ),
    escape: escapeOption,
    command: Args.text({ name: "command" }).pipe(
      Args.withDescription("one argument is a shell command line as it is; several are words, each quoted for sh -c"),
      Args.atLeast(1)
    )
  },
  (options) =>
    Effect.gen(function*() {
      if (options.raw && options.interactive) {
        return yield* new CliError({
          reason: "InvalidOptions",
          detail: "--raw runs the command on a terminal, which reads this one's keyboard: leave out -i"
        })
      }
      const escape = yield* escapeChar(options.escape)
      const target = yield* resolveContainer(options)
      if (options.raw) {
        // a command that prints nothing and ends within the first seconds (`true`) closes the session before it is
        // ready: a normal end, as ECS's own client has it (no exit code either); one the agent could not start
        // closes it with the agent's reason ("Unable to start command: Failed to start pty: …"): a failure
        const shell = yield* endedBeforeReady(
          EcsExec.startRaw({ target, command: rawCommand(options.command), size: terminalSize() })
        )
        if (Option.isNone(shell)) return
        const reason = yield* runShell(shell.value, { escape, closingLine: false })
        if (reason !== "") return yield* sessionClosed(reason)
        return
      }
      const command = commandLine(options.command)
      if (options.tty) {
        const terminal = yield* EcsExec.startTerminal({ target, command, size: terminalSize() })
        yield* runShell(terminal.shell, { escape, closingLine: false })
        process.exitCode = yield* mapFallback(true)(terminal.exitCode)
        return
      }
      if (!options.interactive && stdinHasInput()) printLine("stderr", ECS_INPUT_NOT_SENT_LINE)
      const running = yield* EcsExec.startWithInput({
        target,
        command,
        input: options.interactive ? fromReadable(() => process.stdin, (error) => error) : Stream.empty
      })
      process.exitCode = yield* relay(running.session, running.output, running.signal)
    }).pipe(
      mapFallback(false),
      Effect.scoped,
      // the agent's first second (writePump's first wait) is no reason to speak: only a wait of 3 s is said
      Effect.provide(layerAws(options, "terminal", "3 seconds"))
    )
).pipe(Command.withDescription(
  "run a command in a task's container: its stdout, stderr and exit code become ours (-i: our stdin its stdin)"
))

/**
 * @since 0.5.0
 * @category commands
 */
export const ecsShell = Command.make(
  "shell",
  {
    ...awsOptions,
    ...selectorOptions,
    command: Options.text("command").pipe(
      Options.withDescription("the shell (a command line run by sh -c; default: bash if the container has it, else sh)"),
      Options.optional
    ),
    escape: escapeOption
  },
  (options) =>
    Effect.gen(function*() {
      const escape = yield* escapeChar(options.escape)
      const target = yield* resolveContainer(options, undefined, "always")
      const terminal = yield* EcsExec.startTerminal({
        target,
        command: Option.getOrUndefined(options.command),
        size: terminalSize()
      })
      yield* runShell(terminal.shell, { escape })
      process.exitCode = yield* mapFallback(true)(terminal.exitCode)
    }).pipe(Effect.scoped, Effect.provide(layerAws(options)))
).pipe(Command.withDescription("an interactive shell in a task's container, in this terminal"))
