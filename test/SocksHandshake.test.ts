/**
 * The SOCKS proxy's handshake machine and request checks, as plain functions: the greeting is answered and the
 * machine moves to the request, bytes in any split give the same request, what follows the request is kept, and
 * each malformed step ends in the right rejection.
 */
import { assert, describe, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import {
  advance,
  checkRequest,
  type HandshakeState,
  type HandshakeStep,
  initialHandshake,
  receive
} from "../src/internal/node/socksHandshake.js"
import { Reply } from "../src/internal/node/socksWire.js"

const GREETING = [0x05, 0x01, 0x00]
/** CONNECT to example.com:443 */
const REQUEST = [0x05, 0x01, 0x00, 0x03, 11, ...new TextEncoder().encode("example.com"), 0x01, 0xbb]

/** Feeds the bytes in the pieces given, collecting every step but `More`, until a request or a rejection. */
const run = (pieces: ReadonlyArray<ReadonlyArray<number>>) => {
  const state = initialHandshake()
  const steps: Array<HandshakeStep> = []
  let received = 0
  for (const piece of pieces) {
    receive(state, [new Uint8Array(piece)])
    received += piece.length
    while (true) {
      const step = advance(state)
      if (step._tag === "More") break
      steps.push(step)
      if (step._tag !== "Answer") return { state, steps, received }
    }
  }
  return { state, steps, received }
}

const tagOf = (step: HandshakeStep | undefined) => step?._tag

describe("SOCKS handshake", () => {
  it("a greeting with 'no authentication' is answered with it, and the machine moves to the request", () => {
    const state: HandshakeState = initialHandshake()
    receive(state, [new Uint8Array(GREETING)])
    const step = advance(state)
    assert.strictEqual(step._tag, "Answer")
    assert.deepStrictEqual([...(step as { bytes: Uint8Array }).bytes], [0x05, 0x00])
    assert.strictEqual(state.phase, "Request")
    assert.strictEqual(state.buffer.length, 0)
    assert.strictEqual(advance(state)._tag, "More")
  })

  it("an incomplete greeting or request asks for more and keeps its bytes", () => {
    const state = initialHandshake()
    receive(state, [new Uint8Array([0x05, 0x02])])
    assert.strictEqual(advance(state)._tag, "More")
    assert.strictEqual(state.phase, "Greeting")
    assert.strictEqual(state.buffer.length, 2)
  })

  it.prop("the same request whatever the split, with the bytes that came with it kept as the client's first data", [
    fc.array(fc.integer({ min: 1, max: GREETING.length + REQUEST.length + 3 }), { maxLength: 6 }),
    fc.uint8Array({ maxLength: 8 })
  ], ([cuts, trailing]) => {
    const all = [...GREETING, ...REQUEST, ...trailing]
    const points = [...new Set(cuts.filter((cut) => cut < all.length))].sort((a, b) => a - b)
    const pieces: Array<Array<number>> = []
    let from = 0
    for (const point of [...points, all.length]) {
      pieces.push(all.slice(from, point))
      from = point
    }
    const { received, steps } = run(pieces)
    assert.deepStrictEqual(steps.map(tagOf), ["Answer", "Request"])
    const request = (steps[1] as Extract<HandshakeStep, { _tag: "Request" }>).request
    assert.strictEqual(request.command, 0x01)
    assert.strictEqual(request.host, "example.com")
    assert.strictEqual(request.port, 443)
    // what came in the same read as the end of the request; later bytes are read by the tunnel
    assert.deepStrictEqual([...request.rest], all.slice(GREETING.length + REQUEST.length, received))
  })

  it("a client offering only other methods is rejected with 'no acceptable methods'", () => {
    const { steps } = run([[0x05, 0x01, 0x02]])
    const [step] = steps
    assert.strictEqual(tagOf(step), "Rejection")
    const rejection = step as Extract<HandshakeStep, { _tag: "Rejection" }>
    assert.deepStrictEqual([...rejection.reply!], [0x05, 0xff])
    assert.strictEqual(rejection.error.reason, "Handshake")
    assert.match(rejection.error.message, /no acceptable authentication method/)
  })

  it("not SOCKS5: rejected without a reply (SOCKS4 gets its own), and the machine never answers", () => {
    const http = run([[...new TextEncoder().encode("GET / HTTP/1.1\r\n")]])
    assert.deepStrictEqual(http.steps.map(tagOf), ["Rejection"])
    assert.isUndefined((http.steps[0] as Extract<HandshakeStep, { _tag: "Rejection" }>).reply)
    const socks4 = run([[0x04, 0x01, 0x00, 0x50, 127, 0, 0, 1, 0]])
    const reply = (socks4.steps[0] as Extract<HandshakeStep, { _tag: "Rejection" }>).reply
    assert.deepStrictEqual([...reply!].slice(0, 2), [0x00, 0x5b])
  })

  it("a request with an unknown address type is rejected with 'address type not supported' after the answer", () => {
    const { steps } = run([[...GREETING, 0x05, 0x01, 0x00, 0x07, 1, 2, 3]])
    assert.deepStrictEqual(steps.map(tagOf), ["Answer", "Rejection"])
    const reply = (steps[1] as Extract<HandshakeStep, { _tag: "Rejection" }>).reply!
    assert.strictEqual(reply[1], Reply.AddressTypeNotSupported)
  })

  describe("checkRequest", () => {
    const replyOf = (request: { command: number; host: string; port: number }) => {
      const rejection = checkRequest(request)
      return rejection === undefined ? undefined : { code: rejection.reply?.[1], destination: rejection.destination, detail: rejection.error.detail }
    }

    it("CONNECT to a host name, an IPv4 or an IPv6 address and a port passes", () => {
      assert.isUndefined(checkRequest({ command: 0x01, host: "db.internal", port: 5432 }))
      assert.isUndefined(checkRequest({ command: 0x01, host: "10.0.0.1", port: 22 }))
      assert.isUndefined(checkRequest({ command: 0x01, host: "fd00::1", port: 443 }))
    })

    it("BIND, UDP ASSOCIATE and others are 'command not supported', named", () => {
      assert.deepStrictEqual(replyOf({ command: 0x02, host: "a", port: 1 }), {
        code: Reply.CommandNotSupported,
        destination: "a:1",
        detail: "BIND is not supported (CONNECT is)"
      })
      assert.strictEqual(replyOf({ command: 0x03, host: "a", port: 1 })?.detail, "UDP ASSOCIATE is not supported (CONNECT is)")
      assert.strictEqual(replyOf({ command: 0x09, host: "a", port: 1 })?.detail, "command 9 is not supported (CONNECT is)")
    })

    it("a host the document cannot carry, and port 0, are 'host unreachable'", () => {
      assert.strictEqual(replyOf({ command: 0x01, host: "a b", port: 80 })?.code, Reply.HostUnreachable)
      assert.strictEqual(replyOf({ command: 0x01, host: "", port: 80 })?.code, Reply.HostUnreachable)
      assert.deepStrictEqual(replyOf({ command: 0x01, host: "fd00::1", port: 0 }), {
        code: Reply.HostUnreachable,
        destination: "[fd00::1]:0",
        detail: "port 0"
      })
    })
  })
})
