/**
 * How every command-line program runs: logs on stderr (stdout carries what the official client prints, or a
 * session's bytes), a failure as one line on stderr and exit code 1, never a stack trace or a second copy; the
 * first Ctrl-C (or SIGTERM) ends the session, within its close deadlines, and a second one exits at once.
 *
 * @since 0.1.0
 */
import * as ValidationError from "@effect/cli/ValidationError"
import * as Runtime from "@effect/platform/Runtime"
import * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import { hint } from "./hints.js"
import { clearLiveLine, printLine, redrawLiveLine } from "./status.js"

/**
 * This package's version (the CLI's `--version`; the drop-in plugin's on a terminal).
 *
 * @since 0.2.0
 * @category constants
 */
export const PACKAGE_VERSION = "0.1.0"

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
 * The process's main program, as `@effect/platform-node`'s `runMain` runs it (without needing that package):
 * kept alive until it ends; the first SIGINT or SIGTERM interrupts it; a failure exits 1, and a success leaves the
 * process to end by itself (with any `process.exitCode` a command set).
 */
const runMain = Runtime.makeRunMain(({ fiber, teardown }) => {
  const keepAlive = setInterval(() => {}, 2 ** 31 - 1)
  let receivedSignal = false
  const onSignal = () => {
    receivedSignal = true
    process.removeListener("SIGINT", onSignal)
    process.removeListener("SIGTERM", onSignal)
    fiber.unsafeInterruptAsFork(fiber.id())
  }
  process.on("SIGINT", onSignal)
  process.on("SIGTERM", onSignal)
  fiber.addObserver((exit) => {
    if (!receivedSignal) {
      process.removeListener("SIGINT", onSignal)
      process.removeListener("SIGTERM", onSignal)
    }
    clearInterval(keepAlive)
    teardown(exit, (code) => {
      if (receivedSignal || code !== 0) process.exit(code)
    })
  })
})

/**
 * A second line for the failures people meet most, saying what to do about them (see `hints.ts`).
 *
 * @since 0.2.0
 * @category running
 */
export { hint } from "./hints.js"

/**
 * `logger` beside the live status line: the line (`\r` and the counters, no newline) is cleared before each log
 * line rather than run into, and drawn again after it. Nothing is added when no live line is shown (stderr is not
 * a terminal, or no tunnel runs).
 *
 * @since 0.2.0
 * @category running
 */
export const onFreshLine = <Message, Output>(
  logger: Logger.Logger<Message, Output>,
  around: { readonly before: () => void; readonly after: () => void } = { before: clearLiveLine, after: redrawLiveLine }
): Logger.Logger<Message, Output> =>
  Logger.make((options) => {
    around.before()
    try {
      return logger.log(options)
    } finally {
      around.after()
    }
  })

/**
 * Runs `program` as the process's main program, named `name` in its error line.
 *
 * @since 0.1.0
 * @category running
 */
export const runCli = <A, E>(name: string, program: Effect.Effect<A, E>): void => {
  // the SDK's nine-line warning about Node versions it will stop supporting next year, on every AWS call, is not
  // this program's message (the user's own SDK programs still get it)
  process.env["AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED"] ??= "true"
  // runMain interrupts the program on the first signal; if its finalizers still run at the second, leave now
  let signals = 0
  const onSignal = () => {
    if (++signals >= 2) process.exit(130)
    printLine("stderr", `${name}: ending the session (press Ctrl-C again to leave at once)`)
  }
  process.on("SIGINT", onSignal)
  process.on("SIGTERM", onSignal)
  // stdout closed by its reader (`… | head -1`): the session ends quietly, as a program killed by SIGPIPE does
  // (exit 141), instead of an unhandled EPIPE
  const stdoutClosed = Deferred.unsafeMake<void>(FiberId.none)
  const onOutputError = (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") Deferred.unsafeDone(stdoutClosed, Exit.void)
  }
  process.stdout.on("error", onOutputError)
  process.stderr.on("error", () => {})
  Effect.raceFirst(
    program,
    Effect.zipRight(Deferred.await(stdoutClosed), Effect.sync(() => void (process.exitCode = 141)))
  ).pipe(
    Effect.tapErrorCause((cause) =>
      Cause.isInterruptedOnly(cause) ||
        // @effect/cli has printed its own message for bad arguments
        Option.exists(Cause.failureOption(cause), ValidationError.isValidationError)
        ? Effect.void
        : Console.error([`${name}: ${describe(cause)}`, hint(cause)].filter((line) => line !== undefined).join("\n"))
    ),
    Effect.provide(Logger.replace(
      Logger.defaultLogger,
      onFreshLine(Logger.prettyLogger({ stderr: true }))
    )),
    runMain({ disableErrorReporting: true, disablePrettyLogger: true })
  )
}
