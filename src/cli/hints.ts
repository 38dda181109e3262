/**
 * The second line a failure gets when people meet it often: what to do about it. Looked up by the error's module
 * (its `_tag`, recognised by the module's own refinement) and its `reason`; the AWS SDK's own errors about the
 * region and the profile, which carry no reason of ours, by their message.
 *
 * @since 0.3.0
 */
import * as Cause from "effect/Cause"
import * as Predicate from "effect/Predicate"
import * as KmsApi from "../KmsApi.js"
import * as Session from "../Session.js"
import * as SsmApi from "../SsmApi.js"
import { type CliError, type CliErrorReason, isCliError } from "./error.js"

type Env = Record<string, string | undefined>

/** A hint, from the error (for its fields) and the environment (for the profile in use). */
type Hint<E> = (error: E, env: Env) => string

/**
 * The hints, keyed by the error's `_tag` and then its `reason`. A reason with no entry has no hint.
 *
 * @since 0.3.0
 * @category hints
 */
export interface HintTable {
  readonly SsmApiError: Partial<Record<SsmApi.SsmApiError.Reason, Hint<SsmApi.SsmApiError>>>
  readonly SessionError: Partial<Record<Session.SessionError.Reason, Hint<Session.SessionError>>>
  readonly KmsApiError: Partial<Record<KmsApi.KmsApiError.Reason, Hint<KmsApi.KmsApiError>>>
  readonly CliError: Partial<Record<CliErrorReason, Hint<CliError>>>
}

const credentials: Hint<unknown> = (_, env) => {
  const profile = env["AWS_PROFILE"] ?? env["AWS_DEFAULT_PROFILE"]
  return `hint: no usable credentials${profile === undefined ? "" : ` for profile ${profile}`}: ` +
    "aws sso login, or set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
}

const accessDenied = (action: string) =>
  `hint: these credentials may not call ${action} on this target (an IAM policy must allow it)`

/**
 * @since 0.3.0
 * @category hints
 */
export const hints: HintTable = {
  SsmApiError: {
    Credentials: credentials,
    AccessDenied: (error) => accessDenied(`ssm:${error.operation}`),
    TargetNotConnected: () =>
      "hint: the instance's SSM Agent is not connected: is it running, and can it reach SSM (its role, " +
      "network, VPC endpoints)? aws ssm describe-instance-information lists the connected ones",
    InvalidDocument: () =>
      "hint: the document does not exist in this account and region; for exec's own: " +
      "npx ssm-session-manager create-document (with the same --region and --profile)"
  },
  // the session's ResumeSession calls, made while it runs
  SessionError: {
    Credentials: credentials,
    AccessDenied: () => accessDenied("ssm:ResumeSession")
  },
  // a KMS-encrypted session's data key
  KmsApiError: {
    Credentials: credentials,
    AccessDenied: () =>
      "hint: these credentials may not use the session's KMS key (kms:GenerateDataKey: an IAM policy or the " +
      "key's policy must allow it)"
  },
  CliError: {
    DocumentDenied: () => "hint: these credentials may not call ssm:CreateDocument (an IAM policy must allow it)"
  }
}

/** The SDK's own errors about its configuration, found in whichever error carries their message. */
const sdkHint = (message: string): string | undefined => {
  if (/region is missing/i.test(message)) return "hint: name the region with --region, or set AWS_REGION"
  if (/profile/i.test(message) && /could not|not found|no profile/i.test(message)) {
    return "hint: the profile is not in ~/.aws/config or ~/.aws/credentials (aws configure list-profiles shows them)"
  }
  return undefined
}

/**
 * A second line for the failures people meet most, saying what to do about them; none for the rest.
 *
 * @since 0.3.0
 * @category hints
 */
export const hint = (cause: Cause.Cause<unknown>, env: Env = process.env): string | undefined => {
  const error = Cause.squash(cause)
  const message = Predicate.hasProperty(error, "message") && typeof error.message === "string" ? error.message : ""
  const fromSdk = sdkHint(message)
  if (fromSdk !== undefined) return fromSdk
  if (SsmApi.isSsmApiError(error)) return hints.SsmApiError[error.reason]?.(error, env)
  if (Session.isSessionError(error)) return hints.SessionError[error.reason]?.(error, env)
  if (KmsApi.isKmsApiError(error)) return hints.KmsApiError[error.reason]?.(error, env)
  if (isCliError(error)) return hints.CliError[error.reason]?.(error, env)
  return undefined
}
