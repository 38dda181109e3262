/**
 * The package as a library user gets it: Effect as a peer (one Effect, theirs), nothing on the PATH as
 * `session-manager-plugin` unless asked for, and a drop-in plugin that says what it is without confusing the AWS CLI.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Logger } from "effect"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Url from "node:url"
import * as NodePortForwarding from "../src/NodePortForwarding.js"
import * as PortForwarding from "../src/PortForwarding.js"
import * as Session from "../src/Session.js"
import * as SsmApi from "../src/SsmApi.js"
import { nodeFlags } from "../src/cli/installPlugin.js"
import { simulatedAwsLayer } from "./utils/aws.js"
import { exitCode, root, spawnCli } from "./utils/cli.js"
import { echoServer, roundTrip } from "./utils/tcp.js"

const packageJson = JSON.parse(Fs.readFileSync(Path.join(root, "package.json"), "utf8")) as {
  readonly bin: Record<string, string>
  readonly dependencies: Record<string, string>
  readonly peerDependencies: Record<string, string>
}

/** A directory for the scope. */
const tempDir = Effect.acquireRelease(
  Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "ssm-package-"))),
  (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
)

/** Everything a child writes to stdout and stderr, once it exits, with its code. */
const outputs = (child: ChildProcess.ChildProcess) =>
  Effect.gen(function*() {
    let stdout = ""
    let stderr = ""
    child.stdout!.on("data", (data: Buffer) => stdout += data.toString())
    child.stderr!.on("data", (data: Buffer) => stderr += data.toString())
    const code = yield* exitCode(child)
    // the streams may still hold their last bytes when the process has exited
    yield* Effect.async<void>((resume) => {
      if (child.stdout!.readableEnded) return resume(Effect.void)
      child.stdout!.once("end", () => resume(Effect.void))
    })
    return { code, stdout, stderr }
  })

describe("the package", () => {
  it("Effect and @effect/platform are peers, and no @effect/platform-node is installed for a library user", () => {
    assert.deepStrictEqual(Object.keys(packageJson.peerDependencies).sort(), ["@effect/platform", "effect"])
    for (const name of ["effect", "@effect/platform", "@effect/platform-node"]) {
      assert.notProperty(packageJson.dependencies, name)
    }
  })

  it("it carries its LICENSE (MIT)", () => {
    assert.include(Fs.readFileSync(Path.join(root, "LICENSE"), "utf8"), "MIT License")
    const pkg = JSON.parse(Fs.readFileSync(Path.join(root, "package.json"), "utf8")) as { license: string; files: Array<string> }
    assert.strictEqual(pkg.license, "MIT")
    assert.include(pkg.files, "LICENSE")
  })

  it.scopedLive("a tunnel that goes well logs nothing at Info or above into the user's logger", () =>
    Effect.gen(function*() {
      const levels: Array<string> = []
      const collecting = Logger.replace(Logger.defaultLogger, Logger.make(({ logLevel }) => void levels.push(logLevel.label)))
      const destination = yield* echoServer
      yield* Effect.gen(function*() {
        const forwarding = yield* PortForwarding.start({ target: "i-1", portNumber: destination })
        const listener = yield* NodePortForwarding.listen(forwarding)
        const port = listener.address._tag === "Tcp" ? listener.address.port : 0
        const echoed = yield* roundTrip(port, new TextEncoder().encode("hello"))
        assert.strictEqual(new TextDecoder().decode(echoed), "hello")
      }).pipe(
        Effect.scoped,
        Effect.provide(Layer.merge(simulatedAwsLayer(), collecting))
      )
      assert.deepStrictEqual(levels, [])
    }))

  it("depending on it puts only ssm-session-manager on the PATH of npm scripts, never session-manager-plugin", () => {
    assert.deepStrictEqual(Object.keys(packageJson.bin), ["ssm-session-manager"])
  })

  it("the plugin script passes only the memory-reducer flag the Node that runs it has (a Node given an unknown V8 flag does not start)", () => {
    const option = (name: string) => `  --${name} (…)\n        type: bool  default: --no-${name}\n`
    // Node 20's V8, Node 22's and 24's, and a V8 with neither
    assert.deepStrictEqual(nodeFlags(option("memory-reducer") + option("memory-reducer-single-gc")), [
      "--max-semi-space-size=2",
      "--memory-reducer-single-gc"
    ])
    assert.deepStrictEqual(nodeFlags(option("memory-reducer") + "  --memory-reducer-gc-count (Maximum …)\n"), [
      "--max-semi-space-size=2",
      "--memory-reducer-gc-count=1"
    ])
    assert.deepStrictEqual(nodeFlags(option("memory-reducer") + option("memory-reducer-for-small-heaps")), ["--max-semi-space-size=2"])
    // and the Node running this accepts what it is given
    const run = ChildProcess.spawnSync(process.execPath, [...nodeFlags(), "-e", "process.exit(0)"], { encoding: "utf8" })
    assert.strictEqual(run.status, 0, run.stderr)
  })

  it.scopedLive("install-plugin writes a session-manager-plugin that runs this plugin; --version is bare for a program", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const installed = yield* outputs(yield* spawnCli("main", ["install-plugin", "--dir", dir]))
      assert.strictEqual(installed.code, 0, installed.stderr)
      const plugin = Path.join(dir, "session-manager-plugin")
      assert.include(installed.stdout, plugin)
      assert.strictEqual(Fs.statSync(plugin).mode & 0o111, 0o111)
      // as the AWS CLI runs it: stdout read by a program, which must see a bare version number above 1.2.497.0
      const version = yield* outputs(ChildProcess.spawn(plugin, ["--version"], { stdio: ["ignore", "pipe", "pipe"] }))
      assert.strictEqual(version.code, 0, version.stderr)
      assert.match(version.stdout.replace(/\s+/g, ""), /^\d+(\.\d+){0,3}$/)
      assert.strictEqual(version.stdout.trim(), "1.2.694.0")
      // running it again replaces its own script
      assert.strictEqual((yield* outputs(yield* spawnCli("main", ["install-plugin", "--dir", dir]))).code, 0)
    }), 60_000)

  it.scopedLive("install-plugin leaves a session-manager-plugin it did not write (AWS's) alone unless --force", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const plugin = Path.join(dir, "session-manager-plugin")
      Fs.writeFileSync(plugin, "#!/bin/sh\necho AWS\n", { mode: 0o755 })
      const refused = yield* outputs(yield* spawnCli("main", ["install-plugin", "--dir", dir]))
      assert.strictEqual(refused.code, 1)
      assert.include(refused.stderr, "--force")
      assert.strictEqual(Fs.readFileSync(plugin, "utf8"), "#!/bin/sh\necho AWS\n")
      const forced = yield* outputs(yield* spawnCli("main", ["install-plugin", "--dir", dir, "--force"]))
      assert.strictEqual(forced.code, 0, forced.stderr)
      assert.include(Fs.readFileSync(plugin, "utf8"), "ssm-session-manager")
    }), 60_000)

  it.effect("each module's error is yieldable, as Data.TaggedError's are (this compiles, and fails with it)", () =>
    Effect.gen(function*() {
      const tunnel = yield* Effect.flip(Effect.gen(function*() {
        return yield* new PortForwarding.PortForwardingError({ reason: "Session", detail: "lost" })
      }))
      assert.strictEqual(tunnel.reason, "Session")
      const session = yield* Effect.flip(new Session.SessionError({ reason: "Transport", detail: "gone" }))
      assert.strictEqual(session.message, "Transport: gone")
      const api = yield* Effect.flip(
        new SsmApi.SsmApiError({ reason: "Timeout", operation: "StartSession", detail: "no answer" })
      )
      assert.strictEqual(api.message, "StartSession: Timeout: no answer")
    }))
})

/**
 * How Node resolves each specifier from inside the package (a self-reference, which goes through `exports` as a
 * dependent's import does), under `conditions`: the URL, or the error's code. No build needed: a path the
 * `exports` map fences fails before any file is looked for.
 */
const resolveAll = (specifiers: ReadonlyArray<string>, conditions: ReadonlyArray<string>): Array<string> => {
  const script = `process.stdout.write(JSON.stringify(${JSON.stringify(specifiers)}.map((specifier) => {
    try { return import.meta.resolve(specifier) } catch (error) { return String(error.code) }
  })))`
  const run = ChildProcess.spawnSync(
    process.execPath,
    [...conditions.map((condition) => `--conditions=${condition}`), "--input-type=module", "-e", script],
    { cwd: root, encoding: "utf8" }
  )
  assert.strictEqual(run.status, 0, run.stderr)
  return JSON.parse(run.stdout) as Array<string>
}

describe("the package's exports", () => {
  it("the command line's modules, the bins' bundles and the internals are not importable: ssm-session-manager/cli/… does not resolve", () => {
    const fenced = [
      "ssm-session-manager/cli/main",
      "ssm-session-manager/cli/main.js",
      "ssm-session-manager/cli/run",
      "ssm-session-manager/cli/forward",
      "ssm-session-manager/bin/main",
      "ssm-session-manager/internal/session"
    ]
    for (const conditions of [["ssm-session-manager-source"], []]) {
      assert.deepStrictEqual(
        resolveAll(fenced, conditions),
        fenced.map(() => "ERR_PACKAGE_PATH_NOT_EXPORTED"),
        `conditions: ${conditions.join(",")}`
      )
    }
  })

  it("every top-level module (what the README documents) still resolves, to its source under the source condition", () => {
    const modules = Fs.readdirSync(Path.join(root, "src"))
      .filter((name) => /^[A-Z]\w*\.ts$/.test(name))
      .map((name) => name.slice(0, -3))
    assert.includeMembers(modules, ["Session", "PortForwarding", "AgentSimulator", "NodeSession"])
    const resolved = resolveAll(
      ["ssm-session-manager", ...modules.map((name) => `ssm-session-manager/${name}`)],
      ["ssm-session-manager-source"]
    )
    assert.deepStrictEqual(resolved, [
      Url.pathToFileURL(Path.join(root, "src", "index.ts")).href,
      ...modules.map((name) => Url.pathToFileURL(Path.join(root, "src", `${name}.ts`)).href)
    ])
  })
})
