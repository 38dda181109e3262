import { assert, describe, it, layer } from "@effect/vitest"
import { Effect, Fiber, Redacted, Stream } from "effect"
import * as Events from "node:events"
import type * as WS from "ws"
import * as AgentSimulator from "../src/AgentSimulator.js"
import { drained } from "../src/internal/simulator/agent.js"
import * as NodeSession from "../src/NodeSession.js"
import * as Session from "../src/Session.js"
import { spawnCli, waitForOutput } from "./utils/cli.js"

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
