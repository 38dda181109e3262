/**
 * The simulator's command plugin, behaving as the agent's NonInteractiveCommands session (AGENT-PROTOCOL.md
 * section 13): the `commands` property runs in `sh -c` on this machine; with `separateOutputStream` stdout goes
 * as Output, stderr as StdErr and the exit code as `EXIT_CODE: n`, otherwise both streams as Output and no exit
 * code. Input bytes 0x03 and 0x1c interrupt and quit the command; all other input is ignored.
 *
 * @internal
 */
import * as NodeStream from "@effect/platform-node/NodeStream"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as ChildProcess from "node:child_process"
import * as Os from "node:os"
import type * as AgentSimulator from "../AgentSimulator.js"

const exitCodeOf = (code: number | null, signal: NodeJS.Signals | null): number =>
  code ?? (signal !== null ? 128 + (Os.constants.signals[signal] ?? 0) : 1)

/** @internal */
export const commandPlugin = (options: AgentSimulator.CommandPluginOptions = {}): AgentSimulator.Plugin => ({
  sessionType: options.sessionType ?? "NonInteractiveCommands",
  requireHandshake: true,
  run: (io) =>
    Effect.gen(function*() {
      const commands = typeof io.properties?.["commands"] === "string" ? io.properties["commands"] : ""
      const separate = io.properties?.["separateOutputStream"] === true ||
        io.properties?.["separateOutputStream"] === "true"
      const child = yield* Effect.acquireRelease(
        Effect.sync(() => ChildProcess.spawn("/bin/sh", ["-c", commands], { stdio: ["ignore", "pipe", "pipe"] })),
        (child) => Effect.sync(() => child.exitCode === null && child.kill("SIGKILL"))
      )
      const exited = Effect.async<number>((resume) => {
        if (child.exitCode !== null || child.signalCode !== null) {
          return resume(Effect.succeed(exitCodeOf(child.exitCode, child.signalCode)))
        }
        child.once("exit", (code, signal) => resume(Effect.succeed(exitCodeOf(code, signal))))
      })
      // the agent acts on two control bytes and ignores all other input
      yield* Effect.forkScoped(Stream.runForEach(io.input, (item) =>
        Effect.sync(() => {
          if (item._tag !== "Data") return
          if (item.bytes.includes(0x03)) child.kill("SIGINT")
          if (item.bytes.includes(0x1c)) child.kill("SIGQUIT")
        })))
      const pipe = (readable: NodeJS.ReadableStream, write: (bytes: Uint8Array) => Effect.Effect<void>) =>
        Stream.runForEach(NodeStream.fromReadable(() => readable, (error) => error), write).pipe(Effect.ignore)
      yield* Effect.all([
        pipe(child.stdout, io.write),
        pipe(child.stderr, separate ? io.writeStdErr : io.write)
      ], { concurrency: 2, discard: true })
      const code = yield* exited
      if (separate) yield* io.writeExitCode(code)
    })
})
