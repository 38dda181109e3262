/**
 * The command line in pipes and scripts: a reader that stops early ends the session quietly, a command is required,
 * and what a remote command started does not outlive its session on the simulator's machine.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Option, Scope, Stream } from "effect"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Path from "node:path"
import * as RemoteCommand from "../src/RemoteCommand.js"
import { simulatedAwsLayer } from "./utils/aws.js"
import { exitCode, root, spawnCli } from "./utils/cli.js"
import { silentServer } from "./utils/hostileAgent.js"
import { closedPort } from "./utils/tcp.js"
import { pollUntil } from "./utils/poll.js"

/** Runs the CLI from source through `sh -c` (for a pipe), with its exit status and stderr. */
const shell = (script: string) =>
  Effect.async<{ readonly status: string; readonly stderr: string }>((resume) => {
    const cli = `node --conditions=ssm-session-manager-source --import tsx ${Path.join(root, "src", "cli", "main.ts")}`
    const child = ChildProcess.spawn("bash", ["-c", script.replaceAll("$CLI", cli)], { cwd: root, stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (data: Buffer) => stdout += data.toString())
    child.stderr.on("data", (data: Buffer) => stderr += data.toString())
    child.on("close", () => resume(Effect.succeed({ status: stdout.trim(), stderr })))
  })

/** A process that runs (a zombie waiting for a parent that does not reap it counts as gone). */
const alive = (pid: number) => {
  try {
    return !/^State:\s+Z/m.test(Fs.readFileSync(`/proc/${pid}/status`, "utf8"))
  } catch {
    return false
  }
}

describe("the command line in pipes", () => {
  it.live("exec … | head -1: the first line, then a quiet end with SIGPIPE's status (141), no EPIPE", () =>
    Effect.gen(function*() {
      const { status, stderr } = yield* shell(
        "$CLI exec --simulator -- seq 1 200000 | head -1; echo \"status ${PIPESTATUS[0]}\""
      )
      assert.strictEqual(status, "1\nstatus 141")
      assert.notInclude(stderr, "EPIPE")
      assert.notInclude(stderr, "Error")
    }), 60_000)

  it.live("--log-level works after the subcommand too (it is @effect/cli's, read before it)", () =>
    Effect.gen(function*() {
      const { status } = yield* shell("$CLI exec --simulator --log-level debug -- sh -c 'echo hi'; echo \"status $?\"")
      assert.strictEqual(status, "hi\nstatus 0")
    }), 60_000)

  it.live("exec without a command is a usage error: nothing on stdout, non-zero", () =>
    Effect.gen(function*() {
      const { status, stderr } = yield* shell("$CLI exec --simulator; echo \"status $?\"")
      assert.strictEqual(status, "status 1")
      assert.include(stderr, "Missing argument <command>")
    }), 60_000)
})

/** A TCP server that answers the first bytes of each connection with `reply:` and them, then closes it. */
const replyServer = Effect.acquireRelease(
  Effect.async<Net.Server>((resume) => {
    const server = Net.createServer((socket) => {
      socket.on("error", () => {})
      socket.once("data", (data) => socket.end(`reply:${data.toString()}`))
    })
    server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
  }),
  (server) => Effect.sync(() => server.close())
).pipe(Effect.map((server) => (server.address() as Net.AddressInfo).port))

describe("ssh-proxy in pipes", () => {
  it.scopedLive("stdin ending first does not lose the reply: it comes, then a quiet exit 0 when the destination closes", () =>
    Effect.gen(function*() {
      const port = yield* replyServer
      const { status, stderr } = yield* shell(`echo hello | $CLI ssh-proxy --simulator --port ${port}; echo "status $?"`)
      assert.strictEqual(status, "reply:hello\nstatus 0")
      // fast: nothing on stderr (ssh shows a ProxyCommand's stderr on every connection)
      assert.strictEqual(stderr, "")
    }), 60_000)

  it.scopedLive("a destination that refuses: one line on stderr with the agent's reason, exit 1", () =>
    Effect.gen(function*() {
      const port = yield* closedPort
      const { status, stderr } = yield* shell(`echo hello | $CLI ssh-proxy --simulator --port ${port}; echo "status $?"`)
      assert.strictEqual(status, "status 1")
      const lines = stderr.trim().split("\n")
      assert.strictEqual(lines.length, 1, stderr)
      assert.match(lines[0]!, /^ssm-session-manager: .*Unable to connect to specified port/)
    }), 60_000)
})

describe("shell", () => {
  it.live("an encrypted session shows the agent's message first, as AWS's client does", () =>
    Effect.gen(function*() {
      const { status } = yield* shell(
        "printf 'exit\\n' | SSM_SIMULATOR_KMS_KEY_ID=alias/simulated $CLI shell --simulator | head -n 1"
      )
      assert.strictEqual(status, "This session is encrypted using AWS KMS.")
    }), 60_000)
})

describe("waiting for AWS", () => {
  it.scopedLive("an endpoint that never answers StartSession: a line saying what is awaited, then one error line at the timeout", () =>
    Effect.gen(function*() {
      const port = yield* silentServer
      const started = Date.now()
      const child = yield* spawnCli("main", [
        "forward",
        "--target",
        "i-0123456789abcdef0",
        "--remote-port",
        "80",
        "--region",
        "us-east-1",
        "--endpoint",
        `http://127.0.0.1:${port}`,
        "--api-timeout",
        "2"
      ], { env: { AWS_ACCESS_KEY_ID: "AKIDTEST", AWS_SECRET_ACCESS_KEY: "secret" } })
      let stdout = ""
      let stderr = ""
      child.stdout!.on("data", (data: Buffer) => stdout += data.toString())
      child.stderr!.on("data", (data: Buffer) => stderr += data.toString())
      const code = yield* exitCode(child)
      const lines = stderr.trim().split("\n")
      assert.strictEqual(code, 1)
      assert.strictEqual(stdout, "")
      assert.deepStrictEqual(lines, [
        "Starting a session with i-0123456789abcdef0 (AWS-StartPortForwardingSession)...",
        "ssm-session-manager: StartSession: Timeout: no answer within 2s"
      ])
      assert.isBelow(Date.now() - started, 20_000)
    }), 60_000)

  it.scopedLive("exec off a terminal: silent while AWS answers, but a StartSession that takes a second is said", () =>
    Effect.gen(function*() {
      const port = yield* silentServer
      const child = yield* spawnCli("main", [
        "exec", "--target", "i-0123456789abcdef0", "--region", "us-east-1", "--endpoint", `http://127.0.0.1:${port}`,
        "--api-timeout", "2", "--", "true"
      ], { env: { AWS_ACCESS_KEY_ID: "AKIDTEST", AWS_SECRET_ACCESS_KEY: "secret" } })
      let stderr = ""
      child.stderr!.on("data", (data: Buffer) => stderr += data.toString())
      assert.strictEqual(yield* exitCode(child), 1)
      assert.deepStrictEqual(stderr.trim().split("\n"), [
        "Starting a session with i-0123456789abcdef0 (SSM-RunShellCommandWithExitCode)...",
        "ssm-session-manager: StartSession: Timeout: no answer within 2s"
      ])
    }), 60_000)
})

describe("the simulator's commands", () => {
  it.scopedLive("what a command started goes with its session: the process group is killed", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const session = yield* Scope.extend(
        RemoteCommand.start({ target: "i-1", command: "sleep 300 & echo $!; wait" }),
        scope
      )
      const pull = yield* Stream.toPull(RemoteCommand.stream(session))
      let text = ""
      while (!text.includes("\n")) {
        const chunk = yield* Effect.mapError(pull, (error) => Option.getOrElse(error, () => new Error("ended")))
        for (const item of chunk) if (item._tag === "Stdout") text += new TextDecoder().decode(item.bytes)
      }
      const pid = Number(text.trim())
      assert.isTrue(alive(pid))
      yield* Scope.close(scope, Exit.void)
      // the group's SIGKILL takes effect at once; the process table may take a moment to show it
      yield* pollUntil(Effect.sync(() => alive(pid)), (running) => !running, {
        every: "20 millis",
        times: 250,
        what: `sleep (pid ${pid}) gone with its session`
      })
    }).pipe(Effect.provide(simulatedAwsLayer())), 60_000)
})
