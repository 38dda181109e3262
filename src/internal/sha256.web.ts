/**
 * SHA-256 in portable JavaScript (`@noble/hashes`), used where `node:crypto` is not available.
 *
 * @internal
 */
import { sha256 as nobleSha256 } from "@noble/hashes/sha2"

/** @internal */
export const sha256 = (data: Uint8Array): Uint8Array => nobleSha256(data)

/** @internal */
export const implementation = "@noble/hashes"
