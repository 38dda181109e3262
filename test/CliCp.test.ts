/**
 * `cp` as a real process against `--simulator` (the "instance" is this machine): both ways, by name, `-` for
 * stdin and stdout, one stderr line on failure, and Ctrl-C mid-copy (exit 130, no temp left on either end).
 */
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { formatProgress, formatSize, parseLocation } from "../src/cli/cp.js"
import type * as ChildProcess from "node:child_process"
import { collectOutput, spawnCli } from "./utils/cli.js"

const made: Array<string> = []
const tempDir = () => {
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "ssm-cp-cli-"))
  made.push(dir)
  return dir
}
afterAll(() => {
  for (const dir of made) Fs.rmSync(dir, { recursive: true, force: true })
})
/** stderr without the lines a slow StartSession adds (said once a wait takes a second) */
const errorLines = (stderr: string) =>
  stderr.split("\n").filter((line) => line !== "" && !/^(Starting a session|Opening the data channel)/.test(line))
/** the child's exit code once its stdout and stderr are closed too (all they said has been collected) */
const exitCode = (child: ChildProcess.ChildProcess) =>
  Effect.async<number>((resume) => {
    if (child.exitCode !== null && child.stdout?.readableEnded !== false && child.stderr?.readableEnded !== false) {
      return resume(Effect.succeed(child.exitCode))
    }
    child.once("close", (code) => resume(Effect.succeed(code ?? -1)))
  })
/** polls `check` every 20 ms until it holds or `millis` pass */
const until = (check: () => boolean, millis: number) =>
  Effect.gen(function*() {
    const deadline = Date.now() + millis
    while (!check()) {
      if (Date.now() > deadline) return false
      yield* Effect.sleep("20 millis")
    }
    return true
  })

describe("cp arguments", () => {
  it("reads target:path as scp does", () => {
    assert.deepStrictEqual(parseLocation("i-0123:/tmp/x"), { _tag: "Remote", target: "i-0123", path: "/tmp/x" })
    assert.deepStrictEqual(parseLocation("web-1:rel/x"), { _tag: "Remote", target: "web-1", path: "rel/x" })
    assert.deepStrictEqual(parseLocation("web-1:"), { _tag: "Remote", target: "web-1", path: "." })
    assert.deepStrictEqual(parseLocation(":/x"), { _tag: "Remote", target: "", path: "/x" })
    assert.deepStrictEqual(parseLocation("./a:b"), { _tag: "Local", path: "./a:b" })
    assert.deepStrictEqual(parseLocation("/tmp/a:b"), { _tag: "Local", path: "/tmp/a:b" })
    assert.deepStrictEqual(parseLocation("-"), { _tag: "Local", path: "-" })
    assert.deepStrictEqual(parseLocation("file"), { _tag: "Local", path: "file" })
  })

  it("formats progress: bytes, percent, bar, rate, ETA, within the width", () => {
    assert.strictEqual(formatSize(512), "512 B")
    assert.strictEqual(formatSize(1536), "1.5 KiB")
    assert.strictEqual(formatSize(64 * 1024 * 1024), "64.0 MiB")
    const line = formatProgress({ transferred: 16 * 1024 * 1024, total: 64 * 1024 * 1024 }, 16, 80)
    assert.isAtMost(line.length, 80)
    assert.match(line, /^16\.0 MiB \/ 64\.0 MiB {2} 25% \[#+\.+\] 1\.0 MiB\/s {2}ETA 0:48$/)
    assert.strictEqual(formatProgress({ transferred: 0, total: 0 }, 0, 60).includes("100%"), true)
    assert.match(formatProgress({ transferred: 2048, total: undefined }, 2, 60), /^2\.0 KiB {2}1\.0 KiB\/s$/)
  })
})

describe("cp through --simulator", () => {
  it.live("a file both ways by the instance's name, every byte value, the mode kept; - for stdin and stdout", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      const bytes = new Uint8Array(70_000)
      for (let i = 0; i < bytes.length; i++) bytes[i] = i % 256
      bytes.set([0xe2, 0x82], bytes.length - 2)
      Fs.writeFileSync(Path.join(dir, "a"), bytes, { mode: 0o751 })
      Fs.mkdirSync(Path.join(dir, "remote"))
      const up = yield* spawnCli("main", ["cp", "--simulator", Path.join(dir, "a"), `simulated:${Path.join(dir, "remote")}`])
      const upOutput = collectOutput(up)
      assert.strictEqual(yield* exitCode(up), 0, upOutput.stderr())
      assert.strictEqual(upOutput.stdout(), "")
      assert.deepStrictEqual(new Uint8Array(Fs.readFileSync(Path.join(dir, "remote", "a"))), bytes)
      assert.strictEqual(Fs.statSync(Path.join(dir, "remote", "a")).mode & 0o777, 0o751)
      const down = yield* spawnCli("main", ["cp", "--simulator", `i-simulated:${Path.join(dir, "remote", "a")}`, Path.join(dir, "b")])
      assert.strictEqual(yield* exitCode(down), 0)
      assert.deepStrictEqual(new Uint8Array(Fs.readFileSync(Path.join(dir, "b"))), bytes)
      assert.strictEqual(Fs.statSync(Path.join(dir, "b")).mode & 0o777, 0o751)
      // - : stdout
      const toStdout = yield* spawnCli("main", ["cp", "--simulator", `:${Path.join(dir, "b")}`, "-"])
      const chunks: Array<Buffer> = []
      toStdout.stdout!.on("data", (data: Buffer) => chunks.push(data))
      assert.strictEqual(yield* exitCode(toStdout), 0)
      assert.deepStrictEqual(new Uint8Array(Buffer.concat(chunks)), bytes)
      // - : stdin
      const fromStdin = yield* spawnCli("main", ["cp", "--simulator", "-", `:${Path.join(dir, "c")}`], { stdin: "pipe" })
      fromStdin.stdin!.end(Buffer.from(bytes))
      assert.strictEqual(yield* exitCode(fromStdin), 0)
      assert.deepStrictEqual(new Uint8Array(Fs.readFileSync(Path.join(dir, "c"))), bytes)
      assert.deepStrictEqual(Fs.readdirSync(dir).sort(), ["a", "b", "c", "remote"])
    }).pipe(Effect.scoped), 120_000)

  it.live("a failure: a non-zero exit and one stderr line saying what happened", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      const missing = yield* spawnCli("main", ["cp", "--simulator", `:${Path.join(dir, "nope")}`, Path.join(dir, "x")])
      const output = collectOutput(missing)
      assert.strictEqual(yield* exitCode(missing), 1)
      assert.deepStrictEqual(errorLines(output.stderr()), [
        `ssm-session-manager: NotFound: no such file or directory ${Path.join(dir, "nope")} on the instance`
      ])
      const local = yield* spawnCli("main", ["cp", "--simulator", Path.join(dir, "x"), Path.join(dir, "y")])
      const localOutput = collectOutput(local)
      assert.strictEqual(yield* exitCode(local), 1)
      assert.strictEqual(errorLines(localOutput.stderr()).length, 1)
      assert.match(localOutput.stderr(), /one of SOURCE and DESTINATION must be target:path/)
      assert.deepStrictEqual(Fs.readdirSync(dir), [])
    }).pipe(Effect.scoped), 60_000)

  it.live("Ctrl-C mid-copy, either way: exit 130, one line, no temp and no final file on either end", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      // at the service's pace (1000 messages of 1 KiB a second) 6 MiB takes several seconds
      Fs.writeFileSync(Path.join(dir, "big"), Crypto.randomBytes(6 * 1024 * 1024))
      for (const direction of ["download", "upload"] as const) {
        const target = Path.join(dir, `${direction}ed`)
        const child = yield* spawnCli("main", direction === "download"
          ? ["cp", "--simulator", `:${Path.join(dir, "big")}`, target]
          : ["cp", "--simulator", Path.join(dir, "big"), `:${target}`])
        const output = collectOutput(child)
        // the temp beside the destination holds some bytes: the copy is under way
        const started = yield* until(() =>
          Fs.readdirSync(dir).some((name) =>
            name.startsWith(`.${direction}ed.ssm-cp-`) && Fs.statSync(Path.join(dir, name)).size > 100_000
          ), 60_000)
        assert.isTrue(started, output.stderr())
        child.kill("SIGINT")
        assert.strictEqual(yield* exitCode(child), 130, output.stderr())
        assert.deepStrictEqual(errorLines(output.stderr()), [
          "ssm-session-manager: cp interrupted: the partial copy was removed on both ends (exit 130)"
        ])
        // the remote temp goes with the remote script's SIGINT trap (before the session closes)
        assert.isTrue(yield* until(() => Fs.readdirSync(dir).length === 1, 10_000), Fs.readdirSync(dir).join(" "))
        assert.deepStrictEqual(Fs.readdirSync(dir), ["big"])
      }
    }).pipe(Effect.scoped), 180_000)
})
