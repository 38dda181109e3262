/**
 * A remote terminal in this one: the terminal in raw mode for the session (so Ctrl-C and friends reach the remote
 * side as bytes) and restored on every way out (the remote shell exiting, the session failing, SIGTERM, the process
 * exiting), the keyboard read apart from what is sent, and ssh's escapes. Shared by `shell`, `ecs shell`, `ecs exec
 * -t` and the drop-in plugin, which loads no command definitions.
 *
 * @since 0.6.0
 */
import * as Console from "effect/Console"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Shell from "../Shell.js"
import * as SsmApi from "../SsmApi.js"
import * as Escape from "./escape.js"
import { printLine, reportConnection } from "./status.js"
import { writeTo } from "./stdio.js"
import { fromReadable } from "../NodeNetTransport.js"

/**
 * The terminal's size, or the official client's fallback (300x100) when there is no terminal.
 *
 * @since 0.1.0
 * @category terminal
 */
export const terminalSize = (): Shell.TerminalSize =>
  process.stdout.isTTY === true && process.stdout.columns > 0
    ? { cols: process.stdout.columns, rows: process.stdout.rows }
    : { cols: 300, rows: 100 }

/** Raw mode for the scope; restored when it closes, and on process exit should the scope never close. */
const rawMode = Effect.acquireRelease(
  Effect.sync(() => {
    const restore = () => {
      if (process.stdin.isTTY === true && process.stdin.isRaw) process.stdin.setRawMode(false)
    }
    if (process.stdin.isTTY !== true) return restore
    process.stdin.setRawMode(true)
    process.once("exit", restore)
    return restore
  }),
  (restore) =>
    Effect.sync(() => {
      restore()
      process.off("exit", restore)
    })
)

/**
 * How long `~.` lets TerminateSession take before the process exits: the session ends at once here, and the
 * service is told as well as it can be in that time (not the 10 s `SsmApi.terminateOnClose` allows).
 *
 * @since 0.5.0
 * @category escapes
 */
export const ESCAPE_TERMINATE_DEADLINE = "1 second"

/**
 * The exit code after `~.`, as ssh's.
 *
 * @since 0.5.0
 * @category escapes
 */
export const ESCAPE_EXIT_CODE = 255

/**
 * The line `~.` says on stderr.
 *
 * @since 0.5.0
 * @category escapes
 */
export const escapeLine = (sessionId: string): string => `Connection to ${sessionId} closed by escape.`

/**
 * `~.`: the terminal restored, one line on stderr, TerminateSession tried for a second at most (when an SsmApi is
 * provided), then the process exits 255 without waiting for the scope's finalizers (a hung session's would wait
 * for their deadlines).
 */
const closeByEscape = (sessionId: string, restore: () => void): Effect.Effect<never> =>
  Effect.gen(function*() {
    restore()
    printLine("stderr", `\n${escapeLine(sessionId)}`)
    const api = yield* Effect.serviceOption(SsmApi.SsmApi)
    if (Option.isSome(api)) {
      yield* api.value.terminateSession(sessionId).pipe(
        Effect.timeout(ESCAPE_TERMINATE_DEADLINE),
        Effect.ignore
      )
    }
    return yield* Effect.sync(() => process.exit(ESCAPE_EXIT_CODE))
  })

/**
 * How `runShell` reads the keyboard.
 *
 * @since 0.5.0
 * @category models
 */
export interface RunShellOptions {
  /**
   * ssh's escapes (`~.`, `~?`, `~~` after a line end) with this character's byte, when stdin is a terminal (piped
   * input is sent as it is, as ssh does); undefined: none
   */
  readonly escape?: number | undefined
  /** what the remote output goes through before the terminal (e.g. a filter taking out an exit-code marker) */
  readonly output?: ((output: Stream.Stream<Uint8Array, Shell.ShellError>) => Stream.Stream<Uint8Array, Shell.ShellError>) | undefined
  /** whether the official client's closing line (`Exiting session with sessionId …`) is printed; default true */
  readonly closingLine?: boolean | undefined
}

/**
 * How many keyboard chunks wait for the writer. Only a stalled session (resuming, or its window full) fills it, and
 * only with a large paste: the reader then waits for room, and an escape after the paste waits with it.
 */
const KEYBOARD_QUEUE = 64

/** Sends the keyboard's chunks, in their order, for as long as the shell's scope lasts. */
const keyboardWriter = (remote: Shell.Shell, queue: Queue.Dequeue<Uint8Array>) =>
  Effect.forever(Effect.flatMap(Queue.take(queue), (bytes) => remote.write(Shell.keyboardInput(bytes))))

/**
 * The keyboard to the remote shell through the escapes; `escaped` completed by `~.`. The reader never waits on a
 * write (which waits while the session resumes, up to minutes): it runs the escapes on each chunk as it arrives,
 * answers `~?` and `~.` at once, and hands what is sent to a writer fiber through a bounded queue.
 */
const keyboard = (remote: Shell.Shell, escape: number | undefined, escaped: Deferred.Deferred<void>) =>
  Effect.gen(function*() {
    const queue = yield* Queue.bounded<Uint8Array>(KEYBOARD_QUEUE)
    yield* Effect.forkScoped(Effect.ignore(keyboardWriter(remote, queue)))
    let state = Escape.initial
    let ended = false
    const help = new TextEncoder().encode(Escape.helpText(Escape.escapeName(escape ?? 0x7e)))
    yield* fromReadable(() => process.stdin, (error) => error).pipe(
      Stream.runForEach((bytes) =>
        Effect.gen(function*() {
          // nothing more is sent once `~.` has ended the session
          if (ended) return
          const step = Escape.feed(escape, state, bytes)
          state = step.state
          for (const event of step.events) {
            if (event._tag === "Send") yield* Queue.offer(queue, event.bytes)
            else if (event._tag === "Help") yield* writeTo(process.stderr, help)
            else {
              ended = true
              yield* Deferred.succeed(escaped, undefined)
              return
            }
          }
        })
      ),
      Effect.ignore
    )
  })

/**
 * Runs a shell in this terminal until it ends: raw mode, keyboard input (through ssh's escapes when
 * `options.escape` is given: `~.` exits the process with 255 at once), resizes, output, and the official client's
 * closing line. Returns the session's closing reason (the agent's or the service's, "" for none), for callers that
 * print no closing line.
 *
 * @since 0.1.0
 * @category running
 */
export const runShell = (
  remote: Shell.Shell,
  options: RunShellOptions = {}
): Effect.Effect<string, Shell.ShellError, Scope.Scope> =>
  Effect.gen(function*() {
    // the agent's message in HandshakeComplete ("This session is encrypted using AWS KMS."), as AWS's client shows it
    if (remote.session.customerMessage !== "") {
      yield* writeTo(process.stdout, new TextEncoder().encode(`${remote.session.customerMessage}\n`))
    }
    const restore = yield* rawMode
    yield* reportConnection(remote.session)
    // stdin ends with the session: release it so the process can exit
    yield* Effect.addFinalizer(() => Effect.sync(() => process.stdin.pause()))
    const onResize = () => Effect.runFork(Effect.ignore(remote.resize(terminalSize())))
    yield* Effect.acquireRelease(
      Effect.sync(() => process.stdout.on("resize", onResize)),
      () => Effect.sync(() => process.stdout.off("resize", onResize))
    )
    const escaped = yield* Deferred.make<void>()
    // as ssh, escapes only from a terminal: piped input goes as it is
    yield* Effect.forkScoped(keyboard(remote, process.stdin.isTTY === true ? options.escape : undefined, escaped))
    const output = options.output === undefined ? remote.output : options.output(remote.output)
    const outcome = yield* Effect.raceFirst(
      Effect.as(Stream.runForEach(output, (bytes) => writeTo(process.stdout, bytes)), "Ended" as const),
      Effect.as(Deferred.await(escaped), "Escaped" as const)
    )
    if (outcome === "Escaped") return yield* closeByEscape(remote.session.sessionId, restore)
    const reason = yield* Effect.orElseSucceed(remote.closed, () => "")
    if (options.closingLine === false) return reason
    yield* Console.log(
      reason === ""
        ? `\n\nExiting session with sessionId: ${remote.session.sessionId}.\n\n`
        : `\n\nSessionId: ${remote.session.sessionId} : ${reason}\n\n`
    )
    return reason
  })
