/**
 * The models of `AgentSimulator`, with every field documented: the facade names each (`AgentSimulator.Faults`,
 * `AgentSimulator.SessionSpec`, ...) and says in a sentence what it is.
 *
 * @internal
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type * as AgentMessage from "../../AgentMessage.js"
import type * as SsmApi from "../../SsmApi.js"
import type { SimulatedEcs } from "./ecsModel.js"

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
  /**
   * one data message of `bytes` whatever its length, as the agent sends what a plugin read (a shell's read of
   * 1024 bytes with up to 3 bytes `processStdoutData` held before it)
   */
  readonly writeMessage: (payloadType: AgentMessage.PayloadType, bytes: Uint8Array) => Effect.Effect<void>
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
  /** ask for KMS encryption in the handshake (the data key from the simulator's `kms`); null: none, whatever `kmsKeyId` */
  readonly kmsKeyId?: string | null | undefined
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
   * how the sessions `documentSpec` starts run their shells and commands (their environment, and the agent's
   * output path or exact bytes), for StartSession over `layerAll`'s `SsmApi` and over the HTTP API (`endpoint`)
   */
  readonly remoteProcess?: RemoteProcessOptions | undefined
  /**
   * the managed nodes DescribeInstanceInformation lists (filters `tag:<key>`, `InstanceIds`, `PingStatus`). Default
   * one online node, `i-simulated`, tagged `Name=simulated`
   */
  readonly instances?: ReadonlyArray<SimulatedInstance> | undefined
  /** the ECS world ExecuteCommand, DescribeTasks and ListTasks play (`SimulatorEcs`). Default `DEFAULT_ECS` */
  readonly ecs?: SimulatedEcs | undefined
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
 * @since 0.1.0
 * @category plugins
 */
export interface PortPluginOptions {
  /** told which mode the agent chose from the client's version (mux, and smux keepalive) */
  readonly onMode?: ((mode: { readonly mux: boolean; readonly keepAlive: boolean }) => void) | undefined
}

/**
 * @since 0.1.0
 * @category plugins
 */
export interface CommandPluginOptions extends RemoteProcessOptions {
  /** default `NonInteractiveCommands` */
  readonly sessionType?: string | undefined
}

/**
 * @since 0.1.0
 * @category plugins
 */
export interface ShellPluginOptions extends RemoteProcessOptions {
  /** default `Standard_Stream` */
  readonly sessionType?: string | undefined
  /** default false: shells without KMS start without a handshake, the first output making the session ready */
  readonly requireHandshake?: boolean | undefined
  /**
   * the agent's ContainerMode (ECS Exec): InteractiveCommands split by shlex and exec'd without `sh -c`, with
   * `environment` as the container's. Default false
   */
  readonly containerMode?: boolean | undefined
}

/**
 * How the simulated agent runs shells and commands on this machine (the shell and command plugins, and
 * `documentSpec`).
 *
 * @since 0.4.0
 * @category plugins
 */
export interface RemoteProcessOptions {
  /**
   * set over the environment the agent gives its commands (this process's, with `TERM=xterm-256color`, `LANG`
   * when unset and `HOME`): `{ PATH: "/tmp/applets" }`, say, runs `sh` and every tool from a directory of busybox
   * applets, as on a minimal image
   */
  readonly environment?: Readonly<Record<string, string>> | undefined
  /**
   * what the agent's output path does to the bytes a shell or command writes: `agent` (default) puts every read
   * through the agent's processStdoutData: trailing bytes of an unfinished UTF-8 sequence are held for the next
   * read and lost when the output ends there, and a literal U+FFFD (EF BF BD) is sent as EF alone; `exact` sends
   * the bytes as they are, kinder than any real agent. See `src/internal/simulator/AGENT-BEHAVIOUR.md`
   */
  readonly stdoutData?: "agent" | "exact" | undefined
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
