/**
 * Commands with exit codes through the simulator's command plugin (a real `sh -c` on this machine).
 */
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Either, Layer, Stream } from "effect"
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as Url from "node:url"
import * as AgentSimulator from "../src/AgentSimulator.js"
import * as NodeSession from "../src/NodeSession.js"
import * as RemoteCommandInternal from "../src/internal/tunnels/remoteCommand.js"
import * as RemoteCommand from "../src/RemoteCommand.js"
import * as SimulatorCommand from "../src/internal/simulator/command.js"
import * as SimulatorPort from "../src/internal/simulator/port.js"
import * as Session from "../src/Session.js"
import { sha256Hex } from "./utils/bytes.js"
import { simulatedAwsLayer } from "./utils/aws.js"

const simulatedAws = simulatedAwsLayer()

const text = (bytes: Uint8Array) => new TextDecoder("utf-8", { fatal: true }).decode(bytes)
const exec = (command: string, options: Partial<RemoteCommand.ExecOptions> = {}) =>
  RemoteCommand.exec({ target: "i-1", command, ...options })

/** the simulated account also has `documents` (name: content), as `aws ssm create-document` would make them */
const withDocuments = (documents: Record<string, SimulatorPort.SessionDocumentContent>) =>
  simulatedAwsLayer({
    sessionSpec: (request) => {
      const content = request.documentName === undefined ? undefined : documents[request.documentName]
      return content === undefined
        ? AgentSimulator.documentSpec(request)
        : SimulatorPort.documentContentSpec(content, request)
    }
  })

/** DOCUMENT_CONTENT as the README had it: the same properties, flat */
const flatDocument: SimulatorPort.SessionDocumentContent = {
  ...RemoteCommand.DOCUMENT_CONTENT,
  properties: { commands: "{{ command }}", runAsElevated: false, separateOutputStream: true }
}

const commandDocument = (properties: Record<string, unknown>): SimulatorPort.SessionDocumentContent => ({
  ...RemoteCommand.DOCUMENT_CONTENT,
  properties
})

const failure = <A, E>(result: Either.Either<A, E>) => {
  assert.isTrue(Either.isLeft(result), "expected a failure")
  return (result as Either.Left<E, A>).left
}

/** what NoExitCode must tell the user to check */
const assertNamesTheCauses = (error: RemoteCommand.RemoteCommandError) => {
  assert.strictEqual(error.reason, "NoExitCode")
  const causes = [
    "`linux`, `macos` or `windows`",
    "not flat",
    "`separateOutputStream: true`",
    "AWS-StartNonInteractiveCommand"
  ]
  for (const cause of causes) assert.include(error.detail, cause)
}

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

  it.live("the document keys its properties by OS: exec returns stdout, stderr and exit code 42 exactly", () =>
    Effect.gen(function*() {
      const properties: Record<string, unknown> = RemoteCommand.DOCUMENT_CONTENT.properties
      assert.deepStrictEqual(Object.keys(properties).sort(), ["linux", "macos"])
      for (const os of ["linux", "macos"]) {
        assert.deepStrictEqual(properties[os], {
          commands: "{{ command }}",
          runAsElevated: false,
          separateOutputStream: true
        })
      }
      // what the simulated agent receives: the command in sh -c, under the OS key it reads
      const spec = AgentSimulator.documentSpec({
        target: "i-1",
        documentName: RemoteCommand.DOCUMENT_NAME,
        parameters: { command: [RemoteCommand.shellCommand("echo it's")] }
      })
      assert.strictEqual((spec.properties?.["linux"] as { commands: string }).commands, "sh -c 'echo it'\\''s'")
      const result = yield* exec("printf 'out\\n'; printf \"it's err\\n\" >&2; exit 42")
      assert.deepStrictEqual([text(result.stdout), text(result.stderr), result.exitCode], ["out\n", "it's err\n", 42])
    }).pipe(Effect.provide(simulatedAws)), 60_000)

  it("the README shows DOCUMENT_CONTENT as it is", () => {
    const root = Path.join(Path.dirname(Url.fileURLToPath(import.meta.url)), "..")
    const readme = Fs.readFileSync(Path.join(root, "README.md"), "utf8")
    const shown = /which writes and creates:\n\n```json\n([\s\S]*?)```/.exec(readme)?.[1]
    assert.deepStrictEqual(JSON.parse(shown ?? "null"), RemoteCommand.DOCUMENT_CONTENT)
  })

  it.live("a flat document fails as the agent fails: no command, NoExitCode quoting the agent", () =>
    Effect.gen(function*() {
      const items: Array<RemoteCommand.CommandOutput> = []
      const result = yield* RemoteCommand.execStream({ target: "i-1", command: "exit 42", documentName: "Flat" }).pipe(
        Stream.runForEach((item) => Effect.sync(() => items.push(item))),
        Effect.either
      )
      const error = failure(result)
      assert.isTrue(RemoteCommand.isRemoteCommandError(error))
      assertNamesTheCauses(error as RemoteCommand.RemoteCommandError)
      // the agent ran nothing and sent nothing; its text came as channel_closed's
      assert.deepStrictEqual(items, [])
      assert.include(
        (error as RemoteCommand.RemoteCommandError).detail,
        "The agent's closing text: \"Commands cannot be empty for session type NonInteractiveCommands\""
      )
    }).pipe(Effect.provide(withDocuments({ Flat: flatDocument }))), 60_000)

  it.live("a document without separate streams (AWS-StartNonInteractiveCommand): NoExitCode naming the causes", () =>
    Effect.gen(function*() {
      const error = failure(yield* Effect.either(exec("echo hi", { documentName: "AWS-StartNonInteractiveCommand" })))
      assert.isTrue(RemoteCommand.isRemoteCommandError(error))
      assertNamesTheCauses(error as RemoteCommand.RemoteCommandError)
    }).pipe(Effect.provide(simulatedAws)), 60_000)

  it.live("the agent's reading of the command: words without a shell, and Go's JSON for the properties", () =>
    Effect.gen(function*() {
      // shell: false hands the agent the command as it is: words, quotes resolved, no shell (`;` and `exit` are
      // printf's arguments, its format used twice)
      const words = yield* exec("printf %s-%s 'a b' \"c\\\"d\"; exit 7", { shell: false })
      assert.deepStrictEqual([text(words.stdout), words.exitCode], ["a b-c\"d;exit-7", 0])
      // keys match case-insensitively and `separateOutputStream` may be a boolean's string (its Go type is interface{})
      const lenient = yield* exec("exit 3", { documentName: "Lenient" })
      assert.strictEqual(lenient.exitCode, 3)
      // a program that does not exist: EXIT_CODE 1, then Go's error on StdErr
      const missing = yield* exec("no-such-program-here", { shell: false })
      assert.deepStrictEqual(
        [missing.exitCode, text(missing.stderr)],
        [1, "exec: \"no-such-program-here\": executable file not found in $PATH"]
      )
      // separator prefixes: before the first piece of each stream (then after pieces ending in a newline); one
      // outside the agent's pattern ends the session at once with its text
      const prefixed = yield* exec("printf x; printf y >&2", { documentName: "Prefixed" })
      assert.deepStrictEqual([text(prefixed.stdout), text(prefixed.stderr)], ["OUT:x", "ERR:y"])
      const badPrefix = failure(yield* Effect.either(exec("exit 0", { documentName: "BadPrefix" })))
      assert.include((badPrefix as RemoteCommand.RemoteCommandError).detail, "\"invalid stdoutSeparatorPrefix >\"")
      // a value the agent cannot convert: it closes the session before its handshake
      const error = failure(yield* Effect.either(exec("exit 0", { documentName: "Unreadable" })))
      assert.isTrue(RemoteCommand.isRemoteCommandError(error))
      assertNamesTheCauses(error as RemoteCommand.RemoteCommandError)
      assert.include((error as RemoteCommand.RemoteCommandError).detail, "before its handshake")
    }).pipe(Effect.provide(withDocuments({
      Lenient: commandDocument({ Linux: { Commands: "{{ command }}", SeparateOutputStream: "true" } }),
      Unreadable: commandDocument({ linux: { commands: "{{ command }}", separateOutputStream: "yes" } }),
      Prefixed: commandDocument({
        linux: { ...RemoteCommand.DOCUMENT_CONTENT.properties.linux, stdOutSeparatorPrefix: "OUT:", stdErrSeparatorPrefix: "ERR:" }
      }),
      BadPrefix: commandDocument({ linux: { ...RemoteCommand.DOCUMENT_CONTENT.properties.linux, stdOutSeparatorPrefix: ">" } })
    }))), 60_000)

  it.live("output beyond maxOutputBytes is an OutputTooLarge error, not unbounded memory", () =>
    Effect.gen(function*() {
      const result = yield* Effect.either(exec("head -c 300000 /dev/zero", { maxOutputBytes: 100_000 }))
      assert.isTrue(Either.isLeft(result) && RemoteCommand.isRemoteCommandError(result.left) &&
        result.left.reason === "OutputTooLarge")
    }).pipe(Effect.provide(simulatedAws)), 60_000)

  /** A command session through the simulator, its output pulled item by item. */
  const commandSession = (command: string) =>
    Effect.gen(function*() {
      const simulator = yield* AgentSimulator.AgentSimulator
      const response = yield* simulator.startSession(AgentSimulator.documentSpec({
        target: "i-1",
        documentName: RemoteCommand.DOCUMENT_NAME,
        parameters: { command: [RemoteCommand.shellCommand(command)] }
      }))
      const session = yield* Session.make({
        sessionId: response.SessionId,
        streamUrl: response.StreamUrl,
        tokenValue: response.TokenValue,
        messagesPerSecond: 0
      })
      const items = yield* Stream.toPull(RemoteCommand.stream(session))
      let stdout = ""
      /** pulls until `done` says stop; the exit code once it came */
      const until = (done: (stdout: string, exit: number | undefined) => boolean) =>
        Effect.gen(function*() {
          let exit: number | undefined
          while (!done(stdout, exit)) {
            for (const item of yield* items) {
              if (item._tag === "Stdout") stdout += text(item.bytes)
              if (item._tag === "Exit") exit = item.code
            }
          }
          return { stdout, exit }
        })
      return { session, until }
    })

  it.live("signal(SIGINT) kills a command that is the process (no shell left): the agent reports exit code 1", () =>
    Effect.gen(function*() {
      const { session, until } = yield* commandSession("echo started; exec sleep 60")
      yield* until((stdout) => stdout === "started\n")
      yield* RemoteCommand.signal(session, "SIGINT")
      // the agent's own Wait collects the signalled command, and the plugin's then fails: ErrorExitCode (1)
      assert.deepStrictEqual(yield* until((_, exit) => exit !== undefined), { stdout: "started\n", exit: 1 })
    }).pipe(Effect.scoped, Effect.provide(Layer.merge(AgentSimulator.layer({ messagesPerSecond: 0 }), NodeSession.layerWebSocketConstructor))), 60_000)

  it.live("as the agent: a message's first control byte is its one signal, and none is delivered again until the command exits", () =>
    Effect.gen(function*() {
      // the shell (the command's process) traps both signals and goes on; its loop runs about a second
      const { session, until } = yield* commandSession(
        "trap 'n=$((n+1)); echo INT$n' INT; trap 'echo QUIT' QUIT; echo ready; i=0; " +
          "while [ $i -lt 10 ]; do sleep 0.1; i=$((i+1)); done; echo done; exit 7"
      )
      yield* until((stdout) => stdout === "ready\n")
      // 0x1c before 0x03: SIGQUIT alone (shell_unix.go InputStreamMessageHandler breaks at the first)
      yield* session.write(new Uint8Array([0x61, 0x1c, 0x03]))
      // the agent's input handler waits for the command to exit: these are not delivered
      yield* RemoteCommand.signal(session, "SIGINT")
      yield* RemoteCommand.signal(session, "SIGINT")
      const result = yield* until((_, exit) => exit !== undefined)
      assert.deepStrictEqual(result, { stdout: "ready\nQUIT\ndone\n", exit: 1 })
    }).pipe(Effect.scoped, Effect.provide(Layer.merge(AgentSimulator.layer({ messagesPerSecond: 0 }), NodeSession.layerWebSocketConstructor))), 60_000)

  it("controlSignal: the first 0x03 or 0x1c of a message, as ByteControlSignalsLinux", () => {
    assert.strictEqual(SimulatorCommand.controlSignal(new Uint8Array([0x61, 0x03, 0x1c])), "SIGINT")
    assert.strictEqual(SimulatorCommand.controlSignal(new Uint8Array([0x1c, 0x03])), "SIGQUIT")
    assert.strictEqual(SimulatorCommand.controlSignal(new Uint8Array([0x61, 0x1a, 0x04])), undefined)
  })

  it.live("exact output and exit code under the simulator's faults (loss, duplicates, reordering, garbage)", () =>
    Effect.gen(function*() {
      const both = { drop: 0.02, duplicate: 0.02, reorder: 0.02, delay: 0.01, delayMillis: 20 }
      const faulty = simulatedAwsLayer({
        // at the agent's own pace: its single resend slot (one per 100 ms) works while the output streams, and the
        // 2 s it waits for acknowledgements at the end covers what is left (unpaced, every loss would be left for
        // those 2 s, and past them the agent closes the channel without it, as the real one does)
        messagesPerSecond: 1000,
        sessionSpec: (request) => ({
          ...AgentSimulator.documentSpec(request),
          faults: { seed: 9, toClient: both, toAgent: both, garbage: 0.005 }
        })
      })
      const result = yield* exec("seq 1 100000; seq 1 1000 >&2; exit 42").pipe(Effect.provide(faulty))
      const lines = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => `${from + i}\n`).join("")
      assert.strictEqual(text(result.stdout), lines(1, 100000))
      assert.strictEqual(text(result.stderr), lines(1, 1000))
      assert.strictEqual(result.exitCode, 42)
    }), 60_000)
})

describe("RemoteCommand: what a command session's payloads and properties mean", () => {
  it("the exit code is read from the ExitCode payload (EXIT_CODE: n), NaN when there is none", () => {
    const encode = (text: string) => new TextEncoder().encode(text)
    assert.strictEqual(RemoteCommandInternal.exitCodeOf(encode("EXIT_CODE: 3")), 3)
    assert.strictEqual(RemoteCommandInternal.exitCodeOf(encode("EXIT_CODE:-1\n")), -1)
    assert.isTrue(Number.isNaN(RemoteCommandInternal.exitCodeOf(encode("nothing"))))
  })

  it("the separator prefixes are read from the properties by a Schema: strings or nothing", () => {
    assert.deepStrictEqual(
      RemoteCommandInternal.separatorPrefixes({ stdOutSeparatorPrefix: "OUT:", stdErrSeparatorPrefix: "ERR:", other: 1 }),
      { stdOutSeparatorPrefix: "OUT:", stdErrSeparatorPrefix: "ERR:" }
    )
    assert.deepStrictEqual(RemoteCommandInternal.separatorPrefixes(null), {})
    assert.deepStrictEqual(RemoteCommandInternal.separatorPrefixes({ stdOutSeparatorPrefix: 7 }), {})
    // each on its own: one that is not a string leaves the other
    assert.deepStrictEqual(
      RemoteCommandInternal.separatorPrefixes({ stdOutSeparatorPrefix: "OUT:", stdErrSeparatorPrefix: null }),
      { stdOutSeparatorPrefix: "OUT:" }
    )
  })
})
