/**
 * `--background`, as ssh's `-f`: the command runs again as a detached child, and this process waits until the
 * child says it is ready (exit 0) or failed (its error, exit 1). The child reports on file descriptor 3, once:
 * `ready <readiness JSON>` or `error <message>`; its own stdout and stderr go nowhere.
 *
 * @since 0.2.0
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import { CliError } from "./error.js"

const CHILD = "SSM_SESSION_MANAGER_BACKGROUND_CHILD"
const FD = 3
let reported = false

/**
 * Whether this process is the background child of `--background`.
 *
 * @since 0.2.0
 * @category background
 */
export const isChild = (): boolean => process.env[CHILD] === "1"

const report = (line: string) =>
  Effect.sync(() => {
    if (!isChild() || reported) return
    reported = true
    try {
      Fs.writeSync(FD, `${line}\n`)
      Fs.closeSync(FD)
    } catch {
      // the parent is gone: nobody waits for the line
    }
  })

/**
 * In the background child, says the command is ready (and hands the readiness line over); elsewhere nothing.
 *
 * @since 0.2.0
 * @category background
 */
export const ready = (readiness: string): Effect.Effect<void> => report(`ready ${readiness}`)

/**
 * In the background child, hands the command's failure to the waiting parent before it goes to stderr.
 *
 * @since 0.2.0
 * @category background
 */
export const reportFailure = <A, E extends { readonly message: string }, R>(
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> =>
  Effect.tapError(effect, (error) => report(`error ${error.message.replace(/\n/g, " ")}`))

/**
 * Starts this command line again as a detached child and waits for its word: its readiness (a line per port and
 * the process to end on stderr, as the foreground command would have printed them; with `--ready-json -` the
 * readiness line, with the child's `pid` added, alone on stdout), or its failure. Interrupted (Ctrl-C), the
 * child is killed.
 *
 * @since 0.2.0
 * @category background
 */
export const start = (options: {
  /** `--ready-json -`: the readiness line goes to this process's stdout, as in the foreground */
  readonly readinessToStdout: boolean
}): Effect.Effect<void, CliError> =>
  Effect.gen(function*() {
    const child = ChildProcess.spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
      detached: true,
      env: { ...process.env, [CHILD]: "1" },
      stdio: ["ignore", "ignore", "ignore", "pipe"]
    })
    const word = yield* Effect.async<string>((resume) => {
      let text = ""
      const channel = child.stdio[FD] as NodeJS.ReadableStream
      channel.setEncoding("utf8")
      channel.on("data", (data: string) => (text += data))
      channel.on("error", () => {})
      child.once("exit", (code) => resume(Effect.succeed(text !== "" ? text : `error the command exited (${code}) before it was ready`)))
      channel.once("end", () => text !== "" && resume(Effect.succeed(text)))
      return Effect.sync(() => child.kill())
    })
    const [kind, ...rest] = word.trim().split(" ")
    const body = rest.join(" ")
    if (kind !== "ready") return yield* new CliError({ reason: "Background", detail: body })
    child.unref()
    const readiness = JSON.parse(body) as {
      readonly mappings: ReadonlyArray<{ readonly local: string; readonly sessionId: string }>
    }
    for (const mapping of readiness.mappings) {
      const port = mapping.local.startsWith("unix:") ? `Unix socket ${mapping.local.slice(5)}` : `Port ${mapping.local.split(":").pop()}`
      yield* Console.error(`${port} opened for sessionId ${mapping.sessionId}.`)
    }
    // stdout holds the readiness line alone, with the process to end for a script
    if (options.readinessToStdout) yield* Console.log(JSON.stringify({ ...readiness, pid: child.pid }))
    yield* Console.error(`Forwarding in the background as process ${child.pid}; end it with: kill ${child.pid}`)
  })
