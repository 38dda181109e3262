/**
 * ExecuteCommand / DescribeTasks / ListTasks over `@aws-sdk/client-ecs`, with ECS's exceptions mapped to one typed
 * error.
 *
 * @internal
 */
import type { ECSClient, ECSClientConfig } from "@aws-sdk/client-ecs"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { isReasonError, ReasonError } from "../error.js"
import {
  ACCESS_DENIED_NAMES,
  callWithDeadline,
  CREDENTIALS_NAMES,
  layerFromClient,
  lazyModule,
  messageOf,
  operationLeadsMessage,
  reasonByName,
  THROTTLING_NAMES
} from "./awsClient.js"
import type * as EcsApi from "../../EcsApi.js"

const sdk = lazyModule(() => import("@aws-sdk/client-ecs"))

/** @internal */
export const ErrorTypeId: EcsApi.ErrorTypeId = Symbol.for("ssm-session-manager/EcsApi/EcsApiError") as EcsApi.ErrorTypeId

/** @internal */
export class EcsApiError extends ReasonError(ErrorTypeId, "EcsApiError")<
  EcsApi.EcsApiError.Reason,
  { readonly operation: EcsApi.Operation }
> {}
// the operation leads the message: `ExecuteCommand: TargetNotConnected: …`
operationLeadsMessage(EcsApiError)

/** @internal */
export const isEcsApiError = isReasonError<EcsApiError>(ErrorTypeId)

/** @internal */
export const tag = Context.GenericTag<EcsApi.EcsApi>("ssm-session-manager/EcsApi")

const reasons: ReadonlyArray<readonly [ReadonlyArray<string>, EcsApi.EcsApiError.Reason]> = [
  [["TargetNotConnectedException", "TargetNotConnected"], "TargetNotConnected"],
  [["ClusterNotFoundException"], "ClusterNotFound"],
  [["ServiceNotFoundException"], "ServiceNotFound"],
  [["InvalidParameterException", "ValidationException"], "InvalidParameter"],
  [ACCESS_DENIED_NAMES, "AccessDenied"],
  [THROTTLING_NAMES, "Throttling"],
  [CREDENTIALS_NAMES, "Credentials"]
]

const byName = reasonByName(reasons, "Other")

/** what ECS says (as an InvalidParameterException) when exec was not enabled or its agent is not running */
const NOT_ENABLED = /execute command was not enabled/i

/**
 * Maps an SDK exception (by its `name`) to a reason. ECS answers an exec that was not enabled, or whose agent is not
 * running, with an InvalidParameterException saying so: that is `TargetNotConnected` too.
 * @internal
 */
export const reasonOf = (cause: unknown): EcsApi.EcsApiError.Reason => {
  const reason = byName(cause)
  return reason === "InvalidParameter" && NOT_ENABLED.test(messageOf(cause)) ? "TargetNotConnected" : reason
}

const CHECK_AGENT = "check that `aws ecs describe-tasks` shows enableExecuteCommand true and the container's " +
  "ExecuteCommandAgent RUNNING, and that the task role allows ssmmessages:CreateControlChannel, CreateDataChannel, " +
  "OpenControlChannel and OpenDataChannel"

/** @internal */
export const TARGET_NOT_CONNECTED_HINT = "execute command was not enabled when the task was run or the execute command " +
  `agent isn't running: ${CHECK_AGENT}`

const permissionOf = (operation: EcsApi.Operation) =>
  operation === "ExecuteCommand"
    ? "ecs:ExecuteCommand on the task (and ecs:DescribeTasks / ecs:ListTasks to select it)"
    : `ecs:${operation} (used to select the task and container)`

/** The hint appended to a reason's detail, if any. @internal */
export const hintOf = (reason: EcsApi.EcsApiError.Reason, operation: EcsApi.Operation): string | undefined => {
  switch (reason) {
    case "TargetNotConnected":
      return TARGET_NOT_CONNECTED_HINT
    case "AccessDenied":
      return `check that your IAM identity allows ${permissionOf(operation)}`
    case "ClusterNotFound":
      return "check --cluster and the region"
    case "ServiceNotFound":
      return "check --service, --cluster and the region"
    case "Credentials":
      return "check your AWS credentials (profile, environment, SSO login)"
    default:
      return undefined
  }
}

/** A detail with the reason's hint appended (unless the detail holds it already). @internal */
export const withHint = (reason: EcsApi.EcsApiError.Reason, operation: EcsApi.Operation, detail: string): string => {
  // ECS's own words already say what happened: only what to check is added
  const hint = reason === "TargetNotConnected" && NOT_ENABLED.test(detail) ? CHECK_AGENT : hintOf(reason, operation)
  if (hint === undefined || detail.includes(hint)) return detail
  return detail === "" ? hint : `${detail.replace(/[.\s]+$/, "")}: ${hint}`
}

/** @internal */
export const fromCause = (operation: EcsApi.Operation, cause: unknown): EcsApiError => {
  const reason = reasonOf(cause)
  return new EcsApiError({ reason, operation, detail: withHint(reason, operation, messageOf(cause)), cause })
}

/** how long one call may take by default, the SDK's retries included */
const DEFAULT_TIMEOUT = Duration.seconds(30)

const call = <A>(
  operation: EcsApi.Operation,
  timeout: Duration.Duration,
  run: (module: typeof import("@aws-sdk/client-ecs"), signal: AbortSignal) => Promise<A>
) =>
  callWithDeadline(
    sdk,
    timeout,
    run,
    (cause) => fromCause(operation, cause),
    () => new EcsApiError({ reason: "Timeout", operation, detail: `no answer within ${Duration.format(timeout)}` })
  )

/** ListTasks pages read at most (of 100 tasks each) */
const MAX_PAGES = 10
/** DescribeTasks takes at most 100 tasks per call */
const DESCRIBE_CHUNK = 100

type SdkTask = NonNullable<import("@aws-sdk/client-ecs").DescribeTasksResponse["tasks"]>[number]

const toTask = (task: SdkTask): EcsApi.Task | undefined =>
  task.taskArn === undefined ? undefined : {
    taskArn: task.taskArn,
    clusterArn: task.clusterArn ?? "",
    lastStatus: task.lastStatus,
    desiredStatus: task.desiredStatus,
    group: task.group,
    enableExecuteCommand: task.enableExecuteCommand === true,
    containers: (task.containers ?? []).flatMap((container) =>
      container.name === undefined ? [] : [{
        name: container.name,
        containerArn: container.containerArn,
        runtimeId: container.runtimeId,
        lastStatus: container.lastStatus,
        managedAgents: (container.managedAgents ?? []).flatMap((agent) =>
          agent.name === undefined ? [] : [{ name: agent.name, lastStatus: agent.lastStatus, reason: agent.reason }]
        )
      }]
    )
  }

/** the last part of an ARN (`arn:…:task/cluster/0123` → `0123`), or the string itself @internal */
export const lastPart = (idOrArn: string): string => idOrArn.slice(idOrArn.lastIndexOf("/") + 1)

/** @internal */
export const fromClient = (
  client: Pick<ECSClient, "send">,
  options: { readonly timeout?: Duration.DurationInput | undefined } = {}
): EcsApi.EcsApi => {
  const timeout = Duration.decode(options.timeout ?? DEFAULT_TIMEOUT)
  return {
    executeCommand: (request) =>
      Effect.flatMap(
        call("ExecuteCommand", timeout, ({ ExecuteCommandCommand }, abortSignal) =>
          client.send(
            new ExecuteCommandCommand({
              ...(request.cluster === undefined ? {} : { cluster: request.cluster }),
              task: request.task,
              ...(request.container === undefined ? {} : { container: request.container }),
              command: request.command,
              interactive: true
            }),
            { abortSignal }
          )),
        (response) => {
          const session = response.session
          if (session?.sessionId === undefined || session.streamUrl === undefined || session.tokenValue === undefined) {
            return Effect.fail(
              new EcsApiError({
                reason: "Other",
                operation: "ExecuteCommand",
                detail: "the response lacks session.sessionId, streamUrl or tokenValue"
              })
            )
          }
          return Effect.succeed<EcsApi.ExecuteCommandResponse>({
            clusterArn: response.clusterArn ?? "",
            taskArn: response.taskArn ?? "",
            containerName: response.containerName ?? request.container ?? "",
            containerArn: response.containerArn,
            session: {
              sessionId: session.sessionId,
              streamUrl: session.streamUrl,
              tokenValue: Redacted.make(session.tokenValue)
            }
          })
        }
      ),
    describeTasks: (cluster, tasks) =>
      Effect.gen(function*() {
        const found: Array<EcsApi.Task> = []
        for (let start = 0; start < tasks.length; start += DESCRIBE_CHUNK) {
          const chunk = tasks.slice(start, start + DESCRIBE_CHUNK)
          const response = yield* call("DescribeTasks", timeout, ({ DescribeTasksCommand }, abortSignal) =>
            client.send(
              new DescribeTasksCommand({ ...(cluster === undefined ? {} : { cluster }), tasks: [...chunk] }),
              { abortSignal }
            ))
          const byId = new Map<string, EcsApi.Task>()
          for (const sdkTask of response.tasks ?? []) {
            const task = toTask(sdkTask)
            if (task !== undefined) byId.set(lastPart(task.taskArn), task)
          }
          // in the order asked; a task reported as missing (in `failures`) is left out
          for (const asked of chunk) {
            const task = byId.get(lastPart(asked))
            if (task !== undefined) found.push(task)
          }
        }
        return found
      }),
    listTasks: (request) =>
      Effect.gen(function*() {
        const found: Array<string> = []
        let nextToken: string | undefined
        for (let page = 0; page < MAX_PAGES; page++) {
          const response = yield* call("ListTasks", timeout, ({ ListTasksCommand }, abortSignal) =>
            client.send(
              new ListTasksCommand({
                ...(request.cluster === undefined ? {} : { cluster: request.cluster }),
                ...(request.serviceName === undefined ? {} : { serviceName: request.serviceName }),
                ...(request.family === undefined ? {} : { family: request.family }),
                desiredStatus: request.desiredStatus ?? "RUNNING",
                maxResults: 100,
                ...(nextToken === undefined ? {} : { nextToken })
              }),
              { abortSignal }
            ))
          found.push(...(response.taskArns ?? []))
          nextToken = response.nextToken
          if (nextToken === undefined || nextToken === "") break
        }
        return found
      })
  }
}

/** @internal */
export const layer = (options: EcsApi.EcsApiOptions = {}): Layer.Layer<EcsApi.EcsApi> => {
  const config: ECSClientConfig = {
    ...(options.region === undefined ? {} : { region: options.region }),
    ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
    ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
    ...(options.profile === undefined ? {} : { profile: options.profile }),
    ...(options.maxAttempts === undefined ? {} : { maxAttempts: options.maxAttempts })
  }
  return layerFromClient(tag, Effect.map(sdk, ({ ECSClient }) => new ECSClient(config)), (client) => fromClient(client, options))
}
