/**
 * EcsExec through the simulator's ECS (whose containers are processes on this machine, run as the agent's
 * ContainerMode runs them: shlex, exec on a pty, no exit code): commands with stdin and exit codes over the
 * framed wrapper (`launch`), terminals with the exit-code marker, raw commands, file copies through `launch`, a KMS
 * cluster's sessions, resume across a dropped WebSocket; and `containerCommand` against the agent's shlex.
 */
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Deferred, Effect, Either, Fiber, FastCheck as fc, Stream } from "effect"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as AgentSimulator from "../src/AgentSimulator.js"
import * as EcsExec from "../src/EcsExec.js"
import * as Shlex from "../src/internal/simulator/shlex.js"
import * as NodeFileTransfer from "../src/NodeFileTransfer.js"
import * as RemoteCommand from "../src/RemoteCommand.js"
import type * as SimulatorEcs from "../src/SimulatorEcs.js"

const T1 = "11111111111111111111111111111111"
const T2 = "22222222222222222222222222222222"

const world: SimulatorEcs.SimulatedEcs = {
  clusters: [
    { name: "prod", tasks: [{ taskId: T1, service: "web", containers: [{ name: "app" }] }] },
    { name: "secure", kmsKeyId: "alias/ecs-exec", tasks: [{ taskId: T2, containers: [{ name: "app" }] }] }
  ]
}

const layer = (options: AgentSimulator.SimulatorOptions = {}) =>
  AgentSimulator.layerAll({ messagesPerSecond: 0, ecs: world, ...options })

const fast = { session: { messagesPerSecond: 0 } } as const
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes)
const bytesOf = (value: string) => new TextEncoder().encode(value)
const sha = (bytes: Uint8Array) => Crypto.createHash("sha256").update(bytes).digest("hex")
const prod = EcsExec.resolve({ cluster: "prod", service: "web" })

describe("EcsExec.containerCommand", () => {
  it("google/shlex (the simulator's port) splits it back into the same words, whatever they hold", () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.string(), fc.string({ unit: "grapheme" }), fc.constantFrom("#", "'", "\\", "\"", "", " ", "\n", "a'b", "$x")), { maxLength: 8 }),
        (argv) => {
          assert.deepStrictEqual(Shlex.split(EcsExec.containerCommand(argv)), Either.right(argv))
        }
      ),
      { numRuns: 2000 }
    )
    assert.strictEqual(EcsExec.containerCommand(["sh", "-c", "echo it's"]), "sh -c 'echo it'\\''s'")
  })

  it("the scripts are one sh -c word each", () => {
    for (const script of [EcsExec.framedScript("echo 'a' \"b\" $HOME"), EcsExec.terminalScript("exit 3", "0123456789abcdef")]) {
      const words = Either.getOrThrow(Shlex.split(script))
      assert.strictEqual(words.length, 3)
      assert.deepStrictEqual(words.slice(0, 2), ["sh", "-c"])
    }
  })
})

describe("EcsExec through the simulator", () => {
  it.live("execWithInput: exit codes 0, 3 and 130, stdout and stderr apart, stdin into sha256sum", () =>
    Effect.gen(function*() {
      const target = yield* prod
      assert.match(target.target, new RegExp(`^ecs:prod_${T1}_`))
      for (const [command, code] of [["echo out; echo err >&2", 0], ["exit 3", 3], ["kill -INT $$", 130]] as const) {
        const result = yield* EcsExec.execWithInput({ ...fast, target, command, input: Stream.empty })
        assert.strictEqual(result.exitCode, code, command)
        if (code === 0) {
          assert.strictEqual(text(result.stdout), "out\n")
          assert.strictEqual(text(result.stderr), "err\n")
        }
      }
      const input = new Uint8Array(Crypto.randomBytes(2 * 1024 * 1024))
      const hashed = yield* EcsExec.execWithInput({
        ...fast,
        target,
        command: "sha256sum",
        input: Stream.fromIterable([input.subarray(0, 1000), input.subarray(1000)])
      })
      assert.strictEqual(hashed.exitCode, 0)
      assert.strictEqual(text(hashed.stdout).split(" ")[0], sha(input))
    }).pipe(Effect.provide(layer())))

  it.live("launch: an ECS refusal is a RemoteCommandError Start, the EcsApiError its cause", () =>
    Effect.gen(function*() {
      const target = yield* prod
      const error = yield* Effect.flip(
        EcsExec.execWithInput({ ...fast, target: { ...target, taskArn: "f".repeat(32) }, command: "true", input: Stream.empty })
      )
      assert.isTrue(RemoteCommand.isRemoteCommandError(error))
      if (!RemoteCommand.isRemoteCommandError(error)) return
      assert.strictEqual(error.reason, "Start")
      assert.match(error.detail, /^ExecuteCommand: /)
      assert.strictEqual((error.cause as { _tag: string })._tag, "EcsApiError")
    }).pipe(Effect.provide(layer())))

  /** a terminal's output to its end, and its exit code */
  const terminal = (command: string) =>
    Effect.scoped(Effect.gen(function*() {
      const target = yield* prod
      const started = yield* EcsExec.startTerminal({ ...fast, target, command, size: { cols: 80, rows: 24 } })
      const output = Buffer.concat(Chunk.toReadonlyArray(yield* Stream.runCollect(started.shell.output)))
      return { output: output.toString("utf8"), raw: output, exitCode: yield* started.exitCode }
    }))

  it.live("startTerminal: the output byte-exact minus the marker, exit codes 0, 3 and 130", () =>
    Effect.gen(function*() {
      const ok = yield* terminal("printf 'h\\303\\251llo\\tworld\\n\\342\\202\\254 \\033[1mbold\\033[0m'")
      assert.strictEqual(ok.output, "héllo\tworld\r\n€ \u001b[1mbold\u001b[0m")
      assert.strictEqual(ok.exitCode, 0)
      assert.notInclude(ok.raw.toString("latin1"), "ssm-exit")
      assert.strictEqual((yield* terminal("echo bye; exit 3")).exitCode, 3)
      assert.strictEqual((yield* terminal("kill -INT $$")).exitCode, 130)
    }).pipe(Effect.provide(layer())))

  it.live("a terminal command and a raw one silent for their first 4 s: ready after the silence, not a Handshake timeout", () =>
    Effect.gen(function*() {
      // no KMS: no HandshakeRequest, and nothing printed before the end; the session is ready after 3 s of silence
      const silent = yield* terminal("sleep 4; exit 6").pipe(Effect.timeout("20 seconds"))
      assert.deepStrictEqual({ output: silent.output, exitCode: silent.exitCode }, { output: "", exitCode: 6 })
      const raw = yield* Effect.scoped(Effect.gen(function*() {
        const shell = yield* EcsExec.startRaw({ ...fast, target: yield* prod, command: "sh -c 'sleep 4; echo late'" })
        return Buffer.concat(Chunk.toReadonlyArray(yield* Stream.runCollect(shell.output))).toString("utf8")
      })).pipe(Effect.timeout("20 seconds"))
      assert.strictEqual(raw, "late\r\n")
    }).pipe(Effect.provide(layer())))

  it.live("startTerminal: Ctrl-C ends the command (130), the wrapper outlives it and reports", () =>
    Effect.scoped(Effect.gen(function*() {
      const target = yield* prod
      const started = yield* EcsExec.startTerminal({ ...fast, target, command: "echo go; sleep 30" })
      const seen = yield* Deferred.make<void>()
      let all = ""
      const reader = yield* Effect.fork(Stream.runForEach(started.shell.output, (bytes) => {
        all += text(bytes)
        return all.includes("go") ? Deferred.succeed(seen, undefined) : Effect.void
      }))
      yield* Deferred.await(seen)
      yield* started.shell.signal("SIGINT")
      yield* Fiber.join(reader)
      assert.strictEqual(yield* started.exitCode, 130)
    })).pipe(Effect.provide(layer())))

  it.live("startTerminal: a container without sh never gives exit 0: NoExitCode; startRaw runs the command as ECS does", () =>
    Effect.gen(function*() {
      const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "ecs-no-sh-"))
      Fs.symlinkSync(Fs.realpathSync("/usr/bin/printf"), Path.join(dir, "printf"))
      const bare: SimulatorEcs.SimulatedEcs = {
        clusters: [{ name: "bare", tasks: [{ taskId: T1, containers: [{ name: "app", environment: { PATH: dir } }] }] }]
      }
      yield* Effect.gen(function*() {
        const target = yield* EcsExec.resolve({ cluster: "bare" })
        const failed = yield* Effect.either(Effect.scoped(Effect.gen(function*() {
          const started = yield* EcsExec.startTerminal({ ...fast, target, command: "true" })
          yield* Stream.runDrain(started.shell.output)
          return yield* started.exitCode
        })))
        // the agent cannot exec sh: the session ends before its first output
        assert.isTrue(Either.isLeft(failed) && RemoteCommand.isRemoteCommandError(failed.left))
        if (Either.isLeft(failed)) assert.match(failed.left.message, /^NoExitCode: .*needs --raw/)
        const raw = yield* Effect.scoped(Effect.gen(function*() {
          const shell = yield* EcsExec.startRaw({ ...fast, target, command: "printf '%s|%s' 'a b' \"it's\"" })
          return Buffer.concat(Chunk.toReadonlyArray(yield* Stream.runCollect(shell.output))).toString("utf8")
        }))
        assert.strictEqual(raw, "a b|it's")
      }).pipe(Effect.provide(AgentSimulator.layerAll({ messagesPerSecond: 0, ecs: bare })), Effect.ensuring(Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))))
    }))

  it.live("a KMS cluster's exec is encrypted", () =>
    Effect.scoped(Effect.gen(function*() {
      const simulator = yield* AgentSimulator.AgentSimulator
      const target = yield* EcsExec.resolve({ cluster: "secure" })
      const running = yield* EcsExec.startWithInput({ ...fast, target, command: "cat", input: Stream.make(bytesOf("secret\n")) })
      const output = yield* Stream.runCollect(running.output)
      assert.deepStrictEqual(Chunk.toReadonlyArray(output).at(-1), { _tag: "Exit", code: 0 })
      assert.isTrue((yield* simulator.sessionStats(running.session.sessionId))?.encrypted)
      assert.match(running.session.sessionId, /^ecs-execute-command-/)
    })).pipe(Effect.provide(layer())))

  it.live("FileTransfer through launch: 16 MiB up and down", () =>
    Effect.gen(function*() {
      const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "ecs-cp-"))
      const bytes = new Uint8Array(Crypto.randomBytes(16 * 1024 * 1024))
      Fs.writeFileSync(Path.join(dir, "big"), bytes)
      const target = yield* prod
      const launch = yield* EcsExec.launch(target)
      const remote = { ...fast, target: target.target, launch }
      const up = yield* NodeFileTransfer.upload({ ...remote, localPath: Path.join(dir, "big"), remotePath: Path.join(dir, "remote") })
      assert.strictEqual(up.sha256, sha(bytes))
      assert.strictEqual(sha(Fs.readFileSync(Path.join(dir, "remote"))), sha(bytes))
      const down = yield* NodeFileTransfer.download({ ...remote, remotePath: Path.join(dir, "remote"), localPath: Path.join(dir, "back") })
      assert.strictEqual(down.sha256, sha(bytes))
      assert.strictEqual(sha(Fs.readFileSync(Path.join(dir, "back"))), sha(bytes))
      Fs.rmSync(dir, { recursive: true, force: true })
    }).pipe(Effect.provide(layer())), 180_000)

  it.live("an ECS session resumes across a dropped WebSocket: the shell's state kept, the exit code after", () =>
    Effect.scoped(Effect.gen(function*() {
      const simulator = yield* AgentSimulator.AgentSimulator
      const target = yield* prod
      // no command: DEFAULT_SHELL_COMMAND (bash here, if installed)
      const started = yield* EcsExec.startTerminal({ ...fast, target })
      const pull = yield* Stream.toPull(started.shell.output)
      let seen = ""
      const readUntil = (pattern: RegExp) =>
        Effect.gen(function*() {
          while (!pattern.test(seen)) {
            const chunk = yield* Effect.orElseFail(pull, () => new Error(`output ended before ${pattern}: ${JSON.stringify(seen)}`))
            for (const bytes of chunk) seen += text(bytes)
          }
        })
      yield* started.shell.write(bytesOf("KEPT=across-the-drop; echo :se''t\n"))
      yield* readUntil(/:set\r?\n/)
      assert.isTrue(yield* simulator.dropConnection(started.shell.session.sessionId))
      yield* started.shell.write(bytesOf("echo value=$KEPT; echo :aft''er\n"))
      yield* readUntil(/:after\r?\n/)
      assert.match(seen, /value=across-the-drop\r?\n/)
      assert.strictEqual((yield* started.shell.session.stats).reconnects, 1)
      yield* started.shell.write(bytesOf("exit 4\n"))
      yield* Effect.ignore(Effect.forever(pull))
      assert.strictEqual(yield* started.exitCode, 4)
    })).pipe(Effect.provide(layer())))
})
