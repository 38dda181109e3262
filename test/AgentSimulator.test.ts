import { assert, describe, it, layer } from "@effect/vitest"
import { Cause, Effect, Exit, Fiber, Layer, Redacted, Stream } from "effect"
import * as Events from "node:events"
import type * as WS from "ws"
import * as AgentSimulator from "../src/AgentSimulator.js"
import { drained } from "../src/internal/simulator/agent.js"
import * as NodePortForwarding from "../src/NodePortForwarding.js"
import * as NodeSession from "../src/NodeSession.js"
import * as PortForwarding from "../src/PortForwarding.js"
import * as RemoteCommand from "../src/RemoteCommand.js"
import * as Session from "../src/Session.js"
import * as SsmApi from "../src/SsmApi.js"
import { pseudoRandomBytes, sha256Hex } from "./utils/bytes.js"
import { spawnCli, waitForOutput } from "./utils/cli.js"
import { echoServer, roundTrip } from "./utils/tcp.js"

const connect = (response: AgentSimulator.StartSessionResponse) =>
  Session.make({
    sessionId: response.SessionId,
    streamUrl: response.StreamUrl,
    tokenValue: response.TokenValue
  }).pipe(Effect.provide(NodeSession.layerWebSocketConstructor))

const exchange = (session: Session.Session, text: string) =>
  Effect.gen(function*() {
    const reply = yield* Effect.fork(session.output.pipe(Stream.take(1), Stream.runCollect))
    yield* session.write(new TextEncoder().encode(text))
    return new TextDecoder().decode([...(yield* Fiber.join(reply))][0])
  })

/** A plugin is a session type and an Effect over its IO: this one shouts back. */
const shoutPlugin: AgentSimulator.Plugin = {
  sessionType: "InteractiveCommands",
  requireHandshake: false,
  run: (io) =>
    Effect.zipRight(
      io.write(new TextEncoder().encode("ready> ")),
      Stream.runForEach(io.input, (input) =>
        input._tag === "Data" ? io.write(new TextEncoder().encode(new TextDecoder().decode(input.bytes).toUpperCase())) : Effect.void)
    )
}

describe("AgentSimulator", () => {
  layer(AgentSimulator.layer({ messagesPerSecond: 0 }), { excludeTestServices: true })("as a Layer", (it) => {
    it.scoped("serves sessions with a custom plugin", () =>
      Effect.gen(function*() {
        const simulator = yield* AgentSimulator.AgentSimulator
        const response = yield* simulator.startSession({ plugin: shoutPlugin })
        const session = yield* connect(response)
        assert.strictEqual(session.sessionType, "Standard_Stream") // no handshake: the first output decides
        const prompt = yield* session.output.pipe(Stream.take(1), Stream.runCollect)
        assert.strictEqual(new TextDecoder().decode([...prompt][0]), "ready> ")
        assert.strictEqual(yield* exchange(session, "hello"), "HELLO")
      }))

    it.scoped("the StreamUrl is on 127.0.0.1 and the token is Redacted", () =>
      Effect.gen(function*() {
        const simulator = yield* AgentSimulator.AgentSimulator
        const response = yield* simulator.startSession({ plugin: AgentSimulator.echoPlugin() })
        assert.match(response.StreamUrl, /^ws:\/\/127\.0\.0\.1:\d+\/v1\/data-channel\//)
        assert.strictEqual(String(response.TokenValue), "<redacted>")
        assert.isAbove(Redacted.value(response.TokenValue).length, 32)
      }))
  })

  it.scopedLive("the `simulate` command prints a StartSession response that a client can use", () =>
    Effect.gen(function*() {
      const child = yield* spawnCli("main", ["simulate", "--echo", "--messages-per-second", "0"])
      const [line] = yield* waitForOutput(child, /^.*\n/)
      const printed = JSON.parse(line) as { SessionId: string; TokenValue: string; StreamUrl: string }
      const session = yield* connect({ ...printed, TokenValue: Redacted.make(printed.TokenValue) })
      assert.strictEqual(session.sessionType, "Port")
      assert.strictEqual(yield* exchange(session, "through the CLI"), "through the CLI")
    }), 60_000)
})

describe("AgentSimulator.layerAll: one layer in place of AWS", () => {
  const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes)

  it.scopedLive("runs a command and a tunnel with nothing else provided, on the simulator it provides", () =>
    Effect.gen(function*() {
      const simulator = yield* AgentSimulator.AgentSimulator
      const session = yield* RemoteCommand.start({ target: "i-simulated", command: "echo out; echo err >&2; exit 3" })
      const result = yield* RemoteCommand.run(session)
      assert.deepStrictEqual(
        { stdout: text(result.stdout), stderr: text(result.stderr), exitCode: result.exitCode },
        { stdout: "out\n", stderr: "err\n", exitCode: 3 }
      )
      // SsmApi started it on the simulator the layer provides, not on one of its own
      assert.isDefined(yield* simulator.sessionStats(session.sessionId))

      const destination = yield* echoServer
      const forwarding = yield* PortForwarding.toInstancePort({ target: "i-simulated", portNumber: destination })
      const listener = yield* NodePortForwarding.listen(forwarding)
      const data = pseudoRandomBytes(64 * 1024, 3)
      assert.strictEqual(sha256Hex(yield* roundTrip(listener.port, data)), sha256Hex(data))
      assert.isDefined(yield* simulator.sessionStats(forwarding.session.sessionId))
    }).pipe(Effect.provide(AgentSimulator.layerAll({ messagesPerSecond: 0 }))), 30_000)

  it.scopedLive("with the account's KMS preference: KmsApi is the simulator's KMS, so encrypted sessions work", () =>
    Effect.gen(function*() {
      const simulator = yield* AgentSimulator.AgentSimulator
      const session = yield* RemoteCommand.start({ target: "i-simulated", command: "echo secret" })
      assert.strictEqual(session.customerMessage, "This session is encrypted using AWS KMS.")
      const result = yield* RemoteCommand.run(session)
      assert.strictEqual(text(result.stdout), "secret\n")
      assert.isTrue((yield* simulator.sessionStats(session.sessionId))?.encrypted)
    }).pipe(
      Effect.provide(AgentSimulator.layerAll({ messagesPerSecond: 0, kmsKeyId: "alias/session-manager" }))
    ), 30_000)

  it.scopedLive("its SsmApi starts what `sessionSpec` chooses", () =>
    Effect.gen(function*() {
      const ssm = yield* SsmApi.SsmApi
      const response = yield* ssm.startSession({ target: "i-simulated" })
      const session = yield* connect({
        SessionId: response.sessionId,
        StreamUrl: response.streamUrl,
        TokenValue: response.tokenValue
      })
      const prompt = yield* session.output.pipe(Stream.take(1), Stream.runCollect)
      assert.strictEqual(text([...prompt][0]!), "ready> ")
      assert.strictEqual(yield* exchange(session, "hello"), "HELLO")
    }).pipe(
      Effect.provide(AgentSimulator.layerAll({ messagesPerSecond: 0, sessionSpec: () => ({ plugin: shoutPlugin }) }))
    ))

  it("wiring: layerSsmApi still needs a simulator, and says which; layerAll needs nothing", () => {
    // @ts-expect-error Type 'AgentSimulator' is not assignable to type 'never': nothing provides the simulator
    const missing: Layer.Layer<SsmApi.SsmApi> = AgentSimulator.layerSsmApi()
    const composed: Layer.Layer<SsmApi.SsmApi | AgentSimulator.AgentSimulator, AgentSimulator.SimulatorError> =
      AgentSimulator.layerSsmApi().pipe(Layer.provideMerge(AgentSimulator.layer()))
    const all: Layer.Layer<AgentSimulator.Services, AgentSimulator.SimulatorError, never> = AgentSimulator.layerAll()
    assert.isTrue([missing, composed, all].every(Layer.isLayer))
  })

  // it.live: @effect/vitest's `layer` above assigns its runtime to the shared `it.effect` and `it.scoped`, which
  // would provide a simulator here
  it.live("wiring: layerSsmApi or layerKmsApi with no simulator, past the compiler, dies saying what to provide", () =>
    Effect.gen(function*() {
      const unwired = [
        AgentSimulator.layerSsmApi() as Layer.Layer<SsmApi.SsmApi>,
        AgentSimulator.layerKmsApi as Layer.Layer<unknown>
      ]
      for (const services of unwired) {
        const exit = yield* Effect.exit(Effect.provide(Effect.void, services))
        assert.isTrue(Exit.isFailure(exit) && Cause.isDie(exit.cause))
        const defect = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
        assert.match(String(defect), /needs an AgentSimulator: .*AgentSimulator\.layer\(options\).*AgentSimulator\.layerAll\(options\)/)
      }
    }))
})

describe("the simulator's WebSocket writes", () => {
  it.effect("waiting for a connection to drain leaves no listener behind, whichever of drain or close comes", () =>
    Effect.gen(function*() {
      // the connection under a ws WebSocket, with bytes waiting to leave
      const connection = Object.assign(new Events.EventEmitter(), { destroyed: false, writableLength: 1, writableCorked: 0, uncork: () => {} })
      const socket = { _socket: connection } as unknown as WS.WebSocket
      for (let i = 0; i < 20; i++) {
        const waiting = yield* Effect.fork(drained(socket))
        yield* Effect.yieldNow()
        connection.emit(i % 2 === 0 ? "drain" : "close")
        yield* Fiber.join(waiting)
      }
      assert.strictEqual(connection.listenerCount("drain"), 0)
      assert.strictEqual(connection.listenerCount("close"), 0)
      // interrupted while it waits: the same
      const interrupted = yield* Effect.fork(drained(socket))
      yield* Effect.yieldNow()
      yield* Fiber.interrupt(interrupted)
      assert.strictEqual(connection.listenerCount("drain") + connection.listenerCount("close"), 0)
    }))
})
