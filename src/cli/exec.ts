/**
 * `exec`: runs a command on an instance, streams its stdout and stderr to ours and exits with its exit code; and
 * `ssh-proxy`: an SSH ProxyCommand over `AWS-StartSSHSession`, with ssh's stdin and stdout as the stream.
 *
 * @since 0.1.0
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Effect from "effect/Effect"
import * as Runtime from "effect/Runtime"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as PortForwarding from "../PortForwarding.js"
import * as RemoteCommand from "../RemoteCommand.js"
import type * as Session from "../Session.js"
import { awsOptions, layerAws, requireTarget, target } from "./aws.js"
import { reportConnection } from "./status.js"
import { carry, writeTo } from "./stdio.js"

/**
 * One argument is a shell command line as it is; several are words, each quoted for the remote `sh -c`.
 *
 * @since 0.1.0
 * @category formatting
 */
export const commandLine = (args: ReadonlyArray<string>): string =>
  args.length === 1
    ? args[0]!
    : args.map((arg) => /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`).join(" ")

/**
 * While the scope is open, Ctrl-C and Ctrl-\ go to the remote command (0x03, 0x1c: it decides what to do and
 * reports its exit code); a second Ctrl-C stops waiting for it, as usual (the session is then terminated).
 *
 * @since 0.1.0
 * @category signals
 */
export const interruptsToRemote = (session: Session.Session): Effect.Effect<void, never, Scope.Scope> =>
  Effect.flatMap(Effect.runtime<never>(), (runtime) =>
    Effect.acquireRelease(
      Effect.sync(() => {
        // runMain's own handler (interrupt the program) is set aside for the first Ctrl-C and restored after it
        const previous = process.listeners("SIGINT")
        const restore = () => {
          process.off("SIGINT", onInterrupt)
          process.off("SIGQUIT", onQuit)
          for (const listener of previous) if (!process.listeners("SIGINT").includes(listener)) process.on("SIGINT", listener)
        }
        const onInterrupt = () => {
          restore()
          Runtime.runFork(runtime)(Effect.ignore(RemoteCommand.signal(session, "SIGINT")))
        }
        const onQuit = () => Runtime.runFork(runtime)(Effect.ignore(RemoteCommand.signal(session, "SIGQUIT")))
        process.removeAllListeners("SIGINT")
        process.on("SIGINT", onInterrupt)
        process.on("SIGQUIT", onQuit)
        return restore
      }),
      (restore) => Effect.sync(restore)
    ))

/**
 * @since 0.1.0
 * @category commands
 */
export const exec = Command.make(
  "exec",
  {
    ...awsOptions,
    target,
    document: Options.text("document").pipe(
      Options.withDescription(`a NonInteractiveCommands document with separateOutputStream (default ${RemoteCommand.DOCUMENT_NAME})`),
      Options.withDefault(RemoteCommand.DOCUMENT_NAME)
    ),
    // a command is required: `exec` alone is a usage error, not a session that runs nothing
    command: Args.text({ name: "command" }).pipe(Args.atLeast(1))
  },
  (options) =>
    Effect.gen(function*() {
      const target = yield* requireTarget(options.target, options.simulator)
      const session = yield* RemoteCommand.start({
        target,
        command: commandLine(options.command),
        documentName: options.document
      })
      yield* interruptsToRemote(session)
      yield* reportConnection(session)
      let exitCode = 0
      yield* Stream.runForEach(RemoteCommand.stream(session), (item) =>
        item._tag === "Stdout"
          ? writeTo(process.stdout, item.bytes)
          : item._tag === "Stderr"
          ? writeTo(process.stderr, item.bytes)
          : Effect.sync(() => {
            exitCode = item.code
          }))
      // runMain leaves a successful process to end by itself, with this code
      process.exitCode = exitCode
    }).pipe(Effect.scoped, Effect.provide(layerAws(options)))
).pipe(Command.withDescription("run a command on an instance: its stdout, stderr and exit code become ours"))

/**
 * @since 0.1.0
 * @category commands
 */
export const sshProxy = Command.make(
  "ssh-proxy",
  {
    ...awsOptions,
    target,
    port: Options.integer("port").pipe(Options.withDescription("the SSH port on the instance"), Options.withDefault(22))
  },
  (options) =>
    Effect.gen(function*() {
      const target = yield* requireTarget(options.target, options.simulator)
      const forwarding = yield* PortForwarding.start({
        target,
        portNumber: options.port,
        documentName: "AWS-StartSSHSession"
      })
      yield* carry(forwarding)
    }).pipe(Effect.scoped, Effect.provide(layerAws(options, "whenSlow")))
).pipe(Command.withDescription("for ssh -o ProxyCommand='ssm-session-manager ssh-proxy --target %h --port %p'"))
