import { assert, describe, it } from "@effect/vitest"
import { Chunk, Deferred, Effect, Fiber, Layer, Option, Redacted, Stream } from "effect"
import * as WS from "ws"
import * as AgentSimulator from "../src/AgentSimulator.js"
import * as Resumer from "../src/Resumer.js"
import * as Session from "../src/Session.js"
import * as SsmApi from "../src/SsmApi.js"
import { pseudoRandomBytes, sha256Hex } from "./utils/bytes.js"
import { openSession } from "./utils/session.js"

const MiB = 1024 * 1024

/** The simulator's own SsmApi and the Resumer over it, so sessions resume through it as they do against AWS. */
const withApi = (sim: AgentSimulator.AgentSimulator) =>
  Layer.provide(
    Layer.provideMerge(SsmApi.layerResumer, AgentSimulator.layerSsmApi(() => ({ plugin: AgentSimulator.echoPlugin() }))),
    Layer.succeed(AgentSimulator.AgentSimulator, sim)
  )

const open = (
  sim: AgentSimulator.AgentSimulator,
  response: AgentSimulator.StartSessionResponse,
  options: Partial<Session.SessionOptions> = {}
) => Effect.provide(openSession(response, options), withApi(sim))

const readOutput = (session: Session.Session, length: number) =>
  session.output.pipe(
    Stream.mapAccum(0, (total, chunk) => [total + chunk.length, chunk] as const),
    Stream.takeUntil((chunk) => chunk.length === 0),
    Stream.runFoldWhile(
      { received: 0, parts: [] as Array<Uint8Array> },
      (state) => state.received < length,
      (state, chunk) => ({ received: state.received + chunk.length, parts: [...state.parts, chunk] })
    ),
    Effect.map((state) => {
      const out = new Uint8Array(state.received)
      let offset = 0
      for (const part of state.parts) {
        out.set(part, offset)
        offset += part.length
      }
      return out
    })
  )

/** Writes `data` while reading it back: both directions cross whatever happens to the WebSocket meanwhile. */
const echo = (session: Session.Session, data: Uint8Array) =>
  Effect.gen(function*() {
    const reader = yield* Effect.fork(readOutput(session, data.length))
    yield* session.write(data)
    return yield* Fiber.join(reader)
  })

/** The connection events among the first `count` events. */
const connectionEvents = (session: Session.Session, count: number) =>
  Effect.map(Stream.runCollect(Stream.take(session.events, count)), (events) =>
    Chunk.toArray(events).filter((event): event is Session.ConnectionEvent =>
      event._tag === "Reconnecting" || event._tag === "Reconnected"
    ))

/**
 * The agent at 5000 messages a second (its own pace is 1000): unpaced, it would outrun its own resend slot, which
 * gives back one lost message per 100 ms while everything behind it waits in the client's reorder buffer.
 */
const simulator = (options: AgentSimulator.SimulatorOptions = {}) => AgentSimulator.make({ messagesPerSecond: 5000, ...options })

describe("Session: resuming on a new WebSocket", () => {
  it.scopedLive("abrupt drops with the frames in flight lost: 8 MiB each way intact, the same session throughout", () =>
    Effect.gen(function*() {
      const sim = yield* simulator()
      const response = yield* sim.startSession({
        plugin: AgentSimulator.echoPlugin(),
        faults: { dropConnection: { everyMessages: 2000, times: 3, lostFrames: 16 } }
      })
      const session = yield* open(sim, response)
      const data = pseudoRandomBytes(8 * MiB, 11)
      assert.strictEqual(sha256Hex(yield* echo(session, data)), sha256Hex(data))
      const stats = yield* session.stats
      assert.strictEqual(stats.reconnects, 3)
      assert.isTrue(stats.connected)
      const simStats = yield* sim.sessionStats(response.SessionId)
      assert.strictEqual(simStats?.drops, 3)
      assert.strictEqual(simStats?.resumes, 3)
      // one agent side throughout: one handshake, four WebSockets
      assert.strictEqual(simStats?.handshakeResponses, 1)
      assert.strictEqual(simStats?.connections, 4)
      const events = yield* connectionEvents(session, 6)
      assert.deepStrictEqual(events.map((event) => event._tag), [
        "Reconnecting",
        "Reconnected",
        "Reconnecting",
        "Reconnected",
        "Reconnecting",
        "Reconnected"
      ])
      const first = events[0]
      assert.isTrue(first?._tag === "Reconnecting" && first.attempt === 1 && first.cause.includes("WebSocket"))
    }), 120_000)

  it.scopedLive("the service's hourly recycle (close 1000) is resumed, not taken for the end", () =>
    Effect.gen(function*() {
      const sim = yield* simulator()
      const response = yield* sim.startSession({
        plugin: AgentSimulator.echoPlugin(),
        faults: { dropConnection: { everyMessages: 500, times: 1, close: "recycle" } }
      })
      const session = yield* open(sim, response)
      const data = pseudoRandomBytes(2 * MiB, 12)
      assert.strictEqual(sha256Hex(yield* echo(session, data)), sha256Hex(data))
      assert.strictEqual((yield* session.stats).reconnects, 1)
      const [reconnecting] = yield* connectionEvents(session, 1)
      assert.isTrue(reconnecting?._tag === "Reconnecting" && reconnecting.cause === "the WebSocket closed")
    }), 60_000)

  it.scopedLive("refused resumes are retried with backoff until one succeeds", () =>
    Effect.gen(function*() {
      const sim = yield* simulator()
      const response = yield* sim.startSession({ plugin: AgentSimulator.echoPlugin(), faults: { refuseResumes: 3 } })
      const session = yield* open(sim, response, { resume: { initialDelay: "10 millis" } })
      yield* echo(session, new Uint8Array(100))
      assert.isTrue(yield* sim.dropConnection(response.SessionId))
      const data = pseudoRandomBytes(MiB, 13)
      assert.strictEqual(sha256Hex(yield* echo(session, data)), sha256Hex(data))
      const events = yield* connectionEvents(session, 5)
      assert.deepStrictEqual(
        events.map((event) => event._tag === "Reconnecting" ? event.attempt : -event.attempts),
        [1, 2, 3, 4, -4]
      )
      assert.include((events[1] as { cause: string }).cause, "ResumeSession failed")
    }))

  it.scopedLive("expired credentials are retried, and reported as Credentials when the deadline passes", () =>
    Effect.gen(function*() {
      const sim = yield* simulator()
      const response = yield* sim.startSession({
        plugin: AgentSimulator.echoPlugin(),
        faults: { expiredCredentialsResumes: 1_000_000 }
      })
      const session = yield* open(sim, response, { resume: { initialDelay: "10 millis", deadline: "300 millis" } })
      yield* echo(session, new Uint8Array(100))
      yield* sim.dropConnection(response.SessionId)
      const error = yield* Effect.flip(session.closed)
      assert.strictEqual(error.reason, "Credentials")
      assert.include(error.detail, "could not resume within")
      assert.include(error.detail, "expired")
      // and every reader learns it: output and writes fail with it
      assert.strictEqual((yield* Effect.flip(session.write(new Uint8Array(1)))).reason, "Closed")
    }))

  it.scopedLive("network trouble until the deadline: Transport, naming the attempts", () =>
    Effect.gen(function*() {
      const sim = yield* simulator()
      const response = yield* sim.startSession({ plugin: AgentSimulator.echoPlugin(), faults: { refuseResumes: 1_000_000 } })
      const session = yield* open(sim, response, { resume: { initialDelay: "10 millis", deadline: "300 millis" } })
      yield* echo(session, new Uint8Array(100))
      yield* sim.dropConnection(response.SessionId)
      const error = yield* Effect.flip(session.closed)
      assert.strictEqual(error.reason, "Transport")
      assert.match(error.detail, /could not resume within 300ms \(\d+ attempts\)/)
    }))

  it.scopedLive("a session that timed out on the service's side: TimedOut, at once", () =>
    Effect.gen(function*() {
      const sim = yield* simulator({ resumeGrace: "50 millis" })
      const response = yield* sim.startSession({ plugin: AgentSimulator.echoPlugin(), faults: { refuseResumes: 1 } })
      const session = yield* open(sim, response, { resume: { initialDelay: "300 millis", maxDelay: "300 millis" } })
      yield* echo(session, new Uint8Array(100))
      yield* sim.dropConnection(response.SessionId)
      const error = yield* Effect.flip(session.closed)
      assert.strictEqual(error.reason, "TimedOut")
    }))

  it.scopedLive("a session terminated while its WebSocket was away: Terminated", () =>
    Effect.gen(function*() {
      const sim = yield* simulator()
      const response = yield* sim.startSession({ plugin: AgentSimulator.echoPlugin(), faults: { refuseResumes: 1 } })
      const firstAttempt = yield* Deferred.make<void>()
      const session = yield* open(sim, response, {
        resume: {
          initialDelay: "100 millis",
          // a custom resume function says what its failures mean with a Resumer.ResumeFailure
          resumeSession: (sessionId) =>
            Effect.zipRight(
              Deferred.succeed(firstAttempt, undefined),
              Effect.map(sim.resumeSession(sessionId), Option.map((r) => ({ tokenValue: r.TokenValue })))
            ).pipe(Effect.mapError((error) =>
              new Resumer.ResumeFailure({
                reason: error.reason === "DoesNotExist" ? "Terminated" : "Unavailable",
                detail: error.message
              })
            ))
        }
      })
      yield* echo(session, new Uint8Array(100))
      yield* sim.dropConnection(response.SessionId)
      yield* Deferred.await(firstAttempt)
      yield* sim.terminateSession(response.SessionId)
      const error = yield* Effect.flip(session.closed)
      assert.strictEqual(error.reason, "Terminated")
    }))

  it.scopedLive("a Resumer of one's own, provided as the service, resumes the session (no SsmApi anywhere)", () =>
    Effect.gen(function*() {
      const sim = yield* simulator()
      const response = yield* sim.startSession({ plugin: AgentSimulator.echoPlugin() })
      const asked: Array<string> = []
      const resumer = Resumer.layer((sessionId) =>
        Effect.map(
          Effect.zipRight(Effect.sync(() => asked.push(sessionId)), sim.resumeSession(sessionId)),
          Option.map((r) => ({ tokenValue: r.TokenValue }))
        )
      )
      const session = yield* Effect.provide(openSession(response), resumer)
      yield* echo(session, new Uint8Array(100))
      yield* sim.dropConnection(response.SessionId)
      const data = pseudoRandomBytes(64 * 1024, 15)
      assert.strictEqual(sha256Hex(yield* echo(session, data)), sha256Hex(data))
      assert.deepStrictEqual(asked, [response.SessionId])
      assert.strictEqual((yield* session.stats).reconnects, 1)
    }))

  it.scopedLive("a WebSocket that goes silent (no pong, no traffic) is found dead within two ping intervals and replaced", () =>
    Effect.gen(function*() {
      const sim = yield* simulator()
      const response = yield* sim.startSession({ plugin: AgentSimulator.echoPlugin() })
      const session = yield* open(sim, response, { pingInterval: "100 millis" })
      yield* echo(session, new Uint8Array(100))
      yield* sim.dropConnection(response.SessionId, "silent")
      const data = pseudoRandomBytes(256 * 1024, 14)
      assert.strictEqual(sha256Hex(yield* echo(session, data)), sha256Hex(data))
      const [reconnecting] = yield* connectionEvents(session, 1)
      assert.isTrue(reconnecting?._tag === "Reconnecting" && reconnecting.cause.includes("silent"))
      assert.isAbove((yield* sim.sessionStats(response.SessionId))?.pings ?? 0, 1)
    }))

  it.scopedLive("each token opens one WebSocket: the one a resume replaced is refused", () =>
    Effect.gen(function*() {
      const sim = yield* simulator()
      const response = yield* sim.startSession({ plugin: AgentSimulator.echoPlugin() })
      const session = yield* open(sim, response)
      yield* echo(session, new Uint8Array(100))
      yield* sim.dropConnection(response.SessionId)
      yield* echo(session, new Uint8Array(100))
      const code = yield* Effect.async<number>((resume) => {
        const socket = new WS.WebSocket(response.StreamUrl)
        socket.on("open", () =>
          socket.send(JSON.stringify({
            MessageSchemaVersion: "1.0",
            RequestId: "r",
            TokenValue: Redacted.value(response.TokenValue),
            ClientId: "c",
            ClientVersion: "1.2.694.0"
          })))
        socket.on("close", (closeCode) => resume(Effect.succeed(closeCode)))
      })
      assert.strictEqual(code, 4003)
    }))

  it.scopedLive("without a way to resume (resume: false, or no SsmApi), a lost WebSocket ends the session with Transport", () =>
    Effect.gen(function*() {
      const sim = yield* simulator()
      for (const [options, withService] of [[{ resume: false }, true], [{}, false]] as const) {
        const response = yield* sim.startSession({ plugin: AgentSimulator.echoPlugin() })
        const session = withService ? yield* open(sim, response, options) : yield* openSession(response, options)
        yield* echo(session, new Uint8Array(100))
        yield* sim.dropConnection(response.SessionId)
        const error = yield* Effect.flip(session.closed)
        assert.strictEqual(error.reason, "Transport")
        assert.include(error.detail, withService ? "resume is off" : "no SsmApi")
      }
    }))

  it.scopedLive("the status of an outage: not connected and counting while it lasts, and the events for any subscriber", () =>
    Effect.gen(function*() {
      const sim = yield* simulator()
      const response = yield* sim.startSession({ plugin: AgentSimulator.echoPlugin(), faults: { refuseResumes: 2 } })
      const session = yield* open(sim, response, { resume: { initialDelay: "100 millis", maxDelay: "100 millis" } })
      yield* echo(session, new Uint8Array(100))
      const pull = yield* Stream.toPull(yield* session.subscribe)
      yield* sim.dropConnection(response.SessionId)
      const first = yield* pull
      assert.deepStrictEqual(Chunk.toArray(first).map((event) => event._tag), ["Reconnecting"])
      const during = yield* session.stats
      assert.isFalse(during.connected)
      const tags: Array<string> = []
      while (!tags.includes("Reconnected")) tags.push(...Chunk.toArray(yield* pull).map((event) => event._tag))
      assert.deepStrictEqual(tags, ["Reconnecting", "Reconnecting", "Reconnected"])
      const after = yield* session.stats
      assert.isTrue(after.connected)
      assert.strictEqual(after.reconnects, 1)
      assert.isAbove(after.disconnectedMillis, during.disconnectedMillis)
    }))
})
