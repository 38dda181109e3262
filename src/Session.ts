/**
 * A Session Manager data channel as a scoped resource: it turns a StartSession response (StreamUrl, TokenValue,
 * SessionId) into a reliable, ordered, flow-controlled byte channel to the agent. Acks, reordering,
 * retransmission with AWS's RTO, pacing and pause/start run in fibers; a lost WebSocket is replaced through the
 * `Resumer` service; closing the Scope ends the session (with the flag given to `closeWith`, if any) and closes
 * the WebSocket. Sessions the agent encrypts
 * with KMS use the `KmsApi` service when one is provided (and the `target` option).
 *
 * @since 0.1.0
 */
import type * as Socket from "@effect/platform/Socket"
import type * as Cause from "effect/Cause"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import type * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Metric from "effect/Metric"
import type * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type * as AgentMessage from "./AgentMessage.js"
import type * as AgentPayload from "./AgentPayload.js"
import * as internal from "./internal/channel/session.js"
import type * as Resumer from "./Resumer.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = internal.TypeId as TypeId

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * @since 0.1.0
 * @category type ids
 */
export const ErrorTypeId: unique symbol = internal.ErrorTypeId as ErrorTypeId

/**
 * @since 0.1.0
 * @category type ids
 */
export type ErrorTypeId = typeof ErrorTypeId

/**
 * The one error of this module.
 *
 * @since 0.1.0
 * @category errors
 */
export interface SessionError {
  readonly [ErrorTypeId]: ErrorTypeId
  readonly _tag: "SessionError"
  readonly reason: SessionError.Reason
  readonly detail: string
  readonly cause?: unknown
  readonly message: string
}

/**
 * @since 0.1.0
 * @category errors
 */
export declare namespace SessionError {
  /**
   * - `Open`: the WebSocket or the OpenDataChannel frame failed.
   * - `Handshake`: no usable handshake in time, or an unsupported session type.
   * - `EncryptionRequired`: the agent requires KMS encryption and no `KmsApi` (or no `target`) was provided.
   * - `Encryption`: KMS encryption failed: the data key, the challenge, or a message that did not decrypt.
   * - `Transport`: the WebSocket failed or closed without `channel_closed`, and the session could not be resumed
   *   (resume off, no `Resumer`, or no new WebSocket within the resume deadline).
   * - `TimedOut`: the service no longer resumes the session (the `Resumer` returned no token).
   * - `Terminated`: the session was terminated while its WebSocket was away (the `Resumer`'s `Terminated`).
   * - `Credentials`: the `Resumer` kept reporting refused credentials (expired or invalid) until the resume deadline.
   * - `AccessDenied`: resuming was denied (the `Resumer`'s `AccessDenied`: the caller may not call
   *   `ssm:ResumeSession`).
   * - `GiveUp`: a message stayed unacknowledged for `giveUpAfter`.
   * - `Protocol`: the agent sent what no agent sends (a data message over the size limit).
   * - `Closed`: the session has already ended.
   *
   * @since 0.1.0
   * @category errors
   */
  export type Reason =
    | "Open" | "Handshake" | "EncryptionRequired" | "Encryption" | "Transport" | "TimedOut" | "Terminated"
    | "Credentials" | "AccessDenied" | "GiveUp" | "Protocol" | "Closed"
}

/**
 * @since 0.1.0
 * @category errors
 */
export const SessionError: new(
  args: { readonly reason: SessionError.Reason; readonly detail: string; readonly cause?: unknown }
) => SessionError & Cause.YieldableError = internal.SessionError

/**
 * @since 0.1.0
 * @category refinements
 */
export const isSessionError: (u: unknown) => u is SessionError = internal.isSessionError

/**
 * The ClientVersion a session sends unless `SessionOptions.clientVersion` says otherwise: the official client's,
 * above 1.2.331.0 so that agents pick smux with keepalive off.
 *
 * @since 0.3.0
 * @category constants
 */
export const CLIENT_VERSION: string = internal.CLIENT_VERSION

/**
 * What opening a session needs: the StartSession (or ResumeSession) response, and tunables whose defaults are
 * the protocol's constants.
 *
 * @since 0.1.0
 * @category models
 */
export interface SessionOptions {
  readonly sessionId: string
  readonly streamUrl: string
  readonly tokenValue: Redacted.Redacted<string>
  /**
   * the StartSession target (instance id): KMS-encrypted sessions need it for the data key's encryption context,
   * where it must equal what the agent uses (its instance id)
   */
  readonly target?: string | undefined
  /** default: one random id per process, as the official client */
  readonly clientId?: string | undefined
  /** default `1.2.694.0`: above 1.2.331.0, so agents pick smux with keepalive off (section 18.1) */
  readonly clientVersion?: string | undefined
  /** how long a WebSocket may take to open, the first and every new one. Default 10 seconds */
  readonly openTimeout?: Duration.DurationInput | undefined
  /**
   * WebSocket pings (where the platform has them: `ws` on Node) go out this often, and a WebSocket that hears no
   * pong and no frame for two intervals counts as dead, and the session is resumed on a new one. Where there are
   * no pings (browsers), the same silence while messages wait for their acknowledgement counts. 0: no checks.
   * Default 30 seconds
   */
  readonly pingInterval?: Duration.DurationInput | undefined
  /**
   * what to do when the WebSocket is lost without `channel_closed`: resume the session on a new one (the
   * default, through the `Resumer` service when one is provided, as `SsmApi.layer` and `SsmApi.openSession` do,
   * or `resumeSession` here), keeping every sequence number, buffer and key; or `false` to end the session with
   * `Transport`
   */
  readonly resume?: false | ResumePolicy | undefined
  /** default 30 seconds */
  readonly handshakeTimeout?: Duration.DurationInput | undefined
  /**
   * A session that starts without a handshake (an InteractiveCommands session without KMS, such as ECS Exec's) is
   * ready at its first output. With this, it is also ready once this long has passed since its WebSocket opened
   * with neither a HandshakeRequest nor output: the agent sends its HandshakeRequest as soon as the channel opens
   * when the session has one, and a command that prints nothing at first would otherwise never be ready (it
   * would fail with `Handshake` at `handshakeTimeout`). Default none: ready at the first output or handshake
   */
  readonly readyAfterSilence?: Duration.DurationInput | undefined
  /** unacknowledged messages in flight before `write` suspends. Default 1024 */
  readonly windowSize?: number | undefined
  /**
   * out-of-order messages held (acknowledged at once), and how far ahead of the next expected one they may be.
   * Default 100000, the agent's own buffer: the agent has no send window and resends only its oldest
   * unacknowledged message, one per 100 ms, so every message dropped here would wait its turn there
   */
  readonly reorderBufferSize?: number | undefined
  /**
   * bytes the reorder buffer holds at most, counting 256 bytes per message beside its payload. Default 64 MiB.
   * It is also where acknowledged output waits while the reader is slow and the socket cannot pause
   */
  readonly reorderBufferBytes?: number | undefined
  /**
   * every accepted message is acknowledged once more this long after the first time (0: never). An ack the
   * agent lost, or one that overtook the agent's recording of the message, would otherwise cost one of the
   * agent's resend slots (one per 100 ms). An ack that had to wait for a full connection (see
   * `acknowledgementsWaiting`) goes once, late. Default 50 ms
   */
  readonly repeatAckAfter?: Duration.DurationInput | undefined
  /**
   * bytes of output and StdErr delivered but not yet read before new messages go unacknowledged. Default 1 MiB.
   * Other events do not count (see `Session.events`)
   */
  readonly receiveBufferSize?: number | undefined
  /** pacing of data messages, retransmissions included; 0 for none. Default 1000 */
  readonly messagesPerSecond?: number | undefined
  /** how long a message may stay unacknowledged before the session fails. Default 5 minutes */
  readonly giveUpAfter?: Duration.DurationInput | undefined
  /** how long closing waits for `channel_closed` after the TerminateSession flag. Default 2 seconds */
  readonly terminateTimeout?: Duration.DurationInput | undefined
}

/**
 * How the session resumes after losing its WebSocket (`Resumer.ResumePolicy`).
 *
 * @since 0.2.0
 * @category models
 */
export type ResumePolicy = Resumer.ResumePolicy

/**
 * The session losing and regaining its WebSocket.
 * - `Reconnecting`: an attempt to resume is starting (`attempt` from 1); `cause` says what ended the previous
 *   WebSocket or the previous attempt.
 * - `Reconnected`: a new WebSocket carries the session, `after` the loss, in `attempts` attempts.
 *
 * @since 0.2.0
 * @category models
 */
export type ConnectionEvent =
  | { readonly _tag: "Reconnecting"; readonly attempt: number; readonly cause: string }
  | { readonly _tag: "Reconnected"; readonly after: Duration.Duration; readonly attempts: number }

/**
 * What arrives beside the output bytes.
 * - `StdErr`: standard error of a command (bytes, counted in the receive buffer like output).
 * - `Payload`: a data message of another type, as it came (today `PayloadType.ExitCode`, whose `EXIT_CODE: n`
 *   `RemoteCommand` reads).
 * - `Flag`: a Flag message's value (`AgentMessage.FlagPayload`).
 * - `ChannelClosed`: the service closed the channel, with its text; the last event.
 * - the connection events.
 *
 * @since 0.1.0
 * @category models
 */
export type SessionEvent =
  | { readonly _tag: "StdErr"; readonly bytes: Uint8Array }
  | { readonly _tag: "Payload"; readonly payloadType: AgentMessage.PayloadType; readonly bytes: Uint8Array }
  | { readonly _tag: "Flag"; readonly flag: number }
  | { readonly _tag: "ChannelClosed"; readonly output: string }
  | ConnectionEvent

/**
 * Counters of the data channel.
 *
 * @since 0.1.0
 * @category models
 */
export interface SessionStats {
  readonly messagesSent: number
  readonly messagesReceived: number
  readonly bytesSent: number
  readonly bytesReceived: number
  readonly retransmissions: number
  readonly duplicatesReceived: number
  readonly droppedUnacknowledged: number
  /**
   * acknowledgements waiting for the connection to take them: while more than 256 KiB of ours wait for the network
   * beyond the data not yet acknowledged (the agent is not reading), acknowledgements wait here, one per sequence
   * number, and go as soon as it drains. Never dropped; at most 32768, past which new messages go unacknowledged
   */
  readonly acknowledgementsWaiting: number
  readonly rtt: number
  readonly rto: number
  readonly reorderDepth: number
  /** messages sent and not yet acknowledged */
  readonly inFlight: number
  /** messages waiting for the window, the pace or the end of a pause */
  readonly queued: number
  /** the next sequence number expected from the agent */
  readonly expected: number
  /** bytes of output and StdErr delivered and not yet read */
  readonly bufferedBytes: number
  readonly peakBufferedBytes: number
  /** a WebSocket carries the session now (false while it is being resumed) */
  readonly connected: boolean
  /** times the session was resumed on a new WebSocket */
  readonly reconnects: number
  /** time spent without a WebSocket, the current outage included */
  readonly disconnectedMillis: number
}

/**
 * A ready session.
 *
 * @since 0.1.0
 * @category models
 */
export interface Session {
  readonly [TypeId]: TypeId
  readonly sessionId: string
  /** `Port`, `Standard_Stream`, `InteractiveCommands` or `NonInteractiveCommands` */
  readonly sessionType: AgentPayload.SessionType
  /** from the HandshakeRequest; none on the no-handshake shell path */
  readonly agentVersion: Option.Option<string>
  /** the session document's properties (Port sessions) */
  readonly properties: Readonly<Record<string, unknown>> | null
  readonly customerMessage: string
  readonly handshakeDuration: Option.Option<Duration.Duration>
  readonly clientVersion: string
  /** Output payloads in order. Read it once; reading is what lets more in. */
  readonly output: Stream.Stream<Uint8Array, SessionError>
  /**
   * StdErr, payloads (the exit code), flags, the closing of the channel and the connection events. Read it once.
   * StdErr bytes count in the receive buffer as output does, so a session whose agent sends StdErr (commands,
   * shells) must read it, as Shell and RemoteCommand do. The other events have their own bounds and never hold
   * output back: unread, `ChannelClosed` is always kept, payloads such as the exit code up to 16 (a later one
   * waits unacknowledged, never lost), flags up to 1024 and connection events up to 64 (later ones are dropped
   * until reading makes room; `subscribe` sees every connection event).
   */
  readonly events: Stream.Stream<SessionEvent, SessionError>
  /** Sends bytes as Output messages of at most 1024 bytes; suspends while the window is full. */
  readonly write: (bytes: Uint8Array) => Effect.Effect<void, SessionError>
  /**
   * Sends one data message of `payloadType` (Output is encrypted in KMS sessions), in sequence with `write`;
   * suspends while the window is full. Shell sends the terminal size with it (`PayloadType.Size`).
   *
   * @since 0.3.0
   */
  readonly send: (payloadType: AgentMessage.PayloadType, payload: Uint8Array) => Effect.Effect<void, SessionError>
  readonly sendFlag: (flag: AgentMessage.FlagPayload) => Effect.Effect<void, SessionError>
  /**
   * From now on, `terminate` (and closing the scope) first sends this flag and waits for the channel to close:
   * PortForwarding sets `TerminateSession` where the agent honours it (above 2.3.722.0). Default: no flag.
   *
   * @since 0.3.0
   */
  readonly closeWith: (flag: AgentMessage.FlagPayload) => Effect.Effect<void>
  /**
   * Ends the session: the flag given to `closeWith`, if any, then a brief wait for the channel to close. True
   * when the channel closed (before, or in answer); false when it did not, and only the `ssm:TerminateSession`
   * API can end the session on the service's side.
   */
  readonly terminate: Effect.Effect<boolean>
  /** Completes with the `Output` text of `channel_closed` (empty when we ended it), or fails. */
  readonly closed: Effect.Effect<string, SessionError>
  /**
   * Subscribes to the connection events (also on `events`) from now on, for as long as the scope: any number of
   * subscribers, so a status line or a log reads them without taking `events` from the session's user.
   */
  readonly subscribe: Effect.Effect<Stream.Stream<ConnectionEvent>, never, Scope.Scope>
  readonly stats: Effect.Effect<SessionStats>
}

/**
 * @since 0.1.0
 * @category tags
 */
export const Session: Context.Tag<Session, Session> = internal.tag

/**
 * The Effect metrics of every session, named `ssm_session_*`: messages and bytes each way, resends, and the
 * current RTT, RTO and reorder-buffer depth.
 *
 * @since 0.1.0
 * @category models
 */
export interface SessionMetrics {
  readonly messagesSent: Metric.Metric.Counter<number>
  readonly messagesReceived: Metric.Metric.Counter<number>
  readonly bytesSent: Metric.Metric.Counter<number>
  readonly bytesReceived: Metric.Metric.Counter<number>
  readonly retransmissions: Metric.Metric.Counter<number>
  readonly rtt: Metric.Metric.Gauge<number>
  readonly rto: Metric.Metric.Gauge<number>
  readonly reorderDepth: Metric.Metric.Gauge<number>
  readonly reconnects: Metric.Metric.Counter<number>
  readonly disconnectedMillis: Metric.Metric.Counter<number>
}

/**
 * @since 0.1.0
 * @category metrics
 */
export const metrics: SessionMetrics = internal.metrics

/**
 * Opens the data channel, runs the handshake and returns a ready session, closed with the scope. A lost WebSocket
 * is resumed through the `Resumer` service when the context has one (or `resume.resumeSession`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (
  options: SessionOptions
) => Effect.Effect<Session, SessionError, Scope.Scope | Socket.WebSocketConstructor> = internal.make

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: SessionOptions): Layer.Layer<Session, SessionError, Socket.WebSocketConstructor> =>
  Layer.scoped(internal.tag, internal.make(options))

/**
 * `layer` with its options read from `Config`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  config: Config.Config.Wrap<SessionOptions>
): Layer.Layer<Session, SessionError | ConfigError.ConfigError, Socket.WebSocketConstructor> =>
  Layer.scoped(internal.tag, Effect.flatMap(Config.unwrap(config), internal.make))
