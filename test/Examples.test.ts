/**
 * The examples, run against the agent simulator standing in for AWS (SsmApi and the instance): the functions
 * imported, the whole programs as processes.
 */
import { assert, describe, it } from "@effect/vitest"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { Effect, Stream } from "effect"
import * as NodePortForwarding from "../src/NodePortForwarding.js"
import { lineCount, remoteHash, uploadBackup } from "../examples/copy-files.js"
import { diskUsage } from "../examples/exec.js"
import { fileFromTask, forwardToTask, runInService } from "../examples/ecs-exec.js"
import { getThroughInstance } from "../examples/in-process.js"
import { forwardToInstance } from "../examples/forward-port.js"
import { fastDatabase } from "../examples/pool.js"
import { forwardToDatabase } from "../examples/remote-host.js"
import { proxyInto } from "../examples/socks.js"
import { simulatedAwsLayer } from "./utils/aws.js"
import { pseudoRandomBytes, sha256Hex } from "./utils/bytes.js"
import { root } from "./utils/cli.js"
import * as HttpUtil from "./utils/http.js"
import { echoServer, roundTrip } from "./utils/tcp.js"

const simulatedAws = simulatedAwsLayer()

/** Runs an example as a program (`node examples/x.ts`, from the sources) to its end: its exit code and output. */
const runProgram = (file: string) =>
  Effect.async<{ readonly code: number | null; readonly stdout: string; readonly stderr: string }, Error>((resume) => {
    const child = ChildProcess.execFile(
      process.execPath,
      ["--conditions=ssm-session-manager-source", "--import", "tsx", Path.join(root, file)],
      { cwd: root, timeout: 50_000 },
      (error, stdout, stderr) =>
        error !== null && typeof error.code !== "number"
          ? resume(Effect.fail(new Error(`${file}: ${error.message}\n${stderr}`)))
          : resume(Effect.succeed({ code: error === null ? 0 : error.code as number, stdout, stderr }))
    )
    return Effect.sync(() => child.kill("SIGKILL"))
  })

const httpServer = HttpUtil.httpServer((request, response) => response.end(`you asked for ${request.url}`))

describe("examples", () => {
  it.scopedLive("forward-port.ts: a local port to a port of the instance", () =>
    Effect.gen(function*() {
      const destination = yield* echoServer
      const { listener } = yield* forwardToInstance("i-0123456789abcdef0", destination, 0)
      assert.strictEqual(listener.address._tag, "Tcp")
      const data = pseudoRandomBytes(64 * 1024, 9)
      assert.strictEqual(sha256Hex(yield* roundTrip(listener.port, data)), sha256Hex(data))
    }).pipe(Effect.provide(simulatedAws)))

  it.scopedLive("remote-host.ts: a host behind the instance on an ephemeral local port", () =>
    Effect.gen(function*() {
      const destination = yield* echoServer
      const address = yield* forwardToDatabase("i-1", "127.0.0.1", destination)
      const port = address._tag === "Tcp" ? address.port : 0
      const data = pseudoRandomBytes(4096, 10)
      assert.strictEqual(sha256Hex(yield* roundTrip(port, data)), sha256Hex(data))
    }).pipe(Effect.provide(simulatedAws)))

  it.scopedLive("pool.ts: a target by name, 4 sessions, each connection through the least-loaded", () =>
    Effect.gen(function*() {
      const destination = yield* echoServer
      const { address, pool } = yield* fastDatabase("simulated", "127.0.0.1", destination)
      const port = address._tag === "Tcp" ? address.port : 0
      const data = Array.from({ length: 4 }, (_, i) => pseudoRandomBytes(64 * 1024, 20 + i))
      const back = yield* Effect.forEach(data, (bytes) => roundTrip(port, bytes), { concurrency: "unbounded" })
      assert.deepStrictEqual(back.map(sha256Hex), data.map(sha256Hex))
      const stats = yield* pool.stats
      assert.strictEqual(stats.sessions, 4)
      assert.strictEqual(stats.connections, 4)
    }).pipe(Effect.provide(simulatedAws)))

  it.scopedLive("copy-files.ts: a file up over 4 sessions, a remote file's lines as a stream, a hash of our bytes", () =>
    Effect.gen(function*() {
      const dir = yield* Effect.acquireRelease(
        Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "ssm-example-cp-"))),
        (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
      )
      const data = pseudoRandomBytes(300 * 1024, 30)
      const local = Path.join(dir, "backup.bin")
      Fs.writeFileSync(local, data)
      Fs.mkdirSync(Path.join(dir, "remote"))
      const uploaded = yield* uploadBackup("i-1", local, `${Path.join(dir, "remote")}/`)
      assert.strictEqual(uploaded.sha256, sha256Hex(data))
      assert.strictEqual(sha256Hex(Fs.readFileSync(uploaded.remotePath)), sha256Hex(data))
      assert.strictEqual(uploaded.remotePath, Path.join(dir, "remote", "backup.bin"))
      const text = Path.join(dir, "log.txt")
      Fs.writeFileSync(text, "one\ntwo\nthree\n")
      assert.strictEqual(yield* lineCount("i-1", text), 3)
      assert.deepStrictEqual(yield* remoteHash("i-1", data), { hash: sha256Hex(data), exitCode: 0 })
    }).pipe(Effect.provide(simulatedAws)), 60_000)

  it.scopedLive("socks.ts: curl through the proxy reaches a server by the instance's name for it", () =>
    Effect.gen(function*() {
      const port = yield* httpServer
      const address = yield* proxyInto("i-1")
      const body = yield* Effect.async<string, Error>((resume) => {
        ChildProcess.execFile("curl", ["-sS", "--socks5-hostname", `${address.host}:${address.port}`, `http://localhost:${port}/via-socks`], (error, stdout) =>
          resume(error === null ? Effect.succeed(stdout) : Effect.fail(error)))
      })
      assert.strictEqual(body, "you asked for /via-socks")
    }).pipe(Effect.provide(simulatedAws)))

  it.scopedLive("in-process.ts: an HTTP request through the tunnel without any local port", () =>
    Effect.gen(function*() {
      const port = yield* httpServer
      const response = yield* getThroughInstance("i-1", port, "/status")
      assert.match(response, /^HTTP\/1\.1 200 OK\r\n/)
      assert.include(response, "you asked for /status")
    }).pipe(Effect.provide(simulatedAws)))

  it.scopedLive("ecs-exec.ts: a command in a service's container with stdin and its exit code, a file, a task's port", () =>
    Effect.gen(function*() {
      // the simulator's ECS world: cluster sim, service web, one task whose container is this machine
      const input = pseudoRandomBytes(100_000, 31)
      const result = yield* runInService("sim", "web", "sha256sum; exit 4", Stream.make(input))
      assert.deepStrictEqual(result, {
        task: "0123456789abcdef0123456789abcdef",
        exitCode: 4,
        stdout: `${sha256Hex(input)}  -\n`
      })
      const dir = yield* Effect.acquireRelease(
        Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "ssm-example-ecs-"))),
        (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
      )
      Fs.writeFileSync(Path.join(dir, "report.csv"), input)
      const bytes = yield* fileFromTask("sim", "0123456789abcdef0123456789abcdef", Path.join(dir, "report.csv"))
      assert.strictEqual(sha256Hex(Buffer.concat(bytes)), sha256Hex(input))
      const destination = yield* echoServer
      const forwarding = yield* forwardToTask("sim", "web", destination)
      const listener = yield* NodePortForwarding.listen(forwarding, { port: 0 })
      const data = pseudoRandomBytes(64 * 1024, 32)
      assert.strictEqual(sha256Hex(yield* roundTrip(listener.port, data)), sha256Hex(data))
    }).pipe(Effect.provide(simulatedAws)))

  it.scopedLive("exec.ts: a command's output and exit code as a value", () =>
    Effect.gen(function*() {
      const result = yield* diskUsage("i-1")
      assert.match(result.usage ?? "", /^\d+%$/)
      assert.strictEqual(result.exitCode, 3)
      assert.strictEqual(result.stderr, "")
    }).pipe(Effect.provide(simulatedAws)))

  it.live("simulator-port-forwarding.ts: a whole program forwards a local port through the simulator to a web server", () =>
    Effect.gen(function*() {
      const { code, stderr, stdout } = yield* runProgram("examples/simulator-port-forwarding.ts")
      assert.strictEqual(code, 0, stderr)
      const [forwarding, answer] = stdout.trimEnd().split("\n")
      assert.match(forwarding ?? "", /^127\.0\.0\.1:\d+ -> i-simulated:\d+ \(Mux\)$/)
      assert.strictEqual(answer, "came back: the instance answers /hello")
    }), 60_000)

  it.live("simulator-exec.ts: a whole program runs a command through the simulator and passes its exit code on", () =>
    Effect.gen(function*() {
      const { code, stderr, stdout } = yield* runProgram("examples/simulator-exec.ts")
      assert.strictEqual(stdout, "exit code 3, stdout \"out\\n\", stderr \"err\\n\"\n", stderr)
      assert.strictEqual(code, 3)
    }), 60_000)
})
