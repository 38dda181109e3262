import { assert, describe, it } from "@effect/vitest"
import { Effect, Either, Fiber, Option, Stream } from "effect"
import * as AgentSimulator from "../src/AgentSimulator.js"
import * as NodeSession from "../src/NodeSession.js"
import * as Session from "../src/Session.js"
import { pseudoRandomBytes, sha256Hex } from "./utils/bytes.js"

const open = (response: AgentSimulator.StartSessionResponse, options: Partial<Session.SessionOptions> = {}) =>
  Session.make({
    sessionId: response.SessionId,
    streamUrl: response.StreamUrl,
    tokenValue: response.TokenValue,
    messagesPerSecond: 0,
    ...options
  }).pipe(Effect.provide(NodeSession.layerWebSocketConstructor))

/** Writes `data` and reads the same number of bytes back from the echo plugin. */
const echoRoundTrip = (session: Session.Session, data: Uint8Array) =>
  Effect.gen(function*() {
    const reader = yield* Effect.fork(session.output.pipe(
      Stream.runFoldWhile({ parts: [] as Array<Uint8Array>, length: 0 }, (acc) => acc.length < data.length, (acc, bytes) => ({
        parts: [...acc.parts, bytes],
        length: acc.length + bytes.length
      }))
    ))
    yield* session.write(data)
    const received = yield* Fiber.join(reader)
    return Buffer.concat(received.parts)
  })

describe("Session against the agent simulator", () => {
  it.scopedLive("handshake, then 1 MiB echoed intact", () =>
    Effect.gen(function*() {
      const simulator = yield* AgentSimulator.make({ messagesPerSecond: 0, agentVersion: "3.3.1142.0" })
      const response = yield* simulator.startSession({
        plugin: AgentSimulator.echoPlugin("Port"),
        properties: { portNumber: "80", type: "LocalPortForwarding" }
      })
      const session = yield* open(response)
      assert.strictEqual(session.sessionType, "Port")
      assert.deepStrictEqual(session.agentVersion, Option.some("3.3.1142.0"))
      assert.deepStrictEqual(session.properties, { portNumber: "80", type: "LocalPortForwarding" })
      const data = pseudoRandomBytes(1024 * 1024, 3)
      const echoed = yield* echoRoundTrip(session, data)
      assert.strictEqual(sha256Hex(echoed), sha256Hex(data))
    }))

  it.scopedLive("a KMS request gives the typed EncryptionRequired error", () =>
    Effect.gen(function*() {
      const simulator = yield* AgentSimulator.make({ messagesPerSecond: 0 })
      const response = yield* simulator.startSession({
        plugin: AgentSimulator.echoPlugin("Standard_Stream"),
        kmsKeyId: "arn:aws:kms:us-east-1:111122223333:key/sim"
      })
      const result = yield* Effect.either(open(response))
      assert.isTrue(Either.isLeft(result) && result.left.reason === "EncryptionRequired")
    }))
})
