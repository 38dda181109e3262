/**
 * The simulated ECS API's actions over the service's state (`SimulatorOptions.ecs`, else `DEFAULT_ECS`):
 * ExecuteCommand (a new InteractiveCommands session run in the agent's ContainerMode: `shell.ts` with
 * `containerMode`), DescribeTasks and ListTasks, with ECS's ARNs and exceptions; and the `ecs:` targets of
 * ssm:StartSession (`startTarget`). Each answers synchronously, with ECS's failure (`ApiFailure`) where ECS would;
 * `httpApi.ts` serves them over HTTP (the ECS JSON protocol, `AmazonEC2ContainerServiceV20141113.<Operation>`).
 *
 * Where a message is not known from ECS's own answers, it is a plain sentence in ECS's style (AGENT-BEHAVIOUR.md,
 * "ECS").
 *
 * @internal
 */
import * as Either from "effect/Either"
import * as Crypto from "node:crypto"
import type * as AgentSimulator from "../../AgentSimulator.js"
import type { ApiFailure } from "./api.js"
import {
  ACCOUNT,
  DEFAULT_ECS,
  REGION,
  type SimulatedCluster,
  type SimulatedContainer,
  type SimulatedEcs,
  type SimulatedTask
} from "./ecsModel.js"
import { newSession, newToken, type ServiceState, streamUrl } from "./serviceState.js"
import { shellPlugin } from "./shell.js"
import { plan } from "./shellProperties.js"

const PREFIX = `arn:aws:ecs:${REGION}:${ACCOUNT}`

/** @internal */
export const clusterArn = (cluster: string) => `${PREFIX}:cluster/${cluster}`

/** @internal */
export const taskArn = (cluster: string, taskId: string) => `${PREFIX}:task/${cluster}/${taskId}`

/** a container's ARN: `…:container/<cluster>/<task>/<a uuid made from the three>`, the same every time */
const containerArn = (cluster: string, taskId: string, name: string) => {
  const hex = Crypto.createHash("sha256").update(`${cluster}/${taskId}/${name}`).digest("hex")
  const uuid = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`
  return `${PREFIX}:container/${cluster}/${taskId}/${uuid}`
}

/** A container's runtime id: its own, else `<taskId>-<4 digits from its index>`. @internal */
export const runtimeIdOf = (task: SimulatedTask, index: number): string =>
  task.containers[index]?.runtimeId ?? `${task.taskId}-${String(1000 + index).padStart(4, "0")}`

/** The SSM target of a container: `ecs:<cluster>_<taskId>_<runtimeId>`. @internal */
export const targetOf = (cluster: string, taskId: string, runtimeId: string) => `ecs:${cluster}_${taskId}_${runtimeId}`

const worldOf = (state: ServiceState): SimulatedEcs => state.options.ecs ?? DEFAULT_ECS

const invalid = (message: string): ApiFailure => ({ status: 400, name: "InvalidParameterException", message })

const clusterNotFound: ApiFailure = { status: 400, name: "ClusterNotFoundException", message: "Cluster not found." }

/** ECS's words for a task it cannot exec into (its agent not running, exec not enabled, the task not running) */
export const NOT_ENABLED = "The execute command failed because execute command was not enabled when the task was run " +
  "or the execute command agent isn’t running. Wait and try again or run a new task with execute command enabled and " +
  "try again."

/** The cluster a request names, by name or ARN; none: `default`. */
const findCluster = (state: ServiceState, ref: string | undefined): Either.Either<SimulatedCluster, ApiFailure> => {
  const arn = ref === undefined ? undefined : /^arn:aws[a-z-]*:ecs:[^:]*:[^:]*:cluster\/(.+)$/.exec(ref)
  const name = arn?.[1] ?? (ref === undefined || ref === "" ? "default" : ref)
  const cluster = worldOf(state).clusters.find((c) => c.name === name)
  return cluster === undefined ? Either.left(clusterNotFound) : Either.right(cluster)
}

/** A task id from an id or an ARN (`…:task/<cluster>/<id>` or the older `…:task/<id>`); none for another cluster's. */
const taskIdOf = (ref: string, cluster: string): string | undefined => {
  const arn = /^arn:aws[a-z-]*:ecs:[^:]*:[^:]*:task\/(?:([^/]+)\/)?([^/]+)$/.exec(ref)
  if (arn === null) return ref
  return arn[1] !== undefined && arn[1] !== cluster ? undefined : arn[2]
}

const desiredStatusOf = (task: SimulatedTask) => (task.lastStatus ?? "RUNNING") === "STOPPED" ? "STOPPED" : "RUNNING"

/** A task as DescribeTasks says it. */
const describe = (cluster: SimulatedCluster, task: SimulatedTask) => {
  const family = task.family ?? task.service ?? "task"
  const lastStatus = task.lastStatus ?? "RUNNING"
  const arn = taskArn(cluster.name, task.taskId)
  return {
    taskArn: arn,
    clusterArn: clusterArn(cluster.name),
    taskDefinitionArn: `${PREFIX}:task-definition/${family}:1`,
    lastStatus,
    desiredStatus: desiredStatusOf(task),
    group: task.service !== undefined ? `service:${task.service}` : `family:${family}`,
    enableExecuteCommand: task.enableExecuteCommand ?? true,
    launchType: "FARGATE",
    containers: task.containers.map((container, index) => ({
      containerArn: containerArn(cluster.name, task.taskId, container.name),
      taskArn: arn,
      name: container.name,
      runtimeId: runtimeIdOf(task, index),
      lastStatus,
      managedAgents: (container.execAgent ?? "RUNNING") === "NONE"
        ? []
        : [{ name: "ExecuteCommandAgent", lastStatus: container.execAgent ?? "RUNNING" }]
    }))
  }
}

/** DescribeTasks: the tasks found, and a MISSING failure for each other one. @internal */
export const describeTasks = (
  state: ServiceState,
  request: { readonly cluster: string | undefined; readonly tasks: ReadonlyArray<string> }
): Either.Either<unknown, ApiFailure> =>
  Either.gen(function*() {
    const cluster = yield* findCluster(state, request.cluster)
    if (request.tasks.length === 0) return yield* Either.left(invalid("Tasks cannot be empty."))
    if (request.tasks.length > 100) return yield* Either.left(invalid("Tasks cannot contain more than 100 elements."))
    const tasks: Array<ReturnType<typeof describe>> = []
    const failures: Array<{ arn: string; reason: string }> = []
    for (const ref of request.tasks) {
      const id = taskIdOf(ref, cluster.name)
      const task = id === undefined ? undefined : cluster.tasks.find((t) => t.taskId === id)
      if (task === undefined) {
        failures.push({ arn: ref.startsWith("arn:") ? ref : taskArn(cluster.name, ref), reason: "MISSING" })
      } else tasks.push(describe(cluster, task))
    }
    return { tasks, failures }
  })

/** What ListTasks is given. @internal */
export interface ListTasksRequest {
  readonly cluster: string | undefined
  readonly serviceName: string | undefined
  readonly family: string | undefined
  readonly desiredStatus: string | undefined
  readonly maxResults: number | undefined
  readonly nextToken: string | undefined
}

/**
 * ListTasks: the ARNs of the cluster's tasks with the desired status (default RUNNING: running and pending tasks;
 * PENDING: none, as ECS never wants a task pending), of the service or family asked, `maxResults` (1 to 100, default
 * 100) a page, `nextToken` an opaque offset. An unknown service is ServiceNotFoundException.
 * @internal
 */
export const listTasks = (state: ServiceState, request: ListTasksRequest): Either.Either<unknown, ApiFailure> =>
  Either.gen(function*() {
    const cluster = yield* findCluster(state, request.cluster)
    const service = request.serviceName === undefined
      ? undefined
      : /^arn:aws[a-z-]*:ecs:[^:]*:[^:]*:service\/(?:[^/]+\/)?([^/]+)$/.exec(request.serviceName)?.[1] ?? request.serviceName
    if (service !== undefined && !cluster.tasks.some((task) => task.service === service)) {
      return yield* Either.left<ApiFailure>({ status: 400, name: "ServiceNotFoundException", message: "Service not found." })
    }
    const size = request.maxResults ?? 100
    if (!(Number.isInteger(size) && size >= 1 && size <= 100)) {
      return yield* Either.left(invalid("maxResults must be between 1 and 100."))
    }
    const from = request.nextToken === undefined ? 0 : Number(Buffer.from(request.nextToken, "base64url").toString())
    if (!(Number.isInteger(from) && from >= 0)) return yield* Either.left(invalid("Invalid nextToken."))
    const wanted = request.desiredStatus ?? "RUNNING"
    const all = cluster.tasks.filter((task) =>
      desiredStatusOf(task) === wanted &&
      (service === undefined || task.service === service) &&
      (request.family === undefined || (task.family ?? task.service ?? "task") === request.family)
    ).map((task) => taskArn(cluster.name, task.taskId))
    const next = from + size < all.length ? Buffer.from(String(from + size)).toString("base64url") : undefined
    return { taskArns: all.slice(from, from + size), ...(next === undefined ? {} : { nextToken: next }) }
  })

/** What ExecuteCommand is given. @internal */
export interface ExecuteCommandRequest {
  readonly cluster: string | undefined
  readonly task: string | undefined
  readonly container: string | undefined
  readonly command: string | undefined
  readonly interactive: boolean | undefined
}

/** A container ready for exec: its cluster, task, index and target. */
interface Found {
  readonly cluster: SimulatedCluster
  readonly task: SimulatedTask
  readonly container: SimulatedContainer
  readonly index: number
}

/** whether ECS lets a session reach the container: task running with exec enabled, its agent running */
const connected = ({ container, task }: Found) =>
  (task.lastStatus ?? "RUNNING") === "RUNNING" && (task.enableExecuteCommand ?? true) &&
  (container.execAgent ?? "RUNNING") === "RUNNING"

/** The container ExecuteCommand names, after ECS's checks of the request. */
const findContainer = (state: ServiceState, request: ExecuteCommandRequest): Either.Either<Found, ApiFailure> =>
  Either.gen(function*() {
    if (request.interactive !== true) return yield* Either.left(invalid("Interactive is the only mode supported currently."))
    if (request.command === undefined || request.command === "") return yield* Either.left(invalid("Command cannot be empty."))
    if (request.task === undefined || request.task === "") return yield* Either.left(invalid("Task cannot be empty."))
    const cluster = yield* findCluster(state, request.cluster)
    const id = taskIdOf(request.task, cluster.name)
    if (id !== undefined && id.length !== 32 && id.length !== 36) {
      return yield* Either.left(invalid("task length should be one of [32,36]"))
    }
    if (cluster.denyExecuteCommand === true) {
      return yield* Either.left<ApiFailure>({
        status: 400,
        name: "AccessDeniedException",
        message: `User: arn:aws:iam::${ACCOUNT}:user/simulated is not authorized to perform: ecs:ExecuteCommand on ` +
          `resource: ${taskArn(cluster.name, id ?? request.task)} because no identity-based policy allows the ` +
          "ecs:ExecuteCommand action"
      })
    }
    const task = id === undefined ? undefined : cluster.tasks.find((t) => t.taskId === id)
    if (task === undefined) return yield* Either.left(invalid("The specified task was not found in the specified cluster."))
    const named = request.container === undefined || request.container === ""
      ? task.containers.length === 1 ? 0 : -1
      : task.containers.findIndex((c) => c.name === request.container)
    if (named < 0) {
      return yield* Either.left(invalid(
        request.container === undefined || request.container === ""
          ? "The task has more than one container, a container name must be specified."
          : `The container ${request.container} was not found in the specified task.`
      ))
    }
    const found: Found = { cluster, task, container: task.containers[named]!, index: named }
    return connected(found) ? found : yield* Either.left(invalid(NOT_ENABLED))
  })

/**
 * What the session ExecuteCommand starts runs: the InteractiveCommands document with the command, played by the
 * shell plugin in ContainerMode (the command split by shlex and exec'd on a pty, no shell, no exit code), with the
 * container's environment; KMS-encrypted with the cluster's key (or not at all: the account's SSM preferences do
 * not apply), its KMS context naming the `ecs:` target.
 */
const execSpec = (state: ServiceState, found: Found, command: string): AgentSimulator.SessionSpec => {
  const remote = state.options.remoteProcess ?? {}
  const properties = { linux: { commands: command, runAsElevated: false } }
  const plugin = shellPlugin({
    ...remote,
    environment: { ...remote.environment, ...found.container.environment },
    sessionType: "InteractiveCommands",
    requireHandshake: false,
    containerMode: true
  })
  const next = plan("InteractiveCommands", properties)
  return {
    plugin,
    properties,
    ...(next._tag === "Refuse" ? { closeOutput: next.output } : {}),
    kmsKeyId: found.cluster.kmsKeyId ?? null,
    targetId: targetOf(found.cluster.name, found.task.taskId, runtimeIdOf(found.task, found.index))
  }
}

/** ExecuteCommand: a new session (`ecs-execute-command-<17 hex>`) in the container, and where it runs. @internal */
export const executeCommand = (state: ServiceState, request: ExecuteCommandRequest): Either.Either<unknown, ApiFailure> =>
  Either.map(findContainer(state, request), (found) => {
    const sessionId = `ecs-execute-command-${Crypto.randomBytes(9).toString("hex").slice(0, 17)}`
    const token = newToken()
    state.sessions.set(sessionId, newSession(state, sessionId, execSpec(state, found, request.command!), token))
    const described = describe(found.cluster, found.task)
    return {
      clusterArn: described.clusterArn,
      containerArn: described.containers[found.index]!.containerArn,
      containerName: found.container.name,
      interactive: true,
      taskArn: described.taskArn,
      session: { sessionId, streamUrl: streamUrl(state, sessionId), tokenValue: token }
    }
  })

/**
 * ssm:StartSession to `ecs:<cluster>_<taskId>_<runtimeId>`: the container, found by its runtime id, when ECS would let
 * a session reach it (its task running with exec enabled, its agent running); undefined otherwise, and for a
 * target that names no container (the service says TargetNotConnected). Cluster names may hold `_`: the task
 * id and runtime id are read from the right.
 * @internal
 */
export const startTarget = (state: ServiceState, target: string): SimulatedContainer | undefined => {
  const match = /^ecs:(.+)_([0-9a-f]{32}|[0-9a-f-]{36})_([^_]+)$/.exec(target)
  if (match === null) return undefined
  const [, clusterName, taskId, runtimeId] = match as unknown as [string, string, string, string]
  const cluster = worldOf(state).clusters.find((c) => c.name === clusterName)
  const task = cluster?.tasks.find((t) => t.taskId === taskId)
  const index = task?.containers.findIndex((_, i) => runtimeIdOf(task, i) === runtimeId) ?? -1
  if (cluster === undefined || task === undefined || index < 0) return undefined
  const found: Found = { cluster, task, container: task.containers[index]!, index }
  return connected(found) ? found.container : undefined
}
