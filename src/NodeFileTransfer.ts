/**
 * `FileTransfer` with local files (Node): uploads from a file or, `recursive`, a directory (sent as a tar stream
 * by the local `tar`, extracted on the instance by its `tar`); downloads into a temp file beside the destination
 * that is renamed only once its SHA-256 matches the instance's. `sessions` splits a large file into ranges, one
 * session each, run at once, to pass the per-session rate cap.
 *
 * Destinations are read as `scp` reads them: an existing directory receives the source inside it under the
 * source's name; otherwise the destination is the new name. A directory copy never merges into an existing one.
 *
 * @since 0.4.0
 */
import type * as Socket from "@effect/platform/Socket"
import type * as Effect from "effect/Effect"
import type * as FileTransfer from "./FileTransfer.js"
import * as internal from "./internal/transfer/nodeTransfer.js"
import type * as Session from "./Session.js"
import type * as SsmApi from "./SsmApi.js"

/**
 * @since 0.4.0
 * @category models
 */
export interface UploadOptions extends FileTransfer.RemoteOptions {
  readonly localPath: string
  readonly remotePath: string
  /** sessions at once, each a range of the file (default 1; a directory always takes one) */
  readonly sessions?: number | undefined
  /** copy a directory */
  readonly recursive?: boolean | undefined
}

/**
 * @since 0.4.0
 * @category models
 */
export interface DownloadOptions extends FileTransfer.RemoteOptions {
  readonly remotePath: string
  readonly localPath: string
  /** sessions at once, each a range of the file (default 1; a directory always takes one) */
  readonly sessions?: number | undefined
  /** copy a directory */
  readonly recursive?: boolean | undefined
}

/**
 * @since 0.4.0
 * @category models
 */
export interface DownloadResult {
  /** the SHA-256 both ends agree on (of the tar stream, for a directory) */
  readonly sha256: string
  /** the final local path */
  readonly localPath: string
  readonly bytes: number
}

/**
 * Uploads a local file (or directory) to the instance, verified, its mode kept.
 *
 * @since 0.4.0
 * @category copying
 */
export const upload: (
  options: UploadOptions
) => Effect.Effect<
  FileTransfer.UploadResult,
  FileTransfer.FileTransferError | Session.SessionError | SsmApi.SsmApiError,
  SsmApi.SsmApi | Socket.WebSocketConstructor
> = internal.upload

/**
 * Downloads a file (or directory) from the instance, verified, its mode kept; nothing under the final name
 * unless it all arrived intact.
 *
 * @since 0.4.0
 * @category copying
 */
export const download: (
  options: DownloadOptions
) => Effect.Effect<
  DownloadResult,
  FileTransfer.FileTransferError | Session.SessionError | SsmApi.SsmApiError,
  SsmApi.SsmApi | Socket.WebSocketConstructor
> = internal.download
