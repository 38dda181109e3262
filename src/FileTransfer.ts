/**
 * Copies files to and from an instance over Session Manager, verified: each remote step is a small POSIX sh
 * script run with `RemoteCommand.startWithInput` (the `INTERACTIVE_DOCUMENT_NAME` document, Linux instances with
 * coreutils or busybox: `sh`, `dd`, `sha256sum`, `stat`, `mv`, `chmod`, `rm`, `mkdir`, and `tar` for
 * directories, besides what the wrapper needs).
 *
 * - An upload sends the bytes in chunk frames of its own inside the command's stdin, then the SHA-256 it computed,
 *   the mode and the size. The instance writes a temp file beside the destination (`.<name>.ssm-cp-<random>`,
 *   mode 0600 meanwhile), checks size and SHA-256, applies the mode and renames it into place only then, and
 *   prints the hash it verified, which the client checks again. On any failure, or when the session dies (the
 *   pty's hangup), the temp is removed and the destination is never touched.
 * - A download reads `<size> <mode>`, the bytes, then the instance's SHA-256 of the file; the stream fails with
 *   `Integrity` at its end when the bytes received hash differently, so a consumer writes a temp and renames only
 *   once the stream has ended successfully (`NodeFileTransfer` does).
 * - Several sessions (`uploadRanges`, `NodeFileTransfer`'s `sessions`) pass the per-session rate cap.
 *
 * Every byte value survives, including a file that ends in an unfinished UTF-8 sequence.
 *
 * @since 0.4.0
 */
import type * as Socket from "@effect/platform/Socket"
import type * as Cause from "effect/Cause"
import type * as Effect from "effect/Effect"
import type * as Sink from "effect/Sink"
import type * as Stream from "effect/Stream"
import * as internalError from "./internal/transfer/fileTransferError.js"
import * as internal from "./internal/transfer/transfer.js"
import type * as RemoteCommand from "./RemoteCommand.js"
import type * as Session from "./Session.js"
import type * as SsmApi from "./SsmApi.js"

/**
 * @since 0.4.0
 * @category type ids
 */
export const ErrorTypeId: unique symbol = internalError.ErrorTypeId as ErrorTypeId

/**
 * @since 0.4.0
 * @category type ids
 */
export type ErrorTypeId = typeof ErrorTypeId

/**
 * The one error of this module (and `NodeFileTransfer`).
 *
 * @since 0.4.0
 * @category errors
 */
export interface FileTransferError {
  readonly [ErrorTypeId]: ErrorTypeId
  readonly _tag: "FileTransferError"
  readonly reason: FileTransferError.Reason
  readonly detail: string
  readonly cause?: unknown
  readonly message: string
}

/**
 * @since 0.4.0
 * @category errors
 */
export declare namespace FileTransferError {
  /**
   * - `NotFound`: the source does not exist, or the destination's directory does not.
   * - `NotAFile`: a directory where a file was expected (use `recursive`), or something that is not a regular file.
   * - `Integrity`: the SHA-256 or the length of what arrived differs from the source's.
   * - `MissingTools`: the instance lacks a tool the copy needs (the detail names it).
   * - `Remote`: a remote step failed otherwise (permissions, disk full …; the detail quotes it).
   * - `Local`: reading or writing a local file failed.
   * - `Session`: the session failed or ended before the copy finished.
   * - `Interrupted`: the copy was abandoned (Ctrl-C, an interrupted fiber, a failed sibling session).
   * - `Protocol`: a remote step's output could not be read.
   *
   * @since 0.4.0
   * @category errors
   */
  export type Reason =
    | "NotFound"
    | "NotAFile"
    | "Integrity"
    | "MissingTools"
    | "Remote"
    | "Local"
    | "Session"
    | "Interrupted"
    | "Protocol"
}

/**
 * @since 0.4.0
 * @category errors
 */
export const FileTransferError: new(args: {
  readonly reason: FileTransferError.Reason
  readonly detail: string
  readonly cause?: unknown
}) => FileTransferError & Cause.YieldableError = internalError.FileTransferError

/**
 * @since 0.4.0
 * @category refinements
 */
export const isFileTransferError: (u: unknown) => u is FileTransferError = internalError.isFileTransferError

/**
 * How far a copy is: bytes sent or received, of `total` when known.
 *
 * @since 0.4.0
 * @category models
 */
export interface Progress {
  readonly transferred: number
  readonly total: number | undefined
}

/**
 * Where and how the remote steps run.
 *
 * @since 0.4.0
 * @category models
 */
export interface RemoteOptions {
  readonly target: string
  /** default `RemoteCommand.INTERACTIVE_DOCUMENT_NAME` */
  readonly documentName?: string | undefined
  readonly reason?: string | undefined
  readonly session?: Omit<Session.SessionOptions, "sessionId" | "streamUrl" | "tokenValue"> | undefined
  /** called, synchronously, as bytes go or arrive */
  readonly onProgress?: ((progress: Progress) => void) | undefined
  /** how each step's session is opened (`EcsExec.launch` for a container); default: StartSession on `target` */
  readonly launch?: RemoteCommand.Launch | undefined
}

/**
 * @since 0.4.0
 * @category models
 */
export interface UploadOptions<E, R> extends RemoteOptions {
  /** the destination; when it is an existing directory, the file goes inside it as `name` */
  readonly remotePath: string
  readonly input: Stream.Stream<Uint8Array, E, R>
  /** the source's name, for a destination that is a directory (none: such a destination is an error) */
  readonly name?: string | undefined
  /** the permission bits to set; none: 0666 less the remote shell's umask */
  readonly mode?: number | undefined
  /** the input's length when known, for progress */
  readonly size?: number | undefined
  /** the input is a tar stream whose one top entry is `name`: extracted and renamed into place */
  readonly tar?: boolean | undefined
}

/**
 * An upload of a file whose bytes can be read by range, over several sessions.
 *
 * @since 0.4.0
 * @category models
 */
export interface RangedUploadOptions<E, R> extends RemoteOptions {
  readonly remotePath: string
  readonly name?: string | undefined
  readonly mode?: number | undefined
  readonly size: number
  /** how many sessions (each a range aligned to 64 KiB; fewer for a small file) */
  readonly sessions: number
  readonly read: (offset: number, length: number) => Stream.Stream<Uint8Array, E, R>
  /** the whole file's SHA-256 in lowercase hex, computed by the caller (typically in its own pass) */
  readonly sha256: Effect.Effect<string, E, R>
}

/**
 * @since 0.4.0
 * @category models
 */
export interface UploadResult {
  /** the SHA-256 both ends verified */
  readonly sha256: string
  /** the final path on the instance */
  readonly remotePath: string
  readonly bytes: number
}

/**
 * @since 0.4.0
 * @category models
 */
export interface DownloadOptions extends RemoteOptions {
  readonly remotePath: string
  /** the path is a directory, sent as a tar stream (its one top entry is the directory) */
  readonly tar?: boolean | undefined
}

/**
 * What a download yields: the header first, then the bytes, then `Verified` once the instance's SHA-256 matched
 * what arrived (the stream fails with `Integrity` instead).
 *
 * @since 0.4.0
 * @category models
 */
export type DownloadItem =
  | { readonly _tag: "Header"; readonly size: number; readonly mode: number }
  | { readonly _tag: "Bytes"; readonly bytes: Uint8Array }
  | { readonly _tag: "Verified"; readonly sha256: string }

/**
 * Uploads a byte stream (its length need not be known) to `remotePath`, verified and renamed into place.
 *
 * @since 0.4.0
 * @category uploading
 */
export const upload: <E, R>(
  options: UploadOptions<E, R>
) => Effect.Effect<
  UploadResult,
  FileTransferError | Session.SessionError | SsmApi.SsmApiError,
  SsmApi.SsmApi | Socket.WebSocketConstructor | R
> = internal.upload

/**
 * `upload` as a Sink: run a stream into it (`Stream.run(bytes, FileTransfer.uploadSink({ … }))`); it ends with the
 * result once the input ended and the instance verified the file.
 *
 * @since 0.4.0
 * @category uploading
 */
export const uploadSink: (
  options: Omit<UploadOptions<never, never>, "input">
) => Sink.Sink<
  UploadResult,
  Uint8Array,
  never,
  FileTransferError | Session.SessionError | SsmApi.SsmApiError,
  SsmApi.SsmApi | Socket.WebSocketConstructor
> = internal.uploadSink

/**
 * Uploads a file in ranges over `sessions` sessions at once, into one remote temp: the first session waits for
 * the others, then checks the whole file's SHA-256 and renames (an abort instead, when one failed).
 *
 * @since 0.4.0
 * @category uploading
 */
export const uploadRanges: <E, R>(
  options: RangedUploadOptions<E, R>
) => Effect.Effect<
  UploadResult,
  FileTransferError | Session.SessionError | SsmApi.SsmApiError | E,
  SsmApi.SsmApi | Socket.WebSocketConstructor | R
> = internal.uploadRanges

/**
 * Downloads `remotePath`: its size and mode, its bytes, and its verification.
 *
 * @since 0.4.0
 * @category downloading
 */
export const download: (
  options: DownloadOptions
) => Stream.Stream<
  DownloadItem,
  FileTransferError | Session.SessionError | SsmApi.SsmApiError,
  SsmApi.SsmApi | Socket.WebSocketConstructor
> = internal.download
