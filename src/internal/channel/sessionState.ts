/**
 * The client session's state as one record, and what happens to it: the end of the session, and the delivery
 * of what the agent sends (output through a bounded buffer, events beside it) (AGENT-PROTOCOL.md sections 5-7,
 * 9, 12, 20). The handshake is in `sessionHandshake.ts`, the WebSocket and resuming in `sessionLink.ts`, and
 * `./session.ts` wires them together.
 *
 * @internal
 */
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as Mailbox from "effect/Mailbox"
import * as Option from "effect/Option"
import type * as PubSub from "effect/PubSub"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as AgentMessage from "../../AgentMessage.js"
import * as AgentPayload from "../../AgentPayload.js"
import type * as KmsApi from "../../KmsApi.js"
import type * as Resumer from "../../Resumer.js"
import type * as Session from "../../Session.js"
import type * as DataChannel from "./dataChannel.js"
import type * as Link from "./link.js"
import type * as Resume from "./resume.js"
import type * as SessionCipher from "../crypto/sessionCipher.js"
import { readUint32 } from "../protocol/agentMessage.js"
import { closedBeforeReadyError, SessionError, sessionError } from "./sessionError.js"

/** The version this client reports: above 1.2.331.0 so current agents turn smux keepalive off (section 18.1). */
/** @internal */
export const CLIENT_VERSION = "1.2.694.0"

/** One ClientId per process, reused on reconnects, as the official client. */
const processClientId = globalThis.crypto.randomUUID()

/** @internal */
export const defaults = {
  clientVersion: CLIENT_VERSION,
  openTimeout: Duration.seconds(10),
  handshakeTimeout: Duration.seconds(30),
  pingInterval: Duration.seconds(30),
  windowSize: 1024,
  reorderBufferSize: 100_000,
  reorderBufferBytes: 64 * 1024 * 1024,
  repeatAckAfter: Duration.millis(50),
  receiveBufferSize: 1024 * 1024,
  messagesPerSecond: 1000,
  giveUpAfter: Duration.minutes(5),
  terminateTimeout: Duration.seconds(2)
} as const

/**
 * Unread connection events (`Reconnecting`, `Reconnected`) kept on `events`; later ones are dropped until reading
 * makes room (`subscribe` sees every one from the moment it subscribes). @internal
 */
export const MAX_UNREAD_CONNECTION_EVENTS = 64

/** Unread `Flag` events kept on `events`; later ones are dropped until reading makes room. @internal */
export const MAX_UNREAD_FLAGS = 1024

/**
 * Unread `Payload` events (the exit code: one per session from an agent) kept on `events`; a later one waits in
 * the engine, unacknowledged, until reading makes room. @internal
 */
export const MAX_UNREAD_PAYLOADS = 16

/** @internal */
export interface Config {
  readonly clientVersion: string
  readonly clientId: string
  readonly openTimeout: Duration.Duration
  readonly handshakeTimeout: Duration.Duration
  readonly pingInterval: Duration.Duration
  readonly windowSize: number
  readonly reorderBufferSize: number
  readonly reorderBufferBytes: number
  readonly repeatAckAfter: number
  readonly receiveBufferSize: number
  readonly messagesPerSecond: number
  readonly giveUpAfter: Duration.Duration
  readonly terminateTimeout: Duration.Duration
}

/** The options with their defaults. @internal */
export const configOf = (options: Session.SessionOptions): Config => ({
  clientVersion: options.clientVersion ?? defaults.clientVersion,
  clientId: options.clientId ?? processClientId,
  openTimeout: Duration.decode(options.openTimeout ?? defaults.openTimeout),
  handshakeTimeout: Duration.decode(options.handshakeTimeout ?? defaults.handshakeTimeout),
  pingInterval: Duration.decode(options.pingInterval ?? defaults.pingInterval),
  windowSize: options.windowSize ?? defaults.windowSize,
  reorderBufferSize: options.reorderBufferSize ?? defaults.reorderBufferSize,
  reorderBufferBytes: options.reorderBufferBytes ?? defaults.reorderBufferBytes,
  repeatAckAfter: Duration.toMillis(Duration.decode(options.repeatAckAfter ?? defaults.repeatAckAfter)),
  receiveBufferSize: options.receiveBufferSize ?? defaults.receiveBufferSize,
  messagesPerSecond: options.messagesPerSecond ?? defaults.messagesPerSecond,
  giveUpAfter: Duration.decode(options.giveUpAfter ?? defaults.giveUpAfter),
  terminateTimeout: Duration.decode(options.terminateTimeout ?? defaults.terminateTimeout)
})

/** What the handshake (or a first Output) decided. @internal */
export interface Ready {
  readonly sessionType: AgentPayload.SessionType
  readonly agentVersion: Option.Option<string>
  readonly properties: Readonly<Record<string, unknown>> | null
  readonly customerMessage: string
  readonly handshakeDuration: Option.Option<Duration.Duration>
}

/**
 * Everything a session holds. The fixed parts are made once by `make`; the fields below them change as the
 * session runs, only through the functions of `sessionState.ts`, `sessionHandshake.ts` and `sessionLink.ts`.
 *
 * @internal
 */
export interface SessionState {
  readonly options: Session.SessionOptions
  readonly config: Config
  /** the handshake's outcome (or a first Output's): what `make` waits for */
  readonly ready: Deferred.Deferred<Ready, SessionError>
  /** the end: channel_closed's text, or why the session failed */
  readonly ended: Deferred.Deferred<string, SessionError>
  readonly output: Mailbox.Mailbox<Uint8Array, SessionError>
  readonly events: Mailbox.Mailbox<Session.SessionEvent, SessionError>
  /** the connection events for `subscribe` */
  readonly connectionEvents: PubSub.PubSub<Session.ConnectionEvent>
  /** open while a link (WebSocket) carries the session */
  readonly linkUp: Effect.Latch
  /** every link's scope is forked from this one */
  readonly linksScope: Scope.Scope
  /** fibers started from the synchronous receive path, interrupted with the session's scope */
  readonly runFork: <A, E>(effect: Effect.Effect<A, E>) => Fiber.RuntimeFiber<A, E>
  readonly kms: Option.Option<KmsApi.KmsApi>
  /** none: a lost WebSocket ends the session (resume off, or nothing to resume through) */
  readonly resume: Option.Option<{ readonly policy: Resume.Policy; readonly resumer: Resumer.Resumer }>
  /** why there is no `resume`, for the Transport failure */
  readonly unresumable: string

  /** the reliable channel, set right after the state is made */
  channel: DataChannel.Channel | undefined
  /** the WebSocket carrying the session now; none while it is being resumed */
  link: Link.Link | undefined
  /** set once the data key is known (KMS sessions); Output is then encrypted both ways */
  cipher: SessionCipher.SessionCipher | undefined
  /** bytes of output and StdErr delivered and not yet read */
  buffered: number
  peakBuffered: number
  /** the link's reading is paused because `buffered` passed the receive buffer size */
  readingPaused: boolean
  unreadFlags: number
  unreadConnectionEvents: number
  /** Payload events (the exit code) delivered and not read: past `MAX_UNREAD_PAYLOADS`, the next waits unacknowledged */
  unreadPayloads: number
  /** a HandshakeRequest or a first Output arrived: the session type is decided */
  handshakeSeen: boolean
  /** a HandshakeRequest was answered (a repeat is acknowledged and ignored) */
  handshakeAnswered: boolean
  /** the handshake failed on our side: the channel closing after it is this failure */
  handshakeFailure: SessionError | undefined
  /** the handshake's facts, waiting for HandshakeComplete */
  pendingReady: Ready | undefined
  closedByService: boolean
  finished: boolean
  /** a frame arrived on some link: the service took our OpenDataChannel, so a lost link can be resumed */
  heard: boolean
  unknownPayloadTypeLogged: boolean
  /** the flag `terminate` sends before waiting for the channel to close (`closeWith`) */
  closeFlag: AgentMessage.FlagPayload | undefined
  reconnects: number
  disconnectedMillis: number
  disconnectedSince: number | undefined
}

// ---------------------------------------------------------------------------------------------------------------
// the end
// ---------------------------------------------------------------------------------------------------------------

/** Ends the session once: `closed` completes, readers see the end, and waiting writes fail. @internal */
export const end = (state: SessionState, exit: Exit.Exit<string, SessionError>): void => {
  if (state.finished) return
  state.finished = true
  Deferred.unsafeDone(state.ended, exit)
  // writes waiting for the window (which will never open now) fail instead of hanging
  state.channel?.close("the session has ended")
  const done = Exit.asVoid(exit)
  state.linkUp.unsafeOpen()
  state.output.unsafeDone(done)
  state.events.unsafeDone(done)
  Deferred.unsafeDone(
    state.ready,
    Exit.isFailure(exit) ? Exit.failCause(exit.cause) : Exit.fail(closedBeforeReadyError(exit.value))
  )
}

/** @internal */
export const failWith = (
  state: SessionState,
  reason: Session.SessionError.Reason,
  detail: string,
  cause?: unknown
): void => end(state, Exit.fail(sessionError(reason, detail, cause)))

// ---------------------------------------------------------------------------------------------------------------
// delivery: output and StdErr bytes under the receive budget, the other events counted apart
// ---------------------------------------------------------------------------------------------------------------

const canPause = (state: SessionState) => state.link?.canPause === true

/**
 * Offers bytes under the receive budget. False past the hard limit: the message goes unacknowledged and the agent
 * resends it later (or, when it was already acknowledged, it waits in the reorder buffer until reading makes room).
 * @internal
 */
export const offerBytes = <A>(
  state: SessionState,
  mailbox: Mailbox.Mailbox<A, SessionError>,
  value: A,
  size: number
): boolean => {
  const limit = state.config.receiveBufferSize
  if (state.buffered >= limit * (canPause(state) ? 2 : 1)) return false
  state.buffered += size
  if (state.buffered > state.peakBuffered) state.peakBuffered = state.buffered
  mailbox.unsafeOffer(value)
  if (!state.readingPaused && state.buffered >= limit && canPause(state)) {
    state.readingPaused = true
    state.link!.pauseReading()
  }
  return true
}

/**
 * Offers an event that carries no bulk bytes: outside the receive budget, so an unread `events` never stalls
 * output. ChannelClosed is always kept, and Payload events (the exit code) are never lost: past their bound
 * (`deliverData`) the message waits unacknowledged in the engine until reading makes room. Flags and connection
 * events are kept up to their bounds, and dropped past them until reading makes room. True when kept.
 * @internal
 */
export const offerEvent = (state: SessionState, event: Session.SessionEvent): boolean => {
  switch (event._tag) {
    case "Flag":
      if (state.unreadFlags >= MAX_UNREAD_FLAGS) return false
      state.unreadFlags++
      break
    case "Payload":
      if (state.unreadPayloads >= MAX_UNREAD_PAYLOADS) return false
      state.unreadPayloads++
      break
    case "Reconnecting":
    case "Reconnected":
      if (state.unreadConnectionEvents >= MAX_UNREAD_CONNECTION_EVENTS) return false
      state.unreadConnectionEvents++
      break
  }
  state.events.unsafeOffer(event)
  return true
}

/** Bytes read from output or StdErr: room again, and reading resumed below half the budget. @internal */
export const released = (state: SessionState, size: number): void => {
  state.buffered -= size
  const limit = state.config.receiveBufferSize
  if (state.buffered < limit) state.channel?.resumeDelivery()
  if (state.readingPaused && state.buffered < limit / 2) {
    state.readingPaused = false
    state.link?.resumeReading()
  }
}

/** Events read: their bytes (StdErr) or their place under the event bounds are free again. @internal */
export const eventsRead = (state: SessionState, events: Iterable<Session.SessionEvent>): void => {
  let bytes = 0
  for (const event of events) {
    if (event._tag === "StdErr") bytes += event.bytes.length
    else if (event._tag === "Flag") state.unreadFlags--
    else if (event._tag === "Payload" && state.unreadPayloads-- === MAX_UNREAD_PAYLOADS) state.channel?.resumeDelivery()
    else if (event._tag === "Reconnecting" || event._tag === "Reconnected") state.unreadConnectionEvents--
  }
  if (bytes > 0) released(state, bytes)
}

/** The output as a stream: reading is what lets more in. @internal */
export const outputStream = (state: SessionState): Stream.Stream<Uint8Array, SessionError> =>
  Mailbox.toStream(state.output).pipe(Stream.mapChunks((chunk) => {
    let total = 0
    for (const bytes of chunk) total += bytes.length
    released(state, total)
    return chunk
  }))

/** @internal */
export const eventsStream = (state: SessionState): Stream.Stream<Session.SessionEvent, SessionError> =>
  Mailbox.toStream(state.events).pipe(Stream.mapChunks((chunk) => {
    eventsRead(state, chunk)
    return chunk
  }))

/** The readiness of a session that starts without a handshake: a shell without KMS (section 7.6). @internal */
export const noHandshake: Ready = {
  sessionType: AgentPayload.SessionType.StandardStream,
  agentVersion: Option.none(),
  properties: null,
  customerMessage: "",
  handshakeDuration: Option.none()
}

/**
 * Output, StdErr and ExitCode: decrypted in KMS sessions (a payload that does not is fatal, section 8.4).
 *
 * Not copied when it is a view into the transport's buffer: every transport here hands over buffers that nothing
 * writes to again (ws's socket reads, a browser's ArrayBuffer per message). A view keeps its whole read (up to
 * 64 KiB) alive, but output is taken in order, so what is kept alive stays within the receive buffer's bound plus
 * one read.
 * @internal
 */
export const deliverData = (state: SessionState, message: AgentMessage.AgentMessage): boolean => {
  let payload = message.payload
  if (state.cipher !== undefined) {
    const plain = state.cipher.decrypt(payload)
    if (plain === undefined) {
      failWith(state, "Encryption", `a message (sequence ${message.sequenceNumber}) did not decrypt with the data key`)
      return false
    }
    payload = plain
  }
  switch (message.payloadType) {
    case AgentMessage.PayloadType.Output:
      if (!state.handshakeSeen) Deferred.unsafeDone(state.ready, Exit.succeed(noHandshake))
      state.handshakeSeen = true
      return offerBytes(state, state.output, payload, payload.length)
    case AgentMessage.PayloadType.StdErr:
      return offerBytes(state, state.events, { _tag: "StdErr", bytes: payload }, payload.length)
    default:
      // the exit code: never dropped, and bounded: past the bound it waits in the engine, unacknowledged, so a peer
      // that sends nothing but these fills nothing here (the agent resends it later)
      return offerEvent(state, { _tag: "Payload", payloadType: message.payloadType, bytes: payload })
  }
}

/** A Flag payload's value (4 bytes, big-endian); -1 for one of another length. @internal */
export const flagOf = (view: Uint8Array): number =>
  view.length === 4 ? readUint32(view, 0) : -1

/** The highest payload type this protocol defines: past it, a type is unknown. */
const LAST_PAYLOAD_TYPE = AgentMessage.PayloadType.ExitCode

/**
 * A data message in sequence, the handshake's excepted (`sessionHandshake.ts` takes those). False: not taken now (the
 * receive buffer is full), the engine offers it again after `resumeDelivery`.
 * @internal
 */
export const deliver = (
  state: SessionState,
  message: AgentMessage.AgentMessage
): boolean => {
  switch (message.payloadType) {
    case AgentMessage.PayloadType.Output:
    case AgentMessage.PayloadType.StdErr:
    case AgentMessage.PayloadType.ExitCode:
      return deliverData(state, message)
    case AgentMessage.PayloadType.Flag:
      // kept up to its bound, and acknowledged either way
      offerEvent(state, { _tag: "Flag", flag: flagOf(message.payload) })
      return true
    default:
      // acknowledged and skipped, so the sequence moves on, as AWS's client does (it does not check the type)
      if (message.payloadType > LAST_PAYLOAD_TYPE && !state.unknownPayloadTypeLogged) {
        state.unknownPayloadTypeLogged = true
        state.runFork(Effect.logWarning(
          `skipping a data message of unknown PayloadType ${message.payloadType} (further ones are skipped silently)`
        ))
      }
      return true
  }
}
