/**
 * AES-256-GCM through Node's native `crypto` (selected by the `node` condition of the `#aesgcm` import).
 *
 * @internal
 */
import * as Crypto from "node:crypto"

/** `ciphertext ‖ tag(16)` of `plaintext` under `key` and `nonce` (12 bytes), no AAD. @internal */
export const seal = (key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array): Uint8Array => {
  const cipher = Crypto.createCipheriv("aes-256-gcm", key, nonce)
  const head = cipher.update(plaintext)
  const tail = cipher.final()
  const tag = cipher.getAuthTag()
  const out = new Uint8Array(head.length + tail.length + tag.length)
  out.set(head, 0)
  out.set(tail, head.length)
  out.set(tag, head.length + tail.length)
  return out
}

/** The plaintext of `ciphertext ‖ tag`, or undefined when it does not authenticate. @internal */
export const open = (key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array): Uint8Array | undefined => {
  if (sealed.length < 16) return undefined
  try {
    const decipher = Crypto.createDecipheriv("aes-256-gcm", key, nonce)
    decipher.setAuthTag(sealed.subarray(sealed.length - 16))
    const head = decipher.update(sealed.subarray(0, sealed.length - 16))
    const tail = decipher.final()
    if (tail.length === 0) return new Uint8Array(head.buffer, head.byteOffset, head.length)
    const out = new Uint8Array(head.length + tail.length)
    out.set(head, 0)
    out.set(tail, head.length)
    return out
  } catch {
    return undefined
  }
}

/** @internal */
export const implementation = "node:crypto"
