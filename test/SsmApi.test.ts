import { assert, describe, it, layer } from "@effect/vitest"
import { Effect, Either, Layer, Option, Redacted, Stream } from "effect"
import * as Fs from "node:fs"
import * as Http from "node:http"
import * as Os from "node:os"
import * as Path from "node:path"
import * as AgentSimulator from "../src/AgentSimulator.js"
import * as NodeSession from "../src/NodeSession.js"
import type * as Session from "../src/Session.js"
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

describe("SsmApi.layer: ResumeSession through the SDK, against the simulator's HTTP API", () => {
  /** A credentials file for the scope, as the SDK's provider chain reads it (the environment points at it). */
  const credentialsFile = Effect.acquireRelease(
    Effect.sync(() => {
      const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "ssm-credentials-"))
      const file = Path.join(dir, "credentials")
      const saved = { credentials: process.env["AWS_SHARED_CREDENTIALS_FILE"], config: process.env["AWS_CONFIG_FILE"] }
      process.env["AWS_SHARED_CREDENTIALS_FILE"] = file
      process.env["AWS_CONFIG_FILE"] = Path.join(dir, "config")
      const write = (accessKeyId: string, secret: string) =>
        Fs.writeFileSync(file, `[resume-test]\naws_access_key_id = ${accessKeyId}\naws_secret_access_key = ${secret}\n`)
      return { dir, saved, write }
    }),
    ({ dir, saved }) =>
      Effect.sync(() => {
        for (const [name, value] of [["AWS_SHARED_CREDENTIALS_FILE", saved.credentials], ["AWS_CONFIG_FILE", saved.config]] as const) {
          if (value === undefined) delete process.env[name]
          else process.env[name] = value
        }
        Fs.rmSync(dir, { recursive: true, force: true })
      })
  )

  /** An echo, or after 20 s a failure that says where the session and the simulator stand. */
  const ping = (session: Session.Session, sim?: AgentSimulator.AgentSimulator) =>
    Effect.gen(function*() {
      yield* session.write(new TextEncoder().encode("ping"))
      const reply = yield* session.output.pipe(Stream.take(1), Stream.runCollect)
      assert.strictEqual(new TextDecoder().decode([...reply][0]), "ping")
    }).pipe(
      Effect.timeout("20 seconds"),
      Effect.catchTag("TimeoutException", () =>
        Effect.flatMap(
          Effect.all([session.stats, sim === undefined ? Effect.succeed(undefined) : sim.sessionStats(session.sessionId)]),
          ([client, service]) => Effect.die(new Error(`no echo: ${JSON.stringify({ client, service })}`))
        ))
    )

  it.scopedLive("keys rotated in the credentials file after the session started are the ones each resume uses", () =>
    Effect.gen(function*() {
      const credentials = yield* credentialsFile
      const sim = yield* AgentSimulator.make({
        messagesPerSecond: 0,
        sessionSpec: () => ({ plugin: AgentSimulator.echoPlugin() })
      })
      // the simulator's secret under ids of our own: it answers any id signed with its secret
      const secret = Redacted.value(sim.credentials.secretAccessKey)
      credentials.write("AKIDFIRST", secret)
      const aws = Layer.merge(
        SsmApi.layer({ region: "us-east-1", endpoint: sim.endpoint, profile: "resume-test", maxAttempts: 1 }),
        NodeSession.layerWebSocketConstructor
      )
      yield* Effect.gen(function*() {
        const session = yield* SsmApi.openSession({ target: "i-1" }, { messagesPerSecond: 0 })
        yield* ping(session, sim)
        for (const next of ["AKIDSECOND", "AKIDTHIRD"]) {
          // the keys the session started with (or last resumed with) expire, and new ones are in the file
          yield* sim.expireCredentials(next === "AKIDSECOND" ? "AKIDFIRST" : "AKIDSECOND")
          credentials.write(next, secret)
          assert.isTrue(yield* sim.dropConnection(session.sessionId))
          yield* ping(session, sim)
        }
        const stats = yield* session.stats
        assert.strictEqual(stats.reconnects, 2)
        assert.strictEqual((yield* sim.sessionStats(session.sessionId))?.resumes, 2)
      }).pipe(Effect.provide(aws))
    }))

  it.scopedLive("an expired key that nothing refreshes: the session ends with Credentials when the deadline passes", () =>
    Effect.gen(function*() {
      const sim = yield* AgentSimulator.make({
        messagesPerSecond: 0,
        sessionSpec: () => ({ plugin: AgentSimulator.echoPlugin() })
      })
      const aws = Layer.merge(
        SsmApi.layer({
          region: "us-east-1",
          endpoint: sim.endpoint,
          credentials: { accessKeyId: "AKIDSTATIC", secretAccessKey: Redacted.value(sim.credentials.secretAccessKey) },
          maxAttempts: 1
        }),
        NodeSession.layerWebSocketConstructor
      )
      yield* Effect.gen(function*() {
        const session = yield* SsmApi.openSession({ target: "i-1" }, {
          messagesPerSecond: 0,
          resume: { initialDelay: "20 millis", deadline: "500 millis" }
        })
        yield* ping(session)
        yield* sim.expireCredentials("AKIDSTATIC")
        yield* sim.dropConnection(session.sessionId)
        const error = yield* Effect.flip(session.closed)
        assert.strictEqual(error.reason, "Credentials")
        assert.include(error.detail, "security token included in the request is expired")
      }).pipe(Effect.provide(aws))
    }))
})
