/**
 * The reliable, ordered, paced message stream of AGENT-PROTOCOL.md section 5, at either end: a channel sends one
 * data message type and receives the other (`sends`). Used by the Session and by the agent simulator, so both ends
 * run the same engine.
 *
 * The engine is one record and functions over it, under `channel/`:
 * - `dataChannelOptions.ts`: what a channel is made with and what it reports;
 * - `dataChannelState.ts`: the record (`ChannelState`), failing, writing, pacing;
 * - `receiving.ts`: data messages in order, duplicates, the reorder buffer, pause and start;
 * - `acknowledgements.ts`: acknowledgements written, held while the transport is congested, repeated; acks read;
 * - `sending.ts`: sequence numbers, the sender fiber, acks taking messages out of flight, and the `Sender` strategy;
 * - `windowedSender.ts`: the client's sender (window, fast resends, give-up), the default.
 *
 * `make` here only builds the record and runs its fibers in the caller's scope. The agent simulator hands in the SSM
 * Agent's own sender (`simulator/agentSender.ts`).
 *
 * @internal
 */
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberSet from "effect/FiberSet"
import type * as Scope from "effect/Scope"
import type * as AgentMessage from "../../AgentMessage.js"
import { repeatDueAcks, rewriteAcks } from "./acknowledgements.js"
import { receive, resumeDelivery } from "./receiving.js"
import { enqueue, senderLoop, writerLoop } from "./sending.js"
import type { ChannelFailure, ChannelOptions, ChannelStats } from "./dataChannelOptions.js"
import type { ChannelState } from "./dataChannelState.js"
import { currentMillis, fail, makeState } from "./dataChannelState.js"
import { windowedSender } from "./windowedSender.js"

export type { Sender } from "./sending.js"
export type {
  ChannelFailure,
  ChannelMetrics,
  ChannelOptions,
  ChannelStats,
  Congestion,
  DataMessageType
} from "./dataChannelOptions.js"
export { makeMetrics } from "./dataChannelOptions.js"
export type { ChannelState } from "./dataChannelState.js"
export {
  CHUNK_SIZE,
  MAX_PAYLOAD_BYTES,
  MAX_PENDING_ACKS,
  RECENT_ACKS,
  REORDER_ENTRY_OVERHEAD
} from "./dataChannelState.js"

/** @internal */
export interface Channel {
  /**
   * sends `bytes` as sequenced data messages of at most 1024 bytes (one empty message for empty bytes);
   * completes once the last one has a sequence number and was first written. `bytes` must not change until then.
   * `chunkSize` (default 1024) is the simulated agent's: it sends what its shell read as one message.
   */
  readonly send: (
    payloadType: AgentMessage.PayloadType,
    bytes: Uint8Array,
    chunkSize?: number
  ) => Effect.Effect<void, ChannelFailure>
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

/** `Channel.hold`. @internal */
export const hold = (state: ChannelState, value: boolean): void => {
  if (value === state.held || state.failure !== undefined) return
  state.held = value
  if (value) return state.transportUp.unsafeClose()
  const now = currentMillis(state)
  state.resendBefore = now
  state.carriedOnAt = now
  rewriteAcks(state)
  state.transportUp.unsafeOpen()
}

/** `Channel.stats`. @internal */
export const stats = (state: ChannelState): ChannelStats => ({
  ...state.stats,
  rtt: state.rto.rtt,
  rto: state.rto.rto,
  reorderDepth: state.reorder.size,
  inFlight: state.inFlight.size,
  queued: state.outgoing.length - state.outgoingHead,
  acknowledgementsWaiting: state.pendingAcks.size,
  expected: state.expected
})

/** Writes each acknowledgement once more when its time comes, a batch at a time. */
const repeatAckLoop = (state: ChannelState): Effect.Effect<void> =>
  Effect.forever(Effect.suspend(() => {
    const wait = repeatDueAcks(state, currentMillis(state))
    return wait < 0 ? state.repeatAcksDue.await : Effect.sleep(Duration.millis(wait))
  }))

/** The channel over `options`, its fibers running in the scope. @internal */
export const make = (options: ChannelOptions): Effect.Effect<Channel, never, Scope.Scope> =>
  Effect.gen(function*() {
    const clock = yield* Effect.clock
    const state = makeState(options, options.sender ?? windowedSender(options.windowSize), clock)
    const fibers = yield* FiberSet.make()
    yield* FiberSet.run(fibers, writerLoop(state))
    yield* FiberSet.run(fibers, senderLoop(state))
    yield* FiberSet.run(fibers, state.sender.resendLoop(state))
    if (state.repeatAckAfter > 0) yield* FiberSet.run(fibers, repeatAckLoop(state))
    return {
      send: (payloadType, bytes, chunkSize) =>
        Effect.suspend(() => {
          if (state.failure !== undefined) return Effect.fail(state.failure)
          const done = enqueue(state, payloadType, bytes, chunkSize)
          return done === undefined ? Effect.void : Deferred.await(done)
        }),
      receive: (frame) => receive(state, frame),
      resumeDelivery: () => resumeDelivery(state),
      close: (detail) => fail(state, "Closed", detail),
      hold: (value) => hold(state, value),
      failed: Deferred.await(state.failed),
      unacknowledged: () => state.inFlight.size,
      drained: state.acked.await,
      paused: () => state.paused,
      stats: () => stats(state)
    }
  })
