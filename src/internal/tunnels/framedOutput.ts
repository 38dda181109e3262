/**
 * Reading a framed command's output (`framedCommand.ts`): the pty's bytes before the wrapper's READY line (what a
 * shell says when the wrapper cannot start), then output frames and the EXIT line. A pure, incremental decoder:
 * `push` takes what the session delivered, in any split, and returns what it completes. Every buffer it keeps
 * has a bound, and bytes it cannot read are an error, never skipped.
 *
 * @internal
 */
import { MARKER, MAX_DIRECT_FRAME } from "./framedCommand.js"

/** @internal */
export type FramedEvent =
  | { readonly _tag: "Ready"; readonly preamble: string }
  | { readonly _tag: "Stdout"; readonly bytes: Uint8Array }
  | { readonly _tag: "Stderr"; readonly bytes: Uint8Array }
  | { readonly _tag: "Exit"; readonly code: number }
  /** the wrapper could not run the command (a tool is missing): its words */
  | { readonly _tag: "Failed"; readonly message: string }

/** @internal */
export type FramedResult =
  | { readonly _tag: "Events"; readonly events: ReadonlyArray<FramedEvent> }
  | { readonly _tag: "Malformed"; readonly detail: string }

/** what may come before READY: a shell's error lines, no more */
export const PREAMBLE_LIMIT = 64 * 1024
/** a raw frame is at most a direct writer's block (the framers' are 64 KiB); a 64 KiB chunk's `od` text is at most 49 bytes per 16 */
const RAW_LIMIT = MAX_DIRECT_FRAME
const HEX_LIMIT = 4096 * 49 + 64
const HEADER_LIMIT = 64

const decoder = new TextDecoder()
const READY = `${MARKER} READY\n`
const FAIL = `${MARKER} FAIL `
const EXIT = new RegExp(`^${MARKER} EXIT (\\d{1,3})$`)
const FRAME = /^([OEoe]) (\d{1,7})$/

const hexValue = (code: number): number =>
  code >= 0x30 && code <= 0x39 ? code - 0x30 : code >= 0x61 && code <= 0x66 ? code - 0x57 : -1

/** `od -An -v -tx1` text: pairs of lowercase hex digits between blanks and newlines. */
const fromHex = (text: Uint8Array): Uint8Array | undefined => {
  const out = new Uint8Array(text.length >> 1)
  let length = 0
  let high = -1
  for (const code of text) {
    if (code === 0x20 || code === 0x0a) {
      if (high >= 0) return undefined
      continue
    }
    const value = hexValue(code)
    if (value < 0) return undefined
    if (high < 0) {
      high = value
    } else {
      out[length++] = (high << 4) | value
      high = -1
    }
  }
  return high >= 0 ? undefined : out.subarray(0, length)
}

/** Latin-1 view of bytes, for searching ASCII markers in binary. */
const ascii = (bytes: Uint8Array): string => {
  let text = ""
  for (let i = 0; i < bytes.length; i++) text += String.fromCharCode(bytes[i]!)
  return text
}

/**
 * The decoder's state: where it is (before READY, between frames, inside a frame, done) and what it holds of an
 * unfinished piece.
 *
 * @internal
 */
export interface FramedDecoder {
  phase: "Preamble" | "Header" | "Body" | "Done"
  held: Uint8Array
  frameKind: "O" | "E" | "o" | "e"
  frameLength: number
}

/** @internal */
export const makeDecoder = (): FramedDecoder => ({ phase: "Preamble", held: new Uint8Array(0), frameKind: "O", frameLength: 0 })

const append = (held: Uint8Array, bytes: Uint8Array): Uint8Array => {
  if (held.length === 0) return bytes
  const joined = new Uint8Array(held.length + bytes.length)
  joined.set(held)
  joined.set(bytes, held.length)
  return joined
}

const malformed = (detail: string): FramedResult => ({ _tag: "Malformed", detail })

/** Before READY: a FAIL line ends it; READY starts the frames; anything else is kept up to the bound. */
const preamble = (state: FramedDecoder, events: Array<FramedEvent>): FramedResult | undefined => {
  const text = ascii(state.held)
  const ready = text.indexOf(READY)
  // a FAIL line counts only before READY: after it, the same bytes are the command's output
  const fail = text.lastIndexOf(FAIL, ready < 0 ? text.length : ready)
  const failEnd = fail < 0 ? -1 : text.indexOf("\n", fail)
  if (failEnd >= 0 && (ready < 0 || failEnd < ready)) {
    state.phase = "Done"
    events.push({ _tag: "Failed", message: decoder.decode(state.held.subarray(fail + FAIL.length, failEnd)).trim() })
    return { _tag: "Events", events }
  }
  if (ready < 0) {
    return state.held.length > PREAMBLE_LIMIT
      ? malformed(`no READY line in the first ${PREAMBLE_LIMIT} bytes: ${JSON.stringify(text.slice(0, 200))}`)
      : { _tag: "Events", events }
  }
  events.push({ _tag: "Ready", preamble: decoder.decode(state.held.subarray(0, ready)) })
  state.held = state.held.subarray(ready + READY.length)
  state.phase = "Header"
  return undefined
}

/** Between frames: a frame header or the EXIT line. */
const frameHeader = (state: FramedDecoder, events: Array<FramedEvent>): FramedResult | undefined => {
  const end = state.held.indexOf(0x0a)
  if (end < 0) {
    return state.held.length > HEADER_LIMIT
      ? malformed(`a frame header longer than ${HEADER_LIMIT} bytes: ${JSON.stringify(ascii(state.held.subarray(0, 80)))}`)
      : { _tag: "Events", events }
  }
  const line = ascii(state.held.subarray(0, end))
  state.held = state.held.subarray(end + 1)
  const exit = EXIT.exec(line)
  if (exit !== null) {
    state.phase = "Done"
    events.push({ _tag: "Exit", code: Number(exit[1]) })
    // what follows is not the wrapper's: once it has restored the pty's mode, the pty echoes input the command
    // left unread, until the session ends
    state.held = new Uint8Array(0)
    return { _tag: "Events", events }
  }
  const frame = FRAME.exec(line)
  if (frame === null) return malformed(`not a frame header: ${JSON.stringify(line.slice(0, 80))}`)
  const kind = frame[1] as FramedDecoder["frameKind"]
  const length = Number(frame[2])
  if (length === 0 || length > (kind === "O" || kind === "E" ? RAW_LIMIT : HEX_LIMIT)) {
    return malformed(`a frame of ${length} bytes`)
  }
  state.frameKind = kind
  state.frameLength = length
  state.phase = "Body"
  return undefined
}

/**
 * Inside a frame: a raw frame's bytes as they come (no copy, no wait for the rest); a hex frame's once they are
 * all here.
 */
const frameBody = (state: FramedDecoder, events: Array<FramedEvent>): FramedResult | undefined => {
  const raw = state.frameKind === "O" || state.frameKind === "E"
  const tag = state.frameKind === "O" || state.frameKind === "o" ? "Stdout" : "Stderr"
  if (raw) {
    if (state.held.length === 0) return { _tag: "Events", events }
    const take = Math.min(state.held.length, state.frameLength)
    events.push({ _tag: tag, bytes: state.held.subarray(0, take) })
    state.held = state.held.subarray(take)
    state.frameLength -= take
    if (state.frameLength === 0) state.phase = "Header"
    return undefined
  }
  if (state.held.length < state.frameLength) return { _tag: "Events", events }
  const bytes = fromHex(state.held.subarray(0, state.frameLength))
  state.held = state.held.subarray(state.frameLength)
  state.phase = "Header"
  if (bytes === undefined) return malformed("a hex frame that is not od -tx1 text")
  events.push({ _tag: tag, bytes })
  return undefined
}

/**
 * Takes the next bytes of the session's output and returns the events they complete, or `Malformed`. After
 * `Exit` or `Failed` (phase `Done`) bytes are ignored: the wrapper has ended, and the pty, back in the mode it
 * had, echoes any input the command left unread.
 *
 * @internal
 */
export const push = (state: FramedDecoder, bytes: Uint8Array): FramedResult => {
  if (state.phase === "Done") return { _tag: "Events", events: [] }
  state.held = append(state.held, bytes)
  const events: Array<FramedEvent> = []
  while (true) {
    const step = state.phase === "Preamble"
      ? preamble(state, events)
      : state.phase === "Header"
      ? frameHeader(state, events)
      : state.phase === "Body"
      ? frameBody(state, events)
      : { _tag: "Events" as const, events }
    if (step !== undefined) return step
  }
}
