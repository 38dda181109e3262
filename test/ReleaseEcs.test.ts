/**
 * The release tests of ECS Exec: the installed package's bins (see Release.test.ts) run `ecs exec`, `ecs exec -i`,
 * `ecs cp`, `ecs forward` and the `session-manager-plugin` as `aws ecs execute-command` runs it, on each Node,
 * through the real AWS SDK (client-ecs, client-ssm, client-kms) to the simulator's HTTP API, which plays an ECS
 * cluster whose containers are processes on this machine. The endpoints come from the one `AWS_ENDPOINT_URL`, as
 * the AWS CLI reads it.
 */
import { ECSClient, ExecuteCommandCommand } from "@aws-sdk/client-ecs"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Path from "node:path"
import type * as AgentSimulator from "../src/AgentSimulator.js"
import { sdkCredentials } from "./utils/aws.js"
import { environment, installed as installedPackage, installPlugin, nodes, pluginArgs, simulator, text, versionOf } from "./release/harness.js"
import { runToEnd, spawn } from "./release/processes.js"
import { echoServer, roundTrip } from "./utils/tcp.js"

const installed = installedPackage()

const TASK = "0123456789abcdef0123456789abcdef"
const OTHER = "fedcba9876543210fedcba9876543210"
/** a cluster with a service of one task, a task run by hand, and a KMS-encrypted cluster */
const ecs: AgentSimulator.SimulatorOptions["ecs"] = {
  clusters: [
    { name: "prod", tasks: [{ taskId: TASK, service: "web", containers: [{ name: "app" }] }] },
    { name: "secure", kmsKeyId: "alias/ecs-exec", tasks: [{ taskId: OTHER, family: "job", containers: [{ name: "job" }] }] }
  ]
}
const web = ["--cluster", "prod", "--service", "web"]

describe.each(nodes.map((node, index) => ({ node, index, version: versionOf(node) })))(
  "ECS Exec from the installed package on Node $version",
  ({ index, node }) => {
    const bin = () => installed.bin
    /** the simulator as every AWS endpoint, through the one AWS_ENDPOINT_URL */
    const env = (sim: AgentSimulator.AgentSimulator) => environment(node, sim, "general")

    it.scopedLive("ecs exec: the command's exit code 3 (ECS's own client gives 0), stdout and stderr apart", () =>
      Effect.gen(function*() {
        const sim = yield* simulator({ ecs })
        const result = yield* runToEnd(bin(), ["ecs", "exec", ...web, "--", "sh", "-c", "echo out; echo err >&2; exit 3"], env(sim))
        assert.strictEqual(result.code, 3, result.stderr)
        assert.strictEqual(result.stdout, "out\n")
        assert.isTrue(result.stderr.endsWith("err\n"), result.stderr)
      }), 60_000)

    it.scopedLive("ecs exec -i: 1 MiB of stdin into sha256sum in the container", () =>
      Effect.gen(function*() {
        const sim = yield* simulator({ ecs })
        const input = Crypto.randomBytes(1024 * 1024)
        const result = yield* runToEnd(bin(), ["ecs", "exec", "-i", ...web, "--", "sha256sum"], env(sim), { input, seconds: 60 })
        assert.strictEqual(result.code, 0, result.stderr)
        assert.strictEqual(result.stdout, `${Crypto.createHash("sha256").update(input).digest("hex")}  -\n`)
      }), 90_000)

    it.scopedLive("ecs cp: a file into the container and back, the same bytes and mode", () =>
      Effect.gen(function*() {
        const sim = yield* simulator({ ecs })
        const dir = Fs.mkdtempSync(Path.join(installed.scratch, "ecs-cp-"))
        const data = Crypto.randomBytes(512 * 1024 + 5)
        Fs.writeFileSync(Path.join(dir, "local.bin"), data)
        Fs.chmodSync(Path.join(dir, "local.bin"), 0o600)
        const up = yield* runToEnd(bin(), ["ecs", "cp", ...web, Path.join(dir, "local.bin"), `:${Path.join(dir, "remote.bin")}`], env(sim), {
          seconds: 60
        })
        assert.strictEqual(up.code, 0, up.stderr)
        const down = yield* runToEnd(bin(), ["ecs", "cp", ...web, `app:${Path.join(dir, "remote.bin")}`, Path.join(dir, "back.bin")], env(sim), {
          seconds: 60
        })
        assert.strictEqual(down.code, 0, down.stderr)
        assert.strictEqual(text(Fs.readFileSync(Path.join(dir, "back.bin"))), text(data))
        assert.strictEqual(Fs.statSync(Path.join(dir, "back.bin")).mode & 0o777, 0o600)
      }), 90_000)

    it.scopedLive("ecs forward: a task's port through StartSession to its ecs: target", () =>
      Effect.gen(function*() {
        const sim = yield* simulator({ ecs })
        const destination = yield* echoServer
        const tunnel = yield* spawn(bin(), ["ecs", "forward", ...web, "-L", `0:localhost:${destination}`, "--ready-json", "-"], env(sim))
        const [line] = yield* tunnel.waitFor(/^\{"mappings".*$/m)
        const ready = JSON.parse(line) as { mappings: Array<{ local: string; target: string }> }
        assert.match(ready.mappings[0]!.target, new RegExp(`^ecs:prod_${TASK}_`))
        const data = Crypto.randomBytes(128 * 1024)
        assert.strictEqual(text(yield* roundTrip(Number(ready.mappings[0]!.local.split(":").at(-1)), data)), text(data))
        tunnel.child.kill("SIGINT")
        assert.strictEqual(yield* tunnel.exit, 0, tunnel.stderr())
      }), 60_000)

    it.scopedLive("the plugin as `aws ecs execute-command` runs it: ExecuteCommand's lowercase session, KMS-encrypted", () =>
      Effect.gen(function*() {
        const sim = yield* simulator({ ecs })
        const client = new ECSClient({ region: "us-east-1", endpoint: sim.endpoint, credentials: sdkCredentials(sim), maxAttempts: 1 })
        yield* Effect.addFinalizer(() => Effect.sync(() => client.destroy()))
        const response = yield* Effect.promise(() =>
          client.send(new ExecuteCommandCommand({ cluster: "secure", task: OTHER, command: "echo plugin-ecs", interactive: true }))
        )
        const described = yield* Effect.promise(() =>
          import("@aws-sdk/client-ecs").then(({ DescribeTasksCommand }) =>
            client.send(new DescribeTasksCommand({ cluster: "secure", tasks: [OTHER] }))
          )
        )
        const runtimeId = described.tasks![0]!.containers![0]!.runtimeId!
        // the AWS CLI passes the session object as ECS returns it: sessionId, streamUrl, tokenValue
        const plugin = yield* spawn(
          yield* installPlugin(index, node),
          pluginArgs(response.session!, { Target: `ecs:secure_${OTHER}_${runtimeId}` }, sim.endpoint),
          env(sim)
        )
        yield* plugin.waitFor(/plugin-ecs/)
        assert.isTrue((yield* sim.sessionStats(response.session!.sessionId!))?.encrypted)
        yield* plugin.exit
      }), 60_000)

    it.scopedLive("a container whose exec agent is not running: one line naming the task and container, exit 1", () =>
      Effect.gen(function*() {
        const sim = yield* simulator({
          ecs: { clusters: [{ name: "prod", tasks: [{ taskId: TASK, service: "web", containers: [{ name: "app", execAgent: "STOPPED" }] }] }] }
        })
        const result = yield* runToEnd(bin(), ["ecs", "exec", ...web, "--", "true"], env(sim))
        assert.strictEqual(result.code, 1)
        assert.strictEqual(result.stdout, "")
        const lines = result.stderr.trimEnd().split("\n").filter((line) => !line.startsWith("hint: "))
        assert.strictEqual(lines.length, 1, result.stderr)
        assert.include(lines[0], TASK)
        assert.include(lines[0], "app")
      }), 60_000)
  }
)
