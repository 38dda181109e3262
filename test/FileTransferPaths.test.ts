/**
 * Paths as people type them: a directory with a trailing slash, and one whose name starts with `-` (which the
 * remote scripts must not hand to `tar`, `stat` or `mv` as an option).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as AgentSimulator from "../src/AgentSimulator.js"
import * as NodeFileTransfer from "../src/NodeFileTransfer.js"

const scratch = Effect.acquireRelease(
  Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "ssm-cp-paths-"))),
  (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
)

describe("cp paths", () => {
  it.scopedLive("-r from `dir/` (a trailing slash) and a file named -x: copied, nothing left beside them", () =>
    Effect.gen(function*() {
      const dir = yield* scratch
      const tree = Path.join(dir, "-tree")
      Fs.mkdirSync(Path.join(tree, "sub"), { recursive: true })
      Fs.writeFileSync(Path.join(tree, "sub", "-x"), "dash\n")
      const back = Path.join(dir, "back")
      Fs.mkdirSync(back)
      const down = yield* NodeFileTransfer.download({
        target: "i-simulated",
        remotePath: `${tree}/`,
        localPath: back,
        recursive: true
      })
      assert.strictEqual(Fs.readFileSync(Path.join(back, "-tree", "sub", "-x"), "utf8"), "dash\n")
      assert.isString(down.sha256)
      const file = yield* NodeFileTransfer.download({
        target: "i-simulated",
        remotePath: Path.join(tree, "sub", "-x"),
        localPath: Path.join(dir, "x-copy")
      })
      assert.strictEqual(Fs.readFileSync(file.localPath, "utf8"), "dash\n")
      assert.deepStrictEqual(Fs.readdirSync(dir).sort(), ["-tree", "back", "x-copy"])
    }).pipe(Effect.provide(AgentSimulator.layerAll({ messagesPerSecond: 0 }))), 60_000)
})
