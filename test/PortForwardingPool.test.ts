import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Schedule, Scope, Stream } from "effect"
import * as NodePortForwarding from "../src/NodePortForwarding.js"
import * as PortForwarding from "../src/PortForwarding.js"
import * as PortForwardingPool from "../src/PortForwardingPool.js"
import { simulatedAws as simulatedAwsFor } from "./utils/aws.js"
import { exchange } from "./utils/socket.js"
import { pseudoRandomBytes, sha256Hex } from "./utils/bytes.js"
import { pollUntil } from "./utils/poll.js"
import { echoServer, roundTrip } from "./utils/tcp.js"

const simulatedAws = simulatedAwsFor()

/** Waits for the first pool event that `matches`. */
const nextEvent = (events: Stream.Stream<PortForwardingPool.PoolEvent>, matches: (event: PortForwardingPool.PoolEvent) => boolean) =>
  Effect.map(Stream.runHead(Stream.filter(events, matches)), (event) => event._tag === "Some" ? event.value : undefined)

describe("PortForwardingPool", () => {
  it.scopedLive("k sessions start together; connections go to the least-loaded one, and all of them carry bytes", () =>
    Effect.gen(function*() {
      const port = yield* echoServer
      const aws = yield* simulatedAws
      yield* Effect.scoped(Effect.gen(function*() {
        const pool = yield* PortForwardingPool.start({ target: "i-1", portNumber: port, sessions: 3 })
        assert.strictEqual((yield* pool.sessions).length, 3)
        const connections = yield* Effect.forEach(Array.from({ length: 6 }, (_, i) => i), () => pool.connect)
        assert.deepStrictEqual((yield* pool.sessions).map((session) => session.activeConnections), [2, 2, 2])
        const echoed = yield* Effect.forEach(connections, (socket, i) => exchange(socket, `connection ${i}`), {
          concurrency: "unbounded"
        })
        assert.deepStrictEqual(echoed, connections.map((_, i) => `connection ${i}`))
        const stats = yield* pool.stats
        assert.strictEqual(stats.sessions, 3)
        assert.strictEqual(stats.connections, 6)
        assert.strictEqual(stats.activeConnections, 6)
        assert.strictEqual(stats.bytesSent, echoed.join("").length)
      })).pipe(Effect.provide(aws.context))
    }))

  it.scopedLive("a session that ends is replaced; the other sessions' connections carry on", () =>
    Effect.gen(function*() {
      const port = yield* echoServer
      const aws = yield* simulatedAws
      yield* Effect.scoped(Effect.gen(function*() {
        const pool = yield* PortForwardingPool.start({ target: "i-1", portNumber: port, sessions: 2 })
        const events = yield* pool.subscribe
        const [first, second] = yield* pool.members
        const survivor = yield* Effect.flatMap(Scope.make(), (scope) =>
          Scope.extend(pool.connect, scope)
        )
        const onSecond = (yield* second!.stats).activeConnections === 1
        const doomed = onSecond ? first! : second!
        const kept = onSecond ? second! : first!
        const ended = yield* Effect.fork(nextEvent(events, (event) => event._tag === "SessionEnded"))
        const started = yield* Effect.fork(nextEvent(events, (event) => event._tag === "SessionStarted"))
        assert.isTrue(yield* aws.simulator.terminateSession(doomed.session.sessionId))
        assert.deepStrictEqual(yield* Fiber.join(ended), { _tag: "SessionEnded", sessionId: doomed.session.sessionId })
        const replacement = yield* Fiber.join(started)
        assert.notStrictEqual((replacement as { sessionId: string }).sessionId, doomed.session.sessionId)
        const ids = (yield* pool.sessions).map((session) => session.sessionId)
        assert.strictEqual(ids.length, 2)
        assert.include(ids, kept.session.sessionId)
        assert.strictEqual(yield* exchange(survivor, "still here"), "still here")
        const stats = yield* pool.stats
        assert.strictEqual(stats.sessionsStarted, 3)
        assert.strictEqual(stats.sessionsEnded, 1)
      })).pipe(Effect.provide(aws.context))
    }))

  it.scopedLive("grows on demand up to maxSessions, one session per connection that finds every session busy", () =>
    Effect.gen(function*() {
      const port = yield* echoServer
      const aws = yield* simulatedAws
      yield* Effect.scoped(Effect.gen(function*() {
        const pool = yield* PortForwardingPool.start({ target: "i-1", portNumber: port, sessions: 1, maxSessions: 3 })
        assert.strictEqual((yield* pool.sessions).length, 1)
        const sockets = yield* Effect.all(Array.from({ length: 4 }, () => pool.connect), { concurrency: "unbounded" })
        const loads = (yield* pool.sessions).map((session) => session.activeConnections).sort()
        assert.deepStrictEqual(loads, [1, 1, 2])
        assert.deepStrictEqual(
          yield* Effect.forEach(sockets, (socket) => exchange(socket, "grown")),
          ["grown", "grown", "grown", "grown"]
        )
      })).pipe(Effect.provide(aws.context))
    }))

  it.scopedLive("a local listener over a pool: each TCP connection through it arrives whole", () =>
    Effect.gen(function*() {
      const port = yield* echoServer
      const aws = yield* simulatedAws
      yield* Effect.scoped(Effect.gen(function*() {
        const pool = yield* PortForwardingPool.start({ target: "i-1", portNumber: port, sessions: 2 })
        const listener = yield* NodePortForwarding.listen(pool)
        assert.strictEqual(listener.address._tag, "Tcp")
        const local = (listener.address as { port: number }).port
        const data = Array.from({ length: 4 }, (_, i) => pseudoRandomBytes(256 * 1024, 40 + i))
        const back = yield* Effect.forEach(data, (bytes) => roundTrip(local, bytes), { concurrency: "unbounded" })
        assert.deepStrictEqual(back.map(sha256Hex), data.map(sha256Hex))
        assert.strictEqual((yield* pool.stats).connections, 4)
      })).pipe(Effect.provide(aws.context))
    }))

  it.scopedLive("no session can start: the pool fails with the start's error; bad sizes are InvalidOptions", () =>
    Effect.gen(function*() {
      const refused = new PortForwarding.PortForwardingError({ reason: "Session", detail: "refused" })
      const error = yield* Effect.flip(PortForwardingPool.make(Effect.fail(refused), { sessions: 2 }))
      assert.strictEqual(error, refused)
      const invalid = yield* Effect.flip(PortForwardingPool.make(Effect.fail(refused), { sessions: 2, maxSessions: 1 }))
      assert.strictEqual((invalid as PortForwarding.PortForwardingError).reason, "InvalidOptions")
    }))

  it.scopedLive("every session ends and none can start again: `closed` fails, and new connections fail with it", () =>
    Effect.gen(function*() {
      const port = yield* echoServer
      const aws = yield* simulatedAws
      let opened = 0
      const open = Effect.suspend(() =>
        ++opened > 1
          ? Effect.fail(new PortForwarding.PortForwardingError({ reason: "Session", detail: "target gone" }))
          : PortForwarding.start({ target: "i-1", portNumber: port })
      )
      yield* Effect.scoped(Effect.gen(function*() {
        const pool = yield* PortForwardingPool.make(open, { sessions: 1, restart: Schedule.recurs(2) })
        const [only] = yield* pool.members
        yield* aws.simulator.terminateSession(only!.session.sessionId)
        const error = yield* Effect.flip(pool.closed)
        assert.strictEqual(error.detail, "target gone")
        assert.strictEqual(opened, 4)
        assert.strictEqual((yield* Effect.flip(Effect.scoped(pool.connect))).detail, "target gone")
      })).pipe(Effect.provide(aws.context))
    }))

  it.scopedLive("a connection that finds no session and cannot start one waits for the replacement, without starting more", () =>
    Effect.gen(function*() {
      const port = yield* echoServer
      const aws = yield* simulatedAws
      const gone = () => new PortForwarding.PortForwardingError({ reason: "Session", detail: "target gone" })
      // the first session starts; the replacement waits on `gate` and then fails; any other start fails at once
      const gate = yield* Deferred.make<void>()
      let opened = 0
      const open = Effect.suspend(() => {
        const call = ++opened
        return call === 1
          ? PortForwarding.start({ target: "i-1", portNumber: port })
          : call === 2
          ? Effect.zipRight(Deferred.await(gate), Effect.fail(gone()))
          : Effect.fail(gone())
      })
      yield* Effect.scoped(Effect.gen(function*() {
        const pool = yield* PortForwardingPool.make(open, { sessions: 1, maxSessions: 3, restart: Schedule.recurs(0) })
        const [only] = yield* pool.members
        yield* aws.simulator.terminateSession(only!.session.sessionId)
        yield* pollUntil(Effect.sync(() => opened), (n) => n >= 2, { every: "10 millis", times: 500, what: "the replacement" })
        const connecting = yield* Effect.fork(Effect.scoped(pool.connect))
        yield* pollUntil(Effect.sync(() => opened), (n) => n >= 3, { every: "10 millis", times: 500, what: "the growth" })
        yield* Deferred.succeed(gate, undefined)
        assert.strictEqual((yield* Effect.flip(Fiber.join(connecting))).detail, "target gone")
        assert.strictEqual((yield* Effect.flip(pool.closed)).detail, "target gone")
        // one start of its own, then it waited: no StartSession after StartSession
        assert.strictEqual(opened, 3)
      })).pipe(Effect.provide(aws.context))
    }))
})
