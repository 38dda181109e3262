import { Effect } from "effect"
import * as ChildProcess from "node:child_process"

/** The probe's identity: `nobody`, with no supplementary groups. */
const SETPRIV_ARGS = ["--reuid=65534", "--regid=65534", "--clear-groups"] as const

/**
 * Whether this process can run a probe as another local user (uid 65534): it is root and util-linux's `setpriv`
 * works. The "other user" tests skip, with a message, where it cannot.
 */
export const canRunAsOtherUser: boolean = process.getuid?.() === 0 &&
  ChildProcess.spawnSync("setpriv", [...SETPRIV_ARGS, "true"]).status === 0

/**
 * Runs `command args…` as uid 65534 from `/` with only `PATH` in its environment, to its end (10 s at most): its exit
 * code (null when a signal or the deadline ended it) and what it printed.
 */
export const runAsOtherUser = (command: string, args: ReadonlyArray<string>) =>
  Effect.async<{ readonly code: number | null; readonly stdout: string; readonly stderr: string }>((resume) => {
    const child = ChildProcess.execFile(
      "setpriv",
      [...SETPRIV_ARGS, command, ...args],
      { cwd: "/", env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin" }, timeout: 10_000, encoding: "utf8" },
      (error, stdout, stderr) =>
        resume(Effect.succeed({ code: error === null ? 0 : typeof error.code === "number" ? error.code : null, stdout, stderr }))
    )
    return Effect.sync(() => child.kill())
  })
