/**
 * A local Session Manager: a WebSocket server on 127.0.0.1 that plays the service and the agent, so this
 * library, its users' code and other clients (AWS's session-manager-plugin included) can be tested without AWS.
 * It runs the same data-channel code as the client, in the agent role, with plugins per session type and seeded
 * fault injection between the socket and the codec.
 *
 * @since 0.1.0
 */
import type * as Socket from "@effect/platform/Socket"
import type * as Cause from "effect/Cause"
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as internal from "./internal/simulator/agent.js"
import * as error from "./internal/simulator/error.js"
import type * as model from "./internal/simulator/model.js"
import * as service from "./internal/simulator/service.js"
import * as command from "./internal/simulator/command.js"
import * as port from "./internal/simulator/port.js"
import * as shell from "./internal/simulator/shell.js"
import type * as EcsApi from "./EcsApi.js"
import type * as KmsApi from "./KmsApi.js"
import type * as Resumer from "./Resumer.js"
import type * as SsmApi from "./SsmApi.js"

/**
 * Faults on the frames of one direction, each a probability per frame: drop, duplicate, reorder, delay.
 *
 * @since 0.1.0
 * @category models
 */
export type DirectionFaults = model.DirectionFaults

/**
 * Fault injection, seeded so failures replay: frames, garbage, drops, lost sessions, refused resumes, pauses, caps.
 *
 * @since 0.1.0
 * @category models
 */
export type Faults = model.Faults

/**
 * Dropping the client's WebSocket every so often: `abrupt` (default), `reset`, `recycle` (1000) or `silent`.
 *
 * @since 0.2.0
 * @category models
 */
export type DropConnection = model.DropConnection

/**
 * What the plugin receives from the client, in order: data, terminal sizes and flags.
 *
 * @since 0.1.0
 * @category models
 */
export type PluginInput = model.PluginInput

/**
 * A plugin's view of its session: the properties, the versions, the client's input and the ways to answer.
 *
 * @since 0.1.0
 * @category models
 */
export type PluginIO = model.PluginIO

/**
 * A session type's behaviour. When `run` ends the session ends: the simulator waits up to 2 s for its output
 * to be acknowledged, then sends `channel_closed`.
 *
 * @since 0.1.0
 * @category models
 */
export type Plugin = model.Plugin

/**
 * What a simulated session runs: its plugin and properties, and its own agent options over the simulator's.
 *
 * @since 0.1.0
 * @category models
 */
export type SessionSpec = model.SessionSpec

/**
 * Where the simulator listens, the agent it plays, the account, faults, time limits and the HTTP API's sessions.
 *
 * @since 0.1.0
 * @category models
 */
export type SimulatorOptions = model.SimulatorOptions

/**
 * A managed node of the simulated account: its id, tags, ping status, computer name and address.
 *
 * @since 0.2.0
 * @category models
 */
export type SimulatedInstance = model.SimulatedInstance

/**
 * A StartSession-like response.
 *
 * @since 0.1.0
 * @category models
 */
export type StartSessionResponse = model.StartSessionResponse

/**
 * What the agent's counters and the client's connections say of one session.
 *
 * @since 0.1.0
 * @category models
 */
export type SessionStats = model.SessionStats

/**
 * @since 0.3.0
 * @category type ids
 */
export const ErrorTypeId: unique symbol = error.ErrorTypeId as ErrorTypeId

/**
 * @since 0.3.0
 * @category type ids
 */
export type ErrorTypeId = typeof ErrorTypeId

/**
 * The simulator's one error, yieldable.
 *
 * @since 0.1.0
 * @category errors
 */
export interface SimulatorError extends Cause.YieldableError {
  readonly [ErrorTypeId]: ErrorTypeId
  readonly _tag: "SimulatorError"
  readonly reason: SimulatorError.Reason
  readonly detail: string
  readonly cause?: unknown
}

/**
 * @since 0.3.0
 * @category errors
 */
export declare namespace SimulatorError {
  /**
   * - `Listen`: the server could not listen on `host`:`port` (the cause is attached).
   *
   * @since 0.3.0
   * @category errors
   */
  export type Reason = "Listen"
}

/**
 * @since 0.3.0
 * @category errors
 */
export const SimulatorError: new(args: {
  readonly reason: SimulatorError.Reason
  readonly detail: string
  readonly cause?: unknown
}) => SimulatorError = error.SimulatorError

/**
 * @since 0.3.0
 * @category refinements
 */
export const isSimulatorError: (u: unknown) => u is SimulatorError = error.isSimulatorError

/**
 * The credentials a simulator generates when it starts: its HTTP API answers only calls signed (SigV4) with them.
 *
 * @since 0.2.0
 * @category models
 */
export type SimulatorCredentials = model.SimulatorCredentials

/**
 * A running simulator.
 *
 * @since 0.1.0
 * @category models
 */
export interface AgentSimulator {
  readonly host: string
  readonly port: number
  /** the SSM, KMS and ECS (`SimulatorEcs`) JSON APIs over HTTP, for SDKs signing with `credentials` (else 403) */
  readonly endpoint: string
  /**
   * what an SDK client of `endpoint` signs with (see `SimulatorCredentials`); generated when the simulator starts
   *
   * @since 0.2.0
   */
  readonly credentials: SimulatorCredentials
  readonly startSession: (spec: SessionSpec) => Effect.Effect<StartSessionResponse>
  /** a fresh single-use token for a session whose WebSocket is gone; none when it timed out */
  readonly resumeSession: (sessionId: string) => Effect.Effect<Option.Option<StartSessionResponse>, SsmApi.SsmApiError>
  /** drops the session's WebSocket now (see `DropConnection` for the ways); false when none carries it */
  readonly dropConnection: (sessionId: string, close?: DropConnection["close"]) => Effect.Effect<boolean>
  /** HTTP API calls signed with this access key id fail from now on (ExpiredTokenException) */
  readonly expireCredentials: (accessKeyId: string) => Effect.Effect<void>
  /** ends a session as the API's TerminateSession does; false for an unknown session */
  readonly terminateSession: (sessionId: string) => Effect.Effect<boolean>
  /** DescribeInstanceInformation over `instances` */
  readonly describeInstanceInformation: (filters: ReadonlyArray<SsmApi.InstanceFilter>) => Effect.Effect<ReadonlyArray<SsmApi.InstanceInformation>>
  readonly sessionStats: (sessionId: string) => Effect.Effect<SessionStats | undefined>
  /** the simulator's KMS, whose data keys its agent accepts (same key id and context); see `layerKmsApi` */
  readonly kms: KmsApi.KmsApi
}

/**
 * @since 0.1.0
 * @category tags
 */
export const AgentSimulator: Context.Tag<AgentSimulator, AgentSimulator> = service.simulatorTag

/**
 * Starts the simulator; it stops with the scope. It listens on 127.0.0.1 (an ephemeral port by default) and runs
 * real commands and dials real ports on this machine, as the user running it: its HTTP API answers only calls
 * signed with the `credentials` it generates now, and each data-channel token opens one WebSocket.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (options?: SimulatorOptions) => Effect.Effect<AgentSimulator, SimulatorError, Scope.Scope> =
  service.make

/**
 * The simulator alone, started with the layer and stopped with it: for tests that drive it directly
 * (`startSession`, `sessionStats`, faults). A program written against `SsmApi` wants `layerAll`, which also
 * provides the services that talk to it.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: SimulatorOptions): Layer.Layer<AgentSimulator, SimulatorError> =>
  Layer.scoped(AgentSimulator, service.make(options))

/**
 * Options of `echoPlugin`: its session type, handshake and greeting.
 *
 * @since 0.1.0
 * @category plugins
 */
export type EchoPluginOptions = model.EchoPluginOptions

/**
 * Echoes every Output byte back.
 *
 * @since 0.1.0
 * @category plugins
 */
export const echoPlugin: (options?: EchoPluginOptions) => Plugin = internal.echoPlugin

/**
 * Options of `downloadPlugin`: its session type, handshake, and whether it ends once all is sent.
 *
 * @since 0.1.0
 * @category plugins
 */
export type DownloadPluginOptions = model.DownloadPluginOptions

/**
 * Sends `bytes` to the client.
 *
 * @since 0.1.0
 * @category plugins
 */
export const downloadPlugin: (bytes: Uint8Array, options?: DownloadPluginOptions) => Plugin = internal.downloadPlugin

/**
 * What the service makes of a StartSession request: the port documents (Port plugin), the command documents
 * (`AWS-StartNonInteractiveCommand`, `RemoteCommand.DOCUMENT_NAME`: command plugin), none, `AWS-StartInteractiveCommand`
 * or `RemoteCommand.INTERACTIVE_DOCUMENT_NAME` (shell plugin); else the echo plugin. `remote`: how commands run.
 *
 * @since 0.1.0
 * @category plugins
 */
export const documentSpec: (request: SsmApi.StartSessionRequest, remote?: SimulatorOptions["remoteProcess"]) => SessionSpec =
  port.documentSpec

/**
 * The `SsmApi` service backed by a simulator you provide: StartSession starts a simulated session whose behaviour
 * `spec` chooses from the request (by default `documentSpec`), TerminateSession ends it, ResumeSession answers as
 * for a session that timed out. It needs an `AgentSimulator` (a compiler error that says `Type 'AgentSimulator' is
 * not assignable to type 'never'` means none was provided): give it one that you keep using, `layerSsmApi().pipe(
 * Layer.provideMerge(AgentSimulator.layer(options)))`, or take `layerAll(options)`, which starts its own.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerSsmApi = (
  spec: (request: SsmApi.StartSessionRequest) => SessionSpec = port.documentSpec
): Layer.Layer<SsmApi.SsmApi | Resumer.Resumer, never, AgentSimulator> => service.withSimulator("layerSsmApi", service.layerSsmApi(spec))

/**
 * What `layerAll` provides: everything `PortForwarding`, `RemoteCommand`, `Shell`, `PortForwardingPool`,
 * `NodeSocks` and `EcsExec` need, and the simulator behind it.
 *
 * @since 0.2.0
 * @category models
 */
export type Services = AgentSimulator | SsmApi.SsmApi | Resumer.Resumer | KmsApi.KmsApi | EcsApi.EcsApi | Socket.WebSocketConstructor

/**
 * Everything a program needs to run against the simulator instead of AWS, in one self-contained Layer: a
 * simulator started with `options` (and stopped with the layer) as `AgentSimulator`, the `SsmApi` service backed
 * by it (StartSession runs what `options.sessionSpec` chooses, by default `documentSpec` with
 * `options.remoteProcess`: port forwarding dials 127.0.0.1, `RemoteCommand` runs its command on this machine,
 * shells run `sh`), its KMS as `KmsApi`, its ECS as `EcsApi` (`layerEcsApi`), and the Node WebSocket. To build
 * the simulator yourself and keep using it, see `layerSsmApi`, `layerKmsApi` and `layerEcsApi`.
 * `program.pipe(Effect.provide(AgentSimulator.layerAll({ messagesPerSecond: 0 })))`, say.
 *
 * @since 0.2.0
 * @category layers
 */
export const layerAll = (options: SimulatorOptions = {}): Layer.Layer<Services, SimulatorError> =>
  service.layerAll(options)

/**
 * Options of `portPlugin`: told which mode the agent chose.
 *
 * @since 0.1.0
 * @category plugins
 */
export type PortPluginOptions = model.PortPluginOptions

/**
 * The Port session type as the agent runs it: smux server with a dial per stream to the `host`/`portNumber`
 * properties (127.0.0.1 by default) and `ConnectToPortError` when a dial fails, or basic mode (one connection,
 * re-dialled after `DisconnectToPort`), chosen by the agent's version gates on the client's version.
 *
 * @since 0.1.0
 * @category plugins
 */
export const portPlugin: (options?: PortPluginOptions) => Plugin = port.portPlugin

/**
 * Options of `commandPlugin`: its session type.
 *
 * @since 0.1.0
 * @category plugins
 */
export type CommandPluginOptions = model.CommandPluginOptions

/**
 * The NonInteractiveCommands session as the agent runs it: the `commands` property split into words, on this
 * machine; with `separateOutputStream` stdout as Output, stderr as StdErr and the exit code as an ExitCode message
 * (`EXIT_CODE: n`), otherwise both streams as Output once it exits, no exit code. The first 0x03 or 0x1c of an
 * input message sends SIGINT or SIGQUIT to the command's process alone (not its group), no further input is
 * read until it exits, and exit code 1 is reported, as the agent does; other input is ignored.
 *
 * @since 0.1.0
 * @category plugins
 */
export const commandPlugin: (options?: CommandPluginOptions) => Plugin = command.commandPlugin

/**
 * Options of `shellPlugin`: its session type and handshake.
 *
 * @since 0.1.0
 * @category plugins
 */
export type ShellPluginOptions = model.ShellPluginOptions

/**
 * A shell session as the agent runs it: `sh` (or `sh -c` with the `commands` property), looked up on the
 * command's PATH, on this machine behind a pseudo-terminal (a small Perl helper, as the agent's creack/pty), with
 * the agent's environment; resized by Size messages so that programs see the change; output after a first wait
 * of 1 s, in reads of at most 1024 bytes through the agent's processStdoutData; ending when the pty closes.
 *
 * @since 0.1.0
 * @category plugins
 */
export const shellPlugin: (options?: ShellPluginOptions) => Plugin = shell.shellPlugin

/**
 * The `KmsApi` service backed by the KMS of a simulator you provide (see `layerSsmApi`; `layerAll` includes it),
 * for KMS-encrypted simulated sessions.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerKmsApi: Layer.Layer<KmsApi.KmsApi, never, AgentSimulator> =
  service.withSimulator("layerKmsApi", service.layerKmsApi)

/**
 * The `EcsApi` service over the simulator's ECS (`SimulatorEcs`; `layerAll` includes it): the real
 * `@aws-sdk/client-ecs` client on its `endpoint`, signing with its `credentials`, one attempt a call.
 *
 * @since 0.5.0
 * @category layers
 */
export const layerEcsApi: Layer.Layer<EcsApi.EcsApi, never, AgentSimulator> =
  service.withSimulator("layerEcsApi", service.layerEcsApi)
