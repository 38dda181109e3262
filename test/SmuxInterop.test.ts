/**
 * Interop with the real Go xtaci/smux 1.5.16 over loopback TCP, both roles, keepalive off and on.
 * These fail (never skip) when the Go peer cannot be built: .ci/run installs its Debian packages.
 */
import { assert, beforeAll, describe, it } from "@effect/vitest"
import { Effect, Fiber, Stream } from "effect"
import * as NodeNetTransport from "../src/NodeNetTransport.js"
import * as Smux from "../src/Smux.js"
import { pseudoRandomBytes, sha256Hex } from "./utils/bytes.js"
import { buildGoPeer, goClient, goServer, smuxEchoServer } from "./utils/goPeer.js"

beforeAll(() => {
  buildGoPeer()
}, 120_000)

/** Our client against the Go echo server: `streams` streams of `size` bytes, all verified. */
const ourClientAgainstGo = (options: { readonly streams: number; readonly size: number; readonly keepalive: boolean }) =>
  Effect.gen(function*() {
    const { port } = yield* goServer({ keepalive: options.keepalive })
    const transport = yield* NodeNetTransport.connect({ host: "127.0.0.1", port })
    const client = yield* Smux.make(transport, { role: "client", keepAlive: options.keepalive })
    const results = yield* Effect.forEach(
      Array.from({ length: options.streams }, (_, i) => i),
      (i) =>
        Effect.scoped(Effect.gen(function*() {
          const data = pseudoRandomBytes(options.size, i + 1)
          const stream = yield* client.open
          const reader = yield* Effect.fork(
            Smux.toStream(stream).pipe(
              Stream.runFoldWhile(
                { parts: [] as Array<Uint8Array>, length: 0 },
                (acc) => acc.length < options.size,
                (acc, bytes) => ({ parts: [...acc.parts, bytes], length: acc.length + bytes.length })
              )
            )
          )
          yield* stream.write(data)
          const received = yield* Fiber.join(reader)
          return sha256Hex(Buffer.concat(received.parts)) === sha256Hex(data)
        })),
      { concurrency: "unbounded" }
    )
    return results
  })

describe("Smux interop with Go xtaci/smux 1.5.16", () => {
  for (const keepalive of [false, true]) {
    describe(`keepalive ${keepalive ? "on" : "off"}`, () => {
      it.scopedLive("our client, Go server: 1 stream x 16 MiB", () =>
        Effect.gen(function*() {
          const results = yield* ourClientAgainstGo({ streams: 1, size: 16 * 1024 * 1024, keepalive })
          assert.deepStrictEqual(results, [true])
        }))

      it.scopedLive("our client, Go server: 200 concurrent streams x 5 KB", () =>
        Effect.gen(function*() {
          const results = yield* ourClientAgainstGo({ streams: 200, size: 5000, keepalive })
          assert.strictEqual(results.filter(Boolean).length, 200)
        }))

      it.scopedLive("Go client, our server: 1 stream x 16 MiB", () =>
        Effect.gen(function*() {
          const port = yield* smuxEchoServer({ keepAlive: keepalive })
          const result = yield* goClient({ port, streams: 1, size: 16 * 1024 * 1024, keepalive })
          assert.strictEqual(result.code, 0, result.summary)
          assert.include(result.summary, `"failures":0`)
        }))

      it.scopedLive("Go client, our server: 200 concurrent streams x 5 KB", () =>
        Effect.gen(function*() {
          const port = yield* smuxEchoServer({ keepAlive: keepalive })
          const result = yield* goClient({ port, streams: 200, size: 5000, keepalive })
          assert.strictEqual(result.code, 0, result.summary)
          assert.include(result.summary, `"streams":200`)
        }))
    })
  }

  describe.concurrent("keepalive timing against the real peer (about a minute)", () => {
    it.scopedLive("our NOPs keep an idle session alive past Go's 30 s timeout", () =>
      Effect.gen(function*() {
        const port = yield* smuxEchoServer({ keepAlive: true })
        // the Go client idles 40 s with keepalive on: it would close the session after 30-60 s of silence
        const result = yield* goClient({ port, streams: 4, size: 4096, keepalive: true, idle: "40s" })
        assert.strictEqual(result.code, 0, result.summary)
      }), 120_000)

    it.scopedLive("our keepalive ends a session whose Go peer is silent", () =>
      Effect.gen(function*() {
        const { port } = yield* goServer({ keepalive: false })
        const transport = yield* NodeNetTransport.connect({ host: "127.0.0.1", port })
        const client = yield* Smux.make(transport, {
          role: "client",
          keepAlive: true,
          keepAliveInterval: "1 second",
          keepAliveTimeout: "3 seconds"
        })
        const error = yield* Effect.flip(client.await)
        assert.strictEqual(error.reason, "Timeout")
      }), 60_000)
  })
})
