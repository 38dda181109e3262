/**
 * The CLI `shell` in a real terminal (tmux): raw mode while it runs, and the terminal settings restored after it
 * exits, whichever way it exits.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { root } from "./utils/cli.js"
import { tmuxSession } from "./utils/tmux.js"

const cli = `node --conditions=ssm-session-manager-source --import tsx ${Path.join(root, "src", "cli", "main.ts")}`

/**
 * Starts `shell --simulator` in a fresh tmux window, with the terminal settings saved before and after it runs
 * and its pid and exit status recorded in a temporary directory.
 */
const startShell = Effect.gen(function*() {
  const directory = Fs.mkdtempSync(Path.join(Os.tmpdir(), "ssm-shell-"))
  yield* Effect.addFinalizer(() => Effect.sync(() => Fs.rmSync(directory, { recursive: true, force: true })))
  const file = (name: string) => Path.join(directory, name)
  const tmux = yield* tmuxSession
  yield* tmux.sendKeys(
    `cd ${root} && stty -g > ${file("before")}; sh -c 'echo $$ > ${file("pid")}; exec ${cli} shell --simulator'; ` +
      `echo "status $?" > ${file("status")}; stty -g > ${file("after")}; echo SHELL-''ENDED`,
    "Enter"
  )
  // the remote shell's prompt alone on a line (tmux drops trailing spaces; a root sh shows "#", others "$")
  yield* tmux.waitFor(/^[$#] ?$/m)
  const read = (name: string) => Fs.readFileSync(file(name), "utf8").trim()
  return { tmux, read }
})

describe("CLI shell in a terminal", () => {
  it.scopedLive("runs commands, follows a resize, passes Ctrl-C on, and restores the terminal when the shell exits", () =>
    Effect.gen(function*() {
      const { read, tmux } = yield* startShell
      yield* tmux.sendKeys("stty size; echo :o''ne", "Enter")
      yield* tmux.waitFor(/40 120\s+:one/)
      yield* tmux.run("resize-window", "-t", "t", "-x", "100", "-y", "30")
      yield* tmux.sendKeys("stty size; echo :t''wo", "Enter")
      yield* tmux.waitFor(/30 100\s+:two/)
      yield* tmux.sendKeys("sleep 30", "Enter")
      yield* tmux.sendKeys("C-c")
      yield* tmux.sendKeys("echo :after-$?", "Enter")
      yield* tmux.waitFor(/:after-130/)
      yield* tmux.sendKeys("exit", "Enter")
      yield* tmux.waitFor(/SHELL-ENDED\s*\n/)
      assert.include(yield* tmux.waitFor(/Exiting session with sessionId: /), "Exiting session")
      assert.strictEqual(read("status"), "status 0")
      assert.strictEqual(read("after"), read("before"))
    }), 60_000)

  it.scopedLive("restores the terminal when the CLI is terminated (SIGTERM) mid-session", () =>
    Effect.gen(function*() {
      const { read, tmux } = yield* startShell
      // raw mode while it runs: the pane's terminal settings differ from the saved ones
      const tty = (yield* tmux.run("display-message", "-p", "-t", "t", "#{pane_tty}")).trim()
      const during = ChildProcess.execFileSync("stty", ["-g", "-F", tty]).toString().trim()
      assert.notStrictEqual(during, read("before"))
      process.kill(Number(read("pid")), "SIGTERM")
      yield* tmux.waitFor(/SHELL-ENDED\s*\n/)
      assert.strictEqual(read("after"), read("before"))
    }), 60_000)
})
