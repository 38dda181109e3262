/**
 * The ECS world the `AgentSimulator` plays (`SimulatorOptions.ecs`): clusters, their tasks and their containers,
 * whose processes run on this machine. Its HTTP API answers ECS's ExecuteCommand (a session in the container, run
 * as the agent's ContainerMode runs it: the command split by shlex and exec'd on a pty, no shell, no exit code),
 * DescribeTasks and ListTasks, with ECS's ARNs (account 123456789012, us-east-1) and exceptions; ssm:StartSession
 * takes a container's `ecs:<cluster>_<taskId>_<runtimeId>` target. `AgentSimulator.layerEcsApi` is the `EcsApi`
 * over it.
 *
 * @since 0.5.0
 */
import * as internal from "./internal/simulator/ecs.js"
import * as model from "./internal/simulator/ecsModel.js"

/**
 * The ECS world the simulator plays: clusters, their tasks and containers (processes on this machine).
 *
 * @since 0.5.0
 * @category models
 */
export type SimulatedEcs = model.SimulatedEcs

/**
 * A cluster: its name, its exec sessions' KMS key, whether the caller may exec in it, and its tasks.
 *
 * @since 0.5.0
 * @category models
 */
export type SimulatedCluster = model.SimulatedCluster

/**
 * A task: its id, the service or family that ran it, its status, whether exec is enabled, and its containers.
 *
 * @since 0.5.0
 * @category models
 */
export type SimulatedTask = model.SimulatedTask

/**
 * A container: its name, runtime id, ExecuteCommandAgent status and processes' environment.
 *
 * @since 0.5.0
 * @category models
 */
export type SimulatedContainer = model.SimulatedContainer

/**
 * What the simulator plays without `ecs`: cluster `sim` with one task of service `web` (task id
 * `0123456789abcdef0123456789abcdef`) with one container, `app`.
 *
 * @since 0.5.0
 * @category constants
 */
export const DEFAULT_ECS: SimulatedEcs = model.DEFAULT_ECS

/**
 * A cluster's ARN, as the simulator makes it: `arn:aws:ecs:us-east-1:123456789012:cluster/<name>`.
 *
 * @since 0.5.0
 * @category ARNs
 */
export const clusterArn: (cluster: string) => string = internal.clusterArn

/**
 * A task's ARN: `arn:aws:ecs:us-east-1:123456789012:task/<cluster>/<taskId>`.
 *
 * @since 0.5.0
 * @category ARNs
 */
export const taskArn: (cluster: string, taskId: string) => string = internal.taskArn

/**
 * A container's runtime id: its own `runtimeId`, else `<taskId>-<1000 + its index>`.
 *
 * @since 0.5.0
 * @category ARNs
 */
export const runtimeId = (task: SimulatedTask, index: number): string => internal.runtimeIdOf(task, index)

/**
 * A container's SSM target, for ssm:StartSession (port forwarding): `ecs:<cluster>_<taskId>_<runtimeId>`.
 *
 * @since 0.5.0
 * @category ARNs
 */
export const target: (cluster: string, taskId: string, runtimeId: string) => string = internal.targetOf
