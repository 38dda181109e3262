/**
 * Getting a session back after its WebSocket is lost (AGENT-PROTOCOL.md section 11.3): `ssm:ResumeSession` for a
 * fresh token, then a new WebSocket to the session's StreamUrl, retried with jittered exponential backoff under a
 * total deadline. AWS's client gives up after six quick attempts (about 7 s); a laptop waking up or a network
 * coming back often needs longer.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import type * as Resumer from "../../Resumer.js"
import type * as Session from "../../Session.js"

/** @internal */
export const defaults = {
  deadline: Duration.minutes(5),
  initialDelay: Duration.millis(100),
  maxDelay: Duration.seconds(5),
  callTimeout: Duration.seconds(20)
} as const

/** @internal */
export interface Policy {
  readonly deadline: Duration.Duration
  readonly initialDelay: Duration.Duration
  readonly maxDelay: Duration.Duration
  readonly callTimeout: Duration.Duration
}

/** @internal */
export const policy = (options: Session.ResumePolicy = {}): Policy => ({
  deadline: Duration.decode(options.deadline ?? defaults.deadline),
  initialDelay: Duration.decode(options.initialDelay ?? defaults.initialDelay),
  maxDelay: Duration.decode(options.maxDelay ?? defaults.maxDelay),
  callTimeout: Duration.decode(options.callTimeout ?? defaults.callTimeout)
})

/** Why an attempt failed, and whether another may succeed. @internal */
export interface AttemptFailure {
  readonly reason: "TimedOut" | "Terminated" | "Credentials" | "AccessDenied" | "Transport"
  readonly detail: string
  readonly retryable: boolean
  readonly cause?: unknown
}

/**
 * What a failed resume call means for the session, from the Resumer's classification: a session the service no
 * longer knows was terminated; access denied will not change by retrying; refused credentials may be refreshed
 * (SSO, assume-role), so they are retried but reported as credentials if they are still what fails at the
 * deadline; anything else is retried.
 * @internal
 */
export const classify = (failure: Resumer.ResumeFailure): AttemptFailure => {
  switch (failure.reason) {
    case "Terminated":
      return { reason: "Terminated", detail: `the session no longer exists (${failure.detail})`, retryable: false, cause: failure }
    case "AccessDenied":
      return { reason: "AccessDenied", detail: failure.detail, retryable: false, cause: failure }
    case "Credentials":
      return { reason: "Credentials", detail: failure.detail, retryable: true, cause: failure }
    case "Unavailable":
      return { reason: "Transport", detail: failure.detail, retryable: true, cause: failure }
  }
}

/** @internal */
export interface Attempts<A> {
  readonly sessionId: string
  readonly policy: Policy
  /** ResumeSession: a fresh token, or none when the session timed out on the service's side */
  readonly resumer: Resumer.Resumer
  /** dials the StreamUrl with the token and sends OpenDataChannel */
  readonly dial: (token: Redacted.Redacted<string>) => Effect.Effect<A, { readonly detail: string; readonly cause?: unknown }>
  /** before each attempt: its number (from 1) and what the previous one (or the lost link) said */
  readonly onAttempt: (attempt: number, cause: string) => Effect.Effect<void>
}

/**
 * Attempts until one succeeds, one fails for good, or the deadline passes; returns the new link and the number
 * of attempts it took.
 * @internal
 */
export const reconnect = <A>(
  attempts: Attempts<A>,
  lost: string
): Effect.Effect<{ readonly value: A; readonly attempts: number }, AttemptFailure> =>
  Effect.suspend(() => {
    const { policy } = attempts
    let attempt = 0
    let last: AttemptFailure = { reason: "Transport", detail: lost, retryable: true }
    const once = Effect.gen(function*() {
      attempt++
      yield* attempts.onAttempt(attempt, last.detail)
      const response = yield* attempts.resumer.resume(attempts.sessionId).pipe(
        Effect.mapError(classify),
        Effect.timeoutFail({
          duration: policy.callTimeout,
          onTimeout: (): AttemptFailure => ({
            reason: "Transport",
            detail: `the resume call failed: no answer within ${Duration.format(policy.callTimeout)}`,
            retryable: true
          })
        })
      )
      if (Option.isNone(response)) {
        return yield* Effect.fail<AttemptFailure>({
          reason: "TimedOut",
          detail: `the service no longer resumes session ${attempts.sessionId}: it timed out (ResumeSession gave no token)`,
          retryable: false
        })
      }
      return yield* Effect.mapError(attempts.dial(response.value.tokenValue), (error): AttemptFailure => ({
        reason: "Transport",
        detail: `the new WebSocket could not open: ${error.detail}`,
        retryable: true,
        cause: error.cause
      }))
    }).pipe(Effect.tapError((failure) => Effect.sync(() => last = failure)))
    const schedule = Schedule.exponential(policy.initialDelay, 2).pipe(
      Schedule.union(Schedule.spaced(policy.maxDelay)),
      Schedule.jittered,
      Schedule.whileInput((failure: AttemptFailure) => failure.retryable)
    )
    return Effect.retry(once, schedule).pipe(
      Effect.timeoutFail({
        duration: policy.deadline,
        onTimeout: (): AttemptFailure => ({
          ...last,
          reason: last.reason === "Credentials" ? "Credentials" : "Transport",
          detail: `could not resume within ${Duration.format(policy.deadline)} (${attempt} attempts); the last: ${last.detail}`,
          retryable: false
        })
      }),
      Effect.map((value) => ({ value, attempts: attempt }))
    )
  })
