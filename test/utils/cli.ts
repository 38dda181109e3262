import { Effect } from "effect"
import * as ChildProcess from "node:child_process"
import * as Path from "node:path"
import * as Url from "node:url"

export const root = Path.resolve(Path.dirname(Url.fileURLToPath(import.meta.url)), "..", "..")

/**
 * Runs one of the package's bins from source (`main` is `ssm-session-manager`, `sessionManagerPlugin` the
 * `session-manager-plugin` alias) as a real process for the scope; interrupted with SIGINT when the scope closes.
 */
export const spawnCli = (
  bin: "main" | "sessionManagerPlugin",
  args: ReadonlyArray<string>,
  options: { readonly env?: Record<string, string>; readonly stdin?: "pipe" | "ignore" } = {}
) =>
  Effect.acquireRelease(
    Effect.sync(() =>
      ChildProcess.spawn(process.execPath, [
        "--conditions=ssm-session-manager-source",
        "--import",
        "tsx",
        Path.join(root, "src", "cli", `${bin}.ts`),
        ...args
      ], {
        cwd: root,
        env: { ...process.env, ...options.env },
        stdio: [options.stdin ?? "ignore", "pipe", "pipe"]
      })
    ),
    (child) => Effect.sync(() => child.exitCode === null && child.kill("SIGINT"))
  )

/** Collects a child's stdout and resolves with the first match of `pattern` in it. */
export const waitForOutput = (child: ChildProcess.ChildProcess, pattern: RegExp) =>
  Effect.async<RegExpExecArray>((resume) => {
    let output = ""
    const onData = (data: Buffer) => {
      output += data.toString()
      const match = pattern.exec(output)
      if (match !== null) {
        child.stdout!.off("data", onData)
        resume(Effect.succeed(match))
      }
    }
    child.stdout!.on("data", onData)
  })

/** The child's exit code (a signal counts as -1). */
export const exitCode = (child: ChildProcess.ChildProcess) =>
  Effect.async<number>((resume) => {
    if (child.exitCode !== null) return resume(Effect.succeed(child.exitCode))
    child.once("exit", (code) => resume(Effect.succeed(code ?? -1)))
  })
