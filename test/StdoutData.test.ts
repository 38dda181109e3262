/**
 * The agent's output path (shell.go processStdoutData) as the simulator models it (`stdoutData.ts`), against an
 * independent reference written here: Go's utf8.DecodeRune found by asking a fatal TextDecoder which prefix of 1
 * to 4 bytes is one whole character (UTF-8 is prefix-free, and TextDecoder refuses surrogates, overlong forms and
 * code points above U+10FFFF, as Go does).
 */
import { assert, describe, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import * as StdoutData from "../src/internal/simulator/stdoutData.js"

const fatal = new TextDecoder("utf-8", { fatal: true })

/** Go's DecodeRune(bytes[at:]): [isRuneError, size] */
const referenceDecode = (bytes: Uint8Array, at: number): [boolean, number] => {
  for (let size = 1; size <= 4 && at + size <= bytes.length; size++) {
    let text: string
    try {
      text = fatal.decode(bytes.subarray(at, at + size))
    } catch {
      continue
    }
    const points = [...text]
    if (points.length !== 1) continue
    return [points[0] === "\uFFFD", size]
  }
  return [true, 1]
}

/** processStdoutData, line by line as shell.go has it */
const referenceStep = (held: Array<number>, read: Array<number>): { send: Array<number>; held: Array<number> } => {
  const buffer = [...held, ...read]
  const bytes = Uint8Array.from(buffer)
  const send: Array<number> = []
  let i = 0
  while (i < buffer.length) {
    const [error, size] = referenceDecode(bytes, i)
    if (error) {
      if (buffer.length - i < 4) break
      send.push(buffer[i]!)
    } else {
      send.push(...buffer.slice(i, i + size))
    }
    i += size
  }
  return { send, held: buffer.slice(i) }
}

const bytes = (...values: Array<number>) => Uint8Array.from(values)
const list = (array: Uint8Array) => Array.from(array)

/** fragments that exercise every branch of DecodeRune, among random bytes */
const fragments = [
  [0xef, 0xbf, 0xbd], // U+FFFD itself: RuneError of size 3
  [0xe2, 0x82, 0xac], // €
  [0xe2, 0x82], // € cut short
  [0xf0, 0x9f, 0x98, 0x80], // a 4-byte character
  [0xf0, 0x9f],
  [0xc3, 0xa9], // é
  [0xc3],
  [0xed, 0xa0, 0x80], // a surrogate
  [0xc0, 0x80], // overlong NUL
  [0xe0, 0x80, 0x80], // overlong
  [0xf0, 0x80, 0x80, 0x80], // overlong
  [0xf4, 0x90, 0x80, 0x80], // above U+10FFFF
  [0xf5, 0x80, 0x80, 0x80],
  [0xff],
  [0x80],
  [0x0a],
  [0x61, 0x62, 0x63]
]

const stream = fc.array(
  fc.oneof(fc.constantFrom(...fragments), fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 8 })),
  { maxLength: 60 }
).map((parts) => parts.flat())

/** a stream and the lengths of the reads it comes in */
const reads = stream.chain((all) =>
  fc.array(fc.integer({ min: 0, max: 12 }), { maxLength: 40 }).map((cuts) => {
    const pieces: Array<Array<number>> = []
    let at = 0
    for (const cut of cuts) {
      if (at >= all.length) break
      pieces.push(all.slice(at, at + cut))
      at += cut
    }
    if (at < all.length) pieces.push(all.slice(at))
    return pieces
  })
)

describe("processStdoutData (the agent's output path)", () => {
  it("decodeRune follows Go's DecodeRune on every 1- to 4-byte prefix class", () => {
    for (const fragment of fragments) {
      const buffer = Uint8Array.from(fragment)
      const size = StdoutData.decodeRune(buffer, 0, buffer.length)
      const [error, expected] = referenceDecode(buffer, 0)
      assert.strictEqual(size, error ? -expected : expected, `fragment ${fragment.map((b) => b.toString(16))}`)
    }
  })

  it.prop("every split of every stream: what is sent and held is the reference's", [reads], ([pieces]) => {
    let held = StdoutData.empty
    let referenceHeld: Array<number> = []
    for (const piece of pieces) {
      const next = StdoutData.step(held, Uint8Array.from(piece))
      const expected = referenceStep(referenceHeld, piece)
      assert.deepStrictEqual(list(next.send), expected.send)
      assert.deepStrictEqual(list(next.held), expected.held)
      // a RuneError is held only within the last 3 bytes
      assert.isAtMost(next.held.length, 3)
      held = next.held
      referenceHeld = expected.held
    }
  })

  it.prop("valid UTF-8 without U+FFFD goes through whole, however it is split", [
    fc.string({ unit: "binary", maxLength: 200 }).filter((text) =>
      !new TextDecoder().decode(new TextEncoder().encode(text)).includes("\uFFFD")
    ),
    fc.array(fc.integer({ min: 1, max: 7 }), { maxLength: 100 })
  ], ([text, cuts]) => {
    const all = new TextEncoder().encode(text)
    const sent: Array<number> = []
    let held = StdoutData.empty
    let at = 0
    for (const cut of [...cuts, all.length]) {
      const next = StdoutData.step(held, all.subarray(at, at + cut))
      sent.push(...next.send)
      held = next.held
      at += cut
      if (at >= all.length) break
    }
    assert.strictEqual(held.length, 0)
    assert.deepStrictEqual(sent, list(all))
  })

  it("an unfinished sequence at the end (E2 82) is held and never sent", () => {
    const step = StdoutData.step(StdoutData.empty, bytes(0x61, 0x62, 0xe2, 0x82))
    assert.deepStrictEqual(list(step.send), [0x61, 0x62])
    assert.deepStrictEqual(list(step.held), [0xe2, 0x82])
  })

  it("U+FFFD mid-stream goes out as EF alone; at the very end it is held", () => {
    const mid = StdoutData.step(StdoutData.empty, bytes(0x61, 0xef, 0xbf, 0xbd, 0x62, 0x63, 0x64, 0x65))
    assert.deepStrictEqual(list(mid.send), [0x61, 0xef, 0x62, 0x63, 0x64, 0x65])
    assert.strictEqual(mid.held.length, 0)
    const end = StdoutData.step(StdoutData.empty, bytes(0x61, 0xef, 0xbf, 0xbd))
    assert.deepStrictEqual(list(end.send), [0x61])
    assert.deepStrictEqual(list(end.held), [0xef, 0xbf, 0xbd])
    // and once more comes, it is mid-stream: EF alone
    const later = StdoutData.step(end.held, bytes(0x7a))
    assert.deepStrictEqual(list(later.send), [0xef, 0x7a])
  })

  it("0xFF at the end is held, then sent as it is when more comes; mid-stream it is sent at once", () => {
    const first = StdoutData.step(StdoutData.empty, bytes(0x61, 0xff))
    assert.deepStrictEqual(list(first.send), [0x61])
    assert.deepStrictEqual(list(first.held), [0xff])
    // FF 62: still within the last 3 bytes, held again with what follows
    const second = StdoutData.step(first.held, bytes(0x62))
    assert.deepStrictEqual(list(second.send), [])
    assert.deepStrictEqual(list(second.held), [0xff, 0x62])
    const third = StdoutData.step(second.held, bytes(0x63, 0x64))
    assert.deepStrictEqual(list(third.send), [0xff, 0x62, 0x63, 0x64])
    assert.strictEqual(third.held.length, 0)
    const mid = StdoutData.step(StdoutData.empty, bytes(0xff, 0x80, 0xc0, 0x80, 0x61, 0x62, 0x63, 0x64))
    assert.deepStrictEqual(list(mid.send), [0xff, 0x80, 0xc0, 0x80, 0x61, 0x62, 0x63, 0x64])
  })

  it("a character split across reads is sent whole with the read that completes it", () => {
    const first = StdoutData.step(StdoutData.empty, bytes(0x61, 0xe2))
    assert.deepStrictEqual([list(first.send), list(first.held)], [[0x61], [0xe2]])
    const second = StdoutData.step(first.held, bytes(0x82, 0xac))
    assert.deepStrictEqual([list(second.send), list(second.held)], [[0xe2, 0x82, 0xac], []])
  })

  it("without held bytes or U+FFFD, what is sent is a view of the read, no copy", () => {
    const read = bytes(0x61, 0x62, 0x63, 0x64, 0xe2)
    const step = StdoutData.step(StdoutData.empty, read)
    assert.strictEqual(step.send.buffer, read.buffer)
  })

  it("exact mode passes every read as it is", () => {
    const exact = StdoutData.processor("exact")
    assert.deepStrictEqual(list(exact.write(bytes(0x61, 0xef, 0xbf, 0xbd, 0xe2, 0x82))), [0x61, 0xef, 0xbf, 0xbd, 0xe2, 0x82])
    const agent = StdoutData.processor("agent")
    assert.deepStrictEqual(list(agent.write(bytes(0x61, 0xe2, 0x82))), [0x61])
    assert.strictEqual(agent.heldBytes(), 2)
  })
})
