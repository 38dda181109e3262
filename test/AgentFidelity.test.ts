/**
 * The client against the agent-faithful simulator (its default): no send window, one resend slot per 100 ms for
 * the oldest unacknowledged message, acknowledgements that overtake the agent's recording lost. Under loss the
 * session finishes only if the client acknowledges everything it receives and buffers far enough ahead.
 */
import { assert, describe, it } from "@effect/vitest"
import { Clock, Deferred, Duration, Effect, Mailbox, Option, Stream } from "effect"
import * as AgentSimulator from "../src/AgentSimulator.js"
import * as NodePortForwarding from "../src/NodePortForwarding.js"
import * as PortForwarding from "../src/PortForwarding.js"
import { simulatedAwsLayer } from "./utils/aws.js"
import { pseudoRandomBytes, sha256Hex } from "./utils/bytes.js"
import { download, downloadServer } from "./utils/download.js"
import { ackedSequence, rawClient } from "./utils/rawClient.js"
import * as RemoteCommand from "../src/RemoteCommand.js"
import * as WS from "ws"
import { openSession } from "./utils/session.js"

const MiB = 1024 * 1024

/**
 * How long the agent needs to resend what a loss rate costs it: each lost message (and each lost resend) waits for
 * one of its resend slots, one per 100 ms; acks we repeat after 50 ms cover a lost or overtaken first ack except
 * when the repeat is lost too. Twice that, plus time for the transfer itself.
 */
const deadlineFor = (bytes: number, loss: number, ackBeforeRecord: number) => {
  const messages = Math.ceil(bytes / 1024)
  const slots = messages * (loss * (1 + loss) + (loss + ackBeforeRecord) * loss)
  return Duration.millis(2 * slots * 100 + 30_000)
}

describe("against the agent-faithful simulator", () => {
  const connections = 8
  const size = 4 * MiB
  const loss = 0.02
  const deadline = deadlineFor(connections * size, loss, 0.02)

  it.scopedLive(
    `8 x 4 MiB downloads through the Port plugin with 2% of frames dropped each way, intact within ${
      Duration.format(deadline)
    }`,
    () =>
      Effect.gen(function*() {
        const destination = yield* downloadServer(size)
        // pacing is the one knob turned down; the agent's sender, resends and acknowledgements stay its own
        const simulator = yield* AgentSimulator.make({ messagesPerSecond: 0 })
        const response = yield* simulator.startSession({
          plugin: AgentSimulator.portPlugin(),
          properties: { portNumber: String(destination), type: "LocalPortForwarding" },
          faults: { seed: 10, toClient: { drop: loss }, toAgent: { drop: loss } }
        })
        const session = yield* openSession(response)
        const forwarding = yield* PortForwarding.make(session)
        const port = (yield* NodePortForwarding.listen(forwarding)).address
        assert.strictEqual(port._tag, "Tcp")
        const started = yield* Clock.currentTimeMillis
        const received = yield* Effect.forEach(
          Array.from({ length: connections }, (_, i) => i),
          (i) => download(port._tag === "Tcp" ? port.port : 0, i, size),
          { concurrency: "unbounded" }
        ).pipe(Effect.timeoutFail({ duration: deadline, onTimeout: () => new Error("the downloads stalled") }))
        const elapsed = (yield* Clock.currentTimeMillis) - started
        received.forEach((bytes, i) => assert.strictEqual(sha256Hex(bytes), sha256Hex(pseudoRandomBytes(size, 1000 + i))))

        const client = yield* session.stats
        const agent = (yield* simulator.sessionStats(response.SessionId))!
        // everything the client received was acknowledged: what the agent resends is what the network lost
        assert.strictEqual(client.droppedUnacknowledged, 0)
        assert.isAbove(agent.retransmissions, 0)
        // and the agent resent through its one slot: at most one message per 100 ms tick
        assert.isAtMost(agent.retransmissions, elapsed / 100 + 10)
      }),
    Duration.toMillis(deadline) + 30_000
  )
})

describe("commands against the agent-faithful simulator", () => {
  it.live("a command's stdout, stderr and exit code, exact under 2% of frames dropped each way", () =>
    Effect.gen(function*() {
      const lossy = simulatedAwsLayer({
        messagesPerSecond: 1000,
        sessionSpec: (request) => ({
          ...AgentSimulator.documentSpec(request),
          faults: { seed: 4, toClient: { drop: 0.02 }, toAgent: { drop: 0.02 } }
        })
      })
      const result = yield* RemoteCommand.exec({ target: "i-1", command: "seq 1 20000; seq 1 2000 >&2; exit 42" }).pipe(
        Effect.provide(lossy)
      )
      const lines = (to: number) => Array.from({ length: to }, (_, i) => `${i + 1}\n`).join("")
      assert.strictEqual(new TextDecoder().decode(result.stdout), lines(20000))
      assert.strictEqual(new TextDecoder().decode(result.stderr), lines(2000))
      assert.strictEqual(result.exitCode, 42)
    }), 60_000)
})

describe("the simulated agent reads and answers as the agent does", () => {
  const isType = (payloadType: number) => (message: { readonly messageType: string; readonly payloadType: number }) =>
    message.messageType === "output_stream_data" && message.payloadType === payloadType
  const text = (message: Option.Option<{ readonly payload: Uint8Array }>) =>
    Option.match(message, { onNone: () => "", onSome: (m) => new TextDecoder().decode(m.payload) })

  for (
    const [name, response] of [
      ["a minimal one", `{"ClientVersion":"1.0.0","ProcessedClientActions":[{"ActionType":"SessionType","ActionStatus":1}]}`],
      ["keys in any case, unknown fields", `{"clientversion":"1.0.0","Extra":[1],"processedClientActions":[{"actionType":"SessionType","ACTIONSTATUS":1,"More":{}}]}`]
    ] as const
  ) {
    it.scopedLive(`a third-party client's HandshakeResponse, ${name}, completes the handshake (Go's lenient JSON)`, () =>
      Effect.gen(function*() {
        const simulator = yield* AgentSimulator.make({ messagesPerSecond: 0 })
        const started = yield* simulator.startSession({ plugin: AgentSimulator.echoPlugin() })
        const client = yield* rawClient(started)
        const request = yield* client.next(isType(5))
        assert.isTrue(Option.isSome(request))
        yield* client.ack(Option.getOrThrow(request))
        yield* client.sendData(6, response)
        const complete = yield* client.next(isType(7))
        assert.include(text(complete), "HandshakeTimeToComplete")
        yield* client.sendData(1, "hello")
        assert.strictEqual(text(yield* client.next(isType(1))), "hello")
        assert.strictEqual((yield* simulator.sessionStats(started.SessionId))?.closed, false)
      }))
  }

  it.scopedLive("a failed client action ends the session, as the agent cancels it", () =>
    Effect.gen(function*() {
      const simulator = yield* AgentSimulator.make({ messagesPerSecond: 0 })
      const started = yield* simulator.startSession({ plugin: AgentSimulator.echoPlugin() })
      const client = yield* rawClient(started)
      yield* client.next(isType(5))
      yield* client.sendData(6, `{"ProcessedClientActions":[{"ActionType":"SessionType","ActionStatus":2,"Error":"no"}]}`)
      const closed = yield* client.next((message) => message.messageType === "channel_closed")
      assert.include(text(closed), "Handshake failed")
    }))

  it.scopedLive("input before the plugin is ready is not acknowledged (ErrHandlerNotReady); resent later, it is taken in order", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const taken = yield* Mailbox.make<string>()
      const simulator = yield* AgentSimulator.make({ messagesPerSecond: 0 })
      const started = yield* simulator.startSession({
        plugin: {
          sessionType: "Port",
          requireHandshake: true,
          signalsReady: true,
          run: (io) =>
            Effect.gen(function*() {
              yield* Deferred.await(gate)
              yield* io.ready
              yield* Stream.runForEach(io.input, (item) =>
                item._tag === "Data" ? taken.offer(new TextDecoder().decode(item.bytes)) : Effect.void)
            })
        }
      })
      const client = yield* rawClient(started)
      yield* client.next(isType(5))
      yield* client.sendData(6, `{"ProcessedClientActions":[{"ActionType":"SessionType","ActionStatus":1}]}`)
      yield* client.next(isType(7))
      const isAck = (message: { readonly messageType: string }) => message.messageType === "acknowledge"
      // (the HandshakeResponse, 0, was acknowledged before HandshakeComplete came) 1 is refused while 2, ahead of
      // it, is kept and acknowledged
      yield* client.sendData(1, "first")
      yield* client.sendData(1, "second")
      assert.strictEqual(ackedSequence(Option.getOrThrow(yield* client.next(isAck))), 2)
      yield* Deferred.succeed(gate, undefined)
      // ready now: the client's resend of 1 is taken, and 2 after it
      yield* client.sendData(1, "first", 1)
      assert.strictEqual(ackedSequence(Option.getOrThrow(yield* client.next(isAck))), 1)
      assert.deepStrictEqual([yield* taken.take, yield* taken.take], ["first", "second"])
    }))
})

describe("the simulator's hardening", () => {
  it.scopedLive("a connection that never sends its OpenDataChannel frame is closed after openFrameTimeout", () =>
    Effect.gen(function*() {
      const simulator = yield* AgentSimulator.make({ openFrameTimeout: "200 millis" })
      const started = yield* simulator.startSession({ plugin: AgentSimulator.echoPlugin() })
      const code = yield* Effect.async<number>((resume) => {
        const socket = new WS.WebSocket(started.StreamUrl)
        socket.once("close", (closeCode) => resume(Effect.succeed(closeCode)))
      }).pipe(Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => new Error("still open") }))
      assert.strictEqual(code, 4001)
    }))
})

describe("the agent's output path for commands (shell.go processStdoutData)", () => {
  const list = (bytes: Uint8Array) => Array.from(bytes)

  type Item = { readonly kind: "Output" | "StdErr" | "Payload"; readonly bytes: Uint8Array }

  /** a session's Output, StdErr and other payloads, in order, until it closes */
  const drain = (response: AgentSimulator.StartSessionResponse) =>
    Effect.gen(function*() {
      const session = yield* openSession(response)
      const items = yield* Stream.runCollect(Stream.merge(
        session.output.pipe(Stream.map((bytes): Item => ({ kind: "Output", bytes }))),
        session.events.pipe(Stream.filterMap((event): Option.Option<Item> =>
          event._tag === "StdErr"
            ? Option.some({ kind: "StdErr", bytes: event.bytes })
            : event._tag === "Payload"
            ? Option.some({ kind: "Payload", bytes: event.bytes })
            : Option.none()
        ))
      ))
      const of = (kind: string) => Array.from(items).filter((item) => item.kind === kind).flatMap((item) => list(item.bytes))
      return { output: of("Output"), stderr: of("StdErr"), payloads: of("Payload") }
    })

  const cut = "printf 'a\\357\\277\\275bcde\\342\\202'; printf 'e\\342\\202' >&2"

  it.live("separate streams: U+FFFD mid-stream arrives as EF, a trailing E2 82 is lost, on stdout and on stderr", () =>
    Effect.gen(function*() {
      const agent = yield* RemoteCommand.exec({ target: "i-1", command: cut }).pipe(Effect.provide(simulatedAwsLayer()))
      assert.deepStrictEqual(list(agent.stdout), [0x61, 0xef, 0x62, 0x63, 0x64, 0x65])
      assert.deepStrictEqual(list(agent.stderr), [0x65])
      assert.strictEqual(agent.exitCode, 0)
      // stdoutData "exact", kinder than the agent: every byte
      const exact = yield* RemoteCommand.exec({ target: "i-1", command: cut }).pipe(
        Effect.provide(simulatedAwsLayer({ remoteProcess: { stdoutData: "exact" } }))
      )
      assert.deepStrictEqual(list(exact.stdout), [0x61, 0xef, 0xbf, 0xbd, 0x62, 0x63, 0x64, 0x65, 0xe2, 0x82])
      assert.deepStrictEqual(list(exact.stderr), [0x65, 0xe2, 0x82])
    }), 30_000)

  it.scopedLive("the separator prefix goes after the bytes held back: a last read ending 0xFF \\n sends the prefix and what came before", () =>
    Effect.gen(function*() {
      const simulator = yield* AgentSimulator.make({ messagesPerSecond: 0 })
      const response = yield* simulator.startSession({
        plugin: AgentSimulator.commandPlugin(),
        properties: { linux: { commands: "printf 'a\\377\\n'", separateOutputStream: true, stdOutSeparatorPrefix: "P:" } }
      })
      const { output, payloads } = yield* drain(response)
      // "P:" + "a"; FF and the newline are within the last 3 bytes of the last read: held, never sent
      assert.deepStrictEqual(output, [0x50, 0x3a, 0x61])
      assert.strictEqual(new TextDecoder().decode(Uint8Array.from(payloads)), "EXIT_CODE: 0")
    }), 30_000)

  it.scopedLive("without separate streams (AWS-StartNonInteractiveCommand): one file, sent once the command has exited, in the order written", () =>
    Effect.gen(function*() {
      const simulator = yield* AgentSimulator.make({ messagesPerSecond: 0 })
      const response = yield* simulator.startSession(AgentSimulator.documentSpec({
        target: "i-1",
        documentName: "AWS-StartNonInteractiveCommand",
        parameters: { command: ["sh -c 'echo a; echo b >&2; echo c; printf \"x\\342\\202\"'"] }
      }))
      const { output, payloads, stderr } = yield* drain(response)
      // stdout and stderr in the file's order; the trailing E2 82 held back and lost; no StdErr, no exit code
      assert.strictEqual(new TextDecoder().decode(Uint8Array.from(output)), "a\nb\nc\nx")
      assert.deepStrictEqual([stderr, payloads], [[], []])
    }), 30_000)
})
