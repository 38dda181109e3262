/**
 * The SOCKS5 proxy through the simulator (no rate cap): time to the first response byte of an HTTP request on a
 * new connection, to a destination never seen (StartSession, the data channel, the refusal wait), to a destination
 * that has a session and has already answered (one smux stream), and through `forward`'s listener for comparison;
 * and one 32 MiB download through the proxy against the same through `forward`.
 */
import { Effect, Layer } from "effect"
import * as Net from "node:net"
import * as AgentSimulator from "../src/AgentSimulator.js"
import * as NodePortForwarding from "../src/NodePortForwarding.js"
import * as NodeSession from "../src/NodeSession.js"
import * as NodeSocks from "../src/NodeSocks.js"
import * as PortForwarding from "../src/PortForwarding.js"
import { httpServer as httpServerOn } from "../test/utils/http.js"
import type { Row } from "./harness.js"
import { download, source } from "./portForwarding.js"

const MB = 1e6
const MiB = 1024 * 1024
const SIZE = 32 * MiB

const now = () => performance.now()
const median = (values: ReadonlyArray<number>) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!

const httpServer = httpServerOn((_, response) => response.end("ok\n"))

const REQUEST = "GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"

/**
 * Milliseconds from connecting to the first byte of the HTTP response: through the proxy (CONNECT to
 * 127.0.0.1:`destination`) when one is given, else straight to `port` (a forward listener).
 */
const firstByte = (port: number, destination: number | undefined) =>
  Effect.async<number, Error>((resume) => {
    const start = now()
    const socket = Net.connect({ port, host: "127.0.0.1", noDelay: true })
    let phase: "reply" | "response" = destination === undefined ? "response" : "reply"
    let reply = Buffer.alloc(0)
    socket.on("connect", () => {
      socket.write(
        destination === undefined
          ? REQUEST
          : new Uint8Array([5, 1, 0, 5, 1, 0, 1, 127, 0, 0, 1, destination >> 8, destination & 0xff])
      )
    })
    socket.on("data", (chunk: Buffer) => {
      if (phase === "reply") {
        reply = Buffer.concat([reply, chunk])
        if (reply.length < 12) return
        if (reply[3] !== 0) {
          socket.destroy()
          return resume(Effect.fail(new Error(`CONNECT answered ${reply[3]}`)))
        }
        phase = "response"
        if (reply.length === 12) {
          socket.write(REQUEST)
          return
        }
      }
      socket.destroy()
      resume(Effect.succeed(now() - start))
    })
    socket.on("error", (error) => resume(Effect.fail(error)))
    return Effect.sync(() => socket.destroy())
  })

/** A download of `size` bytes from 127.0.0.1:`destination` through the proxy; seconds. */
const socksDownload = (proxy: number, destination: number, size: number) =>
  Effect.async<number, Error>((resume) => {
    const start = now()
    const socket = Net.connect({ port: proxy, host: "127.0.0.1", noDelay: true })
    let received = -12
    socket.on("connect", () =>
      socket.write(new Uint8Array([5, 1, 0, 5, 1, 0, 1, 127, 0, 0, 1, destination >> 8, destination & 0xff])))
    socket.on("data", (chunk: Buffer) => {
      received += chunk.length
      if (received >= size - 2) {
        socket.destroy()
        resume(Effect.succeed((now() - start) / 1000))
      }
    })
    socket.on("error", (error) => resume(Effect.fail(error)))
    return Effect.sync(() => socket.destroy())
  })

export const run = (): Promise<ReadonlyArray<Row>> =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const rows: Array<Row> = []
    const context = yield* Layer.build(
      AgentSimulator.layerSsmApi().pipe(
        Layer.provideMerge(AgentSimulator.layer({ messagesPerSecond: 0 })),
        Layer.merge(NodeSession.layerWebSocketConstructor)
      )
    )
    const bench = Effect.gen(function*() {
      const proxy = yield* NodeSocks.serve({ target: "i-simulated", port: 0 })
      const servers = yield* Effect.forEach(Array.from({ length: 6 }), () => httpServer)
      // a new destination each time (the first one is a warm-up)
      const fresh = yield* Effect.forEach(servers, (destination) => firstByte(proxy.address.port, destination))
      const [known] = servers
      yield* Effect.forEach(Array.from({ length: 5 }), () => firstByte(proxy.address.port, known))
      const reused = yield* Effect.forEach(Array.from({ length: 25 }), () => firstByte(proxy.address.port, known))
      const forwarding = yield* PortForwarding.start({ target: "i-simulated", host: "127.0.0.1", portNumber: known! })
      const listener = yield* NodePortForwarding.listen(forwarding)
      const local = (listener.address as { readonly port: number }).port
      yield* Effect.forEach(Array.from({ length: 5 }), () => firstByte(local, undefined))
      const forwarded = yield* Effect.forEach(Array.from({ length: 25 }), () => firstByte(local, undefined))
      const newMs = median(fresh.slice(1))
      const reusedMs = median(reused)
      const forwardMs = median(forwarded)
      console.log(
        `SOCKS time to first byte: new destination ${newMs.toFixed(1)} ms, known destination ${reusedMs.toFixed(1)} ms, ` +
          `forward ${forwardMs.toFixed(1)} ms`
      )
      rows.push({
        group: "SOCKS proxy",
        name: "time to first HTTP response byte, new destination (StartSession, data channel, refusal wait)",
        value: `${newMs.toFixed(1)} ms`,
        ceiling: `forward, tunnel open ${forwardMs.toFixed(1)} ms`
      }, {
        group: "SOCKS proxy",
        name: "time to first HTTP response byte, destination with a session that has answered before",
        value: `${reusedMs.toFixed(1)} ms`,
        ceiling: `forward, tunnel open ${forwardMs.toFixed(1)} ms`,
        ratio: forwardMs / reusedMs
      })

      // throughput: a destination that speaks first (the reply comes with its first bytes)
      const big = yield* source(SIZE)
      yield* socksDownload(proxy.address.port, big, MiB)
      const viaSocks = yield* Effect.forEach(Array.from({ length: 3 }), () => socksDownload(proxy.address.port, big, SIZE))
      const bigForwarding = yield* PortForwarding.start({ target: "i-simulated", host: "127.0.0.1", portNumber: big })
      const bigListener = yield* NodePortForwarding.listen(bigForwarding)
      const bigLocal = (bigListener.address as { readonly port: number }).port
      const viaForward = yield* Effect.forEach(Array.from({ length: 3 }), () => download(bigLocal, SIZE))
      const socksRate = SIZE / median(viaSocks) / MB
      const forwardRate = SIZE / median(viaForward) / MB
      console.log(`SOCKS 32 MiB download ${socksRate.toFixed(1)} MB/s, forward ${forwardRate.toFixed(1)} MB/s`)
      rows.push({
        group: "SOCKS proxy",
        name: "1 connection download, 32 MiB, through the proxy",
        value: `${socksRate.toFixed(1)} MB/s`,
        ceiling: `forward ${forwardRate.toFixed(1)} MB/s`,
        ratio: socksRate / forwardRate
      })
    })
    yield* Effect.scoped(bench).pipe(Effect.provide(context))
    return rows
  })))
