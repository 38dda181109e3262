import { assert, describe, it } from "@effect/vitest"
import { Chunk, Config, ConfigProvider, Context, Deferred, Effect, Either, Exit, Fiber, Layer, Metric, Option, Redacted, Scope, Stream } from "effect"
import * as AgentMessage from "../src/AgentMessage.js"
import * as AgentSimulator from "../src/AgentSimulator.js"
import * as NodeSession from "../src/NodeSession.js"
import * as Session from "../src/Session.js"
import { pseudoRandomBytes, sha256Hex } from "./utils/bytes.js"
import { pollUntil } from "./utils/poll.js"
import { openSession } from "./utils/session.js"

const open = openSession

/** Reads exactly `length` bytes of output. */
const readOutput = (session: Session.Session, length: number) =>
  session.output.pipe(
    Stream.runFoldWhile({ parts: [] as Array<Uint8Array>, length: 0 }, (acc) => acc.length < length, (acc, bytes) => {
      acc.parts.push(bytes)
      return { parts: acc.parts, length: acc.length + bytes.length }
    }),
    Effect.map((acc) => Buffer.concat(acc.parts))
  )

/** Writes `data` while reading the same number of bytes back from the echo plugin. */
const echoRoundTrip = (session: Session.Session, data: Uint8Array) =>
  Effect.gen(function*() {
    const reader = yield* Effect.fork(readOutput(session, data.length))
    yield* session.write(data)
    return yield* Fiber.join(reader)
  })

const simulator = (options: AgentSimulator.SimulatorOptions = {}) =>
  AgentSimulator.make({ messagesPerSecond: 0, ...options })

describe("Session against the agent simulator", () => {
  it.scopedLive("Port: handshake facts, then 1 MiB echoed intact", () =>
    Effect.gen(function*() {
      const sim = yield* simulator({ agentVersion: "3.3.1142.0" })
      const response = yield* sim.startSession({
        plugin: AgentSimulator.echoPlugin(),
        properties: { portNumber: "80", type: "LocalPortForwarding" }
      })
      const session = yield* open(response)
      assert.strictEqual(session.sessionType, "Port")
      assert.deepStrictEqual(session.agentVersion, Option.some("3.3.1142.0"))
      assert.deepStrictEqual(session.properties, { portNumber: "80", type: "LocalPortForwarding" })
      assert.strictEqual(session.clientVersion, "1.2.694.0")
      const data = pseudoRandomBytes(1024 * 1024, 3)
      assert.strictEqual(sha256Hex(yield* echoRoundTrip(session, data)), sha256Hex(data))
      const stats = yield* session.stats
      assert.strictEqual(stats.messagesSent, 1024 + 1) // the data and the HandshakeResponse
      assert.isAtLeast(stats.messagesReceived, 1024 + 2)
    }))

  it.scopedLive("pings the WebSocket at open and counts in Effect metrics", () =>
    Effect.gen(function*() {
      const sent = yield* Metric.value(Session.metrics.messagesSent)
      const sim = yield* simulator()
      const response = yield* sim.startSession({ plugin: AgentSimulator.echoPlugin() })
      const session = yield* open(response)
      yield* echoRoundTrip(session, new Uint8Array(3000))
      const after = yield* Metric.value(Session.metrics.messagesSent)
      assert.isAtLeast(after.count - sent.count, 4) // the handshake response and three Output messages
      const rto = (yield* Metric.value(Session.metrics.rto)).value
      assert.isTrue(rto >= 200 && rto <= 1000, `RTO gauge ${rto}`)
      const stats = yield* waitFor(sim.sessionStats(response.SessionId), (s) => (s?.pings ?? 0) > 0)
      assert.isAtLeast(stats?.pings ?? 0, 1)
    }))

  it.scopedLive("layerConfig reads the StartSession response from Config", () =>
    Effect.gen(function*() {
      const sim = yield* simulator()
      const response = yield* sim.startSession({ plugin: AgentSimulator.echoPlugin() })
      const config = ConfigProvider.fromMap(new Map([
        ["SESSION_ID", response.SessionId],
        ["STREAM_URL", response.StreamUrl],
        ["TOKEN_VALUE", Redacted.value(response.TokenValue)]
      ]))
      const layer = Session.layerConfig({
        sessionId: Config.string("SESSION_ID"),
        streamUrl: Config.string("STREAM_URL"),
        tokenValue: Config.redacted("TOKEN_VALUE")
      }).pipe(Layer.provide(NodeSession.layerWebSocketConstructor), Layer.provide(Layer.setConfigProvider(config)))
      const echoed = yield* Effect.scoped(Effect.flatMap(Layer.build(layer), (context) =>
        echoRoundTrip(Context.get(context, Session.Session), new TextEncoder().encode("configured"))))
      assert.strictEqual(echoed.toString(), "configured")
    }))

  describe("16 MiB each way, verified by SHA-256, under seeded faults", () => {
    const size = 16 * 1024 * 1024
    const both = (faults: AgentSimulator.DirectionFaults) => ({ toClient: faults, toAgent: faults })
    const cases: ReadonlyArray<[string, AgentSimulator.Faults]> = [
      ["no fault", {}],
      ["drop 2%", both({ drop: 0.02 })],
      ["duplicate 5%", both({ duplicate: 0.05 })],
      ["reorder 5%", both({ reorder: 0.05 })],
      ["delay 2% by 30 ms", both({ delay: 0.02, delayMillis: 30 })],
      ["garbage frames 1%", { garbage: 0.01 }],
      ["all together", {
        ...both({ drop: 0.01, duplicate: 0.02, reorder: 0.02, delay: 0.01, delayMillis: 20 }),
        garbage: 0.005,
        pausePublication: { everyMillis: 700, forMillis: 100 }
      }]
    ]
    cases.forEach(([name, faults], index) => {
      it.scopedLive(name, () =>
        Effect.gen(function*() {
          const sim = yield* simulator()
          const response = yield* sim.startSession({
            plugin: AgentSimulator.echoPlugin(),
            faults: { seed: 1000 + index, ...faults }
          })
          const session = yield* open(response)
          const data = pseudoRandomBytes(size, 11 + index)
          const echoed = yield* echoRoundTrip(session, data)
          assert.strictEqual(echoed.length, size)
          assert.strictEqual(sha256Hex(echoed), sha256Hex(data))
          const stats = yield* session.stats
          // nothing unbounded: the reorder buffer and the delivery buffer stay within their limits
          assert.isAtMost(stats.reorderDepth, 1024)
          assert.isAtMost(stats.peakBufferedBytes, 2 * 1024 * 1024 + 64 * 1024)
        }), 120_000)
    })
  })

  describe("handshake", () => {
    it.scopedLive("a duplicated HandshakeRequest is answered exactly once", () =>
      Effect.gen(function*() {
        const sim = yield* simulator()
        const response = yield* sim.startSession({
          plugin: AgentSimulator.echoPlugin(),
          faults: { toClient: { duplicate: 1 } }
        })
        const session = yield* open(response)
        const data = pseudoRandomBytes(64 * 1024, 5)
        assert.strictEqual(sha256Hex(yield* echoRoundTrip(session, data)), sha256Hex(data))
        const stats = yield* sim.sessionStats(response.SessionId)
        assert.strictEqual(stats?.handshakeResponses, 1)
      }))

    it.scopedLive("a KMS request without a KmsApi to answer it gives the typed EncryptionRequired error", () =>
      Effect.gen(function*() {
        const sim = yield* simulator()
        const response = yield* sim.startSession({
          plugin: AgentSimulator.echoPlugin({ sessionType: "Standard_Stream" }),
          kmsKeyId: "arn:aws:kms:us-east-1:111122223333:key/sim"
        })
        const result = yield* Effect.either(open(response))
        assert.isTrue(Either.isLeft(result))
        if (Either.isLeft(result)) {
          assert.strictEqual(result.left.reason, "EncryptionRequired")
          assert.include(result.left.message, "KMS")
        }
      }))

    it.scopedLive("a shell without KMS has no handshake: the first output makes the session ready", () =>
      Effect.gen(function*() {
        const sim = yield* simulator()
        const response = yield* sim.startSession({
          plugin: AgentSimulator.echoPlugin({
            sessionType: "Standard_Stream",
            requireHandshake: false,
            greeting: new TextEncoder().encode("sh-5.2$ ")
          })
        })
        const session = yield* open(response)
        assert.strictEqual(session.sessionType, "Standard_Stream")
        assert.isTrue(Option.isNone(session.agentVersion))
        const prompt = yield* readOutput(session, 8)
        assert.strictEqual(prompt.toString(), "sh-5.2$ ")
        const echoed = yield* echoRoundTrip(session, new TextEncoder().encode("ls\r"))
        assert.strictEqual(echoed.toString(), "ls\r")
      }))

    it.scopedLive("a wrong token never opens", () =>
      Effect.gen(function*() {
        const sim = yield* simulator()
        const response = yield* sim.startSession({ plugin: AgentSimulator.echoPlugin() })
        const result = yield* Effect.either(open(response, { tokenValue: Redacted.make("not-the-token") }))
        assert.isTrue(Either.isLeft(result))
      }))
  })

  describe("the end of a session", () => {
    for (const short of [false, true]) {
      it.scopedLive(`channel_closed with the ${short ? "112" : "116"}-byte header ends the session with its Output`, () =>
        Effect.gen(function*() {
          const sim = yield* simulator()
          const response = yield* sim.startSession({
            plugin: AgentSimulator.downloadPlugin(new TextEncoder().encode("bye"), { end: true }),
            shortChannelClosed: short,
            closeOutput: "Exiting session"
          })
          const session = yield* open(response)
          const output = yield* Stream.runCollect(session.output)
          assert.strictEqual(Buffer.concat(Chunk.toArray(output)).toString(), "bye")
          assert.strictEqual(yield* session.closed, "Exiting session")
          const events = yield* Stream.runCollect(session.events)
          assert.deepStrictEqual(Chunk.toArray(events), [{ _tag: "ChannelClosed", output: "Exiting session" }])
          assert.strictEqual((yield* Effect.flip(session.write(new Uint8Array(1)))).reason, "Closed")
        }))
    }

    it.scopedLive("an abrupt WebSocket close is a typed Transport error", () =>
      Effect.gen(function*() {
        const sim = yield* simulator()
        const response = yield* sim.startSession({
          plugin: AgentSimulator.echoPlugin(),
          faults: { closeAfterMessages: 20 }
        })
        const session = yield* open(response)
        const result = yield* Effect.either(echoRoundTrip(session, new Uint8Array(64 * 1024)))
        assert.isTrue(Either.isLeft(result) && result.left.reason === "Transport")
        assert.strictEqual((yield* Effect.flip(session.closed)).reason, "Transport")
      }))

    it.scopedLive("closing the scope sends the closeWith flag (TerminateSession) and closes the WebSocket", () =>
      Effect.gen(function*() {
        const sim = yield* simulator()
        const response = yield* sim.startSession({ plugin: AgentSimulator.echoPlugin() })
        const scope = yield* Scope.make()
        const session = yield* Scope.extend(open(response), scope)
        yield* session.closeWith(AgentMessage.FlagPayload.TerminateSession)
        yield* echoRoundTrip(session, new Uint8Array(10))
        yield* Scope.close(scope, Exit.void)
        const stats = yield* waitFor(sim.sessionStats(response.SessionId), (s) => s?.openConnections === 0)
        assert.strictEqual(stats?.terminateFlags, 1)
        assert.isTrue(stats?.closed)
      }))

    it.scopedLive("without closeWith no flag is sent: when to send TerminateSession is PortForwarding's to decide", () =>
      Effect.gen(function*() {
        const sim = yield* simulator()
        const response = yield* sim.startSession({ plugin: AgentSimulator.echoPlugin() })
        yield* Effect.scoped(Effect.flatMap(open(response, { terminateTimeout: "100 millis" }), (session) =>
          echoRoundTrip(session, new Uint8Array(10))))
        const stats = yield* waitFor(sim.sessionStats(response.SessionId), (s) => s?.openConnections === 0)
        assert.strictEqual(stats?.terminateFlags, 0)
      }))

    it.scopedLive("interrupting the user's fiber cleans everything up", () =>
      Effect.gen(function*() {
        const sim = yield* simulator()
        const response = yield* sim.startSession({ plugin: AgentSimulator.echoPlugin() })
        const user = yield* Effect.fork(Effect.scoped(Effect.gen(function*() {
          const session = yield* open(response)
          yield* session.write(new Uint8Array(100))
          yield* Stream.runDrain(session.output) // never ends by itself
        })))
        yield* waitFor(sim.sessionStats(response.SessionId), (s) => (s?.dataMessagesReceived ?? 0) > 0)
        yield* Fiber.interrupt(user)
        const stats = yield* waitFor(sim.sessionStats(response.SessionId), (s) => s?.openConnections === 0)
        assert.strictEqual(stats?.openConnections, 0)
      }))
  })

  describe("flow control", () => {
    it.scopedLive("pause_publication holds the client's data until start_publication, and nothing is lost", () =>
      Effect.gen(function*() {
        const sim = yield* simulator()
        const response = yield* sim.startSession({
          plugin: AgentSimulator.echoPlugin(),
          faults: { pausePublication: { everyMillis: 150, forMillis: 150 } }
        })
        const session = yield* open(response, { messagesPerSecond: 4000 })
        const data = pseudoRandomBytes(2 * 1024 * 1024, 17)
        assert.strictEqual(sha256Hex(yield* echoRoundTrip(session, data)), sha256Hex(data))
        const stats = yield* sim.sessionStats(response.SessionId)
        assert.isAtLeast(stats?.pauses ?? 0, 1)
      }))

    it.scopedLive("the service's rate cap closes a session that sends too fast; paced, it stays open", () =>
      Effect.gen(function*() {
        const sim = yield* simulator()
        const rateCap = { messagesPerSecond: 500, sustainedMillis: 1000 }
        const fast = yield* sim.startSession({ plugin: AgentSimulator.echoPlugin(), faults: { rateCap } })
        const fastSession = yield* open(fast, { messagesPerSecond: 0 })
        yield* Effect.forkScoped(Stream.runDrain(fastSession.output))
        const result = yield* Effect.either(Effect.forever(fastSession.write(new Uint8Array(1024))))
        assert.isTrue(Either.isLeft(result))
        const closed = yield* Effect.either(fastSession.closed)
        assert.deepStrictEqual(closed, Either.right("Session closed: message rate exceeded"))
        const paced = yield* sim.startSession({ plugin: AgentSimulator.echoPlugin(), faults: { rateCap } })
        const pacedSession = yield* open(paced, { messagesPerSecond: 400 })
        const data = pseudoRandomBytes(1024 * 1024, 23)
        assert.strictEqual(sha256Hex(yield* echoRoundTrip(pacedSession, data)), sha256Hex(data))
        assert.isFalse((yield* sim.sessionStats(paced.SessionId))?.rateCapClosed)
      }), 30_000)

    it.scopedLive("a slow reader (1 MB/s) under a 16 MiB download, eight times the delivery bound: memory bounded, resends near zero", () =>
      Effect.gen(function*() {
        const sim = yield* simulator()
        // 16 MiB is eight times the delivery buffer's bound: the reader is behind for all but its first 2 MiB
        const size = 16 * 1024 * 1024
        const response = yield* sim.startSession({ plugin: AgentSimulator.downloadPlugin(pseudoRandomBytes(size, 29)) })
        const session = yield* open(response)
        let received = 0
        yield* Stream.runForEachWhile(session.output, (bytes) =>
          Effect.gen(function*() {
            received += bytes.length
            // read at 1 MB/s: 64 ms per 64 KiB
            if ((received & 0xffff) < bytes.length) yield* Effect.sleep("64 millis")
            return received < size
          }))
        assert.isAtLeast(received, size)
        const stats = yield* session.stats
        assert.isAtMost(stats.peakBufferedBytes, 2 * 1024 * 1024 + 64 * 1024)
        const agent = yield* sim.sessionStats(response.SessionId)
        // the socket was paused instead of dropping: the agent's resends stay near zero (at most one per RTO while
        // paused), under 1% of the 16384 messages
        assert.isAtMost(agent?.retransmissions ?? Infinity, 163)
        assert.strictEqual(stats.droppedUnacknowledged, 0)
      }), 180_000)

    it.scopedLive("input the agent acknowledged out of order reaches its plugin once it reads, past its input buffer", () =>
      Effect.gen(function*() {
        const sim = yield* simulator()
        const reading = yield* Deferred.make<void>()
        // an echo that starts reading only when told: its 4 KiB input buffer fills, the next message is refused (not
        // acknowledged) and every one behind it waits, acknowledged, in the agent's incoming buffer
        const plugin: AgentSimulator.Plugin = {
          sessionType: "Port",
          requireHandshake: true,
          run: (io) =>
            Deferred.await(reading).pipe(
              Effect.zipRight(
                Stream.runForEach(io.input, (item) => item._tag === "Data" ? io.write(item.bytes) : Effect.void)
              ),
              Effect.zipRight(Effect.never)
            )
        }
        const response = yield* sim.startSession({ plugin, inputBufferSize: 4096 })
        const session = yield* open(response)
        const data = pseudoRandomBytes(64 * 1024, 37)
        const reader = yield* Effect.fork(readOutput(session, data.length))
        yield* session.write(data)
        // the 5th message is the only one not acknowledged; the 59 behind it are held by the agent
        const held = yield* waitFor(session.stats, (stats) => stats.inFlight === 1)
        assert.strictEqual(held.inFlight, 1)
        yield* Deferred.succeed(reading, undefined)
        const echoed = yield* Fiber.join(reader).pipe(Effect.timeout("10 seconds"))
        assert.strictEqual(sha256Hex(echoed), sha256Hex(data))
      }), 30_000)
  })
})

/** Polls `self` until `predicate` holds (at most ~5 s); then the last value, for the assertion to show. */
const waitFor = <A, E>(self: Effect.Effect<A, E>, predicate: (a: A) => boolean) =>
  pollUntil(self, predicate, { every: "50 millis", times: 100, what: "the expected state" }).pipe(
    Effect.catchAll(() => self)
  )
