/**
 * Commands with exit codes over NonInteractiveCommands sessions whose document sets `separateOutputStream`
 * (AGENT-PROTOCOL.md section 13): stdout as Output, stderr as StdErr, and `EXIT_CODE: n` as ExitCode.
 *
 * @internal
 */
import type * as Socket from "@effect/platform/Socket"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Stream from "effect/Stream"
import type * as RemoteCommand from "../RemoteCommand.js"
import * as Session from "../Session.js"
import * as SsmApi from "../SsmApi.js"
import { concat } from "./bytes.js"

/** @internal */
export const ErrorTypeId: RemoteCommand.ErrorTypeId = Symbol.for(
  "ssm-session-manager/RemoteCommand/RemoteCommandError"
) as RemoteCommand.ErrorTypeId

/** @internal */
export class RemoteCommandError extends Data.TaggedError("RemoteCommandError")<{
  readonly reason: RemoteCommand.RemoteCommandError.Reason
  readonly detail: string
  readonly cause?: unknown
}> {
  readonly [ErrorTypeId]: RemoteCommand.ErrorTypeId = ErrorTypeId
  override get message(): string {
    return `${this.reason}: ${this.detail}`
  }
}

/** @internal */
export const isRemoteCommandError = (u: unknown): u is RemoteCommandError => Predicate.hasProperty(u, ErrorTypeId)

/** @internal */
export const DOCUMENT_NAME = "SSM-RunShellCommandWithExitCode"

/** @internal */
export const DOCUMENT_CONTENT = {
  schemaVersion: "1.0",
  description: "Runs one command and reports stdout, stderr and the exit code separately (ssm-session-manager exec)",
  sessionType: "NonInteractiveCommands",
  parameters: { command: { type: "String", description: "the command to run" } },
  properties: { commands: "{{ command }}", runAsElevated: false, separateOutputStream: true }
} as const

const sessionError = (cause: Session.SessionError) =>
  new RemoteCommandError({ reason: "Session", detail: cause.message, cause })

/** Removes a configured separator prefix from the start of a chunk. */
const stripper = (prefix: unknown) => {
  if (typeof prefix !== "string" || prefix === "") return (bytes: Uint8Array) => bytes
  const marker = new TextEncoder().encode(prefix)
  return (bytes: Uint8Array) => {
    if (bytes.length < marker.length) return bytes
    for (let i = 0; i < marker.length; i++) if (bytes[i] !== marker[i]) return bytes
    return bytes.subarray(marker.length)
  }
}

/** @internal */
export const stream = (session: Session.Session): Stream.Stream<RemoteCommand.CommandOutput, RemoteCommandError> => {
  if (session.sessionType !== "NonInteractiveCommands" && session.sessionType !== "InteractiveCommands") {
    return Stream.fail(
      new RemoteCommandError({ reason: "NotACommandSession", detail: `the session is of type ${session.sessionType}` })
    )
  }
  const stdout = stripper(session.properties?.["stdOutSeparatorPrefix"])
  const stderr = stripper(session.properties?.["stdErrSeparatorPrefix"])
  let exited = false
  const output = session.output.pipe(
    Stream.map((bytes): RemoteCommand.CommandOutput => ({ _tag: "Stdout", bytes: stdout(bytes) }))
  )
  const events = session.events.pipe(
    Stream.filterMap((event): Option.Option<RemoteCommand.CommandOutput> => {
      if (event._tag === "StdErr") return Option.some({ _tag: "Stderr", bytes: stderr(event.bytes) })
      if (event._tag === "ExitCode" && !Number.isNaN(event.code)) {
        exited = true
        return Option.some({ _tag: "Exit", code: event.code })
      }
      return Option.none()
    })
  )
  return Stream.merge(output, events).pipe(
    Stream.mapError(sessionError),
    Stream.concat(Stream.suspend(() =>
      exited ? Stream.empty : Stream.fail(
        new RemoteCommandError({
          reason: "NoExitCode",
          detail: "the session ended without an exit code: its document must set separateOutputStream " +
            `(${DOCUMENT_NAME} does)`
        })
      )
    ))
  )
}

/** @internal */
export const run = (
  session: Session.Session,
  options: RemoteCommand.RunOptions = {}
): Effect.Effect<RemoteCommand.CommandResult, RemoteCommandError> =>
  Effect.gen(function*() {
    const limit = options.maxOutputBytes ?? 64 * 1024 * 1024
    const out: Array<Uint8Array> = []
    const err: Array<Uint8Array> = []
    let outLength = 0
    let errLength = 0
    let exitCode = Number.NaN
    yield* Stream.runForEach(stream(session), (item) => {
      if (item._tag === "Exit") {
        exitCode = item.code
        return Effect.void
      }
      if (item._tag === "Stdout") {
        out.push(item.bytes)
        outLength += item.bytes.length
      } else {
        err.push(item.bytes)
        errLength += item.bytes.length
      }
      return outLength + errLength > limit
        ? Effect.fail(
          new RemoteCommandError({
            reason: "OutputTooLarge",
            detail: `the output exceeded ${limit} bytes: use RemoteCommand.stream for long output`
          })
        )
        : Effect.void
    })
    return { stdout: concat(out, outLength), stderr: concat(err, errLength), exitCode }
  })

/** @internal */
export const start = (options: RemoteCommand.ExecOptions) =>
  SsmApi.openSession({
    target: options.target,
    documentName: options.documentName ?? DOCUMENT_NAME,
    parameters: { command: [options.command], ...options.parameters },
    reason: options.reason
  }, options.session)

/** @internal */
export const exec = (
  options: RemoteCommand.ExecOptions
): Effect.Effect<
  RemoteCommand.CommandResult,
  RemoteCommandError | Session.SessionError | SsmApi.SsmApiError,
  SsmApi.SsmApi | Socket.WebSocketConstructor
> => Effect.scoped(Effect.flatMap(start(options), (session) => run(session, options)))

/** @internal */
export const execStream = (
  options: RemoteCommand.ExecOptions
): Stream.Stream<
  RemoteCommand.CommandOutput,
  RemoteCommandError | Session.SessionError | SsmApi.SsmApiError,
  SsmApi.SsmApi | Socket.WebSocketConstructor
> => Stream.unwrapScoped(Effect.map(start(options), stream))

/** The remote side's interrupt: NonInteractiveCommands agents look for 0x03 (SIGINT) and 0x1c (SIGQUIT). @internal */
export const signal = (session: Session.Session, signal: "SIGINT" | "SIGQUIT"): Effect.Effect<void, RemoteCommandError> =>
  Effect.mapError(session.write(new Uint8Array([signal === "SIGINT" ? 0x03 : 0x1c])), sessionError)
