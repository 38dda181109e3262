/**
 * The command-line bins as installed: one CommonJS bundle per entry, loaded by a launcher through Node's own module
 * loader with Node's compile cache on (scripts/bundle-cli.mjs, scripts/launch.mjs), bundled here from the sources as
 * they stand and run on `SSM_BINS_NODE` (default: the Node running the tests). The plugin bundle forwards a port
 * through the simulator without loading the AWS SDK; the main bundle loads the SDK and gets as far as a connection
 * error. Where the Node has a compile cache (22.1 and later), it is written to the user's own cache
 * directory (a subdirectory per Node version), used on the next start, recompiled when its bytes are damaged,
 * cleared of links, odd files and oversized entries before Node reads it, emptied above its bound, and left alone
 * where another user could write it or the directory is another user's; on Node 20 nothing is cached. The cache
 * tests do something only on Node 22.1+: run them with `SSM_BINS_NODE` (or that Node first on the PATH).
 */
import { assert, beforeAll, describe, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as AgentSimulator from "../src/AgentSimulator.js"
import { exitCode, root, waitForOutput } from "./utils/cli.js"
import { closedPort, echoServer, roundTrip } from "./utils/tcp.js"

/** The Node that runs the bins, and whether it has a compile cache (`module.enableCompileCache`, Node 22.1+). */
const node = process.env["SSM_BINS_NODE"] ?? process.execPath
const compileCache = ChildProcess.execFileSync(node, ["-p", "typeof require('node:module').enableCompileCache"], {
  encoding: "utf8"
}).trim() === "function"
const nodeVersion = ChildProcess.execFileSync(node, ["--version"], { encoding: "utf8" }).trim()

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
      ChildProcess.spawn(node, [Path.join(bins, `${name}.js`), ...args], {
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

/** What the launcher's cache directory holds: Node's subdirectories (one per Node version and V8 flags). */
const cacheEntries = (home: string) => Fs.readdirSync(Path.join(home, "ssm-session-manager"))

/** The cache files of this Node's subdirectory, by path. */
const cacheFiles = (home: string) =>
  cacheEntries(home)
    .filter((entry) => entry.startsWith(`${nodeVersion}-`))
    .flatMap((entry) => Fs.readdirSync(Path.join(home, "ssm-session-manager", entry)).map((file) => Path.join(home, "ssm-session-manager", entry, file)))

/** Node's own account of its compile cache, on stderr. */
const debugCache = { NODE_DEBUG_NATIVE: "COMPILE_CACHE" }

describe(`the bundled bins on Node ${nodeVersion}`, () => {
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
      // and every built-in module: not zlib, which ws loads for the per-message deflate we turn off
      assert.include(stderr(), "REQUEST https ")
      assert.notMatch(stderr(), /REQUEST (node:)?zlib /)
      assert.strictEqual(cacheFiles(home).length, compileCache ? 1 : 0)
    }), 60_000)

  it.scopedLive("the main bundle loads the AWS SDK when it calls AWS: a connection error, not a loader error", () =>
    Effect.gen(function*() {
      const home = yield* cacheHome()
      const port = yield* closedPort
      // twice: the second start runs from the compile cache, where Node has one (the first launcher ran the bundle
      // through vm.Script, which had no dynamic-import callback for the SDK's import(), and with one Node 20 lost
      // it on the start that used the code cache)
      for (const run of ["first", "cached"]) {
        const result = yield* outputs(yield* spawnBin("main", [
          "exec",
          "--target",
          "i-0123456789abcdef0",
          "--endpoint",
          `http://127.0.0.1:${port}`,
          "--",
          "true"
        ], {
          XDG_CACHE_HOME: home,
          AWS_ACCESS_KEY_ID: "AKIDBINSTEST",
          AWS_SECRET_ACCESS_KEY: "secret",
          AWS_REGION: "us-east-1",
          AWS_MAX_ATTEMPTS: "1",
          AWS_CONFIG_FILE: Path.join(home, "none"),
          AWS_SHARED_CREDENTIALS_FILE: Path.join(home, "none")
        }))
        assert.strictEqual(result.code, 1, `${run}: ${result.stderr}`)
        assert.notInclude(result.stderr, "dynamic import", run)
        assert.include(result.stderr, `ECONNREFUSED 127.0.0.1:${port}`, `${run}: ${result.stderr}`)
      }
    }), 60_000)

  it.scopedLive("the compile cache: written once to the user's own directory, used by the next start, left as it is", () =>
    Effect.gen(function*() {
      const home = yield* cacheHome()
      const first = yield* outputs(yield* spawnBin("sessionManagerPlugin", ["--version"], { XDG_CACHE_HOME: home, ...debugCache }))
      assert.strictEqual(first.code, 0, first.stderr)
      assert.strictEqual(first.stdout.trim(), "1.2.694.0", first.stderr)
      if (!compileCache) {
        // Node 20: compiled as usual, nothing written
        assert.deepStrictEqual(cacheEntries(home), [])
        return
      }
      // Node's subdirectory for this version, one file for the bundle, the user's alone
      assert.strictEqual(cacheEntries(home).length, 1)
      assert.match(cacheEntries(home)[0]!, new RegExp(`^${nodeVersion.replaceAll(".", "\\.")}-`))
      const [file] = cacheFiles(home)
      assert.strictEqual(cacheFiles(home).length, 1)
      assert.strictEqual(Fs.statSync(file!).mode & 0o077, 0)
      assert.strictEqual(Fs.statSync(Path.join(home, "ssm-session-manager")).mode & 0o777, 0o700)
      const written = Fs.readFileSync(file!)
      const again = yield* outputs(yield* spawnBin("sessionManagerPlugin", ["--version"], { XDG_CACHE_HOME: home, ...debugCache }))
      assert.strictEqual(again.stdout.trim(), "1.2.694.0", again.stderr)
      // read and accepted: not compiled, not written again
      assert.match(again.stderr, /cache for .*sessionManagerPlugin\.cjs was accepted/)
      assert.deepStrictEqual(Fs.readFileSync(file!), written)
      assert.deepStrictEqual(cacheFiles(home), [file])
    }), 60_000)

  it.scopedLive("a cache file with bytes changed inside: Node's checksum rejects it, the bin compiles and rewrites it", () =>
    Effect.gen(function*() {
      const home = yield* cacheHome()
      const first = yield* outputs(yield* spawnBin("main", ["--version"], { XDG_CACHE_HOME: home }))
      assert.strictEqual(first.code, 0, first.stderr)
      if (!compileCache) return assert.deepStrictEqual(cacheEntries(home), [])
      const [file] = cacheFiles(home)
      const damaged = Fs.readFileSync(file!)
      // past the header, through the code: every 997th byte inverted
      for (let i = 64; i < damaged.length; i += 997) damaged[i] = damaged[i]! ^ 0xff
      Fs.writeFileSync(file!, damaged)
      const second = yield* outputs(yield* spawnBin("main", ["--version"], { XDG_CACHE_HOME: home, ...debugCache }))
      assert.strictEqual(second.code, 0, second.stderr)
      assert.strictEqual(second.stdout, first.stdout)
      assert.match(second.stderr, /mismatch/)
      assert.notDeepEqual(Fs.readFileSync(file!), damaged)
      const third = yield* outputs(yield* spawnBin("main", ["--version"], { XDG_CACHE_HOME: home, ...debugCache }))
      assert.strictEqual(third.stdout, first.stdout, third.stderr)
      assert.match(third.stderr, /was accepted/)
    }), 60_000)

  it.scopedLive("links and oversized entries in the cache are removed before Node reads it; nothing is read through them", () =>
    Effect.gen(function*() {
      const home = yield* cacheHome()
      const first = yield* outputs(yield* spawnBin("sessionManagerPlugin", ["--version"], { XDG_CACHE_HOME: home }))
      assert.strictEqual(first.code, 0, first.stderr)
      if (!compileCache) return assert.deepStrictEqual(cacheEntries(home), [])
      const cache = Path.join(home, "ssm-session-manager")
      const [file] = cacheFiles(home)
      const good = Fs.readFileSync(file!)
      // an entry that is a link to a valid entry elsewhere: Node would accept it through the link
      const elsewhere = Path.join(home, "elsewhere")
      Fs.writeFileSync(elsewhere, good)
      Fs.rmSync(file!)
      Fs.symlinkSync(elsewhere, file!)
      // a link to /dev/zero, a FIFO and an oversized (sparse) file beside it
      const subdirectory = Path.dirname(file!)
      Fs.symlinkSync("/dev/zero", Path.join(subdirectory, "0000zero"))
      ChildProcess.execFileSync("mkfifo", [Path.join(subdirectory, "0000fifo")])
      Fs.closeSync(Fs.openSync(Path.join(subdirectory, "0000huge"), "w"))
      Fs.truncateSync(Path.join(subdirectory, "0000huge"), 17 * 1024 * 1024)
      // a version subdirectory that is a link to a directory elsewhere, and a stray file at the top
      const outside = Fs.mkdtempSync(Path.join(Os.tmpdir(), "ssm-bins-outside-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => Fs.rmSync(outside, { recursive: true, force: true })))
      Fs.symlinkSync(outside, Path.join(cache, "v0.0.0-x64-00000000-0"))
      Fs.writeFileSync(Path.join(cache, "stray"), "")
      const second = yield* outputs(yield* spawnBin("sessionManagerPlugin", ["--version"], { XDG_CACHE_HOME: home, ...debugCache }))
      assert.strictEqual(second.code, 0, second.stderr)
      assert.strictEqual(second.stdout.trim(), "1.2.694.0", second.stderr)
      // not read through the link: compiled and written afresh, as a plain file
      assert.notMatch(second.stderr, /was accepted/)
      assert.isTrue(Fs.lstatSync(file!).isFile())
      assert.deepStrictEqual(Fs.readFileSync(elsewhere), good)
      assert.deepStrictEqual(Fs.readdirSync(subdirectory), [Path.basename(file!)])
      assert.deepStrictEqual(cacheEntries(home), [Path.basename(subdirectory)])
      assert.deepStrictEqual(Fs.readdirSync(outside), [])
    }), 60_000)

  it.scopedLive("a cache above its bound in total is emptied before use", () =>
    Effect.gen(function*() {
      const home = yield* cacheHome()
      const first = yield* outputs(yield* spawnBin("sessionManagerPlugin", ["--version"], { XDG_CACHE_HOME: home }))
      assert.strictEqual(first.code, 0, first.stderr)
      if (!compileCache) return assert.deepStrictEqual(cacheEntries(home), [])
      // an old Node version's subdirectory: five entries each under the bound per entry, 75 MiB in all (sparse)
      const old = Path.join(home, "ssm-session-manager", "v0.0.0-x64-00000000-0")
      Fs.mkdirSync(old)
      for (let i = 0; i < 5; i++) {
        Fs.closeSync(Fs.openSync(Path.join(old, `entry${i}`), "w"))
        Fs.truncateSync(Path.join(old, `entry${i}`), 15 * 1024 * 1024)
      }
      const second = yield* outputs(yield* spawnBin("sessionManagerPlugin", ["--version"], { XDG_CACHE_HOME: home, ...debugCache }))
      assert.strictEqual(second.code, 0, second.stderr)
      assert.notMatch(second.stderr, /was accepted/)
      assert.isFalse(Fs.existsSync(old))
      assert.strictEqual(cacheFiles(home).length, 1)
    }), 60_000)

  it.scopedLive("a cache directory others can write to, or another user's, is not used: the bin compiles as usual", () =>
    Effect.gen(function*() {
      const open = yield* cacheHome(0o777)
      const version = yield* outputs(yield* spawnBin("sessionManagerPlugin", ["--version"], { XDG_CACHE_HOME: open }))
      assert.strictEqual(version.code, 0, version.stderr)
      assert.strictEqual(version.stdout.trim(), "1.2.694.0")
      assert.deepStrictEqual(cacheEntries(open), [])
      if (process.getuid?.() === 0) {
        // another user's directory, however private
        const theirs = yield* cacheHome()
        Fs.chownSync(Path.join(theirs, "ssm-session-manager"), 65534, 65534)
        const plain = yield* outputs(yield* spawnBin("sessionManagerPlugin", ["--version"], { XDG_CACHE_HOME: theirs }))
        assert.strictEqual(plain.code, 0, plain.stderr)
        assert.deepStrictEqual(cacheEntries(theirs), [])
      }
      const disabled = yield* cacheHome()
      const plain = yield* outputs(yield* spawnBin("main", ["--version"], { XDG_CACHE_HOME: disabled, NODE_DISABLE_COMPILE_CACHE: "1" }))
      assert.strictEqual(plain.code, 0, plain.stderr)
      assert.deepStrictEqual(cacheEntries(disabled), [])
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
