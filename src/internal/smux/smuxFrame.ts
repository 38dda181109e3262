/**
 * smux v1 frames (SMUX.md sections 2 and 3): an 8-byte header `ver, cmd, length u16 LE, sid u32 LE` and a
 * payload. An encoder and an incremental decoder that accepts frames split or coalesced across arbitrary
 * transport chunks. Plain synchronous code; the session wraps it per chunk.
 *
 * @internal
 */

/** @internal */
export const VERSION = 1
/** @internal */
export const HEADER_SIZE = 8
/** @internal */
export const MAX_PAYLOAD = 0xffff

/** @internal */
export const Command = {
  SYN: 0,
  FIN: 1,
  PSH: 2,
  NOP: 3,
  UPD: 4
} as const

/** @internal */
export type Command = typeof Command[keyof typeof Command]

/** @internal */
export interface Frame {
  readonly cmd: Command
  readonly sid: number
  /** a view into the transport chunk when the frame arrived in one piece and fills most of it */
  readonly payload: Uint8Array
}

const EMPTY = new Uint8Array(0)

/**
 * Writes a header at `offset`.
 * @internal
 */
export const writeHeader = (target: Uint8Array, offset: number, cmd: Command, length: number, sid: number): void => {
  target[offset] = VERSION
  target[offset + 1] = cmd
  target[offset + 2] = length & 0xff
  target[offset + 3] = (length >>> 8) & 0xff
  target[offset + 4] = sid & 0xff
  target[offset + 5] = (sid >>> 8) & 0xff
  target[offset + 6] = (sid >>> 16) & 0xff
  target[offset + 7] = (sid >>> 24) & 0xff
}

/**
 * One frame as bytes.
 * @internal
 */
export const encodeFrame = (cmd: Command, sid: number, payload: Uint8Array = EMPTY): Uint8Array => {
  const bytes = new Uint8Array(HEADER_SIZE + payload.length)
  writeHeader(bytes, 0, cmd, payload.length, sid)
  bytes.set(payload, HEADER_SIZE)
  return bytes
}

/** @internal */
export type DecodeErrorReason = "Protocol" | "FrameTooLarge"

/** @internal */
export interface DecodeError {
  readonly reason: DecodeErrorReason
  readonly detail: string
}

/**
 * Incremental frame decoder. `push` feeds one transport chunk and calls `onFrame` for each complete frame, in
 * order; it returns an error (and stays failed) on the first bad header. Payloads that arrive in one piece are
 * zero-copy views of the chunk; a payload split across chunks is assembled into one buffer of exactly its size.
 * @internal
 */
export class FrameDecoder {
  private readonly header = new Uint8Array(HEADER_SIZE)
  private headerFill = 0
  private cmd: Command = Command.NOP
  private sid = 0
  private payload: Uint8Array | undefined = undefined
  private payloadFill = 0
  private failure: DecodeError | undefined = undefined

  constructor(private readonly maxPayload: number = MAX_PAYLOAD) {}

  /** Bytes of a frame received so far but not yet complete. */
  get pending(): number {
    return this.headerFill + this.payloadFill
  }

  push(chunk: Uint8Array, onFrame: (frame: Frame) => void): DecodeError | undefined {
    if (this.failure !== undefined) return this.failure
    let offset = 0
    const length = chunk.length
    while (offset < length) {
      if (this.payload !== undefined) {
        // continue a payload split across chunks
        const take = Math.min(this.payload.length - this.payloadFill, length - offset)
        this.payload.set(chunk.subarray(offset, offset + take), this.payloadFill)
        this.payloadFill += take
        offset += take
        if (this.payloadFill === this.payload.length) {
          const payload = this.payload
          this.payload = undefined
          this.payloadFill = 0
          onFrame({ cmd: this.cmd, sid: this.sid, payload })
        }
        continue
      }
      let header: Uint8Array
      let headerOffset: number
      if (this.headerFill === 0 && length - offset >= HEADER_SIZE) {
        header = chunk
        headerOffset = offset
        offset += HEADER_SIZE
      } else {
        const take = Math.min(HEADER_SIZE - this.headerFill, length - offset)
        this.header.set(chunk.subarray(offset, offset + take), this.headerFill)
        this.headerFill += take
        offset += take
        if (this.headerFill < HEADER_SIZE) break
        this.headerFill = 0
        header = this.header
        headerOffset = 0
      }
      const version = header[headerOffset]!
      const cmd = header[headerOffset + 1]!
      const size = header[headerOffset + 2]! | (header[headerOffset + 3]! << 8)
      const sid = (header[headerOffset + 4]! | (header[headerOffset + 5]! << 8) | (header[headerOffset + 6]! << 16) |
        (header[headerOffset + 7]! << 24)) >>> 0
      const invalid = this.check(version, cmd, size)
      if (invalid !== undefined) {
        this.failure = invalid
        return invalid
      }
      if (size === 0) {
        onFrame({ cmd: cmd as Command, sid, payload: EMPTY })
      } else if (length - offset >= size) {
        // a view keeps the whole chunk alive: copy payloads that are a small part of it, so buffered bytes
        // (what the receive budget counts) bound the memory held
        const payload = size * 4 < length ? chunk.slice(offset, offset + size) : chunk.subarray(offset, offset + size)
        onFrame({ cmd: cmd as Command, sid, payload })
        offset += size
      } else {
        this.cmd = cmd as Command
        this.sid = sid
        this.payload = new Uint8Array(size)
        this.payloadFill = 0
      }
    }
    return undefined
  }

  private check(version: number, cmd: number, size: number): DecodeError | undefined {
    if (version !== VERSION) {
      return { reason: "Protocol", detail: `frame version ${version}, this session speaks version ${VERSION}` }
    }
    if (cmd === Command.PSH) {
      return size > this.maxPayload
        ? { reason: "FrameTooLarge", detail: `a PSH frame of ${size} bytes exceeds the limit of ${this.maxPayload}` }
        : undefined
    }
    if (cmd === Command.SYN || cmd === Command.FIN || cmd === Command.NOP) {
      // xtaci/smux 1.5.16 would silently desynchronise here (SMUX.md section 3); refuse instead
      return size === 0 ? undefined : { reason: "Protocol", detail: `command ${cmd} with a length of ${size}` }
    }
    return { reason: "Protocol", detail: `unknown command ${cmd} on a version ${VERSION} session` }
  }
}
