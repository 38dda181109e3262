/**
 * The command line's one error, `CliError`: a yieldable, tagged error whose `reason` says what went wrong (a flag,
 * a local port, the readiness file, …) and whose `message` is the one line `runCli` prints on stderr.
 *
 * @since 0.3.0
 */
import * as Data from "effect/Data"
import * as Predicate from "effect/Predicate"

/**
 * Why a command failed, when it was the command line's own doing rather than a library module's:
 *
 * - `InvalidOptions`: a flag's value is wrong, or flags that do not go together (checked before any session).
 * - `InvalidArguments`: the drop-in plugin's arguments are not what the AWS CLI passes.
 * - `Listen`: a local port or Unix socket cannot be listened on.
 * - `ReadyFile`: the `--ready-json` file could not be written.
 * - `Background`: the `--background` child failed before it was ready (its error, passed on).
 * - `DestinationRefused`: `--wait-remote`: the agent could not connect to a mapping's destination.
 * - `MappingsFailed`: some of several `-L` mappings failed (each said on stderr as it did).
 * - `Timeout`: an API call the command makes on its way out had no answer in time.
 * - `DocumentDenied`, `DocumentFailed`: `create-document`'s CreateDocument was denied, or failed otherwise.
 * - `PluginExists`, `PluginLink`, `PluginNotAFile`, `PluginWrite`: `install-plugin` found a
 *   `session-manager-plugin` it did not write, a link, something that is not a file, or could not write its own.
 *
 * @since 0.3.0
 * @category errors
 */
export type CliErrorReason =
  | "InvalidOptions"
  | "InvalidArguments"
  | "Listen"
  | "ReadyFile"
  | "Background"
  | "DestinationRefused"
  | "MappingsFailed"
  | "Timeout"
  | "DocumentDenied"
  | "DocumentFailed"
  | "PluginExists"
  | "PluginLink"
  | "PluginNotAFile"
  | "PluginWrite"
  | "SessionClosed"

/**
 * The command line's error. Its `message` is its `detail` alone: the line a user reads after the program's name
 * (`ssm-session-manager: --local-port 70000 is not a port (0 to 65535)`); the reason is for code and hints.
 *
 * @since 0.3.0
 * @category errors
 */
export class CliError extends Data.TaggedError("CliError")<{
  readonly reason: CliErrorReason
  readonly detail: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return this.detail
  }
}

/**
 * @since 0.3.0
 * @category refinements
 */
export const isCliError = (u: unknown): u is CliError => Predicate.isTagged(u, "CliError")
