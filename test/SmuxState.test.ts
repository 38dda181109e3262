/**
 * The smux session's state functions on their own: frames in, the state after and the frames out, with no
 * session, fiber or transport.
 */
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Deferred, Effect, Exit, Fiber, FiberId, Option } from "effect"
import * as Smux from "../src/Smux.js"
import { onFrame, pauseReceiving, receiveBytes } from "../src/internal/smux/receive.js"
import type { SmuxError } from "../src/internal/smux/error.js"
import * as State from "../src/internal/smux/state.js"
import * as Write from "../src/internal/smux/write.js"
import { Command, type Frame, FrameDecoder } from "../src/internal/smux/smuxFrame.js"
import { concatBytes } from "./utils/bytes.js"

const stateOf = (options: Partial<Smux.SmuxOptions> = {}): State.SmuxState => {
  const config = State.resolveConfig({ role: "client", ...options })
  if (typeof config === "string") throw new Error(config)
  return State.makeState(config, onFrame)
}

const bytes = (...values: Array<number>) => new Uint8Array(values)

/** Frames in, in one chunk. */
const feed = (state: State.SmuxState, ...frames: Array<Uint8Array>) => receiveBytes(state, concatBytes(frames))

/** Every batch the writer would take now, as frames. */
const framesOut = (state: State.SmuxState): Array<[Command, number, Array<number>]> => {
  const frames: Array<Frame> = []
  const decoder = new FrameDecoder()
  for (let batch = Write.takeBatch(state); batch !== undefined; batch = Write.takeBatch(state)) {
    assert.isUndefined(decoder.push(batch.bytes, (frame) => frames.push(frame)))
    Write.batchWritten(state, batch)
  }
  return frames.map((frame) => [frame.cmd, frame.sid, Array.from(frame.payload)])
}

/** Whether a latch lets a waiter through now. */
const isOpen = (latch: Effect.Latch) => Exit.isSuccess(Effect.runSyncExit(latch.await))

const outgoing = (sid: number, payload: Uint8Array, done?: Deferred.Deferred<void, SmuxError>): State.Outgoing => ({
  header: Write.header(Command.PSH, payload.length, sid),
  payload,
  done
})

describe("smux state: stream ids", () => {
  it("a client opens odd ids from 3, a server even ids from 2", () => {
    const client = stateOf()
    const server = stateOf({ role: "server" })
    assert.deepStrictEqual([State.allocateId(client), State.allocateId(client)], [3, 5])
    assert.deepStrictEqual([State.allocateId(server), State.allocateId(server)], [2, 4])
  })

  it("ids that wrap are exhausted for good (GoAway)", () => {
    const client = stateOf()
    client.nextId = 0xffff_fffd
    assert.strictEqual(State.allocateId(client), 0xffff_ffff)
    const error = State.allocateId(client)
    assert.isTrue(Smux.isSmuxError(error) && error.reason === "GoAway")
    client.nextId = 1 // even a counter that looks fresh again does not come back
    const again = State.allocateId(client)
    assert.isTrue(Smux.isSmuxError(again) && again.reason === "GoAway")
  })

  it("an ended session opens nothing", () => {
    const state = stateOf()
    State.terminate(state, new Smux.SmuxError({ reason: "Transport", detail: "gone" }))
    const error = State.allocateId(state)
    assert.isTrue(Smux.isSmuxError(error) && error.reason === "Transport")
  })
})

describe("smux state: frames in", () => {
  it("SYN registers a stream for accept; a second SYN for the same id is ignored", () => {
    const state = stateOf({ role: "server" })
    assert.isUndefined(feed(state, Smux.encodeFrame(Command.SYN, 3), Smux.encodeFrame(Command.SYN, 3)))
    assert.strictEqual(state.acceptPending, 1)
    assert.deepStrictEqual([...state.streams.keys()], [3])
    const taken = Effect.runSync(state.acceptQueue.takeAll)[0]
    assert.deepStrictEqual(Chunk.toArray(taken).map((stream) => stream.id), [3])
    State.accepted(state)
    assert.strictEqual(state.acceptPending, 0)
  })

  it("PSH buffers the payload and charges its length plus the per-frame overhead", () => {
    const state = stateOf()
    feed(state, Smux.encodeFrame(Command.SYN, 2), Smux.encodeFrame(Command.PSH, 2, bytes(1, 2, 3)))
    const stream = state.streams.get(2)!
    assert.strictEqual(stream.buffered, 3 + State.FRAME_OVERHEAD)
    assert.strictEqual(state.totalBuffered, 3 + State.FRAME_OVERHEAD)
    const [chunk] = Effect.runSync(stream.mailbox.takeAll)
    assert.deepStrictEqual(Chunk.toArray(chunk).map((b) => Array.from(b)), [[1, 2, 3]])
  })

  it("PSH for an unknown stream, and empty PSH, are dropped without a charge", () => {
    const state = stateOf()
    assert.isUndefined(feed(state, Smux.encodeFrame(Command.PSH, 9, bytes(1)), Smux.encodeFrame(Command.SYN, 2)))
    feed(state, Smux.encodeFrame(Command.PSH, 2))
    assert.strictEqual(state.totalBuffered, 0)
    assert.strictEqual(state.streams.get(2)!.mailbox.unsafeSize().pipe(Option.getOrElse(() => -1)), 0)
  })

  it("FIN ends the stream's reading after what is buffered, and later data is dropped", () => {
    const state = stateOf()
    feed(state, Smux.encodeFrame(Command.SYN, 2), Smux.encodeFrame(Command.PSH, 2, bytes(7)), Smux.encodeFrame(Command.FIN, 2))
    feed(state, Smux.encodeFrame(Command.PSH, 2, bytes(8)), Smux.encodeFrame(Command.FIN, 99))
    const stream = state.streams.get(2)!
    assert.isTrue(stream.remoteClosed)
    const [chunk, done] = Effect.runSync(stream.mailbox.takeAll)
    assert.deepStrictEqual(Chunk.toArray(chunk).map((b) => Array.from(b)), [[7]])
    assert.isTrue(done)
    assert.strictEqual(stream.buffered, 1 + State.FRAME_OVERHEAD) // charged until read through the handle
  })

  it("NOP only marks the session alive; a bad header is the error that ends it", () => {
    const state = stateOf()
    assert.isUndefined(feed(state, Smux.encodeFrame(Command.NOP, 0)))
    assert.isTrue(state.receivedSinceCheck)
    assert.strictEqual(state.streams.size, 0)
    const invalid = receiveBytes(state, new Uint8Array(Buffer.from("0200000003000000", "hex")))
    assert.strictEqual(invalid?.reason, "Protocol")
  })
})

describe("smux state: the receive budget", () => {
  it("a stream over maxStreamBuffer stops receiving until it is read below it", () => {
    const state = stateOf({ maxStreamBuffer: 200 })
    feed(state, Smux.encodeFrame(Command.SYN, 2), Smux.encodeFrame(Command.PSH, 2, new Uint8Array(100)))
    assert.isFalse(pauseReceiving(state))
    feed(state, Smux.encodeFrame(Command.PSH, 2, new Uint8Array(100)))
    assert.strictEqual(state.streamsOverLimit, 1)
    assert.isTrue(pauseReceiving(state))
    assert.isFalse(isOpen(state.receiveGate))
    const stream = state.streams.get(2)!
    State.release(state, stream, 100 + State.FRAME_OVERHEAD)
    assert.strictEqual(state.streamsOverLimit, 0)
    assert.strictEqual(state.totalBuffered, 100 + State.FRAME_OVERHEAD)
    assert.isTrue(isOpen(state.receiveGate))
  })

  it("the session's total and the accept backlog count too", () => {
    const total = stateOf({ maxReceiveBuffer: 150 })
    feed(total, Smux.encodeFrame(Command.SYN, 2), Smux.encodeFrame(Command.SYN, 4))
    feed(total, Smux.encodeFrame(Command.PSH, 2, new Uint8Array(50)), Smux.encodeFrame(Command.PSH, 4, new Uint8Array(50)))
    assert.isTrue(State.overBudget(total))
    const backlog = stateOf({ acceptBacklog: 2 })
    feed(backlog, Smux.encodeFrame(Command.SYN, 2))
    assert.isFalse(State.overBudget(backlog))
    feed(backlog, Smux.encodeFrame(Command.SYN, 4))
    assert.isTrue(pauseReceiving(backlog))
    State.accepted(backlog)
    assert.isTrue(isOpen(backlog.receiveGate))
  })

  it("tokensOf charges each payload its length plus the overhead", () => {
    assert.strictEqual(State.tokensOf([new Uint8Array(10), new Uint8Array(0)]), 10 + 2 * State.FRAME_OVERHEAD)
  })
})

describe("smux state: frames out", () => {
  it("SYN first, then one frame per stream in turn", () => {
    const state = stateOf()
    const a = State.newStream(state, 3)
    const b = State.newStream(state, 5)
    Write.sendSyn(state, a)
    Write.sendSyn(state, b)
    Write.enqueue(state, a, outgoing(3, bytes(1)))
    Write.enqueue(state, a, outgoing(3, bytes(2)))
    Write.enqueue(state, b, outgoing(5, bytes(9)))
    assert.deepStrictEqual(framesOut(state), [
      [Command.SYN, 3, []],
      [Command.SYN, 5, []],
      [Command.PSH, 3, [1]],
      [Command.PSH, 5, [9]],
      [Command.PSH, 3, [2]]
    ])
    assert.isUndefined(Write.takeBatch(state))
  })

  it("control frames go before any stream's, and a batch stops at writeBatchSize", () => {
    const state = stateOf({ writeBatchSize: 20 })
    const a = State.newStream(state, 3)
    for (let i = 0; i < 3; i++) Write.enqueue(state, a, outgoing(3, new Uint8Array(10).fill(i)))
    Write.enqueueControl(state, { header: Write.header(Command.NOP, 0, 0), payload: undefined, done: undefined })
    const first = Write.takeBatch(state)!
    // NOP (8) + one PSH (18) reaches 20: the rest waits for the next batch
    assert.strictEqual(first.bytes.length, 8 + 18)
    assert.strictEqual(first.bytes[1], Command.NOP)
    const rest = Write.takeBatch(state)!
    assert.strictEqual(rest.bytes.length, 18 + 18)
  })

  it.effect("write cuts bytes into maxFrameSize frames and completes once the last is written", () =>
    Effect.gen(function*() {
      const state = stateOf({ maxFrameSize: 4 })
      const a = State.newStream(state, 3)
      const writer = yield* Effect.fork(Write.write(state, a, bytes(1, 2, 3, 4, 5, 6, 7, 8, 9, 10)))
      yield* Effect.yieldNow()
      assert.isNull(writer.unsafePoll()) // waits for the writer
      assert.deepStrictEqual(framesOut(state), [
        [Command.PSH, 3, [1, 2, 3, 4]],
        [Command.PSH, 3, [5, 6, 7, 8]],
        [Command.PSH, 3, [9, 10]]
      ])
      yield* Fiber.join(writer)
    }))

  it("close forgets the stream, gives back its tokens and queues FIN; closing again does nothing", () => {
    const state = stateOf()
    feed(state, Smux.encodeFrame(Command.SYN, 2), Smux.encodeFrame(Command.PSH, 2, bytes(1, 2)))
    const stream = state.streams.get(2)!
    Effect.runSync(Write.close(state, stream))
    Effect.runSync(Write.close(state, stream))
    assert.strictEqual(state.streams.size, 0)
    assert.strictEqual(state.totalBuffered, 0)
    assert.deepStrictEqual(framesOut(state), [[Command.FIN, 2, []]])
    feed(state, Smux.encodeFrame(Command.PSH, 2, bytes(3)))
    assert.strictEqual(state.totalBuffered, 0)
    const error = Effect.runSync(Effect.flip(Write.write(state, stream, bytes(1))))
    assert.strictEqual(error.reason, "StreamClosed")
  })
})

describe("smux state: the end", () => {
  it("terminate fails queued and in-flight writes, the accept queue and `done`, once", () => {
    const state = stateOf()
    feed(state, Smux.encodeFrame(Command.SYN, 2), Smux.encodeFrame(Command.PSH, 2, bytes(5)))
    const a = State.newStream(state, 3)
    const queued = Deferred.unsafeMake<void, SmuxError>(FiberId.none)
    Write.enqueue(state, a, outgoing(3, bytes(1), queued))
    const inFlight = Deferred.unsafeMake<void, SmuxError>(FiberId.none)
    state.inFlight = [inFlight]
    const error = new Smux.SmuxError({ reason: "Transport", detail: "gone" })
    State.terminate(state, error)
    State.terminate(state, new Smux.SmuxError({ reason: "Timeout", detail: "later" }))
    assert.strictEqual(state.failure, error)
    for (const deferred of [queued, inFlight, state.done]) {
      assert.deepStrictEqual(Effect.runSync(Effect.flip(Deferred.await(deferred))), error)
    }
    assert.strictEqual(state.active.length, 0)
    // what was buffered stays readable before the failure
    const [chunk] = Effect.runSync(state.streams.get(2)!.mailbox.takeAll)
    assert.deepStrictEqual(Chunk.toArray(chunk).map((b) => Array.from(b)), [[5]])
    const fails = Effect.runSync(Effect.flip(state.streams.get(2)!.mailbox.takeAll))
    assert.strictEqual(fails, error)
    // a new write fails at once
    assert.strictEqual(Effect.runSync(Effect.flip(Write.write(state, a, bytes(1)))), error)
  })

  it("the keepalive check: silence for a period is a Timeout, any frame resets it", () => {
    const state = stateOf({ keepAlive: true })
    feed(state, Smux.encodeFrame(Command.NOP, 0))
    assert.isUndefined(State.checkAlive(state))
    assert.isFalse(state.receivedSinceCheck)
    assert.strictEqual(State.checkAlive(state)?.reason, "Timeout")
  })

  it("no Timeout while the receive budget is spent (the peer may be waiting for us)", () => {
    const state = stateOf({ maxReceiveBuffer: 100 })
    feed(state, Smux.encodeFrame(Command.SYN, 2), Smux.encodeFrame(Command.PSH, 2, new Uint8Array(100)))
    state.receivedSinceCheck = false
    assert.isUndefined(State.checkAlive(state))
  })
})
