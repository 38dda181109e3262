/**
 * What `@effect/cli` needs from the platform, without `@effect/platform-node`: paths (POSIX), no file system (no
 * command takes a file), and a terminal that prints but does not prompt (there is no `--wizard` here).
 *
 * @since 0.2.0
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import * as Terminal from "@effect/platform/Terminal"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Mailbox from "effect/Mailbox"

/**
 * @since 0.2.0
 * @category layers
 */
export const layerTerminal: Layer.Layer<Terminal.Terminal> = Layer.succeed(Terminal.Terminal, {
  columns: Effect.sync(() => process.stdout.columns ?? 80),
  rows: Effect.sync(() => process.stdout.rows ?? 24),
  isTTY: Effect.sync(() => process.stdout.isTTY === true),
  // no prompts: input ends at once
  readInput: Effect.tap(Mailbox.make<Terminal.UserInput>(), (mailbox) => mailbox.end),
  readLine: Effect.fail(new Terminal.QuitException()),
  display: (text) => Effect.async<void>((resume) => void process.stdout.write(text, () => resume(Effect.void)))
})

/**
 * `effect` with plain text on stdout where colours do not belong: stdout is not a terminal, or `NO_COLOR` is set
 * (help and usage errors from `@effect/cli` come with ANSI styles).
 *
 * @since 0.2.0
 * @category output
 */
export const plainWhereNeeded = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  process.stdout.isTTY === true && process.env["NO_COLOR"] === undefined
    ? effect
    : Console.consoleWith((console) =>
      Console.withConsole(effect, {
        ...console,
        log: (...args: ReadonlyArray<unknown>) =>
          console.log(...args.map((arg) => typeof arg === "string" ? arg.replace(/\x1b\[[0-9;]*m/g, "") : arg))
      })
    )

/**
 * @since 0.2.0
 * @category layers
 */
export const layer: Layer.Layer<FileSystem.FileSystem | Path.Path | Terminal.Terminal> = Layer.mergeAll(
  FileSystem.layerNoop({}),
  Path.layer,
  layerTerminal
)
