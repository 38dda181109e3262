/**
 * The Resumer service: where a session whose WebSocket was lost gets a fresh token, with its failures already
 * classified. `SsmApi`'s layer provides one over `ssm:ResumeSession`, a browser page's server its own; the
 * Session only knows this service, never SsmApi.
 *
 * @internal
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import type * as Resumer from "../../Resumer.js"
import { isReasonError, ReasonError } from "../error.js"

/** @internal */
export const ResumeFailureTypeId: Resumer.ResumeFailureTypeId = Symbol.for(
  "ssm-session-manager/Resumer/ResumeFailure"
) as Resumer.ResumeFailureTypeId

/** @internal */
export class ResumeFailure extends ReasonError(ResumeFailureTypeId, "ResumeFailure")<Resumer.ResumeFailure.Reason> {}

/** @internal */
export const isResumeFailure = isReasonError<ResumeFailure>(ResumeFailureTypeId)

/** @internal */
export const tag = Context.GenericTag<Resumer.Resumer>("ssm-session-manager/Resumer")

/**
 * A Resumer over a function: its `ResumeFailure`s are kept, anything else it fails with is `Unavailable` (retried).
 * @internal
 */
export const make = (
  resume: (sessionId: string) => Effect.Effect<Option.Option<{ readonly tokenValue: Redacted.Redacted<string> }>, unknown>
): Resumer.Resumer => ({
  resume: (sessionId) =>
    Effect.mapError(resume(sessionId), (error) =>
      isResumeFailure(error)
        ? error
        : new ResumeFailure({ reason: "Unavailable", detail: messageOf(error), cause: error }))
})

const messageOf = (error: unknown): string =>
  typeof error === "object" && error !== null && "message" in error ? String(error.message) : String(error)
