/**
 * An smux v1 session over an ordered byte transport, wire-compatible with xtaci/smux 1.5.16 (SMUX.md).
 * One fiber reads the transport and dispatches frames synchronously; one fiber writes, taking one frame per
 * stream in turn so that a bulk upload cannot starve a small exchange on another stream.
 *
 * The session's state is one record (`smux/state.ts`), the frames' effects on it are functions (`smux/receive.ts`,
 * `smux/write.ts`); `make` wires the record to the two fibers, the keepalive timers and the scope.
 *
 * @internal
 */
import type * as Socket from "@effect/platform/Socket"
import type * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberSet from "effect/FiberSet"
import type * as Scope from "effect/Scope"
import * as Sink from "effect/Sink"
import * as Stream from "effect/Stream"
import type * as Smux from "../../Smux.js"
import * as Pull from "./pull.js"
import { isSmuxError, sessionClosed, SmuxError } from "./error.js"
import { onFrame, pauseReceiving, receiveBytes } from "./receive.js"
import * as State from "./state.js"
import type { SmuxState, StreamState } from "./state.js"
import * as Write from "./write.js"
import { fromDuplex } from "./socket.js"
import { Command } from "./smuxFrame.js"

export { defaultOptions } from "./state.js"
export { ErrorTypeId, isSmuxError, SmuxError } from "./error.js"

/** @internal */
export const TypeId: Smux.TypeId = Symbol.for("ssm-session-manager/Smux") as Smux.TypeId

/** @internal */
export const tag = Context.GenericTag<Smux.Smux>("ssm-session-manager/Smux")

// ---------------------------------------------------------------------------------------------------------------
// the fibers
// ---------------------------------------------------------------------------------------------------------------

/** Writes batches until the session ends. @internal */
export const writeLoop = <E>(state: SmuxState, transport: Smux.Transport<E>): Effect.Effect<void, SmuxError> =>
  Effect.gen(function*() {
    while (state.failure === undefined) {
      yield* state.writerWake.await
      const batch = Write.takeBatch(state)
      if (batch === undefined) {
        state.writerWake.unsafeClose()
        continue
      }
      state.inFlight = batch.done
      yield* Effect.mapError(
        transport.write(batch.bytes),
        (cause) => new SmuxError({ reason: "Transport", detail: "writing to the transport failed", cause })
      )
      Write.batchWritten(state, batch)
    }
  })

/** Reads the transport until it ends (a `SessionClosed` failure) or sends a bad frame. @internal */
export const receiveLoop = <E>(state: SmuxState, transport: Smux.Transport<E>): Effect.Effect<void, SmuxError> => {
  const receiveChunk = (chunk: Chunk.Chunk<Uint8Array>): Effect.Effect<void, SmuxError> => {
    for (const bytes of chunk) {
      const invalid = receiveBytes(state, bytes)
      if (invalid !== undefined) return Effect.fail(new SmuxError({ reason: invalid.reason, detail: invalid.detail }))
    }
    return pauseReceiving(state) ? state.receiveGate.await : Effect.void
  }
  return transport.incoming.pipe(
    Stream.mapError((cause) => new SmuxError({ reason: "Transport", detail: "reading the transport failed", cause })),
    Stream.runForEachChunk(receiveChunk),
    Effect.zipRight(Effect.fail(new SmuxError({ reason: "SessionClosed", detail: "the transport ended" })))
  )
}

/** A NOP every `keepAliveInterval`, and the silence check every `keepAliveTimeout`. @internal */
const keepAliveLoops = (state: SmuxState): ReadonlyArray<Effect.Effect<void, SmuxError>> => {
  const nop: State.Outgoing = { header: Write.header(Command.NOP, 0, 0), payload: undefined, done: undefined }
  return [
    Effect.forever(Effect.zipRight(
      Effect.sleep(state.config.keepAliveInterval),
      Effect.sync(() => Write.enqueueControl(state, nop))
    )),
    Effect.forever(Effect.zipRight(
      Effect.sleep(state.config.keepAliveTimeout),
      Effect.suspend(() => {
        const timeout = State.checkAlive(state)
        return timeout === undefined ? Effect.void : Effect.fail(timeout)
      })
    ))
  ]
}

/**
 * Closing the session's scope: FIN every open stream and flush briefly, then end the session.
 * @internal
 */
const closeSession = (state: SmuxState): Effect.Effect<void> =>
  Effect.gen(function*() {
    if (state.failure === undefined) {
      const open = [...state.streams.values()]
      for (const stream of open) State.forget(state, stream)
      const fins = open.map((stream) => Effect.ignore(Write.sendFin(state, stream)))
      // interruptible, or the deadline could not end a flush that a stalled transport holds (finalizers are not)
      yield* Effect.all(fins, { concurrency: "unbounded", discard: true }).pipe(
        Effect.interruptible,
        Effect.timeout("1 second"),
        Effect.ignore
      )
      for (const stream of open) stream.mailbox.unsafeDone(Exit.fail(sessionClosed()))
    }
    State.terminate(state, sessionClosed())
  })

// ---------------------------------------------------------------------------------------------------------------
// streams
// ---------------------------------------------------------------------------------------------------------------

/** The public handle of a stream; reading frees its receive tokens. @internal */
export const makeHandle = (state: SmuxState, stream: StreamState): Smux.SmuxStream => {
  const write = (bytes: Uint8Array) => Write.write(state, stream, bytes)
  const handle: Smux.SmuxStream = {
    id: stream.id,
    pull: Pull.fromMailbox(stream.mailbox, (chunk) => State.release(state, stream, State.tokensOf(chunk))),
    write,
    sink: Sink.forEach(write),
    close: Write.close(state, stream)
  }
  stream.handle = handle
  return handle
}

/** Opens a stream: its SYN is queued before anything written on it. @internal */
const openStream = (state: SmuxState): Effect.Effect<Smux.SmuxStream, SmuxError> =>
  Effect.suspend(() => {
    const id = State.allocateId(state)
    if (typeof id !== "number") return Effect.fail(id)
    const stream = State.newStream(state, id)
    Write.sendSyn(state, stream)
    return Effect.succeed(makeHandle(state, stream))
  })

/** The next stream the peer opened, as a handle whose reading and writing may start. @internal */
const takeAccepted = (state: SmuxState): Effect.Effect<Smux.SmuxStream, SmuxError> =>
  Effect.map(
    Effect.catchAll(state.acceptQueue.take, (error) =>
      Effect.fail(
        isSmuxError(error) ? error : new SmuxError({ reason: "SessionClosed", detail: "the smux session ended" })
      )),
    (stream) => {
      State.accepted(state)
      return makeHandle(state, stream)
    }
  )

const serve = (state: SmuxState) =>
<_, E2, R>(
  handler: (stream: Smux.SmuxStream) => Effect.Effect<_, E2, R>
): Effect.Effect<never, SmuxError, R> =>
  Effect.scoped(Effect.gen(function*() {
    const handlers = yield* FiberSet.make()
    while (true) {
      const stream = yield* takeAccepted(state)
      yield* FiberSet.run(
        handlers,
        handler(stream).pipe(
          Effect.catchAllCause((cause) => Effect.logDebug("Smux: a stream handler failed", cause)),
          Effect.ensuring(stream.close)
        )
      )
    }
  }))

// ---------------------------------------------------------------------------------------------------------------
// the session
// ---------------------------------------------------------------------------------------------------------------

/** @internal */
export const make = <E>(
  transport: Smux.Transport<E>,
  options: Smux.SmuxOptions
): Effect.Effect<Smux.Smux, never, Scope.Scope> =>
  Effect.gen(function*() {
    const config = State.resolveConfig(options)
    if (typeof config === "string") return yield* Effect.dieMessage(config)
    const state = State.makeState(config, onFrame)

    const fibers = yield* FiberSet.make<void, never>()
    const supervise = (loop: Effect.Effect<void, SmuxError>) =>
      FiberSet.run(fibers, Effect.catchAll(loop, (error) => Effect.sync(() => State.terminate(state, error))))
    yield* supervise(receiveLoop(state, transport))
    yield* supervise(writeLoop(state, transport))
    if (config.keepAlive) yield* Effect.forEach(keepAliveLoops(state), supervise, { discard: true })
    // runs before the FiberSet's finalizer (finalizers run in reverse order)
    yield* Effect.addFinalizer(() => closeSession(state))

    const takeOne = takeAccepted(state)
    return {
      [TypeId]: TypeId,
      role: config.role,
      open: Effect.acquireRelease(openStream(state), (handle) => handle.close),
      accept: Effect.acquireRelease(takeOne, (handle) => handle.close),
      accepted: Stream.repeatEffect(takeOne).pipe(
        Stream.catchAll((error) => error.reason === "SessionClosed" ? Stream.empty : Stream.fail(error))
      ),
      serve: serve(state),
      await: Deferred.await(state.done),
      streamCount: Effect.sync(() => state.streams.size),
      bufferedBytes: Effect.sync(() => state.totalBuffered)
    }
  })

// ---------------------------------------------------------------------------------------------------------------
// adapters
// ---------------------------------------------------------------------------------------------------------------

/** @internal */
export const toStream = (stream: Smux.SmuxStream): Stream.Stream<Uint8Array, Smux.SmuxError> =>
  Pull.toStream(stream.pull)

/** @internal */
export const toSocket = (stream: Smux.SmuxStream): Socket.Socket =>
  fromDuplex({ readable: toStream(stream), write: stream.write, close: stream.close })

/** @internal */
export const transportTag = Context.GenericTag<Smux.Transport>("ssm-session-manager/Smux/Transport")

/** @internal */
export const makeFromContext = (options: Smux.SmuxOptions): Effect.Effect<Smux.Smux, never, Scope.Scope | Smux.Transport> =>
  Effect.flatMap(transportTag, (transport) => make(transport, options))
