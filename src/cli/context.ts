/**
 * What `@effect/cli` needs from the platform, without `@effect/platform-node`: paths (POSIX), no file system (no
 * command takes a file), and a terminal that prints but does not prompt (there is no `--wizard` here).
 *
 * @since 0.2.0
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import * as Terminal from "@effect/platform/Terminal"
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
 * @since 0.2.0
 * @category layers
 */
export const layer: Layer.Layer<FileSystem.FileSystem | Path.Path | Terminal.Terminal> = Layer.mergeAll(
  FileSystem.layerNoop({}),
  Path.layer,
  layerTerminal
)
