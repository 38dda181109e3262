/**
 * ECS Exec: commands, terminals and file copies in a container of an ECS task, over the SSM session that
 * `ecs:ExecuteCommand` starts. `resolve` finds the container (a task by id or ARN, or a service's one running
 * task; the container by name, or the task's only one) and checks that its ExecuteCommandAgent is running;
 * `openSession` runs a command there.
 *
 * The agent in a container splits the command as a shell would (google/shlex) and execs it on a pseudo-terminal,
 * without a shell and without ever sending an exit code. So this module runs commands under `sh -c`:
 * `startWithInput` / `execWithInput` (stdin, separate stdout and stderr, the exit code; `launch` gives
 * `FileTransfer` the same) run `RemoteCommand`'s framed wrapper, which needs coreutils and grep or busybox in the
 * container; `startTerminal` runs the command on the terminal and prints an exit-code marker the output filter
 * takes out; `startRaw` runs the command exactly as ECS does, for a container without `sh`.
 *
 * Sessions resume and are terminated through `SsmApi` (ssm:ResumeSession, ssm:TerminateSession), and a cluster
 * whose `executeCommandConfiguration` names a KMS key gets its sessions encrypted (with a `KmsApi` provided).
 *
 * @since 0.5.0
 */
import type * as Socket from "@effect/platform/Socket"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type * as EcsApi from "./EcsApi.js"
import * as internal from "./internal/tunnels/ecsExec.js"
import * as internalResolve from "./internal/tunnels/ecsExecResolve.js"
import type * as RemoteCommand from "./RemoteCommand.js"
import type * as Session from "./Session.js"
import type * as Shell from "./Shell.js"
import type * as SsmApi from "./SsmApi.js"

/**
 * Which container: every field optional. No `task`: the one running task of `service`, or of the cluster.
 * No `container`: the task's only container.
 *
 * @since 0.5.0
 * @category models
 */
export interface ContainerSelector {
  /** the cluster's name or ARN; none: the `default` cluster */
  readonly cluster?: string | undefined
  /** the task's id or ARN */
  readonly task?: string | undefined
  /** the service whose one running task is meant (when no `task`) */
  readonly service?: string | undefined
  /** the container's name */
  readonly container?: string | undefined
}

/**
 * A container that ECS Exec can run commands in, as `resolve` found it.
 *
 * @since 0.5.0
 * @category models
 */
export interface ExecTarget {
  /** the cluster as given (or its ARN), for ECS's calls */
  readonly cluster: string
  readonly clusterName: string
  readonly clusterArn: string
  readonly taskArn: string
  readonly taskId: string
  readonly containerName: string
  /** the container runtime's id */
  readonly runtimeId: string
  /** the container's SSM target, `ecs:<clusterName>_<taskId>_<runtimeId>`: port forwarding starts sessions on it */
  readonly target: string
}

/**
 * Finds the container: ListTasks (for a service, or the cluster) and DescribeTasks. Fails with `EcsApiError`:
 * `TaskNotFound`, `AmbiguousTask` (listing the running tasks), `ContainerNotFound`, `AmbiguousContainer` (listing
 * the containers), `AgentNotRunning` (naming the task and container, with what to check), or ECS's own errors.
 *
 * @since 0.5.0
 * @category resolving
 */
export const resolve: (selector: ContainerSelector) => Effect.Effect<ExecTarget, EcsApi.EcsApiError, EcsApi.EcsApi> =
  internalResolve.resolve

/**
 * @since 0.5.0
 * @category models
 */
export interface OpenOptions {
  readonly session?: Omit<Session.SessionOptions, "sessionId" | "streamUrl" | "tokenValue" | "target"> | undefined
}

/**
 * ExecuteCommand with `command` (split by the agent as a shell would, run without a shell: see `containerCommand`)
 * and open its session, closed with the scope (through ssm:TerminateSession if it has not ended).
 *
 * @since 0.5.0
 * @category sessions
 */
export const openSession: (
  target: ExecTarget,
  command: string,
  options?: OpenOptions
) => Effect.Effect<
  Session.Session,
  EcsApi.EcsApiError | Session.SessionError,
  Scope.Scope | EcsApi.EcsApi | SsmApi.SsmApi | Socket.WebSocketConstructor
> = internal.openSession

/**
 * The command line for `argv` that the agent (google/shlex) splits back exactly: plain words as they are, others
 * in single quotes (`'` as `'\''`).
 *
 * @since 0.5.0
 * @category commands
 */
export const containerCommand: (argv: ReadonlyArray<string>) => string = internal.containerCommand

/**
 * The command that runs `command` (a shell command line) under `RemoteCommand`'s framed wrapper:
 * `sh -c '<wrapper>'`, the command inlined in base64.
 *
 * @since 0.5.0
 * @category commands
 */
export const framedScript: (command: string) => string = internal.framedScript

/**
 * The command that runs `command` (a shell command line) on the terminal, then prints its exit code as a marker
 * (`ESC ] ssm-exit;<nonce>;<code> BEL`) that `startTerminal` takes out of the output; `nonce` (lowercase hex) is
 * the session's own, so that no output can stand for the exit code. A Ctrl-C'd command reports 130.
 *
 * @since 0.5.0
 * @category commands
 */
export const terminalScript: (command: string, nonce: string) => string = internal.terminalScript

/**
 * What `startTerminal` runs when given no command: bash if the container has it, else sh.
 *
 * @since 0.5.0
 * @category commands
 */
export const DEFAULT_SHELL_COMMAND: string = internal.DEFAULT_SHELL_COMMAND

/**
 * How `RemoteCommand.startWithInput` and `FileTransfer` open their sessions in the container (ExecuteCommand with
 * `framedScript`); an `EcsApiError` becomes a `RemoteCommandError` with reason `Start` (its cause).
 *
 * @since 0.5.0
 * @category commands
 */
export const launch: (target: ExecTarget) => Effect.Effect<RemoteCommand.Launch, never, EcsApi.EcsApi> = internal.launch

/**
 * `RemoteCommand.InputOptions` for a container: `target` is the container, and neither a document nor a launch
 * applies.
 *
 * @since 0.5.0
 * @category models
 */
export interface InputOptions<E, R> extends RemoteCommand.RunOptions, OpenOptions {
  readonly target: ExecTarget
  /** run by `sh -c` in the container */
  readonly command: string
  /** the command's stdin, byte for byte; its end closes the command's stdin */
  readonly input: Stream.Stream<Uint8Array, E, R>
  /** how long to wait for the remote wrapper to be ready. Default 30 seconds */
  readonly readyTimeout?: Duration.DurationInput | undefined
}

/**
 * `RemoteCommand.startWithInput` in a container: stdin, separate stdout and stderr, the exit code. The container
 * needs `sh`, coreutils and grep (or busybox).
 *
 * @since 0.5.0
 * @category commands
 */
export const startWithInput: <E, R>(
  options: InputOptions<E, R>
) => Effect.Effect<
  RemoteCommand.RunningCommand,
  RemoteCommand.RemoteCommandError | Session.SessionError | SsmApi.SsmApiError,
  Scope.Scope | EcsApi.EcsApi | SsmApi.SsmApi | Socket.WebSocketConstructor | R
> = internal.startWithInput

/**
 * `startWithInput`, then collect stdout, stderr and the exit code.
 *
 * @since 0.5.0
 * @category commands
 */
export const execWithInput: <E, R>(
  options: InputOptions<E, R>
) => Effect.Effect<
  RemoteCommand.CommandResult,
  RemoteCommand.RemoteCommandError | Session.SessionError | SsmApi.SsmApiError,
  EcsApi.EcsApi | SsmApi.SsmApi | Socket.WebSocketConstructor | R
> = internal.execWithInput

/**
 * @since 0.5.0
 * @category models
 */
export interface TerminalOptions extends OpenOptions {
  readonly target: ExecTarget
  /** a shell command line; none: `DEFAULT_SHELL_COMMAND` */
  readonly command?: string | undefined
  /** sent on start */
  readonly size?: Shell.TerminalSize | undefined
}

/**
 * A terminal session and its command's exit code.
 *
 * @since 0.5.0
 * @category models
 */
export interface Terminal {
  /** the output has the exit-code marker taken out, every other byte as it came */
  readonly shell: Shell.Shell
  /**
   * The command's exit code (130 after Ctrl-C), once `shell.output` has been read to its end. Fails with
   * `NoExitCode` if the session ended without the marker (never 0 for want of one), `Session` if it failed.
   */
  readonly exitCode: Effect.Effect<number, RemoteCommand.RemoteCommandError>
}

/**
 * Runs a command (or a shell) on a terminal in the container, with its exit code (see `terminalScript`). A session
 * that ends before any output (the container has no `sh`) is a `RemoteCommandError` `NoExitCode`.
 *
 * @since 0.5.0
 * @category commands
 */
export const startTerminal: (
  options: TerminalOptions
) => Effect.Effect<
  Terminal,
  EcsApi.EcsApiError | Session.SessionError | Shell.ShellError | RemoteCommand.RemoteCommandError,
  Scope.Scope | EcsApi.EcsApi | SsmApi.SsmApi | Socket.WebSocketConstructor
> = internal.startTerminal

/**
 * @since 0.5.0
 * @category models
 */
export interface RawOptions extends OpenOptions {
  readonly target: ExecTarget
  /** as ECS runs it: split into words, no shell */
  readonly command: string
  readonly size?: Shell.TerminalSize | undefined
}

/**
 * Runs `command` exactly as ECS runs it, without a wrapper (for a container without `sh`): no exit code.
 *
 * @since 0.5.0
 * @category commands
 */
export const startRaw: (
  options: RawOptions
) => Effect.Effect<
  Shell.Shell,
  EcsApi.EcsApiError | Session.SessionError | Shell.ShellError,
  Scope.Scope | EcsApi.EcsApi | SsmApi.SsmApi | Socket.WebSocketConstructor
> = internal.startRaw
