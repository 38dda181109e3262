/**
 * The data-channel encryption of KMS sessions (AGENT-PROTOCOL.md section 8.2): AES-256-GCM, no AAD, payload =
 * `nonce(12) ‖ ciphertext ‖ tag(16)`; the 64-byte data key's first half encrypts agent → client, the second half
 * client → agent. Synchronous, so it sits on the data path without an Effect per message.
 *
 * @internal
 */
import { open, seal } from "#aesgcm"
import * as AgentMessage from "../../AgentMessage.js"

/** @internal */
export interface SessionCipher {
  readonly encrypt: (plaintext: Uint8Array) => Uint8Array
  /** undefined when the payload does not authenticate */
  readonly decrypt: (payload: Uint8Array) => Uint8Array | undefined
}

const NONCE_SIZE = 12
const TAG_SIZE = 16

const randomNonce = () => globalThis.crypto.getRandomValues(new Uint8Array(NONCE_SIZE))

/** @internal */
export const make = (
  dataKey: Uint8Array,
  role: "client" | "agent",
  nonce: () => Uint8Array = randomNonce
): SessionCipher => {
  const toClient = dataKey.slice(0, 32)
  const toAgent = dataKey.slice(32, 64)
  const encryptKey = role === "client" ? toAgent : toClient
  const decryptKey = role === "client" ? toClient : toAgent
  return {
    encrypt: (plaintext) => {
      const iv = nonce()
      const sealed = seal(encryptKey, iv, plaintext)
      const out = new Uint8Array(NONCE_SIZE + sealed.length)
      out.set(iv, 0)
      out.set(sealed, NONCE_SIZE)
      return out
    },
    decrypt: (payload) =>
      payload.length < NONCE_SIZE + TAG_SIZE
        ? undefined
        : open(decryptKey, payload.subarray(0, NONCE_SIZE), payload.subarray(NONCE_SIZE))
  }
}

/** The payload types each side encrypts (section 8.2): the client only Output; the agent Output, StdErr, ExitCode. @internal */
export const isEncrypted = (payloadType: AgentMessage.PayloadType, from: "client" | "agent"): boolean =>
  payloadType === AgentMessage.PayloadType.Output ||
  (from === "agent" &&
    (payloadType === AgentMessage.PayloadType.StdErr || payloadType === AgentMessage.PayloadType.ExitCode))
