/**
 * What the release test files share: the installed package (`test/release/globalSetup.ts`), the Nodes to run it
 * on, a simulator with the account's managed nodes, the environment a bin runs in (the simulator as every AWS
 * endpoint, fake keys, no shared config), and the plugin as the AWS CLI runs it.
 */
import { SSMClient, StartSessionCommand, type StartSessionCommandInput } from "@aws-sdk/client-ssm"
import { assert, inject } from "@effect/vitest"
import { Effect } from "effect"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as AgentSimulator from "../../src/AgentSimulator.js"
import { sdkCredentials } from "../utils/aws.js"
import { homeEnvironment, runToEnd, sdkEnvironment } from "./processes.js"

/** The Nodes of `SSM_RELEASE_NODES` (colon-separated paths; default the Node running the tests). */
export const nodes = (process.env["SSM_RELEASE_NODES"] ?? process.execPath).split(":").filter((node) => node !== "")

/** The package, built, packed and installed once for every release test file. */
export const installed = () => inject("installed")

export const INSTANCE = "i-0123456789abcdef0"
export const OFFLINE = "i-0fffffffffffffff0"
const instances: ReadonlyArray<AgentSimulator.SimulatedInstance> = [
  { instanceId: INSTANCE, tags: { Name: "web-1" }, computerName: "web-1", ipAddress: "127.0.0.1" },
  { instanceId: OFFLINE, tags: { Name: "gone" }, pingStatus: "ConnectionLost" }
]
/** keys for runs that reach no simulator */
const noSimulatorCredentials = { accessKeyId: "AKIDRELEASETEST", secretAccessKey: "release-test-secret" }

/** A simulator for the scope, with the account's two managed nodes. */
export const simulator = (options: AgentSimulator.SimulatorOptions = {}) =>
  AgentSimulator.make({ messagesPerSecond: 0, instances, ...options })

/**
 * The environment of a bin on `node`: that Node first on the PATH, a home and cache of the run's own, fake keys,
 * and the simulator as the SSM, KMS and ECS endpoints with its credentials (`AWS_ENDPOINT_URL_<SERVICE>`; with
 * `endpoints: "general"`, the one `AWS_ENDPOINT_URL` for every service); no shared AWS config.
 */
export const environment = (
  node: string,
  sim?: AgentSimulator.AgentSimulator,
  endpoints: "perService" | "general" = "perService"
): Record<string, string> =>
  sdkEnvironment(
    homeEnvironment(node, installed().scratch),
    sim === undefined ? noSimulatorCredentials : sdkCredentials(sim),
    sim?.endpoint ?? "http://127.0.0.1:9",
    endpoints
  )

/** StartSession through the real SDK, as the AWS CLI makes it before it starts the plugin. */
export const startSession = (sim: AgentSimulator.AgentSimulator, input: StartSessionCommandInput) =>
  Effect.acquireRelease(
    Effect.sync(() =>
      new SSMClient({ region: "us-east-1", endpoint: sim.endpoint, credentials: sdkCredentials(sim), maxAttempts: 1 })
    ),
    (client) => Effect.sync(() => client.destroy())
  ).pipe(
    Effect.flatMap((client) => Effect.promise(() => client.send(new StartSessionCommand(input)))),
    Effect.map((output) => ({ SessionId: output.SessionId!, TokenValue: output.TokenValue!, StreamUrl: output.StreamUrl! }))
  )

/** `session-manager-plugin` as the AWS CLI runs it: the response (any JSON object), the region, the request. */
export const pluginArgs = (response: object, request: object, endpoint: string) =>
  [JSON.stringify(response), "us-east-1", "StartSession", "", JSON.stringify(request), endpoint]

/**
 * The `session-manager-plugin` that `ssm-session-manager install-plugin --dir D` writes when run on `node` (the
 * `index`th of the Nodes), written on first use: the script runs the Node that installed it.
 */
export const installPlugin = (index: number, node: string) =>
  Effect.gen(function*() {
    const dir = Path.join(installed().scratch, `plugin-${index}`)
    const plugin = Path.join(dir, "session-manager-plugin")
    if (Fs.existsSync(plugin)) return plugin
    const install = yield* runToEnd(installed().bin, ["install-plugin", "--dir", dir], environment(node))
    assert.strictEqual(install.code, 0, install.stderr)
    assert.include(Fs.readFileSync(plugin, "utf8"), node)
    return plugin
  })

/** Bytes as hex, for assertions whose failures can be read. */
export const text = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex")

/** `node --version`. */
export const versionOf = (node: string) => ChildProcess.execFileSync(node, ["--version"], { encoding: "utf8" }).trim()
