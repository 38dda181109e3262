/**
 * Shells through the simulator's shell plugin: a real /bin/sh behind a pseudo-terminal on this machine.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Either, Option, Stream } from "effect"
import * as ShellInternal from "../src/internal/tunnels/shell.js"
import * as Shell from "../src/Shell.js"
import { simulatedAwsLayer } from "./utils/aws.js"

const simulatedAws = simulatedAwsLayer()

/**
 * Reads a shell's output until `pattern` matches the text so far; the text. The pty echoes what is typed, so
 * markers are typed split by quotes (`:do''ne`) and only the command's output matches them.
 */
const readUntil = (pull: Effect.Effect<Iterable<Uint8Array>, Option.Option<Shell.ShellError>>, pattern: RegExp) =>
  Effect.gen(function*() {
    let text = ""
    const decoder = new TextDecoder()
    while (!pattern.test(text)) {
      const chunk = yield* Effect.mapError(pull, (error) => Option.getOrElse(error, () => new Error("output ended")))
      for (const bytes of chunk) text += decoder.decode(bytes, { stream: true })
    }
    return text
  })

const encode = (text: string) => new TextEncoder().encode(text)

describe("Shell", () => {
  it.scopedLive("a shell session runs commands and shows their output; exit ends it", () =>
    Effect.gen(function*() {
      const shell = yield* Shell.start({ target: "i-1", size: { cols: 100, rows: 30 } })
      assert.strictEqual(shell.session.sessionType, "Standard_Stream")
      const pull = yield* Stream.toPull(shell.output)
      yield* shell.write(encode("echo $((6 * 7)); echo :do''ne\n"))
      const text = yield* readUntil(pull, /:done\r?\n/)
      assert.match(text, /42\r?\n/)
      yield* shell.write(encode("exit\n"))
      assert.strictEqual(yield* shell.closed, "")
    }).pipe(Effect.provide(simulatedAws)), 30_000)

  it.scopedLive("resize reaches the remote pty: stty size sees the start size, then the new one", () =>
    Effect.gen(function*() {
      const shell = yield* Shell.start({ target: "i-1", size: { cols: 100, rows: 30 } })
      const pull = yield* Stream.toPull(shell.output)
      yield* shell.write(encode("stty size; echo :fir''st\n"))
      assert.match(yield* readUntil(pull, /:first\r?\n/), /30 100\r?\n/)
      yield* shell.resize({ cols: 132, rows: 43 })
      yield* shell.write(encode("stty size; echo :sec''ond\n"))
      assert.match(yield* readUntil(pull, /:second\r?\n/), /43 132\r?\n/)
      const bad = yield* Effect.either(shell.resize({ cols: 0, rows: 10 }))
      assert.isTrue(Either.isLeft(bad) && bad.left.reason === "InvalidSize")
    }).pipe(Effect.provide(simulatedAws)), 30_000)

  it.scopedLive("Ctrl-C as a control byte interrupts the remote foreground command", () =>
    Effect.gen(function*() {
      const shell = yield* Shell.start({ target: "i-1", size: { cols: 80, rows: 24 } })
      const pull = yield* Stream.toPull(shell.output)
      yield* shell.write(encode("sleep 30; echo slept\n"))
      yield* readUntil(pull, /sleep 30; echo slept\r?\n/)
      yield* shell.signal("SIGINT")
      yield* shell.write(encode("echo after:$?\n"))
      // the shell's $? after a command killed by SIGINT is 130
      assert.match(yield* readUntil(pull, /after:\d+\r?\n/), /after:130\r?\n/)
    }).pipe(Effect.provide(simulatedAws)), 30_000)

  it.scopedLive("InteractiveCommands (AWS-StartInteractiveCommand): the command runs in a pty and the session ends with it", () =>
    Effect.gen(function*() {
      const shell = yield* Shell.start({
        target: "i-1",
        documentName: "AWS-StartInteractiveCommand",
        parameters: { command: ["test -t 0 && echo interactive-ok"] }
      })
      // the agent asks for no handshake here (singlecommand.go RequireHandshake): without one, a client cannot tell
      // the session from a shell, and takes it for Standard_Stream as AWS's client does
      assert.strictEqual(shell.session.sessionType, "Standard_Stream")
      const text = yield* shell.output.pipe(
        Stream.decodeText(),
        Stream.runFold("", (all, piece) => all + piece)
      )
      // stdin is a terminal: the command ran in a pty
      assert.match(text, /interactive-ok\r?\n/)
      assert.strictEqual(yield* shell.closed, "")
    }).pipe(Effect.provide(simulatedAws)), 30_000)

  it.scopedLive("InteractiveCommands with an empty command ends at once with the agent's text", () =>
    Effect.gen(function*() {
      // no handshake (as the agent), and nothing sent before channel_closed: the session never became ready
      const error = yield* Effect.flip(Shell.start({
        target: "i-1",
        documentName: "AWS-StartInteractiveCommand",
        parameters: { command: ["  "] }
      }))
      assert.strictEqual(error._tag, "SessionError")
      assert.include(error.message, "Commands cannot be empty for session type InteractiveCommands")
    }).pipe(Effect.provide(simulatedAws)), 30_000)

  it("keyboardInput rewrites a lone LF to CR and nothing else", () => {
    assert.deepStrictEqual(Shell.keyboardInput(new Uint8Array([0x0a])), new Uint8Array([0x0d]))
    assert.deepStrictEqual(Shell.keyboardInput(new Uint8Array([0x61, 0x0a])), new Uint8Array([0x61, 0x0a]))
  })

  it.scopedLive("a port session is not a shell: a typed error", () =>
    Effect.gen(function*() {
      const result = yield* Effect.either(Shell.start({ target: "i-1", documentName: "AWS-StartSSHSession" }))
      assert.isTrue(Either.isLeft(result) && Shell.isShellError(result.left) && result.left.reason === "NotAShellSession")
    }).pipe(Effect.provide(simulatedAws)), 30_000)
})

describe("Shell: the terminal size is the Shell's to send", () => {
  it("the Size payload is the JSON the agent reads, and only real sizes pass", () => {
    assert.strictEqual(new TextDecoder().decode(ShellInternal.sizePayload({ cols: 132, rows: 43 })), "{\"cols\":132,\"rows\":43}")
    assert.isTrue(ShellInternal.isTerminalSize({ cols: 1, rows: 65535 }))
    assert.isFalse(ShellInternal.isTerminalSize({ cols: 0, rows: 10 }))
    assert.isFalse(ShellInternal.isTerminalSize({ cols: 80.5, rows: 10 }))
    assert.isFalse(ShellInternal.isTerminalSize({ cols: 80, rows: 65536 }))
  })
})
