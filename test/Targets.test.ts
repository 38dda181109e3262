/**
 * Targets by name: `SsmApi.resolveTarget` over DescribeInstanceInformation, through the SDK against the simulator's
 * HTTP API (the wire form, pages included) and through its in-process SsmApi; and the CLI's `--target <name>`.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import type * as AgentSimulator from "../src/AgentSimulator.js"
import * as SsmApi from "../src/SsmApi.js"
import { simulatedAwsLayer, simulatedAwsOverHttp } from "./utils/aws.js"
import { exitCode, spawnCli, waitForOutput } from "./utils/cli.js"
import { echoServer } from "./utils/tcp.js"

const instances: ReadonlyArray<AgentSimulator.SimulatedInstance> = [
  { instanceId: "i-0aaaaaaaaaaaaaaa1", tags: { Name: "web", Team: "blue" }, computerName: "ip-10-0-0-1", ipAddress: "10.0.0.1" },
  { instanceId: "i-0aaaaaaaaaaaaaaa2", tags: { Name: "web", Team: "red" }, computerName: "ip-10-0-0-2", ipAddress: "10.0.0.2" },
  { instanceId: "i-0bbbbbbbbbbbbbbb1", tags: { Name: "db" }, computerName: "ip-10-0-1-1", ipAddress: "10.0.1.1" },
  { instanceId: "i-0ccccccccccccccc1", tags: { Name: "batch" }, pingStatus: "ConnectionLost", ipAddress: "10.0.2.1" },
  { instanceId: "mi-0ddddddddddddddd1", tags: { Name: "rack-7" } },
  // more than two pages of 50
  ...Array.from({ length: 120 }, (_, i) => ({ instanceId: `i-0f${String(i).padStart(15, "0")}`, tags: { Name: "fleet" } }))
]

/** SsmApi through the SDK against the simulator's HTTP API. */
const viaSdk: Layer.Layer<SsmApi.SsmApi, unknown> = Layer.unwrapScoped(Effect.map(simulatedAwsOverHttp({ instances }), (aws) => aws.layer))

/** SsmApi answered in process by the simulator. */
const inProcess: Layer.Layer<SsmApi.SsmApi, unknown> = simulatedAwsLayer({ instances })

describe("SsmApi.resolveTarget", () => {
  it("reads ids, names and tags as the CLI's --target", () => {
    assert.deepStrictEqual(SsmApi.targetQuery("i-0123456789abcdef0"), { _tag: "Id", id: "i-0123456789abcdef0" })
    assert.deepStrictEqual(SsmApi.targetQuery("mi-0123456789abcdef0"), { _tag: "Id", id: "mi-0123456789abcdef0" })
    assert.deepStrictEqual(SsmApi.targetQuery("ecs:cluster_task_runtime"), { _tag: "Id", id: "ecs:cluster_task_runtime" })
    assert.deepStrictEqual(SsmApi.targetQuery("web"), { _tag: "Tag", key: "Name", value: "web" })
    assert.deepStrictEqual(SsmApi.targetQuery("name:i-like-this"), { _tag: "Tag", key: "Name", value: "i-like-this" })
    assert.deepStrictEqual(SsmApi.targetQuery("tag:Team=blue"), { _tag: "Tag", key: "Team", value: "blue" })
    assert.deepStrictEqual(SsmApi.targetQuery("tag:Env=a=b"), { _tag: "Tag", key: "Env", value: "a=b" })
  })

  for (const [how, layer] of [["the SDK over the simulator's HTTP API", viaSdk], ["the simulator in process", inProcess]] as const) {
    it.scopedLive(`through ${how}: one online match, an ambiguous name, an offline node, no node`, () =>
      Effect.gen(function*() {
        assert.strictEqual(yield* SsmApi.resolveTarget("db"), "i-0bbbbbbbbbbbbbbb1")
        assert.strictEqual(yield* SsmApi.resolveTarget("tag:Team=red"), "i-0aaaaaaaaaaaaaaa2")
        assert.strictEqual(yield* SsmApi.resolveTarget("rack-7"), "mi-0ddddddddddddddd1")

        const ambiguous = yield* Effect.flip(SsmApi.resolveTarget("web"))
        assert.strictEqual(ambiguous.reason, "AmbiguousTarget")
        assert.strictEqual(ambiguous.operation, "DescribeInstanceInformation")
        assert.strictEqual(
          ambiguous.detail,
          "2 online managed nodes have tag Name=web: i-0aaaaaaaaaaaaaaa1 ip-10-0-0-1 10.0.0.1, " +
            "i-0aaaaaaaaaaaaaaa2 ip-10-0-0-2 10.0.0.2; name one by its id"
        )
        const fleet = yield* Effect.flip(SsmApi.resolveTarget("fleet"))
        assert.match(fleet.detail, /^120 online managed nodes have tag Name=fleet: i-0f000000000000000, .*, i-0f000000000000119; name one by its id$/)
        const offline = yield* Effect.flip(SsmApi.resolveTarget("batch"))
        assert.strictEqual(offline.reason, "TargetNotFound")
        assert.strictEqual(offline.detail, "no managed node with tag Name=batch is online (i-0ccccccccccccccc1 10.0.2.1 ConnectionLost)")
        const missing = yield* Effect.flip(SsmApi.resolveTarget("nothing-by-this-name"))
        assert.strictEqual(missing.reason, "TargetNotFound")
        assert.strictEqual(missing.detail, "no managed node with tag Name=nothing-by-this-name")
        // an id is never looked up: it resolves even where no node has it
        assert.strictEqual(yield* SsmApi.resolveTarget("i-0ffffffffffffffff"), "i-0ffffffffffffffff")
      }).pipe(Effect.provide(layer)))
  }

  it.scopedLive("an SsmApi without describeInstanceInformation: names are an error, ids still work", () =>
    Effect.gen(function*() {
      const bare: SsmApi.SsmApi = {
        startSession: () => Effect.die("unused"),
        resumeSession: () => Effect.die("unused"),
        terminateSession: () => Effect.die("unused")
      }
      const provided = Effect.provideService(SsmApi.SsmApi, bare)
      assert.strictEqual(yield* provided(SsmApi.resolveTarget("i-1")), "i-1")
      const error = yield* Effect.flip(provided(SsmApi.resolveTarget("web")))
      assert.include(error.detail, "cannot look names up")
    }))

  it.scopedLive("the CLI: --target by name says which node it is, on stderr, and forwards to it", () =>
    Effect.gen(function*() {
      const destination = yield* echoServer
      const child = yield* spawnCli("main", ["forward", "--simulator", "--target", "simulated", "-L", `0:${destination}`])
      let stderr = ""
      child.stderr!.on("data", (data: Buffer) => (stderr += data.toString()))
      yield* waitForOutput(child, /Waiting for connections/, "stderr")
      assert.include(stderr.split("\n"), "Target simulated is i-simulated.")
      child.kill("SIGINT")
      assert.strictEqual(yield* exitCode(child), 0)

      const unknown = yield* spawnCli("main", ["forward", "--simulator", "--target", "tag:Team=none", "-L", `0:${destination}`])
      let unknownErr = ""
      unknown.stderr!.on("data", (data: Buffer) => (unknownErr += data.toString()))
      assert.strictEqual(yield* exitCode(unknown), 1)
      assert.include(unknownErr, "no managed node with tag Team=none")
      assert.notInclude(unknownErr, "Starting a session")
    }), 60_000)
})
