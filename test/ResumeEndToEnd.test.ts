/**
 * Sessions that survive: forwarded TCP connections, a shell and a command carried across WebSocket drops through
 * the agent-faithful simulator (its agent resends one lost message per 100 ms), with the frames in flight lost at
 * every drop. The users of the session see a pause and nothing else.
 *
 * The agent here sends 5000 messages a second, not its 1000, so that 100 MiB takes seconds: the one knob tests turn.
 * Unpaced, it would outrun its own resend slot: at tens of MB/s, what arrives behind a lost message fills the
 * client's 64 MiB reorder buffer in the seconds the slot takes to resend the lost ones, and the agent-faithful
 * answer to a full buffer (dropping unacknowledged) then costs a slot per message.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option, Stream } from "effect"
import * as Crypto from "node:crypto"
import * as Net from "node:net"
import * as AgentSimulator from "../src/AgentSimulator.js"
import * as NodePortForwarding from "../src/NodePortForwarding.js"
import * as PortForwarding from "../src/PortForwarding.js"
import * as RemoteCommand from "../src/RemoteCommand.js"
import * as Shell from "../src/Shell.js"
import { pseudoRandomBytes, sha256Hex } from "./utils/bytes.js"
import { download, downloadServer } from "./utils/download.js"
import { simulatedAwsLayer } from "./utils/aws.js"

const MiB = 1024 * 1024

/** The simulator (with `faults` on every session) as the AWS the high-level constructors call. */
const simulatedAws = (faults: AgentSimulator.Faults, options: AgentSimulator.SimulatorOptions = {}) =>
  simulatedAwsLayer({ faults, ...options })

/** A TCP server that reads `size` bytes from each connection and answers with their SHA-256 (hex). */
const uploadServer = (size: number) =>
  Effect.acquireRelease(
    Effect.async<Net.Server>((resume) => {
      const server = Net.createServer((socket) => {
        const hash = Crypto.createHash("sha256")
        let received = 0
        socket.on("error", () => {})
        socket.on("data", (chunk: Buffer) => {
          hash.update(chunk)
          received += chunk.length
          if (received === size) socket.write(hash.digest("hex"))
        })
      })
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
    }),
    (server) => Effect.sync(() => server.close())
  ).pipe(Effect.map((server) => (server.address() as Net.AddressInfo).port))

/** Sends `data` through 127.0.0.1:`port` and returns the digest the server answers with. */
const upload = (port: number, data: Uint8Array) =>
  Effect.async<string, Error>((resume) => {
    const socket = Net.connect(port, "127.0.0.1")
    let answer = ""
    socket.on("error", (error) => resume(Effect.fail(error)))
    socket.on("close", () => resume(Effect.fail(new Error(`closed before the digest (${answer.length} chars)`))))
    socket.on("data", (chunk: Buffer) => {
      answer += chunk.toString()
      if (answer.length >= 64) {
        socket.removeAllListeners("close")
        socket.destroy()
        resume(Effect.succeed(answer))
      }
    })
    socket.write(data)
    return Effect.sync(() => socket.destroy())
  })

/** A forwarding tunnel to `destination` through the simulated AWS, listening on an ephemeral port. */
const tunnel = (destination: number) =>
  Effect.gen(function*() {
    const forwarding = yield* PortForwarding.start({
      target: "i-1",
      portNumber: destination,
      session: { messagesPerSecond: 5000 }
    })
    const listener = yield* NodePortForwarding.listen(forwarding)
    return { forwarding, port: listener.address._tag === "Tcp" ? listener.address.port : 0 }
  })

describe("resume, end to end through the simulator", () => {
  it.scopedLive("100 MiB down 8 forwarded TCP connections across 10 WebSocket drops: every byte, no connection cut", () =>
    Effect.gen(function*() {
      const size = 12.5 * MiB
      const destination = yield* downloadServer(size)
      const { forwarding, port } = yield* tunnel(destination)
      const results = yield* Effect.forEach(
        Array.from({ length: 8 }, (_, i) => i),
        (i) => download(port, i, size),
        { concurrency: "unbounded" }
      )
      results.forEach((bytes, i) => assert.strictEqual(sha256Hex(bytes), sha256Hex(pseudoRandomBytes(size, 1000 + i))))
      const stats = yield* forwarding.session.stats
      assert.strictEqual(stats.reconnects, 10)
      const tunnelStats = yield* forwarding.stats
      assert.strictEqual(tunnelStats.connections, 8)
    }).pipe(Effect.provide(simulatedAws(
      { dropConnection: { everyMessages: 9000, times: 10, lostFrames: 8 } },
      // the agent's one knob turned up (it sends 1000 messages a second): each lost message still waits for the
      // agent's 100 ms resend slot, while the reorder buffer holds what arrives meanwhile
      { messagesPerSecond: 5000 }
    ))), 170_000)

  it.scopedLive("32 MiB up 8 forwarded TCP connections across 5 drops: every byte arrives", () =>
    Effect.gen(function*() {
      const size = 4 * MiB
      const destination = yield* uploadServer(size)
      const { forwarding, port } = yield* tunnel(destination)
      const digests = yield* Effect.forEach(
        Array.from({ length: 8 }, (_, i) => i),
        (i) => upload(port, pseudoRandomBytes(size, 2000 + i)),
        { concurrency: "unbounded" }
      )
      digests.forEach((digest, i) => assert.strictEqual(digest, sha256Hex(pseudoRandomBytes(size, 2000 + i))))
      assert.strictEqual((yield* forwarding.session.stats).reconnects, 5)
    }).pipe(Effect.provide(simulatedAws(
      { dropConnection: { everyMessages: 4000, times: 5, lostFrames: 8 } },
      { messagesPerSecond: 5000 }
    ))), 120_000)

  it.scopedLive("a shell keeps its state across a drop: a variable set before is echoed after", () =>
    Effect.gen(function*() {
      const simulator = yield* AgentSimulator.AgentSimulator
      const shell = yield* Shell.start({ target: "i-1", size: { cols: 100, rows: 30 } })
      const pull = yield* Stream.toPull(shell.output)
      const decoder = new TextDecoder()
      const readUntil = (pattern: RegExp) =>
        Effect.gen(function*() {
          let text = ""
          while (!pattern.test(text)) {
            const chunk = yield* Effect.mapError(pull, (error) => Option.getOrElse(error, () => new Error("output ended")))
            for (const bytes of chunk) text += decoder.decode(bytes, { stream: true })
          }
          return text
        })
      yield* shell.write(new TextEncoder().encode("KEPT=across-the-drop; echo :se''t\n"))
      yield* readUntil(/:set\r?\n/)
      assert.isTrue(yield* simulator.dropConnection(shell.session.sessionId))
      yield* shell.write(new TextEncoder().encode("echo value=$KEPT; echo :aft''er\n"))
      assert.match(yield* readUntil(/:after\r?\n/), /value=across-the-drop\r?\n/)
      assert.strictEqual((yield* shell.session.stats).reconnects, 1)
      yield* shell.write(new TextEncoder().encode("exit\n"))
      assert.strictEqual(yield* shell.closed, "")
    }).pipe(Effect.provide(simulatedAws({}))), 60_000)

  it.scopedLive("a command's output and exit code arrive across a drop (the service's recycle, close 1000)", () =>
    Effect.gen(function*() {
      const result = yield* RemoteCommand.exec({
        target: "i-1",
        command: "echo before; sleep 0.6; echo after; exit 7"
      })
      assert.strictEqual(result.exitCode, 7)
      assert.strictEqual(new TextDecoder().decode(result.stdout), "before\nafter\n")
    }).pipe(Effect.provide(simulatedAws({ dropConnection: { everyMillis: 300, times: 1, close: "recycle" } }))), 60_000)
})
