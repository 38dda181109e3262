/**
 * Copies over framed commands (`RemoteCommand.startWithInput`): each remote step is a script from `scripts.ts`,
 * its stdout read here, its stderr kept (bounded) for the error line, its exit code mapped to a reason. Uploads
 * send the bytes as chunk frames and a trailer with the SHA-256 the client computed; downloads read the header,
 * the bytes and the remote SHA-256, and fail at the end when the bytes received hash differently. Platform
 * neutral: local files are `NodeFileTransfer`'s business.
 *
 * @internal
 */
import type * as Socket from "@effect/platform/Socket"
import { sha256 } from "@noble/hashes/sha2"
import * as Chunk from "effect/Chunk"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Sink from "effect/Sink"
import * as Stream from "effect/Stream"
import * as Take from "effect/Take"
import type * as FileTransfer from "../../FileTransfer.js"
import * as RemoteCommand from "../../RemoteCommand.js"
import type * as Session from "../../Session.js"
import type * as SsmApi from "../../SsmApi.js"
import { FileTransferError, isFileTransferError } from "./fileTransferError.js"
import * as Frames from "./frames.js"
import * as Scripts from "./scripts.js"

/** what is kept of a script's stderr for its error */
const STDERR_TAIL = 2048
/** the most stdout an upload script may print (its verified hash and path) */
const UPLOAD_STDOUT = 8192
/** how long an interrupted copy waits for its remote script to remove its temp */
const CLEANUP_WAIT = "5 seconds"

/** @internal */
export type Errors = FileTransferError | Session.SessionError | SsmApi.SsmApiError
/** @internal */
export type Services = SsmApi.SsmApi | Socket.WebSocketConstructor

const REASONS: ReadonlySet<string> = new Set<FileTransfer.FileTransferError.Reason>([
  "NotFound",
  "NotAFile",
  "Integrity",
  "MissingTools",
  "Remote",
  "Interrupted",
  "Protocol"
])

const fromCommandError = (error: RemoteCommand.RemoteCommandError): FileTransferError => {
  if (error.reason === "Input" && isFileTransferError(error.cause)) return error.cause
  return new FileTransferError({
    reason: error.reason === "MissingTools" ? "MissingTools" : error.reason === "Protocol" ? "Protocol" : "Session",
    detail: error.detail,
    cause: error
  })
}

/** A script's failure from its exit code and its stderr's last `ssm-cp:` line. @internal */
export const scriptFailure = (code: number, stderr: string): FileTransferError => {
  const said = Scripts.remoteError(stderr)
  if (said !== undefined && REASONS.has(said.reason)) {
    return new FileTransferError({ reason: said.reason as FileTransfer.FileTransferError.Reason, detail: said.detail })
  }
  const text = stderr.trim()
  return new FileTransferError({
    reason: code === 129 || code === 130 || code === 143 ? "Interrupted" : "Remote",
    detail: `the remote copy step exited with code ${code}` + (text === "" ? "" : `: ${JSON.stringify(text.slice(-300))}`)
  })
}

/**
 * Runs `script` with `input` as its stdin; the stream is its stdout, ending once it exited 0 (a non-zero exit
 * fails it with the script's reason). When the reader stops early (interrupted, or an error of its own), the
 * script gets SIGINT and is given a few seconds to remove its temp before the session closes.
 *
 * @internal
 */
export const scriptOutput = (
  options: FileTransfer.RemoteOptions,
  script: string,
  input: Stream.Stream<Uint8Array, FileTransferError>
): Stream.Stream<Uint8Array, Errors, Services> =>
  Stream.unwrapScoped(Effect.gen(function*() {
    const running = yield* RemoteCommand.startWithInput({
      target: options.target,
      command: script,
      input,
      ...(options.documentName === undefined ? {} : { documentName: options.documentName }),
      ...(options.reason === undefined ? {} : { reason: options.reason }),
      ...(options.session === undefined ? {} : { session: options.session }),
      ...(options.launch === undefined ? {} : { launch: options.launch })
    }).pipe(Effect.mapError((error) => RemoteCommand.isRemoteCommandError(error) ? fromCommandError(error) : error))
    const pull = yield* Stream.toPull(running.output)
    let ended = false
    let exit: number | undefined
    let stderr = ""
    yield* Effect.addFinalizer(() =>
      ended ? Effect.void : running.signal("SIGINT").pipe(
        Effect.zipRight(Effect.forever(pull)),
        Effect.ignore,
        Effect.timeout(CLEANUP_WAIT),
        Effect.ignore
      )
    )
    const next: Effect.Effect<Chunk.Chunk<Uint8Array>, Option.Option<FileTransferError>> = pull.pipe(
      Effect.mapError(Option.map(fromCommandError)),
      Effect.map((chunk) => {
        const out: Array<Uint8Array> = []
        for (const item of chunk) {
          if (item._tag === "Stdout") out.push(item.bytes)
          else if (item._tag === "Stderr") stderr = (stderr + new TextDecoder().decode(item.bytes)).slice(-STDERR_TAIL)
          else exit = item.code
        }
        return Chunk.unsafeFromArray(out)
      }),
      Effect.catchAll((error) => {
        ended = true
        if (Option.isSome(error)) return Effect.fail(error)
        if (exit === 0) return Effect.fail(Option.none())
        return Effect.fail(Option.some(
          exit === undefined
            ? new FileTransferError({ reason: "Session", detail: "the session ended before the copy step finished" })
            : scriptFailure(exit, stderr)
        ))
      })
    )
    return Stream.repeatEffectChunkOption(next)
  }))

/** A stream of caller's bytes as upload frames, hashed and counted on the way; then `trailer`. */
const framed = <E, R>(
  bytes: Stream.Stream<Uint8Array, E, R>,
  count: (length: number) => void,
  end: Effect.Effect<Uint8Array, FileTransferError>
): Stream.Stream<Uint8Array, FileTransferError, R> =>
  Stream.suspend(() => {
    const framer = new Frames.Framer()
    return bytes.pipe(
      Stream.mapError((cause) =>
        isFileTransferError(cause) ? cause : new FileTransferError({
          reason: "Local",
          detail: `reading the input failed: ${cause instanceof Error ? cause.message : String(cause)}`,
          cause
        })
      ),
      Stream.mapChunks((chunk) => {
        const frames: Array<Uint8Array> = []
        for (const piece of chunk) {
          count(piece.length)
          for (const frame of framer.push(piece)) frames.push(frame)
        }
        return Chunk.unsafeFromArray(frames)
      }),
      Stream.concat(Stream.suspend(() => Stream.fromIterable(framer.flush()))),
      Stream.concat(Stream.fromEffect(end))
    )
  })

const randomTag = (): string => Frames.hex(crypto.getRandomValues(new Uint8Array(8)))

/** Reads an upload script's `<sha256> <path>` line and checks it against the client's hash. */
const verified = (stdout: string, expected: string): Effect.Effect<FileTransfer.UploadResult, FileTransferError> => {
  const match = /^([0-9a-f]{64}) (.*)\n$/s.exec(stdout)
  if (match === null) {
    return Effect.fail(new FileTransferError({ reason: "Protocol", detail: `the remote step said ${JSON.stringify(stdout)}` }))
  }
  if (match[1] !== expected) {
    return Effect.fail(new FileTransferError({
      reason: "Integrity",
      detail: `the instance verified SHA-256 ${match[1]}, the client sent ${expected}`
    }))
  }
  return Effect.succeed({ sha256: expected, remotePath: match[2]!, bytes: 0 })
}

const collectText = (stream: Stream.Stream<Uint8Array, Errors, Services>, limit: number) =>
  Stream.runFoldEffect(stream, "", (text, bytes) => {
    const next = text + new TextDecoder().decode(bytes)
    return next.length > limit
      ? Effect.fail(new FileTransferError({ reason: "Protocol", detail: "the remote step printed too much" }))
      : Effect.succeed(next)
  })

/** @internal */
export const upload = <E, R>(
  options: FileTransfer.UploadOptions<E, R>
): Effect.Effect<FileTransfer.UploadResult, Errors, Services | R> =>
  Effect.suspend(() => {
    const hash = sha256.create()
    let size = 0
    const total = options.size
    const progress = options.onProgress
    const bytes = Stream.map(options.input, (piece: Uint8Array) => {
      hash.update(piece)
      return piece
    })
    let digest = ""
    const trailer = Effect.sync(() => {
      digest = Frames.hex(hash.digest())
      return Frames.trailerFrame(digest, Frames.modeText(options.mode), size)
    })
    const input = framed(bytes, (length) => {
      size += length
      progress?.({ transferred: size, total })
    }, trailer)
    const script = Scripts.uploadScript({
      remotePath: options.remotePath,
      base: options.name ?? "",
      tag: randomTag(),
      role: { _tag: "Whole" },
      tar: options.tar
    })
    return collectText(scriptOutput(options, script, input as Stream.Stream<Uint8Array, FileTransferError>), UPLOAD_STDOUT).pipe(
      Effect.flatMap((stdout) => verified(stdout, digest)),
      Effect.map((result) => ({ ...result, bytes: size }))
    )
  })

/**
 * `upload` as a Sink: the bytes it is fed are the file; it ends with the upload's result once its input ended and
 * the instance verified the file. A failed upload fails the sink at its next chunk, or at the end.
 *
 * @internal
 */
export const uploadSink = (
  options: Omit<FileTransfer.UploadOptions<never, never>, "input">
): Sink.Sink<FileTransfer.UploadResult, Uint8Array, never, Errors, Services> =>
  Sink.unwrapScoped(Effect.gen(function*() {
    const queue = yield* Queue.bounded<Take.Take<Uint8Array, never>>(4)
    const fiber = yield* Effect.forkScoped(upload({ ...options, input: Stream.flattenTake(Stream.fromQueue(queue)) }))
    // an upload that failed takes no more input: its failure instead of an offer that would wait forever
    const offer = (take: Take.Take<Uint8Array, never>) =>
      Effect.raceFirst(Queue.offer(queue, take), Effect.zipRight(Fiber.join(fiber), Effect.never))
    return Sink.forEachChunk((chunk: Chunk.Chunk<Uint8Array>) => offer(Take.chunk(chunk))).pipe(
      Sink.mapEffect(() => Effect.zipRight(offer(Take.end), Fiber.join(fiber)))
    )
  }))

/** @internal */
export const uploadRanges = <E, R>(
  options: FileTransfer.RangedUploadOptions<E, R>
): Effect.Effect<FileTransfer.UploadResult, Errors | E, Services | R> =>
  Effect.gen(function*() {
    const ranges = Frames.planRanges(options.size, options.sessions)
    const tag = randomTag()
    const decision = yield* Deferred.make<Uint8Array>()
    let sent = 0
    const count = (length: number) => {
      sent += length
      options.onProgress?.({ transferred: sent, total: options.size })
    }
    const session = (index: number) => {
      const range = ranges[index]!
      const role: Scripts.UploadRole = index === 0 ? { _tag: "First" } : { _tag: "Range", offset: range.offset }
      const script = Scripts.uploadScript({ remotePath: options.remotePath, base: options.name ?? "", tag, role })
      const end = index === 0 ? Deferred.await(decision) : Effect.sync(Frames.endFrame)
      return collectText(
        scriptOutput(options, script, framed(options.read(range.offset, range.length), count, end) as Stream.Stream<Uint8Array, FileTransferError>),
        UPLOAD_STDOUT
      )
    }
    const others = Effect.all(ranges.slice(1).map((_, i) => session(i + 1)), { concurrency: "unbounded", discard: true })
    const decide = Effect.zip(others, options.sha256).pipe(
      Effect.tap(([, digest]) => Deferred.succeed(decision, Frames.trailerFrame(digest, Frames.modeText(options.mode), options.size))),
      Effect.map(([, digest]) => digest),
      Effect.onExit((exit) => exit._tag === "Success" ? Effect.void : Deferred.succeed(decision, Frames.abortFrame()))
    )
    const [stdout, digest] = yield* Effect.all([session(0), decide], { concurrency: "unbounded" })
    const result = yield* verified(stdout, digest)
    return { ...result, bytes: options.size }
  })

/** @internal */
export const download = (
  options: FileTransfer.DownloadOptions
): Stream.Stream<FileTransfer.DownloadItem, Errors, Services> =>
  Stream.suspend(() => {
    const reader = new Frames.DownloadReader({ header: true }, true)
    const hash = sha256.create()
    let received = 0
    let total: number | undefined
    const script = Scripts.downloadScript({ remotePath: options.remotePath, role: { _tag: "Whole" }, tag: randomTag(), tar: options.tar })
    return scriptOutput(options, script, Stream.empty).pipe(
      Stream.mapConcatEffect((bytes) => {
        const result = reader.push(bytes)
        if (result._tag === "Malformed") {
          return Effect.fail(new FileTransferError({ reason: "Protocol", detail: `the remote step's output: ${result.detail}` }))
        }
        const items: Array<FileTransfer.DownloadItem> = []
        for (const event of result.events) {
          if (event._tag === "Header") {
            total = event.size
            items.push({ _tag: "Header", size: event.size, mode: event.mode })
          } else if (event._tag === "Bytes") {
            hash.update(event.bytes)
            received += event.bytes.length
            options.onProgress?.({ transferred: received, total })
            items.push({ _tag: "Bytes", bytes: event.bytes })
          } else {
            const digest = Frames.hex(hash.digest())
            if (digest !== event.sha256) {
              return Effect.fail(new FileTransferError({
                reason: "Integrity",
                detail: `the bytes received have SHA-256 ${digest}, the instance's file ${event.sha256}`
              }))
            }
            items.push({ _tag: "Verified", sha256: digest })
          }
        }
        return Effect.succeed(items)
      }),
      Stream.concat(Stream.suspend(() =>
        reader.complete ? Stream.empty : Stream.fail(new FileTransferError({
          reason: "Integrity",
          detail: `the remote step ended with ${reader.missing} of the file's bytes missing`
        }))
      ))
    )
  })

/**
 * One range of a download in a session of its own (`First`: the header, then a range chosen once the size is
 * known, then the whole file's SHA-256; `Range`: the bytes alone).
 *
 * @internal
 */
export const downloadRange = (
  options: FileTransfer.RemoteOptions & { readonly remotePath: string },
  role: Scripts.DownloadRole,
  onHeader: (size: number, mode: number) => Effect.Effect<{ readonly offset: number; readonly length: number }, FileTransferError>
): Stream.Stream<Frames.DownloadEvent, Errors, Services> =>
  Effect.gen(function*() {
    const rangeSent = yield* Deferred.make<Uint8Array>()
    const reader = new Frames.DownloadReader(
      role._tag === "Range" ? { length: role.length } : { header: true, range: true },
      role._tag !== "Range"
    )
    const script = Scripts.downloadScript({ remotePath: options.remotePath, role, tag: randomTag() })
    const input = role._tag === "First" ? Stream.fromEffect(Deferred.await(rangeSent)) : Stream.empty
    return scriptOutput(options, script, input).pipe(
      Stream.mapConcatEffect((bytes) =>
        Effect.gen(function*() {
          const result = reader.push(bytes)
          if (result._tag === "Malformed") {
            return yield* new FileTransferError({ reason: "Protocol", detail: `the remote step's output: ${result.detail}` })
          }
          for (const event of result.events) {
            if (event._tag === "Header") {
              const range = yield* onHeader(event.size, event.mode)
              reader.expectBody(range.length)
              yield* Deferred.succeed(rangeSent, Frames.rangeFrame(range.offset, range.length))
            }
          }
          return result.events
        })
      ),
      Stream.concat(Stream.suspend(() =>
        reader.complete ? Stream.empty : Stream.fail(new FileTransferError({
          reason: "Integrity",
          detail: `the remote step ended with ${reader.missing} of the range's bytes missing`
        }))
      ))
    )
  }).pipe(Stream.unwrap)
