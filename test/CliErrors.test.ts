/**
 * A failure is one error line on stderr, and for the common causes a second line saying what to do.
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect } from "effect"
import * as Http from "node:http"
import * as SsmApi from "../src/SsmApi.js"
import { hint } from "../src/cli/run.js"
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
      const lines = stderr.trim().split("\n")
      assert.strictEqual(lines.length, 3, stderr)
      assert.match(lines[0]!, /^Starting a session with i-0123456789abcdef0/)
      assert.strictEqual(lines[1], "ssm-session-manager: StartSession: TargetNotConnected: simulated TargetNotConnected")
      assert.match(lines[2]!, /^hint: the instance's SSM Agent is not connected/)
    }), 60_000)
})
