/**
 * A broken session never looks like a finished one: when the tunnel breaks under open connections, each local
 * connection is reset (its program sees ECONNRESET, not an end of data), `forward` says `Cut`, `closed` fails
 * with the reason, and the listener takes no more connections. An idle tunnel closed by the service, or the
 * user's own close, stays a normal end.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Option, Stream } from "effect"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import * as AgentSimulator from "../src/AgentSimulator.js"
import * as NodePortForwarding from "../src/NodePortForwarding.js"
import * as PortForwarding from "../src/PortForwarding.js"
import * as Smux from "../src/Smux.js"
import { Command, encodeFrame } from "../src/internal/smux/smuxFrame.js"
import { download, downloadServer, howItEnded } from "./utils/download.js"
import { hostileAgent } from "./utils/hostileAgent.js"
import { openSession } from "./utils/session.js"
import { echoServer, roundTrip } from "./utils/tcp.js"

const MiB = 1024 * 1024

/** A tunnel through the simulator to `destination`, with a listener; the pieces a test looks at. */
const tunnel = (destination: number, spec: Partial<AgentSimulator.SessionSpec> = {}) =>
  Effect.gen(function*() {
    const simulator = yield* AgentSimulator.make({ messagesPerSecond: 0 })
    const response = yield* simulator.startSession({
      plugin: AgentSimulator.portPlugin(),
      properties: { portNumber: String(destination), type: "LocalPortForwarding" },
      ...spec
    })
    const forwarding = yield* PortForwarding.make(yield* openSession(response))
    const events = yield* forwarding.subscribe
    /** the next connection's end */
    const outcome = Effect.map(
      Stream.runHead(Stream.filter(events, (event) => event._tag === "ConnectionClosed")),
      (event) => Option.isSome(event) && event.value._tag === "ConnectionClosed" ? event.value.outcome._tag : "none"
    )
    const listener = yield* NodePortForwarding.listen(forwarding)
    const port = listener.address._tag === "Tcp" ? listener.address.port : 0
    return { simulator, response, forwarding, port, outcome, listener }
  })


/** Whether a new connection to `port` is refused (the listener has stopped). */
const refused = (port: number) =>
  Effect.async<boolean>((resume) => {
    const socket = Net.connect(port, "127.0.0.1")
    socket.once("connect", () => {
      socket.destroy()
      resume(Effect.succeed(false))
    })
    socket.once("error", (error: NodeJS.ErrnoException) => resume(Effect.succeed(error.code === "ECONNREFUSED")))
  })

describe("PortForwarding: a broken tunnel is never a finished one", () => {
  it.scopedLive("the WebSocket dropped mid-download: the local client is reset, the outcome is Cut, closed fails, the listener stops", () =>
    Effect.gen(function*() {
      const destination = yield* downloadServer(8 * MiB)
      const t = yield* tunnel(destination, { faults: { closeAfterMessages: 2000 } })
      assert.strictEqual(yield* howItEnded(download(t.port, 1, 8 * MiB)), "cut")
      const closed = yield* Effect.flip(t.forwarding.closed)
      assert.strictEqual(closed.reason, "Session")
      assert.strictEqual(yield* t.outcome, "Cut")
      yield* t.listener.closed
      assert.isTrue(yield* refused(t.port))
    }))

  it.scopedLive("channel_closed mid-transfer (TerminateSession from elsewhere): reset and ChannelClosed", () =>
    Effect.gen(function*() {
      const destination = yield* downloadServer(64 * MiB)
      const t = yield* tunnel(destination, { messagesPerSecond: 1000 })
      const events = yield* Stream.toPull(yield* t.forwarding.subscribe)
      const local = yield* Effect.fork(howItEnded(download(t.port, 2, 64 * MiB)))
      // the download is under way once the connection opened
      const [opened] = yield* events
      assert.strictEqual(opened?._tag, "ConnectionOpened")
      yield* t.simulator.terminateSession(t.response.SessionId)
      assert.strictEqual(yield* local.await.pipe(Effect.flatten), "cut")
      assert.strictEqual((yield* Effect.flip(t.forwarding.closed)).reason, "ChannelClosed")
    }))

  it.scopedLive("channel_closed on an idle tunnel is a normal end", () =>
    Effect.gen(function*() {
      const destination = yield* echoServer
      const t = yield* tunnel(destination)
      const echoed = yield* roundTrip(t.port, new Uint8Array([1, 2, 3]))
      assert.strictEqual(echoed.length, 3)
      assert.strictEqual(yield* t.outcome, "Ended")
      yield* t.simulator.terminateSession(t.response.SessionId)
      yield* t.forwarding.closed
      yield* t.listener.closed
      assert.isTrue(yield* refused(t.port))
    }))
})

describe("PortForwarding against a hostile agent's smux", () => {
  /** smux frames the client sent, parsed from its Output bytes as they arrive */
  const smuxReader = () => {
    let pending = new Uint8Array(0)
    return (bytes: Uint8Array) => {
      const all = new Uint8Array(pending.length + bytes.length)
      all.set(pending)
      all.set(bytes, pending.length)
      const frames: Array<{ readonly cmd: number; readonly sid: number; readonly data: Uint8Array }> = []
      let offset = 0
      while (all.length - offset >= 8) {
        const length = all[offset + 2]! | (all[offset + 3]! << 8)
        if (all.length - offset < 8 + length) break
        const sid = new DataView(all.buffer, all.byteOffset + offset + 4, 4).getUint32(0, true)
        frames.push({ cmd: all[offset + 1]!, sid, data: all.slice(offset + 8, offset + 8 + length) })
        offset += 8 + length
      }
      pending = all.slice(offset)
      return frames
    }
  }

  /**
   * A Port session (mux, keepalive off) whose agent acknowledges everything, hands the client's smux frames to
   * `onFrame`, and runs `then` with a function to send smux frames.
   */
  const hostileTunnel = (
    then: (sendSmux: (frame: Uint8Array) => Effect.Effect<void>) => Effect.Effect<void, unknown>,
    onFrame: (frame: { readonly cmd: number; readonly sid: number; readonly data: Uint8Array }) => Effect.Effect<void> =
      () => Effect.void
  ) =>
    Effect.gen(function*() {
      const started = yield* hostileAgent((peer) =>
        Effect.gen(function*() {
          yield* peer.handshake()
          let sequence = 2
          const read = smuxReader()
          // the client may resend what it sent before our ack reached it: read each sequence number once
          const seen = new Set<number>()
          yield* Effect.forkScoped(Effect.forever(Effect.flatMap(peer.next((m) => m.messageType === "input_stream_data"), (m) =>
            Option.isSome(m)
              ? Effect.zipRight(
                peer.ack(m.value),
                m.value.payloadType === 1 && !seen.has(m.value.sequenceNumber)
                  ? Effect.suspend(() => {
                    seen.add(m.value.sequenceNumber)
                    return Effect.forEach(read(m.value.payload), onFrame, { discard: true })
                  })
                  : Effect.void
              )
              : Effect.never)))
          yield* then((frame) => Effect.suspend(() => peer.data(sequence++, 1, frame)))
          yield* Effect.never
        })
      )
      const forwarding = yield* PortForwarding.make(yield* openSession(started))
      const listener = yield* NodePortForwarding.listen(forwarding)
      return { forwarding, listener, port: listener.address._tag === "Tcp" ? listener.address.port : 0 }
    })

  it.scopedLive("an smux protocol error: open connections are reset, the listener stops (no zombie), closed fails with Tunnel", () =>
    Effect.gen(function*() {
      const go = yield* Deferred.make<void>()
      const t = yield* hostileTunnel((sendSmux) =>
        Effect.zipRight(Deferred.await(go), sendSmux(new Uint8Array([9, 0, 0, 0, 0, 0, 0, 0]))))
      const events = yield* Stream.toPull(yield* t.forwarding.subscribe)
      const local = yield* Effect.fork(howItEnded(download(t.port, 3, MiB)))
      const [opened] = yield* events
      assert.strictEqual(opened?._tag, "ConnectionOpened")
      yield* Deferred.succeed(go, undefined)
      assert.strictEqual(yield* local.await.pipe(Effect.flatten), "cut")
      assert.strictEqual((yield* Effect.flip(t.forwarding.closed)).reason, "Tunnel")
      yield* t.listener.closed
      assert.isTrue(yield* refused(t.port))
    }))

  it.scopedLive("streams the agent opens are refused at once (FIN): 3000 of them do not freeze the tunnel", () =>
    Effect.gen(function*() {
      const clientStream = yield* Deferred.make<number>()
      const refusedStreams = new Set<number>()
      const allRefused = yield* Deferred.make<void>()
      const t = yield* hostileTunnel(
        (sendSmux) =>
          Effect.gen(function*() {
            const id = yield* Deferred.await(clientStream)
            for (let agentId = 2; agentId <= 6000; agentId += 2) yield* sendSmux(encodeFrame(Command.SYN, agentId))
            // then data for the client's own stream: it must still arrive
            yield* sendSmux(encodeFrame(Command.PSH, id, new TextEncoder().encode("still flowing")))
          }),
        (frame) =>
          Effect.suspend(() => {
            if (frame.cmd === Command.SYN && frame.sid % 2 === 1) return Deferred.succeed(clientStream, frame.sid)
            if (frame.cmd === Command.FIN && frame.sid % 2 === 0 && refusedStreams.add(frame.sid).size === 3000) {
              return Deferred.succeed(allRefused, undefined)
            }
            return Effect.void
          })
      )
      const stream = yield* t.forwarding.openStream
      yield* stream.write(new TextEncoder().encode("hello"))
      const [first] = yield* Smux.toStream(stream).pipe(Stream.take(1), Stream.runCollect)
      assert.strictEqual(new TextDecoder().decode(first), "still flowing")
      yield* Deferred.await(allRefused)
      assert.strictEqual(refusedStreams.size, 3000)
    }))
})

describe("NodePortForwarding: Unix sockets", () => {
  it.scopedLive("created owner-only whatever the umask; a stale socket file from a killed process is replaced", () =>
    Effect.gen(function*() {
      const destination = yield* echoServer
      const t = yield* tunnel(destination)
      const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "ssm-sock-"))
      const path = Path.join(dir, "tunnel.sock")
      // a socket file nothing listens on: what a process killed with SIGKILL leaves
      yield* Effect.async<void>((resume) => {
        const child = ChildProcess.spawn(process.execPath, [
          "-e",
          `require("net").createServer().listen(${JSON.stringify(path)}, () => console.log("ready"))`
        ], { stdio: ["ignore", "pipe", "ignore"] })
        child.stdout.once("data", () => child.kill("SIGKILL"))
        child.once("exit", () => resume(Effect.void))
      })
      assert.isTrue(Fs.statSync(path).isSocket())
      const old = process.umask(0)
      const listener = yield* NodePortForwarding.listen(t.forwarding, { path }).pipe(
        Effect.ensuring(Effect.sync(() => process.umask(old)))
      )
      assert.strictEqual(listener.address._tag, "Unix")
      assert.strictEqual(Fs.statSync(path).mode & 0o777, 0o600)
      assert.strictEqual((yield* roundTrip(path, new Uint8Array([7]))).length, 1)
    }))
})
