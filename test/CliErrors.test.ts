/**
 * A failure is one error line on stderr, and for the common causes a second line saying what to do.
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Either, Logger, Option } from "effect"
import * as Http from "node:http"
import * as Net from "node:net"
import * as KmsApi from "../src/KmsApi.js"
import * as RemoteCommand from "../src/RemoteCommand.js"
import * as Session from "../src/Session.js"
import * as SsmApi from "../src/SsmApi.js"
import { CliError, isCliError } from "../src/cli/error.js"
import { hints } from "../src/cli/hints.js"
import { parseInvocation } from "../src/cli/plugin.js"
import { plan, type SimulateOptions } from "../src/cli/simulate.js"
import { hint, onFreshLine } from "../src/cli/run.js"
import { exitCode, spawnCli } from "./utils/cli.js"

const apiError = (reason: SsmApi.SsmApiError.Reason, detail = "x") =>
  Cause.fail(new SsmApiError({ reason, operation: "StartSession", detail }))
const { SsmApiError } = SsmApi

describe("hints for the common failures", () => {
  it("credentials name the profile in use", () => {
    assert.include(hint(apiError("Credentials"), { AWS_PROFILE: "nope" }), "for profile nope")
    assert.notInclude(hint(apiError("Credentials"), {}), "for profile")
  })

  it("a missing region names --region and AWS_REGION", () => {
    assert.strictEqual(
      hint(Cause.fail(new Error("Region is missing")), {}),
      "hint: name the region with --region, or set AWS_REGION"
    )
  })

  it("access denied names the action; a target not connected, the agent; a missing document, how to create it", () => {
    assert.include(hint(apiError("AccessDenied"), {}), "ssm:StartSession")
    assert.include(hint(apiError("TargetNotConnected"), {}), "SSM Agent is not connected")
    assert.include(hint(apiError("InvalidDocument"), {}), "create-document")
  })

  it("no hint for the rest", () => {
    assert.isUndefined(hint(apiError("Timeout"), {}))
    assert.isUndefined(hint(Cause.die("boom"), {}))
  })

  it("keyed by the error's module and reason, not by a reason field alone", () => {
    // the session's own ResumeSession calls, and a KMS-encrypted session's data key
    assert.include(hint(Cause.fail(new Session.SessionError({ reason: "AccessDenied", detail: "x" })), {}), "ssm:ResumeSession")
    assert.include(hint(Cause.fail(new Session.SessionError({ reason: "Credentials", detail: "x" })), { AWS_PROFILE: "p" }), "for profile p")
    assert.include(hint(Cause.fail(new KmsApi.KmsApiError({ reason: "AccessDenied", detail: "x" })), {}), "kms:GenerateDataKey")
    assert.include(hint(Cause.fail(new CliError({ reason: "DocumentDenied", detail: "x" })), {}), "ssm:CreateDocument")
    // another error with a reason of the same name gets nothing
    assert.isUndefined(hint(Cause.fail({ _tag: "OtherError", reason: "AccessDenied", message: "x" }), {}))
    assert.isUndefined(hint(Cause.fail(new CliError({ reason: "InvalidOptions", detail: "x" })), {}))
  })

  it("every hint the table has starts with hint:", () => {
    const samples = [
      ...Object.entries(hints.SsmApiError).map(([reason, make]) =>
        make!(new SsmApiError({ reason: reason as SsmApi.SsmApiError.Reason, operation: "StartSession", detail: "x" }), {})
      ),
      ...Object.values(hints.SessionError).map((make) => make!(new Session.SessionError({ reason: "Closed", detail: "x" }), {})),
      ...Object.values(hints.KmsApiError).map((make) => make!(new KmsApi.KmsApiError({ reason: "Other", detail: "x" }), {})),
      ...Object.values(hints.CliError).map((make) => make!(new CliError({ reason: "InvalidOptions", detail: "x" }), {}))
    ]
    assert.isAtLeast(samples.length, 9)
    for (const line of samples) assert.match(line, /^hint: \S/)
  })
})

describe("CliError", () => {
  it("the plugin's bad arguments are InvalidArguments, said as one line", () => {
    const tooFew = parseInvocation(["{}"], {})
    assert.isTrue(Either.isLeft(tooFew) && isCliError(tooFew.left) && tooFew.left.reason === "InvalidArguments")
    assert.strictEqual(Either.isLeft(tooFew) ? tooFew.left.message : "", "expected at least 5 arguments, got 1")
    const operation = parseInvocation(["{}", "us-east-1", "ResumeSession", "", "{}"], {})
    assert.strictEqual(Either.isLeft(operation) ? operation.left.message : "", "Invalid operation: ResumeSession")
  })

  it.effect("simulate's bad flags are InvalidOptions", () =>
    Effect.gen(function*() {
      const options: SimulateOptions = {
        port: 0,
        documentName: Option.none(),
        parameter: [],
        portNumber: Option.none(),
        sessionType: Option.none(),
        echo: false,
        target: "i-simulated",
        kmsKeyId: Option.none(),
        agentVersion: "3.3.1142.0",
        messagesPerSecond: 1000,
        sessions: 1,
        drop: 0,
        duplicate: 0,
        reorder: 0,
        delay: 0,
        delayMillis: 20,
        garbage: 0,
        seed: 1
      }
      const error = yield* Effect.flip(plan({ ...options, drop: 2 }))
      assert.isTrue(isCliError(error))
      assert.strictEqual(error.reason, "InvalidOptions")
      assert.strictEqual(error.message, "--drop must be a probability from 0 to 1, got 2")
      // and good flags make a plan
      assert.strictEqual((yield* plan(options)).sessions, 1)
    }))

  it.effect("is yieldable and tagged; its message is the line after the program's name", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Effect.gen(function*() {
        return yield* new CliError({ reason: "Listen", detail: "cannot listen on 127.0.0.1:1: the port is in use" })
      }))
      assert.isTrue(isCliError(error))
      assert.strictEqual(error._tag, "CliError")
      assert.strictEqual(error.reason, "Listen")
      assert.strictEqual(error.message, "cannot listen on 127.0.0.1:1: the port is in use")
      assert.isFalse(isCliError(new Error("x")))
    }))
})

/** An SSM endpoint that answers every call with one error. */
const failingEndpoint = (type: string) =>
  Effect.acquireRelease(
    Effect.async<Http.Server>((resume) => {
      const server = Http.createServer((request, response) => {
        request.resume()
        request.on("end", () => {
          response.statusCode = 400
          response.setHeader("content-type", "application/x-amz-json-1.1")
          response.end(JSON.stringify({ __type: type, message: `simulated ${type}` }))
        })
      })
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
    }),
    (server) => Effect.sync(() => server.close())
  ).pipe(Effect.map((server) => `http://127.0.0.1:${(server.address() as { port: number }).port}`))

describe("the CLI's error lines", () => {
  it.scopedLive("a target that is not connected: the error and its hint on stderr, nothing on stdout, exit 1", () =>
    Effect.gen(function*() {
      const endpoint = yield* failingEndpoint("TargetNotConnected")
      const child = yield* spawnCli("main", [
        "exec",
        "--target",
        "i-0123456789abcdef0",
        "--region",
        "us-east-1",
        "--endpoint",
        endpoint,
        "--",
        "true"
      ], { env: { AWS_ACCESS_KEY_ID: "AKIDTEST", AWS_SECRET_ACCESS_KEY: "secret" } })
      let stdout = ""
      let stderr = ""
      child.stdout!.on("data", (data: Buffer) => stdout += data.toString())
      child.stderr!.on("data", (data: Buffer) => stderr += data.toString())
      assert.strictEqual(yield* exitCode(child), 1)
      assert.strictEqual(stdout, "")
      // exec's stderr is the remote command's: off a terminal, StartSession is announced only once it has taken a
      // second, which the SDK's first load on a loaded machine can take (the quick case: CliOutput.test.ts)
      const lines = stderr.trim().split("\n").filter((line) => !line.startsWith("Starting a session with i-0123456789abcdef0"))
      assert.strictEqual(lines.length, 2, stderr)
      assert.strictEqual(lines[0], "ssm-session-manager: StartSession: TargetNotConnected: simulated TargetNotConnected")
      assert.match(lines[1]!, /^hint: the instance's SSM Agent is not connected/)
    }), 60_000)
})

describe("help", () => {
  it.scopedLive("piped (or under NO_COLOR): plain text, and demo describes --target once", () =>
    Effect.gen(function*() {
      const child = yield* spawnCli("main", ["demo", "--help"])
      let stdout = ""
      child.stdout!.on("data", (data: Buffer) => stdout += data.toString())
      assert.strictEqual(yield* exitCode(child), 0)
      assert.notInclude(stdout, "\x1b[")
      const targets = stdout.split("\n").filter((line) => line.startsWith("  --target"))
      assert.strictEqual(targets.length, 1)
      assert.include(stdout, "forward to this instance on AWS instead of the simulator")
      assert.notInclude(stdout, "not needed with --simulator")
    }), 60_000)
})

describe("create-document: exec's document in a real account", () => {
  /** An SSM endpoint for CreateDocument: created the first time, DocumentAlreadyExists after; the requests. */
  const documentEndpoint = Effect.acquireRelease(
    Effect.async<{ readonly server: Http.Server; readonly requests: Array<Record<string, unknown>> }>((resume) => {
      const requests: Array<Record<string, unknown>> = []
      const server = Http.createServer((request, response) => {
        let raw = ""
        request.on("data", (chunk) => raw += chunk)
        request.on("end", () => {
          response.setHeader("content-type", "application/x-amz-json-1.1")
          if (request.headers["x-amz-target"] !== "AmazonSSM.CreateDocument") {
            response.statusCode = 400
            return response.end(JSON.stringify({ __type: "UnknownOperationException", message: "no" }))
          }
          requests.push(JSON.parse(raw))
          if (requests.length > 1) {
            response.statusCode = 400
            return response.end(JSON.stringify({ __type: "DocumentAlreadyExists", message: "Document with same name already exists" }))
          }
          return response.end(JSON.stringify({ DocumentDescription: { Name: "SSM-RunShellCommandWithExitCode", Status: "Creating" } }))
        })
      })
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed({ server, requests })))
    }),
    ({ server }) => Effect.sync(() => server.close())
  )

  it.scopedLive("creates the Session document from RemoteCommand.DOCUMENT_CONTENT, and a second run changes nothing", () =>
    Effect.gen(function*() {
      const { requests, server } = yield* documentEndpoint
      const endpoint = `http://127.0.0.1:${(server.address() as { port: number }).port}`
      const run = Effect.gen(function*() {
        const child = yield* spawnCli("main", ["create-document", "--region", "us-east-1", "--endpoint", endpoint], {
          env: { AWS_ACCESS_KEY_ID: "AKIDTEST", AWS_SECRET_ACCESS_KEY: "secret" }
        })
        let stdout = ""
        child.stdout!.on("data", (data: Buffer) => stdout += data.toString())
        return [yield* exitCode(child), stdout.trim()] as const
      })
      const [firstCode, first] = yield* run
      assert.strictEqual(firstCode, 0)
      assert.include(first, "created the Session document SSM-RunShellCommandWithExitCode")
      const [secondCode, second] = yield* run
      assert.strictEqual(secondCode, 0)
      assert.include(second, "exists already")
      assert.strictEqual(requests[0]!["DocumentType"], "Session")
      assert.strictEqual(requests[0]!["Name"], RemoteCommand.DOCUMENT_NAME)
      assert.deepStrictEqual(JSON.parse(String(requests[0]!["Content"])), RemoteCommand.DOCUMENT_CONTENT)
    }), 60_000)

  it("a missing document's hint names the command", () => {
    assert.include(hint(apiError("InvalidDocument"), {}), "npx ssm-session-manager create-document")
  })
})

describe("forward checks its local end before StartSession", () => {
  const occupied = Effect.acquireRelease(
    Effect.async<Net.Server>((resume) => {
      const server = Net.createServer()
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
    }),
    (server) => Effect.sync(() => server.close())
  ).pipe(Effect.map((server) => (server.address() as Net.AddressInfo).port))

  const forward = (localPort: string) =>
    Effect.gen(function*() {
      const child = yield* spawnCli("main", ["forward", "--simulator", "--remote-port", "80", "--local-port", localPort])
      let stderr = ""
      child.stderr!.on("data", (data: Buffer) => stderr += data.toString())
      return [yield* exitCode(child), stderr.trim().split("\n")] as const
    })

  /** A command line that fails before any session: its exit code and stderr lines. */
  const failing = (args: ReadonlyArray<string>) =>
    Effect.gen(function*() {
      const child = yield* spawnCli("main", args)
      let stderr = ""
      child.stderr!.on("data", (data: Buffer) => stderr += data.toString())
      // a process that does not end fails the test with what it said, not the test's whole time (CI met one once)
      const code = yield* exitCode(child).pipe(Effect.timeoutFail({
        duration: "30 seconds",
        onTimeout: () => new Error(`${args.join(" ")}: no exit within 30 s; stderr so far: ${JSON.stringify(stderr)}`)
      }))
      return [code, stderr.trim().split("\n")] as const
    })

  it.scopedLive("bad flags (InvalidOptions): one line each, exit 1", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [ReadonlyArray<string>, string]> = [
        [["forward", "--simulator"], "give --remote-port, or one or more -L mappings"],
        [["forward", "--region", "us-east-1", "--remote-port", "80"], "--target is required (or use --simulator)"],
        [["forward", "--simulator", "-L", "x:y"], "-L x:y: y is not a remote port (expected [bind:]localPort:[host:]remotePort)"],
        [
          ["forward", "--simulator", "--remote-port", "80", "--unix-socket", "/nonexistent-ssm-dir/s.sock"],
          "--unix-socket /nonexistent-ssm-dir/s.sock: the directory /nonexistent-ssm-dir does not exist"
        ],
        [
          ["forward", "--simulator", "--remote-port", "80", "--ready-json", "/nonexistent-ssm-dir/ready.json"],
          "--ready-json /nonexistent-ssm-dir/ready.json: the directory /nonexistent-ssm-dir does not exist"
        ],
        [["socks", "--simulator", "--idle-timeout", "-1"], "--idle-timeout -1 is negative"]
      ]
      const outcomes = yield* Effect.forEach(cases, ([args]) => failing(args), { concurrency: 3 })
      outcomes.forEach(([code, lines], i) => {
        assert.strictEqual(code, 1, cases[i]![0].join(" "))
        assert.deepStrictEqual(lines, [`ssm-session-manager: ${cases[i]![1]}`])
      })
    }), 90_000)

  it.scopedLive("a port in use, or out of range: one line, exit 1, and no session started", () =>
    Effect.gen(function*() {
      const port = yield* occupied
      const [code, lines] = yield* forward(String(port))
      assert.strictEqual(code, 1)
      assert.deepStrictEqual(lines, [`ssm-session-manager: cannot listen on 127.0.0.1:${port}: the port is in use`])
      const [rangeCode, rangeLines] = yield* forward("70000")
      assert.strictEqual(rangeCode, 1)
      assert.deepStrictEqual(rangeLines, ["ssm-session-manager: --local-port 70000 is not a port (0 to 65535)"])
    }), 60_000)
})

describe("log lines beside the live status line", () => {
  it.effect("each log line clears the live line first and draws it again after", () =>
    Effect.gen(function*() {
      const written: Array<string> = []
      const inner = Logger.make(({ message }) => void written.push(`log:${String(message)}`))
      yield* Effect.log("hello").pipe(
        Effect.provide(Logger.replace(
          Logger.defaultLogger,
          onFreshLine(inner, { before: () => written.push("clear"), after: () => written.push("redraw") })
        ))
      )
      assert.deepStrictEqual(written, ["clear", "log:hello", "redraw"])
    }))
})
