/**
 * The ECS API calls ECS Exec needs (ExecuteCommand, DescribeTasks, ListTasks) as a service over
 * `@aws-sdk/client-ecs` (loaded on the first call), with deadlines, typed results (the session's token
 * `Redacted`) and one typed error whose reasons follow ECS's exceptions, each with a hint at what to check.
 * `AgentSimulator.layerEcsApi` provides the same service backed by the local simulator.
 *
 * @since 0.5.0
 */
import type { ECSClient, ECSClientConfig } from "@aws-sdk/client-ecs"
import type * as Cause from "effect/Cause"
import type * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as internal from "./internal/aws/ecsApi.js"
import type * as SsmApi from "./SsmApi.js"

/**
 * @since 0.5.0
 * @category type ids
 */
export const ErrorTypeId: unique symbol = internal.ErrorTypeId as ErrorTypeId

/**
 * @since 0.5.0
 * @category type ids
 */
export type ErrorTypeId = typeof ErrorTypeId

/**
 * The API calls this module makes.
 *
 * @since 0.5.0
 * @category models
 */
export type Operation = "ExecuteCommand" | "DescribeTasks" | "ListTasks"

/**
 * The one error of this module. `message` is `<operation>: <reason>: <detail>`; the detail ends with a hint at what
 * to check where ECS's own message gives none.
 *
 * @since 0.5.0
 * @category errors
 */
export interface EcsApiError {
  readonly [ErrorTypeId]: ErrorTypeId
  readonly _tag: "EcsApiError"
  readonly reason: EcsApiError.Reason
  readonly operation: Operation
  readonly detail: string
  readonly cause?: unknown
  readonly message: string
}

/**
 * @since 0.5.0
 * @category errors
 */
export declare namespace EcsApiError {
  /**
   * Mapped from ECS's exceptions: `TargetNotConnected` (`TargetNotConnectedException`: execute command was not
   * enabled when the task was run, or its agent is not running), `ClusterNotFound`, `ServiceNotFound`,
   * `InvalidParameter`, `AccessDenied`, `Throttling`, `Credentials`, `Other`; `Timeout` when no answer came within
   * the call's deadline. Selecting a container (`EcsExec.resolve`) adds `TaskNotFound`, `AmbiguousTask` (a service
   * with several running tasks: the detail lists them), `ContainerNotFound`, `AmbiguousContainer` (no `container`
   * given for a task with several) and `AgentNotRunning` (the container's ExecuteCommandAgent is not `RUNNING`).
   *
   * @since 0.5.0
   * @category errors
   */
  export type Reason =
    | "TargetNotConnected"
    | "ClusterNotFound"
    | "ServiceNotFound"
    | "InvalidParameter"
    | "AccessDenied"
    | "Throttling"
    | "Credentials"
    | "Timeout"
    | "TaskNotFound"
    | "AmbiguousTask"
    | "ContainerNotFound"
    | "AmbiguousContainer"
    | "AgentNotRunning"
    | "Other"
}

/**
 * @since 0.5.0
 * @category errors
 */
export const EcsApiError: new(args: {
  readonly reason: EcsApiError.Reason
  readonly operation: Operation
  readonly detail: string
  readonly cause?: unknown
}) => EcsApiError & Cause.YieldableError = internal.EcsApiError

/**
 * @since 0.5.0
 * @category refinements
 */
export const isEcsApiError: (u: unknown) => u is EcsApiError = internal.isEcsApiError

/**
 * @since 0.5.0
 * @category models
 */
export interface ExecuteCommandRequest {
  /** the cluster's name or ARN; none: the `default` cluster */
  readonly cluster?: string | undefined
  /** the task's id or ARN */
  readonly task: string
  /** the container's name; may be left out for a task with one container */
  readonly container?: string | undefined
  /** the command line; ECS's agent splits it as a shell would (no shell runs it) */
  readonly command: string
}

/**
 * What ExecuteCommand returns: the session, as `Session.make` takes it, and where it runs.
 *
 * @since 0.5.0
 * @category models
 */
export interface ExecuteCommandResponse {
  readonly clusterArn: string
  readonly taskArn: string
  readonly containerName: string
  readonly containerArn: string | undefined
  readonly session: SsmApi.SessionResponse
}

/**
 * The status of a managed agent (ECS Exec's is `ExecuteCommandAgent`).
 *
 * @since 0.5.0
 * @category models
 */
export interface ManagedAgent {
  readonly name: string
  readonly lastStatus: string | undefined
  readonly reason: string | undefined
}

/**
 * A container of a task, as DescribeTasks says it.
 *
 * @since 0.5.0
 * @category models
 */
export interface Container {
  readonly name: string
  readonly containerArn: string | undefined
  /** the container runtime's id: the third part of the container's `ecs:` target */
  readonly runtimeId: string | undefined
  readonly lastStatus: string | undefined
  readonly managedAgents: ReadonlyArray<ManagedAgent>
}

/**
 * A task, as DescribeTasks says it.
 *
 * @since 0.5.0
 * @category models
 */
export interface Task {
  readonly taskArn: string
  readonly clusterArn: string
  readonly lastStatus: string | undefined
  readonly desiredStatus: string | undefined
  /** `service:<name>` for a service's task, `family:<name>` for one run by hand */
  readonly group: string | undefined
  readonly enableExecuteCommand: boolean
  readonly containers: ReadonlyArray<Container>
}

/**
 * ListTasks' filters.
 *
 * @since 0.5.0
 * @category models
 */
export interface ListTasksRequest {
  readonly cluster?: string | undefined
  readonly serviceName?: string | undefined
  readonly family?: string | undefined
  /** default `RUNNING` */
  readonly desiredStatus?: "RUNNING" | "PENDING" | "STOPPED" | undefined
}

/**
 * @since 0.5.0
 * @category models
 */
export interface EcsApi {
  readonly executeCommand: (request: ExecuteCommandRequest) => Effect.Effect<ExecuteCommandResponse, EcsApiError>
  /** the tasks found, in the order asked; a task ECS reports as missing is left out */
  readonly describeTasks: (
    cluster: string | undefined,
    tasks: ReadonlyArray<string>
  ) => Effect.Effect<ReadonlyArray<Task>, EcsApiError>
  /** every page's task ARNs (at most 1000) */
  readonly listTasks: (request: ListTasksRequest) => Effect.Effect<ReadonlyArray<string>, EcsApiError>
}

/**
 * @since 0.5.0
 * @category tags
 */
export const EcsApi: Context.Tag<EcsApi, EcsApi> = internal.tag

/**
 * Options of the SDK client. Anything not given comes from the SDK's default chains (environment, shared config
 * and credentials files, SSO, instance and container roles), the endpoint included: `AWS_ENDPOINT_URL_ECS`,
 * `AWS_ENDPOINT_URL` and the profile's `endpoint_url`.
 *
 * @since 0.5.0
 * @category models
 */
export interface EcsApiOptions {
  readonly region?: string | undefined
  readonly profile?: string | undefined
  /** an endpoint override, e.g. a VPC endpoint */
  readonly endpoint?: string | undefined
  readonly credentials?: ECSClientConfig["credentials"] | undefined
  readonly maxAttempts?: number | undefined
  /** how long one call may take, the SDK's retries included, before it fails with `Timeout`. Default 30 seconds */
  readonly timeout?: Duration.DurationInput | undefined
}

/**
 * The service over an existing SDK client.
 *
 * @since 0.5.0
 * @category constructors
 */
export const fromClient: (client: ECSClient, options?: { readonly timeout?: Duration.DurationInput | undefined }) => EcsApi =
  internal.fromClient

/**
 * The service over a new SDK client, made on the first call and destroyed with the layer.
 *
 * @since 0.5.0
 * @category layers
 */
export const layer: (options?: EcsApiOptions) => Layer.Layer<EcsApi> = internal.layer
