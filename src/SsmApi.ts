/**
 * The AWS API calls a session needs (StartSession, ResumeSession, TerminateSession) as a service over
 * `@aws-sdk/client-ssm`, returning typed results (the token `Redacted`) and one typed error mapped from the SDK's
 * exceptions. `AgentSimulator.layerSsmApi` provides the same service backed by the local simulator.
 *
 * @since 0.1.0
 */
import type { SSMClient, SSMClientConfig } from "@aws-sdk/client-ssm"
import type * as Socket from "@effect/platform/Socket"
import type * as Cause from "effect/Cause"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import type * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as internal from "./internal/aws/ssmApi.js"
import type * as Resumer from "./Resumer.js"
import type * as Session from "./Session.js"

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
export interface SsmApiError {
  readonly [ErrorTypeId]: ErrorTypeId
  readonly _tag: "SsmApiError"
  readonly reason: SsmApiError.Reason
  readonly operation: Operation
  readonly detail: string
  readonly cause?: unknown
  readonly message: string
}

/**
 * The API calls this module makes.
 *
 * @since 0.2.0
 * @category models
 */
export type Operation = "StartSession" | "ResumeSession" | "TerminateSession" | "DescribeInstanceInformation"

/**
 * @since 0.1.0
 * @category errors
 */
export declare namespace SsmApiError {
  /**
   * Mapped from the SDK exception's name: access denied, the target's agent not connected, a bad document or bad
   * parameters, throttling, missing or expired credentials, an unknown session, or anything else; `Timeout` when
   * no answer came within the call's `timeout`. `TargetNotFound` and `AmbiguousTarget` come from `resolveTarget`: no
   * managed node has the name (or none is online), or several online ones do.
   *
   * @since 0.1.0
   * @category errors
   */
  export type Reason =
    | "AccessDenied"
    | "TargetNotConnected"
    | "InvalidDocument"
    | "InvalidParameters"
    | "Throttling"
    | "Credentials"
    | "DoesNotExist"
    | "Timeout"
    | "TargetNotFound"
    | "AmbiguousTarget"
    | "Other"
}

/**
 * @since 0.1.0
 * @category errors
 */
export const SsmApiError: new(args: {
  readonly reason: SsmApiError.Reason
  readonly operation: Operation
  readonly detail: string
  readonly cause?: unknown
}) => SsmApiError & Cause.YieldableError = internal.SsmApiError

/**
 * @since 0.1.0
 * @category refinements
 */
export const isSsmApiError: (u: unknown) => u is SsmApiError = internal.isSsmApiError

/**
 * @since 0.1.0
 * @category models
 */
export interface StartSessionRequest {
  /** an instance id, a managed node id, or an ECS target `ecs:<cluster>_<task>_<runtime id>` */
  readonly target: string
  /** e.g. `AWS-StartPortForwardingSession`; none: the account's default shell document */
  readonly documentName?: string | undefined
  readonly parameters?: Readonly<Record<string, ReadonlyArray<string>>> | undefined
  readonly reason?: string | undefined
}

/**
 * What StartSession and ResumeSession return: what `Session.make` needs.
 *
 * @since 0.1.0
 * @category models
 */
export interface SessionResponse {
  readonly sessionId: string
  readonly streamUrl: string
  readonly tokenValue: Redacted.Redacted<string>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface SsmApi {
  readonly startSession: (request: StartSessionRequest) => Effect.Effect<SessionResponse, SsmApiError>
  /** None when the session can no longer be resumed (it timed out) */
  readonly resumeSession: (sessionId: string) => Effect.Effect<Option.Option<SessionResponse>, SsmApiError>
  readonly terminateSession: (sessionId: string) => Effect.Effect<void, SsmApiError>
  /**
   * `ssm:DescribeInstanceInformation` with its filters, every page: the managed nodes and whether their agents
   * are connected. Optional, for implementations made before it; `resolveTarget` needs it for names and tags.
   */
  readonly describeInstanceInformation?: (
    filters: ReadonlyArray<InstanceFilter>
  ) => Effect.Effect<ReadonlyArray<InstanceInformation>, SsmApiError>
}

/**
 * A DescribeInstanceInformation filter: `tag:<key>`, `tag-key`, `InstanceIds`, `PingStatus`, `PlatformTypes` …
 *
 * @since 0.2.0
 * @category models
 */
export interface InstanceFilter {
  readonly key: string
  readonly values: ReadonlyArray<string>
}

/**
 * One managed node as DescribeInstanceInformation describes it.
 *
 * @since 0.2.0
 * @category models
 */
export interface InstanceInformation {
  readonly instanceId: string
  /** `Online`, `ConnectionLost` or `Inactive` */
  readonly pingStatus: string
  readonly computerName?: string | undefined
  readonly ipAddress?: string | undefined
  readonly platformName?: string | undefined
  /** a managed (hybrid) node's name; EC2 instances have none here */
  readonly name?: string | undefined
}

/**
 * What a `--target` string names: an id as it is (`i-…`, `mi-…`, `ecs:…`), a tag (`tag:Key=Value`), or else the
 * value of the `Name` tag.
 *
 * @since 0.2.0
 * @category targets
 */
export type TargetQuery =
  | { readonly _tag: "Id"; readonly id: string }
  | { readonly _tag: "Tag"; readonly key: string; readonly value: string }

/**
 * @since 0.2.0
 * @category targets
 */
export const targetQuery: (target: string) => TargetQuery = internal.targetQuery

/**
 * A target id from what a user typed: ids pass through untouched (no call); a name or a tag is looked up with
 * DescribeInstanceInformation and must match exactly one online node. Otherwise `TargetNotFound` (naming the
 * offline ones when there are some) or `AmbiguousTarget` (listing the candidates).
 *
 * @since 0.2.0
 * @category targets
 */
export const resolveTarget: (target: string) => Effect.Effect<string, SsmApiError, SsmApi> = internal.resolveTarget

/**
 * @since 0.1.0
 * @category tags
 */
export const SsmApi: Context.Tag<SsmApi, SsmApi> = internal.tag

/**
 * Options of the SDK client. Anything not given comes from the SDK's default chains (environment, shared config
 * and credentials files, SSO, instance and container roles).
 *
 * @since 0.1.0
 * @category models
 */
export interface SsmApiOptions {
  readonly region?: string | undefined
  readonly profile?: string | undefined
  /** an endpoint override, e.g. a VPC endpoint */
  readonly endpoint?: string | undefined
  readonly credentials?: SSMClientConfig["credentials"] | undefined
  readonly maxAttempts?: number | undefined
  /**
   * how long one call may take, the SDK's own retries included, before it fails with `Timeout` (and its request
   * is aborted). Default 30 seconds
   */
  readonly timeout?: Duration.DurationInput | undefined
}

/**
 * The service over an existing SDK client.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromClient: (client: SSMClient, options?: { readonly timeout?: Duration.DurationInput | undefined }) => SsmApi =
  internal.fromClient

/**
 * The service over a new SDK client, destroyed with the layer, and the `Resumer` over it (sessions resume
 * through `ssm:ResumeSession`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: (options?: SsmApiOptions) => Layer.Layer<SsmApi | Resumer.Resumer> = internal.layer

/**
 * What a failed ResumeSession call means for a session, as the `Resumer` classifies it: `DoesNotExist` and
 * `InvalidParameters` are `Terminated`, `AccessDenied` and `Credentials` are themselves, anything else is
 * `Unavailable` (retried until the resume deadline). A `resumeSession` option that calls SsmApi itself maps its
 * failures with it: `Effect.mapError(api.resumeSession(id), SsmApi.resumeFailure)`.
 *
 * @since 0.3.0
 * @category resuming
 */
export const resumeFailure: (error: SsmApiError) => Resumer.ResumeFailure = internal.resumeFailure

/**
 * The `Resumer` over an SsmApi's `resumeSession`, its failures classified: `DoesNotExist` and
 * `InvalidParameters` as `Terminated`, `AccessDenied` and `Credentials` as themselves, anything else as
 * `Unavailable`.
 *
 * @since 0.3.0
 * @category resuming
 */
export const resumer: (api: SsmApi) => Resumer.Resumer = internal.resumer

/**
 * `resumer` over the SsmApi in the context: for a hand-made SsmApi layer whose sessions (made with
 * `Session.make`) should resume through it. `openSession` needs none: it resumes through its SsmApi.
 *
 * @since 0.3.0
 * @category resuming
 */
export const layerResumer: Layer.Layer<Resumer.Resumer, never, SsmApi> = internal.layerResumer

const optionalString = (name: string): Config.Config<string | undefined> =>
  Config.map(Config.option(Config.string(name)), (value) => value._tag === "Some" ? value.value : undefined)

/**
 * `layer` with its options from `Config`: by default `AWS_REGION`, `AWS_PROFILE` and `SSM_ENDPOINT`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  config: Config.Config.Wrap<SsmApiOptions> = {
    region: optionalString("AWS_REGION"),
    profile: optionalString("AWS_PROFILE"),
    endpoint: optionalString("SSM_ENDPOINT")
  }
): Layer.Layer<SsmApi | Resumer.Resumer, ConfigError.ConfigError> => Layer.unwrapEffect(Effect.map(Config.unwrap(config), internal.layer))

/**
 * Ends `session` when the scope closes, as well as the service allows: `session.terminate` (the flag given to
 * `Session.closeWith`, as PortForwarding gives TerminateSession where the agent honours it, and a brief wait for
 * the channel to close), then the `ssm:TerminateSession` API (when an `SsmApi` is provided) if it did not close.
 * Call it right after `Session.make`, in the same scope.
 *
 * @since 0.1.0
 * @category sessions
 */
export const terminateOnClose: (session: Session.Session) => Effect.Effect<void, never, Scope.Scope> =
  internal.terminateOnClose

/**
 * Session tunables for `openSession`: everything but what the StartSession response gives.
 *
 * @since 0.1.0
 * @category sessions
 */
export type OpenSessionOptions = Omit<Session.SessionOptions, "sessionId" | "streamUrl" | "tokenValue" | "target">

/**
 * StartSession, then the Session over its response (with the request's target, for KMS-encrypted sessions),
 * ended as `terminateOnClose` says when the scope closes: what every high-level constructor does first. The
 * session resumes through this SsmApi (`resumer`), unless a `Resumer` is provided.
 *
 * @since 0.1.0
 * @category sessions
 */
export const openSession: (
  request: StartSessionRequest,
  options?: OpenSessionOptions
) => Effect.Effect<
  Session.Session,
  SsmApiError | Session.SessionError,
  Scope.Scope | SsmApi | Socket.WebSocketConstructor
> = internal.openSession
