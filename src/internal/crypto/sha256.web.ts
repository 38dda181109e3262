/**
 * SHA-256 in portable JavaScript (`@noble/hashes`), used where `node:crypto` is not available.
 *
 * @internal
 */
import { sha256 as nobleSha256 } from "@noble/hashes/sha2"

/** @internal */
export const sha256 = (data: Uint8Array): Uint8Array => nobleSha256(data)

/** Writes the digest of `data` into `target` at `offset`. @internal */
export const sha256Into = (data: Uint8Array, target: Uint8Array, offset: number): void => target.set(nobleSha256(data), offset)

/** Whether the digest of `data` equals the 32 bytes of `expected` at `offset`. @internal */
export const sha256Equals = (data: Uint8Array, expected: Uint8Array, offset: number): boolean => {
  const digest = nobleSha256(data)
  for (let i = 0; i < 32; i++) if (digest[i] !== expected[offset + i]) return false
  return true
}

/** @internal */
export const implementation = "@noble/hashes"
