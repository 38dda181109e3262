/**
 * The one KMS call a client makes: `kms:GenerateDataKey` for a KMS-encrypted session (shells whose account
 * preferences name a KMS key). Provide `KmsApi.layer()` beside the Session's requirements and encrypted
 * sessions just work; without it, such a session fails with `EncryptionRequired`.
 *
 * @since 0.1.0
 */
import type { KMSClient, KMSClientConfig } from "@aws-sdk/client-kms"
import type * as Cause from "effect/Cause"
import type * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import * as internal from "./internal/aws/kmsApi.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const ErrorTypeId: unique symbol = internal.ErrorTypeId as ErrorTypeId

/**
 * @since 0.1.0
 * @category type ids
 */
export type ErrorTypeId = typeof ErrorTypeId

/**
 * The one error of this module.
 *
 * @since 0.1.0
 * @category errors
 */
export interface KmsApiError {
  readonly [ErrorTypeId]: ErrorTypeId
  readonly _tag: "KmsApiError"
  readonly reason: KmsApiError.Reason
  readonly detail: string
  readonly cause?: unknown
  readonly message: string
}

/**
 * @since 0.1.0
 * @category errors
 */
export declare namespace KmsApiError {
  /**
   * Mapped from the SDK's exception names.
   *
   * @since 0.1.0
   * @category errors
   */
  export type Reason = "AccessDenied" | "NotFound" | "KeyUnavailable" | "InvalidKeyUsage" | "Throttling" | "Credentials" | "Other"
}

/**
 * @since 0.1.0
 * @category errors
 */
export const KmsApiError: new(args: {
  readonly reason: KmsApiError.Reason
  readonly detail: string
  readonly cause?: unknown
}) => KmsApiError & Cause.YieldableError = internal.KmsApiError

/**
 * @since 0.1.0
 * @category refinements
 */
export const isKmsApiError: (u: unknown) => u is KmsApiError = internal.isKmsApiError

/**
 * @since 0.1.0
 * @category models
 */
export interface GenerateDataKeyRequest {
  readonly keyId: string
  readonly numberOfBytes: number
  readonly encryptionContext: Readonly<Record<string, string>>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface DataKey {
  readonly plaintext: Redacted.Redacted<Uint8Array>
  readonly ciphertextBlob: Uint8Array
}

/**
 * @since 0.1.0
 * @category models
 */
export interface KmsApi {
  readonly generateDataKey: (request: GenerateDataKeyRequest) => Effect.Effect<DataKey, KmsApiError>
}

/**
 * @since 0.1.0
 * @category tags
 */
export const KmsApi: Context.Tag<KmsApi, KmsApi> = internal.tag

/**
 * @since 0.1.0
 * @category models
 */
export interface KmsApiOptions {
  readonly region?: string | undefined
  readonly profile?: string | undefined
  readonly endpoint?: string | undefined
  readonly credentials?: KMSClientConfig["credentials"] | undefined
}

/**
 * The service over an existing SDK client.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromClient: (client: KMSClient) => KmsApi = internal.fromClient

/**
 * The service over a new SDK client (the SDK's default chains for what is not given), destroyed with the layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: (options?: KmsApiOptions) => Layer.Layer<KmsApi> = internal.layer
