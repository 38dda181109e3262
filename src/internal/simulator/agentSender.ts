/**
 * The SSM Agent's sender (`agent/session/datachannel/datachannel.go`), as the `Sender` the simulator hands to the
 * data-channel engine: no window, only a 100000-message buffer (a message sent when it is full is never resent); a
 * message is recorded after it is written, so an acknowledgement that overtakes the recording finds nothing
 * (`ackBeforeRecord`); every 100 ms only the oldest unacknowledged message is looked at and resent when older than the
 * RTO (AWS's formula, no floor, no Karn), with no attempt limit. See `AGENT-BEHAVIOUR.md` in this folder.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as AgentMessage from "../../AgentMessage.js"
import type { Sender } from "../channel/sending.js"
import { awaitUnacknowledged, recordSent, resendsWait, retransmit } from "../channel/sending.js"
import type { ChannelState, InFlight } from "../channel/dataChannelState.js"
import { currentMillis } from "../channel/dataChannelState.js"
import * as Rto from "../channel/rto.js"

/**
 * The agent's sending buffer: past it, messages are written but never recorded, so never resent
 * (`agent/session/config/config.go` OutgoingMessageBufferCapacity, `datachannel.go` AddDataToOutgoingMessageBuffer).
 * Its incoming buffer (`IncomingMessageBufferCapacity`) has the same size.
 * @internal
 */
export const AGENT_BUFFER_CAPACITY = 100_000

/** the agent's resend scheduler tick (`config.go` ResendSleepInterval) @internal */
export const AGENT_RESEND_TICK = 100

/** @internal */
export interface AgentSenderOptions {
  /**
   * drawn once per message recorded: true when the acknowledgement overtakes the agent's recording of the message
   * and is lost (the agent records a message after writing it). Default: never
   */
  readonly ackBeforeRecord?: (() => boolean) | undefined
}

/**
 * What the agent's sender keeps beside the engine's record.
 * @internal
 */
export interface AgentSenderState {
  /** messages whose first acknowledgement will find nothing (it overtook the recording) */
  readonly unrecorded: Set<number>
}

/**
 * The agent records what it sent while its buffer has room; past that a message is never resent. The recording
 * comes after the write (`dc.go` SendStreamDataMessage: `SendMessage`, then `AddDataToOutgoingMessageBuffer`), so
 * its acknowledgement may come first (`ackBeforeRecord`).
 * @internal
 */
export const recordAfterWrite = (
  sender: AgentSenderState,
  ackBeforeRecord: (() => boolean) | undefined,
  state: ChannelState,
  sequence: number,
  frame: Uint8Array,
  now: number
): void => {
  if (state.inFlight.size >= AGENT_BUFFER_CAPACITY) return
  if (ackBeforeRecord !== undefined && ackBeforeRecord()) sender.unrecorded.add(sequence)
  recordSent(state, sequence, frame, now)
}

/**
 * An acknowledgement that arrived before its message was recorded found nothing (`dc.go` ProcessAcknowledgedMessage
 * ignores unknown sequence numbers): false for the first acknowledgement of such a message.
 * @internal
 */
export const acknowledging = (sender: AgentSenderState, sequence: number): boolean =>
  !sender.unrecorded.delete(sequence)

/**
 * The agent samples the round trip from the latest transmission, resends included, and has no floor
 * (`dc.go` calculateRetransmissionTimeout).
 * @internal
 */
export const acknowledged = (state: ChannelState, entry: InFlight, now: number): Rto.RtoState =>
  Rto.update(state.rto, Math.max(0, now - entry.lastSent), 0)

/**
 * One tick of the agent's resend scheduler (`dc.go` ResendStreamDataMessageScheduler): while not paused, the oldest
 * unacknowledged message goes again if its latest transmission is older than the RTO. One message per tick at most,
 * unpaced, and no attempt limit. Returns the sequence number resent, or undefined.
 * @internal
 */
export const resendOldest = (state: ChannelState, now: number): number | undefined => {
  if (resendsWait(state)) return undefined
  const [sequence, entry] = state.inFlight.entries().next().value as [number, InFlight]
  if (now - entry.lastSent <= state.rto.rto) return undefined
  retransmit(state, entry, now)
  return sequence
}

/**
 * The SSM Agent's sender, one per channel.
 * @internal
 */
export const make = (options: AgentSenderOptions = {}): Sender & { readonly state: AgentSenderState } => {
  const sender: AgentSenderState = { unrecorded: new Set() }
  return {
    state: sender,
    // the agent drops empty payloads (datachannel.go SendStreamDataMessage)
    accepts: (bytes) => bytes.length > 0,
    // SYN on its first message (datachannel.go SendStreamDataMessage)
    flags: (sequence) => sequence === 0 ? AgentMessage.Flags.Syn : AgentMessage.Flags.None,
    // the agent has no window: it sends what its source gives it
    windowFull: () => false,
    sent: (state, sequence, frame, now) =>
      recordAfterWrite(sender, options.ackBeforeRecord, state, sequence, frame, now),
    acknowledging: (_state, sequence) => acknowledging(sender, sequence),
    acknowledged: (state, _sequence, entry, now) => acknowledged(state, entry, now),
    resendLoop: (state) =>
      Effect.forever(Effect.gen(function*() {
        yield* awaitUnacknowledged(state)
        yield* Effect.sleep(Duration.millis(AGENT_RESEND_TICK))
        resendOldest(state, currentMillis(state))
      }))
  }
}
