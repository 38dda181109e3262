/**
 * Sending: `send` splits bytes into chunks of 1024 that wait in `outgoing`; one sender fiber gives each chunk its
 * sequence number in that order and writes it while the sender's window, the pause, the writer's backlog and the pace
 * allow; acknowledgements take messages out of flight; a `Sender` decides the window, what is kept for resending, what
 * an acknowledgement does to the RTO, and when to resend.
 *
 * @internal
 */
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import type * as AgentMessage from "../../AgentMessage.js"
import * as internalMessage from "../protocol/agentMessage.js"
import type * as Rto from "./rto.js"
import { acknowledgedSequence } from "./acknowledgements.js"
import type { ChannelFailure } from "./dataChannelOptions.js"
import type { ChannelState, InFlight } from "./dataChannelState.js"
import {
  CHUNK_SIZE,
  currentMillis,
  fail,
  macrotask,
  MAX_PENDING_WRITES,
  takeSlot,
  WEBSOCKET_FRAMING,
  write
} from "./dataChannelState.js"

/**
 * How a channel sends: the strategy the engine asks at each step of a data message's life. The engine numbers,
 * encodes, paces and writes the messages, keeps those the sender records in `inFlight`, and takes them out when
 * acknowledged; the sender says
 * - which `send`s carry a message at all (`accepts`) and with which header flags (`flags`);
 * - when no new message may go out (`windowFull`);
 * - whether a written message is kept for resending (`sent`: call `recordSent`, or not);
 * - whether an acknowledgement that found its message counts (`acknowledging`), and what the round trip does to the
 *   RTO and its own bookkeeping (`acknowledged`);
 * - when to write unacknowledged messages again (`resendLoop`, forked for the channel's life; `retransmit` writes and
 *   counts one).
 *
 * The engine's own is `windowedSender` (the client's); the agent simulator hands the SSM Agent's in. A sender may
 * hold state of its own, so each channel gets a fresh one.
 * @internal
 */
export interface Sender {
  /** false: `send` of these bytes sends nothing and succeeds */
  readonly accepts: (bytes: Uint8Array) => boolean
  /** the header `Flags` of the data message numbered `sequence` */
  readonly flags: (sequence: number) => number
  /** true while no new message may go out; the engine looks again after each acknowledgement */
  readonly windowFull: (state: ChannelState) => boolean
  /** a data message was just written for the first time: keep it for resending (`recordSent`), or not */
  readonly sent: (state: ChannelState, sequence: number, frame: Uint8Array, now: number) => void
  /** an acknowledgement found `entry` in flight: false when it is lost all the same (the entry stays) */
  readonly acknowledging: (state: ChannelState, sequence: number, entry: InFlight, now: number) => boolean
  /** `entry` was acknowledged and is out of flight: the new RTO (`state.rto` if unchanged), and any bookkeeping */
  readonly acknowledged: (state: ChannelState, sequence: number, entry: InFlight, now: number) => Rto.RtoState
  /** the resend fiber: runs for the channel's life */
  readonly resendLoop: (state: ChannelState) => Effect.Effect<void>
}

/** Keeps a written message in flight, for resending until acknowledged. @internal */
export const recordSent = (state: ChannelState, sequence: number, frame: Uint8Array, now: number): void => {
  state.inFlightBytes += frame.length + WEBSOCKET_FRAMING
  state.inFlight.set(sequence, { frame, firstSent: now, lastSent: now, retransmitted: false, ackSampled: false })
  state.unacknowledged.unsafeOpen()
  state.acked.unsafeClose()
}

/** Writes a message in flight again, now, and counts it. @internal */
export const retransmit = (state: ChannelState, entry: InFlight, now: number): void => {
  entry.lastSent = now
  entry.retransmitted = true
  state.stats.retransmissions++
  state.options.metrics.retransmissions.unsafeUpdate(1, [])
  write(state, entry.frame)
}

/** Completes when some message waits for its acknowledgement (or the channel failed). @internal */
export const awaitUnacknowledged = (state: ChannelState): Effect.Effect<void> =>
  Effect.suspend(() => {
    if (state.inFlight.size > 0 || state.failure !== undefined) return Effect.void
    state.unacknowledged.unsafeClose()
    return state.unacknowledged.await
  })

/** Whether resends should wait: failed, paused, without transport, or nothing in flight. @internal */
export const resendsWait = (state: ChannelState): boolean =>
  state.failure !== undefined || state.paused || state.held || state.inFlight.size === 0

/** An `acknowledge` message: the message it names is out of flight (unless the sender loses it). @internal */
export const onAck = (state: ChannelState, message: AgentMessage.AgentMessage, now: number): void => {
  const sequence = acknowledgedSequence(message.payload)
  if (sequence === undefined) return
  const entry = state.inFlight.get(sequence)
  if (entry === undefined) return
  if (!entry.ackSampled) {
    entry.ackSampled = true
    state.options.onAckSample?.(now - entry.lastSent)
  }
  if (!state.sender.acknowledging(state, sequence, entry, now)) return
  state.inFlight.delete(sequence)
  state.inFlightBytes -= entry.frame.length + WEBSOCKET_FRAMING
  const rto = state.sender.acknowledged(state, sequence, entry, now)
  if (rto !== state.rto) {
    state.rto = rto
    state.options.metrics.rtt.unsafeUpdate(rto.rtt, [])
    state.options.metrics.rto.unsafeUpdate(rto.rto, [])
  }
  if (!state.sender.windowFull(state)) state.windowOpen.unsafeOpen()
  if (state.inFlight.size === 0) state.acked.unsafeOpen()
  // the agent clears its paused state on any acknowledgement (section 9): `receive` does
}

/**
 * Queues `bytes` as chunks of at most `chunkSize` (`CHUNK_SIZE` by default; one empty chunk for empty bytes, if the sender accepts it);
 * returns the Deferred completed once the last one was first written, or undefined when nothing is queued.
 * @internal
 */
export const enqueue = (
  state: ChannelState,
  payloadType: AgentMessage.PayloadType,
  bytes: Uint8Array,
  chunkSize: number = CHUNK_SIZE
): Deferred.Deferred<void, ChannelFailure> | undefined => {
  if (!state.sender.accepts(bytes)) return undefined
  const done = Deferred.unsafeMake<void, ChannelFailure>(FiberId.none)
  if (bytes.length <= chunkSize) {
    state.outgoing.push({ payloadType, payload: bytes, done })
  } else {
    for (let offset = 0; offset < bytes.length; offset += chunkSize) {
      const last = offset + chunkSize >= bytes.length
      state.outgoing.push({
        payloadType,
        payload: bytes.subarray(offset, offset + chunkSize),
        done: last ? done : undefined
      })
    }
  }
  state.outgoingReady.unsafeOpen()
  return done
}

/** Encodes, records and writes the next queued message: synchronous, no Effect per message. @internal */
export const sendNext = (state: ChannelState, now: number): void => {
  const request = state.outgoing[state.outgoingHead++]!
  const options = state.options
  const payload = options.outgoingPayload === undefined
    ? request.payload
    : options.outgoingPayload(request.payloadType, request.payload)
  const sequence = state.nextSequence
  const frame = internalMessage.unsafeEncode({
    messageType: state.sendType,
    schemaVersion: 1,
    // CreatedDate 0 is invalid on the wire (a test clock starts there)
    createdDate: Math.max(1, now),
    sequenceNumber: sequence,
    flags: state.sender.flags(sequence),
    messageId: globalThis.crypto.randomUUID(),
    payloadType: request.payloadType,
    payload
  })
  state.sender.sent(state, sequence, frame, now)
  state.nextSequence++
  state.stats.messagesSent++
  state.stats.bytesSent += payload.length
  options.metrics.messagesSent.unsafeUpdate(1, [])
  options.metrics.bytesSent.unsafeUpdate(payload.length, [])
  write(state, frame)
  if (request.done !== undefined) Deferred.unsafeDone(request.done, Exit.void)
}

/**
 * What the sender fiber does next: `undefined` after sending a message at once, or the Effect to wait on (for a
 * message to send, the transport, the window, the writer, the end of a pause, the pacing slot).
 * @internal
 */
export const senderStep = (state: ChannelState): Effect.Effect<void> | undefined => {
  if (state.outgoingHead === state.outgoing.length) {
    state.outgoing.length = 0
    state.outgoingHead = 0
    state.outgoingReady.unsafeClose()
    return state.outgoingReady.await
  }
  if (state.held) return state.transportUp.await
  if (state.sender.windowFull(state)) {
    state.windowOpen.unsafeClose()
    return state.windowOpen.await
  }
  if (state.pendingWrites >= MAX_PENDING_WRITES) {
    // a transport whose writes wait (a full connection) holds new messages back, as a blocking write does
    state.writerCaughtUp.unsafeClose()
    return state.writerCaughtUp.await
  }
  if (state.paused) return state.publishing.await
  const now = currentMillis(state)
  const wait = state.slotReserved ? 0 : takeSlot(state, now)
  state.slotReserved = false
  if (wait === 0) {
    sendNext(state, now)
    return undefined
  }
  if (wait < 0) {
    // unpaced: let the macrotask queue (socket reads, acks) run now and then
    sendNext(state, now)
    return macrotask
  }
  // the slot is ours: send as soon as it comes (unless a pause or a failure comes first)
  state.slotReserved = true
  return Effect.sleep(Duration.millis(wait))
}

/** Sends queued messages while the window, the pause and the pace allow; waits only when one does not. @internal */
export const senderLoop = (state: ChannelState): Effect.Effect<void> =>
  Effect.gen(function*() {
    while (state.failure === undefined) {
      const wait = senderStep(state)
      if (wait !== undefined) yield* wait
    }
  })

/**
 * Every frame goes through one writer fiber (unless `sendNow` took it), so frames never interleave. It writes what
 * was handed to it even after the channel failed, as a transport would.
 * @internal
 */
export const writerLoop = (state: ChannelState): Effect.Effect<void> =>
  Effect.forever(Effect.suspend(() => {
    if (state.writes.length === 0) {
      state.writesReady.unsafeClose()
      return state.writesReady.await
    }
    const frames = state.writes.splice(0)
    const uncork = frames.length > 1 ? state.options.cork?.() : undefined
    return Effect.ensuring(
      Effect.forEach(frames, (frame) => state.options.send(frame), { discard: true }),
      Effect.sync(() => {
        uncork?.()
        state.pendingWrites -= frames.length
        if (state.pendingWrites < MAX_PENDING_WRITES / 2) state.writerCaughtUp.unsafeOpen()
      })
    )
  })).pipe(
    Effect.catchAll((cause) => Effect.sync(() => fail(state, "Transport", "writing to the transport failed", cause)))
  )
