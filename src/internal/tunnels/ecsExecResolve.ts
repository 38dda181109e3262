/**
 * Which container an ECS Exec runs in: a cluster, then a task (by id or ARN, or the one running task of a service,
 * or of the cluster), then a container (by name, or the task's only one), whose ExecuteCommandAgent must be
 * running. The container's SSM target, `ecs:<clusterName>_<taskId>_<runtimeId>`, is what port forwarding starts
 * sessions on and what KMS's encryption context names.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type * as EcsApi from "../../EcsApi.js"
import type * as EcsExec from "../../EcsExec.js"
import { EcsApiError, lastPart, tag as ecsApiTag, TARGET_NOT_CONNECTED_HINT } from "../aws/ecsApi.js"

/** @internal */
export { lastPart } from "../aws/ecsApi.js"

/** The name of the ECS Exec's agent among a container's managed agents. @internal */
export const EXEC_AGENT = "ExecuteCommandAgent"

/** The SSM target of a container. @internal */
export const ssmTarget = (clusterName: string, taskId: string, runtimeId: string): string =>
  `ecs:${clusterName}_${taskId}_${runtimeId}`

const fail = (reason: EcsApi.EcsApiError.Reason, operation: EcsApi.Operation, detail: string) =>
  Effect.fail(new EcsApiError({ reason, operation, detail }))

/** the cluster's name for messages */
const clusterOf = (selector: EcsExec.ContainerSelector) => selector.cluster === undefined ? "the default cluster" : `cluster ${selector.cluster}`

/** how many of a service's tasks an `AmbiguousTask` error names (the line stays readable) */
const LISTED_TASKS = 20

/** the most task ARNs EcsApi's listTasks reads (10 pages of 100) */
const MAX_LISTED = 1000

/**
 * The selector with its cluster taken from a task ARN when none is given (`arn:aws:ecs:…:task/<cluster>/<id>`):
 * the ARN says which cluster the task is in, and ECS would look in the default one otherwise.
 */
const withClusterOfTask = (selector: EcsExec.ContainerSelector): EcsExec.ContainerSelector => {
  const match = selector.cluster === undefined && selector.task !== undefined
    ? /^(arn:[^:]+:ecs:[^:]*:[^:]*:)task\/([^/]+)\/[^/]+$/.exec(selector.task)
    : null
  return match === null ? selector : { ...selector, cluster: match[2] }
}

/** the running task selected by a service (or the whole cluster): exactly one */
const taskOfService = (api: EcsApi.EcsApi, selector: EcsExec.ContainerSelector) =>
  Effect.gen(function*() {
    const arns = yield* api.listTasks({
      cluster: selector.cluster,
      serviceName: selector.service,
      desiredStatus: "RUNNING"
    })
    const where = selector.service === undefined
      ? clusterOf(selector)
      : `service ${selector.service} in ${clusterOf(selector)}`
    if (arns.length === 0) {
      return yield* fail("TaskNotFound", "ListTasks", `no running task in ${where}`)
    }
    if (arns.length > 1) {
      const listed = arns.slice(0, LISTED_TASKS).map(lastPart).join(", ")
      const more = arns.length > LISTED_TASKS ? ` and ${arns.length - LISTED_TASKS} more` : ""
      return yield* fail(
        "AmbiguousTask",
        "ListTasks",
        `${arns.length}${arns.length >= MAX_LISTED ? " or more" : ""} running tasks in ${where}: ${listed}${more}; ` +
          "name one with --task"
      )
    }
    return arns[0]!
  })

/** the container selected in a task */
const containerOf = (task: EcsApi.Task, selector: EcsExec.ContainerSelector) => {
  const names = task.containers.map((container) => container.name)
  const taskId = lastPart(task.taskArn)
  if (selector.container !== undefined) {
    const found = task.containers.find((container) => container.name === selector.container)
    return found !== undefined ? Effect.succeed(found) : fail(
      "ContainerNotFound",
      "DescribeTasks",
      `task ${taskId} has no container ${selector.container}` +
        (names.length === 0 ? "" : `; its containers: ${names.join(", ")}`)
    )
  }
  if (task.containers.length === 1) return Effect.succeed(task.containers[0]!)
  return task.containers.length === 0
    ? fail("ContainerNotFound", "DescribeTasks", `task ${taskId} has no containers`)
    : fail(
      "AmbiguousContainer",
      "DescribeTasks",
      `task ${taskId} has ${names.length} containers: ${names.join(", ")}; name one with --container`
    )
}

/** @internal */
export const resolve = (
  given: EcsExec.ContainerSelector
): Effect.Effect<EcsExec.ExecTarget, EcsApi.EcsApiError, EcsApi.EcsApi> =>
  Effect.gen(function*() {
    const selector = withClusterOfTask(given)
    const api = yield* ecsApiTag
    const taskRef = selector.task ?? (yield* taskOfService(api, selector))
    const [task] = yield* api.describeTasks(selector.cluster, [taskRef])
    if (task === undefined) {
      return yield* fail("TaskNotFound", "DescribeTasks", `no task ${lastPart(taskRef)} in ${clusterOf(selector)}`)
    }
    const taskId = lastPart(task.taskArn)
    if (task.lastStatus !== undefined && task.lastStatus !== "RUNNING") {
      return yield* fail("TaskNotFound", "DescribeTasks", `task ${taskId} is ${task.lastStatus}, not RUNNING`)
    }
    const container = yield* containerOf(task, selector)
    const named = `task ${taskId}, container ${container.name}`
    if (!task.enableExecuteCommand) {
      return yield* fail(
        "AgentNotRunning",
        "DescribeTasks",
        `${named}: the task was run without enableExecuteCommand (update the service or run the task with ` +
          "--enable-execute-command; a running task cannot be changed)"
      )
    }
    const agent = container.managedAgents.find((managed) => managed.name === EXEC_AGENT)
    if (agent?.lastStatus !== "RUNNING") {
      return yield* fail(
        "AgentNotRunning",
        "DescribeTasks",
        `${named}: the ${EXEC_AGENT} is ${agent?.lastStatus ?? "missing"}` +
          (agent?.reason === undefined || agent.reason === "" ? "" : ` (${agent.reason})`) +
          `; ${TARGET_NOT_CONNECTED_HINT}`
      )
    }
    if (container.runtimeId === undefined || container.runtimeId === "") {
      return yield* fail("AgentNotRunning", "DescribeTasks", `${named}: the container has no runtime id (not started?)`)
    }
    const clusterName = lastPart(task.clusterArn !== "" ? task.clusterArn : selector.cluster ?? "default")
    return {
      cluster: selector.cluster ?? task.clusterArn,
      clusterName,
      clusterArn: task.clusterArn,
      taskArn: task.taskArn,
      taskId,
      containerName: container.name,
      runtimeId: container.runtimeId,
      target: ssmTarget(clusterName, taskId, container.runtimeId)
    } satisfies EcsExec.ExecTarget
  })
