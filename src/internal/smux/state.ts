/**
 * The state of one smux session as one record, and the functions over it that are not about a single direction:
 * making it, the receive budget, opening, accepting and forgetting streams, and ending the session. The receive
 * side is in `receive.ts`, the write side in `write.ts`; the session (`./smux.ts`) only wires the record to its
 * fibers. Everything here is synchronous: no Effect runs per frame.
 *
 * @internal
 */
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as Mailbox from "effect/Mailbox"
import type * as Smux from "../../Smux.js"
import { FrameDecoder, MAX_PAYLOAD } from "./smuxFrame.js"
import type { Frame } from "./smuxFrame.js"
import { SmuxError } from "./error.js"

/** @internal */
export const defaultOptions = {
  keepAlive: false,
  keepAliveInterval: Duration.seconds(10),
  keepAliveTimeout: Duration.seconds(30),
  maxFrameSize: 32768,
  maxReceiveBuffer: 4 * 1024 * 1024,
  maxStreamBuffer: 4 * 1024 * 1024,
  acceptBacklog: 1024,
  writeBatchSize: 64 * 1024
} as const

/** Bytes charged per buffered payload on top of its length, so floods of tiny frames stay bounded too. @internal */
export const FRAME_OVERHEAD = 64

/** The options of a session with every default filled in. @internal */
export interface SmuxConfig {
  readonly role: "client" | "server"
  readonly keepAlive: boolean
  readonly keepAliveInterval: Duration.DurationInput
  readonly keepAliveTimeout: Duration.DurationInput
  readonly maxFrameSize: number
  readonly maxReceiveFrameSize: number
  readonly maxReceiveBuffer: number
  readonly maxStreamBuffer: number
  readonly acceptBacklog: number
  readonly writeBatchSize: number
}

/** The defaults applied to `options`, or why they cannot run. @internal */
export const resolveConfig = (options: Smux.SmuxOptions): SmuxConfig | string => {
  const config: SmuxConfig = {
    role: options.role,
    keepAlive: options.keepAlive ?? defaultOptions.keepAlive,
    keepAliveInterval: options.keepAliveInterval ?? defaultOptions.keepAliveInterval,
    keepAliveTimeout: options.keepAliveTimeout ?? defaultOptions.keepAliveTimeout,
    maxFrameSize: options.maxFrameSize ?? defaultOptions.maxFrameSize,
    maxReceiveFrameSize: options.maxReceiveFrameSize ?? MAX_PAYLOAD,
    maxReceiveBuffer: options.maxReceiveBuffer ?? defaultOptions.maxReceiveBuffer,
    maxStreamBuffer: options.maxStreamBuffer ?? defaultOptions.maxStreamBuffer,
    acceptBacklog: options.acceptBacklog ?? defaultOptions.acceptBacklog,
    writeBatchSize: options.writeBatchSize ?? defaultOptions.writeBatchSize
  }
  if (!Number.isInteger(config.maxFrameSize) || config.maxFrameSize < 1 || config.maxFrameSize > MAX_PAYLOAD) {
    return `Smux: maxFrameSize must be 1..65535, got ${config.maxFrameSize}`
  }
  return config
}

/** One frame waiting for the writer; `done` completes when the batch holding it was written. @internal */
export interface Outgoing {
  readonly header: Uint8Array
  readonly payload: Uint8Array | undefined
  readonly done: Deferred.Deferred<void, SmuxError> | undefined
}

/** One stream of the session. @internal */
export interface StreamState {
  readonly id: number
  /** the payloads received and not yet read; ends at the peer's FIN */
  readonly mailbox: Mailbox.Mailbox<Uint8Array, SmuxError>
  /** frames to write, from `queueHead` on */
  readonly queue: Array<Outgoing>
  queueHead: number
  /** charged receive tokens not yet read */
  buffered: number
  /** `buffered` reached `maxStreamBuffer`: counted in `streamsOverLimit` */
  overLimit: boolean
  localClosed: boolean
  remoteClosed: boolean
  handle: Smux.SmuxStream | undefined
}

/** Everything a session knows. @internal */
export interface SmuxState {
  readonly config: SmuxConfig
  /** open streams by id: removed when closed locally */
  readonly streams: Map<number, StreamState>
  /** streams with frames queued, taken one frame each in turn from `roundRobin` */
  readonly active: Array<StreamState>
  /** frames of no stream (NOP), written before any stream's */
  readonly control: Array<Outgoing>
  roundRobin: number
  /** the last stream id this side opened (0 or 1 before the first) */
  nextId: number
  /** stream ids are exhausted */
  goAway: boolean
  /** why the session ended, once it has */
  failure: SmuxError | undefined
  /** receive tokens charged to all streams and not yet read */
  totalBuffered: number
  /** streams whose `buffered` reached `maxStreamBuffer` */
  streamsOverLimit: number
  /** streams opened by the peer and not yet accepted */
  acceptPending: number
  /** a chunk arrived since the last keepalive check */
  receivedSinceCheck: boolean
  /** completions of the batch being written: failed with the session if the write never finishes */
  inFlight: Array<Deferred.Deferred<void, SmuxError>>
  /** completes with the error that ended the session */
  readonly done: Deferred.Deferred<void, SmuxError>
  /** open while there is something to write */
  readonly writerWake: Effect.Latch
  /** closed while the receive budget is spent: the transport is not pulled */
  readonly receiveGate: Effect.Latch
  /** streams opened by the peer, for `accept` */
  readonly acceptQueue: Mailbox.Mailbox<StreamState, SmuxError>
  readonly decoder: FrameDecoder
  /** `onFrame` bound to this state, made once: what the decoder calls for each frame */
  readonly dispatch: (frame: Frame) => void
}

/**
 * A fresh session state; `onFrame` is the receive side's dispatch (passed in so that this module does not
 * depend on it).
 * @internal
 */
export const makeState = (config: SmuxConfig, onFrame: (state: SmuxState, frame: Frame) => void): SmuxState => {
  const state: SmuxState = {
    config,
    streams: new Map(),
    active: [],
    control: [],
    roundRobin: 0,
    nextId: config.role === "client" ? 1 : 0,
    goAway: false,
    failure: undefined,
    totalBuffered: 0,
    streamsOverLimit: 0,
    acceptPending: 0,
    receivedSinceCheck: false,
    inFlight: [],
    done: Deferred.unsafeMake<void, SmuxError>(FiberId.none),
    writerWake: Effect.unsafeMakeLatch(false),
    receiveGate: Effect.unsafeMakeLatch(true),
    acceptQueue: Effect.runSync(Mailbox.make<StreamState, SmuxError>()),
    decoder: new FrameDecoder(config.maxReceiveFrameSize),
    dispatch: (frame) => onFrame(state, frame)
  }
  return state
}

// ---------------------------------------------------------------------------------------------------------------
// receive budget
// ---------------------------------------------------------------------------------------------------------------

/** Whether the session must stop pulling the transport until readers catch up. @internal */
export const overBudget = (state: SmuxState): boolean =>
  state.totalBuffered >= state.config.maxReceiveBuffer || state.streamsOverLimit > 0 ||
  state.acceptPending >= state.config.acceptBacklog

/** Charges `tokens` of received data to `stream`. @internal */
export const charge = (state: SmuxState, stream: StreamState, tokens: number): void => {
  stream.buffered += tokens
  state.totalBuffered += tokens
  if (!stream.overLimit && stream.buffered >= state.config.maxStreamBuffer) {
    stream.overLimit = true
    state.streamsOverLimit++
  }
}

/** Gives back `tokens` of `stream` (read or dropped), reopening the receive gate when the budget allows. @internal */
export const release = (state: SmuxState, stream: StreamState, tokens: number): void => {
  stream.buffered -= tokens
  state.totalBuffered -= tokens
  if (stream.overLimit && stream.buffered < state.config.maxStreamBuffer) {
    stream.overLimit = false
    state.streamsOverLimit--
  }
  if (!overBudget(state)) state.receiveGate.unsafeOpen()
}

/** The tokens a chunk of payloads was charged. @internal */
export const tokensOf = (chunk: Iterable<Uint8Array>): number => {
  let tokens = 0
  for (const bytes of chunk) tokens += bytes.length + FRAME_OVERHEAD
  return tokens
}

// ---------------------------------------------------------------------------------------------------------------
// streams
// ---------------------------------------------------------------------------------------------------------------

/** Registers a stream with id `id`. @internal */
export const newStream = (state: SmuxState, id: number): StreamState => {
  const stream: StreamState = {
    id,
    mailbox: Effect.runSync(Mailbox.make<Uint8Array, SmuxError>()),
    queue: [],
    queueHead: 0,
    buffered: 0,
    overLimit: false,
    localClosed: false,
    remoteClosed: false,
    handle: undefined
  }
  state.streams.set(id, stream)
  return stream
}

/**
 * The id of the next stream this side opens (client odd from 3, server even from 2, as Go), or the error when
 * the session ended or ids are exhausted.
 * @internal
 */
export const allocateId = (state: SmuxState): number | SmuxError => {
  if (state.failure !== undefined) return state.failure
  if (state.goAway) return new SmuxError({ reason: "GoAway", detail: "stream ids are exhausted" })
  state.nextId = (state.nextId + 2) >>> 0
  if (state.nextId === 0 || state.nextId === 1) {
    state.goAway = true
    return new SmuxError({ reason: "GoAway", detail: "stream ids are exhausted" })
  }
  return state.nextId
}

/** A stream was taken from the accept queue: it no longer counts against the backlog. @internal */
export const accepted = (state: SmuxState): void => {
  state.acceptPending--
  if (!overBudget(state)) state.receiveGate.unsafeOpen()
}

/**
 * Marks `stream` closed here and forgets it: later data for it is dropped. False when it already was.
 * @internal
 */
export const forget = (state: SmuxState, stream: StreamState): boolean => {
  if (stream.localClosed) return false
  stream.localClosed = true
  state.streams.delete(stream.id)
  return true
}

// ---------------------------------------------------------------------------------------------------------------
// the end
// ---------------------------------------------------------------------------------------------------------------

/** Ends the session: every stream and pending write fails with `error`, buffered data stays readable. @internal */
export const terminate = (state: SmuxState, error: SmuxError): void => {
  if (state.failure !== undefined) return
  state.failure = error
  for (const stream of state.streams.values()) stream.mailbox.unsafeDone(Exit.fail(error))
  for (const stream of state.active) {
    for (let i = stream.queueHead; i < stream.queue.length; i++) {
      const deferred = stream.queue[i]!.done
      if (deferred !== undefined) Deferred.unsafeDone(deferred, Exit.fail(error))
    }
  }
  state.active.length = 0
  for (const deferred of state.inFlight) Deferred.unsafeDone(deferred, Exit.fail(error))
  state.inFlight = []
  state.acceptQueue.unsafeDone(Exit.fail(error))
  state.receiveGate.unsafeOpen()
  state.writerWake.unsafeOpen()
  Deferred.unsafeDone(state.done, Exit.fail(error))
}

/**
 * The keepalive check, once per `keepAliveTimeout`: as xtaci/smux, silence for a whole period while we are still
 * willing to read ends the session.
 * @internal
 */
export const checkAlive = (state: SmuxState): SmuxError | undefined => {
  if (!state.receivedSinceCheck && state.totalBuffered < state.config.maxReceiveBuffer) {
    return new SmuxError({ reason: "Timeout", detail: "no frame received within the keepalive timeout" })
  }
  state.receivedSinceCheck = false
  return undefined
}
