import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Either, Layer, Option, Redacted } from "effect"
import * as Resumer from "../src/Resumer.js"
import * as SsmApi from "../src/SsmApi.js"
import * as Resume from "../src/internal/channel/resume.js"

/** An SsmApi whose ResumeSession fails with `reason`, or answers `answer`. */
const api = (
  resume: SsmApi.SsmApi["resumeSession"]
): SsmApi.SsmApi => ({
  startSession: () => Effect.die("unused"),
  resumeSession: resume,
  terminateSession: () => Effect.void
})

const failing = (reason: SsmApi.SsmApiError.Reason) =>
  api(() => Effect.fail(new SsmApi.SsmApiError({ reason, operation: "ResumeSession", detail: `said ${reason}` })))

describe("Resumer", () => {
  it.effect("SsmApi.resumer classifies each SsmApi reason", () =>
    Effect.gen(function*() {
      const expected: ReadonlyArray<readonly [SsmApi.SsmApiError.Reason, Resumer.ResumeFailure.Reason]> = [
        ["DoesNotExist", "Terminated"],
        ["InvalidParameters", "Terminated"],
        ["AccessDenied", "AccessDenied"],
        ["Credentials", "Credentials"],
        ["Throttling", "Unavailable"],
        ["Timeout", "Unavailable"],
        ["TargetNotConnected", "Unavailable"],
        ["Other", "Unavailable"]
      ]
      for (const [reason, classified] of expected) {
        const failure = yield* Effect.flip(SsmApi.resumer(failing(reason)).resume("s-1"))
        assert.isTrue(Resumer.isResumeFailure(failure))
        assert.strictEqual(failure.reason, classified, reason)
        assert.include(failure.detail, "ssm:ResumeSession failed")
        assert.include(failure.message, `said ${reason}`)
        assert.isTrue(SsmApi.isSsmApiError(failure.cause))
      }
    }))

  it.effect("SsmApi.resumer passes a token through, and none (timed out) as none", () =>
    Effect.gen(function*() {
      const token = yield* SsmApi.resumer(api(() =>
        Effect.succeed(Option.some({ sessionId: "s-1", streamUrl: "ws://x", tokenValue: Redacted.make("t") }))
      )).resume("s-1")
      assert.strictEqual(Option.map(token, (t) => Redacted.value(t.tokenValue)).pipe(Option.getOrUndefined), "t")
      const none = yield* SsmApi.resumer(api(() => Effect.succeed(Option.none()))).resume("s-1")
      assert.isTrue(Option.isNone(none))
    }))

  it.effect("SsmApi.layerResumer builds the Resumer from the SsmApi in the context", () =>
    Effect.gen(function*() {
      const resumer = yield* Resumer.Resumer
      const failure = yield* Effect.flip(resumer.resume("s-1"))
      assert.strictEqual(failure.reason, "AccessDenied")
    }).pipe(Effect.provide(SsmApi.layerResumer.pipe(Layer.provide(Layer.succeed(SsmApi.SsmApi, failing("AccessDenied")))))))

  it.effect("Resumer.make: its own ResumeFailures are kept, anything else is Unavailable", () =>
    Effect.gen(function*() {
      const own = yield* Effect.flip(
        Resumer.make(() => Effect.fail(new Resumer.ResumeFailure({ reason: "Terminated", detail: "gone" }))).resume("s")
      )
      assert.strictEqual(own.reason, "Terminated")
      assert.strictEqual(own.message, "Terminated: gone")
      const other = yield* Effect.flip(Resumer.make(() => Effect.fail(new Error("boom"))).resume("s"))
      assert.strictEqual(other.reason, "Unavailable")
      assert.strictEqual(other.detail, "boom")
    }))

  it.effect("what each classified failure means for the session: final or retried, and the session's reason", () =>
    Effect.sync(() => {
      const meaning = (reason: Resumer.ResumeFailure.Reason) =>
        Resume.classify(new Resumer.ResumeFailure({ reason, detail: "d" }))
      assert.deepInclude(meaning("Terminated"), { reason: "Terminated", retryable: false })
      assert.deepInclude(meaning("AccessDenied"), { reason: "AccessDenied", retryable: false })
      assert.deepInclude(meaning("Credentials"), { reason: "Credentials", retryable: true })
      assert.deepInclude(meaning("Unavailable"), { reason: "Transport", retryable: true })
    }))

  it.effect("a custom Resumer drives reconnect: Terminated stops at once, without a dial", () =>
    Effect.gen(function*() {
      let dials = 0
      const result = yield* Effect.either(Resume.reconnect({
        sessionId: "s-1",
        policy: Resume.policy({ deadline: Duration.seconds(5) }),
        resumer: Resumer.make(() => Effect.fail(new Resumer.ResumeFailure({ reason: "Terminated", detail: "gone" }))),
        dial: () => Effect.sync(() => dials++),
        onAttempt: () => Effect.void
      }, "lost"))
      assert.isTrue(Either.isLeft(result) && result.left.reason === "Terminated" && !result.left.retryable)
      assert.strictEqual(dials, 0)
    }))

  it.effect("a custom Resumer's token is dialled", () =>
    Effect.gen(function*() {
      const dialled: Array<string> = []
      const result = yield* Resume.reconnect({
        sessionId: "s-1",
        policy: Resume.policy(),
        resumer: Resumer.make(() => Effect.succeed(Option.some({ tokenValue: Redacted.make("fresh") }))),
        dial: (token) => Effect.sync(() => dialled.push(Redacted.value(token))),
        onAttempt: () => Effect.void
      }, "lost")
      assert.deepStrictEqual(dialled, ["fresh"])
      assert.strictEqual(result.attempts, 1)
    }))
})
