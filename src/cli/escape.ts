/**
 * ssh's escapes over the keyboard bytes of a terminal session, as a pure state machine: at the session's start and
 * after `\r` or `\n`, the escape character (`~` by default) is held back; the next byte decides. `.` disconnects,
 * `?` lists the escapes (printed locally), the escape character again sends one, anything else sends the held
 * character and itself. Everywhere else every byte is sent as typed.
 *
 * @since 0.5.0
 */

/**
 * The default escape character, as ssh's.
 *
 * @since 0.5.0
 * @category constants
 */
export const DEFAULT_ESCAPE = "~"

/**
 * Where the machine is: `atLineStart` (the next escape character is held), `pending` (it is held).
 *
 * @since 0.5.0
 * @category models
 */
export interface EscapeState {
  readonly atLineStart: boolean
  readonly pending: boolean
}

/**
 * The state at a session's start.
 *
 * @since 0.5.0
 * @category constructors
 */
export const initial: EscapeState = { atLineStart: true, pending: false }

/**
 * What a chunk of keyboard bytes comes to, in order: bytes to send, the list of escapes to print here, the end of
 * the session.
 *
 * @since 0.5.0
 * @category models
 */
export type EscapeEvent =
  | { readonly _tag: "Send"; readonly bytes: Uint8Array }
  | { readonly _tag: "Help" }
  | { readonly _tag: "Disconnect" }

/**
 * The list of escapes `~?` prints, with `\r\n` line ends (the terminal is raw).
 *
 * @since 0.5.0
 * @category formatting
 */
export const helpText = (escape: string): string =>
  [
    `${escape}?`,
    "Supported escape sequences:",
    ` ${escape}.   - terminate the session`,
    ` ${escape}?   - this message`,
    ` ${escape}${escape}   - send the escape character by typing it twice`,
    "(Note that escapes are only recognized immediately after newline.)",
    ""
  ].join("\r\n")

/**
 * How an escape character is shown: itself, or `^X` for a control character.
 *
 * @since 0.5.0
 * @category formatting
 */
export const escapeName = (byte: number): string =>
  byte < 0x20 ? `^${String.fromCharCode(byte + 0x40)}` : byte === 0x7f ? "^?" : String.fromCharCode(byte)

/**
 * Reads `--escape`: `none` disables escapes (undefined), a single-byte character sets the character.
 *
 * @since 0.5.0
 * @category parsing
 */
export const parseEscape = (value: string): { readonly _tag: "Right"; readonly char: number | undefined } | {
  readonly _tag: "Left"
  readonly detail: string
} => {
  if (value === "none") return { _tag: "Right", char: undefined }
  const bytes = new TextEncoder().encode(value)
  if (bytes.length === 1) return { _tag: "Right", char: bytes[0]! }
  if (/^\^[@-_a-z]$/.test(value)) return { _tag: "Right", char: value.toUpperCase().charCodeAt(1) & 0x1f }
  return { _tag: "Left", detail: `--escape takes one character (such as ~ or ^]) or none, not ${JSON.stringify(value)}` }
}

const LF = 0x0a
const CR = 0x0d

/**
 * Feeds one chunk of keyboard bytes: the new state and the events, in order. After `Disconnect` the rest of the
 * chunk is dropped. With no escape character (`--escape none`) every chunk is sent as it is.
 *
 * @since 0.5.0
 * @category running
 */
export const feed = (
  escape: number | undefined,
  state: EscapeState,
  chunk: Uint8Array
): { readonly state: EscapeState; readonly events: ReadonlyArray<EscapeEvent> } => {
  if (escape === undefined) return { state, events: chunk.length === 0 ? [] : [{ _tag: "Send", bytes: chunk }] }
  const events: Array<EscapeEvent> = []
  let out: Array<number> = []
  const flush = () => {
    if (out.length > 0) events.push({ _tag: "Send", bytes: Uint8Array.from(out) })
    out = []
  }
  let { atLineStart, pending } = state
  for (let i = 0; i < chunk.length; i++) {
    const byte = chunk[i]!
    if (pending) {
      pending = false
      if (byte === 0x2e) { // .
        flush()
        events.push({ _tag: "Disconnect" })
        return { state: { atLineStart, pending }, events }
      }
      if (byte === 0x3f) { // ?: still at a line's start, as ssh
        flush()
        events.push({ _tag: "Help" })
        continue
      }
      if (byte !== escape) out.push(escape)
    } else if (atLineStart && byte === escape) {
      pending = true
      continue
    }
    atLineStart = byte === CR || byte === LF
    out.push(byte)
  }
  flush()
  return { state: { atLineStart, pending }, events }
}
