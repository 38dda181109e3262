/**
 * The client's sender (the engine's default `Sender`): a bounded in-flight window (backpressure, never eviction),
 * every message kept until acknowledged, Karn's RTO with a floor, a retransmit fiber that resends probable losses and
 * the oldest unacknowledged message at most once per RTO (backing off), and a give-up after `giveUpAfter`.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as AgentMessage from "../../AgentMessage.js"
import * as Rto from "./rto.js"
import type { Sender } from "./sending.js"
import { awaitUnacknowledged, recordSent, resendsWait, retransmit } from "./sending.js"
import type { ChannelState, InFlight } from "./dataChannelState.js"
import { currentMillis, fail, pace } from "./dataChannelState.js"

/** resends per 100 ms tick at most */
const MAX_RESEND_BURST = 256

/**
 * What the windowed sender learns from acknowledgements, to tell losses from delays.
 * @internal
 */
export interface WindowedSenderState {
  /** the latest send time of any acknowledged message */
  latestAckedSendTime: number
  /** the highest sequence number acknowledged for its first transmission */
  highestCleanAck: number
  /** doubles on each timeout resend without an acknowledgement in between (RFC 6298 section 5.5), up to 1 s */
  timeoutBackoff: number
}

/**
 * The window spans sequence numbers from the oldest unacknowledged message, not a count of unacknowledged
 * messages: a receiver holds at most so many messages beyond the one it waits for (its reorder buffer), and
 * acknowledgements of later messages must not let the sender run past that.
 * @internal
 */
export const windowFull = (state: ChannelState, windowSize: number): boolean => {
  if (state.inFlight.size === 0) return false
  const oldest = state.inFlight.keys().next().value as number
  return state.nextSequence - oldest >= windowSize
}

/** The windowed sender's bookkeeping for one acknowledged message, and the RTO after it. @internal */
export const acknowledged = (
  sender: WindowedSenderState,
  state: ChannelState,
  sequence: number,
  entry: InFlight,
  now: number
): Rto.RtoState => {
  // an acknowledged resend may answer the first transmission: only an unambiguous send time proves that
  // messages sent before it were lost
  const sendTime = entry.retransmitted ? entry.firstSent : entry.lastSent
  if (sendTime > sender.latestAckedSendTime) sender.latestAckedSendTime = sendTime
  if (!entry.retransmitted && sequence > sender.highestCleanAck) sender.highestCleanAck = sequence
  sender.timeoutBackoff = 1
  // Karn: only first transmissions give a clean sample
  return entry.retransmitted ? state.rto : Rto.update(state.rto, Math.max(0, now - entry.firstSent))
}

/**
 * What one retransmit tick does to the message numbered `sequence` (`first`: the oldest in flight): "giveUp" when it
 * waited past `giveUpAfter`, "resend" when it is probably lost or timed out, else "wait". A message some later-sent
 * message was acknowledged after is probably lost: it goes again once it is older than the smoothed RTT (fast
 * recovery from drops). Otherwise only the oldest message goes again, once per RTO: when nothing is acknowledged the
 * peer is stalled or paused, and resending everything would only pile more bytes onto a blocked path.
 * @internal
 */
export const resendDecision = (
  sender: WindowedSenderState,
  state: ChannelState,
  sequence: number,
  entry: InFlight,
  first: boolean,
  now: number
): "giveUp" | "resend" | "wait" => {
  if (now - Math.max(entry.firstSent, state.carriedOnAt) >= Duration.toMillis(state.options.giveUpAfter)) {
    return "giveUp"
  }
  const rto = state.rto
  const lossAge = Math.max(rto.rtt + Math.max(Rto.CLOCK_GRANULARITY, 4 * rto.rttVar), 20)
  const age = now - entry.lastSent
  // a later message, sent after this one's last transmission, was acknowledged
  const overtaken = entry.retransmitted
    ? entry.lastSent < sender.latestAckedSendTime
    : sequence < sender.highestCleanAck
  const lost = entry.lastSent < state.resendBefore || (overtaken && age >= lossAge)
  const timedOut = first && age >= Math.min(rto.rto * sender.timeoutBackoff, Rto.MAX_RTO)
  if (!lost && !timedOut) return "wait"
  if (timedOut && !lost) sender.timeoutBackoff *= 2
  return "resend"
}

/** One tick of the retransmit fiber, every `min(RTO, 100 ms)` while messages are in flight. */
const retransmitTick = (sender: WindowedSenderState, state: ChannelState) =>
  Effect.gen(function*() {
    if (resendsWait(state)) return
    const now = currentMillis(state)
    let first = true
    let burst = 0
    for (const [sequence, entry] of state.inFlight) {
      const decision = resendDecision(sender, state, sequence, entry, first, now)
      first = false
      if (decision === "giveUp") {
        fail(state, "GiveUp", `a message was not acknowledged within ${Duration.format(state.options.giveUpAfter)}`)
        return
      }
      if (decision === "wait") continue
      // a burst of probable losses is resent a slice per tick: the peer holds only so much out of order
      if (++burst > MAX_RESEND_BURST) break
      yield* pace(state)
      retransmit(state, entry, currentMillis(state))
    }
  })

/**
 * The client's sender over a window of `windowSize` sequence numbers. One per channel.
 * @internal
 */
export const windowedSender = (windowSize: number): Sender & { readonly state: WindowedSenderState } => {
  const sender: WindowedSenderState = { latestAckedSendTime: 0, highestCleanAck: -1, timeoutBackoff: 1 }
  return {
    state: sender,
    accepts: () => true,
    flags: () => AgentMessage.Flags.None,
    windowFull: (state) => windowFull(state, windowSize),
    sent: recordSent,
    acknowledging: () => true,
    acknowledged: (state, sequence, entry, now) => acknowledged(sender, state, sequence, entry, now),
    resendLoop: (state) =>
      Effect.forever(Effect.gen(function*() {
        yield* awaitUnacknowledged(state)
        yield* Effect.sleep(Duration.millis(Math.min(state.rto.rto, 100)))
        yield* retransmitTick(sender, state)
      }))
  }
}
