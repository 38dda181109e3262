/**
 * AES-256-GCM in portable JavaScript (`@noble/ciphers`), used where `node:crypto` is not available (WebCrypto
 * is asynchronous only; the data path is synchronous).
 *
 * @internal
 */
import { gcm } from "@noble/ciphers/aes"

/** `ciphertext ‖ tag(16)` of `plaintext` under `key` and `nonce` (12 bytes), no AAD. @internal */
export const seal = (key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array): Uint8Array =>
  gcm(key, nonce).encrypt(plaintext)

/** The plaintext of `ciphertext ‖ tag`, or undefined when it does not authenticate. @internal */
export const open = (key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array): Uint8Array | undefined => {
  try {
    return gcm(key, nonce).decrypt(sealed)
  } catch {
    return undefined
  }
}

/** @internal */
export const implementation = "@noble/ciphers"
