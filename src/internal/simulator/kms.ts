/**
 * The simulator's KMS and the agent's side of a KMS handshake (AGENT-PROTOCOL.md sections 8.1, 8.3): a data key
 * is given back only for the key id and encryption context it was made with, as kms:Decrypt does, and the agent
 * proves the client holds the same key with the encryption challenge.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as AgentPayload from "../../AgentPayload.js"
import type * as KmsApi from "../../KmsApi.js"
import * as SessionCipher from "../crypto/sessionCipher.js"

const encodeChallenge = AgentPayload.encodePayload(AgentPayload.jsonPayload(AgentPayload.EncryptionChallenge))

/** @internal */
export interface SimulatedKms {
  readonly kms: KmsApi.KmsApi
  /** kms:Decrypt: the data key wrapped in `blob`, if `keyId` and `context` are the ones it was made with */
  readonly decrypt: (
    blob: Uint8Array,
    keyId: string,
    context: Readonly<Record<string, string>>
  ) => Uint8Array | undefined
}

const contextKey = (context: Readonly<Record<string, string>>) =>
  JSON.stringify(Object.keys(context).sort().map((key) => [key, context[key]]))

/** @internal */
export const make = (): SimulatedKms => {
  const dataKeys = new Map<string, { readonly keyId: string; readonly context: string; readonly plaintext: Uint8Array }>()
  const decoder = new TextDecoder()
  return {
    kms: {
      generateDataKey: (request) =>
        Effect.sync(() => {
          const plaintext = globalThis.crypto.getRandomValues(new Uint8Array(request.numberOfBytes))
          const blob = new TextEncoder().encode(`simulated-kms:${globalThis.crypto.randomUUID()}`)
          dataKeys.set(decoder.decode(blob), {
            keyId: request.keyId,
            context: contextKey(request.encryptionContext),
            plaintext
          })
          return { plaintext: Redacted.make(plaintext), ciphertextBlob: blob }
        })
    },
    decrypt: (blob, keyId, context) => {
      const key = dataKeys.get(decoder.decode(blob))
      return key !== undefined && key.keyId === keyId && key.context === contextKey(context) ? key.plaintext : undefined
    }
  }
}

/**
 * The agent after a successful HandshakeResponse: decrypt the client's data key with its own context, send the
 * challenge, check the answer. The agent's cipher, or undefined when any step fails (the session then fails).
 * @internal
 */
export const agentHandshake = (options: {
  readonly kms: SimulatedKms
  readonly response: AgentPayload.HandshakeResponse
  readonly keyId: string
  readonly sessionId: string
  readonly targetId: string
  readonly randomChallenge: string
  readonly sendChallenge: (payload: Uint8Array) => Effect.Effect<void>
  readonly answer: Effect.Effect<Option.Option<Uint8Array>>
}): Effect.Effect<SessionCipher.SessionCipher | undefined> =>
  Effect.gen(function*() {
    const result = options.response.ProcessedClientActions.find((action) => action.ActionType === "KMSEncryption")
      ?.ActionResult
    const plaintext = result == null ? undefined : options.kms.decrypt(result.KMSCipherTextKey, options.keyId, {
      "aws:ssm:SessionId": options.sessionId,
      "aws:ssm:TargetId": options.targetId,
      ...(result.ChallengeAcknowledgement === true ? { "aws:ssm:RandomChallenge": options.randomChallenge } : {})
    })
    if (plaintext === undefined) return undefined
    const cipher = SessionCipher.make(plaintext, "agent")
    const challenge = globalThis.crypto.getRandomValues(new Uint8Array(64))
    const request = encodeChallenge(new AgentPayload.EncryptionChallenge({ Challenge: cipher.encrypt(challenge) }))
    if (Either.isLeft(request)) return undefined
    yield* options.sendChallenge(request.right)
    const answer = yield* options.answer
    const decrypted = Option.isSome(answer) ? cipher.decrypt(answer.value) : undefined
    return decrypted !== undefined && decrypted.length === challenge.length &&
        decrypted.every((byte, i) => byte === challenge[i])
      ? cipher
      : undefined
  })
