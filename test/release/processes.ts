/**
 * Installed bins as real processes on a chosen Node: the Node's directory first on the PATH, so that
 * `#!/usr/bin/env node` (the bins, npx, and the plugin script's own Node) finds it.
 */
import { Effect } from "effect"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Path from "node:path"

/** A running bin: its output so far, and its exit. */
export interface Running {
  readonly child: ChildProcess.ChildProcess
  readonly stdout: () => string
  readonly stderr: () => string
  /** resolves with the exit code once the process exited and its output streams closed (a signal: -1) */
  readonly exit: Effect.Effect<number>
  /** the first match of `pattern` in stdout (or stderr, or either), within `seconds` */
  readonly waitFor: (
    pattern: RegExp,
    stream?: "stdout" | "stderr" | "either",
    seconds?: number
  ) => Effect.Effect<RegExpExecArray, Error>
}

/** The PATH with `node`'s directory first. */
export const pathFor = (node: string) => `${Path.dirname(node)}${Path.delimiter}${process.env["PATH"] ?? ""}`

/** A bin's own: `node` first on the PATH, a home and a cache under `scratch` (made if missing). */
export const homeEnvironment = (node: string, scratch: string): Record<string, string> => {
  const home = Path.join(scratch, "home")
  Fs.mkdirSync(home, { recursive: true })
  return { PATH: pathFor(node), HOME: home, XDG_CACHE_HOME: Path.join(scratch, "cache") }
}

/**
 * `home` (a `homeEnvironment`) with what a bin needs to reach a simulator through the AWS SDK: `credentials`, and
 * `endpoint` as the SSM, KMS and ECS endpoints (`AWS_ENDPOINT_URL_<SERVICE>`; with `endpoints: "general"`, the one
 * `AWS_ENDPOINT_URL` for every service); no shared AWS config, no profile, no NODE_OPTIONS.
 */
export const sdkEnvironment = (
  home: Record<string, string>,
  credentials: { readonly accessKeyId: string; readonly secretAccessKey: string },
  endpoint: string,
  endpoints: "perService" | "general" = "perService"
): Record<string, string> => ({
  ...home,
  AWS_ACCESS_KEY_ID: credentials.accessKeyId,
  AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
  AWS_REGION: "us-east-1",
  ...(endpoints === "general"
    ? { AWS_ENDPOINT_URL: endpoint }
    : { AWS_ENDPOINT_URL_SSM: endpoint, AWS_ENDPOINT_URL_KMS: endpoint, AWS_ENDPOINT_URL_ECS: endpoint }),
  AWS_CONFIG_FILE: Path.join(home["HOME"]!, "no-config"),
  AWS_SHARED_CREDENTIALS_FILE: Path.join(home["HOME"]!, "no-credentials"),
  AWS_EC2_METADATA_DISABLED: "true",
  AWS_PROFILE: "",
  AWS_DEFAULT_PROFILE: "",
  NODE_OPTIONS: "",
  NO_COLOR: "1"
})

/**
 * Spawns `command` with `args` for the scope, with `env` over this process's environment; SIGKILL at the end of
 * the scope if it is still running.
 */
export const spawn = (
  command: string,
  args: ReadonlyArray<string>,
  env: Record<string, string>,
  options: { readonly stdin?: "pipe" | "ignore"; readonly cwd?: string } = {}
): Effect.Effect<Running, never, import("effect/Scope").Scope> =>
  Effect.acquireRelease(
    Effect.sync((): Running => {
      const child = ChildProcess.spawn(command, args, {
        env: { ...process.env, ...env },
        stdio: [options.stdin ?? "ignore", "pipe", "pipe"],
        ...(options.cwd === undefined ? {} : { cwd: options.cwd })
      })
      let stdout = ""
      let stderr = ""
      child.stdout!.on("data", (data: Buffer) => stdout += data.toString())
      child.stderr!.on("data", (data: Buffer) => stderr += data.toString())
      // a command that cannot start: its error in stderr, and exit code -2
      child.once("error", (error) => {
        stderr += `(spawn: ${error.message})`
        if (child.pid === undefined) child.emit("close", -2)
      })
      const closed = new Promise<number>((resolve) => child.once("close", (code) => resolve(code ?? -1)))
      const waitFor = (pattern: RegExp, stream: "stdout" | "stderr" | "either" = "stdout", seconds = 30) =>
        Effect.async<RegExpExecArray, Error>((resume) => {
          const check = () => {
            const match = stream === "either"
              ? pattern.exec(stdout) ?? pattern.exec(stderr)
              : pattern.exec(stream === "stdout" ? stdout : stderr)
            if (match === null) return false
            cleanup()
            resume(Effect.succeed(match))
            return true
          }
          const onExit = () =>
            setImmediate(() => {
              if (!check()) {
                cleanup()
                resume(Effect.fail(new Error(`exited (${child.exitCode}) before ${pattern}; stdout: ${stdout}; stderr: ${stderr}`)))
              }
            })
          const timer = setTimeout(() => {
            cleanup()
            resume(Effect.fail(new Error(`no ${pattern} within ${seconds} s; stdout: ${stdout}; stderr: ${stderr}`)))
          }, seconds * 1000)
          const onData = () => void check()
          const sources = stream === "either" ? [child.stdout!, child.stderr!] : [stream === "stdout" ? child.stdout! : child.stderr!]
          const cleanup = () => {
            clearTimeout(timer)
            for (const source of sources) source.off("data", onData)
            child.off("close", onExit)
          }
          // after this module's own listener, so that the text includes the chunk
          for (const source of sources) source.on("data", onData)
          child.once("close", onExit)
          check()
        })
      return {
        child,
        stdout: () => stdout,
        stderr: () => stderr,
        exit: Effect.promise(() => closed),
        waitFor
      }
    }),
    ({ child }) => Effect.sync(() => child.exitCode === null && child.signalCode === null && child.kill("SIGKILL"))
  )

/** Runs to the end (at most `seconds`): exit code, stdout and stderr. */
export const runToEnd = (
  command: string,
  args: ReadonlyArray<string>,
  env: Record<string, string>,
  options: { readonly input?: string | Uint8Array; readonly seconds?: number; readonly cwd?: string } = {}
) =>
  Effect.scoped(Effect.gen(function*() {
    const running = yield* spawn(command, args, env, {
      stdin: options.input === undefined ? "ignore" : "pipe",
      ...(options.cwd === undefined ? {} : { cwd: options.cwd })
    })
    if (options.input !== undefined) running.child.stdin!.end(options.input)
    const code = yield* running.exit.pipe(
      Effect.timeoutFail({
        duration: `${options.seconds ?? 30} seconds`,
        onTimeout: () =>
          new Error(`${Path.basename(command)} ${args.join(" ")}: still running after ${options.seconds ?? 30} s; ` +
            `stdout: ${running.stdout()}; stderr: ${running.stderr()}`)
      })
    )
    return { code, stdout: running.stdout(), stderr: running.stderr() }
  }))
