import { Effect, Stream } from "effect"
import { FileTransfer, RemoteCommand } from "ssm-session-manager"
import * as NodeFileTransfer from "ssm-session-manager/NodeFileTransfer"

// A backup up to an instance over 4 sessions (each session is capped near 1 MB/s), verified by SHA-256 on both
// ends and renamed into place only once verified; its mode is kept.
export const uploadBackup = (target: string, path: string, remoteDirectory = "/var/tmp/") =>
  NodeFileTransfer.upload({
    target,
    localPath: path,
    remotePath: remoteDirectory,
    sessions: 4,
    onProgress: ({ total, transferred }) => console.error(`${transferred} of ${total ?? "?"} bytes`)
  })

// A remote log as a stream: Header (size, mode), Bytes…, then Verified once the instance's SHA-256 matched.
export const lineCount = (target: string, path: string) =>
  Stream.runFold(
    FileTransfer.download({ target, remotePath: path }),
    0,
    (lines, item) => item._tag === "Bytes" ? lines + item.bytes.filter((byte) => byte === 0x0a).length : lines
  )

// A command with stdin: the bytes reach it exactly, their end closes its stdin, and its exit code comes back.
export const remoteHash = (target: string, data: Uint8Array) =>
  Effect.map(
    RemoteCommand.execWithInput({ target, command: "sha256sum", input: Stream.make(data) }),
    (result) => ({ hash: new TextDecoder().decode(result.stdout).split(" ")[0], exitCode: result.exitCode })
  )
