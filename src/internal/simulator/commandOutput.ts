/**
 * The NonInteractiveCommands output paths of the agent (`agent/session/shell/shell.go`), both through
 * processStdoutData (`stdoutData.ts`):
 * - with `separateOutputStream` (processCommandsWithOutputStreamSeparate): one reader per pipe
 *   (setupRoutineToWriteCmdPipelineOutput), reads of at most 1024 − prefix bytes from the start, the separator
 *   prefix written after the bytes held from the previous read and before the new read, for the first non-empty
 *   read and every read after one that ended in a newline (or was empty); held bytes lost at the pipe's end;
 * - without it (processCommandsWithExec): stdout and stderr both go to one file (`ExecOutputFileName` in the
 *   orchestration folder, shell_unix.go StartCommandExecutor), which writePump reads, with no first wait, only
 *   once the command has exited: reads of at most 1024 bytes to the end of the file.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { append } from "../protocol/bytes.js"
import * as SimulatorProcess from "./process.js"
import * as StdoutData from "./stdoutData.js"

/** `mgsConfig.StreamDataPayloadSize` */
const PAYLOAD_SIZE = 1024
const NEWLINE = 0x0a
const textEncoder = new TextEncoder()

/**
 * One pipe reader of setupRoutineToWriteCmdPipelineOutput: how much it reads at a time, and what it sends for
 * each read (possibly nothing). `exact` keeps the prefixes and sends every byte as it is.
 *
 * @internal
 */
export const pipelineReader = (
  prefix: string,
  mode: StdoutData.StdoutDataMode
): { readonly size: number; readonly transform: (read: Uint8Array) => Uint8Array } => {
  const marker = textEncoder.encode(prefix)
  let needPrefix = true
  let held: Uint8Array = StdoutData.empty
  return {
    size: PAYLOAD_SIZE - marker.length,
    transform: (read) => {
      // "Add prefix for first none empty frame, later decide it based on content of last character": written to
      // unprocessedBuf, after what processStdoutData held back from the previous read
      if (needPrefix && read.length > 0) held = append(held, marker)
      needPrefix = !(read.length > 0 && read[read.length - 1] !== NEWLINE)
      if (mode === "exact") {
        const out = append(held, read)
        held = StdoutData.empty
        return out
      }
      const next = StdoutData.step(held, read)
      held = next.held
      return next.send
    }
  }
}

/** The file a command without separate streams writes its stdout and stderr to; removed with the scope. @internal */
export const outputFile: Effect.Effect<{ readonly path: string; readonly fd: number }, never, Scope.Scope> =
  Effect.acquireRelease(
    Effect.sync(() => {
      const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "ssm-simulator-exec-"))
      const path = Path.join(dir, "output")
      return { dir, path, fd: Fs.openSync(path, "a+", 0o600) }
    }),
    ({ dir, fd }) =>
      Effect.sync(() => {
        try {
          Fs.closeSync(fd)
        } catch {
          // closed already
        }
        Fs.rmSync(dir, { recursive: true, force: true })
      })
  )

/**
 * processCommandsWithExec, once the command has exited: writePump (first wait 0) reads the output file from its
 * start to its end, each read through processStdoutData (`exact`: as it is).
 *
 * @internal
 */
export const sendOutputFile = (
  path: string,
  mode: StdoutData.StdoutDataMode,
  write: (bytes: Uint8Array) => Effect.Effect<void>
): Effect.Effect<void> =>
  Effect.suspend(() =>
    SimulatorProcess.pump(Fs.createReadStream(path), PAYLOAD_SIZE, StdoutData.processor(mode).write, write)
  )
