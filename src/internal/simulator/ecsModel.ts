/**
 * The ECS world the simulator plays (`SimulatorOptions.ecs`): clusters, their tasks and their containers, whose
 * processes run on this machine. The public names are `SimulatorEcs.*`; `ecs.ts` answers ECS's API over them.
 *
 * @internal
 */

/**
 * The ECS world the simulator plays: clusters, their tasks and containers (processes on this machine).
 *
 * @since 0.5.0
 * @category models
 */
export interface SimulatedEcs {
  readonly clusters: ReadonlyArray<SimulatedCluster>
}

/**
 * @since 0.5.0
 * @category models
 */
export interface SimulatedCluster {
  readonly name: string
  /** executeCommandConfiguration.kmsKeyId: exec sessions in this cluster are KMS-encrypted with it */
  readonly kmsKeyId?: string | undefined
  /** the caller lacks ecs:ExecuteCommand here: ExecuteCommand fails with AccessDeniedException */
  readonly denyExecuteCommand?: boolean | undefined
  readonly tasks: ReadonlyArray<SimulatedTask>
}

/**
 * @since 0.5.0
 * @category models
 */
export interface SimulatedTask {
  /** 32 lowercase hex digits, as ECS's task ids */
  readonly taskId: string
  /** the service that started it (group `service:<name>`); none: run by hand (group `family:<family>`) */
  readonly service?: string | undefined
  /** default: the service's name, else "task" */
  readonly family?: string | undefined
  /** default RUNNING */
  readonly lastStatus?: "RUNNING" | "PENDING" | "STOPPED" | undefined
  /** default true */
  readonly enableExecuteCommand?: boolean | undefined
  readonly containers: ReadonlyArray<SimulatedContainer>
}

/**
 * @since 0.5.0
 * @category models
 */
export interface SimulatedContainer {
  readonly name: string
  /** default `${taskId}-<4 digits from the index>` as on Fargate */
  readonly runtimeId?: string | undefined
  /** the ExecuteCommandAgent's lastStatus; default RUNNING. "NONE": no managed agent listed */
  readonly execAgent?: "RUNNING" | "PENDING" | "STOPPED" | "NONE" | undefined
  /** the environment of the container's processes (e.g. a PATH without sh), over the agent's own */
  readonly environment?: Readonly<Record<string, string>> | undefined
}

/**
 * What the simulator plays without `ecs`: cluster `sim` with one task of service `web` (task id
 * `0123456789abcdef0123456789abcdef`) with one container, `app`.
 *
 * @internal
 */
export const DEFAULT_ECS: SimulatedEcs = {
  clusters: [{
    name: "sim",
    tasks: [{ taskId: "0123456789abcdef0123456789abcdef", service: "web", containers: [{ name: "app" }] }]
  }]
}

/** The account and region of every simulated ARN. @internal */
export const ACCOUNT = "123456789012"

/** @internal */
export const REGION = "us-east-1"
