/**
 * `cp`: copies a file or, with `-r`, a directory between this machine and an instance, as `scp` does:
 * `cp ./file i-0123:/path`, `cp web-1:/path ./file`, `-` for stdin or stdout. Verified by SHA-256 on both ends,
 * written under a temp name and renamed only once verified, the mode kept; `--sessions k` splits a large file
 * over k sessions. A progress line on stderr when it is a terminal; one error line and a non-zero exit otherwise.
 *
 * @since 0.4.0
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as FileTransfer from "../FileTransfer.js"
import * as NodeFileTransfer from "../NodeFileTransfer.js"
import type * as RemoteCommand from "../RemoteCommand.js"
import { awsOptions, layerAws, requireTarget } from "./aws.js"
import { CliError } from "./error.js"
import { printLine } from "./status.js"
import { writeTo } from "./stdio.js"

/**
 * One side of a copy: a local path (or `-`), or `target:path` on an instance. A colon before any `/` marks a
 * remote, as in scp (`./a:b` is local); an empty path is the remote's working directory.
 *
 * @since 0.4.0
 * @category parsing
 */
export type Location =
  | { readonly _tag: "Local"; readonly path: string }
  | { readonly _tag: "Remote"; readonly target: string; readonly path: string }

/**
 * @since 0.4.0
 * @category parsing
 */
export const parseLocation = (text: string): Location => {
  const colon = text.indexOf(":")
  const slash = text.indexOf("/")
  if (colon === -1 || (slash !== -1 && slash < colon)) return { _tag: "Local", path: text }
  const path = text.slice(colon + 1)
  return { _tag: "Remote", target: text.slice(0, colon), path: path === "" ? "." : path }
}

/**
 * Bytes as people read them, in binary units.
 *
 * @since 0.4.0
 * @category formatting
 */
export const formatSize = (bytes: number): string => {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"]
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`
}

const formatDuration = (seconds: number): string => {
  const s = Math.max(0, Math.round(seconds))
  const h = Math.floor(s / 3600)
  const m = Math.floor((s % 3600) / 60)
  const rest = String(s % 60).padStart(2, "0")
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${rest}` : `${m}:${rest}`
}

/**
 * The progress line: bytes (of the total), a bar, the rate and the time left, fitted to `width` columns.
 *
 * @since 0.4.0
 * @category formatting
 */
export const formatProgress = (
  progress: FileTransfer.Progress,
  elapsedSeconds: number,
  width = 80
): string => {
  const rate = elapsedSeconds > 0 ? progress.transferred / elapsedSeconds : 0
  const known = progress.total !== undefined && progress.total > 0
  const fraction = known ? Math.min(1, progress.transferred / progress.total!) : progress.total === 0 ? 1 : undefined
  const amount = progress.total === undefined
    ? formatSize(progress.transferred)
    : `${formatSize(progress.transferred)} / ${formatSize(progress.total)}`
  const eta = fraction !== undefined && rate > 0 && known
    ? `ETA ${formatDuration((progress.total! - progress.transferred) / rate)}`
    : ""
  const tail = [`${formatSize(rate)}/s`, eta].filter((part) => part !== "").join("  ")
  const percent = fraction === undefined ? "" : `${String(Math.floor(fraction * 100)).padStart(3)}% `
  const barWidth = Math.max(0, width - amount.length - tail.length - percent.length - 6)
  const bar = fraction === undefined || barWidth < 5
    ? ""
    : `[${"#".repeat(Math.round(fraction * barWidth)).padEnd(barWidth, ".")}] `
  return `${amount}  ${percent}${bar}${tail}`.slice(0, width)
}

/** the progress line on a terminal's stderr, redrawn at most every 100 ms; nothing when it is not a terminal */
const progressLine = () => {
  const tty = process.stderr.isTTY === true
  const started = Date.now()
  let drawn = 0
  let last: FileTransfer.Progress | undefined
  const draw = (progress: FileTransfer.Progress) =>
    process.stderr.write(`\r${formatProgress(progress, (Date.now() - started) / 1000, (process.stderr.columns ?? 80) - 1)}\x1b[K`)
  return {
    onProgress: tty
      ? (progress: FileTransfer.Progress) => {
        last = progress
        const now = Date.now()
        if (now - drawn >= 100) {
          drawn = now
          draw(progress)
        }
      }
      : undefined,
    end: () => {
      if (tty && last !== undefined) {
        draw(last)
        process.stderr.write("\n")
      }
    }
  }
}

/** what the first Ctrl-C says during a copy */
const INTERRUPTED_LINE = "ssm-session-manager: cp interrupted: the partial copy was removed on both ends (exit 130)"

/**
 * Runs `copy` until it ends or the first Ctrl-C, which interrupts it (its finalizers remove the temp files on both
 * ends) and exits 130 with one line; a second Ctrl-C leaves at once.
 */
const interruptible = <A, E, R>(copy: Effect.Effect<A, E, R>): Effect.Effect<void, E, R> =>
  Effect.gen(function*() {
    const interrupted = yield* Deferred.make<void>()
    const restore = yield* Effect.sync(() => {
      const previous = process.listeners("SIGINT")
      let count = 0
      const onInterrupt = () => {
        if (++count === 1) Deferred.unsafeDone(interrupted, Exit.void)
        else process.exit(130)
      }
      process.removeAllListeners("SIGINT")
      process.on("SIGINT", onInterrupt)
      return () => {
        process.off("SIGINT", onInterrupt)
        for (const listener of previous) process.on("SIGINT", listener)
      }
    })
    const outcome = yield* Effect.raceFirst(
      Effect.as(copy, "Done" as const),
      Effect.as(Deferred.await(interrupted), "Interrupted" as const)
    ).pipe(Effect.ensuring(Effect.sync(restore)))
    if (outcome === "Interrupted") {
      printLine("stderr", `${process.stderr.isTTY === true ? "\n" : ""}${INTERRUPTED_LINE}`)
      process.exitCode = 130
    }
  })

const invalid = (detail: string) => new CliError({ reason: "InvalidOptions", detail })

/** this process's stdin as bytes */
const stdinBytes: Stream.Stream<Uint8Array, FileTransfer.FileTransferError> = Stream.suspend(() =>
  Stream.fromAsyncIterable(
    process.stdin as AsyncIterable<Uint8Array>,
    (cause) => new FileTransfer.FileTransferError({ reason: "Local", detail: `reading stdin failed: ${String(cause)}` })
  )
)

/**
 * `cp`'s own options and arguments (the AWS options aside), shared with `ecs cp`.
 *
 * @since 0.5.0
 * @category options
 */
export const copyOptions = (remote: string) => ({
  recursive: Options.boolean("recursive").pipe(Options.withAlias("r"), Options.withDescription("copy a directory")),
  sessions: Options.integer("sessions").pipe(
    Options.withDescription("split one large file over this many sessions at once, to pass the per-session cap"),
    Options.withDefault(1)
  ),
  source: Args.text({ name: "source" }).pipe(Args.withDescription(`a local path, - for stdin, or ${remote}`)),
  destination: Args.text({ name: "destination" }).pipe(
    Args.withDescription(`a local path, - for stdout, or ${remote} (an existing directory receives it inside)`)
  )
})

/**
 * The values of `copyOptions`.
 *
 * @since 0.5.0
 * @category options
 */
export interface CopyOptions {
  readonly recursive: boolean
  readonly sessions: number
  readonly source: string
  readonly destination: string
}

/**
 * Where the remote side's sessions go: the target (an instance, a container's `ecs:` target) and, for ECS, how
 * each is opened (`EcsExec.launch`).
 *
 * @since 0.5.0
 * @category models
 */
export interface CopyRemote {
  readonly target: string
  readonly launch?: RemoteCommand.Launch | undefined
  readonly documentName?: string | undefined
}

/**
 * Copies as the options say, once `resolve` has turned the remote side's prefix (before its colon) into where the
 * sessions go. `remote` names the remote side's form in the messages (`target:path`, `[CONTAINER]:PATH`).
 *
 * @since 0.5.0
 * @category running
 */
export const runCopy = <E, R>(
  options: CopyOptions,
  remoteForm: string,
  resolve: (prefix: string) => Effect.Effect<CopyRemote, E, R>
) =>
  Effect.gen(function*() {
    const source = parseLocation(options.source)
    const destination = parseLocation(options.destination)
    if (source._tag === destination._tag) {
      return yield* invalid(`cp copies between this machine and a remote: one of SOURCE and DESTINATION must be ` +
        `${remoteForm}, the other local (a colon before any / marks a remote; write ./a:b for a local a:b)`)
    }
    if (options.sessions < 1 || options.sessions > 64) return yield* invalid("--sessions must be 1 to 64")
    const remote = source._tag === "Remote" ? source : destination as Extract<Location, { _tag: "Remote" }>
    const local = source._tag === "Local" ? source : destination as Extract<Location, { _tag: "Local" }>
    if (local.path === "-" && (options.recursive || options.sessions > 1)) {
      return yield* invalid("- (stdin or stdout) copies one file in one session: without -r and --sessions")
    }
    const resolved = yield* resolve(remote.target)
    const progress = progressLine()
    const common = {
      target: resolved.target,
      onProgress: progress.onProgress,
      ...(resolved.documentName === undefined ? {} : { documentName: resolved.documentName }),
      ...(resolved.launch === undefined ? {} : { launch: resolved.launch })
    }
    const copy = source._tag === "Local"
      ? local.path === "-"
        ? FileTransfer.upload({ ...common, remotePath: remote.path, input: stdinBytes })
        : NodeFileTransfer.upload({
          ...common,
          localPath: local.path,
          remotePath: remote.path,
          sessions: options.sessions,
          recursive: options.recursive
        })
      : local.path === "-"
      ? Stream.runForEach(
        FileTransfer.download({ ...common, remotePath: remote.path }),
        (item) => item._tag === "Bytes" ? writeTo(process.stdout, item.bytes) : Effect.void
      )
      : NodeFileTransfer.download({
        ...common,
        localPath: local.path,
        remotePath: remote.path,
        sessions: options.sessions,
        recursive: options.recursive
      })
    yield* interruptible(Effect.ensuring(copy, Effect.sync(progress.end)))
  })

/**
 * @since 0.4.0
 * @category commands
 */
export const cp = Command.make(
  "cp",
  {
    ...awsOptions,
    ...copyOptions("target:path"),
    document: Options.text("document").pipe(
      Options.withDescription("the InteractiveCommands document with the framed wrapper (default SSM-RunCommandWithStdin)"),
      Options.optional
    )
  },
  (options) =>
    runCopy(options, "target:path", (prefix) =>
      Effect.map(
        requireTarget(prefix === "" ? Option.none() : Option.some(prefix), options.simulator, "terminal"),
        (target) => ({ target, documentName: Option.getOrUndefined(options.document) })
      )).pipe(
        // the agent's first second (writePump's first wait) is no reason to speak: only a wait of 3 s is said
        Effect.provide(layerAws(options, "terminal", "3 seconds"))
      )
).pipe(Command.withDescription("copy files to or from an instance, verified by SHA-256 (target:path on one side)"))
