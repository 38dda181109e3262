/**
 * EcsApi over `@aws-sdk/client-ecs`: ECS's exceptions mapped to reasons with hints, deadlines through the SDK's
 * abort signal, ListTasks' pages and DescribeTasks' chunks (a fake client); then the same calls against the
 * simulator's ECS over its HTTP API (`AgentSimulator.layerAll`), and `EcsExec.resolve`'s own reasons.
 */
import type { ECSClient } from "@aws-sdk/client-ecs"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Either, Redacted } from "effect"
import * as AgentSimulator from "../src/AgentSimulator.js"
import * as EcsApi from "../src/EcsApi.js"
import * as EcsExec from "../src/EcsExec.js"
import * as SimulatorEcs from "../src/SimulatorEcs.js"

type Sent = { readonly name: string; readonly input: any; readonly signal: AbortSignal | undefined }

/** a client whose `send` answers with `answer(name, input)` (a value, or an exception to throw) */
const fakeClient = (answer: (name: string, input: any) => unknown) => {
  const sent: Array<Sent> = []
  const client = {
    send: (command: { constructor: { name: string }; input: unknown }, options?: { abortSignal?: AbortSignal }) => {
      const name = command.constructor.name.replace(/Command$/, "")
      sent.push({ name, input: command.input, signal: options?.abortSignal })
      try {
        const result = answer(name, command.input)
        return result instanceof Promise ? result : Promise.resolve(result)
      } catch (error) {
        return Promise.reject(error)
      }
    }
  } as unknown as Pick<ECSClient, "send">
  return { client, sent }
}

const exception = (name: string, message: string) => Object.assign(new Error(message), { name })

const failWith = (name: string, message: string) => {
  const { client } = fakeClient(() => {
    throw exception(name, message)
  })
  return EcsApi.fromClient(client as ECSClient)
}

const request = { cluster: "prod", task: "0123", command: "sh" }

describe("EcsApi.fromClient", () => {
  it.effect("maps ECS's exceptions to reasons, the hint appended to ECS's words", () =>
    Effect.gen(function*() {
      const cases: Array<[string, string, EcsApi.EcsApiError.Reason, RegExp]> = [
        ["TargetNotConnectedException", "The execute command failed due to an internal error. Try again later.", "TargetNotConnected",
          /Try again later: execute command was not enabled .*enableExecuteCommand true.*ExecuteCommandAgent RUNNING.*ssmmessages:CreateControlChannel, CreateDataChannel, OpenControlChannel and OpenDataChannel$/],
        ["ClusterNotFoundException", "Cluster not found.", "ClusterNotFound", /^Cluster not found: check --cluster and the region$/],
        ["ServiceNotFoundException", "Service not found.", "ServiceNotFound", /check --service/],
        ["InvalidParameterException", "task length should be one of [32,36]", "InvalidParameter", /^task length should be one of \[32,36\]$/],
        ["AccessDeniedException", "User: x is not authorized to perform: ecs:ExecuteCommand", "AccessDenied", /allows ecs:ExecuteCommand/],
        ["ThrottlingException", "Rate exceeded", "Throttling", /^Rate exceeded$/],
        ["ExpiredTokenException", "The security token included in the request is expired", "Credentials", /credentials/],
        ["ServerException", "boom", "Other", /^boom$/]
      ]
      for (const [name, message, reason, detail] of cases) {
        const error = yield* Effect.flip(failWith(name, message).executeCommand(request))
        assert.isTrue(EcsApi.isEcsApiError(error))
        assert.strictEqual(error.reason, reason, name)
        assert.strictEqual(error.operation, "ExecuteCommand")
        assert.match(error.detail, detail, name)
        assert.strictEqual(error.message, `ExecuteCommand: ${reason}: ${error.detail}`)
      }
      const denied = yield* Effect.flip(failWith("AccessDeniedException", "no").describeTasks("prod", ["0123"]))
      assert.match(denied.detail, /allows ecs:DescribeTasks/)
    }))

  it.effect("ECS's InvalidParameterException for an exec not enabled (or its agent not running) is TargetNotConnected, ECS's words not repeated", () =>
    Effect.gen(function*() {
      const words = "The execute command failed because execute command was not enabled when the task was run or the " +
        "execute command agent isn’t running. Wait and try again or run a new task with execute command enabled and try again."
      const error = yield* Effect.flip(failWith("InvalidParameterException", words).executeCommand(request))
      assert.strictEqual(error.reason, "TargetNotConnected")
      assert.isTrue(error.detail.startsWith("The execute command failed because"))
      assert.strictEqual(error.detail.split("execute command was not enabled").length, 2)
      assert.match(error.detail, /check that `aws ecs describe-tasks` shows enableExecuteCommand true/)
    }))

  it.live("a call that gets no answer fails with Timeout at its deadline, and the SDK's request is aborted", () =>
    Effect.gen(function*() {
      const { client, sent } = fakeClient(() => new Promise(() => {}))
      const api = EcsApi.fromClient(client as ECSClient, { timeout: "50 millis" })
      const error = yield* Effect.flip(api.listTasks({ cluster: "prod" }))
      assert.strictEqual(error.reason, "Timeout")
      assert.strictEqual(error.operation, "ListTasks")
      assert.isTrue(sent[0]!.signal?.aborted)
    }))

  it.effect("ExecuteCommand: interactive, the session's token Redacted, the answer's names", () =>
    Effect.gen(function*() {
      const { client, sent } = fakeClient(() => ({
        clusterArn: "arn:c",
        taskArn: "arn:t",
        containerName: "app",
        containerArn: "arn:k",
        interactive: true,
        session: { sessionId: "ecs-execute-command-0123", streamUrl: "wss://x", tokenValue: "secret" }
      }))
      const response = yield* EcsApi.fromClient(client as ECSClient).executeCommand({ ...request, container: "app" })
      assert.deepStrictEqual(sent[0]!.input, { cluster: "prod", task: "0123", container: "app", command: "sh", interactive: true })
      assert.strictEqual(response.session.sessionId, "ecs-execute-command-0123")
      assert.isTrue(Redacted.isRedacted(response.session.tokenValue))
      assert.strictEqual(Redacted.value(response.session.tokenValue), "secret")
      assert.notInclude(JSON.stringify(response), "secret")
      const { client: empty } = fakeClient(() => ({ session: {} }))
      const error = yield* Effect.flip(EcsApi.fromClient(empty as ECSClient).executeCommand(request))
      assert.strictEqual(error.reason, "Other")
    }))

  it.effect("ListTasks reads every page, at most 10 of 100; DescribeTasks asks 100 at a time, answers in the order asked", () =>
    Effect.gen(function*() {
      let page = 0
      const { client, sent } = fakeClient((name, input) => {
        if (name === "ListTasks") {
          page++
          return { taskArns: [`arn:task/p/${page}`], nextToken: "more" }
        }
        return {
          tasks: [...input.tasks].reverse().filter((task: string) => task !== "t5").map((task: string) => ({
            taskArn: `arn:aws:ecs:r:1:task/prod/${task}`,
            clusterArn: "arn:aws:ecs:r:1:cluster/prod",
            enableExecuteCommand: true,
            containers: [{ name: "app", runtimeId: "rt", managedAgents: [{ name: "ExecuteCommandAgent", lastStatus: "RUNNING" }] }]
          })),
          failures: [{ arn: "t5", reason: "MISSING" }]
        }
      })
      const api = EcsApi.fromClient(client as ECSClient)
      const arns = yield* api.listTasks({ cluster: "prod", serviceName: "web" })
      assert.strictEqual(arns.length, 10)
      assert.deepStrictEqual(sent[0]!.input, { cluster: "prod", serviceName: "web", desiredStatus: "RUNNING", maxResults: 100 })
      assert.strictEqual(sent[1]!.input.nextToken, "more")
      const asked = Array.from({ length: 150 }, (_, i) => `t${i}`)
      const tasks = yield* api.describeTasks("prod", asked)
      assert.deepStrictEqual(sent.slice(10).map((s) => s.input.tasks.length), [100, 50])
      assert.deepStrictEqual(tasks.map((task) => task.taskArn.split("/").at(-1)), asked.filter((t) => t !== "t5"))
      assert.deepStrictEqual(tasks[0]!.containers[0]!.managedAgents, [{ name: "ExecuteCommandAgent", lastStatus: "RUNNING", reason: undefined }])
    }))
})

const T1 = "11111111111111111111111111111111"
const T2 = "22222222222222222222222222222222"
const T3 = "33333333333333333333333333333333"
const T4 = "44444444444444444444444444444444"

const world: SimulatorEcs.SimulatedEcs = {
  clusters: [
    {
      name: "prod",
      tasks: [
        { taskId: T1, service: "web", containers: [{ name: "app" }, { name: "sidecar", execAgent: "STOPPED" }] },
        { taskId: T2, service: "web", containers: [{ name: "app", runtimeId: "abc-123" }] },
        { taskId: T3, service: "batch", enableExecuteCommand: false, containers: [{ name: "job" }] },
        { taskId: T4, service: "gone", lastStatus: "STOPPED", containers: [{ name: "app" }] }
      ]
    },
    { name: "solo", tasks: [{ taskId: T1, service: "api", containers: [{ name: "app", runtimeId: "rt-1" }] }] },
    { name: "locked", denyExecuteCommand: true, tasks: [{ taskId: T1, containers: [{ name: "app" }] }] }
  ]
}

const simulated = <A, E>(effect: Effect.Effect<A, E, AgentSimulator.Services>) =>
  effect.pipe(Effect.provide(AgentSimulator.layerAll({ messagesPerSecond: 0, ecs: world })))

const reasonOf = <A>(effect: Effect.Effect<A, EcsApi.EcsApiError, any>) =>
  Effect.map(Effect.either(effect), Either.match({ onLeft: (error) => error, onRight: () => undefined }))

describe("EcsApi and EcsExec.resolve against the simulator", () => {
  it.live("ECS's refusals as reasons, with their hints", () =>
    simulated(Effect.gen(function*() {
      const api = yield* EcsApi.EcsApi
      const cluster = yield* reasonOf(api.listTasks({ cluster: "nope" }))
      assert.strictEqual(cluster?.reason, "ClusterNotFound")
      assert.match(cluster!.detail, /check --cluster and the region/)
      const service = yield* reasonOf(api.listTasks({ cluster: "prod", serviceName: "nope" }))
      assert.strictEqual(service?.reason, "ServiceNotFound")
      const denied = yield* reasonOf(api.executeCommand({ cluster: "locked", task: T1, command: "sh" }))
      assert.strictEqual(denied?.reason, "AccessDenied")
      assert.match(denied!.detail, /ecs:ExecuteCommand/)
      const invalid = yield* reasonOf(api.executeCommand({ cluster: "prod", task: "short", command: "sh" }))
      assert.strictEqual(invalid?.reason, "InvalidParameter")
      assert.match(invalid!.detail, /task length/)
      const disabled = yield* reasonOf(api.executeCommand({ cluster: "prod", task: T3, command: "sh" }))
      assert.strictEqual(disabled?.reason, "TargetNotConnected")
      assert.match(disabled!.detail, /ssmmessages:CreateControlChannel/)
      const stopped = yield* reasonOf(api.executeCommand({ cluster: "prod", task: T1, container: "sidecar", command: "sh" }))
      assert.strictEqual(stopped?.reason, "TargetNotConnected")
    })))

  it.live("resolve: a task, a service's one task, the container, the ecs: target", () =>
    simulated(Effect.gen(function*() {
      const byTask = yield* EcsExec.resolve({ cluster: "prod", task: T2 })
      assert.deepStrictEqual(byTask, {
        cluster: "prod",
        clusterName: "prod",
        clusterArn: SimulatorEcs.clusterArn("prod"),
        taskArn: SimulatorEcs.taskArn("prod", T2),
        taskId: T2,
        containerName: "app",
        runtimeId: "abc-123",
        target: `ecs:prod_${T2}_abc-123`
      })
      const byArn = yield* EcsExec.resolve({ cluster: SimulatorEcs.clusterArn("prod"), task: SimulatorEcs.taskArn("prod", T1), container: "app" })
      assert.strictEqual(byArn.clusterName, "prod")
      assert.strictEqual(byArn.containerName, "app")
      assert.strictEqual(byArn.target, SimulatorEcs.target("prod", T1, byArn.runtimeId))
      // a task ARN names its cluster: no --cluster needed (ECS would look in the default one)
      const arnAlone = yield* EcsExec.resolve({ task: SimulatorEcs.taskArn("prod", T2) })
      assert.strictEqual(arnAlone.target, `ecs:prod_${T2}_abc-123`)
      const byService = yield* EcsExec.resolve({ cluster: "solo", service: "api" })
      assert.strictEqual(byService.target, `ecs:solo_${T1}_rt-1`)
      const byCluster = yield* EcsExec.resolve({ cluster: "solo" })
      assert.strictEqual(byCluster.taskId, T1)
    })))

  it.live("resolve's own reasons: AmbiguousTask listing ids, TaskNotFound, the containers, AgentNotRunning", () =>
    simulated(Effect.gen(function*() {
      const several = yield* reasonOf(EcsExec.resolve({ cluster: "prod", service: "web" }))
      assert.strictEqual(several?.reason, "AmbiguousTask")
      assert.include(several!.detail, T1)
      assert.include(several!.detail, T2)
      const none = yield* reasonOf(EcsExec.resolve({ cluster: "prod", service: "web", task: "f".repeat(32) }))
      assert.strictEqual(none?.reason, "TaskNotFound")
      const noneRunning = yield* reasonOf(EcsExec.resolve({ cluster: "prod", service: "gone" }))
      assert.strictEqual(noneRunning?.reason, "TaskNotFound")
      assert.match(noneRunning!.detail, /no running task in service gone in cluster prod/)
      const stoppedTask = yield* reasonOf(EcsExec.resolve({ cluster: "prod", task: T4 }))
      assert.strictEqual(stoppedTask?.reason, "TaskNotFound")
      assert.match(stoppedTask!.detail, /is STOPPED/)
      const ambiguous = yield* reasonOf(EcsExec.resolve({ cluster: "prod", task: T1 }))
      assert.strictEqual(ambiguous?.reason, "AmbiguousContainer")
      assert.match(ambiguous!.detail, /app, sidecar/)
      const missing = yield* reasonOf(EcsExec.resolve({ cluster: "prod", task: T1, container: "db" }))
      assert.strictEqual(missing?.reason, "ContainerNotFound")
      assert.match(missing!.detail, /its containers: app, sidecar/)
      const stopped = yield* reasonOf(EcsExec.resolve({ cluster: "prod", task: T1, container: "sidecar" }))
      assert.strictEqual(stopped?.reason, "AgentNotRunning")
      assert.match(stopped!.detail, new RegExp(`task ${T1}, container sidecar: the ExecuteCommandAgent is STOPPED`))
      assert.match(stopped!.detail, /ssmmessages:CreateControlChannel/)
      const disabled = yield* reasonOf(EcsExec.resolve({ cluster: "prod", service: "batch" }))
      assert.strictEqual(disabled?.reason, "AgentNotRunning")
      assert.match(disabled!.detail, /enableExecuteCommand/)
      const noService = yield* reasonOf(EcsExec.resolve({ cluster: "prod", service: "nope" }))
      assert.strictEqual(noService?.reason, "ServiceNotFound")
    })))
})
