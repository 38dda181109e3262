/**
 * Local files for `FileTransfer`: uploads read a file (or a directory through the local `tar`), in one session
 * or in ranges over several; downloads write a temp file beside the destination (`.<name>.ssm-cp-<random>`, mode
 * 0600), hash what arrived, apply the mode and rename it only once verified. The temp is removed on any failure
 * or interruption, so the final name is never touched by a copy that did not complete.
 *
 * @internal
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as ChildProcess from "node:child_process"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Path from "node:path"
import type * as FileTransfer from "../../FileTransfer.js"
import type * as NodeFileTransfer from "../../NodeFileTransfer.js"
import { FileTransferError, isFileTransferError } from "./fileTransferError.js"
import * as Frames from "./frames.js"
import * as Transfer from "./transfer.js"

/** how many bytes one local read takes: many upload frames at once */
const READ_SIZE = Frames.UPLOAD_CHUNK * 16

const local = (detail: string, cause?: unknown) =>
  new FileTransferError({
    reason: "Local",
    detail: cause instanceof Error ? `${detail}: ${cause.message}` : detail,
    ...(cause === undefined ? {} : { cause })
  })

const toLocal = (detail: string) => (cause: unknown) => isFileTransferError(cause) ? cause : local(detail, cause)

/** The local file's stat, as the copy's errors say it. */
const statLocal = (path: string): Effect.Effect<Fs.Stats, FileTransferError> =>
  Effect.tryPromise({
    try: () => Fs.promises.stat(path),
    catch: (cause) =>
      (cause as NodeJS.ErrnoException).code === "ENOENT"
        ? new FileTransferError({ reason: "NotFound", detail: `no such file or directory ${path}` })
        : local(`cannot read ${path}`, cause)
  })

/** A file's bytes from `start`, `length` of them (to its end when undefined). @internal */
export const readFile = (path: string, start = 0, length?: number): Stream.Stream<Uint8Array, FileTransferError> =>
  length === 0 ? Stream.empty : Stream.suspend(() =>
    Stream.fromAsyncIterable(
      Fs.createReadStream(path, {
        start,
        ...(length === undefined ? {} : { end: start + length - 1 }),
        highWaterMark: READ_SIZE
      }) as AsyncIterable<Uint8Array>,
      toLocal(`cannot read ${path}`)
    )
  )

/** SHA-256 of a local file, in lowercase hex. @internal */
export const hashFile = (path: string): Effect.Effect<string, FileTransferError> =>
  Effect.suspend(() => {
    const hash = Crypto.createHash("sha256")
    return Stream.runForEach(readFile(path), (bytes) => Effect.sync(() => hash.update(bytes))).pipe(
      Effect.map(() => hash.digest("hex"))
    )
  })

/** A directory as a tar stream (the local `tar`, whose one top entry is the directory's name). */
const tarStream = (path: string): Stream.Stream<Uint8Array, FileTransferError> =>
  Stream.unwrapScoped(Effect.gen(function*() {
    const child = yield* Effect.acquireRelease(
      Effect.sync(() =>
        ChildProcess.spawn("tar", ["-cf", "-", "-C", Path.dirname(path), `./${Path.basename(path)}`], {
          stdio: ["ignore", "pipe", "pipe"]
        })
      ),
      (child) => Effect.sync(() => child.exitCode === null && child.kill())
    )
    let stderr = ""
    child.stderr.on("data", (data: Buffer) => {
      stderr = (stderr + data.toString()).slice(-500)
    })
    const exited = Effect.async<number>((resume) => {
      if (child.exitCode !== null) return resume(Effect.succeed(child.exitCode))
      child.once("close", (code) => resume(Effect.succeed(code ?? 1)))
      child.once("error", () => resume(Effect.succeed(127)))
    })
    return Stream.fromAsyncIterable(child.stdout as AsyncIterable<Uint8Array>, toLocal("tar failed")).pipe(
      Stream.concat(Stream.fromEffect(exited).pipe(
        Stream.flatMap((code) =>
          code === 0 ? Stream.empty : Stream.fail(local(`tar -c ${path} failed (${code}): ${stderr.trim()}`))
        )
      ))
    )
  }))

/** @internal */
export const upload = (
  options: NodeFileTransfer.UploadOptions
): Effect.Effect<FileTransfer.UploadResult, Transfer.Errors, Transfer.Services> =>
  Effect.gen(function*() {
    const stats = yield* statLocal(options.localPath)
    const name = Path.basename(Path.resolve(options.localPath))
    const remote = { ...options, name, mode: stats.mode & 0o7777 }
    if (stats.isDirectory()) {
      if (options.recursive !== true) {
        return yield* new FileTransferError({ reason: "NotAFile", detail: `${options.localPath} is a directory (use -r)` })
      }
      return yield* Transfer.upload({ ...remote, input: tarStream(options.localPath), tar: true })
    }
    if (!stats.isFile()) {
      return yield* new FileTransferError({ reason: "NotAFile", detail: `${options.localPath} is not a regular file` })
    }
    const sessions = options.sessions ?? 1
    if (sessions <= 1 || stats.size <= Frames.MAX_CHUNK) {
      return yield* Transfer.upload({ ...remote, size: stats.size, input: readFile(options.localPath) })
    }
    return yield* Transfer.uploadRanges({
      ...remote,
      size: stats.size,
      sessions,
      read: (offset, length) => readFile(options.localPath, offset, length),
      sha256: hashFile(options.localPath)
    })
  })

/** Where a download lands: inside `localPath` when it is a directory. */
const destination = (localPath: string, remotePath: string): Effect.Effect<string, FileTransferError> =>
  Effect.gen(function*() {
    const name = remotePath.replace(/\/+$/, "").split("/").at(-1) ?? ""
    const isDirectory = yield* Effect.sync(() => Fs.statSync(localPath, { throwIfNoEntry: false })?.isDirectory() === true)
    const final = isDirectory ? Path.join(localPath, name) : localPath
    const parent = Path.dirname(Path.resolve(final))
    if (Fs.statSync(parent, { throwIfNoEntry: false })?.isDirectory() !== true) {
      return yield* new FileTransferError({ reason: "NotFound", detail: `no directory ${parent}` })
    }
    return final
  })

/** A temp file beside `final`, removed with the scope unless `commit` renamed it. */
interface Temp {
  readonly path: string
  readonly handle: Fs.promises.FileHandle
  readonly write: (bytes: Uint8Array, position: number) => Effect.Effect<void, FileTransferError>
  readonly commit: (mode: number) => Effect.Effect<void, FileTransferError>
}

const temp = (final: string): Effect.Effect<Temp, FileTransferError, Scope.Scope> =>
  Effect.gen(function*() {
    const path = Path.join(Path.dirname(final), `.${Path.basename(final)}.ssm-cp-${Frames.hex(Crypto.randomBytes(8))}`)
    let committed = false
    const handle = yield* Effect.acquireRelease(
      Effect.tryPromise({ try: () => Fs.promises.open(path, "wx", 0o600), catch: toLocal(`cannot create ${path}`) }),
      (handle) =>
        Effect.promise(async () => {
          await handle.close().catch(() => undefined)
          if (!committed) await Fs.promises.rm(path, { force: true, recursive: true }).catch(() => undefined)
        })
    )
    const write = (bytes: Uint8Array, position: number) =>
      Effect.tryPromise({
        try: async () => {
          let done = 0
          while (done < bytes.length) {
            const { bytesWritten } = await handle.write(bytes, done, bytes.length - done, position + done)
            done += bytesWritten
          }
        },
        catch: toLocal(`cannot write ${path}`)
      })
    const commit = (mode: number) =>
      Effect.tryPromise({
        try: async () => {
          await handle.chmod(mode)
          await Fs.promises.rename(path, final)
          committed = true
        },
        catch: toLocal(`cannot rename ${path} to ${final}`)
      })
    return { path, handle, write, commit }
  })

const verify = (path: string, expected: string): Effect.Effect<string, FileTransferError> =>
  Effect.flatMap(hashFile(path), (digest) =>
    digest === expected ? Effect.succeed(digest) : Effect.fail(
      new FileTransferError({
        reason: "Integrity",
        detail: `the file written has SHA-256 ${digest}, the instance's file ${expected}`
      })
    ))

/** One session: the whole file into the temp, verified by the stream. */
const downloadWhole = (options: NodeFileTransfer.DownloadOptions, file: Temp, tar: boolean) =>
  Effect.gen(function*() {
    let position = 0
    let mode = 0o644
    let sha256 = ""
    yield* Stream.runForEach(
      Transfer.download({ ...options, ...(tar ? { tar: true } : {}) }),
      (item) => {
        if (item._tag === "Header") {
          mode = item.mode
          return Effect.void
        }
        if (item._tag === "Verified") {
          sha256 = item.sha256
          return Effect.void
        }
        const at = position
        position += item.bytes.length
        return file.write(item.bytes, at)
      }
    )
    // the stream checked the bytes as they came; the file is read back to check what reached the disk
    yield* verify(file.path, sha256)
    return { sha256, mode, bytes: position }
  })

/** Several sessions: the first reads the header and the whole file's hash, each writes its range at its offset. */
const downloadRanges = (options: NodeFileTransfer.DownloadOptions, file: Temp, sessions: number) =>
  Effect.gen(function*() {
    const planned = yield* Deferred.make<ReadonlyArray<{ readonly offset: number; readonly length: number }>>()
    let mode = 0o644
    let size = 0
    let remoteHash = ""
    let received = 0
    const count = (length: number) => {
      received += length
      options.onProgress?.({ transferred: received, total: size })
    }
    const range = (role: Parameters<typeof Transfer.downloadRange>[1], start: number) => {
      let position = start
      return Stream.runForEach(
        Transfer.downloadRange({ ...options, onProgress: undefined }, role, (total, fileMode) => {
          size = total
          mode = fileMode
          const ranges = Frames.planRanges(total, sessions)
          return Effect.as(Deferred.succeed(planned, ranges), ranges[0]!)
        }),
        (event) => {
          if (event._tag === "Hash") remoteHash = event.sha256
          if (event._tag !== "Bytes") return Effect.void
          const at = position
          position += event.bytes.length
          count(event.bytes.length)
          return file.write(event.bytes, at)
        }
      )
    }
    const others = Effect.flatMap(Deferred.await(planned), (ranges) =>
      Effect.all(
        ranges.slice(1).map((each) => range({ _tag: "Range", offset: each.offset, length: each.length }, each.offset)),
        { concurrency: "unbounded", discard: true }
      ))
    yield* Effect.all([range({ _tag: "First" }, 0), others], { concurrency: "unbounded", discard: true })
    const sha256 = yield* verify(file.path, remoteHash)
    return { sha256, mode, bytes: size }
  })

/** Extracts a verified tar file into a temp directory and renames its one entry to `final`. */
const extract = (tarPath: string, final: string, name: string): Effect.Effect<void, FileTransferError, Scope.Scope> =>
  Effect.gen(function*() {
    const dir = `${tarPath}.d`
    let committed = false
    yield* Effect.acquireRelease(
      Effect.tryPromise({ try: () => Fs.promises.mkdir(dir, { mode: 0o700 }), catch: toLocal(`cannot create ${dir}`) }),
      () => Effect.promise(() => committed ? Promise.resolve() : Fs.promises.rm(dir, { recursive: true, force: true }))
    )
    const code = yield* Effect.async<number>((resume) => {
      const child = ChildProcess.spawn("tar", ["-xf", tarPath, "-C", dir], { stdio: "ignore" })
      child.once("close", (code) => resume(Effect.succeed(code ?? 1)))
      child.once("error", () => resume(Effect.succeed(127)))
    })
    if (code !== 0) return yield* local(`tar -x failed (${code})`)
    if (Fs.existsSync(final)) return yield* new FileTransferError({ reason: "NotAFile", detail: `${final} exists` })
    yield* Effect.tryPromise({
      try: () => Fs.promises.rename(Path.join(dir, name), final),
      catch: toLocal(`cannot rename into ${final}`)
    })
    committed = true
    yield* Effect.promise(() => Fs.promises.rm(dir, { recursive: true, force: true }))
  })

/** @internal */
export const download = (
  options: NodeFileTransfer.DownloadOptions
): Effect.Effect<NodeFileTransfer.DownloadResult, Transfer.Errors, Transfer.Services> =>
  Effect.scoped(Effect.gen(function*() {
    const final = yield* destination(options.localPath, options.remotePath)
    const file = yield* temp(final)
    if (options.recursive === true) {
      const result = yield* downloadWhole(options, file, true)
      const name = options.remotePath.replace(/\/+$/, "").split("/").at(-1) ?? ""
      yield* extract(file.path, final, name)
      return { sha256: result.sha256, localPath: final, bytes: result.bytes }
    }
    const sessions = options.sessions ?? 1
    const result = sessions <= 1
      ? yield* downloadWhole(options, file, false)
      : yield* downloadRanges(options, file, sessions)
    yield* file.commit(result.mode)
    return { sha256: result.sha256, localPath: final, bytes: result.bytes }
  }))

