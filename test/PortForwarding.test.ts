import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Either, Exit, Fiber, Metric, Option, Stream } from "effect"
import * as AgentSimulator from "../src/AgentSimulator.js"
import * as PortForwarding from "../src/PortForwarding.js"
import { pseudoRandomBytes, sha256Hex } from "./utils/bytes.js"
import { simulatedAws as simulatedAwsWith } from "./utils/aws.js"
import { openSession } from "./utils/session.js"
import { exchange } from "./utils/socket.js"
import { closedPort, countingEchoServer, echoServer, greetingEchoServer } from "./utils/tcp.js"

const forward = (
  properties: Record<string, string>,
  agentVersion = "3.3.1142.0",
  onMode: (mode: { readonly mux: boolean; readonly keepAlive: boolean }) => void = () => {},
  clientVersion?: string
) =>
  Effect.gen(function*() {
    const simulator = yield* AgentSimulator.make({ messagesPerSecond: 0, agentVersion })
    const response = yield* simulator.startSession({ plugin: AgentSimulator.portPlugin({ onMode }), properties })
    const session = yield* openSession(response, clientVersion === undefined ? {} : { clientVersion })
    return yield* PortForwarding.make(session)
  })

const simulatedAws = (agentVersion?: string) => simulatedAwsWith({ agentVersion })

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

  // both ends decide independently; each row is a gate's edge, and the tunnel must work across it
  const gates: ReadonlyArray<[agent: string, client: PortForwarding.Mode, agentMode: { mux: boolean; keepAlive: boolean }]> = [
    ["3.0.196.0", { _tag: "Basic" }, { mux: false, keepAlive: true }],
    ["3.0.222.0", { _tag: "Mux", keepAlive: true }, { mux: true, keepAlive: true }],
    ["3.1.1511.0", { _tag: "Mux", keepAlive: true }, { mux: true, keepAlive: true }],
    ["3.1.1575.0", { _tag: "Mux", keepAlive: false }, { mux: true, keepAlive: false }],
    ["3.3.1142.0", { _tag: "Mux", keepAlive: false }, { mux: true, keepAlive: false }]
  ]
  for (const [agent, clientMode, agentMode] of gates) {
    it.scopedLive(`agent ${agent}: both ends choose ${clientMode._tag}, keepalive alike, and the tunnel works`, () =>
      Effect.gen(function*() {
        const port = yield* echoServer
        const modes: Array<{ mux: boolean; keepAlive: boolean }> = []
        const forwarding = yield* forward(
          { portNumber: String(port), type: "LocalPortForwarding" },
          agent,
          (mode) => modes.push(mode)
        )
        assert.deepStrictEqual(forwarding.mode, clientMode)
        assert.deepStrictEqual(modes, [agentMode])
        const text = `through ${agent}`
        assert.strictEqual(yield* Effect.scoped(Effect.flatMap(forwarding.connect, (s) => exchange(s, text))), text)
      }))
  }

  it.scopedLive("the agent's gates follow the ClientVersion: 1.2.331.0 keeps smux keepalive on, 1.1.69 gets basic", () =>
    Effect.gen(function*() {
      const port = yield* echoServer
      const modes: Array<{ mux: boolean; keepAlive: boolean }> = []
      const properties = { portNumber: String(port), type: "LocalPortForwarding" }
      yield* forward(properties, "3.3.1142.0", (mode) => modes.push(mode), "1.2.331.0")
      yield* forward(properties, "3.3.1142.0", (mode) => modes.push(mode), "1.2.332.0")
      yield* forward(properties, "3.3.1142.0", (mode) => modes.push(mode), "1.1.69")
      assert.deepStrictEqual(modes, [
        { mux: true, keepAlive: true },
        { mux: true, keepAlive: false },
        { mux: false, keepAlive: true }
      ])
    }))

  it.scopedLive("in-process connections as Sockets through the tunnel, no local listener", () =>
    Effect.gen(function*() {
      const port = yield* echoServer
      const forwarding = yield* forward({ portNumber: String(port), type: "LocalPortForwarding" })
      const before = yield* Metric.value(PortForwarding.metrics.bytesSent)
      const connectionsBefore = yield* Metric.value(PortForwarding.metrics.connections)
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
      const stats = yield* forwarding.stats
      assert.deepStrictEqual(stats, {
        connections: 4,
        activeConnections: 0,
        bytesSent: 4 * 300 * 1024,
        bytesReceived: 4 * 300 * 1024,
        connectErrors: 0
      })
      // the same as Effect metrics
      assert.strictEqual((yield* Metric.value(PortForwarding.metrics.bytesSent)).count - before.count, 4 * 300 * 1024)
      assert.strictEqual((yield* Metric.value(PortForwarding.metrics.connections)).count - connectionsBefore.count, 4)
    }))

  it.scopedLive("a refused destination: a ConnectToPortError event, the connection ends, nothing hangs", () =>
    Effect.gen(function*() {
      const port = yield* closedPort
      const forwarding = yield* forward({ portNumber: String(port), type: "LocalPortForwarding" })
      const events = yield* Effect.fork(
        forwarding.events.pipe(Stream.filter((event) => event._tag === "ConnectToPortError"), Stream.take(1), Stream.runCollect)
      )
      yield* Effect.yieldNow()
      const socket = yield* forwarding.connect
      const write = yield* socket.writer
      yield* write(new Uint8Array([1]))
      // the agent closes the stream: reading ends with nothing received
      let received = 0
      yield* socket.run((bytes) => {
        received += bytes.length
      })
      assert.strictEqual(received, 0)
      assert.strictEqual([...(yield* Fiber.join(events))].length, 1)
      assert.strictEqual((yield* forwarding.stats).connectErrors, 1)
    }))

  it.scopedLive("basic mode (agent 3.0.196.0): connections take turns, each ending with DisconnectToPort", () =>
    Effect.gen(function*() {
      let connections = 0
      const port = yield* countingEchoServer(() => connections++)
      const forwarding = yield* forward({ portNumber: String(port), type: "LocalPortForwarding" }, "3.0.196.0")
      assert.deepStrictEqual(forwarding.mode, { _tag: "Basic" })
      assert.strictEqual(yield* Effect.scoped(Effect.flatMap(forwarding.connect, (s) => exchange(s, "one"))), "one")
      assert.strictEqual(yield* Effect.scoped(Effect.flatMap(forwarding.connect, (s) => exchange(s, "two"))), "two")
      // concurrent connections wait for their turn
      const results = yield* Effect.forEach(["three", "four", "five"], (text) =>
        Effect.scoped(Effect.flatMap(forwarding.connect, (s) => exchange(s, text))), { concurrency: "unbounded" })
      assert.deepStrictEqual(results, ["three", "four", "five"])
      // the agent closed each connection on DisconnectToPort and dialled again for the next
      assert.strictEqual(connections, 5)
      const stream = yield* Effect.either(Effect.scoped(forwarding.openStream))
      assert.isTrue(Either.isLeft(stream) && stream.left.reason === "Unsupported")
    }))

  it.scopedLive("basic mode keeps a destination's greeting, sent before any connection, for the first connection", () =>
    Effect.gen(function*() {
      const port = yield* greetingEchoServer("HELLO ")
      const forwarding = yield* forward({ portNumber: String(port), type: "LocalPortForwarding" }, "3.0.196.0")
      const echoed = yield* Effect.scoped(Effect.flatMap(forwarding.connect, (s) => exchange(s, "x")))
      assert.isTrue(echoed.startsWith("HELLO "))
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

  it.live("a session of another type is a typed error", () =>
    Effect.gen(function*() {
      const simulator = yield* AgentSimulator.make({ messagesPerSecond: 0 })
      const response = yield* simulator.startSession({ plugin: AgentSimulator.echoPlugin({ sessionType: "Standard_Stream" }) })
      const session = yield* openSession(response)
      const result = yield* Effect.either(PortForwarding.make(session))
      assert.isTrue(Either.isLeft(result) && result.left.reason === "NotAPortSession")
    }).pipe(Effect.scoped))
})

describe("PortForwarding.start", () => {
  it.scopedLive("to an instance port: StartSession with the document, forwarding, TerminateSession flag on close", () =>
    Effect.gen(function*() {
      const port = yield* echoServer
      const aws = yield* simulatedAws()
      const sessionId = yield* Effect.scoped(Effect.gen(function*() {
        const forwarding = yield* PortForwarding.toInstancePort({ target: "i-0123456789abcdef0", portNumber: port })
        assert.strictEqual(yield* Effect.scoped(Effect.flatMap(forwarding.connect, (s) => exchange(s, "hi"))), "hi")
        return forwarding.session.sessionId
      })).pipe(Effect.provide(aws.context))
      assert.deepStrictEqual(aws.requests, [{
        target: "i-0123456789abcdef0",
        documentName: "AWS-StartPortForwardingSession",
        parameters: { portNumber: [String(port)] },
        reason: undefined
      }])
      const stats = yield* aws.simulator.sessionStats(sessionId)
      assert.strictEqual(stats?.terminateFlags, 1)
      assert.isTrue(stats?.closed)
      assert.isFalse(stats?.terminatedByApi)
    }))

  it.scopedLive("to a remote host: the ToRemoteHost document with its host parameter", () =>
    Effect.gen(function*() {
      const port = yield* echoServer
      const aws = yield* simulatedAws()
      yield* Effect.scoped(Effect.gen(function*() {
        const forwarding = yield* PortForwarding.toRemoteHost({ target: "i-1", host: "127.0.0.1", portNumber: port })
        assert.deepStrictEqual(forwarding.session.properties?.["host"], "127.0.0.1")
        assert.strictEqual(yield* Effect.scoped(Effect.flatMap(forwarding.connect, (s) => exchange(s, "db"))), "db")
      })).pipe(Effect.provide(aws.context))
      assert.strictEqual(aws.requests[0]?.documentName, "AWS-StartPortForwardingSessionToRemoteHost")
      assert.deepStrictEqual(aws.requests[0]?.parameters, { portNumber: [String(port)], host: ["127.0.0.1"] })
    }))

  it.scopedLive("an old agent (2.3.700.0) ignores the flag: closing falls back to the TerminateSession API", () =>
    Effect.gen(function*() {
      const port = yield* echoServer
      const aws = yield* simulatedAws("2.3.700.0")
      const sessionId = yield* Effect.scoped(Effect.gen(function*() {
        const forwarding = yield* PortForwarding.toInstancePort({ target: "i-1", portNumber: port })
        assert.deepStrictEqual(forwarding.mode, { _tag: "Basic" })
        assert.strictEqual(yield* Effect.scoped(Effect.flatMap(forwarding.connect, (s) => exchange(s, "old"))), "old")
        return forwarding.session.sessionId
      })).pipe(Effect.provide(aws.context))
      const stats = yield* aws.simulator.sessionStats(sessionId)
      assert.strictEqual(stats?.terminateFlags, 0)
      assert.isTrue(stats?.terminatedByApi)
    }))

  it.scopedLive("a port out of range is a typed error before any API call", () =>
    Effect.gen(function*() {
      const aws = yield* simulatedAws()
      const result = yield* Effect.either(
        Effect.scoped(PortForwarding.toInstancePort({ target: "i-1", portNumber: 70000 })).pipe(Effect.provide(aws.context))
      )
      assert.isTrue(Either.isLeft(result) && PortForwarding.isPortForwardingError(result.left) &&
        result.left.reason === "InvalidOptions")
      assert.strictEqual(aws.requests.length, 0)
    }))
})
