/**
 * Port forwarding through the agent simulator (no pacing, no faults) beside raw loopback TCP on the same
 * workloads: one connection's download and upload, 64 connections' aggregate, the 1-byte round trip, memory per
 * idle connection, and CPU per GiB; then bulk transfer under the service's 1000 messages/s cap.
 */
import { Duration, Effect } from "effect"
import * as Net from "node:net"
import * as AgentSimulator from "../src/AgentSimulator.js"
import * as NodePortForwarding from "../src/NodePortForwarding.js"
import * as PortForwarding from "../src/PortForwarding.js"
import { openSession } from "../test/utils/session.js"
import type { Row } from "./harness.js"

const MB = 1e6
const MiB = 1024 * 1024
const now = () => performance.now()

/** A server on 127.0.0.1 for the scope: `serve` handles each connection; its port. */
export const server = (serve: (socket: Net.Socket) => void) =>
  Effect.acquireRelease(
    Effect.async<Net.Server>((resume) => {
      const server = Net.createServer({ noDelay: true }, (socket) => {
        socket.on("error", () => {})
        serve(socket)
      })
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
    }),
    (server) => Effect.sync(() => server.close())
  ).pipe(Effect.map((server) => (server.address() as Net.AddressInfo).port))

const block = new Uint8Array(64 * 1024).fill(7)

/** Writes `size` bytes in 64 KiB blocks, waiting for `drain` when the socket asks, then calls `done`. */
const writeAll = (socket: Net.Socket, size: number, done: () => void = () => {}) => {
  let left = size
  const pump = () => {
    while (left > 0) {
      const chunk = block.subarray(0, Math.min(block.length, left))
      left -= chunk.length
      if (!socket.write(chunk)) return void socket.once("drain", pump)
    }
    done()
  }
  pump()
}

/** Sends `size` bytes to each connection, then ends it. */
export const source = (size: number) => server((socket) => writeAll(socket, size, () => socket.end()))

/** Counts what each connection sends; answers one byte once `size` bytes arrived. */
const sink = (size: number) =>
  server((socket) => {
    let received = 0
    socket.on("data", (chunk: Buffer) => {
      received += chunk.length
      if (received >= size && received - chunk.length < size) socket.write(new Uint8Array([1]))
    })
  })

const echo = server((socket) => socket.pipe(socket))

const connect = (port: number) =>
  Effect.async<Net.Socket, Error>((resume) => {
    const socket = Net.connect({ port, host: "127.0.0.1", noDelay: true }, () => resume(Effect.succeed(socket)))
    socket.once("error", (error) => resume(Effect.fail(error)))
  })

/** Seconds to receive `size` bytes on a new connection to `port`. */
export const download = (port: number, size: number) =>
  Effect.flatMap(connect(port), (socket) =>
    Effect.async<number>((resume) => {
      const start = now()
      let received = 0
      socket.on("data", (chunk: Buffer) => {
        received += chunk.length
        if (received >= size) {
          socket.destroy()
          resume(Effect.succeed((now() - start) / 1000))
        }
      })
    }))

/** Seconds to send `size` bytes on a new connection to `port` until the sink's answer. */
const upload = (port: number, size: number) =>
  Effect.flatMap(connect(port), (socket) =>
    Effect.async<number>((resume) => {
      const start = now()
      socket.once("data", () => {
        socket.destroy()
        resume(Effect.succeed((now() - start) / 1000))
      })
      writeAll(socket, size)
    }))

/** Round-trip times (ms, sorted) of 1-byte messages on one connection to an echo server. */
const roundTrips = (port: number, count: number) =>
  Effect.flatMap(connect(port), (socket) =>
    Effect.async<Array<number>>((resume) => {
      const samples: Array<number> = []
      let start = now()
      socket.on("data", () => {
        samples.push(now() - start)
        if (samples.length === count) {
          socket.destroy()
          resume(Effect.succeed(samples.slice(20).sort((a, b) => a - b)))
          return
        }
        start = now()
        socket.write(new Uint8Array([1]))
      })
      socket.write(new Uint8Array([1]))
    }))

const percentile = (sorted: ReadonlyArray<number>, q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))]!.toFixed(2)

/** CPU seconds (user + system) of `effect`, with its result. */
const cpu = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    const before = process.cpuUsage()
    const result = yield* effect
    const used = process.cpuUsage(before)
    return [result, (used.user + used.system) / 1e6] as const
  })

/** A tunnel on an ephemeral local port to `destination` through `simulator`. */
const tunnel = (simulator: AgentSimulator.AgentSimulator, destination: number, sessionOptions = { messagesPerSecond: 0 }) =>
  Effect.gen(function*() {
    const response = yield* simulator.startSession({
      plugin: AgentSimulator.portPlugin(),
      properties: { type: "LocalPortForwarding", portNumber: String(destination) }
    })
    const session = yield* openSession(response, sessionOptions)
    const forwarding = yield* PortForwarding.make(session)
    const listener = yield* NodePortForwarding.listen(forwarding)
    return { forwarding, response, port: listener.address._tag === "Tcp" ? listener.address.port : 0 }
  })

const mbps = (bytes: number, seconds: number) => bytes / seconds / MB

export const run = (): Promise<ReadonlyArray<Row>> =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const rows: Array<Row> = []
    const size = 32 * MiB
    const ports = { source: yield* source(size), sink: yield* sink(size), echo: yield* echo, small: yield* source(MiB) }
    const simulator = yield* AgentSimulator.make({ messagesPerSecond: 0 })

    // one connection each way, and CPU per GiB for the download
    const [rawDown, rawDownCpu] = yield* cpu(download(ports.source, size))
    const rawUp = yield* upload(ports.sink, size)
    const down = yield* Effect.scoped(Effect.flatMap(tunnel(simulator, ports.source), ({ port }) => cpu(download(port, size))))
    const up = yield* Effect.scoped(Effect.flatMap(tunnel(simulator, ports.sink), ({ port }) => upload(port, size)))
    for (const [direction, seconds, rawSeconds] of [["download", down[0], rawDown], ["upload", up, rawUp]] as const) {
      const figure = mbps(size, seconds)
      const raw = mbps(size, rawSeconds)
      console.log(`1 connection ${direction}, 32 MiB: ${figure.toFixed(1)} MB/s (raw TCP ${raw.toFixed(0)} MB/s)`)
      rows.push({
        group: "Port forwarding",
        name: `1 connection ${direction}, 32 MiB, through the simulator`,
        value: `${figure.toFixed(1)} MB/s`,
        ceiling: `raw loopback TCP ${raw.toFixed(0)} MB/s`,
        ratio: figure / raw
      })
    }
    const cpuPerGiB = down[1] / (size / (1024 * MiB))
    const rawCpuPerGiB = rawDownCpu / (size / (1024 * MiB))
    console.log(`CPU per GiB downloaded (client and simulated agent in one process): ${cpuPerGiB.toFixed(1)} s (raw ${rawCpuPerGiB.toFixed(2)} s)`)
    rows.push({
      group: "Port forwarding",
      name: "CPU seconds per GiB downloaded (client and simulated agent together, one process)",
      value: `${cpuPerGiB.toFixed(1)} s`,
      ceiling: `raw loopback TCP ${rawCpuPerGiB.toFixed(2)} s`
    })

    // 64 connections at once, 1 MiB each
    const aggregate = (port: number) =>
      Effect.map(
        Effect.timed(Effect.forEach(Array.from({ length: 64 }), () => download(port, MiB), { concurrency: "unbounded" })),
        ([elapsed]) => mbps(64 * MiB, Duration.toSeconds(elapsed))
      )
    const rawAggregate = yield* aggregate(ports.small)
    const tunnelAggregate = yield* Effect.scoped(Effect.flatMap(tunnel(simulator, ports.small), ({ port }) => aggregate(port)))
    console.log(`64 connections x 1 MiB download: ${tunnelAggregate.toFixed(1)} MB/s (raw ${rawAggregate.toFixed(0)} MB/s)`)
    rows.push({
      group: "Port forwarding",
      name: "64 connections x 1 MiB download at once, aggregate",
      value: `${tunnelAggregate.toFixed(1)} MB/s`,
      ceiling: `raw loopback TCP ${rawAggregate.toFixed(0)} MB/s`,
      ratio: tunnelAggregate / rawAggregate
    })

    // 1-byte round trip
    const rawRtt = yield* roundTrips(ports.echo, 320)
    const rtt = yield* Effect.scoped(Effect.flatMap(tunnel(simulator, ports.echo), ({ port }) => roundTrips(port, 320)))
    console.log(`1-byte round trip: p50 ${percentile(rtt, 0.5)} ms, p99 ${percentile(rtt, 0.99)} ms`)
    rows.push({
      group: "Port forwarding",
      name: "1-byte round trip through a forwarded connection",
      value: `p50 ${percentile(rtt, 0.5)} ms, p99 ${percentile(rtt, 0.99)} ms`,
      ceiling: `raw loopback TCP p50 ${percentile(rawRtt, 0.5)} ms, p99 ${percentile(rawRtt, 0.99)} ms`
    })

    // memory per idle connection: 500 connections open at once, each with a byte gone each way
    const idleConnections = (port: number) =>
      Effect.gen(function*() {
        const gc = (globalThis as { gc?: () => void }).gc
        gc?.()
        const before = process.memoryUsage()
        const sockets = yield* Effect.forEach(Array.from({ length: 500 }), () => connect(port), { concurrency: 50 })
        yield* Effect.forEach(sockets, (socket) =>
          Effect.async<void>((resume) => {
            socket.once("data", () => resume(Effect.void))
            socket.write(new Uint8Array([1]))
          }), { concurrency: "unbounded", discard: true })
        gc?.()
        const after = process.memoryUsage()
        for (const socket of sockets) socket.destroy()
        return { heap: (after.heapUsed - before.heapUsed) / 500 / 1024, rss: (after.rss - before.rss) / 500 / 1024 }
      })
    const rawIdle = yield* idleConnections(ports.echo)
    const idle = yield* Effect.scoped(Effect.flatMap(tunnel(simulator, ports.echo), ({ port }) => idleConnections(port)))
    console.log(`memory per idle connection: heap ${idle.heap.toFixed(1)} KiB, RSS ${idle.rss.toFixed(1)} KiB (raw ${rawIdle.heap.toFixed(1)} KiB)`)
    rows.push({
      group: "Port forwarding",
      name: "memory per idle connection, 500 open (client, simulated agent and their sockets, one process)",
      value: `heap ${idle.heap.toFixed(1)} KiB, RSS ${idle.rss.toFixed(1)} KiB`,
      // the raw case's RSS moves by less than its noise; its heap is the figure to compare
      ceiling: `raw TCP echo: heap ${rawIdle.heap.toFixed(1)} KiB`
    })

    // the service's cap: 1000 messages/s for the agent, the client's default pacing (1000/s), a cap that closes the
    // channel when exceeded for 2 s; bulk transfer both ways
    const capped = yield* AgentSimulator.make({
      messagesPerSecond: 1000,
      faults: { rateCap: { messagesPerSecond: 1000, sustainedMillis: 2000 } }
    })
    const cappedSize = 6 * MiB
    const cappedPorts = { source: yield* source(cappedSize), sink: yield* sink(cappedSize) }
    const cappedRate = 1000 * 1024
    for (const direction of ["download", "upload"] as const) {
      const result = yield* Effect.scoped(Effect.gen(function*() {
        const { port, response } = yield* tunnel(
          capped,
          direction === "download" ? cappedPorts.source : cappedPorts.sink,
          { messagesPerSecond: 1000 }
        )
        const seconds = yield* (direction === "download" ? download(port, cappedSize) : upload(port, cappedSize))
        const stats = yield* capped.sessionStats(response.SessionId)
        return { rate: cappedSize / seconds, closed: stats?.rateCapClosed ?? true }
      }))
      const share = result.rate / cappedRate
      console.log(`capped ${direction}: ${(result.rate / MB).toFixed(3)} MB/s, ${(share * 100).toFixed(1)}% of 1000 x 1024 B/s, channel closed: ${result.closed}`)
      rows.push({
        group: "Port forwarding",
        name: `${direction} under the service's 1000 messages/s cap, 6 MiB`,
        value: `${(result.rate / MB).toFixed(3)} MB/s${result.closed ? ", CHANNEL CLOSED" : ", channel stayed open"}`,
        ceiling: `cap ${(cappedRate / MB).toFixed(3)} MB/s`,
        ratio: share
      })
    }
    // loss: 2% of frames dropped each way, through the agent-faithful simulator at the agent's own pace; beside
    // the same download without loss, and the floor the agent's resend rate sets (one resend per 100 ms)
    const lossSize = 8 * MiB
    const lossPort = yield* source(lossSize)
    const lossyDownload = (drop: number) =>
      Effect.scoped(Effect.gen(function*() {
        const agent = yield* AgentSimulator.make({
          messagesPerSecond: 1000,
          faults: drop === 0 ? undefined : { seed: 5, toClient: { drop }, toAgent: { drop } }
        })
        const { port, response } = yield* tunnel(agent, lossPort, { messagesPerSecond: 1000 })
        const seconds = yield* download(port, lossSize)
        const stats = yield* agent.sessionStats(response.SessionId)
        return { seconds, resends: stats?.retransmissions ?? 0 }
      }))
    const clean = yield* lossyDownload(0)
    const lossy = yield* lossyDownload(0.02)
    const lossMessages = lossSize / 1024
    const floor = Math.max(lossMessages / 1000, lossMessages * 0.02 * 0.1)
    console.log(
      `8 MiB download, 2% loss each way: ${lossy.seconds.toFixed(1)} s (agent resends ${lossy.resends}); ` +
        `loss-free ${clean.seconds.toFixed(1)} s; the agent's resend rate allows ${floor.toFixed(1)} s at best`
    )
    rows.push({
      group: "Port forwarding",
      name: "8 MiB download with 2% of frames dropped each way, agent-faithful simulator at 1000 messages/s",
      value: `${lossy.seconds.toFixed(1)} s (${mbps(lossSize, lossy.seconds).toFixed(2)} MB/s), ${lossy.resends} agent resends`,
      ceiling: `loss-free ${clean.seconds.toFixed(1)} s; agent's one resend per 100 ms allows ${floor.toFixed(1)} s`,
      ratio: floor / lossy.seconds
    })
    return rows
  })))
