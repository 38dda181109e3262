/**
 * The data-channel engine's record: its one mutable state (`ChannelState`), and the small functions every part of the
 * engine shares over it (failing, writing a frame, pacing). Its options are in `dataChannelOptions.ts`; its behaviours beside it:
 * `receiving.ts` (data messages in), `acknowledgements.ts` (acks out, held and repeated), `sending.ts` (data messages
 * out, acks in, the `Sender` strategy), `windowedSender.ts` (the client's sender); `./dataChannel.ts` wires them to
 * fibers.
 *
 * @internal
 */
import type * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as AgentMessage from "../../AgentMessage.js"
import * as AckRing from "./ackRing.js"
import * as Rto from "./rto.js"
import type { ChannelFailure, ChannelOptions, DataMessageType } from "./dataChannelOptions.js"
import type { Sender } from "./sending.js"


/** A data message sent and not yet acknowledged. @internal */
export interface InFlight {
  readonly frame: Uint8Array
  readonly firstSent: number
  lastSent: number
  retransmitted: boolean
  /** `onAckSample` has seen an acknowledgement of it */
  ackSampled: boolean
}

/** An out-of-order message held until the gap before it fills. @internal */
export interface Reordered {
  readonly message: AgentMessage.AgentMessage
  readonly size: number
}

/** One chunk of a `send`, waiting for its sequence number. @internal */
export interface OutgoingRequest {
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
 * stops reading while it goes on sending cannot make the client hold more. (The SSM Agent itself keeps at most
 * 100000 messages for acknowledgement: `simulator/agentSender.ts`.)
 * @internal
 */
export const MAX_PENDING_ACKS = 32_768

/** what a WebSocket adds to a frame of ours at most (a masked frame under 64 KiB): see `Congestion` @internal */
export const WEBSOCKET_FRAMING = 8

/**
 * What one held message costs beside its payload (the message object, its id string, the map entry), counted
 * against `reorderBufferBytes` so that many small messages are bounded too.
 * @internal
 */
export const REORDER_ENTRY_OVERHEAD = 256

/**
 * The largest data message payload taken: far above what any agent sends (1024 bytes, 1052 with KMS; a handshake
 * request with its document properties is a few KiB), far below what could hurt.
 * @internal
 */
export const MAX_PAYLOAD_BYTES = 64 * 1024

/** frames waiting for the transport before new messages wait too @internal */
export const MAX_PENDING_WRITES = 256

/**
 * The whole mutable state of one channel, and what it was made with. Every behaviour of the engine is a function
 * over it; `make` (in `./dataChannel.ts`) only runs its fibers.
 * @internal
 */
export interface ChannelState {
  readonly options: ChannelOptions
  readonly sender: Sender
  readonly sendType: DataMessageType
  readonly receiveType: DataMessageType
  readonly clock: Clock.Clock
  readonly repeatAckAfter: number
  readonly maxPayloadBytes: number
  readonly reorderAhead: number
  readonly stats: {
    messagesSent: number
    messagesReceived: number
    bytesSent: number
    bytesReceived: number
    retransmissions: number
    duplicatesReceived: number
    droppedUnacknowledged: number
  }
  /** set once, when the channel fails; everything stops then */
  failure: ChannelFailure | undefined
  readonly failed: Deferred.Deferred<ChannelFailure>

  // sending
  nextSequence: number
  /** sent and not yet acknowledged, in sending order */
  readonly inFlight: Map<number, InFlight>
  /** bytes of the data frames sent and not yet acknowledged, with their WebSocket framing: see `Congestion` */
  inFlightBytes: number
  rto: Rto.RtoState
  /** chunks of `send`s waiting for a sequence number, from `outgoingHead` on */
  readonly outgoing: Array<OutgoingRequest>
  outgoingHead: number
  /** pacing: the next free slot, and a slot the sender already waited for */
  nextSlot: number
  slotReserved: boolean
  unpacedCount: number
  /** messages last sent before this time are resent (the transport they went on is gone) */
  resendBefore: number
  /** when the channel last carried on after a hold: the give-up clock counts from here at the earliest */
  carriedOnAt: number

  // receiving
  /** the next sequence number to deliver */
  expected: number
  readonly reorder: Map<number, Reordered>
  reorderBytes: number
  /** `pause_publication` holds new data until `start_publication` (or any data or acknowledgement) */
  paused: boolean
  /** the transport is gone: see `Channel.hold` */
  held: boolean

  // acknowledgements
  /** the latest `RECENT_ACKS` acknowledgements written, and their repeats */
  readonly acks: AckRing.AckRing
  /**
   * acknowledgements waiting for the congested transport: sequence number to message id, in the order they were
   * due. Never dropped: they go out when the transport drains (see `Congestion`)
   */
  readonly pendingAcks: Map<number, string>
  /** a `whenDrained` callback is registered */
  drainRequested: boolean

  // the writer
  /** frames handed to the writer fiber and not yet taken by the transport */
  pendingWrites: number
  readonly writes: Array<Uint8Array>

  // latches the fibers sleep on
  readonly windowOpen: Effect.Latch
  readonly transportUp: Effect.Latch
  readonly publishing: Effect.Latch
  /** open while nothing is in flight: `drained` */
  readonly acked: Effect.Latch
  readonly outgoingReady: Effect.Latch
  readonly repeatAcksDue: Effect.Latch
  /** open while messages wait for their acknowledgement: resend loops sleep on it when none do (no idle timer) */
  readonly unacknowledged: Effect.Latch
  /** open while frames wait for the writer fiber */
  readonly writesReady: Effect.Latch
  readonly writerCaughtUp: Effect.Latch

  // pacing: a token bucket of `messagesPerSecond` with a 20 ms burst (see `takeSlot`)
  readonly interval: number
  readonly catchUp: number
}

/**
 * A fresh state: nothing sent or received, every latch as `make` expects it. Synchronous, so tests can build one
 * and call the engine's functions on it directly.
 * @internal
 */
export const makeState = (options: ChannelOptions, sender: Sender, clock: Clock.Clock): ChannelState => {
  const sendType = options.sends ?? AgentMessage.MessageType.InputStreamData
  // A hard cap: no one-second window holds more than messagesPerSecond messages (the service closes channels
  // that exceed its rate). Slots come at (rate - burst) per second, and a sender that fell behind (timers are
  // coarse) may catch up by at most `burst` slots: (rate - burst) + burst per window.
  const burst = Math.floor(Math.min(20, options.messagesPerSecond / 50))
  const interval = options.messagesPerSecond > 0 ? 1000 / (options.messagesPerSecond - burst) : 0
  return {
    options,
    sender,
    sendType,
    receiveType: sendType === AgentMessage.MessageType.InputStreamData
      ? AgentMessage.MessageType.OutputStreamData
      : AgentMessage.MessageType.InputStreamData,
    clock,
    repeatAckAfter: options.repeatAckAfter ?? 0,
    maxPayloadBytes: options.maxPayloadBytes ?? MAX_PAYLOAD_BYTES,
    reorderAhead: options.reorderAhead ?? options.reorderBufferSize,
    stats: {
      messagesSent: 0,
      messagesReceived: 0,
      bytesSent: 0,
      bytesReceived: 0,
      retransmissions: 0,
      duplicatesReceived: 0,
      droppedUnacknowledged: 0
    },
    failure: undefined,
    failed: Deferred.unsafeMake<ChannelFailure>(FiberId.none),
    nextSequence: 0,
    inFlight: new Map(),
    inFlightBytes: 0,
    rto: Rto.initialRto,
    outgoing: [],
    outgoingHead: 0,
    nextSlot: 0,
    slotReserved: false,
    unpacedCount: 0,
    resendBefore: 0,
    carriedOnAt: 0,
    expected: 0,
    reorder: new Map(),
    reorderBytes: 0,
    paused: false,
    held: false,
    acks: AckRing.make(RECENT_ACKS),
    pendingAcks: new Map(),
    drainRequested: false,
    pendingWrites: 0,
    writes: [],
    windowOpen: Effect.unsafeMakeLatch(true),
    transportUp: Effect.unsafeMakeLatch(true),
    publishing: Effect.unsafeMakeLatch(true),
    acked: Effect.unsafeMakeLatch(true),
    outgoingReady: Effect.unsafeMakeLatch(false),
    repeatAcksDue: Effect.unsafeMakeLatch(false),
    unacknowledged: Effect.unsafeMakeLatch(false),
    writesReady: Effect.unsafeMakeLatch(false),
    writerCaughtUp: Effect.unsafeMakeLatch(true),
    interval,
    catchUp: burst * interval
  }
}

/** The engine's clock, now, in ms. @internal */
export const currentMillis = (state: ChannelState): number => state.clock.unsafeCurrentTimeMillis()

/** Fails the channel once: every waiting `send` fails, every fiber wakes up and stops. @internal */
export const fail = (state: ChannelState, reason: ChannelFailure["reason"], detail: string, cause?: unknown): void => {
  if (state.failure !== undefined) return
  const failure: ChannelFailure = cause === undefined ? { reason, detail } : { reason, detail, cause }
  state.failure = failure
  Deferred.unsafeDone(state.failed, Exit.succeed(failure))
  for (let i = state.outgoingHead; i < state.outgoing.length; i++) {
    const done = state.outgoing[i]!.done
    if (done !== undefined) Deferred.unsafeDone(done, Exit.fail(failure))
  }
  state.outgoing.length = 0
  state.outgoingHead = 0
  state.pendingAcks.clear()
  state.windowOpen.unsafeOpen()
  state.transportUp.unsafeOpen()
  state.publishing.unsafeOpen()
  state.outgoingReady.unsafeOpen()
  state.writerCaughtUp.unsafeOpen()
  state.unacknowledged.unsafeOpen()
}

/**
 * Writes one frame: at once when nothing waits in the writer and the transport takes it now (`sendNow`), else
 * through the one writer fiber, so frames never interleave and order is kept.
 * @internal
 */
export const write = (state: ChannelState, frame: Uint8Array): void => {
  if (state.pendingWrites === 0 && state.options.sendNow !== undefined && state.options.sendNow(frame)) return
  state.pendingWrites++
  state.writes.push(frame)
  state.writesReady.unsafeOpen()
}

/** The transport holds so much of ours that acknowledgements should wait (see `Congestion`). @internal */
export const congested = (state: ChannelState): boolean =>
  state.options.congestion !== undefined && state.options.congestion.congested(state.inFlightBytes)

/**
 * Reserves the next pacing slot and returns how long to wait for it: 0 to send now, -1 to send now and then give
 * the macrotask queue a turn (unpaced: a sender that never sleeps would keep the event loop in microtasks and
 * starve socket reads, and so the acks it waits for; it yields every 256 messages).
 * @internal
 */
export const takeSlot = (state: ChannelState, now: number): number => {
  if (state.interval === 0) return (++state.unpacedCount & 255) === 0 ? -1 : 0
  const slot = Math.max(now - state.catchUp, state.nextSlot)
  state.nextSlot = slot + state.interval
  return slot > now ? slot - now : 0
}

/** One turn of the macrotask queue. @internal */
export const macrotask: Effect.Effect<void> = Effect.async<void>((resume) => {
  const timer = setTimeout(() => resume(Effect.void), 0)
  return Effect.sync(() => clearTimeout(timer))
})

/** `takeSlot` as an Effect, for resends. @internal */
export const pace = (state: ChannelState): Effect.Effect<void> =>
  Effect.suspend(() => {
    const wait = takeSlot(state, currentMillis(state))
    return wait < 0 ? macrotask : wait > 0 ? Effect.sleep(Duration.millis(wait)) : Effect.void
  })
