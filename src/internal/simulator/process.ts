/**
 * Child processes for the simulator's shell and command plugins: spawned for a scope (killed when it closes),
 * their stdout and stderr copied out with backpressure, and their exit code as a shell reports it.
 *
 * @internal
 */
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as ChildProcess from "node:child_process"
import * as Os from "node:os"
import { fromReadable } from "../node/readable.js"

/** why a child could not start (Node reports it as an `error` event on the next tick) */
const spawnErrors = new WeakMap<ChildProcess.ChildProcess, NodeJS.ErrnoException>()

/**
 * `command` with piped stdout and stderr (stdin piped when asked), in a process group of its own, which is killed
 * when the scope closes: what the command started (`sleep` under `sh -c`) goes with it. The real agent kills only
 * the process and leaves the rest running on the instance; here the instance is the machine running the tests.
 * The program is looked up on the PATH and run directly, without a shell; `started` tells whether it could be.
 *
 * @internal
 */
export const spawn = (
  command: string,
  args: ReadonlyArray<string>,
  options: {
    readonly stdin: boolean
    readonly env?: NodeJS.ProcessEnv | undefined
    /** a file descriptor for both stdout and stderr, instead of two pipes */
    readonly output?: number | undefined
  }
): Effect.Effect<ChildProcess.ChildProcess, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const output = options.output ?? "pipe"
      const child = ChildProcess.spawn(command, args, {
        stdio: [options.stdin ? "pipe" : "ignore", output, output],
        detached: true,
        ...(options.env === undefined ? {} : { env: options.env })
      })
      // listened to at once, so a program that cannot start is a value for `started`, not an uncaught error
      child.on("error", (error: NodeJS.ErrnoException) => {
        if (child.pid === undefined) spawnErrors.set(child, error)
      })
      // a write to a command that has exited fails (EPIPE): the agent's pty write just fails, and the session
      // ends with the command; never an uncaught error
      child.stdin?.on("error", () => {})
      return child
    }),
    (child) =>
      Effect.sync(() => {
        if (child.pid === undefined) return
        try {
          process.kill(-child.pid, "SIGKILL")
        } catch {
          // the group is gone already
        }
      })
  )

/** None once the process runs; why its program could not start (not found, not executable). @internal */
export const started = (child: ChildProcess.ChildProcess): Effect.Effect<Option.Option<NodeJS.ErrnoException>> =>
  Effect.async<Option.Option<NodeJS.ErrnoException>>((resume) => {
    if (child.pid !== undefined) return resume(Effect.succeedNone)
    const known = spawnErrors.get(child)
    if (known !== undefined) return resume(Effect.succeedSome(known))
    child.once("error", (error: NodeJS.ErrnoException) => resume(Effect.succeedSome(error)))
  })

/**
 * The agent's output pumps (`shell.go` writePump, setupRoutineToWriteCmdPipelineOutput): `readable` read in pieces
 * of at most `size` bytes, each put through `transform` (processStdoutData, or the separator prefix and it), and
 * what that gives sent unless empty (the agent sends no empty message). Ends with the readable, or when it fails
 * (the agent's read error). @internal
 */
export const pump = (
  readable: NodeJS.ReadableStream,
  size: number,
  transform: (read: Uint8Array) => Uint8Array,
  write: (bytes: Uint8Array) => Effect.Effect<void>,
  initialWait: Duration.DurationInput = 0
): Effect.Effect<void> =>
  Effect.gen(function*() {
    // the first read waits (writePump's initialWaitSecond); the readable is paused meanwhile
    const waiting = yield* Effect.fork(Effect.sleep(initialWait))
    let waited = false
    const send = (read: Uint8Array) => {
      const bytes = transform(read)
      return bytes.length === 0 ? Effect.void : write(bytes)
    }
    const take = (chunk: Uint8Array) =>
      chunk.length <= size
        ? send(chunk)
        : Effect.forEach(
          Array.from({ length: Math.ceil(chunk.length / size) }, (_, n) => n * size),
          (start) => send(chunk.subarray(start, start + size)),
          { discard: true }
        )
    yield* Stream.runForEach(fromReadable(() => readable, (error) => error), (chunk) => {
      if (waited) return take(chunk)
      return Effect.zipRight(Fiber.join(waiting), Effect.suspend(() => {
        waited = true
        return take(chunk)
      }))
    })
  }).pipe(Effect.ignore)

const codeOf = (code: number | null, signal: NodeJS.Signals | null): number =>
  code ?? (signal !== null ? 128 + (Os.constants.signals[signal] ?? 0) : 1)

/** The exit code once the process ends; 128 + n when signal n ended it, as a shell reports it. @internal */
export const exitCode = (child: ChildProcess.ChildProcess): Effect.Effect<number> =>
  Effect.async<number>((resume) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      return resume(Effect.succeed(codeOf(child.exitCode, child.signalCode)))
    }
    child.once("exit", (code, signal) => resume(Effect.succeed(codeOf(code, signal))))
  })
