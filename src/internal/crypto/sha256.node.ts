/**
 * SHA-256 through Node's native `crypto` (selected by the `node` condition of the `#sha256` import).
 *
 * @internal
 */
import * as Crypto from "node:crypto"

const oneShot = (Crypto as {
  readonly hash?: (algorithm: string, data: Uint8Array, encoding: "binary") => string
}).hash

/** @internal */
export const sha256: (data: Uint8Array) => Uint8Array = (data) => Crypto.createHash("sha256").update(data).digest()

/**
 * Writes the digest of `data` into `target` at `offset`. Through the one-shot `crypto.hash` (Node 20.12 and
 * later) as a "binary" (latin1) string, one character per byte: a string lives in V8's heap, where a Buffer result would be
 * a native allocation per call; twice as fast for a 1 KiB message (0.86 against 1.84 µs, measured).
 * @internal
 */
export const sha256Into: (data: Uint8Array, target: Uint8Array, offset: number) => void = oneShot !== undefined
  ? (data, target, offset) => {
    const digest = oneShot("sha256", data, "binary")
    for (let i = 0; i < 32; i++) target[offset + i] = digest.charCodeAt(i)
  }
  : (data, target, offset) => target.set(sha256(data), offset)

/** Whether the digest of `data` equals the 32 bytes of `expected` at `offset`. @internal */
export const sha256Equals: (data: Uint8Array, expected: Uint8Array, offset: number) => boolean = oneShot !== undefined
  ? (data, expected, offset) => {
    const digest = oneShot("sha256", data, "binary")
    for (let i = 0; i < 32; i++) if (digest.charCodeAt(i) !== expected[offset + i]) return false
    return true
  }
  : (data, expected, offset) => {
    const digest = sha256(data)
    for (let i = 0; i < 32; i++) if (digest[i] !== expected[offset + i]) return false
    return true
  }

/** @internal */
export const implementation = "node:crypto"
