/**
 * `shell`: an interactive shell on an instance in this terminal. The terminal is in raw mode for the session (so
 * Ctrl-C and friends reach the remote side as bytes) and restored on every way out: the remote shell exiting,
 * the session failing, SIGTERM, or the process exiting.
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Shell from "../Shell.js"
import { awsOptions, layerAws, requireTarget, target } from "./aws.js"
import { reportConnection } from "./status.js"
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
    if (process.stdin.isTTY !== true) return undefined
    const restore = () => {
      if (process.stdin.isTTY === true && process.stdin.isRaw) process.stdin.setRawMode(false)
    }
    process.stdin.setRawMode(true)
    process.once("exit", restore)
    return restore
  }),
  (restore) =>
    Effect.sync(() => {
      if (restore === undefined) return
      restore()
      process.off("exit", restore)
    })
)

/**
 * Runs a shell in this terminal until it ends: raw mode, keyboard input, resizes, output, and the official
 * client's closing line.
 *
 * @since 0.1.0
 * @category running
 */
export const runShell = (remote: Shell.Shell): Effect.Effect<void, Shell.ShellError, Scope.Scope> =>
  Effect.gen(function*() {
    // the agent's message in HandshakeComplete ("This session is encrypted using AWS KMS."), as AWS's client shows it
    if (remote.session.customerMessage !== "") {
      yield* writeTo(process.stdout, new TextEncoder().encode(`${remote.session.customerMessage}\n`))
    }
    yield* rawMode
    yield* reportConnection(remote.session)
    // stdin ends with the session: release it so the process can exit
    yield* Effect.addFinalizer(() => Effect.sync(() => process.stdin.pause()))
    const onResize = () => Effect.runFork(Effect.ignore(remote.resize(terminalSize())))
    yield* Effect.acquireRelease(
      Effect.sync(() => process.stdout.on("resize", onResize)),
      () => Effect.sync(() => process.stdout.off("resize", onResize))
    )
    yield* Effect.forkScoped(
      fromReadable(() => process.stdin, (error) => error).pipe(
        Stream.runForEach((bytes) => remote.write(Shell.keyboardInput(bytes))),
        Effect.ignore
      )
    )
    yield* Stream.runForEach(remote.output, (bytes) => writeTo(process.stdout, bytes))
    const reason = yield* Effect.orElseSucceed(remote.closed, () => "")
    yield* Console.log(
      reason === ""
        ? `\n\nExiting session with sessionId: ${remote.session.sessionId}.\n\n`
        : `\n\nSessionId: ${remote.session.sessionId} : ${reason}\n\n`
    )
  })

/**
 * @since 0.1.0
 * @category commands
 */
export const shell = Command.make(
  "shell",
  {
    ...awsOptions,
    target,
    document: Options.text("document").pipe(
      Options.withDescription("a Standard_Stream or InteractiveCommands document (default: the account's shell)"),
      Options.optional
    )
  },
  (options) =>
    Effect.gen(function*() {
      const target = yield* requireTarget(options.target, options.simulator)
      const remote = yield* Shell.start({
        target,
        documentName: Option.getOrUndefined(options.document),
        size: terminalSize()
      })
      yield* runShell(remote)
    }).pipe(Effect.scoped, Effect.provide(layerAws(options)))
).pipe(Command.withDescription("an interactive shell on an instance, in this terminal"))
