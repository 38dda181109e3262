import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { PACKAGE_VERSION } from "../src/cli/run.js"
import { CLIENT_VERSION } from "../src/internal/channel/session.js"
import * as Version from "../src/internal/protocol/version.js"
import { collectOutput, exitCode, spawnCli } from "./utils/cli.js"

describe("version gates (AGENT-PROTOCOL.md section 18.2)", () => {
  it("the agent's comparison: the examples verified against versionutil.Compare", () => {
    const gt = (a: string, b: string) => Version.compareAgentStyle(a, b) > 0
    const eq = (a: string, b: string) => Version.compareAgentStyle(a, b) === 0
    assert.isTrue(gt("1.1.70.0", "1.1.70"))
    assert.isTrue(gt("1.2.295.0", "1.2.295"))
    assert.isTrue(gt("1.1.70", ""))
    assert.isTrue(gt("1.1.70", "0.0.1"))
    assert.isTrue(gt("1.2.331.0", "1.2.0.0"))
    assert.isTrue(gt("1.2.331.0", "1.2.0.0-gimlet"))
    assert.isTrue(gt("1.2.0.0-gimlet", "1.1.70"))
    assert.isTrue(eq("1.2.331.0", "1.2.331.0"))
    assert.isTrue(gt("1.2.694.0", "1.2.331.0"))
  })

  it("the client's comparison: same number of numeric parts, strictly greater", () => {
    assert.isTrue(Version.isGreaterThan("3.0.222.0", "3.0.196.0"))
    assert.isFalse(Version.isGreaterThan("3.0.196.0", "3.0.196.0"))
    assert.isFalse(Version.isGreaterThan("3.1", "3.0.196.0"))
    assert.isFalse(Version.isGreaterThan("3.2.0.0-beta", "3.0.196.0"))
    assert.isTrue(Version.isGreaterThan("3.1.1575.0", "3.1.1511.0"))
    assert.isTrue(Version.isGreaterThan("2.3.756.0", "2.3.722.0"))
  })
})

describe("--version of the command line", () => {
  const output = (bin: "main" | "sessionManagerPlugin", args: ReadonlyArray<string>) =>
    Effect.gen(function*() {
      const child = yield* spawnCli(bin, args)
      const collected = collectOutput(child)
      assert.strictEqual(yield* exitCode(child), 0)
      assert.strictEqual(collected.stderr(), "")
      return collected.stdout()
    })

  it.scopedLive("one line each, no blank line: the package's version, and the plugin's ClientVersion", () =>
    Effect.gen(function*() {
      assert.strictEqual(yield* output("main", ["--version"]), `${PACKAGE_VERSION}\n`)
      // read by a program (the AWS CLI), the plugin answers with its ClientVersion alone
      assert.strictEqual(yield* output("main", ["plugin", "--version"]), `${CLIENT_VERSION}\n`)
      assert.strictEqual(yield* output("sessionManagerPlugin", ["--version"]), `${CLIENT_VERSION}\n`)
    }), 60_000)
})
