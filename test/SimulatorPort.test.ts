/**
 * The simulator's Port plugin, driven by this library's Session and Smux the way port forwarding will drive it.
 */
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Fiber, Stream } from "effect"
import * as AgentSimulator from "../src/AgentSimulator.js"
import * as Session from "../src/Session.js"
import * as Smux from "../src/Smux.js"
import { pseudoRandomBytes, sha256Hex } from "./utils/bytes.js"
import { openSession } from "./utils/session.js"
import { closedPort, countingEchoServer, echoServer } from "./utils/tcp.js"



/** Smux in the client role over a Session's output, as mux port forwarding runs it. */
const smuxOver = (session: Session.Session) =>
  Smux.make({ incoming: session.output, write: session.write }, { role: "client" })

const start = (properties: Record<string, string>, options: Partial<Session.SessionOptions> = {}) =>
  Effect.gen(function*() {
    const modes: Array<{ mux: boolean; keepAlive: boolean }> = []
    const simulator = yield* AgentSimulator.make({ messagesPerSecond: 0 })
    const response = yield* simulator.startSession({
      plugin: AgentSimulator.portPlugin({ onMode: (mode) => modes.push(mode) }),
      properties
    })
    const session = yield* openSession(response, options)
    return { session, modes }
  })

describe("AgentSimulator Port plugin", () => {
  it.scopedLive("mux: smux streams dial the destination; 20 streams x 256 KiB intact", () =>
    Effect.gen(function*() {
      const port = yield* echoServer
      const { modes, session } = yield* start({ portNumber: String(port), type: "LocalPortForwarding" })
      const smux = yield* smuxOver(session)
      yield* Effect.forEach(Array.from({ length: 20 }, (_, i) => i), (i) =>
        Effect.scoped(Effect.gen(function*() {
          const data = pseudoRandomBytes(256 * 1024, 100 + i)
          const stream = yield* smux.open
          const reader = yield* Effect.fork(Stream.runFoldWhile(Smux.toStream(stream), [] as Array<Uint8Array>, (parts) =>
            parts.reduce((n, p) => n + p.length, 0) < data.length, (parts, bytes) => [...parts, bytes]))
          yield* stream.write(data)
          assert.strictEqual(sha256Hex(Buffer.concat(yield* Fiber.join(reader))), sha256Hex(data))
        })), { concurrency: 5, discard: true })
      // our ClientVersion 1.2.694.0: mux, and the agent turns smux keepalive off
      assert.deepStrictEqual(modes, [{ mux: true, keepAlive: false }])
    }))

  it.scopedLive("mux: a refused destination gives ConnectToPortError and the stream closes", () =>
    Effect.gen(function*() {
      const port = yield* closedPort
      const { session } = yield* start({ portNumber: String(port), type: "LocalPortForwarding" })
      const smux = yield* smuxOver(session)
      const flag = yield* Effect.fork(session.events.pipe(Stream.filter((e) => e._tag === "Flag"), Stream.runHead))
      const stream = yield* smux.open
      yield* stream.write(new Uint8Array([1]))
      const received = yield* Stream.runCollect(Smux.toStream(stream)) // ends: the agent closed the stream
      assert.strictEqual(Chunk.size(received), 0)
      const event = yield* Fiber.join(flag)
      assert.deepStrictEqual(event._tag === "Some" ? event.value : undefined, { _tag: "Flag", flag: 3 })
    }))

  it.scopedLive("gates: an old ClientVersion gets basic mode, 1.2.331.0 gets smux with keepalive on", () =>
    Effect.gen(function*() {
      const port = yield* echoServer
      const basic = yield* start({ portNumber: String(port), type: "LocalPortForwarding" }, { clientVersion: "1.1.69" })
      assert.deepStrictEqual(basic.modes, [{ mux: false, keepAlive: true }])
      // basic mode is a plain byte pipe: no smux framing
      yield* basic.session.write(new TextEncoder().encode("plain bytes"))
      const echoed = yield* basic.session.output.pipe(Stream.take(1), Stream.runCollect)
      assert.strictEqual(new TextDecoder().decode(Chunk.unsafeHead(echoed)), "plain bytes")
      const keepAlive = yield* start({ portNumber: String(port), type: "LocalPortForwarding" }, { clientVersion: "1.2.331.0" })
      assert.deepStrictEqual(keepAlive.modes, [{ mux: true, keepAlive: true }])
      const other = yield* start({ portNumber: String(port), type: "Standard_Stream" })
      assert.deepStrictEqual(other.modes, [{ mux: false, keepAlive: false }])
    }))

  it.scopedLive("basic: DisconnectToPort closes the connection and the next data dials again", () =>
    Effect.gen(function*() {
      let connections = 0
      const port = yield* countingEchoServer(() => connections++)
      const { session } = yield* start({ portNumber: String(port), type: "LocalPortForwarding" }, { clientVersion: "1.0.0" })
      const pull = yield* Stream.toPull(session.output)
      yield* session.write(new TextEncoder().encode("first"))
      assert.strictEqual(new TextDecoder().decode(Chunk.unsafeHead(yield* pull)), "first")
      yield* session.sendFlag(1)
      yield* session.write(new TextEncoder().encode("second"))
      assert.strictEqual(new TextDecoder().decode(Chunk.unsafeHead(yield* pull)), "second")
      assert.strictEqual(connections, 2)
    }))
})
