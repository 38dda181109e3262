/**
 * The local listener through the simulator: real TCP (and Unix-socket) clients, a real destination on 127.0.0.1.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Either, Stream } from "effect"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import * as AgentSimulator from "../src/AgentSimulator.js"
import * as NodePortForwarding from "../src/NodePortForwarding.js"
import * as PortForwarding from "../src/PortForwarding.js"
import { pseudoRandomBytes, sha256Hex } from "./utils/bytes.js"
import { openSession } from "./utils/session.js"
import { closedPort, countingEchoServer, echoServer, roundTrip } from "./utils/tcp.js"

const tunnel = (
  port: number,
  options: { readonly agentVersion?: string; readonly faults?: AgentSimulator.Faults } = {}
) =>
  Effect.gen(function*() {
    const simulator = yield* AgentSimulator.make({ messagesPerSecond: 0, agentVersion: options.agentVersion })
    const response = yield* simulator.startSession({
      plugin: AgentSimulator.portPlugin(),
      properties: { portNumber: String(port), type: "LocalPortForwarding" },
      faults: options.faults
    })
    const session = yield* openSession(response)
    return yield* PortForwarding.make(session)
  })

const tcpPort = (listener: NodePortForwarding.Listener) => {
  assert.strictEqual(listener.address._tag, "Tcp")
  return listener.address._tag === "Tcp" ? listener.address.port : -1
}

/** `count` clients at once, each sending `size` bytes through the listener and checking the echo. */
const manyRoundTrips = (port: number, count: number, size: number) =>
  Effect.forEach(Array.from({ length: count }, (_, i) => i), (i) =>
    Effect.gen(function*() {
      const data = pseudoRandomBytes(size, 500 + i)
      const echoed = yield* roundTrip(port, data)
      assert.strictEqual(echoed.length, size)
      assert.strictEqual(sha256Hex(echoed), sha256Hex(data))
    }), { concurrency: "unbounded", discard: true })

describe("NodePortForwarding.listen", () => {
  it.scopedLive("an ephemeral port on 127.0.0.1; 100 concurrent connections each move 1 MiB both ways intact", () =>
    Effect.gen(function*() {
      const destination = yield* echoServer
      const forwarding = yield* tunnel(destination)
      const listener = yield* NodePortForwarding.listen(forwarding)
      assert.strictEqual(listener.address._tag === "Tcp" && listener.address.host, "127.0.0.1")
      const port = tcpPort(listener)
      assert.isAbove(port, 0)
      yield* manyRoundTrips(port, 100, 1024 * 1024)
      const stats = yield* forwarding.stats
      assert.strictEqual(stats.connections, 100)
      assert.strictEqual(stats.bytesSent, 100 * 1024 * 1024)
      assert.strictEqual(stats.bytesReceived, 100 * 1024 * 1024)
    }), 120_000)

  it.scopedLive("basic mode: successive and concurrent connections, one at a time, each dialled anew", () =>
    Effect.gen(function*() {
      let dials = 0
      const destination = yield* countingEchoServer(() => dials++)
      const forwarding = yield* tunnel(destination, { agentVersion: "3.0.196.0" })
      assert.deepStrictEqual(forwarding.mode, { _tag: "Basic" })
      const port = tcpPort(yield* NodePortForwarding.listen(forwarding))
      yield* manyRoundTrips(port, 1, 200 * 1024)
      yield* manyRoundTrips(port, 1, 1000)
      yield* manyRoundTrips(port, 3, 50 * 1024)
      assert.strictEqual(dials, 5)
    }), 60_000)

  it.scopedLive("a Unix socket path", () =>
    Effect.gen(function*() {
      const destination = yield* echoServer
      const forwarding = yield* tunnel(destination)
      const directory = Fs.mkdtempSync(Path.join(Os.tmpdir(), "ssm-forward-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => Fs.rmSync(directory, { recursive: true, force: true })))
      const path = Path.join(directory, "tunnel.sock")
      const listener = yield* NodePortForwarding.listen(forwarding, { path })
      assert.deepStrictEqual(listener.address, { _tag: "Unix", path })
      const data = pseudoRandomBytes(64 * 1024, 7)
      assert.strictEqual(sha256Hex(yield* roundTrip(path, data)), sha256Hex(data))
    }))

  it.scopedLive("listener.port: the real TCP port as a number without narrowing the address; none on a Unix socket", () =>
    Effect.gen(function*() {
      const destination = yield* echoServer
      const forwarding = yield* tunnel(destination)
      const tcp = yield* NodePortForwarding.listen(forwarding)
      const port: number = tcp.port // TCP options: typed as a number, as address.port (a TcpAddress) is
      assert.isAbove(port, 0)
      assert.strictEqual(port, tcp.address.port)
      const data = pseudoRandomBytes(16 * 1024, 8)
      assert.strictEqual(sha256Hex(yield* roundTrip(tcp.port, data)), sha256Hex(data))

      const directory = Fs.mkdtempSync(Path.join(Os.tmpdir(), "ssm-forward-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => Fs.rmSync(directory, { recursive: true, force: true })))
      const unix = yield* NodePortForwarding.listen(forwarding, { path: Path.join(directory, "tunnel.sock") })
      const none: undefined = unix.port
      assert.isUndefined(none)

      // options known only as ListenOptions: a port or undefined, as the address says
      const options: NodePortForwarding.ListenOptions = { port: 0 }
      const either = yield* NodePortForwarding.listen(forwarding, options)
      const maybe: number | undefined = either.port
      assert.strictEqual(maybe, either.address._tag === "Tcp" ? either.address.port : "not TCP")
      assert.notStrictEqual(maybe, port)

      // listenAll's tunnels too
      const mappings: ReadonlyArray<{ readonly listen: NodePortForwarding.ListenOptions }> = [
        { listen: {} },
        { listen: { path: Path.join(directory, "all.sock") } }
      ]
      const [onTcp, onUnix] = yield* NodePortForwarding.listenAll(mappings, () => Effect.succeed(forwarding))
      assert.strictEqual(onTcp!.port, onTcp!.address._tag === "Tcp" ? onTcp!.address.port : "not TCP")
      assert.isUndefined(onUnix!.port)
      assert.strictEqual(sha256Hex(yield* roundTrip(onTcp!.port!, data)), sha256Hex(data))
    }))

  it.scopedLive("a refused destination closes the local connection promptly and is reported", () =>
    Effect.gen(function*() {
      const forwarding = yield* tunnel(yield* closedPort)
      const errors = yield* Effect.fork(
        forwarding.events.pipe(Stream.filter((event) => event._tag === "ConnectToPortError"), Stream.take(1), Stream.runCount)
      )
      yield* Effect.yieldNow()
      const port = tcpPort(yield* NodePortForwarding.listen(forwarding))
      // the local connection is closed with nothing received
      const echoed = yield* roundTrip(port, new Uint8Array([1, 2, 3]))
      assert.strictEqual(echoed.length, 0)
      assert.strictEqual(yield* errors.await.pipe(Effect.flatten), 1)
      // and the tunnel still works for a destination that answers
      assert.strictEqual((yield* forwarding.stats).activeConnections, 0)
    }))

  it.scopedLive("data intact under the simulator's faults (loss, duplicates, reordering, delay, garbage)", () =>
    Effect.gen(function*() {
      const destination = yield* echoServer
      const both = { drop: 0.01, duplicate: 0.02, reorder: 0.02, delay: 0.01, delayMillis: 20 }
      const forwarding = yield* tunnel(destination, {
        faults: { seed: 77, toClient: both, toAgent: both, garbage: 0.005 }
      })
      const port = tcpPort(yield* NodePortForwarding.listen(forwarding))
      yield* manyRoundTrips(port, 16, 256 * 1024)
      const stats = yield* forwarding.session.stats
      assert.isAbove(stats.retransmissions, 0)
    }), 120_000)

  it.scopedLive("a port in use is a typed Listen error; a bad port an InvalidOptions error", () =>
    Effect.gen(function*() {
      const forwarding = yield* tunnel(yield* echoServer)
      const first = yield* NodePortForwarding.listen(forwarding)
      const taken = yield* Effect.either(NodePortForwarding.listen(forwarding, { port: tcpPort(first) }))
      assert.isTrue(Either.isLeft(taken) && taken.left.reason === "Listen")
      const bad = yield* Effect.either(NodePortForwarding.listen(forwarding, { port: 65536 }))
      assert.isTrue(Either.isLeft(bad) && bad.left.reason === "InvalidOptions")
    }))

  it.scopedLive("closing the scope closes the listener and every connection", () =>
    Effect.gen(function*() {
      const destination = yield* echoServer
      const forwarding = yield* tunnel(destination)
      const port = yield* Effect.scoped(Effect.gen(function*() {
        const port = tcpPort(yield* NodePortForwarding.listen(forwarding))
        yield* manyRoundTrips(port, 2, 1000)
        return port
      }))
      const after = yield* Effect.either(roundTrip(port, new Uint8Array([1])))
      assert.isTrue(Either.isLeft(after) && (after.left as NodeJS.ErrnoException).code === "ECONNREFUSED")
    }))

  it.scopedLive("the service ending the session closes open local connections and completes `closed`", () =>
    Effect.gen(function*() {
      const destination = yield* echoServer
      const simulator = yield* AgentSimulator.make({ messagesPerSecond: 0 })
      const response = yield* simulator.startSession({
        plugin: AgentSimulator.portPlugin(),
        properties: { portNumber: String(destination), type: "LocalPortForwarding" }
      })
      const forwarding = yield* PortForwarding.make(yield* openSession(response))
      const port = tcpPort(yield* NodePortForwarding.listen(forwarding))
      // a connection that has exchanged bytes and stays open
      const socket = yield* Effect.async<Net.Socket>((resume) => {
        const socket = Net.connect(port, "127.0.0.1", () => socket.write("ping"))
        socket.once("data", () => resume(Effect.succeed(socket)))
      })
      const closedLocally = Effect.async<void>((resume) => {
        if (socket.destroyed || socket.readableEnded) return resume(Effect.void)
        socket.once("close", () => resume(Effect.void))
      })
      assert.isTrue(yield* simulator.terminateSession(response.SessionId))
      yield* forwarding.closed
      yield* closedLocally
      assert.strictEqual((yield* forwarding.stats).activeConnections, 0)
    }))
})

describe("NodePortForwarding.listenAll", () => {
  /** Whether something listens on 127.0.0.1:`port` now. */
  const listening = (port: number) =>
    Effect.async<boolean>((resume) => {
      const socket = Net.connect(port, "127.0.0.1")
      socket.once("connect", () => {
        socket.destroy()
        resume(Effect.succeed(true))
      })
      socket.once("error", () => resume(Effect.succeed(false)))
    })

  it.scopedLive("all or nothing: one tunnel that cannot be ready closes the others' listeners and sessions", () =>
    Effect.gen(function*() {
      const destination = yield* echoServer
      const opened: Array<{ forwarding: PortForwarding.PortForwarding; port: number }> = []
      const error = yield* Effect.flip(Effect.scoped(NodePortForwarding.listenAll(
        [{ listen: { port: 0 }, ok: true }, { listen: { port: 0 }, ok: false }],
        () => tunnel(destination),
        (forwarding, address, mapping) =>
          Effect.suspend(() => {
            opened.push({ forwarding, port: (address as { port: number }).port })
            return mapping.ok ? Effect.void : Effect.fail(new Error("not ready"))
          })
      )))
      assert.strictEqual((error as Error).message, "not ready")
      assert.strictEqual(opened.length, 2)
      for (const { forwarding, port } of opened) {
        assert.isFalse(yield* listening(port))
        // the session ended with its scope (its `closed` completes; it would wait for ever on an open one)
        yield* Effect.timeout(Effect.either(forwarding.session.closed), "5 seconds")
      }
    }))

  it.scopedLive("each tunnel apart: one that breaks closes its own listener and session; the other carries on", () =>
    Effect.gen(function*() {
      const destination = yield* echoServer
      const breaks = yield* Deferred.make<void, PortForwarding.PortForwardingError>()
      const sessions: Array<PortForwarding.PortForwarding> = []
      const tunnels = yield* NodePortForwarding.listenAll(
        [{ listen: { port: 0 }, breaks: true }, { listen: { port: 0 }, breaks: false }],
        (mapping) =>
          Effect.map(tunnel(destination), (forwarding) => {
            sessions.push(forwarding)
            // the tunnel as a listener sees it, with an end this test decides
            return mapping.breaks ? { forward: forwarding.forward, closed: Deferred.await(breaks), forwarding } : { ...forwarding, forwarding }
          })
      )
      const [broken, kept] = tunnels
      const lost = new PortForwarding.PortForwardingError({ reason: "Session", detail: "lost" })
      yield* Deferred.fail(breaks, lost)
      assert.strictEqual(yield* Effect.flip(broken!.closed), lost)
      assert.isFalse(yield* listening((broken!.address as { port: number }).port))
      yield* Effect.timeout(Effect.either(broken!.forwarder.forwarding.session.closed), "5 seconds")
      const port = (kept!.address as { port: number }).port
      assert.strictEqual(new TextDecoder().decode(yield* roundTrip(port, new TextEncoder().encode("kept"))), "kept")
    }))
})
