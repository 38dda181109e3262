/**
 * The simulator's pty and output path, as the agent's InteractiveCommands sessions have them: the command under
 * `sh -c` on a pseudo-terminal (the Perl helper, `src/internal/simulator/pty.ts`), input written to it unchanged,
 * output sent after a first wait of 1 s in reads through processStdoutData. Run with this machine's sh (dash and
 * coreutils) and with busybox alone on the PATH.
 */
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Fiber, Option, Stream } from "effect"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as AgentSimulator from "../src/AgentSimulator.js"
import * as FramedCommand from "../src/internal/tunnels/framedCommand.js"
import * as FramedOutput from "../src/internal/tunnels/framedOutput.js"
import * as Shell from "../src/Shell.js"
import { simulatedAwsLayer } from "./utils/aws.js"
import { pollUntil } from "./utils/poll.js"
import { concatBytes, pseudoRandomBytes, sha256Hex } from "./utils/bytes.js"

const BUSYBOX = "/bin/busybox"
const hasBusybox = Fs.existsSync(BUSYBOX)

/** A directory of busybox applet symlinks, for a PATH with nothing else on it (a minimal image). */
const appletDir = (): string => {
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "busybox-applets-"))
  const applets = ChildProcess.execFileSync(BUSYBOX, ["--list"], { encoding: "utf8" }).split("\n").filter((name) => name !== "")
  for (const applet of applets) Fs.symlinkSync(BUSYBOX, Path.join(dir, applet))
  return dir
}

const latin1 = (bytes: Uint8Array) => new TextDecoder("latin1").decode(bytes)

/** reads the shell's output into `received` until `pattern` matches its latin1 text */
const readUntil = (
  pull: Effect.Effect<Chunk.Chunk<Uint8Array>, Option.Option<Shell.ShellError>>,
  received: Array<Uint8Array>,
  pattern: RegExp
) =>
  Effect.gen(function*() {
    while (!pattern.test(latin1(concatBytes(received)))) {
      const chunk = yield* Effect.mapError(pull, (error) => Option.getOrElse(error, () => new Error("output ended")))
      received.push(...chunk)
    }
  })

/** everything until the session ends */
const readToEnd = (
  pull: Effect.Effect<Chunk.Chunk<Uint8Array>, Option.Option<Shell.ShellError>>,
  received: Array<Uint8Array>
) =>
  Effect.gen(function*() {
    while (true) {
      const chunk = yield* Effect.option(pull)
      if (Option.isNone(chunk)) return
      received.push(...chunk.value)
    }
  })

const allBytes = Uint8Array.from({ length: 256 }, (_, i) => i)

/**
 * The command: the pty raw, a ready line, 256 bytes of input dumped by `od`, then U+FFFD mid-stream and a line
 * ending in E2 82 (a cut euro sign): what the agent's output path does to them.
 */
const rawCommand = "printf 'shell=%s\\n' \"$(readlink /proc/$$/exe)\"; stty raw -echo -iexten; printf 'READY\\n'; " +
  "head -c 256 | od -An -v -tx1; printf 'x\\357\\277\\275yzzz'; printf 'tail\\342\\202'"

const rawSession = Effect.gen(function*() {
  const shell = yield* Shell.start({
    target: "i-1",
    documentName: "AWS-StartInteractiveCommand",
    parameters: { command: [rawCommand] }
  })
  const pull = yield* Stream.toPull(shell.output)
  const received: Array<Uint8Array> = []
  yield* readUntil(pull, received, /READY\n/)
  yield* shell.write(allBytes)
  yield* readToEnd(pull, received)
  assert.strictEqual(yield* shell.closed, "")
  const text = latin1(concatBytes(received))
  const match = /shell=(\S*)\r?\n[\s\S]*READY\n([0-9a-f \n]+)x\u00efyzzztail$/.exec(text)
  assert.isNotNull(match, `output: ${JSON.stringify(text)}`)
  const dumped = match![2]!.trim().split(/\s+/).map((hex) => parseInt(hex, 16))
  // every byte value reached the command as it was sent
  assert.deepStrictEqual(dumped, Array.from(allBytes))
  return match![1]!
})

describe("the simulator's pty (InteractiveCommands as the agent runs it)", () => {
  it.scopedLive("bytes 0..255 reach the command in raw mode; EF BF BD mid-stream arrives as EF; a trailing E2 82 is lost", () =>
    Effect.gen(function*() {
      const shell = yield* rawSession
      assert.notInclude(shell, "busybox")
    }).pipe(Effect.provide(simulatedAwsLayer())), 30_000)

  it.scopedLive("the same with busybox alone on the PATH (sh is busybox ash)", () =>
    Effect.gen(function*() {
      if (!hasBusybox) {
        // CI installs busybox (.ci/run); a machine without it cannot run this variant
        console.warn(`skipped: ${BUSYBOX} is absent (apt install busybox)`)
        return
      }
      const dir = appletDir()
      yield* Effect.addFinalizer(() => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true })))
      const shell = yield* rawSession.pipe(
        Effect.provide(simulatedAwsLayer({ remoteProcess: { environment: { PATH: dir } } }))
      )
      assert.include(shell, "busybox")
    }), 30_000)

  it.scopedLive("stdoutData exact: the kinder output path sends every byte", () =>
    Effect.gen(function*() {
      const shell = yield* Shell.start({
        target: "i-1",
        documentName: "AWS-StartInteractiveCommand",
        parameters: { command: ["stty raw -echo; printf 'a\\357\\277\\275b\\342\\202'"] }
      })
      const received: Array<Uint8Array> = []
      yield* readToEnd(yield* Stream.toPull(shell.output), received)
      assert.deepStrictEqual(Array.from(concatBytes(received)), [0x61, 0xef, 0xbf, 0xbd, 0x62, 0xe2, 0x82])
    }).pipe(Effect.provide(simulatedAwsLayer({ remoteProcess: { stdoutData: "exact" } }))), 30_000)

  it.scopedLive("2 MB in while the command first writes 2 MB without reading, then echoes ours: both ways flow at once", () =>
    Effect.gen(function*() {
      const size = 2 * 1024 * 1024
      // letters only: the agent's output path passes ASCII as it is
      const data = pseudoRandomBytes(size, 7).map((byte) => 0x61 + (byte % 26))
      // a copier that blocks on writing our input while the command blocks on writing its output deadlocks here
      const shell = yield* Shell.start({
        target: "i-1",
        documentName: "AWS-StartInteractiveCommand",
        parameters: { command: [`stty raw -echo -iexten; printf 'READY\\n'; yes | head -c ${size}; head -c ${size}`] }
      })
      const pull = yield* Stream.toPull(shell.output)
      const received: Array<Uint8Array> = []
      yield* readUntil(pull, received, /READY\n/)
      const head = concatBytes(received)
      const ready = latin1(head).indexOf("READY\n") + 6
      const writer = yield* Effect.fork(Effect.forEach(
        Array.from({ length: size / 65536 }, (_, i) => data.subarray(i * 65536, (i + 1) * 65536)),
        (piece) => shell.write(piece),
        { discard: true }
      ))
      const rest: Array<Uint8Array> = [head.subarray(ready)]
      yield* readToEnd(pull, rest)
      yield* Fiber.join(writer)
      const output = concatBytes(rest)
      assert.strictEqual(output.length, 2 * size)
      assert.isTrue(latin1(output.subarray(0, size)) === "y\n".repeat(size / 2), "the command's own 2 MB")
      assert.strictEqual(sha256Hex(output.subarray(size)), sha256Hex(data))
    }).pipe(Effect.provide(simulatedAwsLayer())), 60_000)
})

describe("the simulator's pty when the session ends", () => {
  /** `sleep <marker>` processes on this machine */
  const running = (marker: string) =>
    Effect.sync(() =>
      Fs.readdirSync("/proc").filter((entry) => {
        if (!/^\d+$/.test(entry)) return false
        try {
          return Fs.readFileSync(`/proc/${entry}/cmdline`, "latin1") === `sleep\u0000${marker}\u0000`
        } catch {
          return false
        }
      }).length
    )

  it.scopedLive("closing the session kills the command, as the agent's Kill does, even one that ignores SIGHUP", () =>
    Effect.gen(function*() {
      const marker = `${process.pid % 1000}.${Date.now() % 100000}`
      yield* Effect.scoped(Effect.gen(function*() {
        // output first: a session without a handshake is ready with its first output
        yield* Shell.start({
          target: "i-1",
          documentName: "AWS-StartInteractiveCommand",
          parameters: { command: [`trap '' HUP; echo started; exec sleep ${marker}`] }
        })
        yield* pollUntil(running(marker), (count) => count === 1, { every: "20 millis", times: 250, what: "the command" })
      }))
      yield* pollUntil(running(marker), (count) => count === 0, { every: "20 millis", times: 250, what: "the command end" })
    }).pipe(Effect.provide(simulatedAwsLayer())), 30_000)
})

describe("SSM-RunCommandWithStdin in the simulator", () => {
  it("is a document the simulator plays: InteractiveCommands, `command` required", () => {
    assert.deepStrictEqual(AgentSimulator.documentSpec({
      target: "i-1",
      documentName: FramedCommand.DOCUMENT_NAME,
      parameters: { command: [FramedCommand.encodeCommand("true")] }
    }).plugin.sessionType, "InteractiveCommands")
  })

  /** the wrapper running `command`, fed `input` then end of input: its events until Exit or Failed */
  const framed = (command: string, input: Uint8Array) =>
    Effect.gen(function*() {
      const shell = yield* Shell.start({
        target: "i-1",
        documentName: FramedCommand.DOCUMENT_NAME,
        parameters: { command: [FramedCommand.encodeCommand(command)] }
      })
      const pull = yield* Stream.toPull(shell.output)
      const decoder = FramedOutput.makeDecoder()
      const events: Array<FramedOutput.FramedEvent> = []
      const take = Effect.gen(function*() {
        const chunk = yield* Effect.mapError(pull, (error) => Option.getOrElse(error, () => new Error("output ended")))
        for (const bytes of chunk) {
          const result = FramedOutput.push(decoder, bytes)
          assert.strictEqual(result._tag, "Events", JSON.stringify(result))
          if (result._tag === "Events") events.push(...result.events)
        }
      })
      const over = () => events.some((event) => event._tag === "Exit" || event._tag === "Failed")
      while (!events.some((event) => event._tag === "Ready") && !over()) yield* take
      if (!over()) {
        for (const frame of FramedCommand.dataFrames(input)) yield* shell.write(frame)
        yield* shell.write(FramedCommand.closeFrame)
      }
      while (!over()) yield* take
      return events
    })

  const dumpsEveryByte = Effect.gen(function*() {
    const events = yield* framed("od -An -v -tx1; exit 7", allBytes)
    const stdout = concatBytes(events.flatMap((event) => event._tag === "Stdout" ? [event.bytes] : []))
    const dumped = latin1(stdout).trim().split(/\s+/).map((hex) => parseInt(hex, 16))
    assert.deepStrictEqual(dumped, Array.from(allBytes))
    assert.deepStrictEqual(events.find((event) => event._tag === "Exit"), { _tag: "Exit", code: 7 })
  })

  it.scopedLive("the wrapper runs with the command in place: every byte value in, od's dump out, exit code back", () =>
    dumpsEveryByte.pipe(Effect.provide(simulatedAwsLayer())), 30_000)

  it.scopedLive("the same with busybox alone on the PATH; with only sh there, the wrapper says what is missing", () =>
    Effect.gen(function*() {
      if (!hasBusybox) {
        console.warn(`skipped: ${BUSYBOX} is absent (apt install busybox)`)
        return
      }
      const dir = appletDir()
      const bare = Fs.mkdtempSync(Path.join(Os.tmpdir(), "busybox-sh-only-"))
      Fs.symlinkSync(BUSYBOX, Path.join(bare, "sh"))
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => {
          Fs.rmSync(dir, { recursive: true, force: true })
          Fs.rmSync(bare, { recursive: true, force: true })
        })
      )
      yield* dumpsEveryByte.pipe(Effect.provide(simulatedAwsLayer({ remoteProcess: { environment: { PATH: dir } } })))
      const events = yield* framed("true", new Uint8Array(0)).pipe(
        Effect.provide(simulatedAwsLayer({ remoteProcess: { environment: { PATH: bare } } }))
      )
      const failed = events.find((event) => event._tag === "Failed")
      assert.isDefined(failed, JSON.stringify(events))
      assert.include(failed!._tag === "Failed" ? failed!.message : "", "missing stty")
    }), 60_000)
})
