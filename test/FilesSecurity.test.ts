/**
 * The files the command line writes, as real processes, against another user who plants links in the same
 * directory: `forward --ready-json FILE` (a random temporary name opened with O_EXCL, mode 0600, removed on exit)
 * and `install-plugin --dir D` (never through a link at `D/session-manager-plugin`).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import type * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { collectOutput, exitCode, spawnCli } from "./utils/cli.js"
import { pollUntil } from "./utils/poll.js"
import { echoServer } from "./utils/tcp.js"

/** A temporary directory for the scope. */
const tempDir = Effect.acquireRelease(
  Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "ssm-files-"))),
  (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
)

const exists = (path: string) => {
  try {
    Fs.lstatSync(path)
    return true
  } catch {
    return false
  }
}

describe("forward --ready-json FILE", () => {
  it.scopedLive("writes no file through a planted link, leaves a 0600 file, and removes it on Ctrl-C", () =>
    Effect.gen(function*() {
      const destination = yield* echoServer
      const dir = yield* tempDir
      const file = Path.join(dir, "ready.json")
      const victim = Path.join(dir, "victim")
      Fs.writeFileSync(victim, "the victim's own\n")
      // a link where the file goes: replaced, not followed
      Fs.symlinkSync(victim, file)
      const child = yield* spawnCli("main", ["forward", "--simulator", "-L", `0:${destination}`, "--ready-json", file])
      const output = collectOutput(child)
      // the names the launcher used to use (FILE.<pid>.tmp), planted before it writes
      for (const name of [`${file}.${child.pid}.tmp`, `${file}.tmp`, `${file}~`]) Fs.symlinkSync(victim, name)
      yield* pollUntil(
        Effect.sync(() => Fs.lstatSync(file).isFile()),
        (isFile) => isFile,
        { every: "50 millis", times: 400, what: `the readiness file (${output.stderr()})` }
      )
      assert.strictEqual(Fs.readFileSync(victim, "utf8"), "the victim's own\n")
      const stat = Fs.lstatSync(file)
      assert.strictEqual(stat.mode & 0o777, 0o600)
      const ready = JSON.parse(Fs.readFileSync(file, "utf8")) as { readonly mappings: ReadonlyArray<{ readonly remote: string }> }
      assert.strictEqual(ready.mappings[0]!.remote, `localhost:${destination}`)
      // no temporary file left beside it, the planted links untouched
      assert.deepStrictEqual(
        Fs.readdirSync(dir).sort(),
        ["ready.json", `ready.json.${child.pid}.tmp`, "ready.json.tmp", "ready.json~", "victim"].sort()
      )
      child.kill("SIGINT")
      assert.strictEqual(yield* exitCode(child), 0, output.stderr())
      assert.isFalse(exists(file))
      assert.strictEqual(Fs.readFileSync(victim, "utf8"), "the victim's own\n")
    }), 60_000)

  it.scopedLive("a readiness file replaced by someone else is not removed on exit", () =>
    Effect.gen(function*() {
      const destination = yield* echoServer
      const dir = yield* tempDir
      const file = Path.join(dir, "ready.json")
      const child = yield* spawnCli("main", ["forward", "--simulator", "-L", `0:${destination}`, "--ready-json", file])
      const output = collectOutput(child)
      yield* pollUntil(Effect.sync(() => exists(file)), (found) => found, {
        every: "50 millis",
        times: 400,
        what: `the readiness file (${output.stderr()})`
      })
      Fs.rmSync(file)
      Fs.writeFileSync(file, "someone else's\n")
      child.kill("SIGTERM")
      assert.strictEqual(yield* exitCode(child), 0, output.stderr())
      assert.strictEqual(Fs.readFileSync(file, "utf8"), "someone else's\n")
    }), 60_000)
})

/** A child's stdout and stderr once it exits, with its code. */
const outputs = (child: ChildProcess.ChildProcess) =>
  Effect.gen(function*() {
    const output = collectOutput(child)
    const code = yield* exitCode(child)
    yield* Effect.async<void>((resume) => {
      if (child.stderr!.readableEnded) return resume(Effect.void)
      child.stderr!.once("end", () => resume(Effect.void))
    })
    return { code, stdout: output.stdout(), stderr: output.stderr() }
  })

/**
 * A directory for the scope in which `session-manager-plugin` is a symbolic link to `victim`, a file of someone
 * else's that mentions the plugin script's marker.
 */
const plantedLink = Effect.gen(function*() {
  const dir = yield* tempDir
  const plugin = Path.join(dir, "session-manager-plugin")
  const victim = Path.join(dir, "victim")
  const victimText = "# session-manager-plugin from ssm-session-manager\nthe victim's own\n"
  Fs.writeFileSync(victim, victimText, { mode: 0o600 })
  Fs.symlinkSync(victim, plugin)
  return { dir, plugin, victim, victimText }
})

describe("install-plugin --dir D", () => {
  it.scopedLive("refuses, in one line, a symbolic link at D/session-manager-plugin (dangling or not) and a directory", () =>
    Effect.gen(function*() {
      const { dir, plugin, victim, victimText } = yield* plantedLink
      const linked = yield* outputs(yield* spawnCli("main", ["install-plugin", "--dir", dir]))
      assert.strictEqual(linked.code, 1, linked.stderr)
      assert.match(linked.stderr.trim(), /session-manager-plugin is a symbolic link \(to .*victim\): not writing through it; --force replaces the link itself/)
      assert.strictEqual(linked.stderr.trim().split("\n").length, 1, linked.stderr)
      assert.strictEqual(Fs.readFileSync(victim, "utf8"), victimText)
      assert.strictEqual(Fs.statSync(victim).mode & 0o777, 0o600)
      assert.isTrue(Fs.lstatSync(plugin).isSymbolicLink())

      // a dangling link: nothing created where it points
      Fs.rmSync(plugin)
      const nowhere = Path.join(dir, "nowhere")
      Fs.symlinkSync(nowhere, plugin)
      const dangling = yield* outputs(yield* spawnCli("main", ["install-plugin", "--dir", dir]))
      assert.strictEqual(dangling.code, 1, dangling.stderr)
      assert.match(dangling.stderr, /is a symbolic link \(to .*nowhere\): not writing through it/)
      assert.isFalse(exists(nowhere))

      // a directory
      Fs.rmSync(plugin)
      Fs.mkdirSync(plugin)
      const directory = yield* outputs(yield* spawnCli("main", ["install-plugin", "--dir", dir, "--force"]))
      assert.strictEqual(directory.code, 1, directory.stderr)
      assert.match(directory.stderr, /exists and is not a regular file: not replacing it/)
      // no temporary file left behind
      assert.deepStrictEqual(Fs.readdirSync(dir).sort(), ["session-manager-plugin", "victim"])
    }), 60_000)

  it.scopedLive("with --force, replaces the link itself, says so, and leaves the file it pointed to untouched", () =>
    Effect.gen(function*() {
      const { dir, plugin, victim, victimText } = yield* plantedLink
      const forced = yield* outputs(yield* spawnCli("main", ["install-plugin", "--dir", dir, "--force"]))
      assert.strictEqual(forced.code, 0, forced.stderr)
      assert.match(forced.stderr, /replaced the symbolic link .*session-manager-plugin itself; .*victim is untouched/)
      const stat = Fs.lstatSync(plugin)
      assert.isTrue(stat.isFile())
      assert.strictEqual(stat.mode & 0o777, 0o755)
      assert.include(Fs.readFileSync(plugin, "utf8"), "# session-manager-plugin from ssm-session-manager")
      assert.strictEqual(Fs.readFileSync(victim, "utf8"), victimText)
      assert.strictEqual(Fs.statSync(victim).mode & 0o777, 0o600)
      assert.deepStrictEqual(Fs.readdirSync(dir).sort(), ["session-manager-plugin", "victim"])
    }), 60_000)
})
