/**
 * What the command line writes where, as real processes: stdout is for scripts (`forward --ready-json -`'s line
 * alone; `exec`'s and `ssh-proxy`'s bytes exactly as the remote's), people's lines go to stderr and never run
 * into the live status line on a terminal, and `--help` leads with examples.
 */
import { assert, describe, it } from "@effect/vitest"
import { type Duration, Effect, Fiber, Layer, Redacted, TestClock } from "effect"
import * as ChildProcess from "node:child_process"
import * as Path from "node:path"
import { Announcer, layerAnnounced } from "../src/cli/aws.js"
import * as SsmApi from "../src/SsmApi.js"
import { collectOutput, exitCode, root, spawnCli, waitForOutput } from "./utils/cli.js"
import { pollUntil } from "./utils/poll.js"
import { echoServer, roundTrip } from "./utils/tcp.js"
import { tmuxSession } from "./utils/tmux.js"

const cli = `node --conditions=ssm-session-manager-source --import tsx ${Path.join(root, "src", "cli", "main.ts")}`

interface Readiness {
  readonly mappings: ReadonlyArray<{ readonly local: string; readonly remote: string; readonly sessionId: string }>
}

describe("stdout for scripts", () => {
  it.scopedLive("forward --ready-json -: the readiness line is all of stdout; the official client's lines go to stderr", () =>
    Effect.gen(function*() {
      const destination = yield* echoServer
      for (const flag of [["--ready-json", "-"], ["--ready-json=-"]]) {
        const child = yield* spawnCli("main", ["forward", "--simulator", "--remote-port", String(destination), ...flag])
        const output = collectOutput(child)
        const [line] = yield* waitForOutput(child, /\{"mappings":.*\}\n/)
        const ready = JSON.parse(line!) as Readiness
        const port = Number(ready.mappings[0]!.local.split(":").pop())
        assert.strictEqual(new TextDecoder().decode(yield* roundTrip(port, new TextEncoder().encode("hi"))), "hi")
        yield* pollUntil(Effect.sync(output.stderr), (text) => text.includes("Connection accepted for session"), {
          every: "50 millis",
          times: 100,
          what: "the connection's line on stderr"
        })
        child.kill("SIGINT")
        assert.strictEqual(yield* exitCode(child), 0)
        assert.strictEqual(output.stdout(), line, flag.join(" "))
        const said = output.stderr().split("\n")
        assert.include(said, `Port ${port} opened for sessionId ${ready.mappings[0]!.sessionId}.`)
        assert.include(said, "Waiting for connections...")
        assert.include(said, `Connection accepted for session [${ready.mappings[0]!.sessionId}]`)
        // not a terminal: no live status line drawn over itself
        assert.notInclude(output.stderr(), "\r")
      }
    }), 60_000)

  it.scopedLive("forward … --ready-json - | head -1 reads the readiness line", () =>
    Effect.gen(function*() {
      const destination = yield* echoServer
      // a process group of its own, ended (SIGINT to the group) when the scope closes
      const pipeline = yield* Effect.acquireRelease(
        Effect.sync(() =>
          ChildProcess.spawn("sh", ["-c", `${cli} forward --simulator --remote-port ${destination} --ready-json - | head -1`], {
            cwd: root,
            detached: true,
            stdio: ["ignore", "pipe", "pipe"]
          })
        ),
        (child) =>
          Effect.sync(() => {
            try {
              process.kill(-child.pid!, "SIGINT")
            } catch {
              // ended
            }
          })
      )
      const [line] = yield* waitForOutput(pipeline, /^.*\n/)
      const ready = JSON.parse(line!) as Readiness
      assert.strictEqual(ready.mappings[0]!.remote, `localhost:${destination}`)
    }), 60_000)

  it.scopedLive("a bare --ready-json says which value it needs: exit 1, nothing on stdout", () =>
    Effect.gen(function*() {
      for (const args of [["--ready-json"], ["--ready-json", "--reason", "x"], ["--ready-json="]]) {
        const child = yield* spawnCli("main", ["forward", "--simulator", "--remote-port", "9", ...args])
        const output = collectOutput(child)
        assert.strictEqual(yield* exitCode(child), 1)
        assert.strictEqual(output.stdout(), "")
        assert.strictEqual(
          output.stderr(),
          "ssm-session-manager: --ready-json needs a value: - for stdout (--ready-json -), or a file path " +
            "(--ready-json ready.json)\n"
        )
      }
    }), 60_000)

  it.scopedLive("exec: stdout and stderr are the remote command's, byte for byte (nothing said while AWS answers at once)", () =>
    Effect.gen(function*() {
      const child = yield* spawnCli("main", ["exec", "--simulator", "--", "printf 'out\\n1'; printf 'err\\n2' >&2; exit 3"])
      const output = collectOutput(child)
      assert.strictEqual(yield* exitCode(child), 3)
      assert.strictEqual(output.stdout(), "out\n1")
      assert.strictEqual(output.stderr(), "err\n2")
    }), 60_000)

  it.scopedLive("ssh-proxy: nothing on stderr while AWS answers at once", () =>
    Effect.gen(function*() {
      const destination = yield* echoServer
      const child = yield* spawnCli("main", ["ssh-proxy", "--simulator", "--port", String(destination)], { stdin: "pipe" })
      const output = collectOutput(child)
      child.stdin!.write("ping")
      yield* pollUntil(Effect.sync(output.stdout), (text) => text === "ping", { every: "50 millis", times: 200, what: "the echo" })
      child.stdin!.end()
      assert.strictEqual(yield* exitCode(child), 0)
      assert.strictEqual(output.stderr(), "")
    }), 60_000)
})

describe("saying what a command waits for, when slow", () => {
  /** StartSession answering after `startSession`, the data channel open after `channel` more; stderr's lines */
  const run = (startSession: Duration.DurationInput, channel: Duration.DurationInput) =>
    Effect.gen(function*() {
      const lines: Array<string> = []
      const write = process.stderr.write
      process.stderr.write = ((text: string | Uint8Array) => {
        lines.push(String(text))
        return true
      }) as typeof process.stderr.write
      yield* Effect.addFinalizer(() => Effect.sync(() => (process.stderr.write = write)))
      const api = {
        startSession: () =>
          Effect.as(Effect.sleep(startSession), { sessionId: "s-1", streamUrl: "wss://x", tokenValue: Redacted.make("t") })
      } as unknown as SsmApi.SsmApi
      const program = Effect.gen(function*() {
        const ssm = yield* SsmApi.SsmApi
        yield* ssm.startSession({ target: "i-1", documentName: "Doc" })
        yield* Effect.sleep(channel)
        yield* Effect.flatMap(Announcer, (announcer) => announcer.channelOpen)
        // a line due later would come now
        yield* Effect.sleep("5 seconds")
      }).pipe(Effect.provide(layerAnnounced("whenSlow").pipe(Layer.provide(Layer.succeed(SsmApi.SsmApi, api)))))
      const fiber = yield* Effect.fork(program)
      yield* TestClock.adjust("20 seconds")
      yield* Fiber.join(fiber)
      return lines.join("")
    })

  it.scoped("whenSlow: nothing while AWS answers within a second; each wait said once it has taken one", () =>
    Effect.gen(function*() {
      assert.strictEqual(yield* run("500 millis", "500 millis"), "")
      assert.strictEqual(yield* run("2 seconds", "500 millis"), "Starting a session with i-1 (Doc)...\n")
      assert.strictEqual(yield* run("500 millis", "2 seconds"), "Opening the data channel of session s-1...\n")
    }))
})

describe("on a terminal (tmux)", () => {
  it.scopedLive("lines printed while the live status line shows start on a line of their own", () =>
    Effect.gen(function*() {
      const tmux = yield* tmuxSession
      // demo: the live status line on stderr, `Try: curl …`, a connection and the request's answer beside it
      yield* tmux.sendKeys(`cd ${root} && ${cli} demo`, "Enter")
      const screen = yield* tmux.waitFor(/^GET \/demo through the tunnel: [^\n]*\n(?:.*\n)*connections \d+ open, 1 total; /m)
      const lines = screen.split("\n")
      assert.isTrue(lines.some((line) => /^Try: curl http:\/\/127\.0\.0\.1:\d+\/$/.test(line)), screen)
      assert.isTrue(lines.some((line) => /^Connection accepted for session \[/.test(line)), screen)
      assert.isTrue(lines.some((line) => line.startsWith("GET /demo through the tunnel: Hello from the instance")), screen)
      // a status line with something else run into it
      assert.isFalse(lines.some((line) => /received [\d.]+ [KMGT]?i?B\S/.test(line)), screen)
      yield* tmux.sendKeys("C-c")
    }), 60_000)

  it.scopedLive("exec says what it waits for when stderr is a terminal", () =>
    Effect.gen(function*() {
      const tmux = yield* tmuxSession
      yield* tmux.sendKeys(`cd ${root} && ${cli} exec --simulator -- echo ran-remote''ly; echo EXEC-''DONE`, "Enter")
      const screen = yield* tmux.waitFor(/EXEC-DONE/)
      assert.match(screen, /^Starting a session with i-simulated \(SSM-RunShellCommandWithExitCode\)\.\.\.$/m)
      assert.match(screen, /^Opening the data channel of session \S+\.\.\.$/m)
      assert.match(screen, /^ran-remotely$/m)
    }), 60_000)
})

describe("--help", () => {
  const commands = [
    "forward", "shell", "exec", "ssh-proxy", "socks", "demo", "plugin", "install-plugin", "create-document", "simulate",
    "cp", "ecs"
  ]

  const help = (args: ReadonlyArray<string>) =>
    Effect.gen(function*() {
      const child = yield* spawnCli("main", args)
      const output = collectOutput(child)
      assert.strictEqual(yield* exitCode(child), 0)
      assert.strictEqual(output.stderr(), "")
      return output.stdout()
    })

  it.scopedLive("each command's help: its purpose, then examples, a short usage line, and lines of 100 columns at most", () =>
    Effect.gen(function*() {
      const texts = yield* Effect.forEach(commands, (command) => help([command, "--help"]), { concurrency: 4 })
      for (const [i, text] of texts.entries()) {
        const command = commands[i]!
        const lines = text.trimEnd().split("\n")
        // one line of purpose (a sentence), a blank, then examples
        assert.match(lines[0]!, /^[A-Z].*\.$/, command)
        assert.strictEqual(lines[1], "", command)
        assert.strictEqual(lines[2], "Examples:", command)
        assert.isTrue(
          lines.slice(3, 8).some((line) => line.startsWith(`    ssm-session-manager ${command} `) || line.startsWith("    ssh ")),
          `${command}: an example in the first lines\n${text}`
        )
        for (const line of lines) assert.isAtMost(line.length, 100, `${command}: ${line}`)
        assert.isBelow(lines.length, 70, command)
        // @effect/cli's generic lines are gone; the command's own descriptions stay
        assert.notInclude(text, "A user-defined piece of text.", command)
        assert.notInclude(text, "This setting is optional.", command)
      }
      const forward = texts[0]!
      for (const option of ["--target text", "-L, --local-forward text", "--ready-json text", "--wait-remote", "--background"]) {
        assert.match(forward, new RegExp(`^  ${option.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\b`, "m"), option)
      }
      assert.include(forward, "once listening, write one JSON line saying where, for scripts")
      // --help after -- is the remote command's
      const child = yield* spawnCli("main", ["exec", "--simulator", "--", "echo", "--help"])
      const output = collectOutput(child)
      assert.strictEqual(yield* exitCode(child), 0)
      assert.strictEqual(output.stdout(), "--help\n")
    }), 120_000)

  it.scopedLive("the top-level help (no arguments, --help, help) lists every command with its purpose", () =>
    Effect.gen(function*() {
      const [bare, flag, word] = yield* Effect.forEach([[], ["--help"], ["help"]], help)
      assert.strictEqual(bare, flag)
      assert.strictEqual(word, flag)
      const lines = flag!.split("\n")
      assert.match(lines[0]!, /^ssm-session-manager \d+\.\d+\.\d+: /)
      assert.strictEqual(lines[2], "Examples:")
      for (const command of commands) assert.isTrue(lines.some((line) => line.startsWith(`  ${command} `)), command)
      for (const line of lines) assert.isAtMost(line.length, 100, line)
      assert.strictEqual(yield* help(["help", "exec"]), yield* help(["exec", "-h"]))
    }), 60_000)
})
