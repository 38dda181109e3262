/**
 * Commands with stdin (`RemoteCommand.startWithInput`, `exec -i`): the framed wrapper's input frames and the pure
 * decoder of its output (any split, every byte value, bounds), then the whole route through the simulator, which
 * runs the wrapper on a real pty behind the agent's output path (UTF-8 hold-back, U+FFFD corruption).
 */
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Deferred, Effect, Either, FastCheck as fc, Fiber, Stream } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as AgentSimulator from "../src/AgentSimulator.js"
import * as Framed from "../src/internal/tunnels/framedCommand.js"
import * as FramedOutput from "../src/internal/tunnels/framedOutput.js"
import * as SimulatorPort from "../src/internal/simulator/port.js"
import * as RemoteCommand from "../src/RemoteCommand.js"
import { concatBytes, pseudoRandomBytes, sha256Hex } from "./utils/bytes.js"
import { simulatedAwsLayer } from "./utils/aws.js"

const bytes = (text: string) => new TextEncoder().encode(text)
const latin1 = (text: string) => Uint8Array.from(text, (c) => c.charCodeAt(0))
const text = (data: Uint8Array) => new TextDecoder().decode(data)

/** what `od -An -v -tx1` prints: 16 bytes a line, each as ` xx`, a newline after each line */
const odText = (data: Uint8Array): Uint8Array => {
  let out = ""
  for (let i = 0; i < data.length; i += 16) {
    out += Array.from(data.subarray(i, i + 16), (b) => ` ${b.toString(16).padStart(2, "0")}`).join("") + "\n"
  }
  return bytes(out)
}

interface Frame {
  readonly stream: "Stdout" | "Stderr"
  readonly data: Uint8Array
  readonly hex: boolean
}

/** the wrapper's output for a preamble, frames and an exit code */
const wrapperOutput = (preamble: string, frames: ReadonlyArray<Frame>, code: number): Uint8Array => {
  const parts: Array<Uint8Array> = [bytes(preamble), bytes(`${Framed.MARKER} READY\n`)]
  for (const frame of frames) {
    const body = frame.hex ? odText(frame.data) : frame.data
    const kind = frame.stream === "Stdout" ? (frame.hex ? "o" : "O") : (frame.hex ? "e" : "E")
    parts.push(bytes(`${kind} ${body.length}\n`), body)
  }
  parts.push(bytes(`${Framed.MARKER} EXIT ${code}\n`))
  return concatBytes(parts)
}

/** the decoder's events for `data` cut at `cuts`, merged: preamble, stdout, stderr, exit code; or the failure */
const decode = (data: Uint8Array, cuts: ReadonlyArray<number> = []) => {
  const state = FramedOutput.makeDecoder()
  const points = [...new Set(cuts.map((cut) => cut % (data.length + 1)))].sort((a, b) => a - b)
  const pieces: Array<Uint8Array> = []
  let from = 0
  for (const point of [...points, data.length]) {
    pieces.push(data.subarray(from, point))
    from = point
  }
  const out: Array<Uint8Array> = []
  const err: Array<Uint8Array> = []
  const tags: Array<string> = []
  let preamble: string | undefined
  let exit: number | undefined
  let failed: string | undefined
  for (const piece of pieces) {
    const result = FramedOutput.push(state, piece)
    if (result._tag === "Malformed") return { _tag: "Malformed" as const, detail: result.detail }
    for (const event of result.events) {
      if (event._tag !== "Stdout" && event._tag !== "Stderr") tags.push(event._tag)
      if (event._tag === "Ready") preamble = event.preamble
      else if (event._tag === "Stdout") out.push(event.bytes.slice())
      else if (event._tag === "Stderr") err.push(event.bytes.slice())
      else if (event._tag === "Exit") exit = event.code
      else failed = event.message
    }
  }
  return { _tag: "Events" as const, preamble, stdout: concatBytes(out), stderr: concatBytes(err), exit, failed, tags }
}

const frameArbitrary: fc.Arbitrary<Frame> = fc.record({
  stream: fc.constantFrom("Stdout" as const, "Stderr" as const),
  data: fc.uint8Array({ minLength: 1, maxLength: 300 }),
  hex: fc.boolean()
})

describe("framed output (decoder)", () => {
  it("any split of a valid stream gives the same events", () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[a-z :\r\n]{0,40}$/),
        fc.array(frameArbitrary, { maxLength: 12 }),
        fc.integer({ min: 0, max: 255 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        (preamble, frames, code, cuts) => {
          const data = wrapperOutput(preamble, frames, code)
          const whole = decode(data)
          const split = decode(data, cuts)
          assert.strictEqual(whole._tag, "Events")
          assert.deepStrictEqual(split, whole)
          if (whole._tag !== "Events") return
          assert.strictEqual(whole.preamble, preamble)
          assert.deepStrictEqual(
            whole.stdout,
            concatBytes(frames.filter((frame) => frame.stream === "Stdout").map((frame) => frame.data))
          )
          assert.deepStrictEqual(
            whole.stderr,
            concatBytes(frames.filter((frame) => frame.stream === "Stderr").map((frame) => frame.data))
          )
          assert.strictEqual(whole.exit, code)
          assert.strictEqual(whole.tags.at(-1), "Exit")
        }
      ),
      { numRuns: 500 }
    )
  })

  it("every byte value round-trips through O, o, E and e frames, whole and byte by byte", () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i)
    const frames: Array<Frame> = [
      { stream: "Stdout", data: all, hex: false },
      { stream: "Stdout", data: all, hex: true },
      { stream: "Stderr", data: all, hex: false },
      { stream: "Stderr", data: all, hex: true }
    ]
    const data = wrapperOutput("", frames, 0)
    for (const cuts of [[], Array.from({ length: data.length }, (_, i) => i)]) {
      const result = decode(data, cuts)
      assert.strictEqual(result._tag, "Events")
      if (result._tag !== "Events") return
      assert.deepStrictEqual(result.stdout, concatBytes([all, all]))
      assert.deepStrictEqual(result.stderr, concatBytes([all, all]))
      assert.strictEqual(result.exit, 0)
    }
  })

  it("64 KiB frames pass; a frame over the bound, an empty frame or a bad header is Malformed", () => {
    const big = pseudoRandomBytes(65536, 7)
    const ok = decode(wrapperOutput("", [{ stream: "Stdout", data: big, hex: false }, {
      stream: "Stderr",
      data: big,
      hex: true
    }], 1))
    assert.strictEqual(ok._tag, "Events")
    if (ok._tag === "Events") assert.deepStrictEqual([ok.stdout, ok.stderr, ok.exit], [big, big, 1])
    // a direct writer's block (cp's downloads), cut anywhere
    const block = pseudoRandomBytes(Framed.MAX_DIRECT_FRAME, 8)
    const direct = decode(wrapperOutput("", [{ stream: "Stdout", data: block, hex: false }], 0), [5, 1000, 700_000])
    assert.strictEqual(direct._tag, "Events")
    if (direct._tag === "Events") assert.deepStrictEqual(direct.stdout, block)
    const ready = `${Framed.MARKER} READY\n`
    const malformed = [
      `${ready}O ${Framed.MAX_DIRECT_FRAME + 1}\n`,
      `${ready}o ${4096 * 49 + 65}\n`,
      `${ready}O 0\n`,
      `${ready}X 3\nabc`,
      `${ready}O 3\nabc${"z".repeat(65)}`,
      `${ready}o 4\nzz\n\n`,
      `${ready}o 3\n a\n`,
      `${ready}${Framed.MARKER} EXIT 1000\n`,
      "x".repeat(FramedOutput.PREAMBLE_LIMIT + 1)
    ]
    for (const input of malformed) {
      assert.strictEqual(decode(bytes(input))._tag, "Malformed", JSON.stringify(input.slice(0, 60)))
      assert.strictEqual(decode(bytes(input), [1, 9, 17, 30])._tag, "Malformed", JSON.stringify(input.slice(0, 60)))
    }
  })

  it("after the EXIT line, bytes are not the wrapper's (the pty echoes unread input): ignored", () => {
    const end = wrapperOutput("", [{ stream: "Stdout", data: bytes("out"), hex: false }], 3)
    for (const cuts of [[], [end.length]]) {
      const result = decode(concatBytes([end, latin1("\x1a\u00bc\b \bO 5\n")]), cuts)
      assert.strictEqual(result._tag, "Events")
      if (result._tag === "Events") assert.deepStrictEqual([text(result.stdout), result.exit], ["out", 3])
    }
  })

  it("a FAIL line before READY is a failure, its \\r\\n (the pty still cooked) trimmed; after READY it is output", () => {
    const fail = `${Framed.MARKER} FAIL missing od (exec -i and cp need ...)\r\n`
    for (const cuts of [[], [3, 20, 40]]) {
      const result = decode(bytes(`sh: 1: something\r\n${fail}`), cuts)
      assert.strictEqual(result._tag, "Events")
      if (result._tag !== "Events") return
      assert.strictEqual(result.failed, "missing od (exec -i and cp need ...)")
      assert.deepStrictEqual(result.tags, ["Failed"])
    }
    const inside = wrapperOutput("", [{ stream: "Stdout", data: bytes(fail), hex: false }], 0)
    const result = decode(inside)
    assert.strictEqual(result._tag, "Events")
    if (result._tag === "Events") assert.deepStrictEqual([text(result.stdout), result.failed], [fail, undefined])
  })
})

describe("framed input (frames)", () => {
  /** the stdin bytes a series of frames carries, checking each header */
  const parse = (frames: ReadonlyArray<Uint8Array>) => {
    const data: Array<Uint8Array> = []
    for (const frame of frames) {
      const header = text(frame.subarray(0, 8))
      assert.match(header, /^D\d{6}\n$/)
      const length = Number(header.slice(1, 7))
      assert.strictEqual(frame.length, 8 + length)
      assert.isTrue(length >= 1 && length <= Framed.MAX_INPUT_CHUNK)
      data.push(frame.subarray(8))
    }
    return concatBytes(data)
  }

  it("pieces are packed in order into frames of FRAME_DATA bytes (64 KiB with the header), the last shorter", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 150_000 }), { maxLength: 6 }), (sizes) => {
        const pieces = sizes.map((size, i) => pseudoRandomBytes(size, i + 1))
        const frames = Framed.framesOf(pieces)
        assert.deepStrictEqual(parse(frames), concatBytes(pieces))
        for (const frame of frames.slice(0, -1)) assert.strictEqual(frame.length, 65536)
        const total = sizes.reduce((a, b) => a + b, 0)
        assert.strictEqual(frames.length, Math.ceil(total / Framed.FRAME_DATA))
      }),
      { numRuns: 60 }
    )
    assert.deepStrictEqual(Framed.dataFrames(new Uint8Array(0)), [])
  })

  it("end of input and signals are 8-byte headers; the command parameter is base64 of its UTF-8", () => {
    assert.strictEqual(text(Framed.closeFrame), "C000000\n")
    assert.strictEqual(text(Framed.signalFrame("SIGINT")), "I000000\n")
    assert.strictEqual(text(Framed.signalFrame("SIGQUIT")), "Q000000\n")
    const command = "printf 'é€\\n' | od -c; echo \"$HOME\""
    const encoded = Framed.encodeCommand(command)
    assert.match(encoded, new RegExp(Framed.DOCUMENT_CONTENT.parameters.command.allowedPattern))
    assert.strictEqual(Buffer.from(encoded, "base64").toString("utf8"), command)
    assert.strictEqual(RemoteCommand.INTERACTIVE_DOCUMENT_NAME, "SSM-RunCommandWithStdin")
    assert.strictEqual(RemoteCommand.INTERACTIVE_DOCUMENT_CONTENT.sessionType, "InteractiveCommands")
  })
})

// ---------------------------------------------------------------------------------------------------------------
// through the simulator
// ---------------------------------------------------------------------------------------------------------------

const simulated = simulatedAwsLayer()

const run = (command: string, input: Stream.Stream<Uint8Array, unknown>, options: Partial<RemoteCommand.InputOptions<unknown, never>> = {}) =>
  RemoteCommand.execWithInput({ target: "i-1", command, input, ...options })

/** the simulated account also has `documents` (name: content) */
const withDocuments = (documents: Record<string, SimulatorPort.SessionDocumentContent>) =>
  simulatedAwsLayer({
    sessionSpec: (request) => {
      const content = request.documentName === undefined ? undefined : documents[request.documentName]
      return content === undefined
        ? AgentSimulator.documentSpec(request)
        : SimulatorPort.documentContentSpec(content, request)
    }
  })

/** the wrapper's document with its `commands` changed */
const wrapperDocument = (commands: (wrapper: string) => string): SimulatorPort.SessionDocumentContent => ({
  ...Framed.DOCUMENT_CONTENT,
  properties: { linux: { ...Framed.DOCUMENT_CONTENT.properties.linux, commands: commands(Framed.DOCUMENT_CONTENT.properties.linux.commands) } }
})

const failure = <A, E>(result: Either.Either<A, E>) => {
  assert.isTrue(Either.isLeft(result), "expected a failure")
  return (result as Either.Left<E, A>).left
}

describe("RemoteCommand.startWithInput through the simulator", () => {
  it.live("8 MiB of random stdin into sha256sum: the hash matches", () =>
    Effect.gen(function*() {
      const data = pseudoRandomBytes(8 * 1024 * 1024, 25)
      // in pieces of odd sizes, as a pipe gives them
      const pieces: Array<Uint8Array> = []
      for (let offset = 0, i = 0; offset < data.length; i++) {
        const size = [65536, 1000, 70_000, 1, 300_000][i % 5]!
        pieces.push(data.subarray(offset, offset + size))
        offset += size
      }
      const result = yield* run("sha256sum", Stream.fromIterable(pieces))
      assert.strictEqual(text(result.stdout).split(" ")[0], sha256Hex(data))
      assert.deepStrictEqual([text(result.stderr), result.exitCode], ["", 0])
    }).pipe(Effect.provide(simulated)), 120_000)

  it.live("empty input: the command reads end of file at once", () =>
    Effect.gen(function*() {
      const result = yield* run("wc -c; cat", Stream.empty)
      assert.deepStrictEqual([text(result.stdout).trim(), result.exitCode], ["0", 0])
    }).pipe(Effect.provide(simulated)), 60_000)

  it.live("stdout and stderr apart, every byte value through cat both ways, and the exit code", () =>
    Effect.gen(function*() {
      // every byte value, U+FFFD (which the agent's output path would corrupt) and ^C ^D ^Z ^\ CR (which a cooked
      // pty would act on), ending in an unfinished UTF-8 sequence (which the agent would hold back)
      const all = Uint8Array.from({ length: 256 }, (_, i) => i)
      const data = concatBytes([all, latin1("\u00ef\u00bf\u00bd\x03\x04\x1a\x1c\r\n\u00ef\u00bf\u00bd"), pseudoRandomBytes(300_000, 3), all, latin1("\u00e2\u0082")])
      const result = yield* run("cat; cat /dev/null; printf 'err\\n' >&2; exit 7", Stream.make(data))
      assert.strictEqual(result.stdout.length, data.length)
      assert.deepStrictEqual(result.stdout, data)
      assert.deepStrictEqual([text(result.stderr), result.exitCode], ["err\n", 7])
      const stderr = yield* run("cat >&2", Stream.make(data))
      assert.deepStrictEqual([stderr.stderr, stderr.stdout.length, stderr.exitCode], [data, 0, 0])
    }).pipe(Effect.provide(simulated)), 120_000)

  it.live("a command that stops reading early: the rest of the input is dropped, its exit code comes back", () =>
    Effect.gen(function*() {
      const data = pseudoRandomBytes(2 * 1024 * 1024, 11)
      const result = yield* run("head -c 10; exit 3", Stream.make(data))
      assert.deepStrictEqual([result.stdout, result.exitCode], [data.subarray(0, 10), 3])
    }).pipe(Effect.provide(simulated)), 60_000)

  it.live("output holding EF BF BD and ending in E2 82 arrives exact", () =>
    Effect.gen(function*() {
      const result = yield* run("printf 'a\\357\\277\\275b\\342\\202'; printf '\\342\\202' >&2", Stream.empty)
      assert.deepStrictEqual(result.stdout, latin1("a\u00ef\u00bf\u00bdb\u00e2\u0082"))
      assert.deepStrictEqual(result.stderr, latin1("\u00e2\u0082"))
    }).pipe(Effect.provide(simulated)), 60_000)

  it.live("SIGINT reaches the command's process group, so the sleep its shell waits for (exit 130)", () =>
    Effect.gen(function*() {
      const running = yield* RemoteCommand.startWithInput({
        target: "i-1",
        command: "echo started; sleep 60; echo never",
        input: Stream.never
      })
      const started = yield* Deferred.make<void>()
      const fiber = yield* running.output.pipe(
        Stream.tap((item) => item._tag === "Stdout" ? Deferred.succeed(started, undefined) : Effect.void),
        Stream.runCollect,
        Effect.fork
      )
      yield* Deferred.await(started)
      yield* running.signal("SIGINT")
      const items = Chunk.toReadonlyArray(yield* Fiber.join(fiber))
      assert.deepStrictEqual(items.at(-1), { _tag: "Exit", code: 130 })
      const stdout = items.flatMap((item) => item._tag === "Stdout" ? [text(item.bytes)] : []).join("")
      assert.strictEqual(stdout, "started\n")
    }).pipe(Effect.scoped, Effect.provide(simulated)), 60_000)

  it.live("SIGINT gets through while input flows without end (it waits for one frame at most)", () =>
    Effect.gen(function*() {
      const block = pseudoRandomBytes(Framed.FRAME_DATA, 12)
      const running = yield* RemoteCommand.startWithInput({
        target: "i-1",
        command: "echo started; cat > /dev/null",
        input: Stream.repeatValue(block)
      })
      const started = yield* Deferred.make<void>()
      const fiber = yield* running.output.pipe(
        Stream.tap((item) => item._tag === "Stdout" ? Deferred.succeed(started, undefined) : Effect.void),
        Stream.runCollect,
        Effect.fork
      )
      yield* Deferred.await(started)
      // input flows all the while: the input fiber takes the lock back after each frame
      yield* running.signal("SIGINT")
      const items = Chunk.toReadonlyArray(yield* Fiber.join(fiber))
      assert.deepStrictEqual(items.at(-1), { _tag: "Exit", code: 130 })
    }).pipe(Effect.scoped, Effect.provide(simulated)), 60_000)

  it.live("an input stream that fails fails the output with reason Input", () =>
    Effect.gen(function*() {
      const error = failure(yield* Effect.either(run("cat", Stream.concat(Stream.make(bytes("x")), Stream.fail("disk gone")))))
      assert.isTrue(RemoteCommand.isRemoteCommandError(error))
      if (RemoteCommand.isRemoteCommandError(error)) {
        assert.strictEqual(error.reason, "Input")
        assert.include(error.detail, "disk gone")
      }
    }).pipe(Effect.provide(simulated)), 60_000)

  it.live.skipIf(!Fs.existsSync("/bin/busybox"))("busybox alone (its sh runs the wrapper, its applets are every tool): bytes both ways and the exit code", () =>
    Effect.gen(function*() {
      const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "framed-busybox-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true })))
      for (const tool of ["sh", "head", "sha256sum", ...Framed.TOOLS]) Fs.symlinkSync("/bin/busybox", Path.join(dir, tool))
      // the agent's `sh -c` (so the wrapper), the command's sh and every tool are busybox
      const layer = simulatedAwsLayer({ remoteProcess: { environment: { PATH: dir } } })
      const all = Uint8Array.from({ length: 256 }, (_, i) => i)
      const data = concatBytes([all, latin1("\u00ef\u00bf\u00bd"), pseudoRandomBytes(500_000, 5), latin1("\u00e2\u0082")])
      const echoed = yield* run("cat; echo err >&2; exit 4", Stream.make(data)).pipe(
        Effect.provide(layer)
      )
      assert.deepStrictEqual([echoed.stdout, text(echoed.stderr), echoed.exitCode], [data, "err\n", 4])
      const hashed = yield* run("sha256sum", Stream.make(data)).pipe(Effect.provide(layer))
      assert.strictEqual(text(hashed.stdout).split(" ")[0], sha256Hex(data))
    }).pipe(Effect.scoped), 120_000)

  it.live("a remote without od: MissingTools, naming the tool and what the route needs", () =>
    Effect.gen(function*() {
      // the agent's PATH holds every tool but od (and sh, for its `sh -c`)
      const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "framed-path-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true })))
      for (const tool of ["sh", ...Framed.TOOLS.filter((tool) => tool !== "od")]) {
        const found = ["/usr/bin", "/bin"].map((d) => Path.join(d, tool)).find((p) => Fs.existsSync(p))
        assert.isDefined(found, tool)
        Fs.symlinkSync(found!, Path.join(dir, tool))
      }
      const error = failure(
        yield* Effect.either(run("cat", Stream.empty).pipe(
          Effect.provide(simulatedAwsLayer({ remoteProcess: { environment: { PATH: dir } } }))
        ))
      )
      assert.isTrue(RemoteCommand.isRemoteCommandError(error))
      if (RemoteCommand.isRemoteCommandError(error)) {
        assert.strictEqual(error.reason, "MissingTools")
        assert.include(error.detail, "missing od")
        assert.include(error.detail, "busybox")
      }
    }).pipe(Effect.scoped), 60_000)

  it.live("a wrapper that never says READY: Timeout after readyTimeout", () =>
    Effect.gen(function*() {
      const document = wrapperDocument(() => "sleep 20")
      const error = failure(
        yield* Effect.either(
          run("cat", Stream.empty, { documentName: "Slow", readyTimeout: "2 seconds" }).pipe(
            Effect.provide(withDocuments({ Slow: document }))
          )
        )
      )
      assert.isTrue(RemoteCommand.isRemoteCommandError(error))
      if (RemoteCommand.isRemoteCommandError(error)) {
        assert.strictEqual(error.reason, "Timeout")
        assert.include(error.detail, "READY")
      }
    }), 60_000)

  it.live("a document that is not the wrapper: NoExitCode quoting what the instance said", () =>
    Effect.gen(function*() {
      const document = wrapperDocument(() => "echo no wrapper here")
      const error = failure(
        yield* Effect.either(run("cat", Stream.empty, { documentName: "Plain" }).pipe(Effect.provide(withDocuments({ Plain: document }))))
      )
      assert.isTrue(RemoteCommand.isRemoteCommandError(error))
      if (RemoteCommand.isRemoteCommandError(error)) {
        assert.strictEqual(error.reason, "NoExitCode")
        assert.include(error.detail, "no wrapper here")
      }
    }), 60_000)
})
