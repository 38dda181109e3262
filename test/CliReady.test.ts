/**
 * `forward --ready-json`'s file, in process: checked before any session, written whole with mode 0600 and removed
 * when the command's scope closes (only if it is still the file written), and a failure is a `CliError`.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { isCliError } from "../src/cli/error.js"
import { checkReadyDestination, readyLine, removeReadyOnExit, writeReady } from "../src/cli/ready.js"

const tempDir = Effect.acquireRelease(
  Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "ssm-ready-"))),
  (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
)

describe("the readiness file", () => {
  it.effect("a destination whose directory does not exist is InvalidOptions; stdout and none pass", () =>
    Effect.gen(function*() {
      yield* checkReadyDestination(undefined)
      yield* checkReadyDestination("-")
      const error = yield* Effect.flip(checkReadyDestination("/nonexistent-ssm-dir/ready.json"))
      assert.isTrue(isCliError(error))
      assert.strictEqual(error.reason, "InvalidOptions")
      assert.strictEqual(error.message, "--ready-json /nonexistent-ssm-dir/ready.json: the directory /nonexistent-ssm-dir does not exist")
    }))

  it.scoped("written whole with mode 0600, nothing else left in the directory, removed when the scope closes", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const file = Path.join(dir, "ready.json")
      const line = readyLine([{
        address: { _tag: "Tcp", host: "127.0.0.1", port: 5432 },
        target: "i-1",
        host: "db",
        portNumber: 5432,
        sessionId: "s-1"
      }])
      yield* Effect.scoped(Effect.gen(function*() {
        yield* removeReadyOnExit
        yield* writeReady(file, line)
        assert.strictEqual(Fs.readFileSync(file, "utf8"), `${line}\n`)
        assert.strictEqual(Fs.statSync(file).mode & 0o777, 0o600)
        assert.deepStrictEqual(Fs.readdirSync(dir), ["ready.json"])
        assert.deepStrictEqual(JSON.parse(line), {
          mappings: [{ local: "127.0.0.1:5432", remote: "db:5432", target: "i-1", sessionId: "s-1" }]
        })
      }))
      assert.isFalse(Fs.existsSync(file))
    }))

  it.scoped("a file put in its place after writing is not removed; a file that cannot be written is ReadyFile", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const file = Path.join(dir, "ready.json")
      yield* Effect.scoped(Effect.gen(function*() {
        yield* removeReadyOnExit
        yield* writeReady(file, "{}")
        Fs.rmSync(file)
        Fs.writeFileSync(file, "someone else's")
      }))
      assert.strictEqual(Fs.readFileSync(file, "utf8"), "someone else's")
      const error = yield* Effect.flip(writeReady(Path.join(dir, "missing", "ready.json"), "{}"))
      assert.isTrue(isCliError(error))
      assert.strictEqual(error.reason, "ReadyFile")
      assert.match(error.message, /^--ready-json .*missing\/ready\.json: ENOENT/)
    }))
})
