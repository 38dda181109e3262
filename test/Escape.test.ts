/**
 * ssh's escapes over keyboard bytes (src/cli/escape.ts): `~.`, `~?`, `~~` and the rest after a line end, under any
 * split of the input.
 */
import { assert, describe, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import * as Escape from "../src/cli/escape.js"

const TILDE = 0x7e
const encode = (text: string) => new TextEncoder().encode(text)

type Outcome = { readonly sent: Array<number>; readonly help: number; readonly disconnected: boolean; readonly events: Array<string> }

/** every chunk fed in turn (stopping at a Disconnect), the events flattened */
const run = (escape: number | undefined, chunks: ReadonlyArray<Uint8Array>): Outcome => {
  let state = Escape.initial
  const outcome: Outcome = { sent: [], help: 0, disconnected: false, events: [] }
  let disconnected = false
  let help = 0
  for (const chunk of chunks) {
    const step = Escape.feed(escape, state, chunk)
    state = step.state
    for (const event of step.events) {
      outcome.events.push(event._tag)
      if (event._tag === "Send") outcome.sent.push(...event.bytes)
      else if (event._tag === "Help") help++
      else disconnected = true
    }
    if (disconnected) break
  }
  return { ...outcome, help, disconnected }
}

/** `bytes` cut at the given points */
const split = (bytes: Uint8Array, cuts: ReadonlyArray<number>): Array<Uint8Array> => {
  const points = [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))].sort((a, b) => a - b)
  const chunks: Array<Uint8Array> = []
  let from = 0
  for (const point of points) {
    chunks.push(bytes.subarray(from, point))
    from = point
  }
  chunks.push(bytes.subarray(from))
  return chunks
}

/** keyboard bytes rich in escapes, line ends and the characters that follow them */
const keyboard = fc.array(
  fc.oneof(
    fc.constantFrom(TILDE, 0x2e, 0x3f, 0x0d, 0x0a, 0x03, 0x78),
    fc.integer({ min: 0, max: 255 })
  ),
  { maxLength: 200 }
).map((values) => Uint8Array.from(values))

describe("Escape", () => {
  it("~. at the start disconnects, sending nothing", () => {
    const outcome = run(TILDE, [encode("~.")])
    assert.deepStrictEqual(outcome.sent, [])
    assert.isTrue(outcome.disconnected)
  })

  it("~. after \\r or \\n disconnects; the bytes before are sent", () => {
    for (const end of ["\r", "\n"]) {
      const outcome = run(TILDE, [encode(`ls${end}~.rest`)])
      assert.deepStrictEqual(outcome.sent, [...encode(`ls${end}`)])
      assert.isTrue(outcome.disconnected)
      assert.deepStrictEqual(outcome.events, ["Send", "Disconnect"])
    }
  })

  it("~. in the middle of a line is sent as typed", () => {
    const outcome = run(TILDE, [encode("echo a~.b\r")])
    assert.deepStrictEqual(outcome.sent, [...encode("echo a~.b\r")])
    assert.isFalse(outcome.disconnected)
  })

  it("~? prints the list and keeps the line's start: ~. right after still disconnects", () => {
    const outcome = run(TILDE, [encode("~?~.")])
    assert.strictEqual(outcome.help, 1)
    assert.isTrue(outcome.disconnected)
    assert.deepStrictEqual(outcome.sent, [])
    assert.include(Escape.helpText("~"), "~.   - terminate the session\r\n")
  })

  it("~~ sends one ~, and the line is no longer at its start", () => {
    const outcome = run(TILDE, [encode("~~.")])
    assert.deepStrictEqual(outcome.sent, [...encode("~.")])
    assert.isFalse(outcome.disconnected)
  })

  it("~ then anything else sends both; a held ~ waits across chunks", () => {
    assert.deepStrictEqual(run(TILDE, [encode("~x")]).sent, [...encode("~x")])
    const step = Escape.feed(TILDE, Escape.initial, encode("\r~"))
    assert.deepStrictEqual(step.events.map((event) => event._tag), ["Send"])
    assert.isTrue(step.state.pending)
    assert.deepStrictEqual(run(TILDE, [encode("\r~"), encode("\r~"), encode(".")]).sent, [...encode("\r~\r")])
    assert.isTrue(run(TILDE, [encode("\r~"), encode("\r~"), encode(".")]).disconnected)
  })

  it("another escape character (^]) and none", () => {
    assert.strictEqual(Escape.escapeName(0x1d), "^]")
    assert.strictEqual(Escape.escapeName(0x7e), "~")
    assert.include(Escape.helpText("^]"), " ^]^]   - send the escape character")
    const parsed = Escape.parseEscape("^]")
    assert.deepStrictEqual(parsed, { _tag: "Right", char: 0x1d })
    assert.deepStrictEqual(Escape.parseEscape("none"), { _tag: "Right", char: undefined })
    assert.deepStrictEqual(Escape.parseEscape("%"), { _tag: "Right", char: 0x25 })
    assert.strictEqual(Escape.parseEscape("ab")._tag, "Left")
    assert.strictEqual(Escape.parseEscape("é")._tag, "Left")
    const outcome = run(0x1d, [encode("~.\r\x1d.")])
    assert.deepStrictEqual(outcome.sent, [...encode("~.\r")])
    assert.isTrue(outcome.disconnected)
  })

  it.prop("without escapes the bytes pass unchanged under any split", [keyboard, fc.array(fc.nat(), { maxLength: 8 })], ([bytes, cuts]) => {
    const outcome = run(undefined, split(bytes, cuts))
    assert.deepStrictEqual(outcome.sent, [...bytes])
    assert.isFalse(outcome.disconnected)
    assert.strictEqual(outcome.help, 0)
  })

  it.prop("any split gives what one chunk gives", [keyboard, fc.array(fc.nat(), { maxLength: 8 })], ([bytes, cuts]) => {
    const whole = run(TILDE, [bytes])
    const pieces = run(TILDE, split(bytes, cuts))
    assert.deepStrictEqual(pieces.sent, whole.sent)
    assert.strictEqual(pieces.disconnected, whole.disconnected)
    assert.strictEqual(pieces.help, whole.help)
  })

  it.prop(
    "input with no escape character after a line end (nor at the start) is sent as typed, ~. included",
    [keyboard, fc.array(fc.nat(), { maxLength: 8 })],
    ([bytes, cuts]) => {
      // dropped against the last byte kept, not the last byte generated: in \r~~ the second ~ follows the \r once the
      // first is dropped
      const typed: Array<number> = []
      for (const byte of [0x78, ...bytes]) {
        const previous = typed[typed.length - 1]
        if (!(byte === TILDE && (previous === 0x0d || previous === 0x0a))) typed.push(byte)
      }
      const input = Uint8Array.from(typed)
      const outcome = run(TILDE, split(input, cuts))
      assert.deepStrictEqual(outcome.sent, typed)
      assert.isFalse(outcome.disconnected)
    }
  )

  it.prop("a model of ssh's process_escapes", [keyboard], ([bytes]) => {
    // clientloop.c, for one buffer: last_was_cr starts true
    const sent: Array<number> = []
    let lastWasCr = true
    let pending = false
    let disconnected = false
    for (const ch of bytes) {
      if (pending) {
        pending = false
        if (ch === 0x2e) {
          disconnected = true
          break
        }
        if (ch === 0x3f) continue
        if (ch !== TILDE) sent.push(TILDE)
      } else if (lastWasCr && ch === TILDE) {
        pending = true
        continue
      }
      lastWasCr = ch === 0x0d || ch === 0x0a
      sent.push(ch)
    }
    const outcome = run(TILDE, [bytes])
    assert.deepStrictEqual(outcome.sent, sent)
    assert.strictEqual(outcome.disconnected, disconnected)
  })
})
