/**
 * `install-plugin`: puts a `session-manager-plugin` on the PATH for those who want this implementation to serve
 * `aws ssm start-session`. Depending on the package never does that by itself.
 *
 * @since 0.2.0
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Console from "effect/Console"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Url from "node:url"

/**
 * @since 0.2.0
 * @category errors
 */
export class InstallPluginError extends Data.TaggedError("InstallPluginError")<{
  readonly reason: "Exists" | "Write"
  readonly detail: string
}> {
  override get message(): string {
    return this.detail
  }
}

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

/**
 * Writes the script as `<dir>/session-manager-plugin`; refuses to replace a file it did not write (AWS's plugin)
 * unless `force`. Returns the path and whether `dir` is on the PATH.
 *
 * @since 0.2.0
 * @category installing
 */
export const install = (dir: string, force: boolean) =>
  Effect.try({
    try: () => {
      const target = Path.join(dir, "session-manager-plugin")
      if (Fs.existsSync(target) && !force && !Fs.readFileSync(target, "utf8").includes(MARKER)) {
        return { _tag: "Exists" as const, target }
      }
      Fs.mkdirSync(dir, { recursive: true })
      Fs.writeFileSync(target, pluginScript(), { mode: 0o755 })
      Fs.chmodSync(target, 0o755)
      const onPath = (process.env["PATH"] ?? "").split(Path.delimiter).some((entry) => Path.resolve(entry) === Path.resolve(dir))
      return { _tag: "Written" as const, target, onPath }
    },
    catch: (cause) => new InstallPluginError({ reason: "Write", detail: `could not write the plugin: ${String(cause)}` })
  }).pipe(Effect.flatMap((result) =>
    result._tag === "Exists"
      ? Effect.fail(
        new InstallPluginError({
          reason: "Exists",
          detail: `${result.target} exists and is not ours (AWS's plugin?): --force replaces it`
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
    force: Options.boolean("force").pipe(Options.withDescription("replace a session-manager-plugin that is not ours"))
  },
  ({ dir, force }) =>
    Effect.gen(function*() {
      const result = yield* install(dir, force)
      yield* Console.log(`${result.target}: aws ssm start-session now runs ssm-session-manager's plugin`)
      if (!result.onPath) yield* Console.error(`note: ${dir} is not on your PATH`)
    })
).pipe(Command.withDescription("put a session-manager-plugin for the AWS CLI on the PATH (it is not installed otherwise)"))
