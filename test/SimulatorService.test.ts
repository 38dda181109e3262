/**
 * The simulated service's behaviours as functions over its state (`src/internal/simulator/serviceState.ts`
 * `ServiceState`), without a server: the API's actions and their rules (tokens single-use, resumes refused or
 * expired, sessions timed out), the HTTP API's answers to verified requests, where the agent's frames go, how a
 * WebSocket is dropped, the Port plugin's reading of its properties, and the simulator's error.
 */
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Deferred, Effect, Either, Option, Redacted } from "effect"
import * as Net from "node:net"
import type * as WS from "ws"
import * as AgentSimulator from "../src/AgentSimulator.js"
import * as Api from "../src/internal/simulator/api.js"
import { detach, expire, makeAttachment, pauseAgent } from "../src/internal/simulator/attachments.js"
import { closeAction, route } from "../src/internal/simulator/faults.js"
import { closeChannel, makeFaultyPipe } from "../src/internal/simulator/frames.js"
import { CloseCode, openFrame, presentToken, sessionOfUrl } from "../src/internal/simulator/connections.js"
import { answer } from "../src/internal/simulator/httpApi.js"
import { destination, portMode, readPortProperties } from "../src/internal/simulator/port.js"
import { BACKLOG_LIMIT, clearTimers, makeState, type ServiceSession } from "../src/internal/simulator/serviceState.js"

const stateOf = (options: AgentSimulator.SimulatorOptions = {}) => makeState(options, () => {})

const echo: AgentSimulator.SessionSpec = { plugin: AgentSimulator.echoPlugin() }

/** A session started in `state`, and its record. */
const started = (state: ReturnType<typeof stateOf>, spec: AgentSimulator.SessionSpec = echo) => {
  const response = Api.startSession(state, spec)
  return { response, session: state.sessions.get(response.SessionId)! }
}

const openJson = (token: string) =>
  new TextEncoder().encode(JSON.stringify({
    MessageSchemaVersion: "1.0",
    RequestId: "r",
    TokenValue: token,
    ClientId: "c",
    ClientVersion: "1.2.694.0"
  }))

const body = (value: unknown) => new TextEncoder().encode(JSON.stringify(value))

/** The HTTP API's reply to a verified POST. */
const call = (state: ReturnType<typeof stateOf>, target: string, value: unknown, accessKeyId = "AKIATEST") =>
  answer(state, { method: "POST", target, body: body(value) }, accessKeyId)

describe("the simulated service's API over its state", () => {
  it("StartSession records the session with a single-use token, on the state's host and port", () => {
    const state = stateOf({ host: "127.0.0.1" })
    state.port = 4321
    const { response, session } = started(state)
    assert.match(response.StreamUrl, /^ws:\/\/127\.0\.0\.1:4321\/v1\/data-channel\/sim-/)
    assert.strictEqual(session.token, Redacted.value(response.TokenValue))
    assert.isFalse(presentToken(session, "not the token"))
    assert.isTrue(presentToken(session, Redacted.value(response.TokenValue)))
    // used up: the same token opens nothing more
    assert.isFalse(presentToken(session, Redacted.value(response.TokenValue)))
  })

  it("the first frame: an OpenDataChannel with the current token, else 4001 or 4003", () => {
    const state = stateOf()
    const { response, session } = started(state)
    const token = Redacted.value(response.TokenValue)
    assert.deepStrictEqual(openFrame(session, openJson(token), true), Either.left(CloseCode.ExpectedOpen))
    assert.deepStrictEqual(openFrame(session, new TextEncoder().encode("{"), false), Either.left(CloseCode.InvalidToken))
    assert.deepStrictEqual(openFrame(session, openJson("other"), false), Either.left(CloseCode.InvalidToken))
    assert.deepStrictEqual(openFrame(session, openJson(token), false), Either.right("1.2.694.0"))
    assert.deepStrictEqual(openFrame(session, openJson(token), false), Either.left(CloseCode.InvalidToken))
  })

  it("a WebSocket URL names a session only while it can be carried, and malformed escapes name none", () => {
    const state = stateOf()
    const { session } = started(state)
    const url = `/v1/data-channel/${encodeURIComponent(session.id)}?role=publish_subscribe`
    assert.strictEqual(sessionOfUrl(state, url), session)
    assert.isUndefined(sessionOfUrl(state, "/v1/data-channel/%E0%A4%A"))
    assert.isUndefined(sessionOfUrl(state, "/elsewhere"))
    session.expired = true
    assert.isUndefined(sessionOfUrl(state, url))
  })

  it("ResumeSession: a fresh token that replaces the last, refusals and expired credentials as the faults say", () => {
    const state = stateOf({ faults: { refuseResumes: 1, expiredCredentialsResumes: 1 } })
    const { response, session } = started(state)
    const failure = (result: ReturnType<typeof Api.resumeSession>) => Either.isLeft(result) ? result.left.name : "ok"
    assert.strictEqual(failure(Api.resumeSession(state, "sim-unknown")), "DoesNotExistException")
    assert.strictEqual(failure(Api.resumeSession(state, session.id)), "InternalServerError")
    assert.strictEqual(failure(Api.resumeSession(state, session.id)), "ExpiredTokenException")
    const resumed = Api.resumeSession(state, session.id)
    assert.isTrue(Either.isRight(resumed) && Option.isSome(resumed.right))
    const token = Either.isRight(resumed) && Option.isSome(resumed.right) ? Redacted.value(resumed.right.value.TokenValue) : ""
    assert.notStrictEqual(token, Redacted.value(response.TokenValue))
    assert.strictEqual(session.token, token)
    assert.strictEqual(session.stats.resumes, 1)
    // an access key that expired fails before anything is counted
    state.expiredAccessKeys.add("AKIAOLD")
    assert.strictEqual(failure(Api.resumeSession(state, session.id, "AKIAOLD")), "ExpiredTokenException")
    assert.strictEqual(session.resumeCalls, 3)
  })

  it("ResumeSession: no token for a session that timed out or was lost; DoesNotExist once terminated", () => {
    const state = stateOf()
    const timedOut = started(state).session
    timedOut.expired = true
    assert.deepStrictEqual(Api.resumeSession(state, timedOut.id), Either.right(Option.none()))
    const lost = started(state).session
    lost.killed = true
    lost.ended = true
    assert.deepStrictEqual(Api.resumeSession(state, lost.id), Either.right(Option.none()))
    const terminated = started(state).session
    assert.isTrue(Api.terminateSession(state, terminated.id))
    assert.isTrue(terminated.stats.terminatedByApi)
    assert.isTrue(Effect.runSync(Deferred.isDone(terminated.terminate)))
    assert.isTrue(Either.isLeft(Api.resumeSession(state, terminated.id)))
    assert.isFalse(Api.terminateSession(state, "sim-unknown"))
  })

  it("StartSession's checks: target, document and parameters", () => {
    const state = stateOf({ instances: [{ instanceId: "i-1" }, { instanceId: "i-2", pingStatus: "ConnectionLost" }] })
    const name = (result: ReturnType<typeof Api.startSpec>) => Either.isLeft(result) ? result.left.name : "ok"
    assert.strictEqual(name(Api.startSpec(state, { target: "i-3" })), "TargetNotConnected")
    assert.strictEqual(name(Api.startSpec(state, { target: "i-2" })), "TargetNotConnected")
    assert.strictEqual(name(Api.startSpec(state, { target: "i-1" })), "ok")
    assert.strictEqual(name(Api.startSpec(state, { target: "i-1", documentName: "Nope" })), "InvalidDocument")
    assert.strictEqual(
      name(Api.startSpec(state, { target: "i-1", documentName: "AWS-StartSSHSession", parameters: { x: ["1"] } })),
      "InvalidParameters"
    )
    assert.strictEqual(
      name(Api.startSpec(state, { target: "i-1", documentName: "AWS-StartSSHSession", parameters: { portNumber: ["0"] } })),
      "InvalidParameters"
    )
  })
})

describe("the simulated HTTP API's answers to verified requests", () => {
  it.effect("refuses what it does not simulate, and bodies that are not JSON objects", () =>
    Effect.gen(function*() {
      const state = stateOf()
      assert.strictEqual((yield* call(state, "AmazonSSM.SendCommand", {})).errorType, "UnknownOperationException")
      const get = yield* answer(state, { method: "GET", target: "AmazonSSM.StartSession", body: body({}) }, "AKIA")
      assert.strictEqual(get.errorType, "UnknownOperationException")
      const notObject = yield* answer(state, { method: "POST", target: "AmazonSSM.StartSession", body: body([1]) }, "AKIA")
      assert.deepStrictEqual([notObject.status, notObject.errorType], [400, "SerializationException"])
      const wrongType = yield* call(state, "AmazonSSM.StartSession", { Target: 7 })
      assert.deepStrictEqual(wrongType.body, { __type: "SerializationException", message: "Target must be a string" })
    }))

  it.effect("StartSession, then TerminateSession once; a second time the session does not exist", () =>
    Effect.gen(function*() {
      const state = stateOf()
      const start = yield* call(state, "AmazonSSM.StartSession", { Target: "i-simulated" })
      assert.strictEqual(start.status, 200)
      const sessionId = (start.body as { SessionId: string }).SessionId
      assert.isTrue(state.sessions.has(sessionId))
      assert.strictEqual((yield* call(state, "AmazonSSM.TerminateSession", { SessionId: sessionId })).status, 200)
      assert.strictEqual((yield* call(state, "AmazonSSM.TerminateSession", { SessionId: "sim-x" })).errorType, "DoesNotExistException")
    }))

  it.effect("ResumeSession signed with an expired access key: ExpiredTokenException", () =>
    Effect.gen(function*() {
      const state = stateOf()
      const { session } = started(state)
      state.expiredAccessKeys.add("AKIAOLD")
      const reply = yield* call(state, "AmazonSSM.ResumeSession", { SessionId: session.id }, "AKIAOLD")
      assert.deepStrictEqual([reply.status, reply.errorType], [400, "ExpiredTokenException"])
      const fresh = yield* call(state, "AmazonSSM.ResumeSession", { SessionId: session.id }, "AKIANEW")
      assert.strictEqual((fresh.body as { TokenValue: string }).TokenValue, session.token)
    }))

  it.effect("CreateDocument: a new name once, then DocumentAlreadyExists; a Session document needs a sessionType", () =>
    Effect.gen(function*() {
      const state = stateOf()
      const create = (Name: string, Content: unknown) =>
        call(state, "AmazonSSM.CreateDocument", { Name, DocumentType: "Session", Content: JSON.stringify(Content) })
      assert.strictEqual((yield* create("Mine", { sessionType: "Port" })).status, 200)
      assert.isTrue(state.createdDocuments.has("Mine"))
      assert.strictEqual((yield* create("Mine", { sessionType: "Port" })).errorType, "DocumentAlreadyExists")
      assert.strictEqual((yield* create("Other", { schemaVersion: "1.0" })).errorType, "InvalidDocumentContent")
      assert.strictEqual((yield* create("AWS-StartSSHSession", { sessionType: "Port" })).errorType, "DocumentAlreadyExists")
      assert.strictEqual((yield* create("aws-mine", { sessionType: "Port" })).errorType, "ValidationException")
      // a created document passes StartSession's document check
      assert.strictEqual((yield* call(state, "AmazonSSM.StartSession", { Target: "i-simulated", DocumentName: "Mine" })).status, 200)
    }))

  it.effect("DescribeInstanceInformation: filters, and pages of MaxResults with an offset NextToken", () =>
    Effect.gen(function*() {
      const instances = Array.from({ length: 7 }, (_, i) => ({ instanceId: `i-${i}`, tags: { Role: i < 6 ? "web" : "db" } }))
      const state = stateOf({ instances })
      const page = (extra: object) =>
        Effect.map(
          call(state, "AmazonSSM.DescribeInstanceInformation", { Filters: [{ Key: "tag:Role", Values: ["web"] }], ...extra }),
          (reply) => reply.body as { NextToken?: string; InstanceInformationList: Array<{ InstanceId: string }> }
        )
      const first = yield* page({ MaxResults: 5 })
      assert.deepStrictEqual(first.InstanceInformationList.map((i) => i.InstanceId), ["i-0", "i-1", "i-2", "i-3", "i-4"])
      assert.strictEqual(first.NextToken, "5")
      const second = yield* page({ MaxResults: 5, NextToken: first.NextToken })
      assert.deepStrictEqual(second.InstanceInformationList.map((i) => i.InstanceId), ["i-5"])
      assert.isUndefined(second.NextToken)
    }))

  it.effect("GenerateDataKey wants a key id and a size; a failing sessionSpec is a 500, not a crash", () =>
    Effect.gen(function*() {
      const state = stateOf({
        sessionSpec: () => {
          throw new Error("boom")
        }
      })
      assert.strictEqual((yield* call(state, "TrentService.GenerateDataKey", { KeySpec: "AES_256" })).errorType, "ValidationException")
      const key = yield* call(state, "TrentService.GenerateDataKey", { KeyId: "alias/k", KeySpec: "AES_256" })
      assert.strictEqual(Buffer.from((key.body as { Plaintext: string }).Plaintext, "base64").length, 32)
      const failed = yield* call(state, "AmazonSSM.StartSession", { Target: "i-simulated" })
      assert.deepStrictEqual([failed.status, failed.errorType], [500, "InternalServerError"])
    }))
})

describe("the service's faults", () => {
  it("closeAction: each way to drop a WebSocket, by what its connection allows", () => {
    const full = { pause: () => {}, end: () => {}, resetAndDestroy: () => {} }
    assert.strictEqual(closeAction("recycle", full), "CloseFrame")
    assert.strictEqual(closeAction("recycle", undefined), "CloseFrame")
    assert.strictEqual(closeAction("silent", full), "Pause")
    assert.strictEqual(closeAction("silent", undefined), "Nothing")
    assert.strictEqual(closeAction("reset", full), "Reset")
    assert.strictEqual(closeAction("reset", { end: () => {} }), "End")
    assert.strictEqual(closeAction("abrupt", full), "End")
    assert.strictEqual(closeAction("abrupt", undefined), "Terminate")
  })

  it("route: where the agent's next frame goes", () => {
    const state = stateOf()
    const attached = (session: ServiceSession) => {
      session.attached = { live: true } as ServiceSession["attached"]
      return session
    }
    // no WebSocket: into the backlog, until it is full
    const away = started(state).session
    assert.strictEqual(route(away), "Backlog")
    away.backlog = Array.from({ length: BACKLOG_LIMIT }, () => new Uint8Array())
    assert.strictEqual(route(away), "Lost")
    // closeAfterMessages: the frame past the limit loses the session, and every frame after it is lost
    const losing = attached(started(state, { ...echo, faults: { closeAfterMessages: 2 } }).session)
    losing.sent = 2
    assert.strictEqual(route(losing), "Deliver")
    losing.sent = 3
    assert.strictEqual(route(losing), "LoseSession")
    losing.killed = true
    assert.strictEqual(route(losing), "Lost")
    // dropConnection.everyMessages, as many times as `times` allows
    const dropping = attached(started(state, { ...echo, faults: { dropConnection: { everyMessages: 3, times: 1 } } }).session)
    dropping.sent = 3
    assert.strictEqual(route(dropping), "Deliver")
    dropping.sent = 4
    assert.strictEqual(route(dropping), "Drop")
    dropping.stats.drops = 1
    assert.strictEqual(route(dropping), "Deliver")
  })
})

describe("a WebSocket carrying a session", () => {
  it("detached: the agent is paused, and the session times out only if none is back by the grace period's end", () => {
    const state = stateOf({ resumeGrace: "1 hour" })
    const { session } = started(state)
    const socket = { readyState: 3, send: () => {} } as unknown as WS.WebSocket
    const attachment = makeAttachment(session, socket)
    session.attached = attachment
    detach(state, session, attachment)
    assert.isUndefined(session.attached)
    assert.isDefined(session.graceTimer)
    pauseAgent(session)
    const paused = Effect.runSync(session.frames.takeAll)[0]
    assert.strictEqual(Chunk.size(paused), 1)
    clearTimers(session)
    // back in time: nothing expires
    session.attached = makeAttachment(session, socket)
    expire(session)
    assert.isFalse(session.expired)
    // not back: the session timed out, and its agent is told the client is gone
    session.attached = undefined
    expire(session)
    assert.isTrue(session.expired)
    assert.isTrue(Effect.runSync(Deferred.isDone(session.gone)))
    assert.deepStrictEqual(Api.resumeSession(state, session.id), Either.right(Option.none()))
  })
})

describe("the Port plugin's properties", () => {
  it("are read through a Schema: type, host and portNumber; other shapes read as none", () => {
    assert.deepStrictEqual(readPortProperties({ type: "LocalPortForwarding", portNumber: "80", localPortNumber: "0" }), {
      type: "LocalPortForwarding",
      portNumber: "80"
    })
    assert.deepStrictEqual(readPortProperties(null), {})
    assert.deepStrictEqual(readPortProperties({ host: 7 }), {})
    assert.deepStrictEqual(destination(readPortProperties({ host: "", portNumber: 22 })), { host: "127.0.0.1", port: 22 })
    assert.deepStrictEqual(destination(readPortProperties({ host: "db", portNumber: "5432" })), { host: "db", port: 5432 })
    assert.isTrue(portMode({ type: "LocalPortForwarding" }, "1.2.694.0").mux)
    assert.isFalse(portMode({ portNumber: "22" }, "1.2.694.0").mux)
    assert.isFalse(portMode({ type: "LocalPortForwarding" }, "1.1.61.0").mux)
  })
})

describe("SimulatorError", () => {
  it.scopedLive("is yieldable, with a reason and a detail: a port already taken is Listen", () =>
    Effect.gen(function*() {
      const taken = yield* Effect.acquireRelease(
        Effect.async<Net.Server>((resume) => {
          const server = Net.createServer()
          server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
        }),
        (server) => Effect.sync(() => server.close())
      )
      const port = (taken.address() as Net.AddressInfo).port
      const error = yield* Effect.flip(AgentSimulator.make({ port }))
      assert.isTrue(AgentSimulator.isSimulatorError(error))
      assert.strictEqual(error._tag, "SimulatorError")
      assert.strictEqual(error.reason, "Listen")
      assert.include(error.detail, `127.0.0.1:${port}`)
      assert.strictEqual(error.message, `Listen: ${error.detail}`)
      const made = new AgentSimulator.SimulatorError({ reason: "Listen", detail: "x" })
      assert.strictEqual(yield* Effect.flip(made), made)
      assert.isFalse(AgentSimulator.isSimulatorError({ _tag: "SimulatorError", reason: "Listen" }))
    }))
})

describe("the service's frames on a faulty path", () => {
  /** The service's channel_closed frame, as the agent's end sends it. */
  const channelClosedFrame = Effect.gen(function*() {
    let sent: Uint8Array | undefined
    yield* closeChannel((frame) => Effect.sync(() => void (sent = frame)), "sim-1", "done", false)
    return sent!
  })

  it.effect("channel_closed meets no per-frame fault: the WebSocket's close follows it on the same connection", () =>
    Effect.gen(function*() {
      const closed = yield* channelClosedFrame
      const delivered: Array<Uint8Array> = []
      const lossy = makeFaultyPipe({ drop: 1 }, () => 0, (frame) => delivered.push(frame))
      const data = new Uint8Array(200)
      lossy.push(data)
      lossy.push(closed)
      assert.deepStrictEqual(delivered, [closed])
    }))

  it.effect("a frame the path holds back goes before channel_closed, as on the wire", () =>
    Effect.gen(function*() {
      const closed = yield* channelClosedFrame
      const delivered: Array<Uint8Array> = []
      const reordering = makeFaultyPipe({ reorder: 1 }, () => 0, (frame) => delivered.push(frame))
      const data = new Uint8Array(200)
      reordering.push(data)
      assert.deepStrictEqual(delivered, [])
      reordering.push(closed)
      assert.deepStrictEqual(delivered, [data, closed])
    }))
})
