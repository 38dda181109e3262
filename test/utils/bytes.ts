import * as Crypto from "node:crypto"
import { concat } from "../../src/internal/protocol/bytes.js"

/** Deterministic pseudo-random bytes (xorshift), so failures replay. */
export const pseudoRandomBytes = (length: number, seed: number): Uint8Array => {
  const bytes = new Uint8Array(length)
  let x = seed | 0 || 1
  for (let i = 0; i < length; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    bytes[i] = x & 0xff
  }
  return bytes
}

export const sha256Hex = (bytes: Uint8Array): string => Crypto.createHash("sha256").update(bytes).digest("hex")

/** Concatenation, from the library's own byte helpers. */
export const concatBytes = (parts: ReadonlyArray<Uint8Array>): Uint8Array => concat(parts)
