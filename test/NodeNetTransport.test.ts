/**
 * Transports over Node sockets: a failed connect is a yieldable `NetTransportError` with its reason, and bytes
 * flow both ways.
 */
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Exit, Option } from "effect"
import * as NodeNetTransport from "../src/NodeNetTransport.js"
import { closedPort, echoServer } from "./utils/tcp.js"

describe("NodeNetTransport", () => {
  it.scopedLive("a refused connect fails with a yieldable NetTransportError, reason Connect", () =>
    Effect.gen(function*() {
      const port = yield* closedPort
      const error = yield* Effect.flip(NodeNetTransport.connect({ host: "127.0.0.1", port }))
      assert.strictEqual(error._tag, "NetTransportError")
      assert.strictEqual(error.reason, "Connect")
      assert.isTrue(NodeNetTransport.isNetTransportError(error))
      assert.isTrue(error instanceof Error)
      assert.match(error.message, /^Connect: .*ECONNREFUSED/)
      assert.strictEqual((error.cause as { code?: string }).code, "ECONNREFUSED")
      // yieldable: a generator can fail with it as is
      const exit = yield* Effect.exit(Effect.gen(function*() {
        return yield* error
      }))
      assert.deepStrictEqual(exit, Exit.fail(error))
    }))

  it.scopedLive("bytes written come back through an echo server, pulled", () =>
    Effect.gen(function*() {
      const port = yield* echoServer
      const transport = yield* NodeNetTransport.connect({ host: "127.0.0.1", port })
      yield* transport.write(new TextEncoder().encode("ping"))
      let text = ""
      while (text.length < 4) {
        const chunk = yield* Effect.mapError(transport.pull, Option.getOrThrow)
        for (const bytes of Chunk.toReadonlyArray(chunk)) text += new TextDecoder().decode(bytes)
      }
      assert.strictEqual(text, "ping")
    }))
})
