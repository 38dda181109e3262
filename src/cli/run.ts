/**
 * How every command-line program runs: logs on stderr (stdout carries what the official client prints, or a
 * session's bytes), a failure as one line on stderr and exit code 1, never a stack trace or a second copy; the
 * first Ctrl-C (or SIGTERM) ends the session, within its close deadlines, and a second one exits at once.
 *
 * @since 0.1.0
 */
import * as ValidationError from "@effect/cli/ValidationError"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"

/**
 * The one line a failure gets: the error's own message (this library's errors say `Reason: detail`).
 *
 * @since 0.1.0
 * @category running
 */
export const describe = (cause: Cause.Cause<unknown>): string => {
  const error = Cause.squash(cause)
  if (Predicate.hasProperty(error, "message") && typeof error.message === "string" && error.message !== "") {
    return error.message.split("\n")[0]!
  }
  return String(error)
}

/**
 * Runs `program` as the process's main program, named `name` in its error line.
 *
 * @since 0.1.0
 * @category running
 */
export const runCli = <A, E>(name: string, program: Effect.Effect<A, E>): void => {
  // runMain interrupts the program on the first signal; if its finalizers still run at the second, leave now
  let signals = 0
  const onSignal = () => {
    if (++signals >= 2) process.exit(130)
    process.stderr.write(`${name}: ending the session (press Ctrl-C again to leave at once)\n`)
  }
  process.on("SIGINT", onSignal)
  process.on("SIGTERM", onSignal)
  program.pipe(
    Effect.tapErrorCause((cause) =>
      Cause.isInterruptedOnly(cause) ||
        // @effect/cli has printed its own message for bad arguments
        Option.exists(Cause.failureOption(cause), ValidationError.isValidationError)
        ? Effect.void
        : Console.error(`${name}: ${describe(cause)}`)
    ),
    Effect.provide(Logger.replace(Logger.defaultLogger, Logger.prettyLogger({ stderr: true }))),
    NodeRuntime.runMain({ disableErrorReporting: true, disablePrettyLogger: true })
  )
}
