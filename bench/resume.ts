/**
 * Resume: how long a dropped WebSocket keeps data from flowing (from the drop to the first output after the
 * session resumed, over 50 drops), and a download with one drop per 10 MiB beside the same download without.
 * The simulated agent sends 5000 messages a second (its own pace is 1000), so that the download takes seconds.
 */
import { Chunk, Effect, Fiber, Layer, Stream } from "effect"
import * as AgentSimulator from "../src/AgentSimulator.js"
import type * as Session from "../src/Session.js"
import { openSession } from "../test/utils/session.js"
import type { Row } from "./harness.js"

const MiB = 1024 * 1024
const now = () => performance.now()

const withApi = (simulator: AgentSimulator.AgentSimulator) =>
  Layer.provide(
    AgentSimulator.layerSsmApi(() => ({ plugin: AgentSimulator.echoPlugin() })),
    Layer.succeed(AgentSimulator.AgentSimulator, simulator)
  )

const open = (simulator: AgentSimulator.AgentSimulator, response: AgentSimulator.StartSessionResponse) =>
  Effect.provide(openSession(response), withApi(simulator))

/** Reads the output for the scope; `received()` is the byte count so far. */
const reading = (session: Session.Session) =>
  Effect.gen(function*() {
    let received = 0
    yield* Effect.forkScoped(Stream.runForEach(session.output, (bytes) => Effect.sync(() => received += bytes.length)))
    return () => received
  })

const percentile = (sorted: ReadonlyArray<number>, q: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))]!

export const run = (): Promise<ReadonlyArray<Row>> =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const rows: Array<Row> = []
    const simulator = yield* AgentSimulator.make({ messagesPerSecond: 5000 })

    // 1. drop to data flowing again, 50 times over one endless download
    const outages = yield* Effect.scoped(Effect.gen(function*() {
      const response = yield* simulator.startSession({
        plugin: AgentSimulator.downloadPlugin(new Uint8Array(1024 * MiB).fill(1))
      })
      const session = yield* open(simulator, response)
      const events = yield* Stream.toPull(yield* session.subscribe)
      const received = yield* reading(session)
      const samples: Array<number> = []
      for (let i = 0; i < 50; i++) {
        // flowing before the drop
        const before = received()
        while (received() === before) yield* Effect.sleep("1 millis")
        const start = now()
        yield* simulator.dropConnection(response.SessionId)
        let reconnected = false
        while (!reconnected) {
          reconnected = Chunk.some(yield* Effect.orDie(events), (event) => event._tag === "Reconnected")
        }
        const at = received()
        while (received() === at) yield* Effect.sleep("1 millis")
        samples.push(now() - start)
      }
      return samples.sort((a, b) => a - b)
    }))
    const p50 = percentile(outages, 0.5).toFixed(0)
    const p99 = percentile(outages, 0.99).toFixed(0)
    console.log(`drop to data flowing again (50 drops): p50 ${p50} ms, p99 ${p99} ms`)
    rows.push({
      group: "Resume",
      name: "a dropped WebSocket: from the drop to output flowing again (ResumeSession, new WebSocket), 50 drops",
      value: `p50 ${p50} ms, p99 ${p99} ms`
    })

    // 2. 64 MiB with one drop per 10 MiB (8 frames in flight lost each time), beside none
    const size = 64 * MiB
    const download = (faults: AgentSimulator.Faults) =>
      Effect.scoped(Effect.gen(function*() {
        const response = yield* simulator.startSession({
          plugin: AgentSimulator.downloadPlugin(new Uint8Array(size).fill(2)),
          faults
        })
        const start = now()
        const session = yield* open(simulator, response)
        const reader = yield* Effect.fork(
          Stream.runFoldWhile(session.output, 0, (n) => n < size, (n, bytes: Uint8Array) => n + bytes.length)
        )
        yield* Fiber.join(reader)
        const seconds = (now() - start) / 1000
        return { mbPerSecond: size / 1e6 / seconds, reconnects: (yield* session.stats).reconnects }
      }))
    const clean = yield* download({})
    const dropped = yield* download({ dropConnection: { everyMessages: 10 * 1024, lostFrames: 8 } })
    console.log(
      `64 MiB download: ${clean.mbPerSecond.toFixed(2)} MB/s without drops, ${dropped.mbPerSecond.toFixed(2)} MB/s ` +
        `with ${dropped.reconnects} drops`
    )
    rows.push({
      group: "Resume",
      name: `64 MiB download with a drop per 10 MiB (${dropped.reconnects} drops, 8 frames lost each), agent at 5000 msg/s`,
      value: `${dropped.mbPerSecond.toFixed(2)} MB/s`,
      ceiling: `${clean.mbPerSecond.toFixed(2)} MB/s without drops`,
      ratio: dropped.mbPerSecond / clean.mbPerSecond
    })
    return rows
  })))
