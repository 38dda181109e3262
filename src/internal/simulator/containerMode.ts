/**
 * The agent's ContainerMode (ECS Exec: `appConfig.Agent.ContainerMode`), as `session/shell/shell_unix.go`
 * StartCommandExecutor runs an InteractiveCommands command there: split by google/shlex (`shlex.ts`) and exec'd as
 * argv (`exec.Command(commands[0], commands[1:]...)`), no `sh -c`, with the agent's environment (in a container:
 * the container's) plus `TERM=xterm-256color`, `LANG=C.UTF-8` when LANG is unset, and `HOME=/root` only with
 * runAsElevated (no RunAs user in ContainerMode). `launch` says what the agent would start, or why it cannot.
 *
 * @internal
 */
import * as Either from "effect/Either"
import * as Fs from "node:fs"
import * as Path from "node:path"
import type { ShellConfig } from "./shellProperties.js"
import * as Shlex from "./shlex.js"

/** What StartCommandExecutor starts: the program's path and the argv, or why it cannot (the agent's error text). */
export type Launch =
  | { readonly _tag: "Start"; readonly path: string; readonly argv: readonly [string, ...Array<string>] }
  | { readonly _tag: "Fail"; readonly error: string }
  /** no words (a command of comments only): `commands[0]` panics and the agent's session worker exits */
  | { readonly _tag: "Panic" }

/** StartCommandExecutor's environment in ContainerMode (`cmd.Env = append(os.Environ(), termEnvVariable)` …). @internal */
export const containerEnv = (
  config: ShellConfig,
  environment: Readonly<Record<string, string>> | undefined
): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = { ...process.env, ...environment, TERM: "xterm-256color" }
  if (!env["LANG"]) env["LANG"] = "C.UTF-8"
  if (config.runAsElevated) env["HOME"] = "/root"
  return env
}

/** Go's `findExecutable` (os/exec, lp_unix.go): not a directory, some execute bit set. */
const executable = (file: string): NodeJS.ErrnoException | undefined => {
  try {
    const stat = Fs.statSync(file)
    if (!stat.isDirectory() && (stat.mode & 0o111) !== 0) return undefined
    return Object.assign(new Error("permission denied"), { code: "EACCES" })
  } catch (error) {
    return error as NodeJS.ErrnoException
  }
}

/**
 * Go's `exec.LookPath` (lp_unix.go) over `env`'s PATH (the agent's own PATH is the container's): a name with a `/`
 * as it is (then Start's fork/exec error when it cannot run), else the first executable `<dir>/<name>`; an empty
 * dir is `.`, and a relative result is ErrDot.
 */
const lookPath = (name: string, env: NodeJS.ProcessEnv): Either.Either<string, string> => {
  if (name.includes("/")) {
    const failed = executable(name)
    // exec.Command does not look a path up: Start's fork/exec fails on it
    return failed === undefined ? Either.right(name) : Either.left(`fork/exec ${name}: ${goErrno(failed)}`)
  }
  for (const entry of (env["PATH"] ?? "").split(":")) {
    const candidate = Path.join(entry === "" ? "." : entry, name)
    if (executable(candidate) !== undefined) continue
    return Path.isAbsolute(candidate)
      ? Either.right(candidate)
      : Either.left(`exec: ${JSON.stringify(name)}: cannot run executable found relative to current directory`)
  }
  return Either.left(`exec: ${JSON.stringify(name)}: executable file not found in $PATH`)
}

const goErrno = (error: NodeJS.ErrnoException) =>
  error.code === "ENOENT" ? "no such file or directory" : error.code === "EACCES" ? "permission denied" : error.message

/**
 * Whether execve would take the file: an ELF binary or a `#!` script (Linux's own formats); anything else is
 * ENOEXEC, which Go's fork/exec reports (it does not fall back to `sh` as execvp does).
 */
const execFormat = (path: string): boolean => {
  try {
    const fd = Fs.openSync(path, "r")
    try {
      const head = Buffer.alloc(4)
      const read = Fs.readSync(fd, head, 0, 4, 0)
      return (read >= 2 && head[0] === 0x23 && head[1] === 0x21) ||
        (read === 4 && head.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46])))
    } finally {
      Fs.closeSync(fd)
    }
  } catch {
    return false
  }
}

/**
 * What StartCommandExecutor does with `commands` in ContainerMode: `shlex.Split` (an error fails it, "Failed to
 * parse commands input: …"), then `exec.Command` and creack/pty's `pty.Start`, whose `cmd.Start` fails for a
 * program LookPath does not find, an argument holding NUL, or a file execve refuses ("Failed to start pty: …").
 * @internal
 */
export const launch = (commands: string, env: NodeJS.ProcessEnv): Launch => {
  const words = Shlex.split(commands)
  if (Either.isLeft(words)) return { _tag: "Fail", error: `Failed to parse commands input: ${words.left}\n` }
  if (words.right.length === 0) return { _tag: "Panic" }
  const argv = words.right as [string, ...Array<string>]
  const path = lookPath(argv[0], env)
  if (Either.isLeft(path)) return { _tag: "Fail", error: `Failed to start pty: ${path.left}\n` }
  if (argv.some((word) => word.includes("\u0000"))) {
    return { _tag: "Fail", error: `Failed to start pty: fork/exec ${path.right}: invalid argument\n` }
  }
  if (!execFormat(path.right)) {
    return { _tag: "Fail", error: `Failed to start pty: fork/exec ${path.right}: exec format error\n` }
  }
  return { _tag: "Start", path: path.right, argv }
}
