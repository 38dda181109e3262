/**
 * The command-line bins as installed: one CommonJS bundle per entry started by a launcher through V8's code
 * cache (scripts/bundle-cli.mjs, scripts/launch.mjs), bundled here from the sources as they stand. The plugin
 * bundle forwards a port through the simulator without loading the AWS SDK; the code cache is written to the
 * user's own cache directory, used on the next start, and left alone where another user could write it.
 */
import { assert, beforeAll, describe, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as AgentSimulator from "../src/AgentSimulator.js"
import { exitCode, root, waitForOutput } from "./utils/cli.js"
import { echoServer, roundTrip } from "./utils/tcp.js"

// inside the project, so that the bundles find the packages they leave outside (the AWS SDK) in node_modules
const bins = Path.join(root, "node_modules", ".cache", `bins-test-${process.pid}`)

beforeAll(async () => {
  const { bundle } = await import(Path.join(root, "scripts", "bundle-cli.mjs")) as {
    readonly bundle: (options: { readonly outdir: string; readonly fromSource: boolean }) => Promise<void>
  }
  await bundle({ outdir: bins, fromSource: true })
  return () => Fs.rmSync(bins, { recursive: true, force: true })
}, 60_000)

/** A cache directory for the scope; `mode` as given (0700 is what the launcher makes). */
const cacheHome = (mode = 0o700) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "ssm-bins-"))
      Fs.mkdirSync(Path.join(dir, "ssm-session-manager"), { mode })
      Fs.chmodSync(Path.join(dir, "ssm-session-manager"), mode)
      return dir
    }),
    (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
  )

/** Runs a bundled bin for the scope (SIGINT at its end), with `env` added. */
const spawnBin = (name: "main" | "sessionManagerPlugin", args: ReadonlyArray<string>, env: Record<string, string>) =>
  Effect.acquireRelease(
    Effect.sync(() =>
      ChildProcess.spawn(process.execPath, [Path.join(bins, `${name}.js`), ...args], {
        env: { ...process.env, ...env },
        stdio: ["ignore", "pipe", "pipe"]
      })
    ),
    (child) => Effect.sync(() => child.exitCode === null && child.kill("SIGINT"))
  )

const collect = (stream: NodeJS.ReadableStream) => {
  let text = ""
  stream.on("data", (data: Buffer) => (text += data.toString()))
  return () => text
}

const cacheFiles = (home: string) => Fs.readdirSync(Path.join(home, "ssm-session-manager"))

describe("the bundled bins", () => {
  it.scopedLive("the plugin bundle forwards a port through the simulator and loads no AWS SDK to do it", () =>
    Effect.gen(function*() {
      const home = yield* cacheHome()
      const destination = yield* echoServer
      const simulator = yield* AgentSimulator.make({ messagesPerSecond: 0 })
      const response = yield* simulator.startSession({
        plugin: AgentSimulator.portPlugin(),
        properties: { portNumber: String(destination), type: "LocalPortForwarding" }
      })
      const child = yield* spawnBin("sessionManagerPlugin", [
        JSON.stringify({ SessionId: response.SessionId, TokenValue: Redacted.value(response.TokenValue), StreamUrl: response.StreamUrl }),
        "us-east-1",
        "StartSession",
        "",
        JSON.stringify({ Target: "i-1", DocumentName: "AWS-StartPortForwardingSession", Parameters: { portNumber: [String(destination)] } }),
        simulator.endpoint
      ], { XDG_CACHE_HOME: home, NODE_DEBUG: "module" })
      const stderr = collect(child.stderr!)
      const [, port] = yield* waitForOutput(child, /Port (\d+) opened/)
      const echoed = yield* roundTrip(Number(port), new TextEncoder().encode("through the bundle"))
      assert.strictEqual(new TextDecoder().decode(echoed), "through the bundle")
      child.kill("SIGINT")
      assert.strictEqual(yield* exitCode(child), 0, stderr())
      // NODE_DEBUG=module names every package required: none of the SDK's
      assert.notInclude(stderr(), "@aws-sdk")
      assert.deepStrictEqual(cacheFiles(home).filter((file) => file.startsWith("sessionManagerPlugin.cjs-")).length, 1)
    }), 60_000)

  it.scopedLive("a start writes the code cache once; the next start uses it and leaves it as it is", () =>
    Effect.gen(function*() {
      const home = yield* cacheHome()
      const version = (yield* outputs(yield* spawnBin("sessionManagerPlugin", ["--version"], { XDG_CACHE_HOME: home })))
      assert.strictEqual(version.stdout.trim(), "1.2.694.0", version.stderr)
      const [file] = cacheFiles(home)
      assert.match(file!, /^sessionManagerPlugin\.cjs-v\d+\.\d+\.\d+-[0-9a-f]{32}\.cache$/)
      const path = Path.join(home, "ssm-session-manager", file!)
      assert.strictEqual(Fs.statSync(path).mode & 0o777, 0o600)
      const written = Fs.statSync(path).mtimeMs
      const again = yield* outputs(yield* spawnBin("sessionManagerPlugin", ["--version"], { XDG_CACHE_HOME: home }))
      assert.strictEqual(again.stdout.trim(), "1.2.694.0", again.stderr)
      // accepted by V8: not written again
      assert.strictEqual(Fs.statSync(path).mtimeMs, written)
      assert.deepStrictEqual(cacheFiles(home), [file])
    }), 60_000)

  it.scopedLive("a cache directory others can write to is not used: the bin compiles as usual and writes nothing", () =>
    Effect.gen(function*() {
      const home = yield* cacheHome(0o777)
      const version = yield* outputs(yield* spawnBin("sessionManagerPlugin", ["--version"], { XDG_CACHE_HOME: home }))
      assert.strictEqual(version.code, 0, version.stderr)
      assert.strictEqual(version.stdout.trim(), "1.2.694.0")
      assert.deepStrictEqual(cacheFiles(home), [])
      const disabled = yield* cacheHome()
      const plain = yield* outputs(yield* spawnBin("main", ["--version"], { XDG_CACHE_HOME: disabled, NODE_DISABLE_COMPILE_CACHE: "1" }))
      assert.strictEqual(plain.code, 0, plain.stderr)
      assert.deepStrictEqual(cacheFiles(disabled), [])
    }), 60_000)
})

/** A child's stdout and stderr once it exits, with its code. */
const outputs = (child: ChildProcess.ChildProcess) =>
  Effect.gen(function*() {
    const stdout = collect(child.stdout!)
    const stderr = collect(child.stderr!)
    const code = yield* exitCode(child)
    yield* Effect.async<void>((resume) => {
      if (child.stdout!.readableEnded) return resume(Effect.void)
      child.stdout!.once("end", () => resume(Effect.void))
    })
    return { code, stdout: stdout(), stderr: stderr() }
  })
