/**
 * The simulator's command plugin, behaving as the agent's NonInteractiveCommands session (AGENT-PROTOCOL.md
 * section 13): the `commands` property runs in `sh -c` on this machine; with `separateOutputStream` stdout goes
 * as Output, stderr as StdErr and the exit code as `EXIT_CODE: n`, otherwise both streams as Output and no exit
 * code. Input bytes 0x03 and 0x1c interrupt and quit the command; all other input is ignored.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import type * as AgentSimulator from "../AgentSimulator.js"
import * as SimulatorProcess from "./simulatorProcess.js"

/** @internal */
export const commandPlugin = (options: AgentSimulator.CommandPluginOptions = {}): AgentSimulator.Plugin => ({
  sessionType: options.sessionType ?? "NonInteractiveCommands",
  requireHandshake: true,
  run: (io) =>
    Effect.gen(function*() {
      const commands = typeof io.properties?.["commands"] === "string" ? io.properties["commands"] : ""
      const separate = io.properties?.["separateOutputStream"] === true ||
        io.properties?.["separateOutputStream"] === "true"
      const child = yield* SimulatorProcess.spawn("/bin/sh", ["-c", commands], { stdin: false })
      // the agent acts on two control bytes and ignores all other input
      yield* Effect.forkScoped(Stream.runForEach(io.input, (item) =>
        Effect.sync(() => {
          if (item._tag !== "Data") return
          if (item.bytes.includes(0x03)) child.kill("SIGINT")
          if (item.bytes.includes(0x1c)) child.kill("SIGQUIT")
        })))
      yield* SimulatorProcess.pipeOutput(child, io.write, separate ? io.writeStdErr : io.write)
      const code = yield* SimulatorProcess.exitCode(child)
      if (separate) yield* io.writeExitCode(code)
    })
})
