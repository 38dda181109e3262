/**
 * Where a session whose WebSocket was lost gets a fresh token (`ssm:ResumeSession` on AWS): a service whose
 * failures are already classified, so the Session decides whether to try again without knowing who answers.
 * `SsmApi.layer` provides one over the AWS API (`SsmApi.resumer` builds one from any `SsmApi`, and
 * `SsmApi.openSession` supplies it itself), `BrowserSession.layer` one that asks the page's server; a custom one
 * is `Resumer.make(...)` provided under `Resumer.Resumer`.
 *
 * @since 0.3.0
 */
import type * as Cause from "effect/Cause"
import type * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import * as internal from "./internal/channel/resumer.js"

/**
 * @since 0.3.0
 * @category type ids
 */
export const ResumeFailureTypeId: unique symbol = internal.ResumeFailureTypeId as ResumeFailureTypeId

/**
 * @since 0.3.0
 * @category type ids
 */
export type ResumeFailureTypeId = typeof ResumeFailureTypeId

/**
 * Why no fresh token came.
 *
 * @since 0.3.0
 * @category errors
 */
export interface ResumeFailure {
  readonly [ResumeFailureTypeId]: ResumeFailureTypeId
  readonly _tag: "ResumeFailure"
  readonly reason: ResumeFailure.Reason
  readonly detail: string
  readonly cause?: unknown
  readonly message: string
}

/**
 * @since 0.3.0
 * @category errors
 */
export declare namespace ResumeFailure {
  /**
   * - `Terminated`: the session no longer exists (it was terminated); final, the session fails with `Terminated`.
   * - `AccessDenied`: the caller may not resume it; final, the session fails with `AccessDenied`.
   * - `Credentials`: the credentials were refused (expired, invalid); tried again, since they may be refreshed, and
   *   the session fails with `Credentials` if they are still refused at the resume deadline.
   * - `Unavailable`: anything else (throttling, network, no answer in time); tried again until the deadline, then
   *   the session fails with `Transport`.
   *
   * @since 0.3.0
   * @category errors
   */
  export type Reason = "Terminated" | "AccessDenied" | "Credentials" | "Unavailable"
}

/**
 * @since 0.3.0
 * @category errors
 */
export const ResumeFailure: new(args: {
  readonly reason: ResumeFailure.Reason
  readonly detail: string
  readonly cause?: unknown
}) => ResumeFailure & Cause.YieldableError = internal.ResumeFailure

/**
 * @since 0.3.0
 * @category refinements
 */
export const isResumeFailure: (u: unknown) => u is ResumeFailure = internal.isResumeFailure

/**
 * The service: a fresh token for the session, none when the service no longer resumes it (it timed out on the
 * service's side: the session fails with `TimedOut`), or a classified failure.
 *
 * @since 0.3.0
 * @category models
 */
export interface Resumer {
  readonly resume: (
    sessionId: string
  ) => Effect.Effect<Option.Option<{ readonly tokenValue: Redacted.Redacted<string> }>, ResumeFailure>
}

/**
 * @since 0.3.0
 * @category tags
 */
export const Resumer: Context.Tag<Resumer, Resumer> = internal.tag

/**
 * How the session resumes after losing its WebSocket: attempts (ResumeSession, then a new WebSocket) with
 * jittered exponential backoff from `initialDelay` up to `maxDelay` between attempts, until `deadline` has passed
 * since the loss. `Session.ResumePolicy` is this type (the `resume` option of a session).
 *
 * @since 0.3.0
 * @category models
 */
export interface ResumePolicy {
  /** how long after the loss attempts stop, and the session fails. Default 5 minutes */
  readonly deadline?: Duration.DurationInput | undefined
  /** the wait before the second attempt (the first is at once), doubling after. Default 100 ms */
  readonly initialDelay?: Duration.DurationInput | undefined
  /** the longest wait between attempts. Default 5 seconds */
  readonly maxDelay?: Duration.DurationInput | undefined
  /** how long one ResumeSession call may take. Default 20 seconds */
  readonly callTimeout?: Duration.DurationInput | undefined
  /**
   * where the fresh token comes from, in place of the `Resumer` service (`make` over this function):
   * none when the session timed out on the service's side. Fail with a `ResumeFailure` to say why it
   * cannot be resumed (`Terminated`, `AccessDenied`, `Credentials`); any other failure counts as `Unavailable`
   * and is tried again until the deadline
   */
  readonly resumeSession?:
    | ((sessionId: string) => Effect.Effect<Option.Option<{ readonly tokenValue: Redacted.Redacted<string> }>, unknown>)
    | undefined
}

/**
 * A Resumer over a function: its `ResumeFailure`s are kept as they are; any other failure counts as
 * `Unavailable` (tried again until the resume deadline).
 *
 * @since 0.3.0
 * @category constructors
 */
export const make: (
  resume: (sessionId: string) => Effect.Effect<Option.Option<{ readonly tokenValue: Redacted.Redacted<string> }>, unknown>
) => Resumer = internal.make

/**
 * `make` as a layer.
 *
 * @since 0.3.0
 * @category layers
 */
export const layer = (
  resume: (sessionId: string) => Effect.Effect<Option.Option<{ readonly tokenValue: Redacted.Redacted<string> }>, unknown>
): Layer.Layer<Resumer> => Layer.succeed(internal.tag, internal.make(resume))
