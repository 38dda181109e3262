/**
 * The agent's output path: `agent/session/shell/shell.go` processStdoutData, through which every byte a shell, an
 * InteractiveCommands command or a NonInteractiveCommands command writes goes before the agent sends it. It reads
 * the bytes held from the previous read followed by the new read rune by rune (Go's `bufio.Reader.ReadRune`, that
 * is `utf8.DecodeRune`) and:
 * - sends a valid rune as it is;
 * - holds back a RuneError that starts within the last 3 bytes (`len - i < utf8.UTFMax`), with everything after
 *   it, for the next read; bytes still held when the output ends are never sent;
 * - sends the first byte of any other RuneError alone and goes on after the rune's length: an invalid byte is sent
 *   as it is, but a literal U+FFFD (EF BF BD, which Go decodes as RuneError of size 3) goes out as EF alone.
 *
 * Go's DecodeRune calls a surrogate (ED A0..BF ..), an overlong form (C0, C1, E0 80..9F, F0 80..8F), a code point
 * above U+10FFFF (F4 90.., F5..FF), a stray continuation byte and a sequence cut short errors of size 1.
 *
 * Pure and allocation-light: without held bytes and without a literal U+FFFD, what is sent is a view of the read.
 *
 * @internal
 */

/** The state between two reads: bytes held back. @internal */
export type Held = Uint8Array

/** @internal */
export const empty: Held = new Uint8Array(0)

/** what processStdoutData sends for one read, and what it holds for the next @internal */
export interface StdoutStep {
  readonly send: Uint8Array
  readonly held: Held
}

/** utf8.UTFMax */
const UTF_MAX = 4

/**
 * Go's `utf8.DecodeRune(bytes[at:end])`: the rune's length, negated when the rune is `RuneError` (U+FFFD, valid or
 * not). Bytes are taken as Go's first-byte table and accept ranges say.
 *
 * @internal
 */
export const decodeRune = (bytes: Uint8Array, at: number, end: number): number => {
  const b0 = bytes[at]!
  if (b0 < 0x80) return 1
  let size: number
  let lo = 0x80
  let hi = 0xbf
  if (b0 < 0xc2) return -1
  else if (b0 < 0xe0) size = 2
  else if (b0 < 0xf0) {
    size = 3
    if (b0 === 0xe0) lo = 0xa0
    else if (b0 === 0xed) hi = 0x9f
  } else if (b0 < 0xf5) {
    size = 4
    if (b0 === 0xf0) lo = 0x90
    else if (b0 === 0xf4) hi = 0x8f
  } else return -1
  if (end - at < size) return -1
  const b1 = bytes[at + 1]!
  if (b1 < lo || b1 > hi) return -1
  if (size === 2) return 2
  const b2 = bytes[at + 2]!
  if (b2 < 0x80 || b2 > 0xbf) return -1
  if (size === 3) return b0 === 0xef && b1 === 0xbf && b2 === 0xbd ? -3 : 3
  const b3 = bytes[at + 3]!
  return b3 < 0x80 || b3 > 0xbf ? -1 : 4
}

/**
 * One call of processStdoutData: the bytes `held` from the previous read, then `read`. @internal
 */
export const step = (held: Held, read: Uint8Array): StdoutStep => {
  let buffer = read
  if (held.length > 0) {
    buffer = new Uint8Array(held.length + read.length)
    buffer.set(held)
    buffer.set(read, held.length)
  }
  const length = buffer.length
  // `out` exists only once a literal U+FFFD made what is sent differ from a prefix of the buffer
  let out: Uint8Array | undefined
  let written = 0
  let i = 0
  while (i < length) {
    const b = buffer[i]!
    if (b < 0x80) {
      if (out !== undefined) out[written] = b
      written++
      i++
      continue
    }
    const decoded = decodeRune(buffer, i, length)
    if (decoded > 0) {
      if (out !== undefined) out.set(buffer.subarray(i, i + decoded), written)
      written += decoded
      i += decoded
      continue
    }
    // RuneError: held back with what follows when it starts within the last 3 bytes
    if (length - i < UTF_MAX) break
    if (decoded < -1 && out === undefined) {
      out = new Uint8Array(length)
      out.set(buffer.subarray(0, written))
    }
    if (out !== undefined) out[written] = b
    written++
    i -= decoded
  }
  return {
    send: out === undefined ? buffer.subarray(0, written) : out.subarray(0, written),
    held: i < length ? buffer.slice(i) : empty
  }
}

/** @internal */
export type StdoutDataMode = "agent" | "exact"

/**
 * A writer that puts each read through processStdoutData (`mode` `agent`) or passes it on as it is (`exact`):
 * `write` for each read, whose result is what to send (possibly empty: the agent sends no empty message).
 *
 * @internal
 */
export const processor = (mode: StdoutDataMode): { readonly write: (read: Uint8Array) => Uint8Array; readonly heldBytes: () => number } => {
  if (mode === "exact") return { write: (read) => read, heldBytes: () => 0 }
  let held = empty
  return {
    write: (read) => {
      const next = step(held, read)
      held = next.held
      return next.send
    },
    heldBytes: () => held.length
  }
}
