/**
 * The reliable, ordered, paced message stream of AGENT-PROTOCOL.md section 5, in either role: the client
 * (sends `input_stream_data`, receives `output_stream_data`) or the agent (the reverse). Used by the Session and
 * by the agent simulator, so both ends run the same code.
 *
 * Sending, with one of two senders:
 * - `library` (the Session's): one sender fiber assigns sequence numbers in the order messages are first written,
 *   waits for room in a bounded in-flight window (backpressure, never eviction) and for the pacing slot, and holds
 *   new data while the service says `pause_publication`. A retransmit fiber resends probable losses and the
 *   oldest unacknowledged message at most once per RTO, and gives up after `giveUpAfter`.
 * - `agent` (the simulator's default, as the SSM Agent's `datachannel.go`): no window, only a 100000-message
 *   buffer (a message sent when it is full is never resent); a message is recorded after it is written, so an
 *   acknowledgement that overtakes the recording finds nothing (`ackBeforeRecord`); every 100 ms only the oldest
 *   unacknowledged message is looked at and resent when older than the RTO (AWS's formula, no floor, no Karn), with
 *   no attempt limit. See `src/internal/simulator/AGENT-BEHAVIOUR.md`.
 *
 * Receiving: acks every accepted message at once (and, with `repeatAckAfter`, once more a little later: the agent
 * resends only its oldest unacknowledged message, one per 100 ms, so every lost or overtaken ack would otherwise
 * cost a slot), re-acks duplicates, holds out-of-order messages in a reorder buffer bounded in count and bytes, and
 * delivers in order. A message that does not fit is dropped unacknowledged, so the peer resends it later; an
 * acknowledged message that cannot be delivered yet waits in the reorder buffer until `resumeDelivery`.
 *
 * Acknowledgements are never dropped. While the transport holds `MAX_UNSENT_BYTES` of our frames that the network
 * has not taken (`congestion`: a peer that does not read), an acknowledgement waits in the engine instead, one entry
 * per sequence number (a duplicate or a repeat of one that waits adds nothing), and all go out as soon as the
 * transport drains or a new one carries the channel. That set is bounded (`MAX_PENDING_ACKS`): when it is full the
 * engine accepts no more messages, as when its receive buffer is full (the peer resends them later), so an accepted
 * message is always acknowledged.
 *
 * @internal
 */
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as FiberSet from "effect/FiberSet"
import * as Mailbox from "effect/Mailbox"
import * as Metric from "effect/Metric"
import type * as Scope from "effect/Scope"
import type * as AgentMessage from "../AgentMessage.js"
import type * as Session from "../Session.js"
import * as internalMessage from "./agentMessage.js"
import * as Rto from "./rto.js"

/** @internal */
export type Role = "client" | "agent"

/** @internal */
export interface ChannelOptions {
  readonly role: Role
  /** writes one binary frame to the transport */
  readonly send: (frame: Uint8Array) => Effect.Effect<void, unknown>
  /**
   * optional: writes one frame at once when the transport can take it now, and says whether it did. Frames go
   * this way while nothing waits in the writer, so an acknowledgement costs no fiber
   */
  readonly sendNow?: ((frame: Uint8Array) => boolean) | undefined
  /**
   * called, in order and exactly once per sequence number, for each data message. Return false when the
   * message cannot be taken now: a message received in order is then not acknowledged and the peer resends it;
   * one that waited in the reorder buffer (already acknowledged) stays there until `resumeDelivery`. With `owned`
   * the payload is the engine's own copy; otherwise it is a view into the transport's buffer, to be copied if kept.
   */
  readonly deliver: (message: AgentMessage.AgentMessage, owned: boolean) => boolean
  /** called for `channel_closed` */
  readonly onChannelClosed: (message: AgentMessage.AgentMessage) => void
  /**
   * optional: holds the transport's writes together until the returned function is called, so a batch of frames
   * leaves in few system calls (a Node socket's cork/uncork)
   */
  readonly cork?: (() => () => void) | undefined
  /**
   * optional: the payload each data message goes out with, given its plaintext chunk (KMS sessions encrypt here,
   * after chunking to 1024 bytes and before the digest, as section 8.2 says)
   */
  readonly outgoingPayload?: ((payloadType: AgentMessage.PayloadType, payload: Uint8Array) => Uint8Array) | undefined
  /**
   * optional: how full the transport is. While `congested` says so, acknowledgements wait in the engine (unique per
   * sequence number, at most `MAX_PENDING_ACKS`) instead of piling up in the transport, and go out when the
   * callback given to `whenDrained` runs (or when `hold(false)` carries on over a new transport)
   */
  readonly congestion?: Congestion | undefined
  /** called for frames that fail to decode or validate (they are dropped unacknowledged) */
  readonly onInvalid?: ((error: internalMessage.AgentMessageError) => void) | undefined
  /** `library` (window, fast resends, give-up) or `agent` (as the SSM Agent). Default `library` */
  readonly sender?: Sender | undefined
  /** with the `library` sender: sequence numbers in flight from the oldest unacknowledged one */
  readonly windowSize: number
  /**
   * with the `agent` sender: drawn once per message sent; true when the acknowledgement overtakes the agent's
   * recording of the message and is lost (the agent records a message after writing it)
   */
  readonly ackBeforeRecord?: (() => boolean) | undefined
  /** out-of-order messages held, and how far ahead of the expected one they may be */
  readonly reorderBufferSize: number
  /** bytes the reorder buffer holds at most: payloads plus `REORDER_ENTRY_OVERHEAD` per message */
  readonly reorderBufferBytes: number
  /** data messages with a larger payload end the channel (`Protocol`). Default `MAX_PAYLOAD_BYTES` */
  readonly maxPayloadBytes?: number | undefined
  /** acknowledge every accepted message once more this many ms later; 0 for never */
  readonly repeatAckAfter?: number | undefined
  readonly messagesPerSecond: number
  readonly giveUpAfter: Duration.Duration
  readonly metrics: ChannelMetrics
  /**
   * optional: called once per message, with the ms from its latest transmission to the first acknowledgement of it
   * that arrives (also one that the agent's race then loses)
   */
  readonly onAckSample?: ((millis: number) => void) | undefined
}

/** @internal */
export type Sender = "library" | "agent"

/**
 * A transport's backlog of frames written and not yet taken by the network, as the engine's acknowledgements see it.
 * @internal
 */
export interface Congestion {
  /**
   * true while so much of ours waits for the network that acknowledgements should wait in the engine instead: more
   * than its bound beyond `allowance` bytes, the data frames not yet acknowledged (the window bounds them, and any of
   * them may still wait there), so that acknowledgements never wait behind data alone
   */
  readonly congested: (allowance: number) => boolean
  /**
   * calls `callback` once, when the backlog has drained or may have (the engine then looks again), or when the
   * transport ends (or never, then: `hold(false)` sends what waits on the next transport)
   */
  readonly whenDrained: (callback: () => void) => void
}

/** @internal */
export type ChannelMetrics = Session.SessionMetrics

/**
 * The metrics of every channel of one kind, named `<prefix>_<metric>`.
 * @internal
 */
export const makeMetrics = (prefix: string): ChannelMetrics => {
  const counter = (name: string, description: string) =>
    Metric.counter(`${prefix}_${name}`, { description, incremental: true })
  return {
    messagesSent: counter("messages_sent", "data messages written, first transmissions"),
    messagesReceived: counter("messages_received", "data messages accepted"),
    bytesSent: counter("bytes_sent", "payload bytes of data messages first written"),
    bytesReceived: counter("bytes_received", "payload bytes of data messages accepted"),
    retransmissions: counter("retransmissions", "data messages written again"),
    rtt: Metric.gauge(`${prefix}_rtt_ms`, { description: "smoothed round-trip time" }),
    rto: Metric.gauge(`${prefix}_rto_ms`, { description: "retransmission timeout" }),
    reorderDepth: Metric.gauge(`${prefix}_reorder_depth`, { description: "out-of-order messages held" }),
    reconnects: counter("reconnects", "sessions resumed on a new WebSocket"),
    disconnectedMillis: counter("disconnected_ms", "time without a WebSocket, from losing one to resuming")
  }
}

/** @internal */
export interface ChannelFailure {
  readonly reason: "GiveUp" | "Transport" | "Closed" | "Protocol"
  readonly detail: string
  readonly cause?: unknown
}

/** @internal */
export interface Channel {
  /**
   * sends `bytes` as sequenced data messages of at most 1024 bytes (one empty message for empty bytes);
   * completes once the last one has a sequence number and was first written. `bytes` must not change until then.
   */
  readonly send: (payloadType: AgentMessage.PayloadType, bytes: Uint8Array) => Effect.Effect<void, ChannelFailure>
  /** feeds one received frame; synchronous, in arrival order */
  readonly receive: (frame: Uint8Array) => void
  /** completes when the channel fails (give-up, transport, or `close`) */
  readonly failed: Effect.Effect<ChannelFailure>
  /** ends the channel: sending stops and every pending or later `send` fails with `Closed` */
  readonly close: (detail: string) => void
  /** delivers what waits in the reorder buffer in order, while `deliver` takes it */
  readonly resumeDelivery: () => void
  /**
   * holds the channel while its transport is gone (true) and carries on when a new one is up (false): new messages
   * and resends wait, the give-up clock stops, and on carrying on every unacknowledged message is resent (paced)
   * and the latest acknowledgements are written again, since any of them may have been lost with the old transport
   */
  readonly hold: (held: boolean) => void
  /** the number of sent messages not yet acknowledged */
  readonly unacknowledged: () => number
  /** waits until every sent message is acknowledged */
  readonly drained: Effect.Effect<void>
  readonly stats: () => ChannelStats
  readonly paused: () => boolean
}

/**
 * The engine's counters: the Session's stats without its delivery buffer.
 * @internal
 */
export type ChannelStats = Omit<
  Session.SessionStats,
  "bufferedBytes" | "peakBufferedBytes" | "connected" | "reconnects" | "disconnectedMillis"
>

interface InFlight {
  readonly frame: Uint8Array
  readonly firstSent: number
  lastSent: number
  retransmitted: boolean
  /** agent sender: the first acknowledgement will find nothing (it overtook the recording) */
  unrecorded: boolean
  /** `onAckSample` has seen an acknowledgement of it */
  ackSampled: boolean
}

interface Reordered {
  readonly message: AgentMessage.AgentMessage
  readonly size: number
}

interface RepeatAck {
  readonly frame: Uint8Array
  readonly due: number
  readonly sequence: number
}

interface OutgoingRequest {
  readonly payloadType: AgentMessage.PayloadType
  readonly payload: Uint8Array
  /** on the last chunk of a `send` */
  readonly done: Deferred.Deferred<void, ChannelFailure> | undefined
}

/** @internal */
export const CHUNK_SIZE = 1024

/**
 * Acknowledgements written again when the channel carries on over a new transport: the agent keeps every message
 * whose acknowledgement it never saw and resends them one per 100 ms, so each ack lost with the old transport
 * would cost a tick.
 * @internal
 */
export const RECENT_ACKS = 1024

/**
 * Acknowledgements that wait for a congested transport, at most (one per sequence number, about 100 bytes each).
 * Past it the engine accepts no new message until some have gone (the peer resends what it refused): a peer that
 * stops reading while it goes on sending cannot make the client hold more. The SSM Agent itself keeps at most
 * `AGENT_BUFFER_CAPACITY` messages for acknowledgement.
 * @internal
 */
export const MAX_PENDING_ACKS = 32_768

/** what a WebSocket adds to a frame of ours at most (a masked frame under 64 KiB): see `Congestion` */
const WEBSOCKET_FRAMING = 8

/** resends per 100 ms tick at most */
const MAX_RESEND_BURST = 256

/**
 * What one held message costs beside its payload (the message object, its id string, the map entry), counted
 * against `reorderBufferBytes` so that many small messages are bounded too.
 * @internal
 */
export const REORDER_ENTRY_OVERHEAD = 256

/**
 * The agent's sending buffer: past it, messages are written but never recorded, so never resent
 * (`agent/session/config/config.go` OutgoingMessageBufferCapacity, `datachannel.go` AddDataToOutgoingMessageBuffer).
 * @internal
 */
export const AGENT_BUFFER_CAPACITY = 100_000

/**
 * The largest data message payload taken: far above what any agent sends (1024 bytes, 1052 with KMS; a handshake
 * request with its document properties is a few KiB), far below what could hurt.
 * @internal
 */
export const MAX_PAYLOAD_BYTES = 64 * 1024

/** frames waiting for the transport before new messages wait too */
const MAX_PENDING_WRITES = 256

/** the agent's resend scheduler tick (`config.go` ResendSleepInterval) */
const AGENT_RESEND_TICK = 100

const textDecoder = new TextDecoder()
const textEncoder = new TextEncoder()

/** where an acknowledgement's JSON names the message id */
const ACKNOWLEDGED_ID_KEY = textEncoder.encode(`"AcknowledgedMessageId":"`)
const idScratch = new Uint8Array(36)

/**
 * A message id in one piece, for an acknowledgement that waits: the decoder builds ids from some 20 short strings,
 * a rope that holds about 500 bytes where the flat string holds 60.
 */
const flatMessageId = (messageId: string): string => {
  if (messageId.length !== 36) return messageId
  textEncoder.encodeInto(messageId, idScratch)
  return textDecoder.decode(idScratch)
}

/** The message id an acknowledgement frame of ours names (read back only when its repeat must wait). */
const acknowledgedMessageId = (frame: Uint8Array): string => {
  const key = ACKNOWLEDGED_ID_KEY
  search: for (let i = internalMessage.PAYLOAD_OFFSET; i + key.length + 36 <= frame.length; i++) {
    for (let j = 0; j < key.length; j++) if (frame[i + j] !== key[j]) continue search
    return textDecoder.decode(frame.subarray(i + key.length, i + key.length + 36))
  }
  return "00000000-0000-0000-0000-000000000000"
}

/** @internal */
export const make = (options: ChannelOptions): Effect.Effect<Channel, never, Scope.Scope> =>
  Effect.gen(function*() {
    const sendType: AgentMessage.MessageType = options.role === "client" ? "input_stream_data" : "output_stream_data"
    const receiveType: AgentMessage.MessageType = options.role === "client" ? "output_stream_data" : "input_stream_data"
    const metrics = options.metrics
    const agentSender = options.sender === "agent"
    const repeatAckAfter = options.repeatAckAfter ?? 0
    const maxPayloadBytes = options.maxPayloadBytes ?? MAX_PAYLOAD_BYTES
    // ------------------------------------------------------------------------------------------------------------
    // state
    // ------------------------------------------------------------------------------------------------------------
    const clock = yield* Effect.clock
    let nextSequence = 0
    const inFlight = new Map<number, InFlight>()
    let rto = Rto.initialRto
    let expected = 0
    const reorder = new Map<number, Reordered>()
    let reorderBytes = 0
    /** acknowledgements to write once more, in the order they were first written */
    const repeatAcks: Array<RepeatAck> = []
    let repeatAcksHead = 0
    let paused = false
    /** the transport is gone: see `hold` */
    let held = false
    /** messages last sent before this time are resent (the transport they went on is gone) */
    let resendBefore = 0
    /** when the channel last carried on after a hold: the give-up clock counts from here at the earliest */
    let carriedOnAt = 0
    const recentAcks: Array<Uint8Array | undefined> = new Array(RECENT_ACKS)
    let recentAcksNext = 0
    /**
     * acknowledgements waiting for the congested transport: sequence number to message id, in the order they were
     * due. Never dropped: they go out when the transport drains (see `Congestion`)
     */
    const pendingAcks = new Map<number, string>()
    /** a `whenDrained` callback is registered */
    let drainRequested = false
    const congestion = options.congestion
    /** bytes of the data frames sent and not yet acknowledged, with their WebSocket framing: see `Congestion` */
    let inFlightBytes = 0
    const congested = (): boolean => congestion !== undefined && congestion.congested(inFlightBytes)
    /** the latest send time of any acknowledged message */
    let latestAckedSendTime = 0
    /** the highest sequence number acknowledged for its first transmission */
    let highestCleanAck = -1
    /** doubles on each timeout resend without an acknowledgement in between (RFC 6298 section 5.5), up to 1 s */
    let timeoutBackoff = 1
    const giveUpMillis = Duration.toMillis(options.giveUpAfter)
    let nextSlot = 0
    let failure: ChannelFailure | undefined
    const stats = {
      messagesSent: 0,
      messagesReceived: 0,
      bytesSent: 0,
      bytesReceived: 0,
      retransmissions: 0,
      duplicatesReceived: 0,
      droppedUnacknowledged: 0
    }

    const failed = yield* Deferred.make<ChannelFailure>()
    const windowOpen = yield* Effect.makeLatch(true)
    const transportUp = yield* Effect.makeLatch(true)
    const publishing = yield* Effect.makeLatch(true)
    const acked = yield* Effect.makeLatch(true)
    const outgoing: Array<OutgoingRequest> = []
    let outgoingHead = 0
    const outgoingReady = yield* Effect.makeLatch(false)
    const repeatAcksDue = yield* Effect.makeLatch(false)
    /** open while messages wait for their acknowledgement: the resend loops sleep on it when none do (no idle timer) */
    const unacknowledged = yield* Effect.makeLatch(false)
    const writes = yield* Mailbox.make<Uint8Array>()
    /** frames handed to the writer and not yet taken by the transport */
    let pendingWrites = 0
    const writerCaughtUp = yield* Effect.makeLatch(true)

    const fail = (reason: ChannelFailure["reason"], detail: string, cause?: unknown) => {
      if (failure !== undefined) return
      failure = cause === undefined ? { reason, detail } : { reason, detail, cause }
      Deferred.unsafeDone(failed, Exit.succeed(failure))
      for (let i = outgoingHead; i < outgoing.length; i++) {
        const done = outgoing[i]!.done
        if (done !== undefined) Deferred.unsafeDone(done, Exit.fail(failure))
      }
      outgoing.length = 0
      outgoingHead = 0
      pendingAcks.clear()
      windowOpen.unsafeOpen()
      transportUp.unsafeOpen()
      publishing.unsafeOpen()
      outgoingReady.unsafeOpen()
      writerCaughtUp.unsafeOpen()
      unacknowledged.unsafeOpen()
    }

    /**
     * The window spans sequence numbers from the oldest unacknowledged message, not a count of unacknowledged
     * messages: a receiver holds at most so many messages beyond the one it waits for (its reorder buffer), and
     * acknowledgements of later messages must not let the sender run past that.
     */
    const windowFull = (): boolean => {
      // the agent has no window: it sends what its source gives it
      if (agentSender || inFlight.size === 0) return false
      const oldest = inFlight.keys().next().value as number
      return nextSequence - oldest >= options.windowSize
    }

    /** Every frame goes through one writer fiber so frames never interleave and order is kept. */
    const write = (frame: Uint8Array) => {
      if (pendingWrites === 0 && options.sendNow !== undefined && options.sendNow(frame)) return
      pendingWrites++
      writes.unsafeOffer(frame)
    }

    // ------------------------------------------------------------------------------------------------------------
    // pacing: a token bucket of `messagesPerSecond` with a 20 ms burst
    // ------------------------------------------------------------------------------------------------------------
    // A hard cap: no one-second window holds more than messagesPerSecond messages (the service closes channels
    // that exceed its rate). Slots come at (rate - burst) per second, and a sender that fell behind (timers are
    // coarse) may catch up by at most `burst` slots: (rate - burst) + burst per window.
    const burst = Math.floor(Math.min(20, options.messagesPerSecond / 50))
    const interval = options.messagesPerSecond > 0 ? 1000 / (options.messagesPerSecond - burst) : 0
    const catchUp = burst * interval
    // unpaced, a sender that never sleeps would keep the event loop in microtasks and starve socket reads (and so
    // the acks it waits for): give the macrotask queue a turn every 256 messages
    let unpacedCount = 0
    const macrotask = Effect.async<void>((resume) => {
      const timer = setTimeout(() => resume(Effect.void), 0)
      return Effect.sync(() => clearTimeout(timer))
    })
    /**
     * Reserves the next pacing slot and returns how long to wait for it: 0 to send now, -1 to send now and then
     * give the macrotask queue a turn (unpaced).
     */
    const takeSlot = (now: number): number => {
      if (interval === 0) return (++unpacedCount & 255) === 0 ? -1 : 0
      const slot = Math.max(now - catchUp, nextSlot)
      nextSlot = slot + interval
      return slot > now ? slot - now : 0
    }
    /** `takeSlot` as an Effect, for the resends */
    const pace: Effect.Effect<void> = Effect.suspend(() => {
      const wait = takeSlot(clock.unsafeCurrentTimeMillis())
      return wait < 0 ? macrotask : wait > 0 ? Effect.sleep(Duration.millis(wait)) : Effect.void
    })

    // ------------------------------------------------------------------------------------------------------------
    // acknowledgements
    // ------------------------------------------------------------------------------------------------------------
    /** Encodes and writes one acknowledgement; with `repeat`, it goes once more `repeatAckAfter` later. */
    const writeAck = (sequence: number, messageId: string, now: number, repeat: boolean) => {
      const frame = internalMessage.encodeAcknowledge(receiveType, messageId, sequence, Math.max(1, now))
      write(frame)
      recentAcks[recentAcksNext] = frame
      recentAcksNext = (recentAcksNext + 1) % RECENT_ACKS
      // the same bytes again later: the agent matches acknowledgements by sequence number only
      if (repeat && repeatAckAfter > 0) {
        if (repeatAcks.length === 0) repeatAcksDue.unsafeOpen()
        repeatAcks.push({ frame, due: now + repeatAckAfter, sequence })
      }
    }

    /** Asks the transport, once at a time, to say when it has drained: `flushAcks` then writes what waits. */
    const requestDrain = () => {
      if (drainRequested || congestion === undefined) return
      drainRequested = true
      congestion.whenDrained(flushAcks)
    }

    /** The acknowledgement waits for the transport to drain: one entry per sequence number, whatever asks again. */
    const holdAck = (sequence: number, messageId: () => string) => {
      if (!pendingAcks.has(sequence)) pendingAcks.set(sequence, messageId())
      requestDrain()
    }

    /**
     * Writes the acknowledgements that wait, oldest first, while the transport takes them. Not repeated: the
     * repeat is for an acknowledgement that overtakes the agent's recording of its message, and these are late.
     */
    const flushAcks = () => {
      drainRequested = false
      if (pendingAcks.size === 0 || failure !== undefined) return
      const now = clock.unsafeCurrentTimeMillis()
      for (const [sequence, messageId] of pendingAcks) {
        if (congested()) break
        // deleting the entry being visited is safe in a Map's iteration
        pendingAcks.delete(sequence)
        writeAck(sequence, messageId, now, false)
      }
      if (pendingAcks.size > 0) requestDrain()
    }

    /** Acknowledges an accepted message (or a duplicate): now, or once the congested transport drains. */
    const sendAck = (message: AgentMessage.AgentMessage, now: number) => {
      // behind those that wait, or into the wait while the transport is full: never dropped
      if (pendingAcks.size > 0 && !congested()) flushAcks()
      if (pendingAcks.size > 0 || congested()) {
        return holdAck(message.sequenceNumber, () => flatMessageId(message.messageId))
      }
      writeAck(message.sequenceNumber, message.messageId, now, true)
    }

    /**
     * Whether the acknowledgement of `sequence` has room to wait if it must: false only while `MAX_PENDING_ACKS`
     * wait already (the message is then not accepted, and the peer sends it again later).
     */
    const ackRoom = (sequence: number): boolean => {
      if (pendingAcks.size < MAX_PENDING_ACKS || pendingAcks.has(sequence)) return true
      if (!congested()) flushAcks()
      return pendingAcks.size < MAX_PENDING_ACKS
    }

    const onAck = (message: AgentMessage.AgentMessage, now: number) => {
      const match = /"AcknowledgedMessageSequenceNumber"\s*:\s*(\d+)/i.exec(textDecoder.decode(message.payload))
      if (match === null) return
      const sequence = Number(match[1])
      const entry = inFlight.get(sequence)
      if (entry === undefined) return
      if (!entry.ackSampled) {
        entry.ackSampled = true
        options.onAckSample?.(now - entry.lastSent)
      }
      if (entry.unrecorded) {
        // the agent's race: this acknowledgement arrived before the message was recorded, and found nothing
        entry.unrecorded = false
        return
      }
      inFlight.delete(sequence)
      inFlightBytes -= entry.frame.length + WEBSOCKET_FRAMING
      // an acknowledged resend may answer the first transmission: only an unambiguous send time proves that
      // messages sent before it were lost
      const sendTime = entry.retransmitted ? entry.firstSent : entry.lastSent
      if (sendTime > latestAckedSendTime) latestAckedSendTime = sendTime
      if (!entry.retransmitted && sequence > highestCleanAck) highestCleanAck = sequence
      timeoutBackoff = 1
      if (agentSender) {
        // the agent samples from the latest transmission, resends included, and has no floor
        rto = Rto.update(rto, Math.max(0, now - entry.lastSent), 0)
        metrics.rtt.unsafeUpdate(rto.rtt, [])
        metrics.rto.unsafeUpdate(rto.rto, [])
      } else if (!entry.retransmitted) {
        // Karn: only first transmissions give a clean sample
        rto = Rto.update(rto, Math.max(0, now - entry.firstSent))
        metrics.rtt.unsafeUpdate(rto.rtt, [])
        metrics.rto.unsafeUpdate(rto.rto, [])
      }
      if (!windowFull()) windowOpen.unsafeOpen()
      if (inFlight.size === 0) acked.unsafeOpen()
      // the agent clears its paused state on any acknowledgement (section 9)
    }

    // ------------------------------------------------------------------------------------------------------------
    // receiving
    // ------------------------------------------------------------------------------------------------------------
    const accept = (message: AgentMessage.AgentMessage) => {
      stats.messagesReceived++
      stats.bytesReceived += message.payload.length
      metrics.messagesReceived.unsafeUpdate(1, [])
      metrics.bytesReceived.unsafeUpdate(message.payload.length, [])
    }

    /** Delivers held messages from `expected` on, while the receiver takes them. */
    const drainReorder = () => {
      for (let next = reorder.get(expected); next !== undefined; next = reorder.get(expected)) {
        if (!options.deliver(next.message, true)) break
        reorder.delete(expected)
        reorderBytes -= next.size
        accept(next.message)
        expected++
      }
      metrics.reorderDepth.unsafeUpdate(reorder.size, [])
    }

    const onData = (message: AgentMessage.AgentMessage, now: number) => {
      const sequence = message.sequenceNumber
      if (sequence < expected || reorder.has(sequence)) {
        // a duplicate: our ack was lost, say it again (the official client does not, section 5.5). Only when
        // MAX_PENDING_ACKS acknowledgements wait already is it ignored, as if it had not come: the peer sends it again
        stats.duplicatesReceived++
        if (ackRoom(sequence)) sendAck(message, now)
        return
      }
      if (!ackRoom(sequence)) {
        // the acknowledgement could not even wait: not accepted, so the peer resends it later
        stats.droppedUnacknowledged++
        return
      }
      if (sequence === expected) {
        if (!options.deliver(message, false)) {
          stats.droppedUnacknowledged++
          return
        }
        accept(message)
        sendAck(message, now)
        expected++
        if (reorder.size > 0) drainReorder()
        return
      }
      const size = message.payload.length + REORDER_ENTRY_OVERHEAD
      if (
        reorder.size >= options.reorderBufferSize ||
        reorderBytes + size > options.reorderBufferBytes ||
        // the agent bounds only the count (datachannel.go handleStreamDataMessage)
        (!agentSender && sequence >= expected + options.reorderBufferSize)
      ) {
        stats.droppedUnacknowledged++
        return
      }
      // keep a copy: the frame's buffer belongs to the transport
      reorder.set(sequence, { message: { ...message, payload: message.payload.slice() }, size })
      reorderBytes += size
      metrics.reorderDepth.unsafeUpdate(reorder.size, [])
      sendAck(message, now)
    }

    const receive = (frame: Uint8Array) => {
      if (failure !== undefined) return
      const decoded = internalMessage.decode(frame, true)
      if (Either.isLeft(decoded)) {
        options.onInvalid?.(decoded.left)
        return
      }
      const message = decoded.right
      const now = clock.unsafeCurrentTimeMillis()
      switch (message.messageType) {
        case receiveType:
          if (message.payload.length > maxPayloadBytes) {
            // no agent sends more than 1024 bytes (plus 28 for KMS) a message; holding such a message is how a
            // hostile peer would fill memory
            fail("Protocol", `a data message of ${message.payload.length} bytes is over the ${maxPayloadBytes}-byte limit`)
            return
          }
          if (paused) setPaused(false)
          return onData(message, now)
        case "acknowledge":
          if (paused) setPaused(false)
          return onAck(message, now)
        case "channel_closed":
          return options.onChannelClosed(message)
        case "pause_publication":
          return setPaused(true)
        case "start_publication":
          return setPaused(false)
        default:
          return
      }
    }

    const setPaused = (value: boolean) => {
      paused = value
      if (value) publishing.unsafeClose()
      else publishing.unsafeOpen()
    }

    // ------------------------------------------------------------------------------------------------------------
    // fibers
    // ------------------------------------------------------------------------------------------------------------
    const fibers = yield* FiberSet.make()

    const writerLoop = Effect.forever(Effect.flatMap(writes.takeAll, ([frames]) => {
      const uncork = frames.length > 1 ? options.cork?.() : undefined
      return Effect.ensuring(
        Effect.forEach(frames, (frame) => options.send(frame), { discard: true }),
        Effect.sync(() => {
          uncork?.()
          pendingWrites -= frames.length
          if (pendingWrites < MAX_PENDING_WRITES / 2) writerCaughtUp.unsafeOpen()
        })
      )
    })).pipe(Effect.catchAll((cause) => Effect.sync(() => fail("Transport", "writing to the transport failed", cause))))

    /** Encodes, records and writes the next queued message: synchronous, no Effect per message. */
    const sendNext = (now: number) => {
      const request = outgoing[outgoingHead++]!
      const payload = options.outgoingPayload === undefined
        ? request.payload
        : options.outgoingPayload(request.payloadType, request.payload)
      const frame = internalMessage.unsafeEncode({
        messageType: sendType,
        schemaVersion: 1,
        // CreatedDate 0 is invalid on the wire (a test clock starts there)
        createdDate: Math.max(1, now),
        sequenceNumber: nextSequence,
        flags: options.role === "agent" && nextSequence === 0 ? 1 : 0,
        messageId: globalThis.crypto.randomUUID(),
        payloadType: request.payloadType,
        payload
      })
      // the agent records what it sent while its buffer has room; past that a message is never resent
      if (!agentSender || inFlight.size < AGENT_BUFFER_CAPACITY) {
        const unrecorded = agentSender && options.ackBeforeRecord !== undefined && options.ackBeforeRecord()
        inFlightBytes += frame.length + WEBSOCKET_FRAMING
        inFlight.set(nextSequence, {
          frame,
          firstSent: now,
          lastSent: now,
          retransmitted: false,
          unrecorded,
          ackSampled: false
        })
        unacknowledged.unsafeOpen()
        acked.unsafeClose()
      }
      nextSequence++
      stats.messagesSent++
      stats.bytesSent += payload.length
      metrics.messagesSent.unsafeUpdate(1, [])
      metrics.bytesSent.unsafeUpdate(payload.length, [])
      write(frame)
      if (request.done !== undefined) Deferred.unsafeDone(request.done, Exit.void)
    }

    let slotReserved = false
    /** Sends queued messages while the window, the pause and the pace allow; waits only when one does not. */
    const senderLoop = Effect.gen(function*() {
      while (failure === undefined) {
        if (outgoingHead === outgoing.length) {
          outgoing.length = 0
          outgoingHead = 0
          outgoingReady.unsafeClose()
          yield* outgoingReady.await
        } else if (held) {
          yield* transportUp.await
        } else if (windowFull()) {
          windowOpen.unsafeClose()
          yield* windowOpen.await
        } else if (pendingWrites >= MAX_PENDING_WRITES) {
          // a transport whose writes wait (a full connection) holds new messages back, as a blocking write does
          writerCaughtUp.unsafeClose()
          yield* writerCaughtUp.await
        } else if (paused) {
          yield* publishing.await
        } else {
          const now = clock.unsafeCurrentTimeMillis()
          const wait = slotReserved ? 0 : takeSlot(now)
          slotReserved = false
          if (wait === 0) sendNext(now)
          else if (wait < 0) {
            // unpaced: let the macrotask queue (socket reads, acks) run now and then
            sendNext(now)
            yield* macrotask
          } else {
            // the slot is ours: send as soon as it comes (unless a pause or a failure comes first)
            yield* Effect.sleep(Duration.millis(wait))
            slotReserved = true
          }
        }
      }
    })

    /**
     * Which unacknowledged messages to send again. A message some later-sent message was acknowledged after is
     * probably lost: it goes again once it is older than the smoothed RTT (fast recovery from drops). Otherwise
     * only the oldest message goes again, once per RTO: when nothing is acknowledged the peer is stalled or
     * paused, and resending everything would only pile more bytes onto a blocked path.
     */
    const awaitUnacknowledged = Effect.suspend(() => {
      if (inFlight.size > 0 || failure !== undefined) return Effect.void
      unacknowledged.unsafeClose()
      return unacknowledged.await
    })

    const retransmitLoop = Effect.forever(Effect.gen(function*() {
      yield* awaitUnacknowledged
      yield* Effect.sleep(Duration.millis(Math.min(rto.rto, 100)))
      if (failure !== undefined || paused || held || inFlight.size === 0) return
      const now = clock.unsafeCurrentTimeMillis()
      const lossAge = Math.max(rto.rtt + Math.max(Rto.CLOCK_GRANULARITY, 4 * rto.rttVar), 20)
      let first = true
      let burst = 0
      for (const [sequence, entry] of inFlight) {
        if (now - Math.max(entry.firstSent, carriedOnAt) >= giveUpMillis) {
          fail("GiveUp", `a message was not acknowledged within ${Duration.format(options.giveUpAfter)}`)
          return
        }
        const age = now - entry.lastSent
        // a later message, sent after this one's last transmission, was acknowledged
        const overtaken = entry.retransmitted ? entry.lastSent < latestAckedSendTime : sequence < highestCleanAck
        const lost = entry.lastSent < resendBefore || (overtaken && age >= lossAge)
        const timedOut = first && age >= Math.min(rto.rto * timeoutBackoff, Rto.MAX_RTO)
        first = false
        if (!lost && !timedOut) continue
        if (timedOut && !lost) timeoutBackoff *= 2
        // a burst of probable losses is resent a slice per tick: the peer holds only so much out of order
        if (++burst > MAX_RESEND_BURST) break
        yield* pace
        entry.lastSent = clock.unsafeCurrentTimeMillis()
        entry.retransmitted = true
        stats.retransmissions++
        metrics.retransmissions.unsafeUpdate(1, [])
        write(entry.frame)
      }
    }))

    /**
     * The agent's resend scheduler (datachannel.go ResendStreamDataMessageScheduler): every 100 ms, while not
     * paused, the oldest unacknowledged message goes again if its latest transmission is older than the RTO. One
     * message per tick at most, unpaced, and no attempt limit.
     */
    const agentResendLoop = Effect.forever(Effect.gen(function*() {
      yield* awaitUnacknowledged
      yield* Effect.sleep(Duration.millis(AGENT_RESEND_TICK))
      if (failure !== undefined || paused || held || inFlight.size === 0) return
      const entry = inFlight.values().next().value as InFlight
      const now = clock.unsafeCurrentTimeMillis()
      if (now - entry.lastSent <= rto.rto) return
      entry.lastSent = now
      entry.retransmitted = true
      stats.retransmissions++
      metrics.retransmissions.unsafeUpdate(1, [])
      write(entry.frame)
    }))

    /** Writes each acknowledgement once more when its time comes, a batch at a time. */
    const repeatAckLoop = Effect.forever(Effect.gen(function*() {
      if (repeatAcksHead === repeatAcks.length) {
        repeatAcks.length = 0
        repeatAcksHead = 0
        repeatAcksDue.unsafeClose()
        yield* repeatAcksDue.await
      }
      const wait = repeatAcks[repeatAcksHead]!.due - clock.unsafeCurrentTimeMillis()
      if (wait > 0) yield* Effect.sleep(Duration.millis(wait))
      const now = clock.unsafeCurrentTimeMillis()
      while (repeatAcksHead < repeatAcks.length && repeatAcks[repeatAcksHead]!.due <= now) {
        const repeat = repeatAcks[repeatAcksHead++]!
        // a congested transport: the first went out, and the repeat waits with the others (or is one already)
        if (pendingAcks.size > 0 || congested()) {
          if (ackRoom(repeat.sequence)) holdAck(repeat.sequence, () => acknowledgedMessageId(repeat.frame))
        } else {
          write(repeat.frame)
        }
      }
      if (repeatAcksHead > 4096 && repeatAcksHead * 2 > repeatAcks.length) {
        repeatAcks.splice(0, repeatAcksHead)
        repeatAcksHead = 0
      }
    }))

    yield* FiberSet.run(fibers, writerLoop)
    yield* FiberSet.run(fibers, senderLoop)
    yield* FiberSet.run(fibers, agentSender ? agentResendLoop : retransmitLoop)
    if (repeatAckAfter > 0) yield* FiberSet.run(fibers, repeatAckLoop)

    return {
      send: (payloadType, bytes) =>
        Effect.suspend(() => {
          if (failure !== undefined) return Effect.fail(failure)
          // the agent drops empty payloads (datachannel.go SendStreamDataMessage)
          if (agentSender && bytes.length === 0) return Effect.void
          const done = Deferred.unsafeMake<void, ChannelFailure>(FiberId.none)
          if (bytes.length <= CHUNK_SIZE) {
            outgoing.push({ payloadType, payload: bytes, done })
          } else {
            for (let offset = 0; offset < bytes.length; offset += CHUNK_SIZE) {
              const last = offset + CHUNK_SIZE >= bytes.length
              outgoing.push({ payloadType, payload: bytes.subarray(offset, offset + CHUNK_SIZE), done: last ? done : undefined })
            }
          }
          outgoingReady.unsafeOpen()
          return Deferred.await(done)
        }),
      receive,
      resumeDelivery: () => {
        if (failure === undefined && reorder.size > 0) drainReorder()
      },
      close: (detail) => fail("Closed", detail),
      hold: (value) => {
        if (value === held || failure !== undefined) return
        held = value
        if (held) return transportUp.unsafeClose()
        const now = clock.unsafeCurrentTimeMillis()
        resendBefore = now
        carriedOnAt = now
        for (let i = 0; i < RECENT_ACKS; i++) {
          const frame = recentAcks[(recentAcksNext + i) % RECENT_ACKS]
          if (frame !== undefined) write(frame)
        }
        // those that waited for the old transport go on this one (its drain callback may never come)
        flushAcks()
        transportUp.unsafeOpen()
      },
      failed: Deferred.await(failed),
      unacknowledged: () => inFlight.size,
      drained: acked.await,
      paused: () => paused,
      stats: () => ({
        ...stats,
        rtt: rto.rtt,
        rto: rto.rto,
        reorderDepth: reorder.size,
        inFlight: inFlight.size,
        queued: outgoing.length - outgoingHead,
        acknowledgementsWaiting: pendingAcks.size,
        expected
      })
    }
  })
