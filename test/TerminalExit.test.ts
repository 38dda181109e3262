/**
 * The terminal exit-code marker (`terminalExit.ts`): the filter against a reference (a regular expression over the
 * whole output) under any split of any output, with and without markers; and the script, run by the local `sh`.
 */
import { assert, describe, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { spawnSync } from "node:child_process"
import * as TerminalExit from "../src/internal/tunnels/terminalExit.js"

const latin1 = (bytes: Uint8Array) => Buffer.from(bytes).toString("latin1")
const fromLatin1 = (text: string) => Uint8Array.from(Buffer.from(text, "latin1"))

/** the session's nonce in these tests */
const NONCE = "0123456789abcdef"
const OTHER = "fedcba9876543210"

/** the reference: every marker of the session's nonce taken out, the last one's code */
const reference = (input: Uint8Array): { output: string; exitCode: number | undefined } => {
  let exitCode: number | undefined
  const output = latin1(input).replace(new RegExp(`\u001b\\]ssm-exit;${NONCE};(\\d{1,3})\u0007`, "g"), (_, code: string) => {
    exitCode = Number(code)
    return ""
  })
  return { output, exitCode }
}

/** fragments near the marker (cut, wrong, too long), among random bytes */
const fragments: Array<string> = [
  "\u001b",
  "\u001b]",
  "\u001b]ssm-exit",
  "\u001b]ssm-exit;",
  "\u001b]ssm-exit;1",
  "\u001b]ssm-exit;1234\u0007",
  "\u001b]ssm-exit;3\u0007",
  `\u001b]ssm-exit;${NONCE}`,
  `\u001b]ssm-exit;${NONCE};`,
  `\u001b]ssm-exit;${NONCE};1234\u0007`,
  `\u001b]ssm-exit;${OTHER};3\u0007`,
  "\u001b]ssm-exit;\u0007",
  "\u001b]ssm-exit;x\u0007",
  "\u001b]0;title\u0007",
  "\u001b[31m",
  "\u0007",
  "\r\n",
  "\u00ef\u00bf\u00bd"
]

const piece = fc.oneof(
  fc.uint8Array({ maxLength: 24 }),
  fc.constantFrom(...fragments).map(fromLatin1),
  fc.integer({ min: 0, max: 255 }).map((code) => fromLatin1(TerminalExit.marker(NONCE, code))),
  fc.integer({ min: 0, max: 255 }).map((code) => fromLatin1(TerminalExit.marker(OTHER, code)))
)

const output = fc.array(piece, { maxLength: 12 }).map((pieces) => fromLatin1(pieces.map(latin1).join("")))

/** cut points: the output split into chunks there (empty chunks included) */
const split = (bytes: Uint8Array, cuts: Array<number>): Array<Uint8Array> => {
  const points = [0, ...cuts.map((cut) => cut % (bytes.length + 1)).sort((a, b) => a - b), bytes.length]
  const chunks: Array<Uint8Array> = []
  for (let i = 1; i < points.length; i++) chunks.push(bytes.slice(points[i - 1], points[i]))
  return chunks
}

const run = (chunks: ReadonlyArray<Uint8Array>) => {
  const filter = TerminalExit.make(NONCE)
  const prefix = TerminalExit.prefixOf(NONCE)
  let out = ""
  let held: Uint8Array = new Uint8Array(0)
  let maxHeld = 0
  for (const chunk of chunks) {
    const next = TerminalExit.step(prefix, held, chunk)
    held = next.held
    maxHeld = Math.max(maxHeld, held.length)
    out += latin1(filter.push(chunk).output)
  }
  out += latin1(filter.end())
  return { output: out, exitCode: filter.exitCode(), maxHeld }
}

describe("TerminalExit", () => {
  it("passes any output through byte-exact but for its markers, under any split, holding back less than a marker", () => {
    fc.assert(
      fc.property(output, fc.array(fc.nat(), { maxLength: 8 }), (bytes, cuts) => {
        const expected = reference(bytes)
        const got = run(split(bytes, cuts))
        assert.strictEqual(got.output, expected.output)
        assert.strictEqual(got.exitCode, expected.exitCode)
        assert.isBelow(got.maxHeld, TerminalExit.MAX_MARKER_LENGTH)
      }),
      { numRuns: 2000 }
    )
  })

  it("finds the code of a marker at the end of an output without one, cut anywhere, byte by byte included", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 64 }),
        fc.integer({ min: 0, max: 255 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        (body, code, cuts) => {
          fc.pre(reference(body).exitCode === undefined && reference(body).output === latin1(body))
          const bytes = fromLatin1(latin1(body) + TerminalExit.marker(NONCE, code))
          for (const chunks of [split(bytes, cuts), Array.from(bytes, (byte) => Uint8Array.of(byte))]) {
            const got = run(chunks)
            assert.strictEqual(got.output, latin1(body))
            assert.strictEqual(got.exitCode, code)
          }
        }
      ),
      { numRuns: 1000 }
    )
  })

  it("a marker with another nonce (another session's, or made up by the command) passes as it is and gives no code", () => {
    const forged = fromLatin1(`fake${TerminalExit.marker(OTHER, 0)}\u001b]ssm-exit;0\u0007`)
    const got = run([forged])
    assert.strictEqual(got.output, latin1(forged))
    assert.strictEqual(got.exitCode, undefined)
    assert.match(TerminalExit.makeNonce(), /^[0-9a-f]{16}$/)
    assert.notStrictEqual(TerminalExit.makeNonce(), TerminalExit.makeNonce())
  })

  it("passes a chunk without ESC as it is, and gives no code without a marker", () => {
    const filter = TerminalExit.make(NONCE)
    const chunk = fromLatin1("hello\r\n")
    assert.strictEqual(filter.push(chunk).output, chunk)
    assert.strictEqual(filter.exitCode(), undefined)
    assert.deepStrictEqual(filter.end(), new Uint8Array(0))
  })

  it("the marker is pure ASCII", () => {
    assert.isTrue(/^[\x00-\x7f]*$/.test(TerminalExit.marker(TerminalExit.makeNonce(), 255)))
  })

  const sh = (commandLine: string) => spawnSync("sh", ["-c", TerminalExit.script(commandLine, NONCE)], { encoding: "latin1" })

  it("the script prints the command's output, then the marker with its exit status", () => {
    for (const [line, code] of [["echo hi", 0], ["echo 'it''s'; exit 3", 3], ["kill -INT $$", 130]] as const) {
      const result = sh(line)
      const got = run([fromLatin1(result.stdout)])
      assert.strictEqual(got.exitCode, code, line)
      assert.strictEqual(result.status, 0)
    }
    assert.strictEqual(run([fromLatin1(sh("printf '%s' \"a'b\"").stdout)]).output, "a'b")
  })
})
