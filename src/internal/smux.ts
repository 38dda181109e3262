/**
 * An smux v1 session over an ordered byte transport, wire-compatible with xtaci/smux 1.5.16 (SMUX.md).
 * One fiber reads the transport and dispatches frames synchronously; one fiber writes, taking one frame per
 * stream in turn so that a bulk upload cannot starve a small exchange on another stream.
 *
 * @internal
 */
import type * as Socket from "@effect/platform/Socket"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as FiberSet from "effect/FiberSet"
import * as Mailbox from "effect/Mailbox"
import * as Predicate from "effect/Predicate"
import type * as Scope from "effect/Scope"
import * as Sink from "effect/Sink"
import * as Stream from "effect/Stream"
import type * as Smux from "../Smux.js"
import { concat } from "./bytes.js"
import * as Pull from "./pull.js"
import { fromDuplex } from "./socket.js"
import { Command, FrameDecoder, HEADER_SIZE, MAX_PAYLOAD, writeHeader } from "./smuxFrame.js"
import type { Frame } from "./smuxFrame.js"

/** @internal */
export const TypeId: Smux.TypeId = Symbol.for("ssm-session-manager/Smux") as Smux.TypeId

/** @internal */
export const ErrorTypeId: Smux.ErrorTypeId = Symbol.for("ssm-session-manager/Smux/SmuxError") as Smux.ErrorTypeId

/** @internal */
export class SmuxError extends Data.TaggedError("SmuxError")<{
  readonly reason: Smux.SmuxError.Reason
  readonly detail: string
  readonly cause?: unknown
}> {
  readonly [ErrorTypeId]: Smux.ErrorTypeId = ErrorTypeId
  override get message(): string {
    return `${this.reason}: ${this.detail}`
  }
}

/** @internal */
export const isSmuxError = (u: unknown): u is SmuxError => Predicate.hasProperty(u, ErrorTypeId)

/** @internal */
export const tag = Context.GenericTag<Smux.Smux>("ssm-session-manager/Smux")

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

/** Bytes charged per buffered payload on top of its length, so floods of tiny frames stay bounded too. */
const FRAME_OVERHEAD = 64

interface Outgoing {
  readonly header: Uint8Array
  readonly payload: Uint8Array | undefined
  readonly done: Deferred.Deferred<void, SmuxError> | undefined
}

interface StreamState {
  readonly id: number
  readonly mailbox: Mailbox.Mailbox<Uint8Array, SmuxError>
  readonly queue: Array<Outgoing>
  queueHead: number
  /** charged receive tokens not yet read */
  buffered: number
  overLimit: boolean
  localClosed: boolean
  remoteClosed: boolean
  handle: Smux.SmuxStream | undefined
}

const header = (cmd: Command, length: number, sid: number): Uint8Array => {
  const bytes = new Uint8Array(HEADER_SIZE)
  writeHeader(bytes, 0, cmd, length, sid)
  return bytes
}

/** @internal */
export const make = Effect.fnUntraced(function*<E>(
  transport: Smux.Transport<E>,
  options: Smux.SmuxOptions
): Effect.fn.Return<Smux.Smux, never, Scope.Scope> {
  const config = {
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
    return yield* Effect.dieMessage(`Smux: maxFrameSize must be 1..65535, got ${config.maxFrameSize}`)
  }
  const streams = new Map<number, StreamState>()
  const active: Array<StreamState> = []
  const control: Array<Outgoing> = []
  let roundRobin = 0
  let nextId = config.role === "client" ? 1 : 0
  let goAway = false
  let failure: SmuxError | undefined = undefined
  let totalBuffered = 0
  let streamsOverLimit = 0
  let acceptPending = 0
  let receivedSinceCheck = false
  /** completions of the batch being written: failed with the session if the write never finishes */
  let inFlight: Array<Deferred.Deferred<void, SmuxError>> = []

  const done = yield* Deferred.make<void, SmuxError>()
  const writerWake = yield* Effect.makeLatch(false)
  const receiveGate = yield* Effect.makeLatch(true)
  const acceptQueue = yield* Mailbox.make<StreamState, SmuxError>()
  const decoder = new FrameDecoder(config.maxReceiveFrameSize)

  // -------------------------------------------------------------------------------------------------------------
  // receive budget
  // -------------------------------------------------------------------------------------------------------------

  const overBudget = () =>
    totalBuffered >= config.maxReceiveBuffer || streamsOverLimit > 0 || acceptPending >= config.acceptBacklog

  const release = (state: StreamState, tokens: number) => {
    state.buffered -= tokens
    totalBuffered -= tokens
    if (state.overLimit && state.buffered < config.maxStreamBuffer) {
      state.overLimit = false
      streamsOverLimit--
    }
    if (!overBudget()) receiveGate.unsafeOpen()
  }

  // -------------------------------------------------------------------------------------------------------------
  // writer
  // -------------------------------------------------------------------------------------------------------------

  const enqueue = (state: StreamState, item: Outgoing) => {
    if (state.queueHead === state.queue.length) {
      state.queue.length = 0
      state.queueHead = 0
      active.push(state)
    }
    state.queue.push(item)
    writerWake.unsafeOpen()
  }

  /** Takes up to `writeBatchSize` bytes: control frames first, then one frame per stream in turn. */
  const takeBatch = (): { readonly bytes: Uint8Array; readonly done: Array<Deferred.Deferred<void, SmuxError>> } => {
    const parts: Array<Uint8Array> = []
    const completed: Array<Deferred.Deferred<void, SmuxError>> = []
    let size = 0
    const add = (item: Outgoing) => {
      parts.push(item.header)
      size += item.header.length
      if (item.payload !== undefined) {
        parts.push(item.payload)
        size += item.payload.length
      }
      if (item.done !== undefined) completed.push(item.done)
    }
    for (const item of control) add(item)
    control.length = 0
    while (active.length > 0 && size < config.writeBatchSize) {
      if (roundRobin >= active.length) roundRobin = 0
      const state = active[roundRobin]!
      add(state.queue[state.queueHead++]!)
      if (state.queueHead === state.queue.length) {
        state.queue.length = 0
        state.queueHead = 0
        active.splice(roundRobin, 1)
      } else {
        roundRobin++
      }
    }
    return { bytes: concat(parts, size), done: completed }
  }

  const writeLoop: Effect.Effect<void, SmuxError> = Effect.gen(function*() {
    while (failure === undefined) {
      yield* writerWake.await
      if (control.length === 0 && active.length === 0) {
        writerWake.unsafeClose()
        continue
      }
      const batch = takeBatch()
      inFlight = batch.done
      yield* Effect.mapError(
        transport.write(batch.bytes),
        (cause) => new SmuxError({ reason: "Transport", detail: "writing to the transport failed", cause })
      )
      inFlight = []
      for (const deferred of batch.done) Deferred.unsafeDone(deferred, Exit.void)
    }
  })

  const sendFrame = (state: StreamState, cmd: Command): Effect.Effect<void, SmuxError> =>
    Effect.suspend(() => {
      if (failure !== undefined) return Effect.fail(failure)
      const deferred = Deferred.unsafeMake<void, SmuxError>(FiberId.none)
      enqueue(state, { header: header(cmd, 0, state.id), payload: undefined, done: deferred })
      return Deferred.await(deferred)
    })

  // -------------------------------------------------------------------------------------------------------------
  // streams
  // -------------------------------------------------------------------------------------------------------------

  const write = (state: StreamState, bytes: Uint8Array): Effect.Effect<void, SmuxError> =>
    Effect.suspend(() => {
      if (failure !== undefined) return Effect.fail(failure)
      if (state.localClosed) {
        return Effect.fail(new SmuxError({ reason: "StreamClosed", detail: `stream ${state.id} is closed` }))
      }
      if (bytes.length === 0) return Effect.void
      return Effect.flatMap(Deferred.make<void, SmuxError>(), (deferred) => {
        for (let offset = 0; offset < bytes.length; offset += config.maxFrameSize) {
          const payload = bytes.subarray(offset, offset + config.maxFrameSize)
          const last = offset + config.maxFrameSize >= bytes.length
          enqueue(state, {
            header: header(Command.PSH, payload.length, state.id),
            payload,
            done: last ? deferred : undefined
          })
        }
        return Deferred.await(deferred)
      })
    })

  const close = (state: StreamState): Effect.Effect<void> =>
    Effect.suspend(() => {
      if (state.localClosed) return Effect.void
      state.localClosed = true
      streams.delete(state.id)
      return Effect.map(state.mailbox.clear, () => {
        release(state, state.buffered)
        state.mailbox.unsafeDone(Exit.void)
        // queued behind the stream's data, not awaited: closing never waits on a peer that stopped reading (every
        // write before it was already awaited, and closing the session flushes what is queued, briefly)
        if (failure === undefined) enqueue(state, { header: header(Command.FIN, 0, state.id), payload: undefined, done: undefined })
      }).pipe(Effect.catchAll(() => Effect.void))
    })

  const makeHandle = (state: StreamState): Smux.SmuxStream => {
    const writeState = (bytes: Uint8Array) => write(state, bytes)
    const pull = Pull.fromMailbox(state.mailbox, (chunk) => {
      let tokens = 0
      for (const bytes of chunk) tokens += bytes.length + FRAME_OVERHEAD
      release(state, tokens)
    })
    const handle: Smux.SmuxStream = {
      id: state.id,
      readable: Pull.toStream(pull),
      pull,
      write: writeState,
      sink: Sink.forEach(writeState),
      close: close(state)
    }
    state.handle = handle
    return handle
  }

  const newStream = (id: number): StreamState => {
    const state: StreamState = {
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
    streams.set(id, state)
    return state
  }

  // -------------------------------------------------------------------------------------------------------------
  // receiver
  // -------------------------------------------------------------------------------------------------------------

  const onFrame = (frame: Frame) => {
    switch (frame.cmd) {
      case Command.PSH: {
        const state = streams.get(frame.sid)
        // data for unknown or locally closed streams is dropped, as xtaci/smux does
        if (state === undefined || state.remoteClosed || frame.payload.length === 0) return
        const tokens = frame.payload.length + FRAME_OVERHEAD
        state.mailbox.unsafeOffer(frame.payload)
        state.buffered += tokens
        totalBuffered += tokens
        if (!state.overLimit && state.buffered >= config.maxStreamBuffer) {
          state.overLimit = true
          streamsOverLimit++
        }
        return
      }
      case Command.SYN: {
        if (streams.has(frame.sid)) return
        acceptPending++
        acceptQueue.unsafeOffer(newStream(frame.sid))
        return
      }
      case Command.FIN: {
        const state = streams.get(frame.sid)
        if (state === undefined || state.remoteClosed) return
        state.remoteClosed = true
        state.mailbox.unsafeDone(Exit.void)
        return
      }
      default:
        return
    }
  }

  const receiveChunk = (chunk: Chunk.Chunk<Uint8Array>): Effect.Effect<void, SmuxError> => {
    for (const bytes of chunk) {
      if (bytes.length === 0) continue
      receivedSinceCheck = true
      const invalid = decoder.push(bytes, onFrame)
      if (invalid !== undefined) return Effect.fail(new SmuxError({ reason: invalid.reason, detail: invalid.detail }))
    }
    if (!overBudget()) return Effect.void
    // stop pulling from the transport until readers catch up (backpressure, never loss)
    receiveGate.unsafeClose()
    return receiveGate.await
  }

  const receiveLoop: Effect.Effect<void, SmuxError> = transport.incoming.pipe(
    Stream.mapError((cause) => new SmuxError({ reason: "Transport", detail: "reading the transport failed", cause })),
    Stream.runForEachChunk(receiveChunk),
    Effect.zipRight(Effect.fail(new SmuxError({ reason: "SessionClosed", detail: "the transport ended" })))
  )

  // -------------------------------------------------------------------------------------------------------------
  // lifecycle
  // -------------------------------------------------------------------------------------------------------------

  /** Ends the session: every stream and pending write fails with `error`, buffered data stays readable. */
  const terminate = (error: SmuxError) => {
    if (failure !== undefined) return
    failure = error
    for (const state of streams.values()) state.mailbox.unsafeDone(Exit.fail(error))
    for (const state of active) {
      for (let i = state.queueHead; i < state.queue.length; i++) {
        const deferred = state.queue[i]!.done
        if (deferred !== undefined) Deferred.unsafeDone(deferred, Exit.fail(error))
      }
    }
    active.length = 0
    for (const deferred of inFlight) Deferred.unsafeDone(deferred, Exit.fail(error))
    inFlight = []
    acceptQueue.unsafeDone(Exit.fail(error))
    receiveGate.unsafeOpen()
    writerWake.unsafeOpen()
    Deferred.unsafeDone(done, Exit.fail(error))
  }

  const fibers = yield* FiberSet.make<void, never>()
  const supervise = (loop: Effect.Effect<void, SmuxError>) =>
    FiberSet.run(fibers, Effect.catchAll(loop, (error) => Effect.sync(() => terminate(error))))

  yield* supervise(receiveLoop)
  yield* supervise(writeLoop)
  if (config.keepAlive) {
    const nop: Outgoing = { header: header(Command.NOP, 0, 0), payload: undefined, done: undefined }
    yield* supervise(Effect.forever(Effect.zipRight(
      Effect.sleep(config.keepAliveInterval),
      Effect.sync(() => {
        control.push(nop)
        writerWake.unsafeOpen()
      })
    )))
    yield* supervise(Effect.forever(Effect.zipRight(
      Effect.sleep(config.keepAliveTimeout),
      Effect.suspend(() => {
        // as xtaci/smux: silence for a whole period, while we are still willing to read, ends the session
        if (!receivedSinceCheck && totalBuffered < config.maxReceiveBuffer) {
          return Effect.fail(new SmuxError({ reason: "Timeout", detail: "no frame received within the keepalive timeout" }))
        }
        receivedSinceCheck = false
        return Effect.void
      })
    )))
  }

  // runs before the FiberSet's finalizer (finalizers run in reverse order): FIN every open stream, flush briefly
  yield* Effect.addFinalizer(() =>
    Effect.gen(function*() {
      if (failure === undefined) {
        const open = [...streams.values()]
        for (const state of open) {
          state.localClosed = true
          streams.delete(state.id)
        }
        const fins = open.map((state) => Effect.ignore(sendFrame(state, Command.FIN)))
        // interruptible, or the deadline could not end a flush that a stalled transport holds (finalizers are not)
        yield* Effect.all(fins, { concurrency: "unbounded", discard: true }).pipe(
          Effect.interruptible,
          Effect.timeout("1 second"),
          Effect.ignore
        )
        for (const state of open) terminateStream(state)
      }
      terminate(new SmuxError({ reason: "SessionClosed", detail: "the smux session was closed" }))
    })
  )

  const terminateStream = (state: StreamState) => {
    state.mailbox.unsafeDone(Exit.fail(new SmuxError({ reason: "SessionClosed", detail: "the smux session was closed" })))
  }

  /** The next stream the peer opened, as a handle whose reading and writing may start. */
  const takeAccepted: Effect.Effect<Smux.SmuxStream, SmuxError> = Effect.map(
    Effect.catchAll(acceptQueue.take, (error) =>
      Effect.fail(
        isSmuxError(error) ? error : new SmuxError({ reason: "SessionClosed", detail: "the smux session ended" })
      )),
    (state) => {
      acceptPending--
      if (!overBudget()) receiveGate.unsafeOpen()
      return makeHandle(state)
    }
  )

  const open: Effect.Effect<Smux.SmuxStream, SmuxError, Scope.Scope> = Effect.acquireRelease(
    Effect.suspend(() => {
      if (failure !== undefined) return Effect.fail(failure)
      if (goAway) return Effect.fail(new SmuxError({ reason: "GoAway", detail: "stream ids are exhausted" }))
      nextId = (nextId + 2) >>> 0
      if (nextId === 0 || nextId === 1) {
        goAway = true
        return Effect.fail(new SmuxError({ reason: "GoAway", detail: "stream ids are exhausted" }))
      }
      const state = newStream(nextId)
      enqueue(state, { header: header(Command.SYN, 0, state.id), payload: undefined, done: undefined })
      return Effect.succeed(makeHandle(state))
    }),
    (handle) => handle.close
  )

  const serve = <_, E2, R>(
    handler: (stream: Smux.SmuxStream) => Effect.Effect<_, E2, R>
  ): Effect.Effect<never, SmuxError, R> =>
    Effect.scoped(Effect.gen(function*() {
      const handlers = yield* FiberSet.make()
      while (true) {
        const stream = yield* takeAccepted
        yield* FiberSet.run(
          handlers,
          handler(stream).pipe(
            Effect.catchAllCause((cause) => Effect.logDebug("Smux: a stream handler failed", cause)),
            Effect.ensuring(stream.close)
          )
        )
      }
    }))

  return {
    [TypeId]: TypeId,
    role: config.role,
    open,
    accept: Effect.acquireRelease(takeAccepted, (handle) => handle.close),
    accepted: Stream.repeatEffect(takeAccepted).pipe(
      Stream.catchAll((error) => error.reason === "SessionClosed" ? Stream.empty : Stream.fail(error))
    ),
    serve,
    await: Deferred.await(done),
    streamCount: Effect.sync(() => streams.size),
    bufferedBytes: Effect.sync(() => totalBuffered)
  }
})

/** @internal */
export const toSocket = (stream: Smux.SmuxStream): Socket.Socket => fromDuplex(stream)

/** @internal */
export const transportTag = Context.GenericTag<Smux.Transport>("ssm-session-manager/Smux/Transport")

/** @internal */
export const makeFromContext = (options: Smux.SmuxOptions): Effect.Effect<Smux.Smux, never, Scope.Scope | Smux.Transport> =>
  Effect.flatMap(transportTag, (transport) => make(transport, options))
