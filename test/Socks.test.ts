import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Option, Schedule, Stream } from "effect"
import * as ChildProcess from "node:child_process"
import * as Net from "node:net"
import * as NodeSession from "../src/NodeSession.js"
import * as NodeSocks from "../src/NodeSocks.js"
import * as SsmApi from "../src/SsmApi.js"
import { simulatedAws as sharedSimulatedAws } from "./utils/aws.js"
import { exitCode, spawnCli, waitForOutput } from "./utils/cli.js"
import * as HttpUtil from "./utils/http.js"
import { pollUntil } from "./utils/poll.js"
import { closedPort, echoServer } from "./utils/tcp.js"

/** The shared simulated AWS, with the StartSession calls it answered as "document host:port". */
const simulatedAws = Effect.map(sharedSimulatedAws(), (aws) => ({
  ...aws,
  get starts() {
    return aws.requests.map((request) =>
      `${request.documentName} ${request.parameters?.["host"]?.[0]}:${request.parameters?.["portNumber"]?.[0]}`
    )
  }
}))

/** A small HTTP server on 127.0.0.1 for the scope; its port. */
const httpServer = HttpUtil.httpServer((request, response) => {
  response.setHeader("content-type", "text/plain")
  response.end(`hello from the destination: ${request.url}\n`)
})

/** curl as a child process; its stdout, or its exit code and stderr as the failure. */
const curl = (args: ReadonlyArray<string>) =>
  Effect.async<string, Error>((resume) => {
    const child = ChildProcess.execFile("curl", ["--silent", "--show-error", "--max-time", "20", ...args], (error, stdout, stderr) =>
      resume(error ? Effect.fail(new Error(`curl failed: ${error.message} ${stderr}`)) : Effect.succeed(stdout)))
    return Effect.sync(() => child.kill())
  })

const greeting = [0x05, 0x01, 0x00]
const connectRequest = (host: string, port: number) => {
  const name = new TextEncoder().encode(host)
  return [0x05, 0x01, 0x00, 0x03, name.length, ...name, port >> 8, port & 0xff]
}

/**
 * Sends `bytes` to the proxy and collects what comes back until the proxy closes the connection (or `enough` says
 * so); what came back and whether the proxy closed.
 */
const exchangeRaw = (port: number, bytes: ReadonlyArray<number>, enough: (received: Uint8Array) => boolean = () => false) =>
  Effect.async<{ readonly received: Array<number>; readonly closed: boolean }>((resume) => {
    const socket = Net.connect(port, "127.0.0.1")
    const received: Array<Buffer> = []
    let done = false
    const finish = (closed: boolean) => {
      if (done) return
      done = true
      socket.destroy()
      resume(Effect.succeed({ received: [...Buffer.concat(received)], closed }))
    }
    socket.on("data", (chunk: Buffer) => {
      received.push(chunk)
      if (enough(Buffer.concat(received))) finish(false)
    })
    socket.on("end", () => finish(true))
    socket.on("close", () => finish(true))
    socket.on("error", () => finish(true))
    if (bytes.length > 0) socket.write(new Uint8Array(bytes))
    return Effect.sync(() => socket.destroy())
  })

/** A CONNECT through the proxy answered with success, as an open socket for the scope. */
const socksConnect = (proxy: number, host: string, port: number) =>
  Effect.acquireRelease(
    Effect.async<Net.Socket, Error>((resume) => {
      const socket = Net.connect(proxy, "127.0.0.1")
      let received = Buffer.alloc(0)
      const onData = (chunk: Buffer) => {
        received = Buffer.concat([received, chunk])
        if (received.length < 12) return
        socket.off("data", onData)
        if (received[0] !== 5 || received[1] !== 0 || received[2] !== 5 || received[3] !== 0) {
          socket.destroy()
          return resume(Effect.fail(new Error(`CONNECT answered ${[...received.subarray(0, 12)]}`)))
        }
        socket.pause()
        if (received.length > 12) socket.unshift(received.subarray(12))
        resume(Effect.succeed(socket))
      }
      socket.on("data", onData)
      socket.once("error", (error) => resume(Effect.fail(error)))
      socket.write(new Uint8Array([...greeting, ...connectRequest(host, port)]))
      return Effect.sync(() => socket.destroy())
    }),
    (socket) => Effect.sync(() => socket.destroy())
  )

/** Writes `text` on a connected socket and reads as much back (through an echo server). */
const echo = (socket: Net.Socket, text: string) =>
  Effect.async<string>((resume) => {
    let received = ""
    const onData = (chunk: Buffer) => {
      received += chunk.toString()
      if (received.length >= text.length) {
        socket.off("data", onData)
        resume(Effect.succeed(received))
      }
    }
    socket.on("data", onData)
    socket.resume()
    socket.write(text)
  })

/** The first event that `matches`, from a subscription taken before the action that causes it. */
const nextEvent = (events: Stream.Stream<NodeSocks.SocksEvent>, matches: (event: NodeSocks.SocksEvent) => boolean) =>
  Effect.map(Stream.runHead(Stream.filter(events, matches)), Option.getOrThrow)

describe("NodeSocks", () => {
  it.scopedLive("curl --socks5-hostname and --socks5 through the proxy get the HTTP server's body", () =>
    Effect.gen(function*() {
      const destination = yield* httpServer
      const aws = yield* simulatedAws
      const proxy = yield* NodeSocks.serve({ target: "i-simulated", port: 0 }).pipe(Effect.provide(aws.context))
      assert.strictEqual(proxy.address.host, "127.0.0.1")
      const byName = yield* curl([
        "--socks5-hostname",
        `127.0.0.1:${proxy.address.port}`,
        `http://localhost:${destination}/by-name`
      ])
      assert.strictEqual(byName, "hello from the destination: /by-name\n")
      // --socks5 resolves the name locally and sends an IPv4 address
      const byAddress = yield* curl(["--socks5", `127.0.0.1:${proxy.address.port}`, `http://127.0.0.1:${destination}/by-ip`])
      assert.strictEqual(byAddress, "hello from the destination: /by-ip\n")
      assert.deepStrictEqual(aws.starts, [
        `AWS-StartPortForwardingSessionToRemoteHost localhost:${destination}`,
        `AWS-StartPortForwardingSessionToRemoteHost 127.0.0.1:${destination}`
      ])
      const stats = yield* proxy.stats
      assert.strictEqual(stats.succeeded, 2)
      assert.strictEqual(stats.destinations, 2)
      assert.isAbove(stats.bytesReceived, 0)
    }))

  it.scopedLive("connections to one destination share its session (concurrent first CONNECTs too); another destination gets its own", () =>
    Effect.gen(function*() {
      const first = yield* echoServer
      const second = yield* echoServer
      const aws = yield* simulatedAws
      const proxy = yield* NodeSocks.serve({ target: "i-simulated", port: 0 }).pipe(Effect.provide(aws.context))
      const port = proxy.address.port
      // two at once, before any session exists: one start
      const [a, b] = yield* Effect.all([socksConnect(port, "127.0.0.1", first), socksConnect(port, "127.0.0.1", first)], {
        concurrency: "unbounded"
      })
      assert.deepStrictEqual(
        yield* Effect.all([echo(a!, "through a"), echo(b!, "through b")], { concurrency: "unbounded" }),
        ["through a", "through b"]
      )
      assert.strictEqual(aws.starts.length, 1)
      // a later one reuses it
      const c = yield* socksConnect(port, "127.0.0.1", first)
      assert.strictEqual(yield* echo(c, "through c"), "through c")
      assert.strictEqual(aws.starts.length, 1)
      const d = yield* socksConnect(port, "127.0.0.1", second)
      assert.strictEqual(yield* echo(d, "elsewhere"), "elsewhere")
      assert.strictEqual(aws.starts.length, 2)
      const destinations = yield* proxy.destinations
      assert.deepStrictEqual(
        destinations.map((destination) => [destination.destination, destination.connections, destination.sessions.length]),
        [[`127.0.0.1:${first}`, 3, 1], [`127.0.0.1:${second}`, 1, 1]]
      )
      const stats = yield* proxy.stats
      assert.strictEqual(stats.sessionsStarted, 2)
      assert.strictEqual(stats.succeeded, 4)
      assert.strictEqual(stats.activeConnections, 4)
    }))

  it.scopedLive("a destination the agent cannot connect to: reply 5 (connection refused), then close", () =>
    Effect.gen(function*() {
      const port = yield* closedPort
      const aws = yield* simulatedAws
      // a refusal comes back long before this: success could only come from waiting it out
      const proxy = yield* NodeSocks.serve({ target: "i-simulated", port: 0, refusalWait: "20 seconds" }).pipe(
        Effect.provide(aws.context)
      )
      const events = yield* proxy.subscribe
      const { closed, received } = yield* exchangeRaw(proxy.address.port, [...greeting, ...connectRequest("127.0.0.1", port)])
      assert.deepStrictEqual(received, [5, 0, 5, 5, 0, 1, 0, 0, 0, 0, 0, 0])
      assert.isTrue(closed)
      const rejected = yield* nextEvent(events, (event) => event._tag === "Rejected")
      assert.strictEqual(rejected._tag === "Rejected" && rejected.error.reason, "Refused")
      assert.strictEqual(aws.starts.length, 1)
      assert.strictEqual((yield* proxy.stats).rejected, 1)
      // an IPv6 address (::1) goes to the document as text, and is refused the same way
      const ipv6 = [0x05, 0x01, 0x00, 0x04, ...Array.from({ length: 15 }, () => 0), 1, port >> 8, port & 0xff]
      const v6 = yield* exchangeRaw(proxy.address.port, [...greeting, ...ipv6])
      assert.deepStrictEqual(v6, { received: [5, 0, 5, 5, 0, 1, 0, 0, 0, 0, 0, 0], closed: true })
      assert.strictEqual(aws.starts[1], `AWS-StartPortForwardingSessionToRemoteHost ::1:${port}`)
      // refused every time: not kept (its session closes once the connection has ended)
      yield* pollUntil(proxy.destinations, (destinations) => destinations.length === 0, {
        every: "20 millis",
        times: 250,
        what: "the refused destinations dropped"
      })
    }))

  it.scopedLive("handshakes it cannot serve get the reply RFC 1928 gives them, and no session", () =>
    Effect.gen(function*() {
      const aws = yield* simulatedAws
      const proxy = yield* NodeSocks.serve({ target: "i-simulated", port: 0, handshakeTimeout: "300 millis" }).pipe(
        Effect.provide(aws.context)
      )
      const port = proxy.address.port
      const reply = (code: number) => [5, code, 0, 1, 0, 0, 0, 0, 0, 0]
      // username/password only: no acceptable method
      assert.deepStrictEqual(yield* exchangeRaw(port, [0x05, 0x01, 0x02]), { received: [0x05, 0xff], closed: true })
      // a bad version: closed without a reply; SOCKS4 gets SOCKS4's "rejected"
      assert.deepStrictEqual(yield* exchangeRaw(port, [0x06, 0x01, 0x00]), { received: [], closed: true })
      assert.deepStrictEqual(
        yield* exchangeRaw(port, [0x04, 0x01, 0x00, 0x50, 127, 0, 0, 1, 0]),
        { received: [0, 0x5b, 0, 0, 0, 0, 0, 0], closed: true }
      )
      // garbage (an HTTP request sent to the proxy)
      assert.deepStrictEqual(yield* exchangeRaw(port, [...new TextEncoder().encode("GET / HTTP/1.1\r\n\r\n")]), {
        received: [],
        closed: true
      })
      // a request of another version after a good greeting: general failure
      assert.deepStrictEqual(
        yield* exchangeRaw(port, [...greeting, 0x04, 0x01, 0x00, 0x01, 127, 0, 0, 1, 0, 80]),
        { received: [5, 0, ...reply(1)], closed: true }
      )
      // BIND and UDP ASSOCIATE: command not supported
      assert.deepStrictEqual(
        yield* exchangeRaw(port, [...greeting, 0x05, 0x02, 0x00, 0x01, 127, 0, 0, 1, 0, 80]),
        { received: [5, 0, ...reply(7)], closed: true }
      )
      assert.deepStrictEqual(
        yield* exchangeRaw(port, [...greeting, 0x05, 0x03, 0x00, 0x01, 127, 0, 0, 1, 0, 80]),
        { received: [5, 0, ...reply(7)], closed: true }
      )
      // an unknown address type
      assert.deepStrictEqual(
        yield* exchangeRaw(port, [...greeting, 0x05, 0x01, 0x00, 0x05, 127, 0, 0, 1, 0, 80]),
        { received: [5, 0, ...reply(8)], closed: true }
      )
      // a name no host has
      assert.deepStrictEqual(
        yield* exchangeRaw(port, [...greeting, 0x05, 0x01, 0x00, 0x03, 3, 0x61, 0x20, 0x62, 0, 80]),
        { received: [5, 0, ...reply(4)], closed: true }
      )
      // half a request, then nothing: closed at the handshake deadline
      assert.deepStrictEqual(yield* exchangeRaw(port, [...greeting, 0x05, 0x01]), { received: [5, 0], closed: true })
      assert.strictEqual(aws.starts.length, 0)
      assert.strictEqual((yield* proxy.stats).rejected, 10)
      // each rejected connection ends once its client has closed too
      yield* pollUntil(proxy.stats, (stats) => stats.activeConnections === 0, {
        every: "20 millis",
        times: 250,
        what: "every rejected connection closed"
      })
    }))

  it.scopedLive("a destination idle for idleTimeout has its session closed; a later CONNECT opens a new one", () =>
    Effect.gen(function*() {
      const destination = yield* echoServer
      const aws = yield* simulatedAws
      const proxy = yield* NodeSocks.serve({ target: "i-simulated", port: 0, idleTimeout: "300 millis" }).pipe(
        Effect.provide(aws.context)
      )
      const events = yield* proxy.subscribe
      const opened = yield* Effect.fork(nextEvent(events, (event) => event._tag === "SessionOpened"))
      const idle = yield* Effect.fork(
        nextEvent(events, (event) => event._tag === "SessionClosed" && event.reason === "Idle")
      )
      yield* Effect.scoped(Effect.gen(function*() {
        const socket = yield* socksConnect(proxy.address.port, "127.0.0.1", destination)
        assert.strictEqual(yield* echo(socket, "before"), "before")
      }))
      const first = yield* opened.await.pipe(Effect.flatten)
      const closed = yield* idle.await.pipe(Effect.flatten)
      const sessionId = first._tag === "SessionOpened" ? first.sessionId : ""
      assert.deepStrictEqual(closed, {
        _tag: "SessionClosed",
        destination: `127.0.0.1:${destination}`,
        sessionId,
        reason: "Idle"
      })
      yield* pollUntil(aws.simulator.sessionStats(sessionId), (stats) => stats?.closed === true, {
        every: "20 millis",
        times: 250,
        what: "the idle session closed in the simulator"
      })
      assert.deepStrictEqual(yield* proxy.destinations, [])
      yield* Effect.scoped(Effect.gen(function*() {
        const socket = yield* socksConnect(proxy.address.port, "127.0.0.1", destination)
        assert.strictEqual(yield* echo(socket, "after"), "after")
      }))
      assert.strictEqual(aws.starts.length, 2)
      const stats = yield* proxy.stats
      assert.strictEqual(stats.sessionsStarted, 2)
      assert.strictEqual(stats.sessionsClosed, 1)
    }))

  it.scopedLive("maxDestinations: a new destination closes the least recently used one without connections; with every one in use it gets reply 1", () =>
    Effect.gen(function*() {
      const ports = yield* Effect.all([echoServer, echoServer, echoServer, echoServer, echoServer])
      const [a, b, c, d, e] = ports as [number, number, number, number, number]
      const aws = yield* simulatedAws
      const proxy = yield* NodeSocks.serve({ target: "i-simulated", port: 0, maxDestinations: 2, idleTimeout: "60 seconds" })
        .pipe(Effect.provide(aws.context))
      const port = proxy.address.port
      const events = yield* proxy.subscribe
      // every session opened, by destination, and the most sessions live in the simulator at once
      const opened = new Map<string, string>()
      const evicted: Array<string> = []
      yield* Effect.forkScoped(Stream.runForEach(events, (event) =>
        Effect.sync(() => {
          if (event._tag === "SessionOpened") opened.set(event.destination, event.sessionId)
          if (event._tag === "SessionClosed" && event.reason === "Evicted") evicted.push(event.destination)
        })))
      const live = Effect.gen(function*() {
        let count = 0
        for (const sessionId of opened.values()) {
          const stats = yield* aws.simulator.sessionStats(sessionId)
          if (stats !== undefined && !stats.closed) count++
        }
        return count
      })
      const use = (destination: number, text: string) =>
        Effect.scoped(Effect.gen(function*() {
          const socket = yield* socksConnect(port, "127.0.0.1", destination)
          assert.strictEqual(yield* echo(socket, text), text)
          assert.isAtMost(yield* live, 2)
        }))
      const kept = Effect.map(proxy.destinations, (list) => list.map((info) => info.destination))
      const name = (destination: number) => `127.0.0.1:${destination}`
      yield* use(a, "to a")
      yield* use(b, "to b")
      // a is used again: b is now the least recently used
      yield* use(a, "to a again")
      const waitForConnections = (count: number) =>
        pollUntil(proxy.stats, (stats) => stats.activeConnections === count, {
          every: "20 millis",
          times: 250,
          what: `${count} connections`
        })
      yield* waitForConnections(0)
      yield* use(c, "to c")
      assert.deepStrictEqual(evicted, [name(b)])
      assert.deepStrictEqual(yield* kept, [name(a), name(c)])
      assert.isTrue((yield* aws.simulator.sessionStats(opened.get(name(b))!))?.closed)
      yield* waitForConnections(0)
      // b again: a is the least recently used now
      yield* use(b, "to b again")
      assert.deepStrictEqual(evicted, [name(b), name(a)])
      assert.deepStrictEqual(yield* kept, [name(c), name(b)])
      yield* waitForConnections(0)
      // both kept destinations in use: a third is refused (general failure), and neither is closed
      yield* Effect.scoped(Effect.gen(function*() {
        const onC = yield* socksConnect(port, "127.0.0.1", c)
        const onB = yield* socksConnect(port, "127.0.0.1", b)
        const refused = yield* exchangeRaw(port, [...greeting, ...connectRequest("127.0.0.1", d)])
        assert.deepStrictEqual(refused, { received: [5, 0, 5, 1, 0, 1, 0, 0, 0, 0, 0, 0], closed: true })
        assert.strictEqual(yield* echo(onC, "c still"), "c still")
        assert.strictEqual(yield* echo(onB, "b still"), "b still")
        assert.deepStrictEqual(yield* kept, [name(c), name(b)])
      }))
      assert.isFalse(aws.starts.some((start) => start.endsWith(`:${d}`)))
      yield* waitForConnections(0)
      // many more distinct destinations, one after another: never more than 2 sessions live
      for (const [i, destination] of [d, e, a, b, c, d, e].entries()) yield* use(destination, `round ${i}`)
      assert.isAtMost(yield* live, 2)
      assert.strictEqual((yield* proxy.stats).destinations, 2)
    }))

  it.scopedLive("a destination the agent refused every connection to is not kept: its session closes with its last connection", () =>
    Effect.gen(function*() {
      const port = yield* closedPort
      const aws = yield* simulatedAws
      const proxy = yield* NodeSocks.serve({ target: "i-simulated", port: 0, idleTimeout: "60 seconds", refusalWait: "20 seconds" })
        .pipe(Effect.provide(aws.context))
      const events = yield* proxy.subscribe
      const opened = yield* Effect.fork(nextEvent(events, (event) => event._tag === "SessionOpened"))
      const closed = yield* Effect.fork(nextEvent(events, (event) => event._tag === "SessionClosed"))
      const { received } = yield* exchangeRaw(proxy.address.port, [...greeting, ...connectRequest("127.0.0.1", port)])
      assert.deepStrictEqual(received, [5, 0, 5, 5, 0, 1, 0, 0, 0, 0, 0, 0])
      const first = yield* opened.await.pipe(Effect.flatten)
      const sessionId = first._tag === "SessionOpened" ? first.sessionId : ""
      // long before the idle timeout
      assert.deepStrictEqual(yield* closed.await.pipe(Effect.flatten), {
        _tag: "SessionClosed",
        destination: `127.0.0.1:${port}`,
        sessionId,
        reason: "Refused"
      })
      yield* pollUntil(aws.simulator.sessionStats(sessionId), (stats) => stats?.closed === true, {
        every: "20 millis",
        times: 250,
        what: "the refused destination's session closed in the simulator"
      })
      assert.deepStrictEqual(yield* proxy.destinations, [])
      // the next CONNECT to it starts afresh, and is refused the same way
      const again = yield* exchangeRaw(proxy.address.port, [...greeting, ...connectRequest("127.0.0.1", port)])
      assert.deepStrictEqual(again.received, [5, 0, 5, 5, 0, 1, 0, 0, 0, 0, 0, 0])
      assert.strictEqual(aws.starts.length, 2)
    }))

  it.scopedLive("many refused destinations at once: never more than maxDestinations kept, none left once they end", () =>
    Effect.gen(function*() {
      const ports = yield* Effect.all(Array.from({ length: 12 }, () => closedPort))
      const aws = yield* simulatedAws
      // (a refusal comes back long before the refusal wait: success could only come from waiting it out)
      const proxy = yield* NodeSocks.serve({
        target: "i-simulated",
        port: 0,
        maxDestinations: 4,
        idleTimeout: "60 seconds",
        refusalWait: "20 seconds"
      }).pipe(Effect.provide(aws.context))
      const events = yield* proxy.subscribe
      const opened: Array<string> = []
      yield* Effect.forkScoped(Stream.runForEach(events, (event) =>
        Effect.sync(() => {
          if (event._tag === "SessionOpened") opened.push(event.sessionId)
        })))
      // the most destinations the proxy kept, sampled while the CONNECTs run
      let most = 0
      const sampler = yield* Effect.forkScoped(
        Effect.repeat(
          Effect.map(proxy.stats, (stats) => {
            most = Math.max(most, stats.destinations)
          }),
          Schedule.spaced("5 millis")
        )
      )
      const replies = yield* Effect.forEach(
        ports,
        (port) => exchangeRaw(proxy.address.port, [...greeting, ...connectRequest("127.0.0.1", port)]),
        { concurrency: "unbounded" }
      )
      yield* Fiber.interrupt(sampler)
      // refused by the agent (5), or, while 4 destinations were held by their CONNECTs, refused by the bound (1)
      for (const reply of replies) assert.oneOf(reply.received[3], [1, 5], `${reply.received}`)
      assert.isAtLeast(replies.filter((reply) => reply.received[3] === 5).length, 1)
      assert.isAtMost(most, 4)
      assert.isAtMost(aws.starts.length, 12)
      yield* pollUntil(proxy.destinations, (destinations) => destinations.length === 0, {
        every: "20 millis",
        times: 250,
        what: "every refused destination dropped"
      })
      for (const sessionId of opened) {
        yield* pollUntil(aws.simulator.sessionStats(sessionId), (stats) => stats?.closed === true, {
          every: "20 millis",
          times: 250,
          what: `session ${sessionId} closed`
        })
      }
    }))

  it.scopedLive("maxDestinations must be an integer of 1 or more", () =>
    Effect.gen(function*() {
      const aws = yield* simulatedAws
      for (const maxDestinations of [0, -1, 1.5, Number.NaN]) {
        const error = yield* Effect.flip(
          NodeSocks.serve({ target: "i-simulated", port: 0, maxDestinations }).pipe(Effect.provide(aws.context))
        )
        assert.strictEqual(error.reason, "InvalidOptions")
      }
    }))

  it.scopedLive("a session that cannot start: the reply that fits its error, StartFailed, and the next CONNECT tries again", () =>
    Effect.gen(function*() {
      const calls: Array<string> = []
      const failing = (reason: SsmApi.SsmApiError.Reason) =>
        Layer.succeed(SsmApi.SsmApi, {
          startSession: (request) =>
            Effect.suspend(() => {
              calls.push(request.parameters?.["host"]?.[0] ?? "")
              return Effect.fail(new SsmApi.SsmApiError({ reason, operation: "StartSession", detail: `simulated ${reason}` }))
            }),
          resumeSession: () => Effect.succeed(Option.none()),
          terminateSession: () => Effect.void
        }).pipe(Layer.merge(NodeSession.layerWebSocketConstructor))
      for (
        const [reason, code] of [["TargetNotConnected", 3], ["AccessDenied", 2], ["InvalidParameters", 4], ["Throttling", 1]] as const
      ) {
        yield* Effect.scoped(Effect.gen(function*() {
          const proxy = yield* NodeSocks.serve({ target: "i-offline", port: 0 })
          const events = yield* proxy.subscribe
          const request = [...greeting, ...connectRequest("db.internal", 5432)]
          const first = yield* exchangeRaw(proxy.address.port, request)
          assert.deepStrictEqual(first, { received: [5, 0, 5, code, 0, 1, 0, 0, 0, 0, 0, 0], closed: true })
          const failed = yield* nextEvent(events, (event) => event._tag === "StartFailed")
          assert.strictEqual(failed._tag === "StartFailed" && failed.error.reason, "Start")
          assert.strictEqual(failed._tag === "StartFailed" && failed.destination, "db.internal:5432")
          // not remembered: the next CONNECT starts again
          assert.deepStrictEqual((yield* exchangeRaw(proxy.address.port, request)).received.slice(2, 4), [5, code])
          assert.deepStrictEqual(yield* proxy.destinations, [])
          assert.strictEqual((yield* proxy.stats).startFailures, 2)
        })).pipe(Effect.provide(failing(reason)))
      }
      assert.strictEqual(calls.length, 8)
      assert.isTrue(calls.every((host) => host === "db.internal"))
    }))

  it.scopedLive("the CLI: `socks --simulator` prints where it listens, curl goes through it, --max-destinations closes the LRU one, Ctrl-C exits 0", () =>
    Effect.gen(function*() {
      const destination = yield* httpServer
      const child = yield* spawnCli("main", [
        "socks",
        "--simulator",
        "--port",
        "0",
        "--idle-timeout",
        "60",
        "--max-destinations",
        "1"
      ])
      let stderr = ""
      child.stderr!.on("data", (data: Buffer) => stderr += data.toString())
      const [, port] = yield* waitForOutput(child, /SOCKS5 proxy listening on 127\.0\.0\.1:(\d+) for target i-simulated/)
      const body = yield* curl(["--socks5-hostname", `127.0.0.1:${port}`, `http://localhost:${destination}/cli`])
      assert.strictEqual(body, "hello from the destination: /cli\n")
      // another destination (by address): the first one, now idle, is closed for it
      // (retried while the proxy has not yet seen the first connection end: until then it answers 1, all in use)
      const second = yield* curl(["--socks5", `127.0.0.1:${port}`, `http://127.0.0.1:${destination}/second`]).pipe(
        Effect.retry(Schedule.intersect(Schedule.spaced("50 millis"), Schedule.recurs(100)))
      )
      assert.strictEqual(second, "hello from the destination: /second\n")
      yield* pollUntil(Effect.sync(() => stderr), (text) => text.includes("closed (least recently used"), {
        every: "20 millis",
        times: 250,
        what: "the eviction line"
      })
      assert.match(stderr, new RegExp(`session \\S+ to localhost:${destination} closed \\(least recently used, for a new destination\\)`))
      child.kill("SIGINT")
      assert.strictEqual(yield* exitCode(child), 0)
      assert.match(stderr, new RegExp(`session \\S+ opened for localhost:${destination}`))
      assert.notMatch(stderr, /warning/)
    }), { timeout: 60_000 })
})

