/**
 * The receive side of an smux session: transport bytes in, frames dispatched by command onto the session state
 * (SMUX.md section 8 says what xtaci/smux does with each). Synchronous and allocation-light: the decoder calls
 * `onFrame` for each frame of a chunk, no Effect runs per frame.
 *
 * @internal
 */
import * as Exit from "effect/Exit"
import { Command } from "./smuxFrame.js"
import type { DecodeError, Frame } from "./smuxFrame.js"
import { charge, FRAME_OVERHEAD, newStream, overBudget } from "./state.js"
import type { SmuxState } from "./state.js"

/** PSH: the payload is buffered for the stream's reader and charged to the receive budget. @internal */
export const onPush = (state: SmuxState, frame: Frame): void => {
  const stream = state.streams.get(frame.sid)
  // data for unknown or locally closed streams is dropped, as xtaci/smux does
  if (stream === undefined || stream.remoteClosed || frame.payload.length === 0) return
  stream.mailbox.unsafeOffer(frame.payload)
  charge(state, stream, frame.payload.length + FRAME_OVERHEAD)
}

/** SYN: a new stream from the peer, queued for `accept`; a SYN for a known id is ignored. @internal */
export const onSyn = (state: SmuxState, frame: Frame): void => {
  if (state.streams.has(frame.sid)) return
  state.acceptPending++
  state.acceptQueue.unsafeOffer(newStream(state, frame.sid))
}

/** FIN: the peer sends no more on the stream; its reader ends after what is buffered. @internal */
export const onFin = (state: SmuxState, frame: Frame): void => {
  const stream = state.streams.get(frame.sid)
  if (stream === undefined || stream.remoteClosed) return
  stream.remoteClosed = true
  stream.mailbox.unsafeDone(Exit.void)
}

/**
 * One frame onto the state, by command. NOP only marks the session alive (done per chunk); UPD never gets here,
 * the decoder refuses it on a version 1 session.
 * @internal
 */
export const onFrame = (state: SmuxState, frame: Frame): void => {
  switch (frame.cmd) {
    case Command.PSH:
      return onPush(state, frame)
    case Command.SYN:
      return onSyn(state, frame)
    case Command.FIN:
      return onFin(state, frame)
    case Command.NOP:
    case Command.UPD:
      return
  }
}

/** Feeds one transport chunk to the decoder; the decode error that ends the session, if any. @internal */
export const receiveBytes = (state: SmuxState, bytes: Uint8Array): DecodeError | undefined => {
  if (bytes.length === 0) return undefined
  state.receivedSinceCheck = true
  return state.decoder.push(bytes, state.dispatch)
}

/**
 * After a chunk: whether to stop pulling the transport until readers catch up (backpressure, never loss). When
 * true the receive gate is closed; reading or closing streams opens it again.
 * @internal
 */
export const pauseReceiving = (state: SmuxState): boolean => {
  if (!overBudget(state)) return false
  state.receiveGate.unsafeClose()
  return true
}
