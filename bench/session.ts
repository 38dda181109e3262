/**
 * Session throughput through the agent simulator (no faults, no pacing) beside raw WebSocket loopback with the
 * same 1024-byte messages; the 1-byte echo round trip; and the slow-reader figures (memory, agent resends).
 */
import { Effect, Fiber, Stream } from "effect"
import * as WS from "ws"
import * as AgentSimulator from "../src/AgentSimulator.js"
import type * as Session from "../src/Session.js"
import { openSession } from "../test/utils/session.js"
import type { Row } from "./harness.js"

const MB = 1e6
const now = () => performance.now()

const connect = openSession

const countUntil = (session: Session.Session, size: number) =>
  Stream.runFoldWhile(session.output, 0, (n) => n < size, (n, bytes: Uint8Array) => n + bytes.length)

/** Raw ws: the server sends `count` binary messages of 1024 bytes to a ws client; messages per second received. */
const rawWebSocket = (count: number) =>
  Effect.async<number>((resume) => {
    const server = new WS.WebSocketServer({ host: "127.0.0.1", port: 0 }, () => {
      const port = (server.address() as { port: number }).port
      const client = new WS.WebSocket(`ws://127.0.0.1:${port}`)
      client.binaryType = "arraybuffer"
      let received = 0
      let start = 0
      client.on("message", () => {
        if (received++ === 0) start = now()
        if (received === count) {
          const rate = (count - 1) / ((now() - start) / 1000)
          client.close()
          server.close()
          resume(Effect.succeed(rate))
        }
      })
    })
    server.on("connection", (socket) => {
      const message = new Uint8Array(1024).fill(9)
      for (let i = 0; i < count; i++) socket.send(message)
    })
  })

export const run = (): Promise<ReadonlyArray<Row>> =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const rows: Array<Row> = []
    const size = 32 * 1024 * 1024
    const messages = size / 1024
    const raw = yield* rawWebSocket(messages)
    const rawMb = (raw * 1024) / MB
    console.log(`raw ws loopback, 1024-byte messages: ${Math.round(raw).toLocaleString("en-US")} msg/s (${rawMb.toFixed(0)} MB/s)`)

    const simulator = yield* AgentSimulator.make({ messagesPerSecond: 0 })

    // download: the agent sends `size` bytes
    const download = yield* Effect.scoped(Effect.gen(function*() {
      const response = yield* simulator.startSession({ plugin: AgentSimulator.downloadPlugin(new Uint8Array(size).fill(1)) })
      const start = now()
      const session = yield* connect(response)
      yield* countUntil(session, size)
      return size / ((now() - start) / 1000)
    }))
    // upload: the client sends `size` bytes, the agent echoes nothing back until... use a draining plugin
    const upload = yield* Effect.scoped(Effect.gen(function*() {
      let received = 0
      const done = yield* Effect.makeLatch(false)
      const response = yield* simulator.startSession({
        plugin: {
          sessionType: "Port",
          requireHandshake: true,
          run: (io) =>
            Stream.runForEach(io.input, (input) =>
              Effect.sync(() => {
                if (input._tag === "Data") received += input.bytes.length
                if (received >= size) done.unsafeOpen()
              }))
        }
      })
      const session = yield* connect(response)
      const start = now()
      yield* session.write(new Uint8Array(size).fill(2))
      yield* done.await
      return size / ((now() - start) / 1000)
    }))
    const ceiling = `raw ws loopback ${rawMb.toFixed(0)} MB/s (${Math.round(raw).toLocaleString("en-US")} msg/s)`
    for (const [direction, rate] of [["download", download], ["upload", upload]] as const) {
      const figure = `${(rate / MB).toFixed(1)} MB/s (${Math.round(rate / 1024).toLocaleString("en-US")} msg/s)`
      console.log(`Session ${direction}: ${figure}`)
      rows.push({
        group: "Session",
        name: `${direction} through the simulator, 32 MiB in 1024-byte messages`,
        value: figure,
        ceiling,
        ratio: rate / MB / rawMb
      })
    }

    // 1-byte echo round trip
    const samples = yield* Effect.scoped(Effect.gen(function*() {
      const response = yield* simulator.startSession({ plugin: AgentSimulator.echoPlugin() })
      const session = yield* connect(response)
      const pull = yield* Stream.toPull(session.output)
      const result: Array<number> = []
      for (let i = 0; i < 300; i++) {
        const start = now()
        yield* session.write(new Uint8Array([i & 0xff]))
        yield* Effect.orDie(pull)
        if (i >= 20) result.push(now() - start)
      }
      return result.sort((a, b) => a - b)
    }))
    const p = (q: number) => samples[Math.min(samples.length - 1, Math.floor(samples.length * q))]!.toFixed(2)
    console.log(`1-byte echo round trip: p50 ${p(0.5)} ms, p99 ${p(0.99)} ms`)
    rows.push({ group: "Session", name: "1-byte echo round trip through the simulator", value: `p50 ${p(0.5)} ms, p99 ${p(0.99)} ms` })

    // a slow reader: 1 MB/s under a 16 MiB download
    const slow = yield* Effect.scoped(Effect.gen(function*() {
      const total = 16 * 1024 * 1024
      const response = yield* simulator.startSession({ plugin: AgentSimulator.downloadPlugin(new Uint8Array(total).fill(3)) })
      const session = yield* connect(response)
      const rssBefore = process.memoryUsage().rss
      let peakRss = rssBefore
      let received = 0
      const reader = yield* Effect.fork(Stream.runForEachWhile(session.output, (bytes) =>
        Effect.gen(function*() {
          received += bytes.length
          if ((received & 0xffff) < bytes.length) {
            peakRss = Math.max(peakRss, process.memoryUsage().rss)
            yield* Effect.sleep("64 millis")
          }
          return received < total
        })))
      yield* Fiber.join(reader)
      const stats = yield* session.stats
      const agent = yield* simulator.sessionStats(response.SessionId)
      return { stats, agent, rssGrowth: peakRss - rssBefore, messages: total / 1024 }
    }))
    console.log(
      `slow reader (1 MB/s, 16 MiB): peak delivery buffer ${(slow.stats.peakBufferedBytes / 1024).toFixed(0)} KiB, ` +
        `RSS growth ${(slow.rssGrowth / MB).toFixed(1)} MB, agent resends ${slow.agent?.retransmissions} of ${slow.messages}`
    )
    rows.push({
      group: "Session",
      name: "slow reader, 1 MB/s under a 16 MiB download (socket paused when the 1 MiB buffer is full)",
      value: `peak buffer ${(slow.stats.peakBufferedBytes / 1024).toFixed(0)} KiB, RSS +${(slow.rssGrowth / MB).toFixed(1)} MB, ` +
        `${slow.agent?.retransmissions} agent resends of ${slow.messages} messages`
    })
    return rows
  })))
