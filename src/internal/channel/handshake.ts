/**
 * The client's answer to a HandshakeRequest (AGENT-PROTOCOL.md sections 7.2, 7.3, 8.1, 8.3): one processed
 * action per requested action, in order; the session type; and, for KMS, the data key made with the context the
 * agent will decrypt it with.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as AgentPayload from "../../AgentPayload.js"
import type * as KmsApi from "../../KmsApi.js"
import * as SessionCipher from "../crypto/sessionCipher.js"


/** @internal */
export interface HandshakeContext {
  readonly sessionId: string
  readonly target: string | undefined
  readonly clientVersion: string
  readonly kms: Option.Option<KmsApi.KmsApi>
}

/** @internal */
export interface HandshakeAnswer {
  readonly response: AgentPayload.HandshakeResponse
  /** undefined when no supported session type was offered */
  readonly sessionType: AgentPayload.SessionType | undefined
  readonly properties: Readonly<Record<string, unknown>> | null
  /** KMS sessions: the encryption from now on */
  readonly cipher: SessionCipher.SessionCipher | undefined
  /** KMS sessions whose data key could not be made (the response says so, and the session must fail) */
  readonly kmsFailure: KmsApi.KmsApiError | undefined
  /** KMS asked for, but no KmsApi or no target to answer it with */
  readonly kmsUnavailable: Option.Option<string>
}

const processed = (
  ActionType: string,
  ActionStatus: AgentPayload.ProcessedClientAction["ActionStatus"],
  Error = "",
  ActionResult: AgentPayload.KmsEncryptionResult | null = null
) => new AgentPayload.ProcessedClientAction({ ActionType, ActionStatus, ActionResult, Error })

/** @internal */
export const answer = (
  request: AgentPayload.HandshakeRequest,
  context: HandshakeContext
): Effect.Effect<HandshakeAnswer> =>
  Effect.gen(function*() {
    let sessionType: AgentPayload.SessionType | undefined
    let properties: Readonly<Record<string, unknown>> | null = null
    let cipher: SessionCipher.SessionCipher | undefined
    let kmsFailure: KmsApi.KmsApiError | undefined
    let kmsUnavailable: Option.Option<string> = Option.none()
    const errors: Array<string> = []
    const actions: Array<AgentPayload.ProcessedClientAction> = []
    for (const action of request.RequestedClientActions) {
      if (action instanceof AgentPayload.SessionTypeAction) {
        const type = action.ActionParameters.SessionType
        if (AgentPayload.isSessionType(type)) {
          sessionType = type
          properties = action.ActionParameters.Properties
          actions.push(processed("SessionType", AgentPayload.ActionStatus.Success))
        } else {
          errors.push(`Unknown session type ${type}`)
          actions.push(processed("SessionType", AgentPayload.ActionStatus.Failed, errors.at(-1)))
        }
      } else if (action instanceof AgentPayload.KmsEncryptionAction) {
        const keyId = action.ActionParameters.KMSKeyId
        if (Option.isNone(context.kms) || context.target === undefined) {
          kmsUnavailable = Option.some(
            `the agent requires KMS encryption (key ${keyId}): provide a KmsApi` +
              (context.target === undefined ? " and the session's target" : "")
          )
          errors.push(`Failed to process action KMSEncryption: ${Option.getOrThrow(kmsUnavailable)}`)
          actions.push(processed("KMSEncryption", AgentPayload.ActionStatus.Failed, errors.at(-1)))
          continue
        }
        const challenge = action.ActionParameters.Challenge ?? ""
        const key = yield* Effect.either(context.kms.value.generateDataKey({
          keyId,
          numberOfBytes: 64,
          encryptionContext: {
            "aws:ssm:SessionId": context.sessionId,
            "aws:ssm:TargetId": context.target,
            // the random challenge (agents from 3.3.808.0): acknowledged, so the agent decrypts with it too
            ...(challenge === "" ? {} : { "aws:ssm:RandomChallenge": challenge })
          }
        }))
        if (key._tag === "Left") {
          kmsFailure = key.left
          errors.push(`Failed to process action KMSEncryption: ${key.left.message}`)
          actions.push(processed("KMSEncryption", AgentPayload.ActionStatus.Failed, errors.at(-1)))
          continue
        }
        cipher = SessionCipher.make(Redacted.value(key.right.plaintext), "client")
        actions.push(processed(
          "KMSEncryption",
          AgentPayload.ActionStatus.Success,
          "",
          new AgentPayload.KmsEncryptionResult({
            KMSCipherTextKey: key.right.ciphertextBlob,
            KMSCipherTextHash: null,
            ...(challenge === "" ? {} : { ChallengeAcknowledgement: true })
          })
        ))
      } else {
        errors.push(`Unsupported action ${action.ActionType}`)
        actions.push(processed(action.ActionType, AgentPayload.ActionStatus.Unsupported, errors.at(-1)))
      }
    }
    return {
      response: new AgentPayload.HandshakeResponse({
        ClientVersion: context.clientVersion,
        ProcessedClientActions: actions,
        Errors: errors.length === 0 ? null : errors
      }),
      sessionType,
      properties,
      cipher,
      kmsFailure,
      kmsUnavailable
    }
  })
