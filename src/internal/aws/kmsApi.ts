/**
 * `kms:GenerateDataKey` over `@aws-sdk/client-kms` for KMS-encrypted sessions (AGENT-PROTOCOL.md section 8.1),
 * with the SDK's exceptions mapped to one typed error.
 *
 * @internal
 */
import type { KMSClient, KMSClientConfig } from "@aws-sdk/client-kms"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { layerFromClient, lazyModule, messageOf, reasonByName } from "./awsClient.js"
import { isReasonError, ReasonError } from "../error.js"

const sdk = lazyModule(() => import("@aws-sdk/client-kms"))
import type * as KmsApi from "../../KmsApi.js"

/** @internal */
export const ErrorTypeId: KmsApi.ErrorTypeId = Symbol.for("ssm-session-manager/KmsApi/KmsApiError") as KmsApi.ErrorTypeId

/** The one error of `kms:GenerateDataKey`; its message names the operation. @internal */
export class KmsApiError extends ReasonError(ErrorTypeId, "KmsApiError")<KmsApi.KmsApiError.Reason> {
  override get message(): string {
    return `GenerateDataKey: ${this.reason}: ${this.detail}`
  }
}

/** @internal */
export const isKmsApiError: (u: unknown) => u is KmsApiError = isReasonError<KmsApiError>(ErrorTypeId)

/** @internal */
export const tag = Context.GenericTag<KmsApi.KmsApi>("ssm-session-manager/KmsApi")

const reasons: ReadonlyArray<readonly [ReadonlyArray<string>, KmsApi.KmsApiError.Reason]> = [
  [["AccessDeniedException"], "AccessDenied"],
  [["NotFoundException", "InvalidArnException"], "NotFound"],
  [["DisabledException", "KMSInvalidStateException", "KeyUnavailableException"], "KeyUnavailable"],
  [["InvalidKeyUsageException", "InvalidGrantTokenException"], "InvalidKeyUsage"],
  [["ThrottlingException", "LimitExceededException"], "Throttling"],
  [[
    "ExpiredTokenException",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "CredentialsProviderError",
    "InvalidClientTokenId"
  ], "Credentials"]
]

/** @internal */
export const reasonOf = reasonByName(reasons, "Other")

/** @internal */
export const fromClient = (client: Pick<KMSClient, "send">): KmsApi.KmsApi => ({
  generateDataKey: (request) =>
    Effect.flatMap(
      Effect.flatMap(sdk, ({ GenerateDataKeyCommand }) => Effect.tryPromise({
        try: (abortSignal) =>
          client.send(
            new GenerateDataKeyCommand({
              KeyId: request.keyId,
              NumberOfBytes: request.numberOfBytes,
              EncryptionContext: { ...request.encryptionContext }
            }),
            { abortSignal }
          ),
        catch: (cause) =>
          new KmsApiError({
            reason: reasonOf(cause),
            detail: messageOf(cause),
            cause
          })
      })),
      (response) =>
        response.Plaintext !== undefined && response.CiphertextBlob !== undefined
          ? Effect.succeed({ plaintext: Redacted.make(response.Plaintext), ciphertextBlob: response.CiphertextBlob })
          : Effect.fail(new KmsApiError({ reason: "Other", detail: "the response lacks Plaintext or CiphertextBlob" }))
    )
})

/** @internal */
export const layer = (options: KmsApi.KmsApiOptions = {}): Layer.Layer<KmsApi.KmsApi> =>
  layerFromClient(
    tag,
    Effect.map(sdk, ({ KMSClient }) => {
      const config: KMSClientConfig = {
        ...(options.region === undefined ? {} : { region: options.region }),
        ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
        ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
        ...(options.profile === undefined ? {} : { profile: options.profile })
      }
      return new KMSClient(config)
    }),
    fromClient
  )
