/**
 * The release tests: the package as a user gets it. The checkout is built, packed with `npm pack` and installed
 * with its peers into an empty project (`--omit=dev`); its bins then run as real processes on each Node of
 * `SSM_RELEASE_NODES` (colon-separated paths to `node` binaries; default the Node running the tests): `npx
 * ssm-session-manager`, `node_modules/.bin/ssm-session-manager`, and the `session-manager-plugin` that
 * `install-plugin` writes. Every AWS call they make goes through the real AWS SDK to the simulator's HTTP API
 * (`AWS_ENDPOINT_URL_SSM`, `AWS_ENDPOINT_URL_KMS`, fake keys): StartSession for forward, exec, exec -i,
 * cp, shell, ssh-proxy and socks, the name lookup (DescribeInstanceInformation), CreateDocument, ResumeSession and TerminateSession
 * from the plugin, KMS's GenerateDataKey, and a refused StartSession. With the first launcher (vm.Script without
 * a dynamic-import callback) every check that calls AWS failed.
 *
 * Run alone with `npm run test:release` (vitest.release.config.ts, which packs and installs once for every release
 * file: test/release/globalSetup.ts); the main suite leaves this file out. ECS Exec's checks are in ReleaseEcs.test.ts.
 */
import { CreateDocumentCommand, SSMClient } from "@aws-sdk/client-ssm"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { sdkCredentials } from "./utils/aws.js"
import {
  environment,
  INSTANCE,
  installed as installedPackage,
  installPlugin,
  nodes,
  OFFLINE,
  pluginArgs,
  simulator,
  startSession,
  text,
  versionOf
} from "./release/harness.js"
import { runToEnd, spawn } from "./release/processes.js"
import { socks5RoundTrip } from "./release/socks.js"
import { echoServer, greetingEchoServer, roundTrip } from "./utils/tcp.js"

const installed = installedPackage()

describe.each(nodes.map((node, index) => ({ node, index, version: versionOf(node) })))(
  "the installed package on Node $version",
  ({ index, node, version }) => {
    const bin = () => installed.bin

    it.scopedLive("npx ssm-session-manager --version, install-plugin, and the plugin's --version", () =>
      Effect.gen(function*() {
        const env = environment(node)
        const viaNpx = yield* runToEnd("npx", ["--no", "--", "ssm-session-manager", "--version"], env, { cwd: installed.project })
        assert.strictEqual(viaNpx.code, 0, viaNpx.stderr)
        assert.strictEqual(viaNpx.stdout.trim(), installed.version)
        const plugin = yield* runToEnd(yield* installPlugin(index, node), ["--version"], env)
        assert.strictEqual(plugin.code, 0, plugin.stderr)
        assert.match(plugin.stdout, /^\d+\.\d+\.\d+\.\d+\n$/)
        assert.strictEqual(plugin.stderr, "")
        // the compile cache, where Node has one, is in the user's own directory, a subdirectory per Node version
        const major = Number(version.slice(1).split(".")[0])
        const cache = Path.join(env["XDG_CACHE_HOME"]!, "ssm-session-manager")
        if (major >= 22) assert.isTrue(Fs.readdirSync(cache).some((entry) => entry.startsWith(`${version}-`)), version)
      }), 120_000)

    it.scopedLive("forward: StartSession over the SDK, then bytes through the tunnel to the destination and back", () =>
      Effect.gen(function*() {
        const sim = yield* simulator()
        const destination = yield* echoServer
        const tunnel = yield* spawn(bin(), [
          "forward",
          "--target",
          INSTANCE,
          "--remote-port",
          String(destination),
          "--ready-json",
          "-"
        ], environment(node, sim))
        const [line] = yield* tunnel.waitFor(/^\{"mappings".*$/m)
        const ready = JSON.parse(line) as { mappings: Array<{ local: string; sessionId: string; target: string }> }
        assert.strictEqual(ready.mappings[0]!.target, INSTANCE)
        const port = Number(ready.mappings[0]!.local.split(":").at(-1))
        const data = Crypto.randomBytes(256 * 1024)
        const echoed = yield* roundTrip(port, data)
        assert.strictEqual(text(echoed), text(data))
        tunnel.child.kill("SIGINT")
        assert.strictEqual(yield* tunnel.exit, 0, tunnel.stderr())
      }), 60_000)

    it.scopedLive("exec: the remote's exit code 42, its stdout and stderr apart", () =>
      Effect.gen(function*() {
        const sim = yield* simulator()
        const result = yield* runToEnd(bin(), [
          "exec",
          "--target",
          INSTANCE,
          "--",
          "sh",
          "-c",
          "echo out; echo err >&2; exit 42"
        ], environment(node, sim))
        assert.strictEqual(result.code, 42, result.stderr)
        assert.strictEqual(result.stdout, "out\n")
        assert.isTrue(result.stderr.endsWith("err\n"), result.stderr)
        assert.notInclude(result.stderr, "out\n")
      }), 60_000)

    it.scopedLive("exec -i: 1 MiB of piped stdin reaches sha256sum on the instance, whose exit code comes back", () =>
      Effect.gen(function*() {
        const sim = yield* simulator()
        const input = Crypto.randomBytes(1024 * 1024)
        const result = yield* runToEnd(bin(), [
          "exec",
          "-i",
          "--target",
          INSTANCE,
          "--",
          "sh",
          "-c",
          "sha256sum; echo err >&2; exit 7"
        ], environment(node, sim), { input, seconds: 60 })
        assert.strictEqual(result.code, 7, result.stderr)
        assert.strictEqual(result.stdout, `${Crypto.createHash("sha256").update(input).digest("hex")}  -\n`)
        assert.isTrue(result.stderr.endsWith("err\n"), result.stderr)
      }), 90_000)

    it.scopedLive("cp: a file up to the instance and back, the same bytes and mode", () =>
      Effect.gen(function*() {
        const sim = yield* simulator()
        const env = environment(node, sim)
        const dir = Fs.mkdtempSync(Path.join(installed.scratch, "cp-"))
        const data = Crypto.randomBytes(512 * 1024 + 3)
        Fs.writeFileSync(Path.join(dir, "local.bin"), data, { mode: 0o640 })
        Fs.chmodSync(Path.join(dir, "local.bin"), 0o640)
        const up = yield* runToEnd(bin(), ["cp", Path.join(dir, "local.bin"), `${INSTANCE}:${Path.join(dir, "remote.bin")}`], env, {
          seconds: 60
        })
        assert.strictEqual(up.code, 0, up.stderr)
        const down = yield* runToEnd(bin(), ["cp", `web-1:${Path.join(dir, "remote.bin")}`, Path.join(dir, "back.bin")], env, {
          seconds: 60
        })
        assert.strictEqual(down.code, 0, down.stderr)
        assert.strictEqual(text(Fs.readFileSync(Path.join(dir, "back.bin"))), text(data))
        assert.strictEqual(Fs.statSync(Path.join(dir, "back.bin")).mode & 0o777, 0o640)
        assert.deepStrictEqual(Fs.readdirSync(dir).sort(), ["back.bin", "local.bin", "remote.bin"])
      }), 90_000)

    it.scopedLive("shell: commands from piped stdin run in the remote shell", () =>
      Effect.gen(function*() {
        const sim = yield* simulator()
        const result = yield* runToEnd(bin(), ["shell", "--target", INSTANCE], environment(node, sim), {
          input: "echo shell-$((6*7))\nexit\n"
        })
        assert.strictEqual(result.code, 0, result.stderr)
        assert.include(result.stdout, "shell-42")
      }), 60_000)

    it.scopedLive("ssh-proxy: stdin and stdout carried to the SSH port (a stand-in sshd) and back", () =>
      Effect.gen(function*() {
        const sim = yield* simulator()
        const sshd = yield* greetingEchoServer("SSH-2.0-StandIn\r\n")
        const proxy = yield* spawn(bin(), ["ssh-proxy", "--target", INSTANCE, "--port", String(sshd)], environment(node, sim), {
          stdin: "pipe"
        })
        yield* proxy.waitFor(/SSH-2\.0-StandIn\r\n/)
        proxy.child.stdin!.write("SSH-2.0-Client\r\n")
        yield* proxy.waitFor(/SSH-2\.0-StandIn\r\nSSH-2\.0-Client\r\n/)
        proxy.child.stdin!.end()
        assert.strictEqual(yield* proxy.exit, 0, proxy.stderr())
        assert.strictEqual(proxy.stdout(), "SSH-2.0-StandIn\r\nSSH-2.0-Client\r\n")
      }), 60_000)

    it.scopedLive("socks: a SOCKS5 CONNECT through the proxy reaches a destination the instance reaches", () =>
      Effect.gen(function*() {
        const sim = yield* simulator()
        const destination = yield* echoServer
        const proxy = yield* spawn(bin(), ["socks", "--target", INSTANCE, "--port", "0"], environment(node, sim))
        const [, port] = yield* proxy.waitFor(/SOCKS5 proxy listening on 127\.0\.0\.1:(\d+)/, "either")
        const data = Crypto.randomBytes(64 * 1024)
        assert.strictEqual(text(yield* socks5RoundTrip(Number(port), destination, data)), text(data))
        proxy.child.kill("SIGINT")
        assert.strictEqual(yield* proxy.exit, 0, proxy.stderr())
      }), 60_000)

    it.scopedLive("a target by its Name tag (DescribeInstanceInformation), and create-document", () =>
      Effect.gen(function*() {
        const sim = yield* simulator()
        const env = environment(node, sim)
        const named = yield* runToEnd(bin(), ["exec", "--target", "web-1", "--", "echo", "named"], env)
        assert.strictEqual(named.code, 0, named.stderr)
        // the simulator starts sessions only with the nodes it lists, by id: "web-1" was looked up
        assert.strictEqual(named.stdout, "named\n")
        const created = yield* runToEnd(bin(), ["create-document"], env)
        assert.strictEqual(created.code, 0, created.stderr)
        assert.include(created.stdout, "created the Session document SSM-RunShellCommandWithExitCode")
        const again = yield* runToEnd(bin(), ["create-document"], env)
        assert.strictEqual(again.code, 0, again.stderr)
        assert.include(again.stdout, "exists already")
        // what the simulator holds now: the document exists
        const exists = yield* Effect.promise(() =>
          new SSMClient({ region: "us-east-1", endpoint: sim.endpoint, credentials: sdkCredentials(sim), maxAttempts: 1 }).send(
            new CreateDocumentCommand({ Name: "SSM-RunShellCommandWithExitCode", DocumentType: "Session", Content: "{}" })
          ).then(() => "created", (error: Error) => error.name)
        )
        assert.strictEqual(exists, "DocumentAlreadyExists")
      }), 60_000)

    it.scopedLive("the plugin resumes after a dropped WebSocket (ResumeSession), and calls TerminateSession", () =>
      Effect.gen(function*() {
        // an agent from before the TerminateSession flag: the plugin ends the session through the API
        const sim = yield* simulator({ agentVersion: "2.3.672.0" })
        const destination = yield* echoServer
        const request = {
          Target: INSTANCE,
          DocumentName: "AWS-StartPortForwardingSession",
          Parameters: { portNumber: [String(destination)], localPortNumber: ["0"] }
        }
        const response = yield* startSession(sim, request)
        const plugin = yield* spawn(yield* installPlugin(index, node), pluginArgs(response, request, sim.endpoint), environment(node, sim))
        const [, port] = yield* plugin.waitFor(/Port (\d+) opened/, "either")
        const first = Crypto.randomBytes(64 * 1024)
        assert.strictEqual(text(yield* roundTrip(Number(port), first)), text(first))
        assert.isTrue(yield* sim.dropConnection(response.SessionId))
        const second = Crypto.randomBytes(64 * 1024)
        assert.strictEqual(text(yield* roundTrip(Number(port), second).pipe(Effect.timeout("30 seconds"))), text(second))
        assert.strictEqual((yield* sim.sessionStats(response.SessionId))?.resumes, 1)
        plugin.child.kill("SIGINT")
        yield* plugin.exit
        assert.isTrue((yield* sim.sessionStats(response.SessionId))?.terminatedByApi, plugin.stderr())
      }), 60_000)

    it.scopedLive("a KMS-encrypted shell: GenerateDataKey over the SDK, from shell and from the plugin", () =>
      Effect.gen(function*() {
        const sim = yield* simulator({ kmsKeyId: "alias/release-test" })
        const env = environment(node, sim)
        const shell = yield* runToEnd(bin(), ["shell", "--target", INSTANCE], env, { input: "echo kms-$((6*7))\nexit\n" })
        assert.strictEqual(shell.code, 0, shell.stderr)
        assert.include(shell.stdout, "kms-42")
        const request = { Target: INSTANCE }
        const response = yield* startSession(sim, request)
        const plugin = yield* spawn(yield* installPlugin(index, node), pluginArgs(response, request, sim.endpoint), env, { stdin: "pipe" })
        plugin.child.stdin!.write("echo plugin-kms-$((6*7))\n")
        yield* plugin.waitFor(/plugin-kms-42/)
        assert.isTrue((yield* sim.sessionStats(response.SessionId))?.encrypted)
        plugin.child.stdin!.end("exit\n")
        yield* plugin.exit
      }), 60_000)

    it.scopedLive("a refused StartSession (TargetNotConnected): one line on stderr, nothing on stdout, a non-zero exit", () =>
      Effect.gen(function*() {
        const sim = yield* simulator()
        const result = yield* runToEnd(bin(), ["exec", "--target", OFFLINE, "--", "true"], environment(node, sim))
        assert.notStrictEqual(result.code, 0)
        assert.strictEqual(result.stdout, "")
        // the error's one line, and the hint that goes with it; and exec's `Starting a session with …`, which it
        // says off a terminal only when StartSession takes over a second (a loaded machine, the SDK's first load)
        const lines = result.stderr.trimEnd().split("\n")
          .filter((line) => !line.startsWith("hint: ") && !line.startsWith(`Starting a session with ${OFFLINE}`))
        assert.deepStrictEqual(
          lines,
          [`ssm-session-manager: StartSession: TargetNotConnected: ${OFFLINE} is not connected.`],
          result.stderr
        )
      }), 60_000)
  }
)
