/**
 * The command line as real processes: `forward --simulator`, `demo --once`, and the `session-manager-plugin` alias
 * invoked exactly as the AWS CLI invokes AWS's binary.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Either, Redacted } from "effect"
import type * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import * as AgentSimulator from "../src/AgentSimulator.js"
import { pseudoRandomBytes, sha256Hex } from "./utils/bytes.js"
import { collectOutput, exitCode, spawnCli, waitForOutput } from "./utils/cli.js"
import { checkStreamUrl } from "../src/cli/plugin.js"
import { ABANDON_LINE, FIRST_INTERRUPT_LINE, terminateAbandoned } from "../src/cli/exec.js"
import type * as Session from "../src/Session.js"
import * as SsmApi from "../src/SsmApi.js"
import { isLoopback } from "../src/cli/status.js"
import { pollUntil } from "./utils/poll.js"
import { echoServer, roundTrip } from "./utils/tcp.js"

const responseJson = (response: AgentSimulator.StartSessionResponse) =>
  JSON.stringify({
    SessionId: response.SessionId,
    TokenValue: Redacted.value(response.TokenValue),
    StreamUrl: response.StreamUrl
  })

/** Writes `data` to a child's stdin and collects as many bytes from its stdout: an echo through the process. */
const echoThroughStdio = (child: ChildProcess.ChildProcess, data: Uint8Array) =>
  Effect.async<Buffer>((resume) => {
    const received: Array<Buffer> = []
    let length = 0
    child.stdout!.on("data", (chunk: Buffer) => {
      received.push(chunk)
      length += chunk.length
      if (length >= data.length) resume(Effect.succeed(Buffer.concat(received)))
    })
    child.stdin!.write(data)
  })

describe("CLI", () => {
  it.scopedLive("forward --simulator: a local port through a real data channel; Ctrl-C ends it cleanly", () =>
    Effect.gen(function*() {
      const destination = yield* echoServer
      const child = yield* spawnCli("main", ["forward", "--simulator", "--remote-port", String(destination)])
      const [, port] = yield* waitForOutput(child, /Port (\d+) opened for sessionId /, "stderr")
      const data = pseudoRandomBytes(256 * 1024, 3)
      assert.strictEqual(sha256Hex(yield* roundTrip(Number(port), data)), sha256Hex(data))
      child.kill("SIGINT")
      assert.strictEqual(yield* exitCode(child), 0)
    }), 60_000)

  it.scopedLive("forward --local-host 0.0.0.0 warns once on stderr that others can reach it; the default does not", () =>
    Effect.gen(function*() {
      const destination = yield* echoServer
      const lines = (child: ChildProcess.ChildProcess) => {
        let text = ""
        child.stderr!.on("data", (data: Buffer) => (text += data.toString()))
        return () => text.split("\n").filter((line) => line.startsWith("warning:"))
      }
      const open = yield* spawnCli("main", ["forward", "--simulator", "--remote-port", String(destination), "--local-host", "0.0.0.0"])
      const openWarnings = lines(open)
      const [, port] = yield* waitForOutput(open, /Port (\d+) opened for sessionId /, "stderr")
      assert.strictEqual(new TextDecoder().decode(yield* roundTrip(Number(port), new TextEncoder().encode("hi"))), "hi")
      open.kill("SIGINT")
      assert.strictEqual(yield* exitCode(open), 0)
      assert.deepStrictEqual(openWarnings(), [
        `warning: listening on 0.0.0.0:${port}, reachable from other machines: whoever can connect to it uses this session`
      ])
      const local = yield* spawnCli("main", ["forward", "--simulator", "--remote-port", String(destination)])
      const localWarnings = lines(local)
      yield* waitForOutput(local, /Waiting for connections/, "stderr")
      local.kill("SIGINT")
      assert.strictEqual(yield* exitCode(local), 0)
      assert.deepStrictEqual(localWarnings(), [])
    }), 60_000)

  it.scopedLive("forward --ready-json: one JSON line, to a file (whole) or stdout, once the port listens; a path that cannot be written is exit 1", () =>
    Effect.gen(function*() {
      const destination = yield* echoServer
      const dir = yield* Effect.acquireRelease(
        Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "ssm-ready-"))),
        (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
      )
      const file = Path.join(dir, "ready.json")
      const child = yield* spawnCli("main", ["forward", "--simulator", "--remote-port", String(destination), "--ready-json", file])
      const [, sessionId] = yield* waitForOutput(child, /opened for sessionId (\S+)\./, "stderr")
      const text = yield* pollUntil(Effect.sync(() => Fs.existsSync(file) ? Fs.readFileSync(file, "utf8") : ""), (text) => text !== "", {
        every: "50 millis",
        times: 200,
        what: "the readiness file"
      })
      const ready = JSON.parse(text) as { mappings: Array<{ local: string; remote: string; target: string; sessionId: string }> }
      assert.strictEqual(ready.mappings.length, 1)
      const [mapping] = ready.mappings
      assert.match(mapping!.local, /^127\.0\.0\.1:\d+$/)
      assert.deepStrictEqual({ ...mapping, local: "" }, { local: "", remote: `localhost:${destination}`, target: "i-simulated", sessionId: sessionId! })
      const port = Number(mapping!.local.split(":")[1])
      assert.strictEqual(new TextDecoder().decode(yield* roundTrip(port, new TextEncoder().encode("ready"))), "ready")
      child.kill("SIGINT")
      assert.strictEqual(yield* exitCode(child), 0)

      const toStdout = yield* spawnCli("main", ["forward", "--simulator", "--remote-port", String(destination), "--ready-json", "-"])
      const [line] = yield* waitForOutput(toStdout, /\{"mappings":.*\}\n/)
      assert.strictEqual((JSON.parse(line!) as typeof ready).mappings[0]!.remote, `localhost:${destination}`)
      toStdout.kill("SIGINT")
      assert.strictEqual(yield* exitCode(toStdout), 0)

      const nowhere = yield* spawnCli("main", [
        "forward", "--simulator", "--remote-port", String(destination), "--ready-json", Path.join(dir, "missing", "ready.json")
      ])
      let stderr = ""
      nowhere.stderr!.on("data", (data: Buffer) => (stderr += data.toString()))
      assert.strictEqual(yield* exitCode(nowhere), 1)
      assert.match(stderr.trim().split("\n").pop()!, /^ssm-session-manager: --ready-json .*missing\/ready\.json: the directory .* does not exist$/)
      // refused before a session was started
      assert.notInclude(stderr, "Starting a session")
    }), 60_000)

  it("isLoopback: 127.0.0.0/8, ::1 and mapped IPv4 loopback only", () => {
    for (const address of ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"]) assert.isTrue(isLoopback(address), address)
    for (const address of ["0.0.0.0", "::", "10.0.0.5", "::ffff:10.0.0.5", "fe80::1", "128.0.0.1"]) {
      assert.isFalse(isLoopback(address), address)
    }
  })

  it.scopedLive("demo --once: the simulator, a demo HTTP server and one request through the tunnel", () =>
    Effect.gen(function*() {
      const child = yield* spawnCli("main", ["demo", "--once"])
      const [body] = yield* waitForOutput(child, /GET \/demo through the tunnel: .*\n/)
      assert.include(body, "Hello from the instance")
      assert.strictEqual(yield* exitCode(child), 0)
    }), 60_000)

  describe("session-manager-plugin, as the AWS CLI runs it", () => {
    const request = (port: number, document = "AWS-StartPortForwardingSession") =>
      JSON.stringify({ Target: "i-1", DocumentName: document, Parameters: { portNumber: [String(port)] } })

    it.scopedLive("a port session from the response in AWS_SSM_START_SESSION_RESPONSE; Ctrl-C sends TerminateSession", () =>
      Effect.gen(function*() {
        const destination = yield* echoServer
        const simulator = yield* AgentSimulator.make({ messagesPerSecond: 0 })
        const response = yield* simulator.startSession(AgentSimulator.documentSpec({
          target: "i-1",
          documentName: "AWS-StartPortForwardingSession",
          parameters: { portNumber: [String(destination)] }
        }))
        const child = yield* spawnCli("sessionManagerPlugin", [
          "AWS_SSM_START_SESSION_RESPONSE",
          "us-east-1",
          "StartSession",
          "",
          request(destination),
          "https://127.0.0.1:9/"
        ], { env: { AWS_SSM_START_SESSION_RESPONSE: responseJson(response) } })
        const [, port] = yield* waitForOutput(child, /Port (\d+) opened for sessionId /)
        // the token is nowhere on the command line, which every local user can read
        if (Fs.existsSync(`/proc/${child.pid}/cmdline`)) {
          assert.notInclude(Fs.readFileSync(`/proc/${child.pid}/cmdline`, "utf8"), Redacted.value(response.TokenValue))
        }
        const data = pseudoRandomBytes(100 * 1024, 4)
        assert.strictEqual(sha256Hex(yield* roundTrip(Number(port), data)), sha256Hex(data))
        child.kill("SIGINT")
        assert.strictEqual(yield* exitCode(child), 0)
        const stats = yield* simulator.sessionStats(response.SessionId)
        assert.strictEqual(stats?.terminateFlags, 1)
      }), 60_000)

    it("checkStreamUrl: wss: anywhere, ws: only to loopback (127.0.0.0/8, ::1, localhost); nothing else", () => {
      for (
        const url of [
          "wss://ssmmessages.eu-west-1.amazonaws.com/v1/data-channel/s-1?role=publish_subscribe",
          "ws://127.0.0.1:8080/v1/data-channel/s-1",
          "ws://127.9.8.7/v1/data-channel/s-1",
          "ws://[::1]:8080/v1/data-channel/s-1",
          "ws://localhost:8080/v1/data-channel/s-1"
        ]
      ) assert.isTrue(Either.isRight(checkStreamUrl(url)), url)
      for (
        const url of [
          "ws://example.com/v1/data-channel/s-1",
          "ws://10.0.0.1/v1/data-channel/s-1",
          "ws://128.0.0.1/v1/data-channel/s-1",
          "ws://localhost.example.com/v1/data-channel/s-1",
          "http://127.0.0.1/v1/data-channel/s-1",
          "https://ssmmessages.eu-west-1.amazonaws.com/",
          "ws+unix:/tmp/socket:/v1/data-channel/s-1",
          "",
          "wss:"
        ]
      ) assert.isTrue(Either.isLeft(checkStreamUrl(url)), url)
    })

    it.scopedLive("a StreamUrl other than wss:, or ws: to loopback, is one error line and exit 1, before any connection", () =>
      Effect.gen(function*() {
        // listeners the refused URLs point to: a TCP port and a Unix socket, counting connections
        let connections = 0
        const count = (server: Net.Server) => server.on("connection", (socket) => {
          connections++
          socket.destroy()
        })
        const tcp = yield* Effect.acquireRelease(
          Effect.async<Net.Server>((resume) => {
            const server = count(Net.createServer())
            server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
          }),
          (server) => Effect.sync(() => server.close())
        )
        const port = (tcp.address() as Net.AddressInfo).port
        const dir = yield* Effect.acquireRelease(
          Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "ssm-streamurl-"))),
          (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
        )
        const socket = Path.join(dir, "s")
        yield* Effect.acquireRelease(
          Effect.async<Net.Server>((resume) => {
            const server = count(Net.createServer())
            server.listen(socket, () => resume(Effect.succeed(server)))
          }),
          (server) => Effect.sync(() => server.close())
        )
        const refused = [
          `http://127.0.0.1:${port}/v1/data-channel/s-1`,
          `ws+unix:${socket}:/v1/data-channel/s-1`,
          "ws://example.com/v1/data-channel/s-1",
          "file:///etc/passwd",
          "not a url"
        ]
        const results = yield* Effect.forEach(refused, (streamUrl) =>
          Effect.gen(function*() {
            const child = yield* spawnCli("sessionManagerPlugin", [
              "AWS_SSM_START_SESSION_RESPONSE",
              "us-east-1",
              "StartSession",
              "",
              request(port),
              "https://127.0.0.1:9/"
            ], {
              env: {
                AWS_SSM_START_SESSION_RESPONSE: JSON.stringify({ SessionId: "s-1", TokenValue: "secret-token", StreamUrl: streamUrl })
              }
            })
            const output = collectOutput(child)
            const code = yield* exitCode(child)
            yield* Effect.async<void>((resume) => {
              if (child.stderr!.readableEnded) return resume(Effect.void)
              child.stderr!.once("end", () => resume(Effect.void))
            })
            return { streamUrl, code, stderr: output.stderr() }
          }), { concurrency: 2 })
        for (const { code, stderr, streamUrl } of results) {
          assert.strictEqual(code, 1, `${streamUrl}: ${stderr}`)
          const lines = stderr.trim().split("\n")
          assert.strictEqual(lines.length, 1, `${streamUrl}: ${stderr}`)
          assert.match(lines[0]!, /StreamUrl .*(is not wss:|is not a URL)/)
          assert.notInclude(stderr, "secret-token")
        }
        assert.strictEqual(connections, 0)
      }), 60_000)

    it.scopedLive("a standard-stream session (AWS-StartSSHSession) over stdin and stdout, 1 MiB intact", () =>
      Effect.gen(function*() {
        const destination = yield* echoServer
        const simulator = yield* AgentSimulator.make({ messagesPerSecond: 0 })
        const response = yield* simulator.startSession(AgentSimulator.documentSpec({
          target: "i-1",
          documentName: "AWS-StartSSHSession",
          parameters: { portNumber: [String(destination)] }
        }))
        const child = yield* spawnCli("sessionManagerPlugin", [
          responseJson(response),
          "us-east-1",
          "StartSession",
          "default",
          request(destination, "AWS-StartSSHSession"),
          "https://127.0.0.1:9/"
        ], { stdin: "pipe" })
        const data = pseudoRandomBytes(1024 * 1024, 5)
        assert.strictEqual(sha256Hex(yield* echoThroughStdio(child, data)), sha256Hex(data))
      }), 60_000)

    it.scopedLive("a shell session (no document) and a command session (AWS-StartNonInteractiveCommand)", () =>
      Effect.gen(function*() {
        const simulator = yield* AgentSimulator.make({ messagesPerSecond: 0 })
        const shell = yield* simulator.startSession(AgentSimulator.documentSpec({ target: "i-1" }))
        const shellChild = yield* spawnCli("sessionManagerPlugin", [
          responseJson(shell),
          "us-east-1",
          "StartSession",
          "",
          JSON.stringify({ Target: "i-1" }),
          ""
        ], { stdin: "pipe" })
        shellChild.stdin!.write("echo :sh''ell-$((40 + 2))\nexit\n")
        yield* waitForOutput(shellChild, /:shell-42/)
        assert.strictEqual(yield* exitCode(shellChild), 0)

        const command = yield* simulator.startSession(AgentSimulator.documentSpec({
          target: "i-1",
          documentName: "AWS-StartNonInteractiveCommand",
          parameters: { command: ["echo from-the-command"] }
        }))
        const commandChild = yield* spawnCli("sessionManagerPlugin", [
          responseJson(command),
          "us-east-1",
          "StartSession",
          "",
          JSON.stringify({ Target: "i-1", DocumentName: "AWS-StartNonInteractiveCommand" }),
          ""
        ])
        yield* waitForOutput(commandChild, /from-the-command\n/)
        assert.strictEqual(yield* exitCode(commandChild), 0)
      }), 60_000)

    it.scopedLive("no arguments, --version, and bad arguments", () =>
      Effect.gen(function*() {
        const bare = yield* spawnCli("sessionManagerPlugin", [])
        yield* waitForOutput(bare, /The Session Manager plugin was installed successfully/)
        assert.strictEqual(yield* exitCode(bare), 0)
        const version = yield* spawnCli("sessionManagerPlugin", ["--version"])
        yield* waitForOutput(version, /^1\.2\.694\.0\n/)
        assert.strictEqual(yield* exitCode(version), 0)
        const bad = yield* spawnCli("sessionManagerPlugin", ["{}", "us-east-1", "StartSession", "", "{}", ""])
        assert.strictEqual(yield* exitCode(bad), 1)
      }), 60_000)
  })
})

describe("CLI exec and ssh-proxy", () => {
  it.scopedLive("exec --simulator: stdout, stderr and the remote exit code become the process's", () =>
    Effect.gen(function*() {
      for (const code of [0, 1, 42]) {
        const child = yield* spawnCli("main", ["exec", "--simulator", "--", "sh", "-c", `echo out; echo err >&2; exit ${code}`])
        let stderr = ""
        child.stderr!.on("data", (data: Buffer) => stderr += data.toString())
        const [stdout] = yield* waitForOutput(child, /out\n/)
        assert.strictEqual(stdout, "out\n")
        assert.strictEqual(yield* exitCode(child), code)
        assert.strictEqual(stderr, "err\n")
      }
    }), 60_000)

  it.scopedLive("exec: the first Ctrl-C says on stderr that SIGINT went to the remote command's process, and only to it", () =>
    Effect.gen(function*() {
      // the agent signals the shell alone: the `sleep` it waits for runs its 2 s; then the shell ends (dash, as
      // killed by SIGINT; bash goes on to `exit 7`) and the agent reports exit code 1 (see RemoteCommand.signal)
      const child = yield* spawnCli("main", ["exec", "--simulator", "--", "echo started; sleep 2; exit 7"])
      const output = collectOutput(child)
      yield* waitForOutput(child, /started\n/)
      const interrupted = Date.now()
      child.kill("SIGINT")
      assert.strictEqual(yield* exitCode(child), 1)
      assert.isAtLeast(Date.now() - interrupted, 1500)
      assert.strictEqual(output.stderr(), `${FIRST_INTERRUPT_LINE}\n`)
    }), 60_000)

  it.scopedLive("exec: a second Ctrl-C abandons the command: the session is terminated, the command ended, exit 130", () =>
    Effect.gen(function*() {
      const dir = yield* Effect.acquireRelease(
        Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "ssm-abandon-"))),
        (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
      )
      const pidFile = Path.join(dir, "pid")
      // a command that ignores SIGINT
      const child = yield* spawnCli("main", ["exec", "--simulator", "--", `echo $$ > ${pidFile}; trap '' INT; echo started; sleep 60`])
      const output = collectOutput(child)
      yield* waitForOutput(child, /started\n/)
      child.kill("SIGINT")
      yield* pollUntil(Effect.sync(output.stderr), (text) => text.includes(FIRST_INTERRUPT_LINE), {
        every: "20 millis",
        times: 250,
        what: "the first Ctrl-C's line"
      })
      const abandoned = Date.now()
      child.kill("SIGINT")
      assert.strictEqual(yield* exitCode(child), 130)
      // TerminateSession through the API at once (the flag would wait for an agent that reads no more input)
      assert.isBelow(Date.now() - abandoned, 2000)
      assert.strictEqual(output.stderr(), `${FIRST_INTERRUPT_LINE}\n${ABANDON_LINE}\n`)
      const pid = Number(Fs.readFileSync(pidFile, "utf8"))
      const alive = () => {
        try {
          process.kill(pid, 0)
          return true
        } catch {
          return false
        }
      }
      assert.isFalse(alive(), "the remote command is gone with its session")
    }), 60_000)

  it.effect("exec: an abandoned command's session ends through ssm:TerminateSession", () =>
    Effect.gen(function*() {
      const terminated: Array<string> = []
      const api = {
        terminateSession: (sessionId: string) => Effect.sync(() => void terminated.push(sessionId))
      } as unknown as SsmApi.SsmApi
      yield* terminateAbandoned({ sessionId: "s-1" } as Session.Session).pipe(Effect.provideService(SsmApi.SsmApi, api))
      assert.deepStrictEqual(terminated, ["s-1"])
    }))

  it.scopedLive("ssh-proxy --simulator: an SSH-style byte stream over stdin and stdout, 4 MiB intact", () =>
    Effect.gen(function*() {
      const destination = yield* echoServer
      const child = yield* spawnCli("main", ["ssh-proxy", "--simulator", "--port", String(destination)], { stdin: "pipe" })
      const data = pseudoRandomBytes(4 * 1024 * 1024, 6)
      assert.strictEqual(sha256Hex(yield* echoThroughStdio(child, data)), sha256Hex(data))
      // stdin's end ends the session and the process once the destination has been quiet for 2 s (a reply to the
      // last request still arrives); ssh itself ends its ProxyCommand with SIGHUP
      child.stdin!.end()
      assert.strictEqual(yield* exitCode(child), 0)
    }), 60_000)
})
