/**
 * `shell`: an interactive shell on an instance in this terminal (see `terminal.ts` for the terminal's handling).
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Shell from "../Shell.js"
import { awsOptions, layerAws, requireTarget, target } from "./aws.js"
import { CliError } from "./error.js"
import * as Escape from "./escape.js"
import { runShell, terminalSize } from "./terminal.js"

/**
 * `--escape`: ssh's escape character for a terminal session.
 *
 * @since 0.5.0
 * @category options
 */
export const escapeOption = Options.text("escape").pipe(
  Options.withDescription(
    "the escape character when stdin is a terminal (ssh's: ~. after a line end ends the session at once, ~? " +
      "lists the escapes, ~~ sends ~), one character such as ^] or none"
  ),
  Options.withDefault(Escape.DEFAULT_ESCAPE)
)

/**
 * Reads `--escape`'s value: the escape byte, undefined for none, or an `InvalidOptions` error.
 *
 * @since 0.5.0
 * @category options
 */
export const escapeChar = (value: string): Effect.Effect<number | undefined, CliError> => {
  const parsed = Escape.parseEscape(value)
  return parsed._tag === "Right"
    ? Effect.succeed(parsed.char)
    : Effect.fail(new CliError({ reason: "InvalidOptions", detail: parsed.detail }))
}

/**
 * @since 0.1.0
 * @category commands
 */
export const shell = Command.make(
  "shell",
  {
    ...awsOptions,
    target,
    escape: escapeOption,
    document: Options.text("document").pipe(
      Options.withDescription("a Standard_Stream or InteractiveCommands document (default: the account's shell)"),
      Options.optional
    )
  },
  (options) =>
    Effect.gen(function*() {
      const escape = yield* escapeChar(options.escape)
      const target = yield* requireTarget(options.target, options.simulator)
      const remote = yield* Shell.start({
        target,
        documentName: Option.getOrUndefined(options.document),
        size: terminalSize()
      })
      yield* runShell(remote, { escape })
    }).pipe(Effect.scoped, Effect.provide(layerAws(options)))
).pipe(Command.withDescription("an interactive shell on an instance, in this terminal"))
