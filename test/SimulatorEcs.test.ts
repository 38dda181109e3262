/**
 * The simulator's ECS through the real `@aws-sdk/client-ecs` (what it parses is right): DescribeTasks, ListTasks
 * (pages, filters) and ExecuteCommand shapes, ECS's exceptions by name, cluster and task by name, id or ARN; the
 * session ExecuteCommand starts, run as the agent's ContainerMode runs it (shlex, exec on a pty, no shell, no exit
 * code, the container's environment, the cluster's KMS key); ssm:StartSession to a container's `ecs:` target.
 */
import {
  DescribeTasksCommand,
  ECSClient,
  ExecuteCommandCommand,
  type ExecuteCommandCommandOutput,
  ListTasksCommand,
  type ListTasksCommandInput
} from "@aws-sdk/client-ecs"
import { ResumeSessionCommand, SSMClient, StartSessionCommand, TerminateSessionCommand } from "@aws-sdk/client-ssm"
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Fiber, Layer, Redacted, Stream } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as AgentSimulator from "../src/AgentSimulator.js"
import * as EcsApi from "../src/EcsApi.js"
import * as NodePortForwarding from "../src/NodePortForwarding.js"
import * as PortForwarding from "../src/PortForwarding.js"
import * as SimulatorEcs from "../src/SimulatorEcs.js"
import { sdkCredentials } from "./utils/aws.js"
import { spawnCli, waitForOutput } from "./utils/cli.js"
import { openSession } from "./utils/session.js"
import { echoServer, roundTrip } from "./utils/tcp.js"

const T1 = "11111111111111111111111111111111"
const T2 = "22222222222222222222222222222222"
const T3 = "33333333333333333333333333333333"
const T4 = "44444444444444444444444444444444"

/** a directory holding only `printf`: a container whose PATH has no `sh` */
const noShell = Effect.acquireRelease(
  Effect.sync(() => {
    const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "ecs-no-sh-"))
    Fs.symlinkSync(Fs.realpathSync("/usr/bin/printf"), Path.join(dir, "printf"))
    return dir
  }),
  (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
)

const world = (bin: string): SimulatorEcs.SimulatedEcs => ({
  clusters: [
    {
      name: "prod",
      tasks: [
        { taskId: T1, service: "web", containers: [{ name: "app" }, { name: "sidecar", execAgent: "STOPPED" }] },
        { taskId: T2, service: "web", containers: [{ name: "app", runtimeId: "abc-123" }] },
        { taskId: T3, family: "batch", enableExecuteCommand: false, containers: [{ name: "job" }] },
        { taskId: T4, service: "web", lastStatus: "STOPPED", containers: [{ name: "app" }] }
      ]
    },
    { name: "secure", kmsKeyId: "alias/ecs-exec", tasks: [{ taskId: T1, containers: [{ name: "app" }] }] },
    { name: "locked", denyExecuteCommand: true, tasks: [{ taskId: T1, containers: [{ name: "app" }] }] },
    { name: "bare", tasks: [{ taskId: T2, containers: [{ name: "app", environment: { PATH: bin } }] }] }
  ]
})

const clients = (simulator: AgentSimulator.AgentSimulator) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const config = { region: "us-east-1", endpoint: simulator.endpoint, credentials: sdkCredentials(simulator), maxAttempts: 1 }
      return { ecs: new ECSClient(config), ssm: new SSMClient(config) }
    }),
    ({ ecs, ssm }) =>
      Effect.sync(() => {
        ecs.destroy()
        ssm.destroy()
      })
  )

/** What a call through the SDK gave: its output, or the exception's name and message. */
const call = <A>(send: () => Promise<A>) =>
  Effect.promise(() =>
    send().then(
      (output) => ({ _tag: "Ok" as const, output }),
      (error: Error) => ({ _tag: "Error" as const, name: error.name, message: error.message })
    )
  )

const nameOf = (result: { readonly _tag: "Ok" } | { readonly _tag: "Error"; readonly name: string }) =>
  result._tag === "Error" ? result.name : "Ok"

const setupWith = (options: AgentSimulator.SimulatorOptions) =>
  Effect.gen(function*() {
    const bin = yield* noShell
    const simulator = yield* AgentSimulator.make({ messagesPerSecond: 0, ecs: world(bin), ...options })
    return { simulator, ...(yield* clients(simulator)) }
  })

const setup = setupWith({})

/**
 * Runs the session of an ExecuteCommand answer to its end: the pty's output, the exit codes, the closing text; or,
 * for a session that ended before its first output (without KMS a shell has no handshake, and its first output is
 * what makes it ready), the client's error.
 */
const runExec = (output: ExecuteCommandCommandOutput, options: { readonly target?: string } = {}) =>
  Effect.scoped(Effect.gen(function*() {
    const opened = yield* Effect.either(openSession({
      SessionId: output.session!.sessionId!,
      StreamUrl: output.session!.streamUrl!,
      TokenValue: Redacted.make(output.session!.tokenValue!)
    }, options))
    if (opened._tag === "Left") {
      return { text: "", exitCodes: 0, closed: [], sessionId: output.session!.sessionId!, error: opened.left.message }
    }
    const session = opened.right
    const events = yield* Effect.fork(Stream.runCollect(session.events))
    const bytes = yield* Stream.runCollect(session.output)
    const all = Chunk.toReadonlyArray(yield* Fiber.join(events))
    return {
      text: Buffer.concat(Chunk.toReadonlyArray(bytes)).toString("utf8"),
      exitCodes: all.filter((event) => event._tag === "Payload").length,
      closed: all.flatMap((event) => event._tag === "ChannelClosed" ? [event.output] : []),
      sessionId: session.sessionId,
      error: undefined as string | undefined
    }
  })).pipe(Effect.timeout("20 seconds"))

describe("the simulator's ECS API through @aws-sdk/client-ecs", () => {
  it.scopedLive("DescribeTasks: every field as ECS gives it, MISSING failures, cluster and task by name, id or ARN", () =>
    Effect.gen(function*() {
      const { ecs } = yield* setup
      const prodArn = SimulatorEcs.clusterArn("prod")
      assert.strictEqual(prodArn, "arn:aws:ecs:us-east-1:123456789012:cluster/prod")
      const described = yield* Effect.promise(() =>
        ecs.send(new DescribeTasksCommand({ cluster: prodArn, tasks: [T1, SimulatorEcs.taskArn("prod", T3), "f".repeat(32)] }))
      )
      assert.strictEqual(described.tasks?.length, 2)
      const [web, batch] = described.tasks!
      assert.strictEqual(web!.taskArn, `arn:aws:ecs:us-east-1:123456789012:task/prod/${T1}`)
      assert.strictEqual(web!.clusterArn, prodArn)
      assert.strictEqual(web!.lastStatus, "RUNNING")
      assert.strictEqual(web!.desiredStatus, "RUNNING")
      assert.strictEqual(web!.group, "service:web")
      assert.strictEqual(web!.launchType, "FARGATE")
      assert.isTrue(web!.enableExecuteCommand)
      assert.deepStrictEqual(web!.containers?.map((c) => [c.name, c.runtimeId, c.managedAgents?.[0]?.lastStatus]), [
        ["app", `${T1}-1000`, "RUNNING"],
        ["sidecar", `${T1}-1001`, "STOPPED"]
      ])
      assert.match(web!.containers![0]!.containerArn!, new RegExp(`^arn:aws:ecs:us-east-1:123456789012:container/prod/${T1}/[0-9a-f-]{36}$`))
      assert.strictEqual(web!.containers![0]!.taskArn, web!.taskArn)
      assert.strictEqual(web!.containers![0]!.managedAgents![0]!.name, "ExecuteCommandAgent")
      assert.strictEqual(batch!.group, "family:batch")
      assert.isFalse(batch!.enableExecuteCommand)
      assert.deepStrictEqual(described.failures, [{ arn: SimulatorEcs.taskArn("prod", "f".repeat(32)), reason: "MISSING" }])
      const unknown = yield* call(() => ecs.send(new DescribeTasksCommand({ cluster: "nope", tasks: [T1] })))
      assert.deepStrictEqual(unknown, { _tag: "Error", name: "ClusterNotFoundException", message: "Cluster not found." })
      // no cluster: `default`, which this world lacks
      assert.strictEqual(nameOf(yield* call(() => ecs.send(new DescribeTasksCommand({ tasks: [T1] })))), "ClusterNotFoundException")
      // the default world: cluster `sim`, service `web`, container `app`
      const plain = yield* AgentSimulator.make({ messagesPerSecond: 0 })
      const { ecs: plainEcs } = yield* clients(plain)
      const listed = yield* Effect.promise(() => plainEcs.send(new ListTasksCommand({ cluster: "sim", serviceName: "web" })))
      assert.deepStrictEqual(listed.taskArns, [SimulatorEcs.taskArn("sim", "0123456789abcdef0123456789abcdef")])
    }))

  it.scopedLive("ListTasks: desired status, service and family filters, pages of maxResults, ServiceNotFoundException", () =>
    Effect.gen(function*() {
      const { ecs } = yield* setup
      const list = (input: ListTasksCommandInput) => call(() => ecs.send(new ListTasksCommand(input)))
      const arns = (...ids: Array<string>) => ids.map((id) => SimulatorEcs.taskArn("prod", id))
      const running = yield* list({ cluster: "prod" })
      assert.deepStrictEqual(running._tag === "Ok" ? running.output.taskArns : [], arns(T1, T2, T3))
      const web = yield* list({ cluster: "prod", serviceName: "web" })
      assert.deepStrictEqual(web._tag === "Ok" ? web.output.taskArns : [], arns(T1, T2))
      const stopped = yield* list({ cluster: "prod", serviceName: "web", desiredStatus: "STOPPED" })
      assert.deepStrictEqual(stopped._tag === "Ok" ? stopped.output.taskArns : [], arns(T4))
      const batch = yield* list({ cluster: "prod", family: "batch" })
      assert.deepStrictEqual(batch._tag === "Ok" ? batch.output.taskArns : [], arns(T3))
      // pages of one
      const seen: Array<string> = []
      let nextToken: string | undefined
      let pages = 0
      do {
        const page = yield* Effect.promise(() => ecs.send(new ListTasksCommand({ cluster: "prod", maxResults: 1, nextToken })))
        seen.push(...page.taskArns ?? [])
        nextToken = page.nextToken
        pages++
      } while (nextToken !== undefined)
      assert.deepStrictEqual(seen, arns(T1, T2, T3))
      assert.strictEqual(pages, 3)
      assert.deepStrictEqual(yield* list({ cluster: "prod", serviceName: "api" }), {
        _tag: "Error",
        name: "ServiceNotFoundException",
        message: "Service not found."
      })
      assert.strictEqual(nameOf(yield* list({ cluster: "prod", maxResults: 101 })), "InvalidParameterException")
    }))

  it.scopedLive("ExecuteCommand: the response's shape, and each refusal as ECS names it", () =>
    Effect.gen(function*() {
      const { ecs } = yield* setup
      const exec = (input: Partial<ConstructorParameters<typeof ExecuteCommandCommand>[0]>) =>
        call(() => ecs.send(new ExecuteCommandCommand({ command: "true", interactive: true, task: T2, cluster: "prod", ...input })))
      const ok = yield* exec({ task: SimulatorEcs.taskArn("prod", T2) })
      assert.strictEqual(ok._tag, "Ok", JSON.stringify(ok))
      if (ok._tag === "Ok") {
        assert.strictEqual(ok.output.clusterArn, SimulatorEcs.clusterArn("prod"))
        assert.strictEqual(ok.output.taskArn, SimulatorEcs.taskArn("prod", T2))
        assert.strictEqual(ok.output.containerName, "app")
        assert.match(ok.output.containerArn ?? "", /:container\/prod\//)
        assert.isTrue(ok.output.interactive)
        assert.match(ok.output.session?.sessionId ?? "", /^ecs-execute-command-[0-9a-f]{17}$/)
        assert.match(ok.output.session?.streamUrl ?? "", /^ws:\/\/127\.0\.0\.1:\d+\/v1\/data-channel\/ecs-execute-command-/)
        assert.isAbove(ok.output.session?.tokenValue?.length ?? 0, 20)
      }
      const refusals: ReadonlyArray<readonly [Partial<ConstructorParameters<typeof ExecuteCommandCommand>[0]>, string, RegExp]> = [
        [{ interactive: false }, "InvalidParameterException", /^Interactive is the only mode supported currently\.$/],
        [{ cluster: "nope" }, "ClusterNotFoundException", /^Cluster not found\.$/],
        [{ task: "f".repeat(32) }, "InvalidParameterException", /task/],
        [{ task: "short" }, "InvalidParameterException", /^task length should be one of \[32,36\]$/],
        [{ task: T1 }, "InvalidParameterException", /more than one container/],
        [{ task: T1, container: "db" }, "InvalidParameterException", /db/],
        [{ task: T1, container: "sidecar" }, "InvalidParameterException", /execute command agent isn’t running/],
        [{ task: T3 }, "InvalidParameterException", /execute command was not enabled/],
        [{ task: T4 }, "InvalidParameterException", /execute command was not enabled/],
        [{ cluster: "locked", task: T1 }, "AccessDeniedException", new RegExp(`not authorized to perform: ecs:ExecuteCommand on resource: ${SimulatorEcs.taskArn("locked", T1)}`)]
      ]
      for (const [input, name, message] of refusals) {
        const refused = yield* exec(input)
        assert.strictEqual(nameOf(refused), name, JSON.stringify(input))
        assert.match(refused._tag === "Error" ? refused.message : "", message)
      }
    }))

  it.scopedLive("AgentSimulator.layerEcsApi: the library's EcsApi over the SDK and the HTTP API", () =>
    Effect.gen(function*() {
      const { simulator } = yield* setup
      const api = yield* Effect.provide(EcsApi.EcsApi, AgentSimulator.layerEcsApi.pipe(Layer.provide(Layer.succeed(AgentSimulator.AgentSimulator, simulator))))
      const tasks = yield* api.listTasks({ cluster: "prod", serviceName: "web" })
      assert.strictEqual(tasks.length, 2)
      const described = yield* api.describeTasks("prod", tasks)
      assert.deepStrictEqual(described.map((task) => task.containers.map((c) => c.runtimeId)), [[`${T1}-1000`, `${T1}-1001`], ["abc-123"]])
      const error = yield* Effect.flip(api.executeCommand({ cluster: "nope", task: T1, command: "true" }))
      assert.strictEqual(error.reason, "ClusterNotFound")
      const response = yield* api.executeCommand({ cluster: "prod", task: T2, command: "true" })
      assert.match(response.session.sessionId, /^ecs-execute-command-/)
    }))
})

describe("the session ExecuteCommand starts: the agent's ContainerMode", () => {
  it.scopedLive("the command exec'd on a pty without a shell: output, quoted words intact, no exit code", () =>
    Effect.gen(function*() {
      const { ecs } = yield* setup
      const exec = (command: string, extra: { cluster?: string; task?: string } = {}) =>
        Effect.promise(() => ecs.send(new ExecuteCommandCommand({ cluster: "prod", task: T2, command, interactive: true, ...extra })))
      const hi = yield* runExec(yield* exec("echo hi"))
      assert.include(hi.text, "hi\r\n")
      assert.strictEqual(hi.exitCodes, 0)
      // no `sh -c`: shlex's words are the argv, the quotes gone, `;` and `$X` nothing special
      const words = yield* runExec(yield* exec(`printf '[%s]' 'a b' "c'd" e\\ f ";" '$HOME'`))
      assert.strictEqual(words.text, "[a b][c'd][e f][;][$HOME]")
      // the session just ends: no exit code, whatever the command's
      const exit3 = yield* runExec(yield* exec("sh -c 'echo bye; exit 3'"))
      assert.include(exit3.text, "bye")
      assert.strictEqual(exit3.exitCodes, 0)
      assert.deepStrictEqual(exit3.closed, [""])
      // nor when it says nothing: the session ends before the client saw it ready (no handshake without KMS)
      const silent = yield* runExec(yield* exec("sh -c 'exit 3'"))
      assert.include(silent.error, "the channel closed before the session was ready")
      // a pty: the program sees a terminal
      const tty = yield* runExec(yield* exec("sh -c 'test -t 0 && echo tty; echo $TERM'"))
      assert.include(tty.text, "tty\r\nxterm-256color")
    }))

  it.scopedLive("what cannot start (no such program on the container's PATH, an unclosed quote) ends the session with the agent's reason, nothing sent", () =>
    Effect.gen(function*() {
      const { ecs, simulator } = yield* setup
      const exec = (command: string) =>
        Effect.promise(() => ecs.send(new ExecuteCommandCommand({ cluster: "bare", task: T2, command, interactive: true })))
      // the container's PATH has printf and no sh
      const printed = yield* runExec(yield* exec("printf container-path"))
      assert.strictEqual(printed.text, "container-path")
      // the agent fails to start the command, waits 2 s and marks the plugin failed with its reason: nothing sent
      // on the data channel, so the client's session closes before it was ready, with the reason as the channel's
      // closing text (a command of no words panics instead: no reason)
      const reasons: Record<string, string | undefined> = {
        "sh": "Unable to start command: Failed to start pty: exec: \"sh\": executable file not found in $PATH",
        "/no/such/program": "Unable to start command: Failed to start pty: fork/exec /no/such/program: no such file or directory",
        "printf 'unclosed": "Unable to start command: Failed to parse commands input:",
        "# a comment only": undefined
      }
      yield* Effect.forEach(Object.entries(reasons), ([command, reason]) =>
        Effect.gen(function*() {
          const failed = yield* runExec(yield* exec(command))
          assert.include(failed.error, "the channel closed before the session was ready", command)
          if (reason === undefined) assert.match(failed.error ?? "", /ready$/, command)
          else assert.include(failed.error, `ready: ${reason}`, command)
          assert.isTrue((yield* simulator.sessionStats(failed.sessionId))?.closed, command)
        }), { concurrency: "unbounded", discard: true })
    }))

  it.scopedLive("the cluster's KMS key encrypts the session; ResumeSession, TerminateSession and sessionStats know its id", () =>
    Effect.gen(function*() {
      // the account's SSM preference asks for KMS with another key: ECS Exec does not follow it
      const { ecs, simulator, ssm } = yield* setupWith({ kmsKeyId: "alias/account" })
      const secure = yield* Effect.promise(() =>
        ecs.send(new ExecuteCommandCommand({ cluster: "secure", task: T1, command: "echo secret", interactive: true }))
      )
      const run = yield* runExec(secure, { target: `ecs:secure_${T1}_${T1}-1000` }).pipe(Effect.provide(AgentSimulator.layerKmsApi.pipe(Layer.provide(Layer.succeed(AgentSimulator.AgentSimulator, simulator)))))
      assert.include(run.text, "secret")
      assert.isTrue((yield* simulator.sessionStats(run.sessionId))?.encrypted)
      // a cluster without a key: not encrypted, though the account's SSM preference asks for KMS
      const plain = yield* Effect.promise(() =>
        ecs.send(new ExecuteCommandCommand({ cluster: "prod", task: T2, command: "echo plain", interactive: true }))
      )
      const plainRun = yield* runExec(plain)
      assert.isFalse((yield* simulator.sessionStats(plainRun.sessionId))?.encrypted)
      // a long command, ended by ssm:TerminateSession on its ecs-execute-command id
      const long = yield* Effect.promise(() =>
        ecs.send(new ExecuteCommandCommand({ cluster: "prod", task: T2, command: "sleep 30", interactive: true }))
      )
      const running = yield* Effect.fork(runExec(long))
      // ssm:ResumeSession knows them too: a fresh token for another WebSocket
      const other = yield* Effect.promise(() =>
        ecs.send(new ExecuteCommandCommand({ cluster: "prod", task: T2, command: "sleep 30", interactive: true }))
      )
      const resumed = yield* call(() => ssm.send(new ResumeSessionCommand({ SessionId: other.session!.sessionId! })))
      assert.strictEqual(resumed._tag === "Ok" ? resumed.output.SessionId : resumed, other.session!.sessionId)
      assert.isAbove(resumed._tag === "Ok" ? resumed.output.TokenValue?.length ?? 0 : 0, 20)
      assert.notStrictEqual(resumed._tag === "Ok" ? resumed.output.TokenValue : "", other.session!.tokenValue)
      const terminated = yield* call(() => ssm.send(new TerminateSessionCommand({ SessionId: long.session!.sessionId! })))
      assert.strictEqual(terminated._tag, "Ok")
      // it ends (before its first output: the client never saw it ready)
      const ended = yield* Fiber.join(running)
      assert.include(ended.error, "the channel closed before the session was ready")
      assert.isTrue((yield* simulator.sessionStats(long.session!.sessionId!))?.terminatedByApi)
    }))
})

describe("ssm:StartSession to a container's ecs: target", () => {
  it.scopedLive("port forwarding reaches a local TCP port; commands run in ContainerMode; a container ECS Exec cannot reach is TargetNotConnected", () =>
    Effect.gen(function*() {
      const { ssm } = yield* setup
      const port = yield* echoServer
      const target = SimulatorEcs.target("prod", T2, "abc-123")
      assert.strictEqual(target, `ecs:prod_${T2}_abc-123`)
      const started = yield* Effect.promise(() =>
        ssm.send(new StartSessionCommand({ Target: target, DocumentName: "AWS-StartPortForwardingSession", Parameters: { portNumber: [String(port)] } }))
      )
      const session = yield* openSession({
        SessionId: started.SessionId!,
        StreamUrl: started.StreamUrl!,
        TokenValue: Redacted.make(started.TokenValue!)
      })
      const forwarding = yield* PortForwarding.make(session)
      const address = (yield* NodePortForwarding.listen(forwarding)).address
      const echoed = yield* roundTrip(address._tag === "Tcp" ? address.port : 0, new TextEncoder().encode("through the task"))
      assert.strictEqual(new TextDecoder().decode(echoed), "through the task")
      // the container's agent runs in ContainerMode: AWS-StartInteractiveCommand's command is exec'd, not given to sh
      const interactive = yield* Effect.promise(() =>
        ssm.send(new StartSessionCommand({ Target: target, DocumentName: "AWS-StartInteractiveCommand", Parameters: { command: [`printf '[%s]' 'a b' ';'`] } }))
      )
      const printed = yield* runExec({
        session: { sessionId: interactive.SessionId!, streamUrl: interactive.StreamUrl!, tokenValue: interactive.TokenValue! },
        $metadata: {}
      })
      assert.strictEqual(printed.text, "[a b][;]")
      for (const unreachable of [`ecs:prod_${T1}_${T1}-1001`, `ecs:prod_${T3}_${T3}-1000`, `ecs:prod_${T2}_nope`, "ecs:nope"]) {
        const refused = yield* call(() => ssm.send(new StartSessionCommand({ Target: unreachable })))
        assert.strictEqual(nameOf(refused), "TargetNotConnected", unreachable)
      }
    }))
})

describe("`simulate` plays the default ECS world", () => {
  it.scopedLive("its export line gives AWS_ENDPOINT_URL_ECS; ExecuteCommand in cluster `sim` runs there", () =>
    Effect.gen(function*() {
      const child = yield* spawnCli("main", ["simulate", "--sessions", "0"])
      const exported = yield* waitForOutput(
        child,
        /^export AWS_ACCESS_KEY_ID=(\S+) AWS_SECRET_ACCESS_KEY=(\S+) AWS_ENDPOINT_URL_SSM=(\S+) AWS_ENDPOINT_URL_KMS=\3 AWS_ENDPOINT_URL_ECS=\3$/m,
        "stderr"
      ).pipe(Effect.timeout("30 seconds"))
      const ecs = yield* Effect.acquireRelease(
        Effect.sync(() =>
          new ECSClient({
            region: "us-east-1",
            endpoint: exported[3]!,
            credentials: { accessKeyId: exported[1]!, secretAccessKey: exported[2]! },
            maxAttempts: 1
          })
        ),
        (client) => Effect.sync(() => client.destroy())
      )
      const [task] = SimulatorEcs.DEFAULT_ECS.clusters[0]!.tasks
      const listed = yield* Effect.promise(() => ecs.send(new ListTasksCommand({ cluster: "sim", serviceName: "web" })))
      assert.deepStrictEqual(listed.taskArns, [SimulatorEcs.taskArn("sim", task!.taskId)])
      const started = yield* Effect.promise(() =>
        ecs.send(new ExecuteCommandCommand({ cluster: "sim", task: task!.taskId, command: "echo from-simulate", interactive: true }))
      )
      assert.strictEqual(started.containerName, "app")
      const run = yield* runExec(started)
      assert.include(run.text, "from-simulate")
    }), 60_000)
})
