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

/**
 * Collects a child's stdout (or stderr, or each of them) and resolves with the first match of `pattern` in it.
 * Reading a stream sets it flowing: collect it before, if its earlier output matters (`collectOutput`).
 */
export const waitForOutput = (
  child: ChildProcess.ChildProcess,
  pattern: RegExp,
  from: "stdout" | "stderr" | "either" = "stdout"
) =>
  Effect.async<RegExpExecArray>((resume) => {
    const streams = from === "either" ? [child.stdout!, child.stderr!] : [from === "stdout" ? child.stdout! : child.stderr!]
    const seen = new Map<NodeJS.ReadableStream, string>()
    const listeners = streams.map((stream) => {
      const onData = (data: Buffer) => {
        const output = (seen.get(stream) ?? "") + data.toString()
        seen.set(stream, output)
        const match = pattern.exec(output)
        if (match !== null) {
          streams.forEach((each, i) => each.off("data", listeners[i]!))
          resume(Effect.succeed(match))
        }
      }
      stream.on("data", onData)
      return onData
    })
  })

/** Everything a child writes to stdout and to stderr, so far, as text. */
export const collectOutput = (child: ChildProcess.ChildProcess) => {
  let stdout = ""
  let stderr = ""
  child.stdout!.on("data", (data: Buffer) => stdout += data.toString())
  child.stderr!.on("data", (data: Buffer) => stderr += data.toString())
  return { stdout: () => stdout, stderr: () => stderr }
}

/** The child's exit code (a signal counts as -1). */
export const exitCode = (child: ChildProcess.ChildProcess) =>
  Effect.async<number>((resume) => {
    if (child.exitCode !== null) return resume(Effect.succeed(child.exitCode))
    child.once("exit", (code) => resume(Effect.succeed(code ?? -1)))
  })
