/**
 * The simulator's command plugin, behaving as the agent's NonInteractiveCommands session (AGENT-PROTOCOL.md
 * section 13), with the properties read as the agent reads them (`shellProperties.ts`). As the agent on Linux:
 * the command is split into words as google/shlex splits them and run without a shell
 * (`sh -c '…'` in the command for shell syntax); with `separateOutputStream` stdout goes as Output (after the
 * separator prefix, if any), stderr as StdErr and the exit code as `EXIT_CODE: n`, otherwise both streams as
 * Output and no exit code (the output then comes only once the command has exited, as the agent reads it from
 * a file). Either way every read goes through the agent's processStdoutData (`commandOutput.ts`). Input bytes
 * 0x03 and 0x1c send SIGINT and SIGQUIT to the command's process alone (not its group), after which the agent
 * reads no input until the command exits, and reports exit code 1; all other input is ignored.
 *
 * Each behaviour names the agent file and function it comes from (`aws/amazon-ssm-agent`, under `agent/`).
 *
 * @internal
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as Os from "node:os"
import * as AgentMessage from "../../AgentMessage.js"
import type * as AgentSimulator from "../../AgentSimulator.js"
import * as CommandOutput from "./commandOutput.js"
import * as SimulatorProcess from "./process.js"
import * as Shlex from "./shlex.js"
import { plan, type ShellConfig } from "./shellProperties.js"

// ---------------------------------------------------------------------------------------------------------------
// running the command
// ---------------------------------------------------------------------------------------------------------------

/**
 * The environment `session/shell/shell_unix.go` StartCommandExecutor gives the command: ours with
 * `TERM=xterm-256color`, `LANG=C.UTF-8` when LANG is unset, and HOME `/root` with `runAsElevated`, otherwise
 * `/home/<session user>` (ssm-user when the agent runs as root, else the agent's own user). The simulator does
 * not switch users.
 *
 * @internal
 */
export const commandEnv = (config: ShellConfig): NodeJS.ProcessEnv => {
  const sessionUser = process.getuid?.() === 0 ? "ssm-user" : Os.userInfo().username
  return {
    ...process.env,
    TERM: "xterm-256color",
    ...(process.env["LANG"] ? {} : { LANG: "C.UTF-8" }),
    HOME: config.runAsElevated ? "/root" : `/home/${sessionUser}`
  }
}

/** Go's `exec.Cmd.Start` error text for a program that could not start */
const startError = (program: string, error: NodeJS.ErrnoException | undefined): string => {
  // exec.Command looks a name without a slash up on the PATH (exec.LookPath) and keeps only executables
  if (!program.includes("/")) return `exec: ${JSON.stringify(program)}: executable file not found in $PATH`
  const reason = error?.code === "ENOENT"
    ? "no such file or directory"
    : error?.code === "EACCES"
    ? "permission denied"
    : error?.code === "ENOEXEC"
    ? "exec format error"
    : error?.message ?? "invalid argument"
  return `fork/exec ${program}: ${reason}`
}

const textEncoder = new TextEncoder()

/**
 * `session/shell/shell.go` setupRoutineToWriteCmdPipelineOutput: the pipe read in pieces of at most
 * 1024 − prefix bytes, each with the separator prefix as the agent adds it and through processStdoutData
 * (`commandOutput.ts` `pipelineReader`).
 */
const pipelinePump = (
  pipe: NodeJS.ReadableStream,
  prefix: string,
  mode: "agent" | "exact",
  write: (bytes: Uint8Array) => Effect.Effect<void>
) => {
  const reader = CommandOutput.pipelineReader(prefix, mode)
  return SimulatorProcess.pump(pipe, reader.size, reader.transform, write)
}

/**
 * `appconfig.ByteControlSignalsLinux` as `shell_unix.go` InputStreamMessageHandler reads it: the first byte of
 * the message that is 0x03 (SIGINT) or 0x1c (SIGQUIT), if any.
 *
 * @internal
 */
export const controlSignal = (bytes: Uint8Array): "SIGINT" | "SIGQUIT" | undefined => {
  for (const byte of bytes) {
    if (byte === 0x03) return "SIGINT"
    if (byte === 0x1c) return "SIGQUIT"
  }
  return undefined
}

/** how long the pumps read on after the input handler collected a signalled command (the two race in the agent) */
const PIPE_DRAIN = "20 millis"

/** @internal */
export const commandPlugin = (options: AgentSimulator.CommandPluginOptions = {}): AgentSimulator.Plugin => {
  const sessionType = options.sessionType ?? "NonInteractiveCommands"
  return {
    sessionType,
    requireHandshake: true,
    run: (io) =>
      Effect.gen(function*() {
        const next = plan("NonInteractiveCommands", io.properties)
        // the other plans send nothing on the data channel (documentSpec gives the agent's text to channel_closed)
        if (next._tag === "FailBeforeHandshake") return
        if (next._tag === "Refuse") return
        const { config, separate } = next
        const words = Shlex.split(config.commands)
        if (Either.isLeft(words)) {
          // shell.go execute: getCommandExecutor failed; after 2 s, and sendErrorToDataChannel's 1 s, the error
          // goes as StdErr, and the session ends without an exit code
          yield* Effect.sleep("3 seconds")
          return yield* io.writeStdErr(
            textEncoder.encode(`Unable to start command: Failed to parse commands input: ${words.left}\n\n`)
          )
        }
        // a command of comments only: the agent indexes an empty word list, panics, and its session worker exits
        if (words.right.length === 0) return
        const [program, ...args] = words.right as [string, ...Array<string>]
        // Node refuses these before trying (Go's exec fails on them too)
        const startable = program !== "" && !words.right.some((word) => word.includes("\u0000"))
        const mode = options.stdoutData ?? "agent"
        // shell_unix.go StartCommandExecutor: without separate streams, stdout and stderr go to one file
        const file = separate ? undefined : yield* CommandOutput.outputFile
        const child = startable
          ? yield* SimulatorProcess.spawn(program, args, {
            stdin: false,
            env: { ...commandEnv(config), ...options.environment },
            output: file?.fd
          })
          : undefined
        // read from the start (Node throws away the output of a child that exits before anything reads it)
        const pipes = child === undefined || !separate ? undefined : yield* Effect.forkScoped(Effect.all([
          pipelinePump(child.stdout!, config.stdOutSeparatorPrefix, mode, (bytes) => io.writeMessage(AgentMessage.PayloadType.Output, bytes)),
          pipelinePump(child.stderr!, config.stdErrSeparatorPrefix, mode, (bytes) => io.writeMessage(AgentMessage.PayloadType.StdErr, bytes))
        ], { concurrency: 2, discard: true }))
        const failed = child === undefined ? Option.some(undefined) : yield* SimulatorProcess.started(child)
        if (child === undefined || Option.isSome(failed)) {
          // shell.go processCommandsWithOutputStreamSeparate: Start failed, EXIT_CODE: 1 at once; then
          // executeCommandsWithExec's sendErrorToDataChannel (1 s) sends Start's error as StdErr
          // (processCommandsWithExec, without separate streams: the StdErr text only)
          if (separate) yield* io.writeExitCode(1)
          yield* Effect.sleep("1 second")
          return yield* io.writeStdErr(textEncoder.encode(startError(program, Option.getOrUndefined(failed))))
        }
        const exited = yield* Effect.cached(SimulatorProcess.exitCode(child))
        // a control byte reached the command: its exit is then collected by the input handler (below)
        const signalled = yield* Deferred.make<void>()
        // shell_unix.go InputStreamMessageHandler: the agent acts on two control bytes and ignores all other input;
        // the first control byte of a message is its one signal (ByteControlSignalsLinux in appconfig/constants.go:
        // 0x03 SIGINT, 0x1c SIGQUIT), sent with execcmd.go Signal (os.Process.Signal) to the command's process
        // only, not to its process group: what the command started (`sleep` under `sh -c`) gets nothing. The
        // handler then waits for the command to exit (its deferred `p.execCmd.Wait()`), so no further input, a
        // second Ctrl-C included, is read until then (the real agent also holds that message's ack and reads
        // nothing else from the data channel meanwhile).
        yield* Effect.forkScoped(Stream.runForEach(io.input, (item) => {
          const signal = item._tag === "Data" ? controlSignal(item.bytes) : undefined
          if (signal === undefined) return Effect.void
          return Effect.zipRight(
            Effect.sync(() => {
              child.kill(signal)
              Deferred.unsafeDone(signalled, Exit.void)
            }),
            exited
          )
        }))
        if (pipes === undefined) {
          // shell.go processCommandsWithExec: Wait (the handler's after a signal, the plugin's otherwise: both
          // return once the command exits), then writePump sends the output file; no exit code
          yield* exited
          return yield* CommandOutput.sendOutputFile(file!.path, mode, (bytes) => io.writeMessage(AgentMessage.PayloadType.Output, bytes))
        }
        // shell.go processCommandsWithOutputStreamSeparate: both pipes to their end, then Wait. After a signal the
        // handler's Wait collects the command as soon as it exits and, as exec.Cmd.Wait does, closes the pipes:
        // what is still unread, or written later by what the command started, is lost
        const collectedByHandler = Deferred.await(signalled).pipe(
          Effect.zipRight(exited),
          // the pumps read what had reached them as the process exited
          Effect.zipRight(Effect.sleep(PIPE_DRAIN))
        )
        yield* Effect.raceFirst(Fiber.join(pipes), collectedByHandler)
        // the handler won: the pipes are closed, nothing more is read from them
        yield* Fiber.interrupt(pipes)
        const code = (yield* Deferred.isDone(signalled)) ? 1 : yield* exited
        // shell.go sendExitCode, after both pipes end and the command is waited for. Once the handler has waited
        // for the command, the plugin's own Wait fails ("Wait was already called", or ECHILD) and the code sent is
        // appconfig.ErrorExitCode (1). The two Waits race when both pipes end as the command exits, and the
        // plugin's may win (the command's code, or -1 when a signal killed it); when what the command started
        // still holds a pipe, the handler's always wins. The simulator plays that case: 1.
        yield* io.writeExitCode(code)
      })
  }
}
