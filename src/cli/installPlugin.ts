/**
 * `install-plugin`: puts a `session-manager-plugin` on the PATH for those who want this implementation to serve
 * `aws ssm start-session`. Depending on the package never does that by itself.
 *
 * @since 0.2.0
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as ChildProcess from "node:child_process"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Url from "node:url"
import { CliError } from "./error.js"

/** The first line of the scripts this command writes: how it knows one of its own. */
const MARKER = "# session-manager-plugin from ssm-session-manager"

/**
 * V8's young generation capped at 2 MiB a semi-space (Node's default lets it grow to 16): a download allocates
 * fast, and the default young generation alone then holds some 40 MiB of the plugin's resident memory, for no
 * measurable CPU (bench/client.ts). And one collection, not a series, when the process goes idle: a CPU profile
 * of an idle tunnel is all V8's memory reducer (concurrent marking, evacuation, madvise), 0.42-0.47% of a core;
 * with a single collection it is 0.15-0.25%, for 5-6 MiB more resident (bench/client.ts, idle 40 s).
 *
 * The memory reducer's flag is V8's own and changes between Node versions (`--memory-reducer-single-gc` in Node
 * 20, `--memory-reducer-gc-count=1` from 22 on), and a Node given a flag its V8 lacks refuses to start, so the
 * flags are the ones the Node running this (the Node the script runs) lists in `node --v8-options`.
 *
 * @since 0.2.0
 * @category installing
 */
export const nodeFlags = (v8Options: string = listV8Options()): ReadonlyArray<string> => [
  "--max-semi-space-size=2",
  ...(/^\s*--memory-reducer-gc-count\b/m.test(v8Options)
    ? ["--memory-reducer-gc-count=1"]
    : /^\s*--memory-reducer-single-gc\b/m.test(v8Options)
    ? ["--memory-reducer-single-gc"]
    : [])
]

/** What `node --v8-options` prints for the Node running this, or nothing when it cannot be asked. */
const listV8Options = (): string => {
  const result = ChildProcess.spawnSync(process.execPath, ["--v8-options"], { encoding: "utf8", timeout: 10_000 })
  return typeof result.stdout === "string" ? result.stdout : ""
}

/**
 * The script: this Node running this package's plugin entry (its compiled form, or the TypeScript source
 * through tsx when the package runs from source), with `nodeFlags()`.
 *
 * @since 0.2.0
 * @category installing
 */
export const pluginScript = (): string => {
  const here = Url.fileURLToPath(import.meta.url)
  const fromSource = here.endsWith(".ts")
  const entry = Path.join(Path.dirname(here), fromSource ? "sessionManagerPlugin.ts" : "sessionManagerPlugin.js")
  const quote = (text: string) => `'${text.replaceAll("'", `'\\''`)}'`
  const flags = ` ${nodeFlags().join(" ")}${fromSource ? " --conditions=ssm-session-manager-source --import tsx" : ""}`
  return `#!/bin/sh\n${MARKER}\nexec ${quote(process.execPath)}${flags} ${quote(entry)} "$@"\n`
}

/** What is at the script's path now, seen without following a link. */
const existing = (target: string) => {
  try {
    const stat = Fs.lstatSync(target)
    if (stat.isSymbolicLink()) return { _tag: "Link" as const, to: Fs.readlinkSync(target) }
    if (!stat.isFile()) return { _tag: "NotAFile" as const }
    // O_NOFOLLOW: a link put there since the lstat is not read through
    const fd = Fs.openSync(target, Fs.constants.O_RDONLY | Fs.constants.O_NOFOLLOW)
    try {
      return { _tag: "File" as const, ours: Fs.readFileSync(fd, "utf8").includes(MARKER) }
    } finally {
      Fs.closeSync(fd)
    }
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === "ENOENT") return { _tag: "None" as const }
    throw cause
  }
}

/**
 * Writes `script` under a random temporary name in `target`'s directory, created with `wx` (O_CREAT|O_EXCL: never
 * through a link, never over a file already there), mode 0755, then renames it over `target`: a link at `target`
 * is itself replaced, the file it points to left as it is.
 */
const writeScript = (target: string, script: string) => {
  const temporary = Path.join(Path.dirname(target), `.session-manager-plugin.${Crypto.randomBytes(16).toString("hex")}.tmp`)
  const fd = Fs.openSync(temporary, "wx", 0o755)
  try {
    try {
      Fs.writeFileSync(fd, script)
      Fs.fchmodSync(fd, 0o755)
    } finally {
      Fs.closeSync(fd)
    }
    Fs.renameSync(temporary, target)
  } catch (cause) {
    Fs.rmSync(temporary, { force: true })
    throw cause
  }
}

/**
 * Writes the script as `<dir>/session-manager-plugin`; refuses to replace a file it did not write (AWS's plugin)
 * unless `force`. Never writes through a symbolic link there: without `force` it refuses (one that points to our
 * own script too: it may be a link another user planted), with `force` it replaces the link itself, leaving what
 * it points to untouched (`replacedLink`). Anything else there that is not a regular file (a directory) is
 * refused. Returns the path and whether `dir` is on the PATH.
 *
 * @since 0.2.0
 * @category installing
 */
export const install = (dir: string, force: boolean) =>
  Effect.try({
    try: () => {
      const target = Path.join(dir, "session-manager-plugin")
      const before = existing(target)
      if (before._tag === "NotAFile") return { _tag: "NotAFile" as const, target }
      if (before._tag === "Link" && !force) return { _tag: "Link" as const, target, to: before.to }
      if (before._tag === "File" && !before.ours && !force) return { _tag: "Exists" as const, target }
      Fs.mkdirSync(dir, { recursive: true })
      writeScript(target, pluginScript())
      const onPath = (process.env["PATH"] ?? "").split(Path.delimiter).some((entry) => Path.resolve(entry) === Path.resolve(dir))
      return { _tag: "Written" as const, target, onPath, replacedLink: before._tag === "Link" ? before.to : undefined }
    },
    catch: (cause) => new CliError({ reason: "PluginWrite", detail: `could not write the plugin: ${String(cause)}` })
  }).pipe(Effect.flatMap((result) =>
    result._tag === "Exists"
      ? Effect.fail(
        new CliError({
          reason: "PluginExists",
          detail: `${result.target} exists and is not ours (AWS's plugin?): --force replaces it`
        })
      )
      : result._tag === "Link"
      ? Effect.fail(
        new CliError({
          reason: "PluginLink",
          detail: `${result.target} is a symbolic link (to ${result.to}): not writing through it; --force replaces ` +
            `the link itself, leaving ${result.to} as it is`
        })
      )
      : result._tag === "NotAFile"
      ? Effect.fail(
        new CliError({
          reason: "PluginNotAFile",
          detail: `${result.target} exists and is not a regular file: not replacing it`
        })
      )
      : Effect.succeed(result)
  ))

/**
 * @since 0.2.0
 * @category commands
 */
export const installPlugin = Command.make(
  "install-plugin",
  {
    dir: Options.text("dir").pipe(
      Options.withDescription("where to put session-manager-plugin (default ~/.local/bin)"),
      Options.withDefault(Path.join(Os.homedir(), ".local", "bin"))
    ),
    force: Options.boolean("force").pipe(
      Options.withDescription(
        "replace a session-manager-plugin that is not ours, or a symbolic link there (the link itself, never the file it points to)"
      )
    )
  },
  ({ dir, force }) =>
    Effect.gen(function*() {
      const result = yield* install(dir, force)
      if (result.replacedLink !== undefined) {
        yield* Console.error(`note: replaced the symbolic link ${result.target} itself; ${result.replacedLink} is untouched`)
      }
      yield* Console.log(`${result.target}: aws ssm start-session now runs ssm-session-manager's plugin`)
      if (!result.onPath) yield* Console.error(`note: ${dir} is not on your PATH`)
    })
).pipe(Command.withDescription("put a session-manager-plugin for the AWS CLI on the PATH (it is not installed otherwise)"))
