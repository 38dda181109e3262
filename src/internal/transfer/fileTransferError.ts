/**
 * The one error of `FileTransfer` and `NodeFileTransfer`, with the reasons a copy fails for.
 *
 * @internal
 */
import type * as FileTransfer from "../../FileTransfer.js"
import { isReasonError, ReasonError } from "../error.js"

/** @internal */
export const ErrorTypeId: FileTransfer.ErrorTypeId = Symbol.for(
  "ssm-session-manager/FileTransfer/FileTransferError"
) as FileTransfer.ErrorTypeId

/** @internal */
export class FileTransferError extends ReasonError(ErrorTypeId, "FileTransferError")<FileTransfer.FileTransferError.Reason> {}

/** @internal */
export const isFileTransferError = isReasonError<FileTransferError>(ErrorTypeId)
