/**
 * SHA-256 through Node's native `crypto` (selected by the `node` condition of the `#sha256` import).
 *
 * @internal
 */
import * as Crypto from "node:crypto"

const oneShot = (Crypto as { readonly hash?: (algorithm: string, data: Uint8Array, encoding: "buffer") => Uint8Array })
  .hash

/** @internal */
export const sha256: (data: Uint8Array) => Uint8Array = oneShot !== undefined
  ? (data) => oneShot("sha256", data, "buffer")
  : (data) => Crypto.createHash("sha256").update(data).digest()

/** @internal */
export const implementation = "node:crypto"
