/**
 * A local Session Manager: a WebSocket server on 127.0.0.1 that plays the service and the agent, so this
 * library, its users' code and other clients (AWS's session-manager-plugin included) can be tested without AWS.
 * It runs the same data-channel code as the client, in the agent role, with plugins per session type and seeded
 * fault injection between the socket and the codec.
 *
 * @since 0.1.0
 */
import type * as Socket from "@effect/platform/Socket"
import type * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import * as internal from "./internal/simulator/agent.js"
import * as service from "./internal/simulator/service.js"
import * as command from "./internal/simulator/command.js"
import * as port from "./internal/simulator/port.js"
import * as shell from "./internal/simulator/shell.js"
import type * as KmsApi from "./KmsApi.js"
import * as NodeSession from "./NodeSession.js"
import type * as SsmApi from "./SsmApi.js"

/**
 * Faults applied to the binary frames of one direction, each a probability per frame.
 *
 * @since 0.1.0
 * @category models
 */
export interface DirectionFaults {
  readonly drop?: number | undefined
  readonly duplicate?: number | undefined
  /** hold a frame and send it after the next one (or `delayMillis` later, when no next one comes by then) */
  readonly reorder?: number | undefined
  /** send a frame `delayMillis` later */
  readonly delay?: number | undefined
  readonly delayMillis?: number | undefined
}

/**
 * Fault injection, seeded so failures replay.
 *
 * @since 0.1.0
 * @category models
 */
export interface Faults {
  readonly seed?: number | undefined
  /** agent → client frames */
  readonly toClient?: DirectionFaults | undefined
  /** client → agent frames */
  readonly toAgent?: DirectionFaults | undefined
  /** probability of a garbage frame before each frame sent to the client */
  readonly garbage?: number | undefined
  /**
   * the service loses the session after this many frames to the client: the WebSocket closes abruptly and the
   * session cannot be resumed (ResumeSession returns no token)
   */
  readonly closeAfterMessages?: number | undefined
  /** drop the client's WebSocket on the way, and let the client resume the session */
  readonly dropConnection?: DropConnection | undefined
  /** the first so many ResumeSession calls of a session fail (InternalServerError, which a client retries) */
  readonly refuseResumes?: number | undefined
  /** the next so many ResumeSession calls fail as with expired credentials (ExpiredTokenException) */
  readonly expiredCredentialsResumes?: number | undefined
  /** send `pause_publication` every `everyMillis`, and `start_publication` `forMillis` later */
  readonly pausePublication?: { readonly everyMillis: number; readonly forMillis: number } | undefined
  /**
   * the service's cap: more than `messagesPerSecond` client data messages per second for `sustainedMillis`
   * (default 2000) closes the channel
   */
  readonly rateCap?: { readonly messagesPerSecond: number; readonly sustainedMillis?: number | undefined } | undefined
}

/**
 * Dropping the client's WebSocket: every `everyMessages` frames the agent sends, or `everyMillis` after each
 * WebSocket carries the session, up to `times` drops. The ways to drop one:
 * - `abrupt` (default): the connection ends without a WebSocket close frame (1006), once what it took before the
 *   drop has gone; the `lostFrames` newest frames (sent within the last 2 ms) are in flight and lost;
 * - `reset`: a TCP reset, which also loses whatever the connection's buffers held (as many frames as they took);
 * - `recycle`: a close with code 1000, as the service does about once an hour;
 * - `silent`: the connection stays open and goes quiet (nothing read, so no pong; nothing sent), as a dead
 *   network path does.
 * The agent side is paused while no WebSocket carries the session; what it sent before the pause reached it is
 * delivered on the next one.
 *
 * @since 0.2.0
 * @category models
 */
export interface DropConnection {
  readonly everyMessages?: number | undefined
  readonly everyMillis?: number | undefined
  readonly times?: number | undefined
  readonly close?: "abrupt" | "reset" | "recycle" | "silent" | undefined
  readonly lostFrames?: number | undefined
}

/**
 * What the plugin receives from the client, in order.
 *
 * @since 0.1.0
 * @category models
 */
export type PluginInput =
  | { readonly _tag: "Data"; readonly bytes: Uint8Array }
  | { readonly _tag: "Size"; readonly cols: number; readonly rows: number }
  | { readonly _tag: "Flag"; readonly flag: number }

/**
 * A plugin's view of its session.
 *
 * @since 0.1.0
 * @category models
 */
export interface PluginIO {
  readonly properties: Readonly<Record<string, unknown>> | null
  readonly clientVersion: string
  /** the AgentVersion this simulated agent announces */
  readonly agentVersion: string
  readonly input: Stream.Stream<PluginInput>
  /** Output to the client, in messages of at most 1024 bytes */
  readonly write: (bytes: Uint8Array) => Effect.Effect<void>
  readonly writeStdErr: (bytes: Uint8Array) => Effect.Effect<void>
  readonly writeExitCode: (code: number) => Effect.Effect<void>
  readonly sendFlag: (flag: number) => Effect.Effect<void>
  /**
   * for plugins with `signalsReady`: the plugin can take input from now on (the agent's port plugin once its
   * connection exists, its shell once the pty runs)
   */
  readonly ready: Effect.Effect<void>
}

/**
 * A session type's behaviour. When `run` ends the session ends: the simulator waits up to 2 s for its output
 * to be acknowledged, then sends `channel_closed`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Plugin {
  readonly sessionType: string
  readonly requireHandshake: boolean
  /**
   * until the plugin calls `io.ready`, client data is answered "handler not ready": not acknowledged, so the
   * client resends it (the agent's `ErrHandlerNotReady`, `plugins/port/port.go` and `shell/shell_unix.go`
   * InputStreamMessageHandler). Default false: ready when the handshake ends
   */
  readonly signalsReady?: boolean | undefined
  readonly run: (io: PluginIO) => Effect.Effect<void, unknown, Scope.Scope>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface SessionSpec {
  readonly plugin: Plugin
  readonly properties?: Readonly<Record<string, unknown>> | null | undefined
  readonly agentVersion?: string | undefined
  /** ask for KMS encryption in the handshake (the data key comes from the simulator's own KMS, `kms`) */
  readonly kmsKeyId?: string | undefined
  /** the instance id the agent puts in the KMS encryption context. Default `i-simulated` */
  readonly targetId?: string | undefined
  readonly faults?: Faults | undefined
  /** send `channel_closed` with the 112-byte header */
  readonly shortChannelClosed?: boolean | undefined
  /** the `Output` text of `channel_closed` */
  readonly closeOutput?: string | undefined
  readonly messagesPerSecond?: number | undefined
  /** see `SimulatorOptions.sender` */
  readonly sender?: "agent" | "library" | undefined
  /** see `SimulatorOptions.windowSize` */
  readonly windowSize?: number | undefined
  /** see `SimulatorOptions.ackBeforeRecord` */
  readonly ackBeforeRecord?: number | undefined
  /** client input bytes buffered before the agent stops acknowledging. Default 1 MiB */
  readonly inputBufferSize?: number | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface SimulatorOptions {
  readonly host?: string | undefined
  /** default 0: an ephemeral port */
  readonly port?: number | undefined
  /** default `3.3.1142.0` */
  readonly agentVersion?: string | undefined
  /** pacing of the agent's data messages; 0 for none. Default 1000 per second */
  readonly messagesPerSecond?: number | undefined
  /**
   * the agent's sending side. `agent` (default) is the SSM Agent's: no window, only its 100000-message buffer;
   * every 100 ms the oldest unacknowledged message alone is resent when older than the RTO, with no attempt
   * limit; a message is recorded after it is written (`ackBeforeRecord`). `library` runs this library's own
   * sender instead (a window of `windowSize`, fast resends of probable losses, give-up after 5 minutes): kinder
   * than any real agent, for tests and benchmarks that ask for it. See `src/internal/simulator/AGENT-BEHAVIOUR.md`
   */
  readonly sender?: "agent" | "library" | undefined
  /** with `sender: "library"`: unacknowledged messages kept in flight. Default 1024 */
  readonly windowSize?: number | undefined
  /**
   * with the agent's sender: the share of messages whose first acknowledgement overtakes the agent's recording of
   * the message and is lost, so the message stays until resent and acknowledged again (the agent writes, then
   * records: ~1.8% of messages on a loaded machine). Default 0.02; 0 for none
   */
  readonly ackBeforeRecord?: number | undefined
  /**
   * the account's KMS preference: every session but Port sessions asks for KMS encryption with this key (a
   * session's own `kmsKeyId` wins)
   */
  readonly kmsKeyId?: string | undefined
  readonly faults?: Faults | undefined
  /** how long a new connection may take to send its OpenDataChannel frame before it is closed. Default 5 seconds */
  readonly openFrameTimeout?: Duration.DurationInput | undefined
  /**
   * how long the service keeps a session whose client WebSocket is gone, waiting for a new one (the agent is
   * paused meanwhile); after it, ResumeSession returns no token. Default 2 minutes
   */
  readonly resumeGrace?: Duration.DurationInput | undefined
  /** what StartSession over the HTTP API (`endpoint`) runs instead of the document's plugin (`documentSpec`, after the service's checks) */
  readonly sessionSpec?: ((request: SsmApi.StartSessionRequest) => SessionSpec) | undefined
  /**
   * called once per data message the agent sends, with the ms from its latest transmission to the arrival of the
   * first acknowledgement of it (also one that `ackBeforeRecord`'s race then loses): how promptly a client
   * acknowledges, for benchmarks
   */
  readonly onAcknowledged?: ((millis: number) => void) | undefined
  /**
   * the managed nodes DescribeInstanceInformation lists (filters `tag:<key>`, `InstanceIds`, `PingStatus`). Default
   * one online node, `i-simulated`, tagged `Name=simulated`
   */
  readonly instances?: ReadonlyArray<SimulatedInstance> | undefined
}

/**
 * A managed node of the simulated account.
 *
 * @since 0.2.0
 * @category models
 */
export interface SimulatedInstance {
  readonly instanceId: string
  readonly tags?: Readonly<Record<string, string>> | undefined
  /** default `Online` */
  readonly pingStatus?: "Online" | "ConnectionLost" | "Inactive" | undefined
  readonly computerName?: string | undefined
  readonly ipAddress?: string | undefined
}

/**
 * A StartSession-like response.
 *
 * @since 0.1.0
 * @category models
 */
export interface StartSessionResponse {
  readonly SessionId: string
  readonly StreamUrl: string
  readonly TokenValue: Redacted.Redacted<string>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface SessionStats {
  /** the agent's resends */
  readonly retransmissions: number
  /** the agent's data messages, first transmissions */
  readonly messagesSent: number
  readonly connections: number
  readonly openConnections: number
  readonly closed: boolean
  readonly handshakeResponses: number
  readonly terminateFlags: number
  /** the TerminateSession API was called for it */
  readonly terminatedByApi: boolean
  /** client data messages received, duplicates included */
  readonly dataMessagesReceived: number
  readonly rateCapClosed: boolean
  readonly pauses: number
  /** WebSocket pings from the client */
  readonly pings: number
  /** the KMS handshake succeeded: data messages are encrypted both ways */
  readonly encrypted: boolean
  /** client messages that did not decrypt (not acknowledged) */
  readonly decryptionFailures: number
  /** successful ResumeSession calls */
  readonly resumes: number
  /** WebSockets dropped by faults or `dropConnection` */
  readonly drops: number
}

/**
 * @since 0.1.0
 * @category errors
 */
export interface SimulatorError {
  readonly _tag: "SimulatorError"
  readonly reason: "Listen"
  readonly cause: unknown
}

/**
 * The credentials a simulator generates when it starts: its HTTP API (`endpoint`) answers only calls signed
 * (AWS Signature Version 4, as every AWS SDK signs) with this secret. The access key id is the simulator's; a call
 * may sign under any other id with the same secret (a test rotating keys to play expiry, `expireCredentials`).
 *
 * @since 0.2.0
 * @category models
 */
export interface SimulatorCredentials {
  readonly accessKeyId: string
  readonly secretAccessKey: Redacted.Redacted<string>
}

/**
 * A running simulator.
 *
 * @since 0.1.0
 * @category models
 */
export interface AgentSimulator {
  readonly host: string
  readonly port: number
  /**
   * the SSM JSON API over HTTP (StartSession, ResumeSession, TerminateSession, DescribeInstanceInformation,
   * CreateDocument) and KMS GenerateDataKey, for SDKs signing with `credentials`; anything else gets 403
   */
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
  /**
   * drops the session's WebSocket now (see `DropConnection` for the ways); false when none carries it
   */
  readonly dropConnection: (sessionId: string, close?: DropConnection["close"]) => Effect.Effect<boolean>
  /** HTTP API calls signed with this access key id fail from now on (ExpiredTokenException) */
  readonly expireCredentials: (accessKeyId: string) => Effect.Effect<void>
  /** ends a session as the API's TerminateSession does; false for an unknown session */
  readonly terminateSession: (sessionId: string) => Effect.Effect<boolean>
  /** DescribeInstanceInformation over `instances` */
  readonly describeInstanceInformation: (
    filters: ReadonlyArray<SsmApi.InstanceFilter>
  ) => Effect.Effect<ReadonlyArray<SsmApi.InstanceInformation>>
  readonly sessionStats: (sessionId: string) => Effect.Effect<SessionStats | undefined>
  /**
   * The simulator's KMS: data keys it generates are the ones its agent accepts, for the same key id and
   * encryption context. Provide it to clients as `layerKmsApi`.
   */
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
 * @since 0.1.0
 * @category plugins
 */
export interface EchoPluginOptions {
  /** default `Port` */
  readonly sessionType?: string | undefined
  /** default true; false with `Standard_Stream` plays a shell without KMS (no handshake) */
  readonly requireHandshake?: boolean | undefined
  /** bytes sent first, as a shell's prompt */
  readonly greeting?: Uint8Array | undefined
}

/**
 * Echoes every Output byte back.
 *
 * @since 0.1.0
 * @category plugins
 */
export const echoPlugin: (options?: EchoPluginOptions) => Plugin = internal.echoPlugin

/**
 * @since 0.1.0
 * @category plugins
 */
export interface DownloadPluginOptions {
  readonly sessionType?: string | undefined
  readonly requireHandshake?: boolean | undefined
  /** end the session once everything is sent (and acknowledged); default false: wait */
  readonly end?: boolean | undefined
}

/**
 * Sends `bytes` to the client.
 *
 * @since 0.1.0
 * @category plugins
 */
export const downloadPlugin: (bytes: Uint8Array, options?: DownloadPluginOptions) => Plugin = internal.downloadPlugin

/**
 * What the service makes of a StartSession request: `AWS-StartPortForwardingSession` and
 * `AWS-StartPortForwardingSessionToRemoteHost` (the Port plugin, LocalPortForwarding, `portNumber`, `host`),
 * `AWS-StartSSHSession` (a standard stream to `portNumber`, default 22), `AWS-StartNonInteractiveCommand` (the
 * command plugin, one output stream), `RemoteCommand.DOCUMENT_NAME` (separate streams and the exit code), no
 * document (the default shell) and `AWS-StartInteractiveCommand` (the shell plugin); the echo plugin for anything
 * else.
 *
 * @since 0.1.0
 * @category plugins
 */
export const documentSpec: (request: SsmApi.StartSessionRequest) => SessionSpec = port.documentSpec

/**
 * The `SsmApi` service backed by a simulator you provide: StartSession starts a simulated session whose behaviour
 * `spec` chooses from the request (by default `documentSpec`), TerminateSession ends it, ResumeSession answers as
 * for a session that timed out.
 *
 * It needs an `AgentSimulator` (a compiler error that says `Type 'AgentSimulator' is not assignable to type
 * 'never'` means none was provided): give it one that you keep using,
 * `layerSsmApi().pipe(Layer.provideMerge(AgentSimulator.layer(options)))`, or take `layerAll(options)`, which
 * starts its own and provides it too.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerSsmApi = (
  spec: (request: SsmApi.StartSessionRequest) => SessionSpec = port.documentSpec
): Layer.Layer<SsmApi.SsmApi, never, AgentSimulator> => withSimulator("layerSsmApi", service.layerSsmApi(spec))

/**
 * `services` over the simulator in the context; without one (a wiring the compiler was told to accept, or plain
 * JavaScript) a defect that says what to provide, in place of Effect's "Service not found".
 */
const withSimulator = <A>(
  name: string,
  services: Layer.Layer<A, never, AgentSimulator>
): Layer.Layer<A, never, AgentSimulator> =>
  Layer.unwrapEffect(Effect.map(
    Effect.serviceOption(AgentSimulator),
    Option.match({
      onNone: (): Layer.Layer<A> =>
        Layer.die(
          new Error(
            `AgentSimulator.${name} needs an AgentSimulator: provide one to it (AgentSimulator.layer(options), say, with ` +
              `Layer.provideMerge), or use AgentSimulator.layerAll(options), which starts one`
          )
        ),
      onSome: (simulator) => Layer.provide(services, Layer.succeed(AgentSimulator, simulator))
    })
  ))

/**
 * What `layerAll` provides: everything `PortForwarding`, `RemoteCommand`, `Shell`, `PortForwardingPool` and
 * `NodeSocks` need, and the simulator behind it.
 *
 * @since 0.2.0
 * @category models
 */
export type Services = AgentSimulator | SsmApi.SsmApi | KmsApi.KmsApi | Socket.WebSocketConstructor

/**
 * Everything a program needs to run against the simulator instead of AWS, in one self-contained Layer: a
 * simulator started with `options` (and stopped with the layer) as `AgentSimulator`, the `SsmApi` service backed
 * by it (StartSession runs what `options.sessionSpec` chooses, by default `documentSpec`: port forwarding dials
 * 127.0.0.1, `RemoteCommand` runs its command on this machine, shells run `/bin/sh`), its KMS as `KmsApi` (for
 * sessions encrypted with `kmsKeyId`), and the Node WebSocket (`NodeSession.layerWebSocketConstructor`).
 *
 * ```ts
 * program.pipe(Effect.provide(AgentSimulator.layerAll({ messagesPerSecond: 0 })))
 * ```
 *
 * To build the simulator yourself and keep using it, see `layerSsmApi` and `layerKmsApi`.
 *
 * @since 0.2.0
 * @category layers
 */
export const layerAll = (options: SimulatorOptions = {}): Layer.Layer<Services, SimulatorError> =>
  Layer.mergeAll(
    service.layerSsmApi(options.sessionSpec ?? port.documentSpec),
    service.layerKmsApi,
    NodeSession.layerWebSocketConstructor
  ).pipe(Layer.provideMerge(layer(options)))

/**
 * @since 0.1.0
 * @category plugins
 */
export interface PortPluginOptions {
  /** told which mode the agent chose from the client's version (mux, and smux keepalive) */
  readonly onMode?: ((mode: { readonly mux: boolean; readonly keepAlive: boolean }) => void) | undefined
}

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
 * @since 0.1.0
 * @category plugins
 */
export interface CommandPluginOptions {
  /** default `NonInteractiveCommands` */
  readonly sessionType?: string | undefined
}

/**
 * The NonInteractiveCommands session as the agent runs it: the `commands` property in `sh -c` on this machine;
 * with the `separateOutputStream` property stdout as Output, stderr as StdErr and the exit code as an ExitCode
 * message (`EXIT_CODE: n`), otherwise both streams as Output and no exit code. The first 0x03 or 0x1c of an
 * input message sends SIGINT or SIGQUIT to the command's process alone (not its group), no further input is
 * read until it exits, and exit code 1 is reported, as the agent does; other input is ignored.
 *
 * @since 0.1.0
 * @category plugins
 */
export const commandPlugin: (options?: CommandPluginOptions) => Plugin = command.commandPlugin

/**
 * @since 0.1.0
 * @category plugins
 */
export interface ShellPluginOptions {
  /** default `Standard_Stream` */
  readonly sessionType?: string | undefined
  /** default false: shells without KMS start without a handshake, the first output making the session ready */
  readonly requireHandshake?: boolean | undefined
}

/**
 * A shell session as the agent runs it: `/bin/sh -i` (or the `commands` property) on this machine behind a
 * pseudo-terminal (util-linux `script`), resized by Size messages so that programs see the change, ending when
 * the shell exits.
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
export const layerKmsApi: Layer.Layer<KmsApi.KmsApi, never, AgentSimulator> = withSimulator(
  "layerKmsApi",
  service.layerKmsApi
)
