/**
 * No input crashes the SOCKS proxy: random bytes and handshakes that are almost right (bad versions, method
 * counts that lie, truncated requests, unknown address types and commands, domain lengths longer than what
 * follows) are each answered or closed within the handshake deadline, and the proxy still serves a CONNECT
 * afterwards.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, FastCheck as fc } from "effect"
import * as Net from "node:net"
import * as NodeSocks from "../src/NodeSocks.js"
import * as SsmApi from "../src/SsmApi.js"
import { simulatedAws } from "./utils/aws.js"
import { exitCode, spawnCli, waitForOutput } from "./utils/cli.js"
import { pollUntil } from "./utils/poll.js"
import { echoServer } from "./utils/tcp.js"

/**
 * The simulator as the SsmApi service, starting sessions only to 127.0.0.1:`allowed` (the echo server): a
 * generated request that happens to be a valid CONNECT never makes the simulator dial anything else.
 */
const guardedAws = (allowed: number) =>
  Effect.gen(function*() {
    const { context } = yield* simulatedAws()
    const api = Context.get(context, SsmApi.SsmApi)
    const refused: Array<string> = []
    const guarded: SsmApi.SsmApi = {
      ...api,
      startSession: (request) =>
        Effect.suspend(() => {
          const host = request.parameters?.["host"]?.[0]
          const port = request.parameters?.["portNumber"]?.[0]
          if (host === "127.0.0.1" && port === String(allowed)) return api.startSession(request)
          refused.push(`${host}:${port}`)
          return Effect.fail(
            new SsmApi.SsmApiError({ reason: "InvalidParameters", operation: "StartSession", detail: "not in this test" })
          )
        })
    }
    return { context: Context.add(context, SsmApi.SsmApi, guarded), refused }
  })

interface Outcome {
  readonly received: Uint8Array
  /** the proxy closed the connection (rather than the deadline running out) */
  readonly closed: boolean
  /** the proxy answered a CONNECT with success (a generated request that happened to be valid) */
  readonly succeeded: boolean
}

const SUCCESS = [5, 0, 0, 1, 0, 0, 0, 0, 0, 0]

/** Writes each chunk to the proxy, then waits for it to close the connection, at most `deadline` ms. */
const exchange = (port: number, chunks: ReadonlyArray<Uint8Array>, deadline: number) =>
  new Promise<Outcome>((resolve) => {
    const socket = Net.connect(port, "127.0.0.1")
    const received: Array<Buffer> = []
    let done = false
    const finish = (closed: boolean, succeeded = false) => {
      if (done) return
      done = true
      clearTimeout(timer)
      socket.destroy()
      resolve({ received: new Uint8Array(Buffer.concat(received)), closed, succeeded })
    }
    const timer = setTimeout(() => finish(false), deadline)
    socket.on("data", (chunk: Buffer) => {
      received.push(chunk)
      const all = Buffer.concat(received)
      // a greeting answered [5, 0] and then a success reply
      if (all.length >= 12 && all[0] === 5 && all[1] === 0 && SUCCESS.every((byte, i) => all[2 + i] === byte)) {
        finish(false, true)
      }
    })
    socket.on("end", () => finish(true))
    socket.on("close", () => finish(true))
    socket.on("error", () => finish(true))
    socket.on("connect", () => {
      for (const chunk of chunks) if (!socket.destroyed) socket.write(chunk)
    })
  })

/** A CONNECT to 127.0.0.1:`destination` through the proxy and an echo through it: the text that came back. */
const connectAndEcho = (proxy: number, destination: number, text: string) =>
  new Promise<string>((resolve, reject) => {
    const socket = Net.connect(proxy, "127.0.0.1")
    let received = Buffer.alloc(0)
    let connected = false
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error(`no echo through the proxy in time (received ${[...received]})`))
    }, 10_000)
    socket.on("data", (chunk: Buffer) => {
      received = Buffer.concat([received, chunk])
      if (!connected) {
        if (received.length < 12) return
        if (received[0] !== 5 || received[1] !== 0 || received[2] !== 5 || received[3] !== 0) {
          clearTimeout(timer)
          socket.destroy()
          return reject(new Error(`CONNECT answered ${[...received.subarray(0, 12)]}`))
        }
        connected = true
        received = received.subarray(12)
        socket.write(text)
      }
      if (received.length >= text.length) {
        clearTimeout(timer)
        socket.destroy()
        resolve(received.toString())
      }
    })
    socket.on("error", (error) => {
      clearTimeout(timer)
      reject(error)
    })
    socket.write(new Uint8Array([5, 1, 0, 5, 1, 0, 1, 127, 0, 0, 1, destination >> 8, destination & 0xff]))
  })

const byte = fc.integer({ min: 0, max: 255 })
const bytes = (maxLength: number) => fc.uint8Array({ maxLength })

/** A greeting that may be wrong anywhere: its version, a method count that does not match the methods. */
const greeting = fc.oneof(
  fc.constant(new Uint8Array([5, 1, 0])),
  fc.tuple(byte, byte, bytes(300)).map(([version, count, methods]) => new Uint8Array([version, count, ...methods])),
  fc.tuple(byte, bytes(255)).map(([count, methods]) => new Uint8Array([5, count, ...methods]))
)

/** A request that may be wrong anywhere: version, command, reserved byte, address type, a domain length that lies. */
const request = fc.oneof(
  fc.tuple(byte, byte, byte, byte, bytes(300)).map(([version, command, reserved, type, rest]) =>
    new Uint8Array([version, command, reserved, type, ...rest])
  ),
  // a domain name whose length byte says more (or less) than follows
  fc.tuple(byte, fc.string({ maxLength: 300 }), bytes(4)).map(([length, name, rest]) =>
    new Uint8Array([5, 1, 0, 3, length, ...new TextEncoder().encode(name), ...rest])
  ),
  // IPv4 and IPv6 addresses, any port (port 0 included), possibly cut short
  fc.tuple(fc.constantFrom(1, 4), bytes(18)).map(([type, rest]) => new Uint8Array([5, 1, 0, type, ...rest])),
  // an unknown address type or command after a good start
  fc.tuple(fc.integer({ min: 0, max: 255 }).filter((type) => type !== 1 && type !== 3 && type !== 4), bytes(20)).map((
    [type, rest]
  ) => new Uint8Array([5, 1, 0, type, ...rest]))
)

/** A handshake cut anywhere, sent in pieces. */
const handshake = fc.tuple(greeting, request, fc.nat(), fc.array(fc.nat(), { maxLength: 4 })).map(
  ([greeting, request, cut, splits]) => {
    const all = new Uint8Array([...greeting, ...request])
    const kept = all.subarray(0, cut % (all.length + 1))
    const points = [...new Set(splits.map((split) => split % (kept.length + 1)))].sort((a, b) => a - b)
    const chunks: Array<Uint8Array> = []
    let from = 0
    for (const point of points) {
      chunks.push(kept.subarray(from, point))
      from = point
    }
    chunks.push(kept.subarray(from))
    return chunks.filter((chunk) => chunk.length > 0)
  }
)

/** Random bytes, in one piece or several. */
const garbage = fc.array(bytes(600), { minLength: 1, maxLength: 3 })

const HANDSHAKE_TIMEOUT = 150
/** the handshake deadline plus room for a loaded machine */
const DEADLINE = HANDSHAKE_TIMEOUT + 3000

describe("NodeSocks under malformed input", () => {
  it.scopedLive("random bytes and malformed handshakes are answered or closed within the deadline; the proxy still serves", () =>
    Effect.gen(function*() {
      const destination = yield* echoServer
      const aws = yield* guardedAws(destination)
      const proxy = yield* NodeSocks.serve({ target: "i-simulated", port: 0, handshakeTimeout: `${HANDSHAKE_TIMEOUT} millis` })
        .pipe(Effect.provide(aws.context))
      const port = proxy.address.port
      assert.strictEqual(yield* Effect.promise(() => connectAndEcho(port, destination, "before")), "before")
      let cases = 0
      const property = (chunks: ReadonlyArray<Uint8Array>) =>
        exchange(port, chunks, DEADLINE).then(async (outcome) => {
          cases++
          // closed by the proxy (or answered success, for a request that happened to be valid), never left open
          if (!outcome.closed && !outcome.succeeded) {
            throw new Error(`not closed within ${DEADLINE} ms after ${chunks.map((chunk) => [...chunk])}`)
          }
          // what it answers is at most a method selection and one reply (SOCKS5's or SOCKS4's)
          if (!outcome.succeeded) assert.isAtMost(outcome.received.length, 12)
          if (cases % 10 === 0) {
            assert.strictEqual(await connectAndEcho(port, destination, `after ${cases}`), `after ${cases}`)
          }
        })
      yield* Effect.promise(() =>
        fc.assert(fc.asyncProperty(fc.oneof(handshake, garbage), property), { numRuns: 150, interruptAfterTimeLimit: 40_000 })
      )
      assert.isAtLeast(cases, 150)
      // and afterwards: a CONNECT is served, and every rejected connection has ended
      assert.strictEqual(yield* Effect.promise(() => connectAndEcho(port, destination, "after all")), "after all")
      yield* pollUntil(proxy.stats, (stats) => stats.activeConnections === 0, {
        every: "20 millis",
        times: 250,
        what: "every fuzzed connection closed"
      })
      const stats = yield* proxy.stats
      assert.isAtLeast(stats.rejected, 1)
      // only the echo server's destination was ever started
      assert.isAtMost(stats.destinations, 1)
    }), { timeout: 60_000 })

  it.scopedLive("the CLI: `socks --simulator` as a real process survives malformed input and still serves a CONNECT", () =>
    Effect.gen(function*() {
      const destination = yield* echoServer
      const child = yield* spawnCli("main", ["socks", "--simulator", "--port", "0"])
      const [, listening] = yield* waitForOutput(child, /SOCKS5 proxy listening on 127\.0\.0\.1:(\d+)/)
      const port = Number(listening)
      // never a valid CONNECT (the simulator here would dial it): not SOCKS5, or a request that is not a CONNECT
      const notConnect = fc.oneof(
        fc.tuple(byte.filter((version) => version !== 5), bytes(400)).map(([version, rest]) => [
          new Uint8Array([version, ...rest])
        ]),
        // BIND, UDP ASSOCIATE and unknown commands, complete (a cut one would wait out the CLI's 10 s deadline)
        fc.tuple(fc.constantFrom(0, 2, 3, 0x80, 0xff), fc.uint8Array({ minLength: 6, maxLength: 6 }), bytes(100)).map((
          [command, address, rest]
        ) => [new Uint8Array([5, 1, 0, 5, command, 0, 1, ...address, ...rest])]),
        fc.tuple(byte.filter((version) => version !== 5), bytes(300)).map(([version, rest]) => [
          new Uint8Array([5, 1, 0]),
          new Uint8Array([version, 1, 0, ...rest])
        ])
      )
      let cases = 0
      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(notConnect, async (chunks) => {
            cases++
            const outcome = await exchange(port, chunks, 5_000)
            assert.isTrue(outcome.closed, `not closed after ${chunks.map((chunk) => [...chunk])}`)
            assert.isFalse(outcome.succeeded)
          }),
          { numRuns: 40 }
        )
      )
      assert.strictEqual(cases, 40)
      assert.strictEqual(child.exitCode, null)
      assert.strictEqual(yield* Effect.promise(() => connectAndEcho(port, destination, "still here")), "still here")
      child.kill("SIGINT")
      assert.strictEqual(yield* exitCode(child), 0)
    }), { timeout: 60_000 })
})
