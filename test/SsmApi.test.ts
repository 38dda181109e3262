import { assert, describe, it, layer } from "@effect/vitest"
import { Effect, Either, Layer, Option, Redacted, Stream } from "effect"
import * as Http from "node:http"
import * as AgentSimulator from "../src/AgentSimulator.js"
import * as SsmApi from "../src/SsmApi.js"
import { openSession } from "./utils/session.js"

interface Recorded {
  readonly target: string
  readonly body: Record<string, unknown>
}

/** A local endpoint speaking the SSM JSON protocol: answers by the operation, or with the error queued. */
const fakeSsm = Effect.acquireRelease(
  Effect.async<{ readonly url: string; readonly calls: Array<Recorded>; readonly failNext: Array<[number, string]>; readonly server: Http.Server }>((resume) => {
    const calls: Array<Recorded> = []
    const failNext: Array<[number, string]> = []
    const server = Http.createServer((request, response) => {
      let raw = ""
      request.on("data", (chunk) => (raw += chunk))
      request.on("end", () => {
        const target = String(request.headers["x-amz-target"] ?? "")
        calls.push({ target, body: JSON.parse(raw || "{}") })
        response.setHeader("content-type", "application/x-amz-json-1.1")
        const failure = failNext.shift()
        if (failure !== undefined) {
          response.statusCode = failure[0]
          response.end(JSON.stringify({ __type: failure[1], message: `simulated ${failure[1]}` }))
          return
        }
        const session = { SessionId: "user-0123", TokenValue: "secret-token", StreamUrl: "wss://example.invalid/v1/data-channel/user-0123" }
        if (target.endsWith("StartSession")) response.end(JSON.stringify(session))
        else if (target.endsWith("ResumeSession")) response.end(JSON.stringify({ SessionId: "user-0123" }))
        else response.end(JSON.stringify({ SessionId: "user-0123" }))
      })
    })
    server.listen(0, "127.0.0.1", () =>
      resume(Effect.succeed({ url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, calls, failNext, server })))
  }),
  ({ server }) => Effect.sync(() => server.close())
)

const api = (url: string) =>
  Effect.provide(
    SsmApi.SsmApi,
    SsmApi.layer({
      region: "us-east-1",
      endpoint: url,
      credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "example" },
      maxAttempts: 1
    })
  )

describe("SsmApi over @aws-sdk/client-ssm (against a local endpoint)", () => {
  it.scopedLive("StartSession sends the request and returns the session with a Redacted token", () =>
    Effect.gen(function*() {
      const fake = yield* fakeSsm
      const ssm = yield* api(fake.url)
      const session = yield* ssm.startSession({
        target: "i-0123456789abcdef0",
        documentName: "AWS-StartPortForwardingSession",
        parameters: { portNumber: ["80"], localPortNumber: ["9000"] },
        reason: "tests"
      })
      assert.strictEqual(session.sessionId, "user-0123")
      assert.strictEqual(Redacted.value(session.tokenValue), "secret-token")
      assert.strictEqual(String(session.tokenValue), "<redacted>")
      assert.strictEqual(fake.calls[0]!.target, "AmazonSSM.StartSession")
      assert.deepStrictEqual(fake.calls[0]!.body, {
        Target: "i-0123456789abcdef0",
        DocumentName: "AWS-StartPortForwardingSession",
        Parameters: { portNumber: ["80"], localPortNumber: ["9000"] },
        Reason: "tests"
      })
      assert.isTrue(Option.isNone(yield* ssm.resumeSession("user-0123")))
      yield* ssm.terminateSession("user-0123")
      assert.deepStrictEqual(fake.calls.map((call) => call.target), [
        "AmazonSSM.StartSession",
        "AmazonSSM.ResumeSession",
        "AmazonSSM.TerminateSession"
      ])
    }))

  it.scopedLive("the SDK's exceptions become typed reasons", () =>
    Effect.gen(function*() {
      const fake = yield* fakeSsm
      const ssm = yield* api(fake.url)
      const cases: ReadonlyArray<[number, string, SsmApi.SsmApiError.Reason]> = [
        [400, "AccessDeniedException", "AccessDenied"],
        [400, "TargetNotConnected", "TargetNotConnected"],
        [400, "InvalidDocument", "InvalidDocument"],
        [400, "ValidationException", "InvalidParameters"],
        [400, "ThrottlingException", "Throttling"],
        [400, "ExpiredTokenException", "Credentials"],
        [400, "DoesNotExistException", "DoesNotExist"],
        [500, "InternalServerError", "Other"]
      ]
      for (const [status, type, reason] of cases) {
        fake.failNext.push([status, type])
        const result = yield* Effect.either(ssm.startSession({ target: "i-0123456789abcdef0" }))
        assert.isTrue(Either.isLeft(result), type)
        if (Either.isLeft(result)) {
          assert.strictEqual(result.left.reason, reason, type)
          assert.strictEqual(result.left.operation, "StartSession")
          assert.isTrue(SsmApi.isSsmApiError(result.left))
        }
      }
    }))
})

describe("SsmApi backed by the simulator", () => {
  const simulated = AgentSimulator.layerSsmApi(() => ({ plugin: AgentSimulator.echoPlugin() })).pipe(
    Layer.provideMerge(AgentSimulator.layer({ messagesPerSecond: 0 }))
  )
  layer(simulated, { excludeTestServices: true })((it) => {
    it.scoped("StartSession, a Session through it, and TerminateSession ending it", () =>
      Effect.gen(function*() {
        const ssm = yield* SsmApi.SsmApi
        const response = yield* ssm.startSession({ target: "mi-simulated" })
        const session = yield* openSession({
          SessionId: response.sessionId,
          StreamUrl: response.streamUrl,
          TokenValue: response.tokenValue
        })
        yield* session.write(new TextEncoder().encode("ping"))
        const reply = yield* session.output.pipe(Stream.take(1), Stream.runCollect)
        assert.strictEqual(new TextDecoder().decode([...reply][0]), "ping")
        yield* ssm.terminateSession(response.sessionId)
        assert.strictEqual(yield* session.closed, "")
        const unknown = yield* Effect.flip(ssm.terminateSession("nope"))
        assert.strictEqual(unknown.reason, "DoesNotExist")
      }))
  })
})
