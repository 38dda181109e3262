/**
 * Receiving: one frame at a time, synchronously, in arrival order. A data message in order is delivered and
 * acknowledged; a duplicate is acknowledged again; one ahead of the expected one waits in the reorder buffer (bounded
 * in count, span and bytes) and is acknowledged; the buffer is delivered in order once the gap fills. A message that
 * does not fit is dropped unacknowledged, so the peer resends it later; an acknowledged message that cannot be
 * delivered yet waits in the reorder buffer until `resumeDelivery`. Service messages pause and restart publication.
 *
 * @internal
 */
import * as Either from "effect/Either"
import * as AgentMessage from "../../AgentMessage.js"
import * as internalMessage from "../protocol/agentMessage.js"
import { ackRoom, sendAck } from "./acknowledgements.js"
import { onAck } from "./sending.js"
import type { ChannelState } from "./dataChannelState.js"
import { currentMillis, fail, REORDER_ENTRY_OVERHEAD } from "./dataChannelState.js"

/** Counts a data message taken by `deliver`. @internal */
export const accept = (state: ChannelState, message: AgentMessage.AgentMessage): void => {
  const metrics = state.options.metrics
  state.stats.messagesReceived++
  state.stats.bytesReceived += message.payload.length
  metrics.messagesReceived.unsafeUpdate(1, [])
  metrics.bytesReceived.unsafeUpdate(message.payload.length, [])
}

/** Delivers held messages from `expected` on, while the receiver takes them. @internal */
export const drainReorder = (state: ChannelState): void => {
  const reorder = state.reorder
  for (let next = reorder.get(state.expected); next !== undefined; next = reorder.get(state.expected)) {
    if (!state.options.deliver(next.message, true)) break
    reorder.delete(state.expected)
    state.reorderBytes -= next.size
    accept(state, next.message)
    state.expected++
  }
  state.options.metrics.reorderDepth.unsafeUpdate(reorder.size, [])
}

/** One data message of the type this channel receives. @internal */
export const onData = (state: ChannelState, message: AgentMessage.AgentMessage, now: number): void => {
  const sequence = message.sequenceNumber
  const expected = state.expected
  if (sequence < expected || state.reorder.has(sequence)) {
    // a duplicate: our ack was lost, say it again (the official client does not, section 5.5). Only when
    // MAX_PENDING_ACKS acknowledgements wait already is it ignored, as if it had not come: the peer sends it again
    state.stats.duplicatesReceived++
    if (ackRoom(state, sequence)) sendAck(state, message, now)
    return
  }
  if (!ackRoom(state, sequence)) {
    // the acknowledgement could not even wait: not accepted, so the peer resends it later
    state.stats.droppedUnacknowledged++
    return
  }
  if (sequence === expected) {
    if (!state.options.deliver(message, false)) {
      state.stats.droppedUnacknowledged++
      return
    }
    accept(state, message)
    sendAck(state, message, now)
    state.expected++
    if (state.reorder.size > 0) drainReorder(state)
    return
  }
  const size = message.payload.length + REORDER_ENTRY_OVERHEAD
  if (
    state.reorder.size >= state.options.reorderBufferSize ||
    state.reorderBytes + size > state.options.reorderBufferBytes ||
    sequence >= expected + state.reorderAhead
  ) {
    state.stats.droppedUnacknowledged++
    return
  }
  // keep a copy: the frame's buffer belongs to the transport
  state.reorder.set(sequence, { message: { ...message, payload: message.payload.slice() }, size })
  state.reorderBytes += size
  state.options.metrics.reorderDepth.unsafeUpdate(state.reorder.size, [])
  sendAck(state, message, now)
}

/** `pause_publication` (true) or its end (false): new data waits while paused. @internal */
export const setPaused = (state: ChannelState, value: boolean): void => {
  state.paused = value
  if (value) state.publishing.unsafeClose()
  else state.publishing.unsafeOpen()
}

/** Feeds one received frame; synchronous, in arrival order. @internal */
export const receive = (state: ChannelState, frame: Uint8Array): void => {
  if (state.failure !== undefined) return
  const decoded = internalMessage.decode(frame, true)
  if (Either.isLeft(decoded)) {
    state.options.onInvalid?.(decoded.left)
    return
  }
  const message = decoded.right
  const now = currentMillis(state)
  switch (message.messageType) {
    case state.receiveType:
      if (message.payload.length > state.maxPayloadBytes) {
        // no agent sends more than 1024 bytes (plus 28 for KMS) a message; holding such a message is how a
        // hostile peer would fill memory
        fail(
          state,
          "Protocol",
          `a data message of ${message.payload.length} bytes is over the ${state.maxPayloadBytes}-byte limit`
        )
        return
      }
      if (state.paused) setPaused(state, false)
      return onData(state, message, now)
    case AgentMessage.MessageType.Acknowledge:
      if (state.paused) setPaused(state, false)
      return onAck(state, message, now)
    case AgentMessage.MessageType.ChannelClosed:
      return state.options.onChannelClosed(message)
    case AgentMessage.MessageType.PausePublication:
      return setPaused(state, true)
    case AgentMessage.MessageType.StartPublication:
      return setPaused(state, false)
    default:
      return
  }
}

/** Delivers what waits in the reorder buffer in order, while `deliver` takes it. @internal */
export const resumeDelivery = (state: ChannelState): void => {
  if (state.failure === undefined && state.reorder.size > 0) drainReorder(state)
}
