import { Effect } from "effect"
import { pollUntil } from "./poll.js"
import * as ChildProcess from "node:child_process"

/** A tmux server of its own (its own socket) with one 120x40 window for the scope; killed when the scope closes. */
export const tmuxSession = Effect.gen(function*() {
  const socket = `ssm-test-${process.pid}-${Math.random().toString(36).slice(2)}`
  const run = (...args: ReadonlyArray<string>) =>
    Effect.async<string, Error>((resume) => {
      ChildProcess.execFile("tmux", ["-L", socket, ...args], (error, stdout) =>
        resume(error ? Effect.fail(error) : Effect.succeed(stdout)))
    })
  yield* Effect.acquireRelease(
    run("-f", "/dev/null", "new-session", "-d", "-s", "t", "-x", "120", "-y", "40"),
    () => Effect.ignore(run("kill-server"))
  )
  return {
    run,
    /** types `keys` into the window (tmux key names, e.g. `Enter`, `C-c`) */
    sendKeys: (...keys: ReadonlyArray<string>) => run("send-keys", "-t", "t", ...keys),
    /** the window's text, polled until `pattern` matches it (for about 20 s at most) */
    waitFor: (pattern: RegExp) =>
      pollUntil(run("capture-pane", "-t", "t", "-p", "-S", "-200"), (text) => pattern.test(text), {
        every: "50 millis",
        times: 400,
        what: `${pattern} in the pane`
      })
  }
})
