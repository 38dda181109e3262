/**
 * The data-channel engine's functions, one at a time, over a state built by `makeState`: no fibers, a clock that is
 * a number, frames written synchronously (`sendNow`) into an array.
 */
import { assert, describe, it } from "@effect/vitest"
import type { Clock } from "effect"
import { Deferred, Duration, Effect, Either, FastCheck as fc } from "effect"
import * as AgentMessage from "../src/AgentMessage.js"
import * as Acks from "../src/internal/channel/acknowledgements.js"
import { encodeAcknowledge, PAYLOAD_OFFSET } from "../src/internal/protocol/agentMessage.js"
import * as Receiving from "../src/internal/channel/receiving.js"
import * as Sending from "../src/internal/channel/sending.js"
import * as Options from "../src/internal/channel/dataChannelOptions.js"
import * as State from "../src/internal/channel/dataChannelState.js"
import * as Windowed from "../src/internal/channel/windowedSender.js"

const text = new TextEncoder()

interface Fixture {
  readonly state: State.ChannelState
  readonly sent: Array<AgentMessage.AgentMessage>
  readonly delivered: Array<string>
  /** the clock, in ms */
  now: number
  /** how many more messages `deliver` takes */
  accepting: number
  congested: boolean
  drainCallbacks: Array<() => void>
}

const fixture = (options: Partial<Options.ChannelOptions> = {}): Fixture => {
  const f: Fixture = {
    state: undefined as unknown as State.ChannelState,
    sent: [],
    delivered: [],
    now: 1000,
    accepting: Number.POSITIVE_INFINITY,
    congested: false,
    drainCallbacks: []
  }
  const clock = { unsafeCurrentTimeMillis: () => f.now } as Clock.Clock
  const channelOptions: Options.ChannelOptions = {
    send: () => {
      throw new Error("every frame goes through sendNow")
    },
    sendNow: (frame) => {
      const decoded = AgentMessage.decode(frame)
      if (Either.isLeft(decoded)) throw new Error(decoded.left.message)
      f.sent.push(decoded.right)
      return true
    },
    deliver: (message) => {
      if (f.accepting <= 0) return false
      f.accepting--
      f.delivered.push(new TextDecoder().decode(message.payload))
      return true
    },
    onChannelClosed: () => {},
    congestion: {
      congested: () => f.congested,
      whenDrained: (callback) => f.drainCallbacks.push(callback)
    },
    windowSize: 4,
    reorderBufferSize: 4,
    reorderBufferBytes: Number.POSITIVE_INFINITY,
    messagesPerSecond: 0,
    giveUpAfter: Duration.seconds(10),
    metrics: Options.makeMetrics("test_state"),
    ...options
  }
  ;(f as { state: State.ChannelState }).state = State.makeState(
    channelOptions,
    options.sender ?? Windowed.windowedSender(channelOptions.windowSize),
    clock
  )
  return f
}

const data = (sequenceNumber: number, body = `m${sequenceNumber}`) =>
  AgentMessage.make({
    messageType: AgentMessage.MessageType.OutputStreamData,
    createdDate: 1,
    sequenceNumber,
    payloadType: AgentMessage.PayloadType.Output,
    payload: text.encode(body)
  })

const ackMessage = (sequenceNumber: number) =>
  AgentMessage.make({
    messageType: AgentMessage.MessageType.Acknowledge,
    createdDate: 1,
    payload: text.encode(
      `{"AcknowledgedMessageType":"input_stream_data","AcknowledgedMessageId":"00000000-0000-4000-8000-000000000000",` +
        `"AcknowledgedMessageSequenceNumber":${sequenceNumber},"IsSequentialMessage":true}`
    )
  })

const ackedSequences = (f: Fixture) =>
  f.sent.filter((m) => m.messageType === AgentMessage.MessageType.Acknowledge).map((m) =>
    Acks.readAcknowledge(m.payload)!.AcknowledgedMessageSequenceNumber
  )

/** Queues `count` one-byte messages and sends them, as the sender fiber would. */
const sendMessages = (f: Fixture, count: number) => {
  for (let i = 0; i < count; i++) {
    Sending.enqueue(f.state, AgentMessage.PayloadType.Output, new Uint8Array([i]))
    Sending.sendNext(f.state, f.now)
  }
}

describe("receiving (onData)", () => {
  it("delivers and acknowledges the expected message, and moves on", () => {
    const f = fixture()
    Receiving.onData(f.state, data(0), f.now)
    assert.deepStrictEqual(f.delivered, ["m0"])
    assert.deepStrictEqual(ackedSequences(f), [0])
    assert.strictEqual(f.state.expected, 1)
    assert.strictEqual(f.state.stats.messagesReceived, 1)
    // acknowledgements answer with the type they acknowledge
    assert.strictEqual(
      Acks.readAcknowledge(f.sent[0]!.payload)!.AcknowledgedMessageType,
      AgentMessage.MessageType.OutputStreamData
    )
  })

  it("acknowledges a duplicate again without delivering it again", () => {
    const f = fixture()
    Receiving.onData(f.state, data(0), f.now)
    Receiving.onData(f.state, data(0), f.now)
    assert.deepStrictEqual(f.delivered, ["m0"])
    assert.deepStrictEqual(ackedSequences(f), [0, 0])
    assert.strictEqual(f.state.stats.duplicatesReceived, 1)
    assert.strictEqual(f.state.expected, 1)
  })

  it("does not acknowledge the expected message the receiver refuses", () => {
    const f = fixture()
    f.accepting = 0
    Receiving.onData(f.state, data(0), f.now)
    assert.deepStrictEqual(ackedSequences(f), [])
    assert.strictEqual(f.state.expected, 0)
    assert.strictEqual(f.state.stats.droppedUnacknowledged, 1)
  })

  it("holds and acknowledges a message ahead, then delivers in order once the gap fills", () => {
    const f = fixture()
    Receiving.onData(f.state, data(2), f.now)
    Receiving.onData(f.state, data(1), f.now)
    assert.deepStrictEqual(f.delivered, [])
    assert.deepStrictEqual(ackedSequences(f), [2, 1])
    assert.strictEqual(f.state.reorder.size, 2)
    Receiving.onData(f.state, data(0), f.now)
    assert.deepStrictEqual(f.delivered, ["m0", "m1", "m2"])
    assert.strictEqual(f.state.reorder.size, 0)
    assert.strictEqual(f.state.reorderBytes, 0)
    assert.strictEqual(f.state.expected, 3)
    assert.strictEqual(f.state.stats.messagesReceived, 3)
  })

  it("bounds the reorder buffer by count, by span and by bytes: what does not fit goes unacknowledged", () => {
    const byCount = fixture({ reorderBufferSize: 2, reorderAhead: 100 })
    Receiving.onData(byCount.state, data(1), byCount.now)
    Receiving.onData(byCount.state, data(2), byCount.now)
    Receiving.onData(byCount.state, data(3), byCount.now)
    assert.deepStrictEqual(ackedSequences(byCount), [1, 2])
    assert.strictEqual(byCount.state.stats.droppedUnacknowledged, 1)

    const bySpan = fixture({ reorderBufferSize: 4 })
    Receiving.onData(bySpan.state, data(4), bySpan.now) // expected 0, span 4: 4 is too far ahead
    Receiving.onData(bySpan.state, data(3), bySpan.now)
    assert.deepStrictEqual(ackedSequences(bySpan), [3])
    assert.strictEqual(bySpan.state.stats.droppedUnacknowledged, 1)

    const bySize = fixture({ reorderBufferBytes: 2 * (2 + State.REORDER_ENTRY_OVERHEAD) })
    Receiving.onData(bySize.state, data(1), bySize.now)
    Receiving.onData(bySize.state, data(2), bySize.now)
    Receiving.onData(bySize.state, data(3), bySize.now)
    assert.deepStrictEqual(ackedSequences(bySize), [1, 2])
    assert.strictEqual(bySize.state.reorderBytes, 2 * (2 + State.REORDER_ENTRY_OVERHEAD))
  })

  it("resumes delivery of held messages the receiver refused", () => {
    const f = fixture()
    Receiving.onData(f.state, data(1), f.now)
    Receiving.onData(f.state, data(2), f.now)
    f.accepting = 1
    Receiving.onData(f.state, data(0), f.now)
    assert.deepStrictEqual(f.delivered, ["m0"])
    assert.strictEqual(f.state.reorder.size, 2) // acknowledged, waiting for the receiver
    f.accepting = Number.POSITIVE_INFINITY
    Receiving.resumeDelivery(f.state)
    assert.deepStrictEqual(f.delivered, ["m0", "m1", "m2"])
    assert.deepStrictEqual(ackedSequences(f), [1, 2, 0])
    assert.strictEqual(f.state.expected, 3)
  })

  it("pause_publication pauses; start_publication, data or an acknowledgement end the pause", () => {
    const f = fixture()
    const frame = (messageType: AgentMessage.MessageType) =>
      AgentMessage.unsafeEncode(AgentMessage.make({ messageType, createdDate: 1, payload: text.encode("{}") }))
    Receiving.receive(f.state, frame(AgentMessage.MessageType.PausePublication))
    assert.isTrue(f.state.paused)
    Receiving.receive(f.state, frame(AgentMessage.MessageType.StartPublication))
    assert.isFalse(f.state.paused)
    Receiving.receive(f.state, frame(AgentMessage.MessageType.PausePublication))
    Receiving.receive(f.state, AgentMessage.unsafeEncode(data(0)))
    assert.isFalse(f.state.paused)
    Receiving.receive(f.state, frame(AgentMessage.MessageType.PausePublication))
    Receiving.receive(f.state, AgentMessage.unsafeEncode(ackMessage(7)))
    assert.isFalse(f.state.paused)
  })
})

describe("acknowledgements", () => {
  it("reads an acknowledge payload by its schema; a malformed one is undefined, never a throw", () => {
    assert.strictEqual(Acks.readAcknowledge(ackMessage(42).payload)!.AcknowledgedMessageSequenceNumber, 42)
    assert.isUndefined(Acks.readAcknowledge(text.encode("not json")))
    assert.isUndefined(Acks.readAcknowledge(text.encode(`{"AcknowledgedMessageSequenceNumber":"1"}`)))
    assert.isUndefined(Acks.readAcknowledge(text.encode(`{"IsSequentialMessage":true}`)))
    assert.isUndefined(Acks.readAcknowledge(text.encode(`[1]`)))
    assert.isUndefined(Acks.readAcknowledge(new Uint8Array([0xff, 0xfe])))
    // the fields the engine does not use may be absent
    const minimal = Acks.readAcknowledge(text.encode(`{"AcknowledgedMessageSequenceNumber":3}`))
    assert.strictEqual(minimal?.AcknowledgedMessageSequenceNumber, 3)
    // keys match whatever their case, as Go's encoding/json matches them; an exact match wins
    assert.strictEqual(Acks.acknowledgedSequence(text.encode(`{"acknowledgedmessagesequencenumber":7}`)), 7)
    assert.strictEqual(
      Acks.acknowledgedSequence(
        text.encode(`{"ACKNOWLEDGEDMESSAGESEQUENCENUMBER":1,"AcknowledgedMessageSequenceNumber":2}`)
      ),
      2
    )
  })

  it("a malformed acknowledgement changes nothing", () => {
    const f = fixture()
    sendMessages(f, 1)
    Sending.onAck(f.state, { ...ackMessage(0), payload: text.encode(`{"AcknowledgedMessageSequenceNumber":true}`) }, f.now)
    assert.strictEqual(f.state.inFlight.size, 1)
  })

  it("reads back the message id of an acknowledgement frame of ours", () => {
    const f = fixture()
    const message = data(5)
    Receiving.onData(f.state, data(0), f.now)
    Acks.writeAck(f.state, 5, message.messageId, f.now, false)
    const frame = AgentMessage.unsafeEncode(f.sent[1]!)
    assert.strictEqual(Acks.acknowledgedMessageId(frame), message.messageId)
  })

  it("holds acknowledgements while the transport is congested, one per sequence number, and flushes them in order", () => {
    const f = fixture()
    f.congested = true
    Receiving.onData(f.state, data(0), f.now)
    Receiving.onData(f.state, data(2), f.now)
    Receiving.onData(f.state, data(0), f.now) // a duplicate while its ack waits adds nothing
    assert.deepStrictEqual(ackedSequences(f), [])
    assert.deepStrictEqual([...f.state.pendingAcks.keys()], [0, 2])
    assert.strictEqual(f.drainCallbacks.length, 1) // asked once
    f.congested = false
    f.drainCallbacks.shift()!()
    assert.deepStrictEqual(ackedSequences(f), [0, 2])
    assert.strictEqual(f.state.pendingAcks.size, 0)
  })

  it("an acknowledgement due behind waiting ones waits too, and goes out after them", () => {
    const f = fixture()
    f.congested = true
    Receiving.onData(f.state, data(0), f.now)
    f.congested = false
    Receiving.onData(f.state, data(1), f.now) // the transport drained: those waiting go first
    assert.deepStrictEqual(ackedSequences(f), [0, 1])
  })

  it("repeats each acknowledgement once, when due", () => {
    const f = fixture({ repeatAckAfter: 50 })
    Receiving.onData(f.state, data(0), f.now)
    Receiving.onData(f.state, data(1), f.now + 10)
    assert.strictEqual(Acks.repeatDueAcks(f.state, f.now + 20), 30)
    assert.deepStrictEqual(ackedSequences(f), [0, 1])
    assert.strictEqual(Acks.repeatDueAcks(f.state, f.now + 50), 10)
    assert.deepStrictEqual(ackedSequences(f), [0, 1, 0])
    assert.strictEqual(Acks.repeatDueAcks(f.state, f.now + 60), -1)
    assert.deepStrictEqual(ackedSequences(f), [0, 1, 0, 1])
  })

  it("an acknowledgement whose entry the ring needs before its repeat is due is repeated at once", () => {
    const f = fixture({ repeatAckAfter: 50 })
    for (let sequence = 0; sequence < State.RECENT_ACKS + 2; sequence++) Receiving.onData(f.state, data(sequence), f.now)
    // the ring holds RECENT_ACKS: the first two went once more when their entries were taken
    assert.deepStrictEqual(ackedSequences(f).slice(State.RECENT_ACKS), [State.RECENT_ACKS, 0, State.RECENT_ACKS + 1, 1])
    assert.strictEqual(Acks.repeatDueAcks(f.state, f.now + 50), -1)
    const repeated = ackedSequences(f).slice(State.RECENT_ACKS + 4)
    assert.deepStrictEqual(repeated, Array.from({ length: State.RECENT_ACKS }, (_, i) => i + 2))
  })

  it("a repeat due while the transport is congested waits with the others and names its own message", () => {
    const f = fixture({ repeatAckAfter: 50 })
    const message = data(0)
    Receiving.onData(f.state, message, f.now)
    f.congested = true
    assert.strictEqual(Acks.repeatDueAcks(f.state, f.now + 50), -1)
    assert.deepStrictEqual([...f.state.pendingAcks.keys()], [0])
    const id = f.state.pendingAcks.get(0)!
    f.congested = false
    f.drainCallbacks.forEach((callback) => callback())
    assert.deepStrictEqual(ackedSequences(f), [0, 0])
    assert.strictEqual(Acks.readAcknowledge(f.sent[1]!.payload)!.AcknowledgedMessageId, id)
    assert.strictEqual(id, message.messageId)
  })

  it("rewrites the latest acknowledgements on a new transport", () => {
    const f = fixture()
    Receiving.onData(f.state, data(0), f.now)
    Receiving.onData(f.state, data(1), f.now)
    Acks.rewriteAcks(f.state)
    assert.deepStrictEqual(ackedSequences(f), [0, 1, 0, 1])
  })
})

describe("sending", () => {
  it("numbers messages from 0, records them in flight, and an acknowledgement takes one out", () => {
    const f = fixture()
    sendMessages(f, 3)
    assert.deepStrictEqual(f.sent.map((m) => [m.sequenceNumber, m.flags, m.messageType]), [
      [0, 0, "input_stream_data"],
      [1, 0, "input_stream_data"],
      [2, 0, "input_stream_data"]
    ])
    assert.deepStrictEqual([...f.state.inFlight.keys()], [0, 1, 2])
    const bytes = f.state.inFlightBytes
    f.now += 40
    Sending.onAck(f.state, ackMessage(1), f.now)
    assert.deepStrictEqual([...f.state.inFlight.keys()], [0, 2])
    assert.isBelow(f.state.inFlightBytes, bytes)
    // a clean 40 ms sample: RTT 0.875 * 100 + 0.125 * 40
    assert.strictEqual(f.state.rto.rtt, 92.5)
    Sending.onAck(f.state, ackMessage(1), f.now) // again: nothing
    Sending.onAck(f.state, ackMessage(9), f.now) // unknown: nothing
    assert.strictEqual(f.state.inFlight.size, 2)
  })

  it("splits bytes into chunks of 1024 and completes the send with the last one", () => {
    const f = fixture()
    const done = Sending.enqueue(f.state, AgentMessage.PayloadType.Output, new Uint8Array(2500))!
    assert.deepStrictEqual(f.state.outgoing.map((r) => r.payload.length), [1024, 1024, 452])
    assert.deepStrictEqual(f.state.outgoing.map((r) => r.done === done), [false, false, true])
  })

  it("the window spans sequence numbers from the oldest unacknowledged message", () => {
    const f = fixture({ windowSize: 4 })
    sendMessages(f, 4)
    assert.isTrue(f.state.sender.windowFull(f.state))
    Sending.onAck(f.state, ackMessage(3), f.now)
    assert.isTrue(f.state.sender.windowFull(f.state)) // 0 still waits
    Sending.onAck(f.state, ackMessage(0), f.now)
    assert.isFalse(f.state.sender.windowFull(f.state))
    // the sender step waits on the window instead of sending
    sendMessages(f, 1)
    Sending.enqueue(f.state, AgentMessage.PayloadType.Output, new Uint8Array([1]))
    Sending.enqueue(f.state, AgentMessage.PayloadType.Output, new Uint8Array([2]))
    const before = f.sent.length
    assert.isDefined(Sending.senderStep(f.state)) // 1 is the oldest now: sequence 5 would be 4 past it
    assert.strictEqual(f.sent.length, before)
  })

  it("the windowed sender resends a probable loss, times out the oldest, and gives up after giveUpAfter", () => {
    const f = fixture()
    const sender = (f.state.sender as ReturnType<typeof Windowed.windowedSender>).state
    sendMessages(f, 3)
    const entry = (sequence: number) => f.state.inFlight.get(sequence)!
    f.now += 10
    assert.strictEqual(Windowed.resendDecision(sender, f.state, 0, entry(0), true, f.now), "wait")
    Sending.onAck(f.state, ackMessage(2), f.now) // 0 and 1 were overtaken
    f.now += 200
    assert.strictEqual(Windowed.resendDecision(sender, f.state, 1, entry(1), false, f.now), "resend")
    assert.strictEqual(Windowed.resendDecision(sender, f.state, 0, entry(0), true, f.now), "resend")
    f.now += 10_000
    assert.strictEqual(Windowed.resendDecision(sender, f.state, 0, entry(0), true, f.now), "giveUp")
  })

  it("fails once: waiting sends fail, later sends see the failure", () => {
    const f = fixture()
    const done = Sending.enqueue(f.state, AgentMessage.PayloadType.Output, new Uint8Array([1]))!
    State.fail(f.state, "GiveUp", "first")
    State.fail(f.state, "Closed", "second")
    assert.deepStrictEqual(f.state.failure, { reason: "GiveUp", detail: "first" })
    assert.strictEqual(f.state.outgoing.length, 0)
    const outcome = Effect.runSync(Effect.either(Deferred.await(done)))
    assert.deepStrictEqual(outcome, Either.left({ reason: "GiveUp", detail: "first" }))
  })
})

describe("reading acknowledgements: the canonical form's shortcut gives the Schema's answer", () => {
  const text = new TextEncoder()
  const schemaSequence = (payload: Uint8Array) => Acks.readAcknowledge(payload)?.AcknowledgedMessageSequenceNumber
  const canonical = (type: string, id: string, sequence: number, sequential: boolean) =>
    `{"AcknowledgedMessageType":${JSON.stringify(type)},"AcknowledgedMessageId":${JSON.stringify(id)},` +
    `"AcknowledgedMessageSequenceNumber":${JSON.stringify(sequence)},"IsSequentialMessage":${sequential}}`

  it("what the agent and encodeAcknowledge write is read without the parser, to the same number", () => {
    const ours = encodeAcknowledge(AgentMessage.MessageType.OutputStreamData, "6a1a2f9e-3f1c-4a8b-9d2e-1234567890ab", 12345, 1)
    assert.strictEqual(Acks.canonicalAcknowledgedSequence(ours.subarray(PAYLOAD_OFFSET)), 12345)
    const body = text.encode(canonical("output_stream_data", "6a1a2f9e-3f1c-4a8b-9d2e-1234567890ab", 12345, true))
    assert.strictEqual(Acks.canonicalAcknowledgedSequence(body), 12345)
    assert.strictEqual(Acks.acknowledgedSequence(body), 12345)
    for (const other of [
      ` ${canonical("a", "b", 1, true)}`, // a space
      canonical("a\\u0041", "b", 1, true), // an escape
      canonical("a", "b", 1.5, true), // not an integer
      canonical("a", "b", 1e20, true), // too many digits
      `${canonical("a", "b", 1, true)}\n`, // trailing bytes
      `{"AcknowledgedMessageSequenceNumber":1,"AcknowledgedMessageType":"a","AcknowledgedMessageId":"b","IsSequentialMessage":true}`,
      canonical("a", "b", 42, true).replace(":42,", ":042,"), // a leading zero: no JSON number
      canonical("a", "b", 42, true).replace(":42,", ":-0,"), // minus zero
      canonical("a", "b", 42, true).replace(":42,", ":-,"), // no digits
      canonical("a", "b", 42, true).replace("true}", "tru}"), // no boolean
      canonical("a\u0001", "b", 1, true).replace("\\u0001", "\u0001") // a raw control character
    ]) {
      assert.isUndefined(Acks.canonicalAcknowledgedSequence(text.encode(other)), other)
      // the Schema still reads what the shortcut leaves to it
      assert.strictEqual(Acks.acknowledgedSequence(text.encode(other)), schemaSequence(text.encode(other)), other)
    }
  })

  it("property: wherever the shortcut answers, the Schema answers the same; where it does not, the Schema decides", () => {
    const field = fc.oneof(fc.string(), fc.string({ unit: "binary" }), fc.constantFrom("output_stream_data", ""))
    const sequence = fc.oneof(fc.integer(), fc.constantFrom(0, -1, 2 ** 53 - 1, 1e15, 123456789012345), fc.double())
    fc.assert(fc.property(field, field, sequence, fc.boolean(), (type, id, n, sequential) => {
      const payload = text.encode(canonical(type, id, n, sequential))
      const fast = Acks.canonicalAcknowledgedSequence(payload)
      if (fast !== undefined) assert.isTrue(Object.is(fast, schemaSequence(payload)))
      assert.isTrue(Object.is(Acks.acknowledgedSequence(payload), schemaSequence(payload)))
    }), { numRuns: 2000 })
    // and bytes that merely resemble one: a canonical ack with one byte changed
    const base = text.encode(canonical("output_stream_data", "6a1a2f9e-3f1c-4a8b-9d2e-1234567890ab", 4242, true))
    fc.assert(fc.property(fc.nat({ max: base.length - 1 }), fc.integer({ min: 0, max: 255 }), (at, byte) => {
      const payload = base.slice()
      payload[at] = byte
      const fast = Acks.canonicalAcknowledgedSequence(payload)
      if (fast !== undefined) assert.isTrue(Object.is(fast, schemaSequence(payload)))
      assert.isTrue(Object.is(Acks.acknowledgedSequence(payload), schemaSequence(payload)))
    }), { numRuns: 3000 })
  })
})
