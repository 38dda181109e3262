/**
 * `simulate` as a real process: the plugins the service would choose (port sessions dialling a real destination on
 * 127.0.0.1, commands, the default shell), its faults and agent version, and bad flags, with this library's own
 * client in-process on the printed StartSession responses.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Either, Redacted, Stream } from "effect"
import type * as ChildProcess from "node:child_process"
import * as NodePortForwarding from "../src/NodePortForwarding.js"
import * as NodeSession from "../src/NodeSession.js"
import * as PortForwarding from "../src/PortForwarding.js"
import * as RemoteCommand from "../src/RemoteCommand.js"
import * as Session from "../src/Session.js"
import type * as SsmApi from "../src/SsmApi.js"
import * as SsmApiModule from "../src/SsmApi.js"
import { sdkAws } from "./utils/aws.js"
import { pseudoRandomBytes, sha256Hex } from "./utils/bytes.js"
import { spawnCli, waitForOutput } from "./utils/cli.js"
import { pollUntil } from "./utils/poll.js"
import { countingEchoServer, roundTrip } from "./utils/tcp.js"

/** `simulate` for the scope, its stderr collected; SIGINT when the scope closes, SIGKILL if it is still there 5 s later. */
const simulate = (args: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const child = yield* spawnCli("main", ["simulate", ...args])
    let stderr = ""
    child.stderr!.on("data", (data: Buffer) => stderr += data.toString())
    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        if (child.exitCode !== null || child.signalCode !== null) return
        child.kill("SIGINT")
        const exited = yield* Effect.interruptible(closed(child)).pipe(Effect.timeout("5 seconds"), Effect.option)
        if (exited._tag === "None") child.kill("SIGKILL")
      })
    )
    return { child, stderr: () => stderr }
  })

/** The child's exit code once its output streams are closed (a signal counts as -1). */
const closed = (child: ChildProcess.ChildProcess) =>
  Effect.async<number>((resume) => {
    if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.succeed(child.exitCode ?? -1))
    child.once("close", (code) => resume(Effect.succeed(code ?? -1)))
  })

/** The first `count` lines of stdout, each a StartSession-like response, within 30 s. */
const responses = (simulator: { readonly child: ChildProcess.ChildProcess; readonly stderr: () => string }, count: number) =>
  waitForOutput(simulator.child, new RegExp(`^(?:\\{.*\\}\\n){${count}}`)).pipe(
    Effect.timeoutFail({
      duration: "30 seconds",
      onTimeout: () => new Error(`simulate printed no ${count} response line(s) in 30 s; stderr: ${simulator.stderr()}`)
    }),
    Effect.map(([lines]) =>
      lines.trimEnd().split("\n").map((line): SsmApi.SessionResponse => {
        const json = JSON.parse(line) as { SessionId: string; TokenValue: string; StreamUrl: string }
        assert.deepStrictEqual(Object.keys(json).sort(), ["SessionId", "StreamUrl", "TokenValue"])
        assert.match(json.StreamUrl, /^ws:\/\/127\.0\.0\.1:\d+\/v1\/data-channel\//)
        return { sessionId: json.SessionId, streamUrl: json.StreamUrl, tokenValue: Redacted.make(json.TokenValue) }
      })
    )
  )

const openSession = (response: SsmApi.SessionResponse, options: Partial<Session.SessionOptions> = {}) =>
  Session.make({ ...response, messagesPerSecond: 0, ...options }).pipe(
    Effect.provide(NodeSession.layerWebSocketConstructor)
  )

/** Forwards a local port over the session and sends `data` through it to the destination and back. */
const echoThrough = (session: Session.Session, data: Uint8Array) =>
  Effect.gen(function*() {
    const forwarding = yield* PortForwarding.make(session)
    const listener = yield* NodePortForwarding.listen(forwarding, { port: 0 })
    assert.strictEqual(listener.address._tag, "Tcp")
    const port = listener.address._tag === "Tcp" ? listener.address.port : 0
    const echoed = yield* roundTrip(port, data).pipe(Effect.timeout("30 seconds"))
    assert.strictEqual(sha256Hex(echoed), sha256Hex(data))
    return forwarding
  })

describe("CLI simulate", () => {
  it.scopedLive("a port document dials the real destination from --parameter, bytes intact under --drop and friends", () =>
    Effect.gen(function*() {
      let dials = 0
      const destination = yield* countingEchoServer(() => dials++)
      const simulator = yield* simulate([
        "--document-name",
        "AWS-StartPortForwardingSession",
        "--parameter",
        `portNumber=${destination}`,
        "--parameter",
        "localPortNumber=0",
        "--messages-per-second",
        "0",
        "--drop",
        "0.1",
        "--duplicate",
        "0.1",
        "--reorder",
        "0.1",
        "--delay",
        "0.1",
        "--seed",
        "7"
      ])
      const [response] = yield* responses(simulator, 1)
      const session = yield* openSession(response!)
      assert.strictEqual(session.sessionType, "Port")
      assert.deepStrictEqual(session.properties, {
        type: "LocalPortForwarding",
        portNumber: String(destination),
        localPortNumber: "0"
      })
      const forwarding = yield* echoThrough(session, pseudoRandomBytes(64 * 1024, 11))
      assert.strictEqual(forwarding.mode._tag, "Mux")
      // the destination itself answered, not an echo plugin
      assert.strictEqual(dials, 1)
      // the faults were there, and the data channel made up for them
      const stats = yield* session.stats
      assert.isAbove(stats.retransmissions + stats.duplicatesReceived, 0)
    }), 60_000)

  it.scopedLive("--session-type Port --port-number, --sessions 2 and --agent-version: two sessions, each to the destination", () =>
    Effect.gen(function*() {
      let dials = 0
      const destination = yield* countingEchoServer(() => dials++)
      const simulator = yield* simulate([
        "--session-type",
        "Port",
        "--port-number",
        String(destination),
        "--sessions",
        "2",
        "--agent-version",
        "3.0.161.0",
        "--target",
        "i-0123456789abcdef0"
      ])
      const both = yield* responses(simulator, 2)
      assert.strictEqual(both.length, 2)
      assert.notStrictEqual(both[0]!.sessionId, both[1]!.sessionId)
      for (const [i, response] of both.entries()) {
        yield* Effect.scoped(Effect.gen(function*() {
          const session = yield* openSession(response)
          assert.deepStrictEqual(session.agentVersion._tag === "Some" ? session.agentVersion.value : undefined, "3.0.161.0")
          // an agent this old has no smux: the official client's basic mode
          const forwarding = yield* echoThrough(session, pseudoRandomBytes(8 * 1024, 20 + i))
          assert.strictEqual(forwarding.mode._tag, "Basic")
        }))
      }
      assert.strictEqual(dials, 2)
    }), 60_000)

  it.scopedLive("a command document: stdout and exit code 3 through RemoteCommand; the ended session refuses another connection", () =>
    Effect.gen(function*() {
      const simulator = yield* simulate([
        "--document-name",
        RemoteCommand.DOCUMENT_NAME,
        "--parameter",
        // as the agent, the simulator splits the command into words and runs them without a shell
        "command=sh -c 'echo hi; echo oops >&2; exit 3'"
      ])
      const [response] = yield* responses(simulator, 1)
      yield* Effect.scoped(Effect.gen(function*() {
        const session = yield* openSession(response!)
        assert.strictEqual(session.sessionType, "NonInteractiveCommands")
        const result = yield* RemoteCommand.run(session).pipe(Effect.timeout("30 seconds"))
        assert.strictEqual(new TextDecoder().decode(result.stdout), "hi\n")
        assert.strictEqual(new TextDecoder().decode(result.stderr), "oops\n")
        assert.strictEqual(result.exitCode, 3)
        yield* session.closed.pipe(Effect.timeout("10 seconds"))
      }))
      const again = yield* Effect.scoped(openSession(response!, { openTimeout: "5 seconds", handshakeTimeout: "5 seconds" }))
        .pipe(Effect.timeout("15 seconds"), Effect.either)
      assert.isTrue(Either.isLeft(again) && Session.isSessionError(again.left), `a second connection: ${String(again)}`)
    }), 60_000)

  it.scopedLive("no document: the default shell", () =>
    Effect.gen(function*() {
      const simulator = yield* simulate([])
      const [response] = yield* responses(simulator, 1)
      const session = yield* openSession(response!)
      assert.strictEqual(session.sessionType, "Standard_Stream")
      yield* session.write(new TextEncoder().encode("echo :sh''ell-$((40 + 2))\nexit\n"))
      const text = yield* session.output.pipe(
        Stream.decodeText(),
        Stream.scan("", (all, text) => all + text),
        Stream.takeUntil((all) => all.includes(":shell-42")),
        Stream.runLast,
        Effect.timeout("30 seconds")
      )
      assert.include(text._tag === "Some" ? text.value : "", ":shell-42")
    }), 60_000)

  it.scopedLive("--echo: the echo plugin under the --session-type it announces", () =>
    Effect.gen(function*() {
      const simulator = yield* simulate(["--echo", "--session-type", "NonInteractiveCommands"])
      const [response] = yield* responses(simulator, 1)
      const session = yield* openSession(response!)
      assert.strictEqual(session.sessionType, "NonInteractiveCommands")
      const data = pseudoRandomBytes(4 * 1024, 30)
      yield* session.write(data)
      const echoed = yield* session.output.pipe(
        Stream.flattenIterables,
        Stream.take(data.length),
        Stream.runCollect,
        Effect.timeout("30 seconds")
      )
      assert.strictEqual(sha256Hex(Uint8Array.from(echoed)), sha256Hex(data))
    }), 60_000)

  it.scopedLive("--sessions 0 --kms-key-id: another process starts sessions through the SDK at the endpoint on stderr", () =>
    Effect.gen(function*() {
      const simulator = yield* simulate(["--sessions", "0", "--target", "i-0123456789abcdef0", "--kms-key-id", "alias/simulate"])
      // the credentials it generated, in the shell line on its stderr
      const exported = (yield* pollUntil(
        Effect.sync(() =>
          /^export AWS_ACCESS_KEY_ID=(\S+) AWS_SECRET_ACCESS_KEY=(\S+) AWS_ENDPOINT_URL_SSM=(http:\/\/127\.0\.0\.1:\d+) AWS_ENDPOINT_URL_KMS=\3 AWS_ENDPOINT_URL_ECS=\3$/m
            .exec(simulator.stderr())
        ),
        (found) => found !== null,
        { every: "20 millis", times: 1500, what: `the credentials on stderr: ${simulator.stderr()}` }
      ))!
      const endpoint = exported[3]!
      const credentials = { accessKeyId: exported[1]!, secretAccessKey: exported[2]! }
      // nothing else is answered
      const forged = yield* SsmApiModule.resolveTarget("simulated").pipe(
        Effect.flip,
        Effect.provide(SsmApiModule.layer({
          region: "us-east-1",
          endpoint,
          credentials: { accessKeyId: credentials.accessKeyId, secretAccessKey: "guessed" },
          maxAttempts: 1
        }))
      )
      assert.include(JSON.stringify(forged), "InvalidSignatureException")
      const aws = sdkAws({ endpoint, credentials })
      // exec's document, encrypted with the simulator's KMS (GenerateDataKey over HTTP)
      const result = yield* RemoteCommand.exec({ target: "i-0123456789abcdef0", command: "echo out; echo err >&2; exit 42" }).pipe(
        Effect.provide(aws)
      )
      assert.deepStrictEqual(
        { code: result.exitCode, stdout: new TextDecoder().decode(result.stdout), stderr: new TextDecoder().decode(result.stderr) },
        { code: 42, stdout: "out\n", stderr: "err\n" }
      )
      // the node by its Name tag; another target is not connected
      assert.strictEqual(yield* SsmApiModule.resolveTarget("simulated").pipe(Effect.provide(aws)), "i-0123456789abcdef0")
      const refused = yield* SsmApiModule.openSession({ target: "i-0fffffffffffffff0" }).pipe(
        Effect.scoped,
        Effect.flip,
        Effect.provide(aws)
      )
      assert.strictEqual((refused as SsmApi.SsmApiError).reason, "TargetNotConnected")
      // nothing was printed for clients of their own
      simulator.child.stdout!.resume()
      assert.strictEqual(simulator.child.stdout!.readableLength, 0)
    }), 60_000)

  it.scopedLive("bad flag values: exit code 1, one line on stderr naming the flag, nothing on stdout", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [ReadonlyArray<string>, string]> = [
        [["--drop", "1.5"], "--drop"],
        [["--document-name", "AWS-NoSuchDocument"], "AWS-NoSuchDocument"],
        [["--document-name", "AWS-StartPortForwardingSession", "--parameter", "portNumber"], "--parameter"]
      ]
      for (const [args, named] of cases) {
        const simulator = yield* simulate(args)
        let stdout = ""
        simulator.child.stdout!.on("data", (data: Buffer) => stdout += data.toString())
        const code = yield* closed(simulator.child).pipe(Effect.timeout("30 seconds"))
        assert.strictEqual(code, 1, `${args.join(" ")}: exit code`)
        assert.strictEqual(stdout, "", `${args.join(" ")}: stdout`)
        const lines = simulator.stderr().trimEnd().split("\n")
        assert.strictEqual(lines.length, 1, `${args.join(" ")}: stderr ${simulator.stderr()}`)
        assert.include(lines[0], named)
        assert.notInclude(lines[0], "    at ")
      }
    }), 90_000)
})
