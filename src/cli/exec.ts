/**
 * `exec`: runs a command on an instance, streams its stdout and stderr to ours and exits with its exit code (with
 * `-i`, our stdin becomes its stdin, over the framed wrapper's InteractiveCommands session); and
 * `ssh-proxy`: an SSH ProxyCommand over `AWS-StartSSHSession`, with ssh's stdin and stdout as the stream.
 *
 * @since 0.1.0
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Fs from "node:fs"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Runtime from "effect/Runtime"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { fromReadable } from "../NodeNetTransport.js"
import * as PortForwarding from "../PortForwarding.js"
import * as RemoteCommand from "../RemoteCommand.js"
import type * as Session from "../Session.js"
import * as SsmApi from "../SsmApi.js"
import { Announcer, awsOptions, layerAws, requireTarget, target } from "./aws.js"
import { CliError } from "./error.js"
import { printLine, reportConnection } from "./status.js"
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
 * What the first Ctrl-C says on stderr.
 *
 * @since 0.2.0
 * @category signals
 */
export const FIRST_INTERRUPT_LINE =
  "ssm-session-manager: Ctrl-C sent to the remote command as SIGINT (press Ctrl-C again to abandon it and end the session)"

/**
 * What the second Ctrl-C says on stderr.
 *
 * @since 0.2.0
 * @category signals
 */
export const ABANDON_LINE = "ssm-session-manager: abandoning the remote command: terminating the session (exit 130)"

/**
 * While the scope is open, Ctrl-C and Ctrl-\ go to the remote command as the bytes 0x03 and 0x1c, which the agent
 * turns into SIGINT and SIGQUIT for the command's process (it decides what to do and reports its exit code), each
 * said in one line on stderr. A second Ctrl-C abandons the command: the returned effect completes, for the caller
 * to terminate the session and exit 130; a third leaves at once (130).
 *
 * @since 0.1.0
 * @category signals
 */
export const interruptsToRemote = (
  signal: (signal: "SIGINT" | "SIGQUIT") => Effect.Effect<void, unknown>
): Effect.Effect<Effect.Effect<void>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const runtime = yield* Effect.runtime<never>()
    const abandoned = yield* Deferred.make<void>()
    // on a terminal the echoed ^C is not followed by a line end
    const line = (text: string) => printLine("stderr", `${process.stderr.isTTY === true ? "\n" : ""}${text}`)
    yield* Effect.acquireRelease(
      Effect.sync(() => {
        // runMain's and runCli's handlers (interrupt the program; leave at the second) are set aside meanwhile
        const previous = process.listeners("SIGINT")
        let interrupts = 0
        const onInterrupt = () => {
          interrupts++
          if (interrupts === 1) {
            line(FIRST_INTERRUPT_LINE)
            Runtime.runFork(runtime)(Effect.ignore(signal("SIGINT")))
          } else if (interrupts === 2) {
            line(ABANDON_LINE)
            Deferred.unsafeDone(abandoned, Exit.void)
          } else {
            process.exit(130)
          }
        }
        const onQuit = () => {
          line("ssm-session-manager: Ctrl-\\ sent to the remote command as SIGQUIT")
          Runtime.runFork(runtime)(Effect.ignore(signal("SIGQUIT")))
        }
        process.removeAllListeners("SIGINT")
        process.on("SIGINT", onInterrupt)
        process.on("SIGQUIT", onQuit)
        return () => {
          process.off("SIGINT", onInterrupt)
          process.off("SIGQUIT", onQuit)
          for (const listener of previous) if (!process.listeners("SIGINT").includes(listener)) process.on("SIGINT", listener)
        }
      }),
      (restore) => Effect.sync(restore)
    )
    return Deferred.await(abandoned)
  })

/**
 * Ends an abandoned command's session through the service (`ssm:TerminateSession`), which works even while the
 * agent reads no input: after a Ctrl-C the agent's input handler waits for the command to exit
 * (`agent/session/shell/shell_unix.go` InputStreamMessageHandler), so the TerminateSession flag on the data channel
 * would not be read. The agent then kills the command's process.
 *
 * @since 0.2.0
 * @category signals
 */
export const terminateAbandoned = (session: Session.Session): Effect.Effect<void, never, SsmApi.SsmApi> =>
  Effect.flatMap(SsmApi.SsmApi, (api) =>
    api.terminateSession(session.sessionId).pipe(
      Effect.timeoutFail({
        duration: "10 seconds",
        onTimeout: () => new CliError({ reason: "Timeout", detail: "no answer within 10s" })
      }),
      Effect.catchAll((error) =>
        Effect.sync(() => printLine("stderr", `ssm-session-manager: TerminateSession failed: ${error.message}`))
      )
    ))

/**
 * What `exec` without `-i` says on stderr when its stdin holds input (a pipe, a socket, a non-empty file).
 *
 * @since 0.4.0
 * @category input
 */
export const INPUT_NOT_SENT_LINE =
  "ssm-session-manager: stdin is not sent to the remote command (exec runs it without input): use exec -i to send it"

/**
 * Whether this process's stdin holds input that `exec` without `-i` would leave unread: a pipe, a socket or a
 * non-empty regular file (by fstat; nothing is read). A terminal, /dev/null or a closed stdin do not.
 *
 * @since 0.4.0
 * @category input
 */
export const stdinHasInput = (): boolean => {
  try {
    const stat = Fs.fstatSync(0)
    return stat.isFIFO() || stat.isSocket() || (stat.isFile() && stat.size > 0)
  } catch {
    return false
  }
}

/**
 * The remote command's output to ours, Ctrl-C and Ctrl-\\ to it (`interruptsToRemote`); its exit code, or 130 once
 * abandoned (the session terminated).
 *
 * @since 0.5.0
 * @category running
 */
export const relay = (
  session: Session.Session,
  output: Stream.Stream<RemoteCommand.CommandOutput, RemoteCommand.RemoteCommandError>,
  signal: (signal: "SIGINT" | "SIGQUIT") => Effect.Effect<void, unknown>
) =>
  Effect.gen(function*() {
    yield* Effect.flatMap(Announcer, (announcer) => announcer.channelOpen)
    const abandoned = yield* interruptsToRemote(signal)
    yield* reportConnection(session)
    let exitCode = 0
    const outcome = yield* Effect.raceFirst(
      Stream.runForEach(output, (item) =>
        item._tag === "Stdout"
          ? writeTo(process.stdout, item.bytes)
          : item._tag === "Stderr"
          ? writeTo(process.stderr, item.bytes)
          : Effect.sync(() => {
            exitCode = item.code
          })).pipe(Effect.as("Exited" as const)),
      Effect.as(abandoned, "Abandoned" as const)
    )
    if (outcome === "Abandoned") {
      yield* terminateAbandoned(session)
      exitCode = 130
    }
    return exitCode
  })

/**
 * @since 0.1.0
 * @category commands
 */
export const exec = Command.make(
  "exec",
  {
    ...awsOptions,
    target,
    interactive: Options.boolean("interactive").pipe(
      Options.withAlias("i"),
      Options.withDescription(
        "send our stdin to the command, byte for byte (its end closes the command's stdin), over an " +
          `InteractiveCommands session (document ${RemoteCommand.INTERACTIVE_DOCUMENT_NAME}; Linux instances)`
      )
    ),
    document: Options.text("document").pipe(
      Options.withDescription(
        `a NonInteractiveCommands document with separateOutputStream (default ${RemoteCommand.DOCUMENT_NAME}); ` +
          `with -i, the framed wrapper's document (default ${RemoteCommand.INTERACTIVE_DOCUMENT_NAME})`
      ),
      Options.optional
    ),
    // a command is required: `exec` alone is a usage error, not a session that runs nothing
    command: Args.text({ name: "command" }).pipe(
      Args.withDescription("one argument is a shell command line as it is; several are words, each quoted for sh -c"),
      Args.atLeast(1)
    )
  },
  (options) =>
    Effect.gen(function*() {
      // stdout and stderr are the remote command's, byte for byte: what exec waits for is said only on a
      // terminal, or once a wait has taken a second
      const target = yield* requireTarget(options.target, options.simulator, "terminal")
      const command = commandLine(options.command)
      if (options.interactive) {
        const running = yield* RemoteCommand.startWithInput({
          target,
          command,
          documentName: Option.getOrElse(options.document, () => RemoteCommand.INTERACTIVE_DOCUMENT_NAME),
          input: fromReadable(() => process.stdin, (error) => error)
        })
        // runMain leaves a successful process to end by itself, with this code
        process.exitCode = yield* relay(running.session, running.output, running.signal)
        return
      }
      if (stdinHasInput()) printLine("stderr", INPUT_NOT_SENT_LINE)
      const session = yield* RemoteCommand.start({
        target,
        command,
        documentName: Option.getOrElse(options.document, () => RemoteCommand.DOCUMENT_NAME)
      })
      process.exitCode = yield* relay(
        session,
        RemoteCommand.stream(session),
        (signal) => RemoteCommand.signal(session, signal)
      )
      // the agent sends an InteractiveCommands session's first output after a second (writePump's first wait):
      // with -i, only a wait of 3 s is said on a stderr that is not a terminal
    }).pipe(Effect.scoped, Effect.provide(layerAws(options, "terminal", options.interactive ? "3 seconds" : undefined)))
).pipe(Command.withDescription(
  "run a command on an instance: its stdout, stderr and exit code become ours (-i: and our stdin its stdin)"
))

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
      const target = yield* requireTarget(options.target, options.simulator, "whenSlow")
      const forwarding = yield* PortForwarding.start({
        target,
        portNumber: options.port,
        documentName: "AWS-StartSSHSession"
      })
      yield* Effect.flatMap(Announcer, (announcer) => announcer.channelOpen)
      yield* carry(forwarding)
    }).pipe(Effect.scoped, Effect.provide(layerAws(options, "whenSlow")))
).pipe(Command.withDescription("for ssh -o ProxyCommand='ssm-session-manager ssh-proxy --target %h --port %p'"))
