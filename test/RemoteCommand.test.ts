/**
 * Commands with exit codes through the simulator's command plugin (a real `sh -c` on this machine).
 */
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Either, Layer, Stream } from "effect"
import * as AgentSimulator from "../src/AgentSimulator.js"
import * as NodeSession from "../src/NodeSession.js"
import * as RemoteCommand from "../src/RemoteCommand.js"
import * as Session from "../src/Session.js"
import { sha256Hex } from "./utils/bytes.js"

const simulatedAws = AgentSimulator.layerSsmApi().pipe(
  Layer.provide(AgentSimulator.layer({ messagesPerSecond: 0 })),
  Layer.merge(NodeSession.layerWebSocketConstructor)
)

const text = (bytes: Uint8Array) => new TextDecoder("utf-8", { fatal: true }).decode(bytes)
const exec = (command: string, options: Partial<RemoteCommand.ExecOptions> = {}) =>
  RemoteCommand.exec({ target: "i-1", command, ...options })

describe("RemoteCommand", () => {
  it.live("stdout, stderr and exit codes 0, 1 and 42 come back exactly", () =>
    Effect.gen(function*() {
      const ok = yield* exec("printf 'out\\n'; printf 'err\\n' >&2")
      assert.deepStrictEqual([text(ok.stdout), text(ok.stderr), ok.exitCode], ["out\n", "err\n", 0])
      const one = yield* exec("echo nope >&2; exit 1")
      assert.deepStrictEqual([text(one.stdout), text(one.stderr), one.exitCode], ["", "nope\n", 1])
      const answer = yield* exec("printf 42; exit 42")
      assert.deepStrictEqual([text(answer.stdout), answer.exitCode], ["42", 42])
    }).pipe(Effect.provide(simulatedAws)), 60_000)

  it.live("output over 1 MiB and multi-byte UTF-8 split across 1024-byte messages arrive intact", () =>
    Effect.gen(function*() {
      // 2 MiB of ASCII after one byte, then 1.2 MB of a 3-byte character: message boundaries cut many characters
      const result = yield* exec("printf x; i=0; while [ $i -lt 16 ]; do head -c 131072 /dev/zero | tr '\\0' 'a'; i=$((i+1)); done; " +
        "awk 'BEGIN { for (i = 0; i < 400000; i++) printf \"\\342\\202\\254\" }'")
      assert.strictEqual(result.exitCode, 0)
      const expected = "x" + "a".repeat(16 * 131072) + "\u20ac".repeat(400000)
      assert.strictEqual(result.stdout.length, Buffer.byteLength(expected))
      assert.strictEqual(sha256Hex(result.stdout), sha256Hex(new TextEncoder().encode(expected)))
      assert.strictEqual(text(result.stdout), expected)
    }).pipe(Effect.provide(simulatedAws)), 60_000)

  it.live("the streaming variant yields output as it comes and Exit last", () =>
    Effect.gen(function*() {
      const items = yield* RemoteCommand.execStream({ target: "i-1", command: "echo a; echo b >&2; exit 7" }).pipe(
        Stream.runCollect,
        Effect.map(Chunk.toReadonlyArray)
      )
      assert.deepStrictEqual(items.at(-1), { _tag: "Exit", code: 7 })
      const stdout = items.flatMap((item) => item._tag === "Stdout" ? [text(item.bytes)] : []).join("")
      const stderr = items.flatMap((item) => item._tag === "Stderr" ? [text(item.bytes)] : []).join("")
      assert.deepStrictEqual([stdout, stderr], ["a\n", "b\n"])
    }).pipe(Effect.provide(simulatedAws)), 60_000)

  it.live("a document without separate streams (AWS-StartNonInteractiveCommand) is a NoExitCode error", () =>
    Effect.gen(function*() {
      const result = yield* Effect.either(exec("echo hi", { documentName: "AWS-StartNonInteractiveCommand" }))
      assert.isTrue(Either.isLeft(result) && RemoteCommand.isRemoteCommandError(result.left) &&
        result.left.reason === "NoExitCode")
    }).pipe(Effect.provide(simulatedAws)), 60_000)

  it.live("output beyond maxOutputBytes is an OutputTooLarge error, not unbounded memory", () =>
    Effect.gen(function*() {
      const result = yield* Effect.either(exec("head -c 300000 /dev/zero", { maxOutputBytes: 100_000 }))
      assert.isTrue(Either.isLeft(result) && RemoteCommand.isRemoteCommandError(result.left) &&
        result.left.reason === "OutputTooLarge")
    }).pipe(Effect.provide(simulatedAws)), 60_000)

  it.live("signal(SIGINT) interrupts the remote command: exit code 130", () =>
    Effect.gen(function*() {
      const simulator = yield* AgentSimulator.AgentSimulator
      const response = yield* simulator.startSession(AgentSimulator.documentSpec({
        target: "i-1",
        documentName: RemoteCommand.DOCUMENT_NAME,
        parameters: { command: ["echo started; exec sleep 60"] }
      }))
      const result = yield* Effect.scoped(Effect.gen(function*() {
        const session = yield* Session.make({
          sessionId: response.SessionId,
          streamUrl: response.StreamUrl,
          tokenValue: response.TokenValue,
          messagesPerSecond: 0
        })
        const items = yield* Stream.toPull(RemoteCommand.stream(session))
        const first = yield* items
        assert.strictEqual(Chunk.unsafeHead(first)._tag, "Stdout")
        yield* RemoteCommand.signal(session, "SIGINT")
        let last: RemoteCommand.CommandOutput | undefined
        while (last?._tag !== "Exit") last = Chunk.unsafeLast(yield* items)
        return last
      }))
      assert.deepStrictEqual(result, { _tag: "Exit", code: 130 })
    }).pipe(Effect.provide(Layer.merge(AgentSimulator.layer({ messagesPerSecond: 0 }), NodeSession.layerWebSocketConstructor))), 60_000)

  it.live("exact output and exit code under the simulator's faults (loss, duplicates, reordering, garbage)", () =>
    Effect.gen(function*() {
      const both = { drop: 0.02, duplicate: 0.02, reorder: 0.02, delay: 0.01, delayMillis: 20 }
      const faulty = AgentSimulator.layerSsmApi((request) => ({
        ...AgentSimulator.documentSpec(request),
        faults: { seed: 9, toClient: both, toAgent: both, garbage: 0.005 }
      })).pipe(
        Layer.provide(AgentSimulator.layer({ messagesPerSecond: 0 })),
        Layer.merge(NodeSession.layerWebSocketConstructor)
      )
      const result = yield* exec("seq 1 100000; seq 1 1000 >&2; exit 42").pipe(Effect.provide(faulty))
      const lines = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => `${from + i}\n`).join("")
      assert.strictEqual(text(result.stdout), lines(1, 100000))
      assert.strictEqual(text(result.stderr), lines(1, 1000))
      assert.strictEqual(result.exitCode, 42)
    }), 60_000)
})
