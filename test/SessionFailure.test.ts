/**
 * The Session against broken and hostile peers: every wait ends within its deadline with a typed error, and what
 * a peer can send is bounded. Each test names the finding of the failure-semantics issue it covers.
 */
import { assert, describe, it } from "@effect/vitest"
import { Clock, Deferred, Duration, Effect, Exit, Option, Redacted, Scope, Stream } from "effect"
import * as AgentMessage from "../src/AgentMessage.js"
import * as Session from "../src/Session.js"
import * as SsmApi from "../src/SsmApi.js"
import { hostileAgent, type Peer, silentServer, statusServer } from "./utils/hostileAgent.js"
import { openSession } from "./utils/session.js"
import { closedPort } from "./utils/tcp.js"

const response = (streamUrl: string) => ({
  SessionId: "s",
  StreamUrl: streamUrl,
  TokenValue: Redacted.make("t")
})

/** How long `effect` took, in ms, with its exit. */
const timed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const start = yield* Clock.currentTimeMillis
    const exit = yield* Effect.exit(effect)
    return [exit, (yield* Clock.currentTimeMillis) - start] as const
  })

const failureOf = <A>(exit: Exit.Exit<A, Session.SessionError>) => {
  assert.isTrue(Exit.isFailure(exit))
  return Option.getOrThrow(Exit.isFailure(exit) ? Exit.causeOption(exit).pipe(Option.flatMap((cause) =>
    cause._tag === "Fail" ? Option.some(cause.error) : Option.none()
  )) : Option.none())
}

const isData = (payloadType: number) => (message: { readonly messageType: string; readonly payloadType: number }) =>
  message.messageType === "input_stream_data" && message.payloadType === payloadType

describe("Session: opening is bounded (finding 1)", () => {
  for (
    const [name, url] of [
      ["connection refused", Effect.map(closedPort, (port) => `ws://127.0.0.1:${port}/`)],
      ["HTTP 403 on the upgrade", Effect.map(statusServer(403), (port) => `ws://127.0.0.1:${port}/`)],
      ["a black hole that never answers the upgrade", Effect.map(silentServer, (port) => `ws://127.0.0.1:${port}/`)]
    ] as const
  ) {
    it.scopedLive(`${name}: Session.make fails with Open within its open timeout`, () =>
      Effect.gen(function*() {
        const streamUrl = yield* url
        const [exit, elapsed] = yield* timed(
          Effect.scoped(openSession(response(streamUrl), { openTimeout: "1 second", handshakeTimeout: "30 seconds" }))
        )
        const error = failureOf(exit)
        assert.strictEqual(error.reason, "Open")
        assert.isBelow(elapsed, 5_000)
        if (name === "HTTP 403 on the upgrade") assert.include(error.detail, "403")
      }))
  }
})

/** A Port session through a hostile agent running `then` after the handshake. */
const hostileSession = (
  then: (peer: Peer) => Effect.Effect<void, unknown, Scope.Scope>,
  options: Partial<Session.SessionOptions> = {},
  handshake: Parameters<Peer["handshake"]>[0] = {}
) =>
  Effect.gen(function*() {
    const started = yield* hostileAgent((peer) => Effect.zipRight(peer.handshake(handshake), then(peer)))
    return yield* openSession(started, options)
  })

describe("Session: closing is bounded (finding 2)", () => {
  it.scopedLive("an agent that never answers the TerminateSession flag, nor acknowledges anything: closing takes terminateTimeout", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const session = yield* hostileSession(() => Effect.never, { windowSize: 4, terminateTimeout: "500 millis" }).pipe(
        Scope.extend(scope)
      )
      yield* session.closeWith(AgentMessage.FlagPayload.TerminateSession)
      // fill the window, so the flag itself has to wait for room that never comes
      yield* Effect.forkIn(session.write(new Uint8Array(64 * 1024)), scope)
      const [, elapsed] = yield* timed(Scope.close(scope, Exit.void))
      assert.isBelow(elapsed, 3_000)
    }))
})

describe("SsmApi.terminateOnClose: the API fallback is bounded too (finding 2)", () => {
  it.scopedLive("an agent that ignores the flag and an API endpoint that never answers: closing takes the flag's and the API's deadlines", () =>
    Effect.gen(function*() {
      const blackHole = yield* silentServer
      const scope = yield* Scope.make()
      yield* Effect.gen(function*() {
        const session = yield* hostileSession(() => Effect.never, { terminateTimeout: "500 millis" })
        yield* session.closeWith(AgentMessage.FlagPayload.TerminateSession)
        yield* SsmApi.terminateOnClose(session)
      }).pipe(
        Effect.provide(SsmApi.layer({
          region: "us-east-1",
          endpoint: `http://127.0.0.1:${blackHole}`,
          credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "not-a-secret" }
        })),
        Scope.extend(scope)
      )
      const [, elapsed] = yield* timed(Scope.close(scope, Exit.void))
      assert.isBelow(elapsed, 500 + 10_000 + 3_000)
      assert.isAtLeast(elapsed, 10_000)
    }), 30_000)
})

describe("Session: what a hostile agent sends is bounded", () => {
  it.scopedLive("a data message of unknown PayloadType is acknowledged and skipped, and the sequence moves on (finding 6)", () =>
    Effect.gen(function*() {
      const acked = yield* Deferred.make<ReadonlyArray<number>>()
      const session = yield* hostileSession((peer) =>
        Effect.gen(function*() {
          yield* peer.data(2, 99, "from a newer agent")
          yield* peer.data(3, 1, "after it")
          const sequences: Array<number> = []
          while (sequences.length < 2) {
            const ack = yield* peer.next((m) => m.messageType === "acknowledge")
            if (Option.isNone(ack)) break
            const sequence = JSON.parse(new TextDecoder().decode(ack.value.payload)).AcknowledgedMessageSequenceNumber
            if (sequence >= 2 && !sequences.includes(sequence)) sequences.push(sequence)
          }
          yield* Deferred.succeed(acked, sequences.sort())
          yield* Effect.never
        })
      )
      const first = yield* session.output.pipe(Stream.take(1), Stream.runCollect)
      assert.strictEqual(new TextDecoder().decode([...first][0]), "after it")
      assert.deepStrictEqual(yield* Deferred.await(acked), [2, 3])
    }))

  it.scopedLive("a repeated HandshakeRequest is acknowledged and ignored: one response, no second data key (finding 7)", () =>
    Effect.gen(function*() {
      const responses = yield* Deferred.make<number>()
      yield* hostileSession((peer) =>
        Effect.gen(function*() {
          for (let i = 0; i < 20; i++) {
            yield* peer.data(2 + i, 5, JSON.stringify({ AgentVersion: "3.3.1142.0", RequestedClientActions: [] }))
          }
          yield* peer.data(22, 1, "done")
          // everything up to 22 acknowledged, and no HandshakeResponse among what the client sent
          let count = 0
          while (true) {
            const message = yield* peer.next()
            if (Option.isNone(message)) break
            if (isData(6)(message.value)) count++
            if (
              message.value.messageType === "acknowledge" &&
              new TextDecoder().decode(message.value.payload).includes(`"AcknowledgedMessageSequenceNumber":22`)
            ) break
          }
          yield* Deferred.succeed(responses, count)
        })
      )
      assert.strictEqual(yield* Deferred.await(responses), 0)
    }))

  it.scopedLive("a data message over the size limit ends the session with a typed Protocol error, not held (finding 5)", () =>
    Effect.gen(function*() {
      const session = yield* hostileSession((peer) =>
        Effect.zipRight(peer.data(3, 1, new Uint8Array(256 * 1024)), Effect.never)
      )
      const error = yield* Effect.flip(session.closed)
      assert.strictEqual(error.reason, "Protocol")
      assert.include(error.detail, "262144")
    }))
})

describe("Session: a failed client action is reported before leaving (finding 9)", () => {
  it.scopedLive("KMS asked for without a KmsApi: the HandshakeResponse says Failed with the reason, then EncryptionRequired", () =>
    Effect.gen(function*() {
      const said = yield* Deferred.make<string>()
      const started = yield* hostileAgent((peer) =>
        Effect.gen(function*() {
          yield* peer.data(
            0,
            5,
            JSON.stringify({
              AgentVersion: "3.3.1142.0",
              RequestedClientActions: [
                { ActionType: "SessionType", ActionParameters: { SessionType: "Standard_Stream", Properties: null } },
                { ActionType: "KMSEncryption", ActionParameters: { KMSKeyId: "alias/k" } }
              ]
            })
          )
          const answer = yield* peer.next(isData(6))
          if (Option.isSome(answer)) yield* peer.ack(answer.value)
          yield* Deferred.succeed(said, Option.match(answer, { onNone: () => "", onSome: (m) => new TextDecoder().decode(m.payload) }))
        })
      )
      const [exit, elapsed] = yield* timed(Effect.scoped(openSession(started, { target: "i-1" })))
      assert.strictEqual(failureOf(exit).reason, "EncryptionRequired")
      const response = JSON.parse(yield* Deferred.await(said))
      const kms = response.ProcessedClientActions.find((action: { ActionType: string }) => action.ActionType === "KMSEncryption")
      assert.strictEqual(kms.ActionStatus, 2)
      assert.include(kms.Error, "KmsApi")
      assert.isBelow(elapsed, Duration.toMillis("5 seconds"))
    }))
})
