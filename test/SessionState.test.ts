import { assert, describe, it } from "@effect/vitest"
import { Chunk, Deferred, Effect, Exit, Option, Redacted, Stream } from "effect"
import * as AgentMessage from "../src/AgentMessage.js"
import * as AgentPayload from "../src/AgentPayload.js"
import type * as Session from "../src/Session.js"
import * as SessionHandshake from "../src/internal/channel/sessionHandshake.js"
import * as State from "../src/internal/channel/sessionState.js"
import { flagPayload, makeState, send, terminate } from "../src/internal/channel/session.js"

const options: Session.SessionOptions = {
  sessionId: "s-1",
  streamUrl: "ws://127.0.0.1:1/unused",
  tokenValue: Redacted.make("token"),
  receiveBufferSize: 1024
}

const message = (payloadType: AgentMessage.PayloadType, payload: Uint8Array | string, sequenceNumber = 0) =>
  AgentMessage.make({
    messageType: "output_stream_data",
    payloadType,
    sequenceNumber,
    payload: typeof payload === "string" ? new TextEncoder().encode(payload) : payload
  })

/** the events offered so far, without waiting for more */
const takeEvents = (state: State.SessionState) =>
  Effect.map(state.events.takeAll, ([events]) => {
    const taken = Chunk.toArray(events)
    State.eventsRead(state, taken)
    return taken
  })

describe("sessionState: delivery over the state record", () => {
  it.scoped("a first Output decides a shell session without a handshake, and counts in the receive budget", () =>
    Effect.gen(function*() {
      const state = yield* makeState(options)
      assert.isTrue(State.deliver(state, message(AgentMessage.PayloadType.Output, "hello")))
      const ready = yield* Deferred.await(state.ready)
      assert.strictEqual(ready.sessionType, AgentPayload.SessionType.StandardStream)
      assert.isTrue(Option.isNone(ready.agentVersion))
      assert.strictEqual(state.buffered, 5)
      assert.isTrue(state.handshakeSeen)
    }))

  it.scoped("past the receive budget output is refused (left unacknowledged), and reading makes room again", () =>
    Effect.gen(function*() {
      const state = yield* makeState(options)
      assert.isTrue(State.deliver(state, message(AgentMessage.PayloadType.Output, new Uint8Array(1024))))
      assert.isFalse(State.deliver(state, message(AgentMessage.PayloadType.Output, new Uint8Array(1))))
      const [first] = yield* Stream.runCollect(Stream.take(State.outputStream(state), 1))
      assert.strictEqual(first?.length, 1024)
      assert.strictEqual(state.buffered, 0)
      assert.isTrue(State.deliver(state, message(AgentMessage.PayloadType.Output, new Uint8Array(1))))
      assert.strictEqual(state.peakBuffered, 1024)
    }))

  it.scoped("StdErr shares the byte budget with output", () =>
    Effect.gen(function*() {
      const state = yield* makeState(options)
      assert.isTrue(State.deliver(state, message(AgentMessage.PayloadType.StdErr, new Uint8Array(1024))))
      assert.isFalse(State.deliver(state, message(AgentMessage.PayloadType.Output, new Uint8Array(1))))
      const events = yield* takeEvents(state)
      assert.deepStrictEqual(events.map((event) => event._tag), ["StdErr"])
      assert.strictEqual(state.buffered, 0)
    }))

  it.scoped("events that carry no bulk bytes never hold output back: output flows while events is never read", () =>
    Effect.gen(function*() {
      const state = yield* makeState(options)
      const flag = flagPayload(AgentMessage.FlagPayload.ConnectToPortError)
      for (let i = 0; i < State.MAX_UNREAD_FLAGS + 10; i++) {
        assert.isTrue(State.deliver(state, message(AgentMessage.PayloadType.Flag, flag)))
      }
      for (let attempt = 1; attempt <= State.MAX_UNREAD_CONNECTION_EVENTS + 10; attempt++) {
        State.offerEvent(state, { _tag: "Reconnecting", attempt, cause: "test" })
      }
      assert.isTrue(State.deliver(state, message(AgentMessage.PayloadType.ExitCode, "EXIT_CODE: 3")))
      assert.strictEqual(state.buffered, 0)
      // the whole budget is still output's
      assert.isTrue(State.deliver(state, message(AgentMessage.PayloadType.Output, new Uint8Array(1024))))
      const [bytes] = yield* Stream.runCollect(Stream.take(State.outputStream(state), 1))
      assert.strictEqual(bytes?.length, 1024)
      // the bounds held, and the exit code was kept past them
      const events = yield* takeEvents(state)
      assert.strictEqual(events.filter((event) => event._tag === "Flag").length, State.MAX_UNREAD_FLAGS)
      assert.strictEqual(events.filter((event) => event._tag === "Reconnecting").length, State.MAX_UNREAD_CONNECTION_EVENTS)
      const last = events.at(-1)
      assert.isTrue(last?._tag === "Payload" && last.payloadType === AgentMessage.PayloadType.ExitCode)
      // read: room again
      assert.strictEqual(state.unreadFlags, 0)
      assert.isTrue(State.offerEvent(state, { _tag: "Flag", flag: 3 }))
    }))

  it.scoped("Payload events (the exit code) are never lost and bounded: past the bound one waits unacknowledged", () =>
    Effect.gen(function*() {
      const state = yield* makeState(options)
      const exitCode = message(AgentMessage.PayloadType.ExitCode, "EXIT_CODE: 3")
      for (let i = 0; i < State.MAX_UNREAD_PAYLOADS; i++) assert.isTrue(State.deliver(state, exitCode))
      // a peer that sends nothing but these fills nothing: the next is not taken, so the engine does not acknowledge it
      assert.isFalse(State.deliver(state, exitCode))
      assert.strictEqual(state.unreadPayloads, State.MAX_UNREAD_PAYLOADS)
      const events = yield* takeEvents(state)
      assert.strictEqual(events.length, State.MAX_UNREAD_PAYLOADS)
      assert.isTrue(events.every((event) => event._tag === "Payload"))
      assert.strictEqual(state.unreadPayloads, 0)
      assert.isTrue(State.deliver(state, exitCode))
    }))

  it.scoped("a Flag's value is read big-endian; an unknown payload type is skipped, and acknowledged", () =>
    Effect.gen(function*() {
      const state = yield* makeState(options)
      assert.strictEqual(State.flagOf(flagPayload(AgentMessage.FlagPayload.TerminateSession)), 2)
      assert.strictEqual(State.flagOf(new Uint8Array([1, 0, 0, 0])), 0x01000000)
      assert.strictEqual(State.flagOf(new Uint8Array([3])), -1)
      assert.isTrue(State.deliver(state, message(99 as AgentMessage.PayloadType, "?")))
      assert.isTrue(state.unknownPayloadTypeLogged)
      assert.deepStrictEqual(state.events.unsafeSize(), Option.some(0))
    }))

  it.scoped("the end: once, readers see it, waiting for the handshake fails, and sending is refused", () =>
    Effect.gen(function*() {
      const state = yield* makeState(options)
      State.end(state, Exit.succeed("bye"))
      State.failWith(state, "Transport", "too late")
      assert.strictEqual(yield* Deferred.await(state.ended), "bye")
      const ready = yield* Effect.flip(Deferred.await(state.ready))
      assert.strictEqual(ready.reason, "Handshake")
      assert.include(ready.detail, "bye")
      assert.deepStrictEqual(Chunk.toArray(yield* Stream.runCollect(State.outputStream(state))), [])
      const refused = yield* Effect.flip(send(state, AgentMessage.PayloadType.Output, new Uint8Array(1)))
      assert.strictEqual(refused.reason, "Closed")
      // terminate after the end: no flag, and false (the service did not close the channel)
      assert.isFalse(yield* terminate(state))
    }))
})

describe("sessionHandshake: the handshake over the state record", () => {
  it.scoped("channel_closed ends the session with its text, after a ChannelClosed event", () =>
    Effect.gen(function*() {
      const state = yield* makeState(options)
      const closed = AgentMessage.make({
        messageType: "channel_closed",
        payload: new TextEncoder().encode(
          JSON.stringify({ MessageId: "m", CreatedDate: "", DestinationId: "", SessionId: "s-1", MessageType: "channel_closed", SchemaVersion: 1, Output: "done" })
        )
      })
      SessionHandshake.onChannelClosed(state, closed)
      assert.strictEqual(yield* Deferred.await(state.ended), "done")
      assert.isTrue(state.closedByService)
      const events = yield* takeEvents(state)
      assert.deepStrictEqual(events, [{ _tag: "ChannelClosed", output: "done" }])
    }))

  it.scoped("HandshakeComplete without a HandshakeRequest fails the session with Handshake", () =>
    Effect.gen(function*() {
      const state = yield* makeState(options)
      SessionHandshake.receive(state, message(AgentMessage.PayloadType.HandshakeComplete, "{}"))
      const error = yield* Effect.flip(Deferred.await(state.ended))
      assert.strictEqual(error.reason, "Handshake")
    }))

  it.scoped("an encryption challenge without a data key fails the session with Encryption", () =>
    Effect.gen(function*() {
      const state = yield* makeState(options)
      SessionHandshake.receive(state, message(AgentMessage.PayloadType.EncChallengeRequest, "{\"Challenge\":\"AA==\"}"))
      const error = yield* Effect.flip(Deferred.await(state.ended))
      assert.strictEqual(error.reason, "Encryption")
    }))

  it("why a handshake answer ends the session: KMS unavailable, KMS failed, no supported type, or nothing", () => {
    const response = new AgentPayload.HandshakeResponse({ ClientVersion: "1", ProcessedClientActions: [], Errors: ["Unknown session type X"] })
    const base = { response, properties: null, cipher: undefined, kmsFailure: undefined, kmsUnavailable: Option.none<string>() }
    assert.isUndefined(SessionHandshake.handshakeFailure({ ...base, sessionType: AgentPayload.SessionType.Port }))
    assert.strictEqual(SessionHandshake.handshakeFailure({ ...base, sessionType: undefined })?.reason, "Handshake")
    assert.strictEqual(
      SessionHandshake.handshakeFailure({ ...base, sessionType: undefined, kmsUnavailable: Option.some("no KmsApi") })?.reason,
      "EncryptionRequired"
    )
  })
})
