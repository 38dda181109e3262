/**
 * The write side of an smux session: frames queued per stream, taken by the writer one frame per stream in turn
 * (control frames first), so that a bulk upload cannot starve a small exchange on another stream. Queueing and
 * taking are synchronous; only waiting for a write to be handed to the transport is an Effect.
 *
 * @internal
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import { concat } from "../protocol/bytes.js"
import { Command, HEADER_SIZE, writeHeader } from "./smuxFrame.js"
import { SmuxError } from "./error.js"
import { forget, release } from "./state.js"
import type { Outgoing, SmuxState, StreamState } from "./state.js"

/** An 8-byte frame header. @internal */
export const header = (cmd: Command, length: number, sid: number): Uint8Array => {
  const bytes = new Uint8Array(HEADER_SIZE)
  writeHeader(bytes, 0, cmd, length, sid)
  return bytes
}

/** Queues `item` on `stream` and wakes the writer. @internal */
export const enqueue = (state: SmuxState, stream: StreamState, item: Outgoing): void => {
  if (stream.queueHead === stream.queue.length) {
    stream.queue.length = 0
    stream.queueHead = 0
    state.active.push(stream)
  }
  stream.queue.push(item)
  state.writerWake.unsafeOpen()
}

/** Queues a frame of no stream (NOP), written before any stream's. @internal */
export const enqueueControl = (state: SmuxState, item: Outgoing): void => {
  state.control.push(item)
  state.writerWake.unsafeOpen()
}

/** One batch for the transport and the completions to signal once it is written. @internal */
export interface Batch {
  readonly bytes: Uint8Array
  readonly done: Array<Deferred.Deferred<void, SmuxError>>
}

/**
 * Takes up to `writeBatchSize` bytes: control frames first, then one frame per stream in turn. Undefined when
 * nothing is queued.
 * @internal
 */
export const takeBatch = (state: SmuxState): Batch | undefined => {
  const { active, control } = state
  if (control.length === 0 && active.length === 0) return undefined
  const parts: Array<Uint8Array> = []
  const done: Array<Deferred.Deferred<void, SmuxError>> = []
  let size = 0
  const add = (item: Outgoing) => {
    parts.push(item.header)
    size += item.header.length
    if (item.payload !== undefined) {
      parts.push(item.payload)
      size += item.payload.length
    }
    if (item.done !== undefined) done.push(item.done)
  }
  for (const item of control) add(item)
  control.length = 0
  while (active.length > 0 && size < state.config.writeBatchSize) {
    if (state.roundRobin >= active.length) state.roundRobin = 0
    const stream = active[state.roundRobin]!
    add(stream.queue[stream.queueHead++]!)
    if (stream.queueHead === stream.queue.length) {
      stream.queue.length = 0
      stream.queueHead = 0
      active.splice(state.roundRobin, 1)
    } else {
      state.roundRobin++
    }
  }
  return { bytes: concat(parts, size), done }
}

/** The batch was handed to the transport: its writers may go on. @internal */
export const batchWritten = (state: SmuxState, batch: Batch): void => {
  state.inFlight = []
  for (const deferred of batch.done) Deferred.unsafeDone(deferred, Exit.void)
}

/**
 * Queues `bytes` on `stream` in PSH frames of at most `maxFrameSize`; completes when the last is written.
 * @internal
 */
export const write = (state: SmuxState, stream: StreamState, bytes: Uint8Array): Effect.Effect<void, SmuxError> =>
  Effect.suspend(() => {
    if (state.failure !== undefined) return Effect.fail(state.failure)
    if (stream.localClosed) {
      return Effect.fail(new SmuxError({ reason: "StreamClosed", detail: `stream ${stream.id} is closed` }))
    }
    if (bytes.length === 0) return Effect.void
    return Effect.flatMap(Deferred.make<void, SmuxError>(), (deferred) => {
      const maxFrameSize = state.config.maxFrameSize
      for (let offset = 0; offset < bytes.length; offset += maxFrameSize) {
        const payload = bytes.subarray(offset, offset + maxFrameSize)
        const last = offset + maxFrameSize >= bytes.length
        enqueue(state, stream, {
          header: header(Command.PSH, payload.length, stream.id),
          payload,
          done: last ? deferred : undefined
        })
      }
      return Deferred.await(deferred)
    })
  })

/** Queues a SYN for a stream this side opens. @internal */
export const sendSyn = (state: SmuxState, stream: StreamState): void =>
  enqueue(state, stream, { header: header(Command.SYN, 0, stream.id), payload: undefined, done: undefined })

/** Queues a FIN and waits until it is written. @internal */
export const sendFin = (state: SmuxState, stream: StreamState): Effect.Effect<void, SmuxError> =>
  Effect.suspend(() => {
    if (state.failure !== undefined) return Effect.fail(state.failure)
    const deferred = Deferred.unsafeMake<void, SmuxError>(FiberId.none)
    enqueue(state, stream, { header: header(Command.FIN, 0, stream.id), payload: undefined, done: deferred })
    return Deferred.await(deferred)
  })

/**
 * Closes `stream` here: forgets it, drops its unread data (giving back its tokens) and queues a FIN behind its
 * data. Idempotent.
 * @internal
 */
export const close = (state: SmuxState, stream: StreamState): Effect.Effect<void> =>
  Effect.suspend(() => {
    if (!forget(state, stream)) return Effect.void
    return Effect.map(stream.mailbox.clear, () => {
      release(state, stream, stream.buffered)
      stream.mailbox.unsafeDone(Exit.void)
      // queued behind the stream's data, not awaited: closing never waits on a peer that stopped reading (every
      // write before it was already awaited, and closing the session flushes what is queued, briefly)
      if (state.failure === undefined) {
        enqueue(state, stream, { header: header(Command.FIN, 0, stream.id), payload: undefined, done: undefined })
      }
    }).pipe(Effect.catchAll(() => Effect.void))
  })
