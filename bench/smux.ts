/**
 * Smux throughput: in memory (1 and 64 streams), over loopback TCP against the Go peer beside Go against Go, and
 * the fairness figure (1-byte round trips on one stream while another uploads at full speed).
 */
import { Effect, Fiber, Stream } from "effect"
import * as NodeNetTransport from "../src/NodeNetTransport.js"
import * as Smux from "../src/Smux.js"
import { buildGoPeer, goClient, goServer } from "../test/utils/goPeer.js"
import type { Row } from "./harness.js"

const MB = 1e6
const now = () => performance.now()
const block = new Uint8Array(64 * 1024).fill(7)

/** Writes `bytes` on a stream in 64 KiB blocks. */
const upload = (stream: Smux.SmuxStream, bytes: number) =>
  Effect.gen(function*() {
    for (let sent = 0; sent < bytes; sent += block.length) {
      yield* stream.write(sent + block.length <= bytes ? block : block.subarray(0, bytes - sent))
    }
  })

const countBytes = (stream: Smux.SmuxStream) =>
  Stream.runFold(Smux.toStream(stream), 0, (total, bytes: Uint8Array) => total + bytes.length)

/** MB/s of `streams` uploads of `perStream` bytes each, client to a draining server, in memory. */
const inMemory = (streams: number, perStream: number) =>
  Effect.scoped(Effect.gen(function*() {
    const [a, b] = yield* Smux.makeMemoryPair()
    const client = yield* Smux.make(a, { role: "client" })
    const server = yield* Smux.make(b, { role: "server" })
    let received = 0
    yield* Effect.forkScoped(server.serve((stream) => Effect.map(countBytes(stream), (n) => (received += n))))
    const start = now()
    yield* Effect.forEach(Array.from({ length: streams }), () =>
      Effect.scoped(Effect.flatMap(client.open, (stream) => upload(stream, perStream))), {
      concurrency: "unbounded",
      discard: true
    })
    while (received < streams * perStream) yield* Effect.sleep("1 millis")
    return (streams * perStream) / MB / ((now() - start) / 1000)
  }))

/** Seconds for our client to echo `streams` x `size` bytes through the Go server over loopback TCP. */
const ourClientEcho = (port: number, streams: number, size: number) =>
  Effect.scoped(Effect.gen(function*() {
    const transport = yield* NodeNetTransport.connect({ host: "127.0.0.1", port })
    const client = yield* Smux.make(transport, { role: "client" })
    const start = now()
    yield* Effect.forEach(Array.from({ length: streams }), () =>
      Effect.scoped(Effect.gen(function*() {
        const stream = yield* client.open
        const reader = yield* Effect.fork(
          Stream.runFoldWhile(Smux.toStream(stream), 0, (n) => n < size, (n, bytes: Uint8Array) => n + bytes.length)
        )
        yield* upload(stream, size)
        yield* Fiber.join(reader)
      })), { concurrency: "unbounded", discard: true })
    return (now() - start) / 1000
  }))

/** Round-trip samples (ms) of 1-byte pings, with or without a concurrent bulk upload on another stream. */
const pingSamples = (withBulk: boolean, pings: number) =>
  Effect.scoped(Effect.gen(function*() {
    const [a, b] = yield* Smux.makeMemoryPair({ chunkSize: 1024, capacity: 64 })
    const client = yield* Smux.make(a, { role: "client" })
    const server = yield* Smux.make(b, { role: "server" })
    const bulk = yield* client.open
    const ping = yield* client.open
    yield* Effect.forkScoped(server.serve((stream) =>
      stream.id === bulk.id ? Stream.runDrain(Smux.toStream(stream)) : Stream.run(Smux.toStream(stream), stream.sink)
    ))
    // no timers here: a pure in-memory flood starves setTimeout (the scheduler never reaches the timer phase)
    if (withBulk) yield* Effect.forkScoped(Effect.forever(bulk.write(block)))
    const pull = yield* Stream.toPull(Smux.toStream(ping))
    for (let i = 0; i < 20; i++) yield* Effect.zipRight(ping.write(new Uint8Array([1])), Effect.orDie(pull))
    const samples: Array<number> = []
    for (let i = 0; i < pings; i++) {
      const start = now()
      yield* ping.write(new Uint8Array([i & 0xff]))
      yield* Effect.orDie(pull)
      samples.push(now() - start)
    }
    return samples.sort((x, y) => x - y)
  }))

const percentile = (sorted: ReadonlyArray<number>, p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!

export const run = (): Promise<ReadonlyArray<Row>> =>
  Effect.runPromise(Effect.gen(function*() {
    const rows: Array<Row> = []
    const one = yield* inMemory(1, 256 * 1024 * 1024)
    const many = yield* inMemory(64, 4 * 1024 * 1024)
    console.log(`in memory, 1 stream:   ${one.toFixed(0)} MB/s`)
    console.log(`in memory, 64 streams: ${many.toFixed(0)} MB/s aggregate`)
    rows.push({ group: "Smux", name: "in-memory upload, 1 stream x 256 MiB", value: `${one.toFixed(0)} MB/s` })
    rows.push({ group: "Smux", name: "in-memory upload, 64 streams x 4 MiB", value: `${many.toFixed(0)} MB/s` })

    buildGoPeer()
    for (const [streams, size] of [[1, 64 * 1024 * 1024], [64, 1024 * 1024]] as const) {
      const goSeconds = yield* Effect.scoped(Effect.gen(function*() {
        const { port } = yield* goServer({ keepalive: false })
        const result = yield* goClient({ port, streams, size, keepalive: false })
        return JSON.parse(result.summary).elapsedMs / 1000
      }))
      const ourSeconds = yield* Effect.scoped(Effect.flatMap(goServer({ keepalive: false }), ({ port }) =>
        ourClientEcho(port, streams, size)))
      const total = (streams * size) / MB
      const ours = total / ourSeconds
      const go = total / goSeconds
      console.log(`loopback TCP echo ${streams} x ${size / 1024 / 1024} MiB: ours ${ours.toFixed(0)} MB/s, Go ${go.toFixed(0)} MB/s`)
      rows.push({
        group: "Smux",
        name: `loopback TCP echo vs Go server, ${streams} x ${size / 1024 / 1024} MiB (our client / Go client)`,
        value: `${ours.toFixed(0)} MB/s`,
        ceiling: `${go.toFixed(0)} MB/s`,
        ratio: ours / go
      })
    }

    const idle = yield* pingSamples(false, 300)
    const loaded = yield* pingSamples(true, 300)
    const fmt = (s: ReadonlyArray<number>) => `p50 ${percentile(s, 0.5).toFixed(2)} ms, p99 ${percentile(s, 0.99).toFixed(2)} ms`
    console.log(`1-byte round trip, idle: ${fmt(idle)}; beside a full-speed upload: ${fmt(loaded)}`)
    rows.push({
      group: "Smux",
      name: "1-byte round trip beside a full-speed upload on another stream (in memory, 1 KiB chunks)",
      value: fmt(loaded),
      ceiling: `idle: ${fmt(idle)}`
    })
    return rows
  }))
