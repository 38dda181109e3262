/**
 * The simulator's shell plugin, as the agent runs Standard_Stream and InteractiveCommands sessions
 * (`agent/session/shell/shell_unix.go` StartCommandExecutor, `shell.go` executeCommandsWithPty; AGENT-PROTOCOL.md
 * section 13): `sh` (Standard_Stream, or empty commands) or `sh -c <commands>` (the properties' `linux` key), `sh`
 * looked up on the command's PATH, on a pseudo-terminal (`pty.ts`), with the agent's environment
 * (`command.ts` `commandEnv`). With `containerMode` (ECS Exec), the agent's ContainerMode: the commands split by
 * shlex and exec'd without a shell (`containerMode.ts`). Input goes to the pty unchanged (its line discipline turns
 * 0x03 into SIGINT, unless the command set raw mode); Size messages resize the pty (`stty -F` on its device, so
 * programs get SIGWINCH). The output goes as the agent's writePump sends it: a first wait of 1 s, then reads of at
 * most 1024 bytes, each through processStdoutData (`stdoutData.ts`); the session ends when reading the pty fails,
 * bytes still held back lost.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import * as AgentMessage from "../../AgentMessage.js"
import type * as AgentSimulator from "../../AgentSimulator.js"
import { ClosingOutput } from "./agent.js"
import { commandEnv } from "./command.js"
import * as ContainerMode from "./containerMode.js"
import * as SimulatorProcess from "./process.js"
import * as Pty from "./pty.js"
import * as ShellProperties from "./shellProperties.js"
import * as StdoutData from "./stdoutData.js"

/** `shell.go` executeCommandsWithPty: `setupRoutineToWriteCommandOutput(…, 1)`, writePump's "wait for all input commands to run" */
const INITIAL_WAIT = "1 second"
/** `mgsConfig.StreamDataPayloadSize`: writePump's read buffer */
const READ_SIZE = 1024
/** `shell.go` execute: `time.Sleep(2 * time.Second)` after getCommandExecutor fails */
const START_FAILURE_WAIT = "2 seconds"

/** @internal */
export const shellPlugin = (options: AgentSimulator.ShellPluginOptions = {}): AgentSimulator.Plugin => ({
  sessionType: options.sessionType ?? "Standard_Stream",
  requireHandshake: options.requireHandshake ?? false,
  // input is "not ready" until the pty runs (shell_unix.go InputStreamMessageHandler)
  signalsReady: true,
  run: (io) =>
    Effect.gen(function*() {
      // as the agent (shellProperties.ts `plan`): Standard_Stream ignores the properties and runs a shell;
      // InteractiveCommands runs the `linux` key's `commands` in `sh -c` (shell_unix.go StartCommandExecutor) and
      // ends at once, sending nothing, when they are empty or do not read (singlecommand.go Execute)
      const next = ShellProperties.plan(options.sessionType ?? "Standard_Stream", io.properties)
      if (next._tag !== "Run") return
      const env = options.containerMode === true
        ? ContainerMode.containerEnv(next.config, options.environment)
        : { ...commandEnv(next.config), ...options.environment }
      // StartCommandExecutor: exec.Command("sh") for empty commands; in ContainerMode the commands split by shlex
      // and exec'd; else "sh" with utility.ShellPluginCommandArgs ("-c") and the commands
      const started: ContainerMode.Launch = next.config.commands.trim() === ""
        ? { _tag: "Start", path: "sh", argv: ["sh"] }
        : options.containerMode === true
        ? ContainerMode.launch(next.config.commands, env)
        : { _tag: "Start", path: "sh", argv: ["sh", "-c", next.config.commands] }
      // shell.go execute: getCommandExecutor failed ("Unable to start command: …" to the agent's log); after 2 s
      // the plugin's output is marked failed with that text (`output.MarkAsFailed`), nothing sent on the data channel
      // (that is NonInteractiveCommands'); the service closes the channel with it, as AWS's client shows it
      // ("SessionId: … : Unable to start command: Failed to start pty: fork/exec /bin/bash: no such file or directory")
      if (started._tag === "Fail") {
        yield* Effect.sleep(START_FAILURE_WAIT)
        return yield* Effect.fail(new ClosingOutput(`Unable to start command: ${started.error}\n`))
      }
      // `commands[0]` of no words panics; Execute's recover logs it and the session worker exits
      if (started._tag === "Panic") return
      const { args, program } = Pty.ptyCommand(started.argv, started.path)
      const child = yield* SimulatorProcess.spawn(program, args, { stdin: true, env })
      // at the session's end the agent kills the command (execcmd.go Kill: the process alone) and closes the pty
      // (what else holds it gets SIGHUP); this runs before `spawn`'s release kills the helper's process group
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => {
          const command = child.pid === undefined ? undefined : Pty.commandOf(child.pid)
          if (command === undefined) return
          try {
            process.kill(command.pid, "SIGKILL")
          } catch {
            // it ended meanwhile
          }
        })
      )
      // read from the start (Node throws away the output of a child that exits before anything reads it), and
      // sent from writePump's first read, after its first wait
      const data = StdoutData.processor(options.stdoutData ?? "agent")
      // each read one message (dc.go SendStreamDataMessage), held bytes and all
      const send = (bytes: Uint8Array) => io.writeMessage(AgentMessage.PayloadType.Output, bytes)
      const output = yield* Effect.forkScoped(
        SimulatorProcess.pump(child.stdout!, READ_SIZE, data.write, send, INITIAL_WAIT)
      )
      // the helper's own failures (no /dev/ptmx, `sh` not found) come on its stderr
      yield* Effect.forkScoped(SimulatorProcess.pump(child.stderr!, READ_SIZE, (bytes) => bytes, send))
      const failed = yield* SimulatorProcess.started(child)
      if (Option.isSome(failed)) {
        // shell_unix.go StartCommandExecutor: "Failed to start pty" fails the plugin
        return yield* Effect.fail(new Error(`Failed to start pty: ${program}: ${failed.value.message}`))
      }
      // the pty's device, for Size messages: looked for once one comes (a command that has ended has none)
      const pty = yield* Effect.suspend(() => {
        const found = child.pid === undefined ? undefined : Pty.commandOf(child.pid)
        return found === undefined ? Effect.fail("no pty yet") : Effect.succeed(found.device)
      }).pipe(Effect.retry(Schedule.spaced("10 millis").pipe(Schedule.upTo("5 seconds"))), Effect.cached)
      // the helper opens the pty before it starts the command, and input written meanwhile waits in its queue
      yield* io.ready
      yield* Effect.forkScoped(Stream.runForEach(io.input, (item) => {
        switch (item._tag) {
          case "Data":
            // InputStreamMessageHandler: written to the pty unchanged, blocking until taken
            return Effect.async<void>((resume) => {
              child.stdin!.write(item.bytes, () => resume(Effect.void))
            })
          case "Size":
            return Effect.flatMap(Effect.orElseSucceed(pty, () => undefined), (path) =>
              path === undefined
                ? Effect.void
                : Effect.async<void>((resume) => Pty.resize(path, item.cols, item.rows, () => resume(Effect.void))))
          default:
            return Effect.void
        }
      }))
      yield* Fiber.join(output)
      yield* SimulatorProcess.exitCode(child)
    })
})
