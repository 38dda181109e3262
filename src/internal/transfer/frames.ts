/**
 * The bytes of a copy, both ways: the chunk frames an upload sends inside the command's stdin (see `scripts.ts`),
 * range plans for several sessions, and the incremental reader of a download's stdout (`<size> <mode>\n`, the
 * bytes, `<sha256>\n`). Pure and synchronous.
 *
 * @internal
 */

/** The largest data chunk one frame carries (the remote `dd` block). @internal */
export const MAX_CHUNK = 65536

const encoder = new TextEncoder()
const header = (kind: "D" | "E" | "H" | "A", length: number): string => `${kind}${String(length).padStart(6, "0")}\n`

/** `bytes` as data frames (none for no bytes); frames are fresh copies. @internal */
export const dataFrames = (bytes: Uint8Array): Array<Uint8Array> => {
  const frames: Array<Uint8Array> = []
  for (let offset = 0; offset < bytes.length; offset += MAX_CHUNK) {
    const chunk = bytes.subarray(offset, offset + MAX_CHUNK)
    const frame = new Uint8Array(8 + chunk.length)
    frame.set(encoder.encode(header("D", chunk.length)))
    frame.set(chunk, 8)
    frames.push(frame)
  }
  return frames
}

/**
 * The data bytes of one upload frame: 65520, so that a frame with its header is 65528 bytes, exactly the data of
 * one of the framed command's own input frames (`framedCommand.ts` FRAME_DATA), which with its header is 64
 * messages of 1024 bytes.
 *
 * @internal
 */
export const UPLOAD_CHUNK = 65536 - 16

/**
 * Packs a byte stream into data frames of `UPLOAD_CHUNK` bytes (the last one shorter), copying each byte once.
 *
 * @internal
 */
export class Framer {
  private frame = new Uint8Array(8 + UPLOAD_CHUNK)
  private filled = 0
  push(bytes: Uint8Array): Array<Uint8Array> {
    const out: Array<Uint8Array> = []
    let at = 0
    while (at < bytes.length) {
      const take = Math.min(UPLOAD_CHUNK - this.filled, bytes.length - at)
      this.frame.set(bytes.subarray(at, at + take), 8 + this.filled)
      this.filled += take
      at += take
      if (this.filled === UPLOAD_CHUNK) out.push(this.take())
    }
    return out
  }
  /** the last, short frame (none when nothing is pending) */
  flush(): Array<Uint8Array> {
    return this.filled === 0 ? [] : [this.take().slice()]
  }
  private take(): Uint8Array {
    const frame = this.filled === UPLOAD_CHUNK ? this.frame : this.frame.subarray(0, 8 + this.filled)
    frame.set(encoder.encode(header("D", this.filled)))
    this.frame = new Uint8Array(8 + UPLOAD_CHUNK)
    this.filled = 0
    return frame
  }
}

/** The end of a range session's data. @internal */
export const endFrame = (): Uint8Array => encoder.encode(header("E", 0))

/** Abandon the copy. @internal */
export const abortFrame = (): Uint8Array => encoder.encode(header("A", 0))

/** The range frame the client sends a `First` download session: `R` + 15 + 15 digits + `\n` (32 bytes). @internal */
export const rangeFrame = (offset: number, length: number): Uint8Array =>
  new TextEncoder().encode(`R${String(offset).padStart(15, "0")}${String(length).padStart(15, "0")}\n`)

/** The trailer: the whole file's SHA-256 (hex), its mode (octal digits, or `-`) and size. @internal */
export const trailerFrame = (sha256: string, mode: string, size: number): Uint8Array => {
  const text = `${sha256} ${mode} ${size}\n`
  return encoder.encode(header("H", text.length) + text)
}

/** A file mode for the trailer: its permission bits in octal, or `-` (the remote's default). @internal */
export const modeText = (mode: number | undefined): string =>
  mode === undefined ? "-" : (mode & 0o7777).toString(8)

/** Lowercase hex of bytes. @internal */
export const hex = (bytes: Uint8Array): string => {
  let text = ""
  for (const byte of bytes) text += byte.toString(16).padStart(2, "0")
  return text
}

/**
 * `size` split in `sessions` contiguous ranges, each start aligned to `align` bytes (the last takes the rest);
 * fewer ranges when the file is too small for all of them (at least one, possibly empty).
 *
 * @internal
 */
export const planRanges = (
  size: number,
  sessions: number,
  align: number = MAX_CHUNK
): Array<{ readonly offset: number; readonly length: number }> => {
  const blocks = Math.ceil(size / align)
  const count = Math.max(1, Math.min(sessions, blocks))
  const per = Math.ceil(blocks / count)
  const ranges: Array<{ offset: number; length: number }> = []
  for (let i = 0; i < count; i++) {
    const offset = Math.min(size, i * per * align)
    const end = Math.min(size, (i + 1) * per * align)
    if (i > 0 && end <= offset) break
    ranges.push({ offset, length: end - offset })
  }
  return ranges
}

/** What the download reader yields for one push. @internal */
export type DownloadEvent =
  | { readonly _tag: "Header"; readonly size: number; readonly mode: number }
  | { readonly _tag: "Bytes"; readonly bytes: Uint8Array }
  | { readonly _tag: "Hash"; readonly sha256: string }

/** @internal */
export type DownloadReaderResult =
  | { readonly _tag: "Ok"; readonly events: ReadonlyArray<DownloadEvent> }
  | { readonly _tag: "Malformed"; readonly detail: string }

const LINE_LIMIT = 128
const decoder = new TextDecoder()

/**
 * Reads a download session's stdout incrementally. `expect`: a header line first (`<size> <mode>`), or a known
 * length; then a hash line when `hash`. Bytes past what is expected, a line past 128 bytes or one that does not
 * read are Malformed. `finish` tells whether everything expected arrived.
 *
 * @internal
 */
export class DownloadReader {
  private phase: "header" | "await" | "body" | "hash" | "done"
  private line = ""
  private remaining: number
  /**
   * `{ header: true }`: a header, then the file's bytes; `{ header: true, range: true }`: a header, then nothing
   * until `expectBody`; `{ length }`: that many bytes.
   */
  constructor(
    readonly expect: { readonly header: true; readonly range?: boolean } | { readonly length: number },
    readonly hash: boolean
  ) {
    this.phase = "header" in expect ? "header" : "body"
    this.remaining = "header" in expect ? 0 : expect.length
    if (this.phase === "body" && this.remaining === 0) this.phase = hash ? "hash" : "done"
  }

  push(bytes: Uint8Array): DownloadReaderResult {
    const events: Array<DownloadEvent> = []
    let at = 0
    while (at < bytes.length) {
      if (this.phase === "body") {
        const take = Math.min(this.remaining, bytes.length - at)
        events.push({ _tag: "Bytes", bytes: bytes.subarray(at, at + take) })
        at += take
        this.remaining -= take
        if (this.remaining === 0) this.phase = this.hash ? "hash" : "done"
        continue
      }
      if (this.phase === "done") return { _tag: "Malformed", detail: "more output than the file's length" }
      if (this.phase === "await") return { _tag: "Malformed", detail: "output before the range was sent" }
      const newline = bytes.indexOf(10, at)
      const end = newline === -1 ? bytes.length : newline
      this.line += decoder.decode(bytes.subarray(at, end))
      if (this.line.length > LINE_LIMIT) return { _tag: "Malformed", detail: "an over-long line" }
      at = end
      if (newline === -1) continue
      at++
      const line = this.line
      this.line = ""
      if (this.phase === "header") {
        const match = /^(\d{1,15}) ([0-7]{1,6})$/.exec(line)
        if (match === null) return { _tag: "Malformed", detail: `a header that does not read: ${JSON.stringify(line)}` }
        const size = Number(match[1])
        events.push({ _tag: "Header", size, mode: parseInt(match[2]!, 8) })
        if ("range" in this.expect && this.expect.range === true) {
          this.phase = "await"
        } else {
          this.expectBody(size)
        }
      } else {
        if (!/^[0-9a-f]{64}$/.test(line)) return { _tag: "Malformed", detail: `a hash that does not read: ${JSON.stringify(line)}` }
        events.push({ _tag: "Hash", sha256: line })
        this.phase = "done"
      }
    }
    return { _tag: "Ok", events }
  }

  /** After a header: `length` bytes follow (then the hash line, if expected). */
  expectBody(length: number): void {
    this.remaining = length
    this.phase = length === 0 ? (this.hash ? "hash" : "done") : "body"
  }

  /** whether all that was expected arrived */
  get complete(): boolean {
    return this.phase === "done"
  }

  /** body bytes still expected */
  get missing(): number {
    return this.phase === "body" ? this.remaining : 0
  }
}
