import { assert, describe, it } from "@effect/vitest"
import { Chunk, Deferred, Effect, Exit, Fiber, FastCheck as fc, Option, Scope, Stream, TestClock } from "effect"
import * as Socket from "@effect/platform/Socket"
import * as Smux from "../src/Smux.js"
import { Command, type Frame, FrameDecoder } from "../src/internal/smux/smuxFrame.js"
import { concatBytes, pseudoRandomBytes, sha256Hex } from "./utils/bytes.js"

const toHex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex")

/** Reads exactly `length` bytes from a stream (the peer may keep it open). */
const readExactly = (stream: Smux.SmuxStream, length: number) =>
  Smux.toStream(stream).pipe(
    Stream.mapAccum(0, (total, bytes) => [total + bytes.length, bytes] as const),
    Stream.takeUntil((bytes) => bytes.length === 0),
    Stream.runFoldWhile(
      [] as Array<Uint8Array>,
      (parts) => parts.reduce((n, p) => n + p.length, 0) < length,
      (parts, bytes) => [...parts, bytes]
    ),
    Effect.map(concatBytes)
  )

const echoHandler = (stream: Smux.SmuxStream) => Stream.run(Smux.toStream(stream), stream.sink)

/** A client and a server session over an in-memory pair, the server echoing every stream. */
const echoPair = (options: {
  readonly chunkSize?: number
  readonly client?: Partial<Smux.SmuxOptions>
  readonly server?: Partial<Smux.SmuxOptions>
} = {}) =>
  Effect.gen(function*() {
    const [a, b] = yield* Smux.makeMemoryPair({ chunkSize: options.chunkSize })
    const client = yield* Smux.make(a, { ...options.client, role: "client" })
    const server = yield* Smux.make(b, { ...options.server, role: "server" })
    yield* Effect.forkScoped(server.serve(echoHandler))
    return { client, server }
  })

/** Sends `data` on a new stream and reads the echo while writing. */
const roundTrip = (client: Smux.Smux, data: Uint8Array) =>
  Effect.scoped(Effect.gen(function*() {
    const stream = yield* client.open
    const reader = yield* Effect.fork(readExactly(stream, data.length))
    yield* stream.write(data)
    return yield* Fiber.join(reader)
  }))

describe("Smux frame codec", () => {
  it("encodes the worked example of SMUX.md section 12", () => {
    assert.strictEqual(toHex(Smux.encodeFrame(Command.SYN, 3)), "0100000003000000")
    assert.strictEqual(toHex(Smux.encodeFrame(Command.PSH, 3, new TextEncoder().encode("hello"))), "01020500030000006865" + "6c6c6f")
    assert.strictEqual(toHex(Smux.encodeFrame(Command.FIN, 3)), "0101000003000000")
    assert.strictEqual(toHex(Smux.encodeFrame(Command.NOP, 0)), "0103000000000000")
    assert.strictEqual(toHex(Smux.encodeFrame(Command.PSH, 0x04030201, new Uint8Array(32768)).subarray(0, 8)), "0102008001020304")
  })

  const arbitraryFrame = fc.oneof(
    fc.record({
      cmd: fc.constantFrom(Command.SYN, Command.FIN, Command.NOP),
      sid: fc.nat({ max: 0xffff_ffff }),
      payload: fc.constant(new Uint8Array(0))
    }),
    fc.record({
      cmd: fc.constant(Command.PSH),
      sid: fc.nat({ max: 0xffff_ffff }),
      payload: fc.uint8Array({ maxLength: 3000 })
    })
  )

  it("decodes arbitrary frames under arbitrary re-chunking, including 1-byte chunks", () => {
    fc.assert(
      fc.property(fc.array(arbitraryFrame, { maxLength: 20 }), fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1 }), fc.boolean(), (frames, cuts, singleBytes) => {
        const wire = concatBytes(frames.map((f) => Smux.encodeFrame(f.cmd, f.sid, f.payload)))
        const decoded: Array<Frame> = []
        const decoder = new FrameDecoder()
        let offset = 0
        let cut = 0
        while (offset < wire.length) {
          const size = singleBytes ? 1 : cuts[cut++ % cuts.length]!
          assert.isUndefined(decoder.push(wire.subarray(offset, offset + size), (frame) => decoded.push(frame)))
          offset += size
        }
        assert.strictEqual(decoder.pending, 0)
        assert.deepStrictEqual(
          decoded.map((f) => [f.cmd, f.sid, toHex(f.payload)]),
          frames.map((f) => [f.cmd, f.sid, toHex(f.payload)])
        )
      }),
      { numRuns: 500 }
    )
  })

  it("refuses bad input with a reason and stays failed", () => {
    const cases: ReadonlyArray<[string, string]> = [
      ["0200000003000000", "Protocol"], // version 2
      ["0100080003000000" + "0100000000000000", "Protocol"], // SYN with a length (xtaci would desync)
      ["0101010003000000" + "00", "Protocol"], // FIN with a length
      ["0104080003000000" + "0500000000000100", "Protocol"], // UPD on v1
      ["0107000003000000", "Protocol"] // unknown command
    ]
    for (const [hex, reason] of cases) {
      const decoder = new FrameDecoder()
      const error = decoder.push(new Uint8Array(Buffer.from(hex, "hex")), () => {})
      assert.strictEqual(error?.reason, reason, hex)
      assert.strictEqual(decoder.push(Smux.encodeFrame(Command.NOP, 0), () => assert.fail("decoded after failure"))?.reason, reason)
    }
    const limited = new FrameDecoder(1024)
    assert.strictEqual(limited.push(Smux.encodeFrame(Command.PSH, 3, new Uint8Array(1025)), () => {})?.reason, "FrameTooLarge")
  })

  it("random bytes never throw", () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 10 }), (chunks) => {
        const decoder = new FrameDecoder()
        for (const chunk of chunks) decoder.push(chunk, () => {})
      }),
      { numRuns: 5000 }
    )
  })
})

describe("Smux sessions over an in-memory pair", () => {
  it.scoped("client stream ids are odd from 3, server ids even from 2", () =>
    Effect.gen(function*() {
      const [a, b] = yield* Smux.makeMemoryPair()
      const client = yield* Smux.make(a, { role: "client" })
      const server = yield* Smux.make(b, { role: "server" })
      const ids = [(yield* client.open).id, (yield* client.open).id, (yield* server.open).id, (yield* server.open).id]
      assert.deepStrictEqual(ids, [3, 5, 2, 4])
      const accepted = [(yield* server.accept).id, (yield* client.accept).id]
      assert.deepStrictEqual(accepted, [3, 2])
    }))

  it.scoped("4 MiB on one stream, cut into 1024-byte transport chunks, echoes intact", () =>
    Effect.gen(function*() {
      const { client } = yield* echoPair({ chunkSize: 1024 })
      const data = pseudoRandomBytes(4 * 1024 * 1024, 1)
      const echoed = yield* roundTrip(client, data)
      assert.strictEqual(sha256Hex(echoed), sha256Hex(data))
    }))

  it.scoped("200 concurrent streams each echo their own 20 KiB", () =>
    Effect.gen(function*() {
      const { client, server } = yield* echoPair({ chunkSize: 1024 })
      yield* Effect.forEach(Array.from({ length: 200 }, (_, i) => i), (i) =>
        Effect.gen(function*() {
          const data = pseudoRandomBytes(20 * 1024, i + 7)
          const echoed = yield* roundTrip(client, data)
          assert.strictEqual(sha256Hex(echoed), sha256Hex(data))
        }), { concurrency: "unbounded", discard: true })
      // every stream was closed by both sides
      assert.strictEqual(yield* client.streamCount, 0)
      // the server forgets each stream once our FIN has crossed the pair and its handler has closed
      const serverCount = yield* server.streamCount.pipe(
        Effect.tap(() => Effect.yieldNow()),
        Effect.repeat({ until: (n) => n === 0, times: 10_000 })
      )
      assert.strictEqual(serverCount, 0)
    }))

  it.scoped("FIN both ways: the peer's FIN ends our reading, our close ends theirs", () =>
    Effect.gen(function*() {
      const [a, b] = yield* Smux.makeMemoryPair()
      const client = yield* Smux.make(a, { role: "client" })
      const server = yield* Smux.make(b, { role: "server" })
      const serverDone = yield* Deferred.make<string>()
      yield* Effect.forkScoped(server.serve((stream) =>
        Effect.gen(function*() {
          const received = yield* readExactly(stream, 5)
          yield* stream.write(new TextEncoder().encode("world"))
          yield* Deferred.succeed(serverDone, new TextDecoder().decode(received))
        })
      ))
      const stream = yield* client.open
      yield* stream.write(new TextEncoder().encode("hello"))
      const reply = yield* Stream.runCollect(Smux.toStream(stream))
      assert.strictEqual(new TextDecoder().decode(concatBytes(Chunk.toArray(reply))), "world")
      assert.strictEqual(yield* Deferred.await(serverDone), "hello")
      // the client's readable ended because the server closed (FIN); writing after our close fails
      yield* stream.close
      const error = yield* Effect.flip(stream.write(new Uint8Array([1])))
      assert.strictEqual(error.reason, "StreamClosed")
    }))

  it.scoped("interrupting a stream's user sends FIN and frees the stream", () =>
    Effect.gen(function*() {
      const [a, b] = yield* Smux.makeMemoryPair()
      const client = yield* Smux.make(a, { role: "client" })
      const server = yield* Smux.make(b, { role: "server" })
      const user = yield* Effect.fork(Effect.scoped(Effect.gen(function*() {
        const stream = yield* client.open
        yield* stream.write(new Uint8Array([42]))
        yield* Stream.runDrain(Smux.toStream(stream)) // blocks: the server never answers
      })))
      const accepted = yield* server.accept
      const collected = yield* Effect.fork(Stream.runCollect(Smux.toStream(accepted)))
      assert.strictEqual(yield* client.streamCount, 1)
      yield* Fiber.interrupt(user)
      const data = yield* Fiber.join(collected) // ends: FIN arrived
      assert.deepStrictEqual(Chunk.toArray(data).map((bytes) => Array.from(bytes)), [[42]])
      assert.strictEqual(yield* client.streamCount, 0)
    }))

  it.effect("closing the Smux scope sends FIN for every open stream and ends local streams", () =>
    Effect.gen(function*() {
      const outer = yield* Scope.make()
      const [a, b] = yield* Scope.extend(Smux.makeMemoryPair(), outer)
      const server = yield* Scope.extend(Smux.make(b, { role: "server" }), outer)
      const clientScope = yield* Scope.make()
      const client = yield* Scope.extend(Smux.make(a, { role: "client" }), clientScope)
      const local = yield* Effect.forEach([1, 2, 3], () => Scope.extend(client.open, clientScope))
      const remote = yield* Effect.forEach(local, () => Scope.extend(server.accept, outer))
      const ends = yield* Effect.forEach(remote, (stream) => Effect.fork(Stream.runDrain(Smux.toStream(stream))))
      yield* Scope.close(clientScope, Exit.void)
      for (const fiber of ends) assert.isTrue(Exit.isSuccess(yield* Fiber.await(fiber)))
      const localError = yield* Effect.flip(local[0]!.write(new Uint8Array(1)))
      assert.include(["StreamClosed", "SessionClosed"], localError.reason)
      assert.strictEqual((yield* Effect.flip(client.await)).reason, "SessionClosed")
      yield* Scope.close(outer, Exit.void)
    }))

  it.scoped("a slow reader stops the session pulling the transport: buffered bytes stay bounded, nothing is lost", () =>
    Effect.gen(function*() {
      const [a, b] = yield* Smux.makeMemoryPair({ chunkSize: 1024, capacity: 16 })
      const budget = 256 * 1024
      const client = yield* Smux.make(a, { role: "client", maxReceiveBuffer: budget })
      const server = yield* Smux.make(b, { role: "server" })
      const total = 8 * 1024 * 1024
      const data = pseudoRandomBytes(total, 99)
      const sent = yield* Deferred.make<void>()
      yield* Effect.forkScoped(server.serve((stream) =>
        Effect.zipRight(stream.write(data), Deferred.succeed(sent, undefined))
      ))
      const stream = yield* client.open
      yield* stream.write(new Uint8Array([0])) // let the server accept
      // nobody reads: let everything settle, then look at the buffer
      for (let i = 0; i < 200; i++) yield* Effect.yieldNow()
      const buffered = yield* client.bufferedBytes
      assert.isAbove(buffered, 0)
      // one frame (32 KiB plus charge) may overshoot the budget, as in xtaci/smux
      assert.isAtMost(buffered, budget + 33 * 1024)
      assert.isFalse(yield* Deferred.isDone(sent))
      const received = yield* readExactly(stream, total)
      assert.strictEqual(sha256Hex(received), sha256Hex(data))
      yield* Deferred.await(sent)
    }))

  it.scoped("a protocol error ends the session with a typed error and fails its streams", () =>
    Effect.gen(function*() {
      const [a, b] = yield* Smux.makeMemoryPair()
      const client = yield* Smux.make(a, { role: "client" })
      const stream = yield* client.open
      yield* b.write(new Uint8Array(Buffer.from("0100080003000000", "hex"))) // SYN with a length
      const error = yield* Effect.flip(client.await)
      assert.strictEqual(error.reason, "Protocol")
      assert.strictEqual((yield* Effect.flip(Stream.runDrain(Smux.toStream(stream)))).reason, "Protocol")
      assert.strictEqual((yield* Effect.flip(stream.write(new Uint8Array(1)))).reason, "Protocol")
      assert.strictEqual((yield* Effect.flip(client.open)).reason, "Protocol")
    }))

  it.scoped("a failing transport write fails pending writes and closing still completes", () =>
    Effect.gen(function*() {
      const [a] = yield* Smux.makeMemoryPair()
      const broken: Smux.Transport<string> = { incoming: a.incoming, write: () => Effect.fail("connection reset") }
      const client = yield* Smux.make(broken, { role: "client" })
      const stream = yield* client.open
      const error = yield* Effect.flip(stream.write(new Uint8Array(10)))
      assert.strictEqual(error.reason, "Transport")
      assert.strictEqual(error.cause, "connection reset")
      yield* stream.close
      assert.strictEqual((yield* Effect.flip(client.await)).reason, "Transport")
    }))

  it.scoped("closing a stream never waits on a transport that stopped taking writes (a peer gone silent)", () =>
    Effect.gen(function*() {
      const stuck: Smux.Transport = { incoming: Stream.never, write: () => Effect.never }
      const client = yield* Smux.make(stuck, { role: "client" })
      const stream = yield* Effect.scoped(Effect.gen(function*() {
        const stream = yield* client.open
        // the SYN is stuck in the transport: this write can never complete, and interrupting it is fine
        yield* Effect.fork(stream.write(new Uint8Array(10)))
        return stream
      }))
      // the scope closed (FIN queued, not awaited); later writes are refused
      assert.strictEqual((yield* Effect.flip(stream.write(new Uint8Array(1)))).reason, "StreamClosed")
    }))

  it.scoped("pull is the one way to read: chunks in order, frees the budget, fails with None after the peer's FIN", () =>
    Effect.gen(function*() {
      const [a, b] = yield* Smux.makeMemoryPair()
      const client = yield* Smux.make(a, { role: "client" })
      const stream = yield* client.open
      yield* b.write(Smux.encodeFrame(Command.PSH, stream.id, new Uint8Array([1, 2])))
      yield* b.write(Smux.encodeFrame(Command.PSH, stream.id, new Uint8Array([3])))
      yield* b.write(Smux.encodeFrame(Command.FIN, stream.id))
      const received: Array<number> = []
      while (received.length < 3) {
        for (const bytes of yield* stream.pull) received.push(...bytes)
      }
      assert.deepStrictEqual(received, [1, 2, 3])
      assert.strictEqual(yield* client.bufferedBytes, 0)
      const end = yield* Effect.flip(stream.pull)
      assert.isTrue(Option.isNone(end))
      // the adapter over an ended pull is an empty Stream
      assert.strictEqual(Chunk.size(yield* Stream.runCollect(Smux.toStream(stream))), 0)
    }))

  it.scoped("data and FIN for unknown stream ids are ignored, as xtaci/smux does", () =>
    Effect.gen(function*() {
      const [a, b] = yield* Smux.makeMemoryPair()
      const client = yield* Smux.make(a, { role: "client" })
      yield* b.write(Smux.encodeFrame(Command.PSH, 77, new Uint8Array(100)))
      yield* b.write(Smux.encodeFrame(Command.FIN, 77))
      yield* b.write(Smux.encodeFrame(Command.NOP, 0))
      const stream = yield* client.open
      yield* b.write(Smux.encodeFrame(Command.PSH, stream.id, new Uint8Array([5])))
      const first = yield* Stream.runHead(Smux.toStream(stream))
      assert.deepStrictEqual(first._tag === "Some" ? Array.from(first.value) : [], [5])
      assert.strictEqual(yield* client.bufferedBytes, 0)
    }))

  it.scoped("the writer interleaves streams: a 1-byte write is not queued behind a 4 MiB upload", () =>
    Effect.gen(function*() {
      const [a, b] = yield* Smux.makeMemoryPair({ capacity: 1 })
      const wire: Array<Uint8Array> = []
      const tapped: Smux.Transport<never> = {
        incoming: a.incoming,
        write: (bytes) => Effect.zipRight(Effect.sync(() => wire.push(bytes)), a.write(bytes))
      }
      const client = yield* Smux.make(tapped, { role: "client" })
      const server = yield* Smux.make(b, { role: "server" })
      yield* Effect.forkScoped(server.serve((stream) => Stream.runDrain(Smux.toStream(stream))))
      const bulk = yield* client.open
      const small = yield* client.open
      const upload = yield* Effect.fork(bulk.write(new Uint8Array(4 * 1024 * 1024)))
      yield* Effect.yieldNow()
      yield* small.write(new Uint8Array([1]))
      // find the batch holding the small stream's PSH: it must come before most of the bulk upload
      const decoder = new FrameDecoder()
      let bulkBytesBefore = 0
      let seen = false
      for (const batch of wire) {
        decoder.push(batch, (frame) => {
          if (frame.cmd !== Command.PSH || seen) return
          if (frame.sid === small.id) seen = true
          else bulkBytesBefore += frame.payload.length
        })
        if (seen) break
      }
      assert.isTrue(seen)
      assert.isAtMost(bulkBytesBefore, 256 * 1024)
      yield* Fiber.join(upload)
    }))

  it.scoped("keepalive: a NOP every interval, and silence for a whole timeout ends the session", () =>
    Effect.gen(function*() {
      const [a, b] = yield* Smux.makeMemoryPair()
      const client = yield* Smux.make(a, { role: "client", keepAlive: true })
      const nops = yield* Effect.fork(Stream.runCollect(Stream.take(b.incoming, 2)))
      yield* TestClock.adjust("20 seconds")
      const received = yield* Fiber.join(nops)
      assert.deepStrictEqual(Chunk.toArray(received).map(toHex), ["0103000000000000", "0103000000000000"])
      // the peer (b) never sends anything: the first check at 30 s finds no frame
      yield* TestClock.adjust("10 seconds")
      assert.strictEqual((yield* Effect.flip(client.await)).reason, "Timeout")
    }))

  it.scoped("keepalive: a peer that sends frames keeps the session alive", () =>
    Effect.gen(function*() {
      const [a, b] = yield* Smux.makeMemoryPair()
      const client = yield* Smux.make(a, { role: "client", keepAlive: true })
      const peer = yield* Smux.make(b, { role: "server", keepAlive: true })
      const ended = yield* Effect.fork(Effect.either(Effect.race(client.await, peer.await)))
      yield* TestClock.adjust("125 seconds")
      assert.isTrue((yield* Fiber.poll(ended))._tag === "None")
      const stream = yield* client.open
      yield* stream.write(new Uint8Array([1]))
      const accepted = yield* peer.accept
      assert.strictEqual(accepted.id, stream.id)
    }))

  it.scoped("a stream works as an @effect/platform Socket", () =>
    Effect.gen(function*() {
      const { client } = yield* echoPair()
      const stream = yield* client.open
      const socket = Smux.toSocket(stream)
      const write = yield* socket.writer
      const received: Array<string> = []
      const done = yield* Deferred.make<void>()
      yield* Effect.forkScoped(socket.run((data) => {
        received.push(new TextDecoder().decode(data))
        if (received.join("") === "ping pong") Deferred.unsafeDone(done, Exit.void)
      }))
      yield* write("ping ")
      yield* write(new TextEncoder().encode("pong"))
      yield* Deferred.await(done)
      yield* write(new Socket.CloseEvent())
      assert.strictEqual((yield* Effect.flip(write("late"))).reason, "Write")
    }))
})

describe("Smux: closing is bounded", () => {
  it.scopedLive("closing a session whose transport stopped taking writes returns within the 1 s flush deadline", () =>
    Effect.gen(function*() {
      let writes = 0
      const stalled = yield* Deferred.make<void>()
      // takes the SYN, then never completes another write: a peer that stopped reading
      const transport: Smux.Transport<never> = {
        incoming: Stream.never,
        write: () => Effect.suspend(() => ++writes <= 1 ? Effect.void : Effect.zipRight(Deferred.succeed(stalled, undefined), Effect.never))
      }
      const scope = yield* Scope.make()
      const smux = yield* Scope.extend(Smux.make(transport, { role: "client" }), scope)
      // the stream outlives the session's scope: closing the session flushes its FIN, which cannot be written
      const stream = yield* smux.open
      yield* Effect.fork(stream.write(new Uint8Array(10)))
      yield* Deferred.await(stalled)
      const start = Date.now()
      yield* Scope.close(scope, Exit.void)
      assert.isBelow(Date.now() - start, 3_000)
    }))
})
