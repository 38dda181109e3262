/**
 * Commands with stdin (`RemoteCommand.startWithInput`, `exec -i`, `cp`): an InteractiveCommands session running
 * the framed wrapper (`framedCommand.ts`), its output read by `framedOutput.ts`. The wrapper says READY once the
 * pty is raw; only then does a fiber send the input, as `D` frames, and `C` at its end. Signals are frames too,
 * written between data frames (one frame at a time, so a signal never lands inside a data frame).
 *
 * The decoder hands on subarrays of the session's Output payloads without copying them: the session delivers
 * buffers that nothing writes to again (`channel/sessionState.ts` deliverData). Its own buffers are bounded
 * (`framedOutput.ts`), and what the output stream has not taken stays in the session's receive buffer, which
 * holds back the agent (backpressure), as `RemoteCommand.stream` does.
 *
 * @internal
 */
import type * as Socket from "@effect/platform/Socket"
import * as Chunk from "effect/Chunk"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as RemoteCommand from "../../RemoteCommand.js"
import type * as Session from "../../Session.js"
import * as SsmApi from "../../SsmApi.js"
import * as Framed from "./framedCommand.js"
import * as FramedOutput from "./framedOutput.js"
import { closedBeforeReady, collect, RemoteCommandError } from "./remoteCommand.js"

/** @internal */
export const DOCUMENT_NAME = Framed.DOCUMENT_NAME

/** @internal */
export const DOCUMENT_CONTENT = Framed.DOCUMENT_CONTENT

/** how long `startWithInput` waits for the wrapper's READY line by default (the agent's first read is after 1 s) */
const READY_TIMEOUT = Duration.seconds(30)

/** how long the scope waits, after the EXIT line, for the wrapper's own end (its cleanup, then the pty's close) */
const WRAPPER_END = Duration.seconds(3)

/** what a session that ended before READY said, kept for the error */
const PREAMBLE_QUOTE = 600

const sessionError = (cause: Session.SessionError) =>
  new RemoteCommandError({ reason: "Session", detail: cause.message, cause })

/** a FAIL line: a missing tool (the wrapper names what it needs), or a step that failed on the instance */
const missingTools = (message: string) =>
  new RemoteCommandError({
    reason: "MissingTools",
    detail: `the remote wrapper could not run the command: ${message}` +
      (message.includes("busybox") ? "" : " (exec -i and cp need a Linux instance with coreutils and grep, or busybox)")
  })

/**
 * The session's output as framed events, in order, ending after `Exit` (or `Failed`); bytes the decoder cannot
 * read are a `Protocol` error, and a session that ends first is a `NoExitCode` error quoting what it said.
 */
const framedEvents = (
  session: Session.Session
): Stream.Stream<FramedOutput.FramedEvent, RemoteCommandError> =>
  Stream.suspend(() => {
    const decoder = FramedOutput.makeDecoder()
    let closing = ""
    let preamble = ""
    let ended = false
    // StdErr and the other events count in the session's buffers: read them (an InteractiveCommands agent sends
    // the pty's bytes as Output only)
    const events = session.events.pipe(
      Stream.filterMap((event) => {
        if (event._tag === "ChannelClosed") closing = event.output
        return Option.none<Uint8Array>()
      })
    )
    return Stream.merge(session.output, events).pipe(
      Stream.mapError(sessionError),
      Stream.mapChunksEffect((chunk) => {
        const out: Array<FramedOutput.FramedEvent> = []
        for (const bytes of chunk) {
          if (decoder.phase === "Preamble" && preamble.length < PREAMBLE_QUOTE) {
            preamble += new TextDecoder().decode(bytes.subarray(0, PREAMBLE_QUOTE))
          }
          const result = FramedOutput.push(decoder, bytes)
          if (result._tag === "Malformed") {
            return Effect.fail(
              new RemoteCommandError({ reason: "Protocol", detail: `the wrapper's output: ${result.detail}` })
            )
          }
          for (const event of result.events) {
            out.push(event)
            if (event._tag === "Exit" || event._tag === "Failed") ended = true
          }
          if (ended) break
        }
        return Effect.succeed(Chunk.unsafeFromArray(out))
      }),
      Stream.takeUntil((event) => event._tag === "Exit" || event._tag === "Failed"),
      Stream.concat(Stream.suspend(() =>
        ended ? Stream.empty : Stream.fail(
          new RemoteCommandError({
            reason: "NoExitCode",
            detail: "the session ended without the wrapper's exit line" +
              (decoder.phase === "Preamble"
                ? ` (it never said READY: is the document ${DOCUMENT_NAME}, on a Linux instance?)`
                : "") +
              (preamble.trim() === "" || decoder.phase !== "Preamble"
                ? ""
                : `. The instance said: ${JSON.stringify(preamble.trim().slice(0, PREAMBLE_QUOTE))}`) +
              (closing.trim() === "" ? "" : `. The agent's closing text: ${JSON.stringify(closing.trim())}`)
          })
        )
      ))
    )
  })

/** Pulls the wrapper's events until READY: what came with it; a FAIL line is `MissingTools`. */
const ready = (
  pull: Effect.Effect<Chunk.Chunk<FramedOutput.FramedEvent>, Option.Option<RemoteCommandError>>
): Effect.Effect<Chunk.Chunk<FramedOutput.FramedEvent>, RemoteCommandError> =>
  Effect.gen(function*() {
    while (true) {
      const chunk = yield* pull
      for (const event of chunk) {
        if (event._tag === "Failed") return yield* Effect.fail(Option.some(missingTools(event.message)))
      }
      if (Chunk.some(chunk, (event) => event._tag === "Ready")) {
        return Chunk.filter(chunk, (event) => event._tag !== "Ready")
      }
    }
  }).pipe(
    Effect.mapError(Option.getOrElse(() =>
      new RemoteCommandError({ reason: "NoExitCode", detail: "the session ended before the wrapper was ready" })
    ))
  )

/**
 * The wrapper as `sh` code with the command inlined (base64, in single quotes), for a session opened otherwise than
 * with the document (`RemoteCommand.Launch`).
 *
 * @internal
 */
export const inlineWrapper = (command: string): string =>
  Framed.WRAPPER.replace("{{ command }}", Framed.encodeCommand(command))

/** the session running the wrapper: through the launch given, or StartSession with the document */
const open = <E, R>(
  options: RemoteCommand.InputOptions<E, R>
): Effect.Effect<
  Session.Session,
  RemoteCommand.RemoteCommandError | Session.SessionError | SsmApi.SsmApiError,
  Scope.Scope | SsmApi.SsmApi | Socket.WebSocketConstructor
> =>
  options.launch !== undefined
    ? options.launch.open(inlineWrapper(options.command), { reason: options.reason, session: options.session })
    : SsmApi.openSession({
      target: options.target,
      documentName: options.documentName ?? DOCUMENT_NAME,
      parameters: { [Framed.COMMAND_PARAMETER]: [Framed.encodeCommand(options.command)], ...options.parameters },
      reason: options.reason
    }, options.session)

/** @internal */
export const start = <E, R>(
  options: RemoteCommand.InputOptions<E, R>
): Effect.Effect<
  RemoteCommand.RunningCommand,
  RemoteCommand.RemoteCommandError | Session.SessionError | SsmApi.SsmApiError,
  Scope.Scope | SsmApi.SsmApi | Socket.WebSocketConstructor | R
> =>
  Effect.gen(function*() {
    const readyTimeout = options.readyTimeout ?? READY_TIMEOUT
    let exited = false
    // an InteractiveCommands session without KMS is ready at its first Output: the wrapper's READY, or what the
    // instance said instead; the deadline covers both
    const { early, pull, session } = yield* Effect.gen(function*() {
      const session = yield* open(options).pipe(
        Effect.catchIf(closedBeforeReady, (cause) =>
          Effect.fail(
            new RemoteCommandError({
              reason: "NoExitCode",
              detail: "the session ended before the wrapper said anything " + (options.launch === undefined
                ? `(is the document ${DOCUMENT_NAME}, on a Linux instance?)`
                : `(does ${options.launch.target} have sh, and the tools ${Framed.TOOLS.join(", ")}?)`),
              cause
            })
          ))
      )
      // after the EXIT line the wrapper restores the pty and removes its FIFOs: the session then ends by itself
      // (the pty closes, the agent closes the channel). Closing it first (TerminateSession) makes the agent
      // SIGKILL the wrapper mid-cleanup, so the scope waits a little for that end, once the command has exited
      yield* Effect.addFinalizer(() =>
        exited ? Effect.ignore(Effect.timeout(session.closed, WRAPPER_END)) : Effect.void
      )
      const pull = yield* Stream.toPull(framedEvents(session))
      const early = yield* ready(pull)
      return { early, pull, session }
    }).pipe(
      Effect.timeoutFail({
        duration: readyTimeout,
        onTimeout: () =>
          new RemoteCommandError({
            reason: "Timeout",
            detail: `the remote wrapper did not say READY within ${Duration.format(readyTimeout)}`
          })
      })
    )
    // one frame at a time (a write may wait for the window, and a frame must not be cut by another); a signal
    // waits for no more than the frame being written: whoever writes next sends the signals waiting first (the
    // input fiber takes the lock back at once, so a signal waiting for it alone could wait for the whole input)
    const lock = yield* Effect.makeSemaphore(1)
    const signals: Array<{ readonly frame: Uint8Array; readonly sent: Deferred.Deferred<void, RemoteCommandError> }> = []
    const write = (frame: Uint8Array) => Effect.mapError(session.write(frame), sessionError)
    const writeSignals = Effect.suspend(() =>
      Effect.forEach(
        signals.splice(0),
        (signal) => Effect.flatMap(Effect.exit(write(signal.frame)), (exit) => Deferred.done(signal.sent, exit)),
        { discard: true }
      )
    )
    const writeFrame = (frame: Uint8Array) => lock.withPermits(1)(Effect.zipRight(writeSignals, write(frame)))
    const signal = (name: "SIGINT" | "SIGQUIT") =>
      Effect.flatMap(Deferred.make<void, RemoteCommandError>(), (sent) => {
        signals.push({ frame: Framed.signalFrame(name), sent })
        return Effect.raceFirst(
          Deferred.await(sent),
          lock.withPermits(1)(Effect.zipRight(writeSignals, Deferred.await(sent)))
        )
      })
    const writeInput = (frame: Uint8Array) => Effect.mapError(writeFrame(frame), () => Option.none<RemoteCommandError>())
    const inputFailed = yield* Deferred.make<never, RemoteCommandError>()
    const inputError = (error: E) =>
      new RemoteCommandError({
        reason: "Input",
        detail: `reading the command's input failed: ${error instanceof Error ? error.message : String(error)}`,
        cause: error
      })
    // a write that fails means the session ended or failed: its output says which (the exit, or the session's
    // error), so the input just stops; a failing input stream fails the output
    yield* options.input.pipe(
      Stream.mapError((error) => Option.some(inputError(error))),
      Stream.runForEachChunk((chunk) => Effect.forEach(Framed.framesOf(chunk), writeInput, { discard: true })),
      Effect.zipRight(writeInput(Framed.closeFrame)),
      Effect.catchAll(Option.match({ onNone: () => Effect.void, onSome: (error) => Deferred.fail(inputFailed, error) })),
      Effect.forkScoped
    )
    const output = Stream.concat(
      Stream.fromChunk(early),
      Stream.repeatEffectChunkOption(pull)
    ).pipe(
      Stream.filterMap((event): Option.Option<RemoteCommand.CommandOutput> => {
        if (event._tag === "Exit") exited = true
        return event._tag === "Stdout" || event._tag === "Stderr" || event._tag === "Exit"
          ? Option.some(event)
          : Option.none()
      }),
      Stream.interruptWhen(Deferred.await(inputFailed))
    )
    return {
      session,
      output,
      signal
    } satisfies RemoteCommand.RunningCommand
  })

/** @internal */
export const exec = <E, R>(
  options: RemoteCommand.InputOptions<E, R>
): Effect.Effect<
  RemoteCommand.CommandResult,
  RemoteCommand.RemoteCommandError | Session.SessionError | SsmApi.SsmApiError,
  SsmApi.SsmApi | Socket.WebSocketConstructor | R
> => Effect.scoped(Effect.flatMap(start(options), (running) => collect(running.output, options)))
