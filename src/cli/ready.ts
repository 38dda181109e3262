/**
 * `forward --ready-json`: the readiness line that says where each mapping listens, written to stdout or to a file
 * that is written whole, never through a link, and removed when the command ends.
 *
 * @since 0.3.0
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Path from "node:path"
import type * as NodePortForwarding from "../NodePortForwarding.js"
import { CliError } from "./error.js"
import { formatAddress, say } from "./status.js"

/**
 * The `--ready-json` destination checked before any session starts: a file whose directory does not exist fails
 * with `InvalidOptions` (`-`, or none, is stdout).
 *
 * @since 0.3.0
 * @category readiness
 */
export const checkReadyDestination = (destination: string | undefined): Effect.Effect<void, CliError> =>
  destination === undefined || destination === "" || destination === "-" ||
    Fs.existsSync(Path.dirname(Path.resolve(destination)))
    ? Effect.void
    : Effect.fail(
      new CliError({
        reason: "InvalidOptions",
        detail: `--ready-json ${destination}: the directory ${Path.dirname(destination)} does not exist`
      })
    )

/**
 * The readiness line of `forward --ready-json`: every mapping's local end (`host:port`, or `unix:path`), its
 * destination as the instance sees it, the target and the session.
 *
 * @since 0.2.0
 * @category running
 */
export const readyLine = (
  mappings: ReadonlyArray<{
    readonly address: NodePortForwarding.ListenerAddress
    readonly target: string
    readonly host: string | undefined
    readonly portNumber: number
    readonly sessionId: string
    /** every session of a pool, when it has more than one */
    readonly sessionIds?: ReadonlyArray<string> | undefined
  }>
): string =>
  JSON.stringify({
    mappings: mappings.map((mapping) => ({
      local: formatAddress(mapping.address),
      remote: `${mapping.host ?? "localhost"}:${mapping.portNumber}`,
      target: mapping.target,
      sessionId: mapping.sessionId,
      ...(mapping.sessionIds !== undefined && mapping.sessionIds.length > 1 ? { sessionIds: mapping.sessionIds } : {})
    }))
  })

/**
 * Writes `line` to stdout (`-`), or to a file: under a temporary name of 16 random bytes in the file's own
 * directory, created with `wx` (O_CREAT|O_EXCL: never through a link, never over a file already there) and mode
 * 0600, then renamed over the file (a link there is replaced, not followed). The file is removed when the command
 * ends (see `removeReadyOnExit`). A readiness line that cannot be written is the command's failure (`ReadyFile`).
 *
 * @since 0.3.0
 * @category readiness
 */
export const writeReady = (destination: string, line: string): Effect.Effect<void, CliError> =>
  destination === "-"
    ? say("stdout", line)
    : Effect.try({
      try: () => {
        const temporary = Path.join(
          Path.dirname(destination),
          `.${Path.basename(destination)}.${Crypto.randomBytes(16).toString("hex")}.tmp`
        )
        const fd = Fs.openSync(temporary, "wx", 0o600)
        try {
          Fs.writeFileSync(fd, `${line}\n`)
          // the umask may only take bits away; this makes the mode 0600 whatever it is
          Fs.fchmodSync(fd, 0o600)
        } catch (cause) {
          Fs.closeSync(fd)
          Fs.rmSync(temporary, { force: true })
          throw cause
        }
        Fs.closeSync(fd)
        try {
          Fs.renameSync(temporary, destination)
        } catch (cause) {
          Fs.rmSync(temporary, { force: true })
          throw cause
        }
        written.set(Path.resolve(destination), identity(Fs.lstatSync(destination, { bigint: true })))
      },
      catch: (cause) =>
        new CliError({
          reason: "ReadyFile",
          detail: `--ready-json ${destination}: ${cause instanceof Error ? cause.message : String(cause)}`,
          cause
        })
    })

/** A file's identity: its inode, and its change time (an inode number is soon reused). */
const identity = (stat: Fs.BigIntStats) => `${stat.dev}:${stat.ino}:${stat.ctimeNs}`

/** The readiness files this process wrote, with their identity, so that only they are removed at the end. */
const written = new Map<string, string>()

/** Removes the readiness files this process wrote, if they are still the ones it wrote. */
const removeReady = () => {
  for (const [path, wrote] of written) {
    written.delete(path)
    try {
      if (identity(Fs.lstatSync(path, { bigint: true })) === wrote) Fs.unlinkSync(path)
    } catch {
      // gone already, or not ours to remove
    }
  }
}

/**
 * The `--ready-json` file goes when the command ends: its scope closes (a failure, the session's end, the first
 * Ctrl-C or SIGTERM), or the process exits without closing it (a second Ctrl-C).
 *
 * @since 0.3.0
 * @category readiness
 */
export const removeReadyOnExit: Effect.Effect<void, never, Scope.Scope> = Effect.acquireRelease(
  Effect.sync(() => {
    process.once("exit", removeReady)
  }),
  () =>
    Effect.sync(() => {
      removeReady()
      process.off("exit", removeReady)
    })
)
