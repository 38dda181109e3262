import { assert, describe, it } from "@effect/vitest"
import type * as Socket from "@effect/platform/Socket"
import { Deferred, Effect, Either, Exit, Fiber, Option, Stream } from "effect"
import * as AgentSimulator from "../src/AgentSimulator.js"
import * as PortForwarding from "../src/PortForwarding.js"
import { pseudoRandomBytes, sha256Hex } from "./utils/bytes.js"
import { openSession } from "./utils/session.js"
import { closedPort, countingEchoServer, echoServer } from "./utils/tcp.js"


const forward = (properties: Record<string, string>, agentVersion = "3.3.1142.0") =>
  Effect.gen(function*() {
    const simulator = yield* AgentSimulator.make({ messagesPerSecond: 0, agentVersion })
    const response = yield* simulator.startSession({ plugin: AgentSimulator.portPlugin(), properties })
    const session = yield* openSession(response)
    return yield* PortForwarding.make(session)
  })

describe("PortForwarding", () => {
  it("chooses the mode as the official client (gates 9 and 10)", () => {
    const lpf = { type: "LocalPortForwarding" }
    const mode = (properties: Record<string, string> | null, version?: string) =>
      PortForwarding.chooseMode(properties, version === undefined ? Option.none() : Option.some(version))
    assert.deepStrictEqual(mode(lpf, "3.0.196.0"), { _tag: "Basic" })
    assert.deepStrictEqual(mode(lpf, "3.0.222.0"), { _tag: "Mux", keepAlive: true })
    assert.deepStrictEqual(mode(lpf, "3.1.1511.0"), { _tag: "Mux", keepAlive: true })
    assert.deepStrictEqual(mode(lpf, "3.1.1575.0"), { _tag: "Mux", keepAlive: false })
    assert.deepStrictEqual(mode(lpf, "3.3"), { _tag: "Basic" }) // unparsable for the client's comparison
    assert.deepStrictEqual(mode(lpf), { _tag: "Basic" })
    assert.deepStrictEqual(mode({ type: "Port" }, "3.3.1142.0"), { _tag: "StandardStream" })
    assert.deepStrictEqual(mode(null, "3.3.1142.0"), { _tag: "StandardStream" })
  })

  it.scopedLive("in-process connections as Sockets through the tunnel, no local listener", () =>
    Effect.gen(function*() {
      const port = yield* echoServer
      const forwarding = yield* forward({ portNumber: String(port), type: "LocalPortForwarding" })
      assert.deepStrictEqual(forwarding.mode, { _tag: "Mux", keepAlive: false })
      yield* Effect.forEach([1, 2, 3, 4], (i) =>
        Effect.scoped(Effect.gen(function*() {
          const socket = yield* forwarding.connect
          const data = pseudoRandomBytes(300 * 1024, i)
          const received: Array<Uint8Array> = []
          let length = 0
          const done = yield* Deferred.make<void>()
          const reader = yield* Effect.fork(socket.run((bytes) => {
            received.push(bytes)
            length += bytes.length
            if (length >= data.length) Deferred.unsafeDone(done, Exit.void)
          }))
          const write = yield* socket.writer
          yield* write(data)
          yield* Deferred.await(done)
          yield* Fiber.interrupt(reader)
          assert.strictEqual(sha256Hex(Buffer.concat(received)), sha256Hex(data))
        })), { concurrency: "unbounded", discard: true })
    }))

  it.scopedLive("agent 3.1.1511.0: the client keeps smux keepalive on, and the tunnel works", () =>
    Effect.gen(function*() {
      const port = yield* echoServer
      const forwarding = yield* forward({ portNumber: String(port), type: "LocalPortForwarding" }, "3.1.1511.0")
      assert.deepStrictEqual(forwarding.mode, { _tag: "Mux", keepAlive: true })
      const stream = yield* forwarding.openStream
      yield* stream.write(new TextEncoder().encode("still works"))
      const echoed = yield* stream.readable.pipe(Stream.take(1), Stream.runCollect)
      assert.strictEqual(new TextDecoder().decode([...echoed][0]), "still works")
    }))

  it.scopedLive("a refused destination: ConnectToPortError is counted and the stream ends, nothing hangs", () =>
    Effect.gen(function*() {
      const port = yield* closedPort
      const forwarding = yield* forward({ portNumber: String(port), type: "LocalPortForwarding" })
      const stream = yield* forwarding.openStream
      yield* stream.write(new Uint8Array([1]))
      yield* Stream.runDrain(stream.readable)
      const errors = yield* forwarding.connectErrors.pipe(
        Effect.repeat({ until: (n) => n > 0, times: 100 })
      )
      assert.strictEqual(errors, 1)
    }))

  /** Writes `text` on a connection and reads the echo back. */
  const exchange = (socket: Socket.Socket, text: string) =>
    Effect.gen(function*() {
      const done = yield* Deferred.make<string>()
      let received = ""
      const reader = yield* Effect.fork(socket.run((bytes) => {
        received += new TextDecoder().decode(bytes)
        if (received.length >= text.length) Deferred.unsafeDone(done, Exit.succeed(received))
      }))
      const write = yield* socket.writer
      yield* write(text)
      const echoed = yield* Deferred.await(done)
      yield* Fiber.interrupt(reader)
      return echoed
    })

  it.scopedLive("basic mode (agent 3.0.196.0): connections take turns, each ending with DisconnectToPort", () =>
    Effect.gen(function*() {
      let connections = 0
      const port = yield* countingEchoServer(() => connections++)
      const forwarding = yield* forward({ portNumber: String(port), type: "LocalPortForwarding" }, "3.0.196.0")
      assert.deepStrictEqual(forwarding.mode, { _tag: "Basic" })
      assert.strictEqual(yield* Effect.scoped(Effect.flatMap(forwarding.connect, (s) => exchange(s, "one"))), "one")
      assert.strictEqual(yield* Effect.scoped(Effect.flatMap(forwarding.connect, (s) => exchange(s, "two"))), "two")
      // the agent closed its first connection on DisconnectToPort and dialled again for the second
      assert.strictEqual(connections, 2)
      const stream = yield* Effect.either(Effect.scoped(forwarding.openStream))
      assert.isTrue(Either.isLeft(stream) && stream.left.reason === "Unsupported")
    }))

  it.scopedLive("standard-stream mode (type not LocalPortForwarding): one plain byte pipe", () =>
    Effect.gen(function*() {
      const port = yield* echoServer
      const forwarding = yield* forward({ portNumber: String(port) })
      assert.deepStrictEqual(forwarding.mode, { _tag: "StandardStream" })
      const socket = yield* forwarding.connect
      const data = "x".repeat(5000)
      assert.strictEqual(yield* exchange(socket, data), data)
    }))
})
