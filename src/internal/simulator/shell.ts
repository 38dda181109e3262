/**
 * The simulator's shell plugin: a real `/bin/sh` on this machine behind a pseudo-terminal made by util-linux
 * `script` (no native module needed), as the agent runs shells (AGENT-PROTOCOL.md section 13): Size messages
 * resize the pty (`stty -F` on its device, so programs get SIGWINCH), input goes to the pty unchanged (its line
 * discipline turns 0x03 into SIGINT), and the session ends when the shell exits. Standard_Stream runs a shell
 * whatever the properties say; InteractiveCommands runs the `commands` of the properties' `linux` key.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import type * as AgentSimulator from "../../AgentSimulator.js"
import * as SimulatorProcess from "./process.js"
import * as ShellProperties from "./shellProperties.js"

/** The terminal device of `script`'s child (the shell), once it exists. */
const ptyOf = (scriptPid: number): string | undefined => {
  for (const entry of Fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = Fs.readFileSync(`/proc/${entry}/stat`, "utf8")
      const parent = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1])
      if (parent === scriptPid) {
        const device = Fs.readlinkSync(`/proc/${entry}/fd/0`)
        if (device.startsWith("/dev/pts/")) return device
      }
    } catch {
      // a process that ended while we looked
    }
  }
  return undefined
}

const stty = (device: string, cols: number, rows: number) =>
  Effect.async<void>((resume) => {
    ChildProcess.execFile("stty", ["-F", device, "rows", String(rows), "cols", String(cols)], () => resume(Effect.void))
  })

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
      const command = next.config.commands.trim() === "" ? "/bin/sh -i" : next.config.commands
      const child = yield* SimulatorProcess.spawn("script", ["-qfec", command, "/dev/null"], {
        stdin: true,
        env: { ...process.env, PS1: "$ ", TERM: "xterm" }
      })
      const device = Effect.suspend(() => {
        const found = child.pid === undefined ? undefined : ptyOf(child.pid)
        return found === undefined ? Effect.fail("no pty yet") : Effect.succeed(found)
      }).pipe(Effect.retry(Schedule.spaced("10 millis").pipe(Schedule.upTo("5 seconds"))), Effect.cached)
      const pty = yield* device
      yield* io.ready
      yield* Effect.forkScoped(Stream.runForEach(io.input, (item) => {
        switch (item._tag) {
          case "Data":
            return Effect.async<void>((resume) => {
              child.stdin!.write(item.bytes, () => resume(Effect.void))
            })
          case "Size":
            return Effect.flatMap(Effect.orElseSucceed(pty, () => undefined), (path) =>
              path === undefined ? Effect.void : stty(path, item.cols, item.rows))
          default:
            return Effect.void
        }
      }))
      yield* SimulatorProcess.pipeOutput(child, io.write, io.write)
      yield* SimulatorProcess.exitCode(child)
    })
})
