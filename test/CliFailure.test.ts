/**
 * The drop-in plugin as a real process when things break: a failure is one line on stderr and a non-zero exit,
 * the local program sees a reset rather than an end, and Ctrl-C never hangs (the second one exits at once).
 */
import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect, Option, Redacted } from "effect"
import type * as ChildProcess from "node:child_process"
import * as AgentSimulator from "../src/AgentSimulator.js"
import { credentialsEnvironment } from "./utils/aws.js"
import { exitCode, spawnCli, waitForOutput } from "./utils/cli.js"
import { download, downloadServer, howItEnded } from "./utils/download.js"
import { hostileAgent } from "./utils/hostileAgent.js"
import { closedPort } from "./utils/tcp.js"

const MiB = 1024 * 1024

/**
 * Runs the plugin on `response` for a port session to `port`, as the AWS CLI does, with keys in the environment
 * and the simulator's endpoint and credentials for its API calls (by default an endpoint where nothing listens).
 */
const plugin = (
  response: AgentSimulator.StartSessionResponse,
  port: number,
  simulator?: AgentSimulator.AgentSimulator
) =>
  spawnCli("sessionManagerPlugin", [
    JSON.stringify({
      SessionId: response.SessionId,
      TokenValue: Redacted.value(response.TokenValue),
      StreamUrl: response.StreamUrl
    }),
    "us-east-1",
    "StartSession",
    "",
    JSON.stringify({ Target: "i-1", DocumentName: "AWS-StartPortForwardingSession", Parameters: { portNumber: [String(port)] } }),
    simulator?.endpoint ?? "https://127.0.0.1:9/"
  ], {
    // the simulator's API answers only its own credentials
    env: simulator === undefined
      ? { AWS_ACCESS_KEY_ID: "AKIDPLUGINTEST", AWS_SECRET_ACCESS_KEY: "plugin-test-secret" }
      : credentialsEnvironment(simulator)
  })

/** Everything the child writes to stderr, as lines. */
const stderrLines = (child: ChildProcess.ChildProcess) => {
  let text = ""
  child.stderr!.on("data", (data: Buffer) => (text += data.toString()))
  return () => text.split("\n").filter((line) => line.trim() !== "")
}

/** The exit code and how long the child took to exit from now, in ms. */
const timedExit = (child: ChildProcess.ChildProcess) =>
  Effect.gen(function*() {
    const start = yield* Clock.currentTimeMillis
    const code = yield* exitCode(child)
    return [code, (yield* Clock.currentTimeMillis) - start] as const
  })

describe("session-manager-plugin under failure", () => {
  it.scopedLive("the session lost for good mid-download (it cannot be resumed): the local client is reset, one line on stderr, exit 1", () =>
    Effect.gen(function*() {
      const destination = yield* downloadServer(8 * MiB)
      const simulator = yield* AgentSimulator.make({ messagesPerSecond: 0 })
      const response = yield* simulator.startSession({
        plugin: AgentSimulator.portPlugin(),
        properties: { portNumber: String(destination), type: "LocalPortForwarding" },
        faults: { closeAfterMessages: 2000 }
      })
      const child = yield* plugin(response, destination, simulator)
      const stderr = stderrLines(child)
      const [, port] = yield* waitForOutput(child, /Port (\d+) opened for sessionId /)
      assert.strictEqual(yield* howItEnded(download(Number(port), 1, 8 * MiB)), "cut")
      const [code] = yield* timedExit(child)
      assert.strictEqual(code, 1)
      const errors = stderr().filter((line) => line.startsWith("session-manager-plugin:"))
      assert.strictEqual(errors.length, 1)
      assert.include(errors[0], "WebSocket")
      assert.include(errors[0], "timed out")
      assert.isTrue(stderr().some((line) => line.includes("tunnel connection cut")))
    }), 60_000)

  it.scopedLive("a StreamUrl that cannot open: one line on stderr, exit 1, at once", () =>
    Effect.gen(function*() {
      const port = yield* closedPort
      const child = yield* plugin({
        SessionId: "s",
        StreamUrl: `ws://127.0.0.1:${port}/v1/data-channel/s`,
        TokenValue: Redacted.make("t")
      }, 80)
      const stderr = stderrLines(child)
      const [code, elapsed] = yield* timedExit(child)
      assert.strictEqual(code, 1)
      assert.isBelow(elapsed, 10_000)
      const errors = stderr().filter((line) => line.startsWith("session-manager-plugin:"))
      assert.strictEqual(errors.length, 1)
      assert.include(errors[0], "Open")
      assert.include(errors[0], "ECONNREFUSED")
    }), 60_000)

  const silentAgent = hostileAgent((peer) =>
    Effect.gen(function*() {
      yield* peer.handshake()
      // acknowledges everything, never closes the channel: the TerminateSession flag goes unanswered
      while (true) {
        const message = yield* peer.next((m) => m.messageType === "input_stream_data")
        if (Option.isNone(message)) return
        yield* peer.ack(message.value)
      }
    })
  )

  it.scopedLive("Ctrl-C with an agent that ignores the TerminateSession flag: the session ends within its deadlines, exit 0", () =>
    Effect.gen(function*() {
      const child = yield* plugin(yield* silentAgent, 80)
      yield* waitForOutput(child, /Waiting for connections/)
      child.kill("SIGINT")
      const [code, elapsed] = yield* timedExit(child)
      assert.strictEqual(code, 0)
      // the flag's 2 s, then the API fallback's 10 s at most
      assert.isBelow(elapsed, 15_000)
    }), 60_000)

  it.scopedLive("a second Ctrl-C exits at once", () =>
    Effect.gen(function*() {
      const child = yield* plugin(yield* silentAgent, 80)
      yield* waitForOutput(child, /Waiting for connections/)
      const stderr = stderrLines(child)
      child.kill("SIGINT")
      // the second once the first was taken (signals sent together may arrive as one)
      yield* Effect.async<void>((resume) => {
        const check = () => {
          if (stderr().some((line) => line.includes("Ctrl-C again"))) {
            child.stderr!.off("data", check)
            resume(Effect.void)
          }
        }
        child.stderr!.on("data", check)
      })
      child.kill("SIGINT")
      const [code, elapsed] = yield* timedExit(child)
      assert.strictEqual(code, 130)
      assert.isBelow(elapsed, 1_500)
    }), 60_000)

  it.scopedLive("WebSocket drops under a download are resumed: every byte arrives, each outage is one line on stderr", () =>
    Effect.gen(function*() {
      const destination = yield* downloadServer(8 * MiB)
      // the agent at 5000 messages a second rather than its 1000 (see ResumeEndToEnd.test.ts)
      const simulator = yield* AgentSimulator.make({ messagesPerSecond: 5000 })
      const response = yield* simulator.startSession({
        plugin: AgentSimulator.portPlugin(),
        properties: { portNumber: String(destination), type: "LocalPortForwarding" },
        faults: { dropConnection: { everyMessages: 2500, times: 3, lostFrames: 8 } }
      })
      const child = yield* plugin(response, destination, simulator)
      const stderr = stderrLines(child)
      const [, port] = yield* waitForOutput(child, /Port (\d+) opened for sessionId /)
      assert.strictEqual(yield* howItEnded(download(Number(port), 1, 8 * MiB)), "complete", stderr().join("\n"))
      assert.strictEqual((yield* simulator.sessionStats(response.SessionId))?.resumes, 3)
      assert.strictEqual(stderr().filter((line) => line.startsWith("session resumed after")).length, 3)
      assert.strictEqual(stderr().filter((line) => line.startsWith("connection lost")).length, 3)
      // the plugin called the SDK (ResumeSession): its Node version warning is not ours to print
      assert.notInclude(stderr().join("\n"), "NodeVersionSupportWarning")
      child.kill("SIGINT")
      const [code] = yield* timedExit(child)
      assert.strictEqual(code, 0)
    }), 90_000)
})
