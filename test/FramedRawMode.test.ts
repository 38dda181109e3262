/**
 * The framed wrapper never leaves a pty raw: when the session dies the agent hangs the pty up, the wrapper gets
 * SIGHUP (or SIGTERM), and its EXIT trap puts back the mode it saved before `stty raw -echo -iexten`. Played on the
 * simulator's pty, where an outer shell runs the wrapper and, once the wrapper is gone, prints the pty's mode.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option, Stream } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as FramedCommand from "../src/internal/tunnels/framedCommand.js"
import * as Shell from "../src/Shell.js"
import { simulatedAwsLayer } from "./utils/aws.js"

/** the output of an InteractiveCommands session running `command`, to its end */
const outputOf = (command: string) =>
  Effect.gen(function*() {
    const shell = yield* Shell.start({
      target: "i-1",
      documentName: "AWS-StartInteractiveCommand",
      parameters: { command: [command] }
    })
    const chunks = yield* Stream.runCollect(shell.output.pipe(Stream.timeout("30 seconds")))
    return Buffer.concat([...chunks]).toString("latin1")
  })

const flag = (text: string, name: string): "on" | "off" | "absent" =>
  new RegExp(`(^|\\s)-${name}(\\s|$)`).test(text) ? "off" : new RegExp(`(^|\\s)${name}(\\s|$)`).test(text) ? "on" : "absent"

describe("the framed wrapper and the pty's mode", () => {
  for (const signal of ["HUP", "TERM"] as const) {
    it.scopedLive(`killed by SIG${signal} (as when the session dies), it restores the mode it found`, () =>
      Effect.gen(function*() {
        const dir = yield* Effect.acquireRelease(
          Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "ssm-raw-"))),
          (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
        )
        // the command, under the wrapper, signals the wrapper (its parent) and lingers
        const wrapper = Path.join(dir, "wrapper.sh")
        Fs.writeFileSync(
          wrapper,
          FramedCommand.WRAPPER.replace("{{ command }}", FramedCommand.encodeCommand(`kill -${signal} $PPID; sleep 1`))
        )
        const output = yield* outputOf(`sh ${wrapper}; echo "wrapper exit $?"; stty -a`)
        // the wrapper was raw while it ran (it said READY), then gone without its EXIT line
        assert.include(output, `${FramedCommand.MARKER} READY`)
        assert.notInclude(output, `${FramedCommand.MARKER} EXIT`)
        assert.match(output, new RegExp(`wrapper exit ${signal === "HUP" ? 129 : 143}`))
        const modes = output.slice(output.indexOf("wrapper exit"))
        assert.strictEqual(flag(modes, "icanon"), "on", modes)
        assert.strictEqual(flag(modes, "echo"), "on", modes)
        assert.strictEqual(flag(modes, "isig"), "on", modes)
        assert.strictEqual(flag(modes, "iexten"), "on", modes)
        assert.isTrue(Option.isNone(Option.fromNullable(/(^|\s)-opost(\s|$)/.exec(modes))), modes)
      }).pipe(Effect.provide(simulatedAwsLayer({ messagesPerSecond: 0 }))), 60_000)
  }
})
