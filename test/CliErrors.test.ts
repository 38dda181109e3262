/**
 * A failure is one error line on stderr, and for the common causes a second line saying what to do.
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Logger } from "effect"
import * as Http from "node:http"
import * as Net from "node:net"
import * as RemoteCommand from "../src/RemoteCommand.js"
import * as SsmApi from "../src/SsmApi.js"
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
      // exec's stderr is the remote command's: off a terminal, a quick StartSession is not announced
      const lines = stderr.trim().split("\n")
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
