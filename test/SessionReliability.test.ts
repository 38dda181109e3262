/**
 * The data-channel engine under the Session, driven by TestClock: RTO, retransmission, give-up, pacing, the
 * window, pause/start, reordering, duplicates and the bounded buffers.
 */
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Either, Fiber, TestClock } from "effect"
import * as AgentMessage from "../src/AgentMessage.js"
import * as DataChannel from "../src/internal/channel/dataChannel.js"
import * as Rto from "../src/internal/channel/rto.js"
import * as AgentSender from "../src/internal/simulator/agentSender.js"

const decodeAll = (frames: ReadonlyArray<Uint8Array>) =>
  frames.map((frame) => {
    const message = AgentMessage.decode(frame)
    if (Either.isLeft(message)) throw new Error(message.left.message)
    return message.right
  })

/** A client-role engine whose frames are captured, and helpers to play the agent. */
const harness = (options: Partial<DataChannel.ChannelOptions> = {}) =>
  Effect.gen(function*() {
    const sent: Array<Uint8Array> = []
    const delivered: Array<AgentMessage.AgentMessage> = []
    /** how many more messages the receiver takes */
    let accepting = Number.POSITIVE_INFINITY
    const channel = yield* DataChannel.make({
      send: (frame) => Effect.sync(() => sent.push(frame)),
      deliver: (message) => {
        if (accepting <= 0) return false
        accepting--
        delivered.push({ ...message, payload: message.payload.slice() })
        return true
      },
      onChannelClosed: () => {},
      windowSize: 1024,
      reorderBufferSize: 8,
      reorderBufferBytes: Number.POSITIVE_INFINITY,
      messagesPerSecond: 0,
      giveUpAfter: Duration.minutes(5),
      metrics: DataChannel.makeMetrics("test"),
      ...options
    })
    const agentFrame = (fields: Partial<AgentMessage.AgentMessage> & Pick<AgentMessage.AgentMessage, "messageType">) =>
      AgentMessage.unsafeEncode(AgentMessage.make({ createdDate: 1, ...fields }))
    const ack = (sequenceNumber: number) =>
      channel.receive(agentFrame({
        messageType: "acknowledge",
        payload: new TextEncoder().encode(
          `{"AcknowledgedMessageType":"input_stream_data","AcknowledgedMessageId":"00000000-0000-4000-8000-000000000000",` +
            `"AcknowledgedMessageSequenceNumber":${sequenceNumber},"IsSequentialMessage":true}`
        )
      }))
    const output = (sequenceNumber: number, text = `m${sequenceNumber}`) =>
      channel.receive(agentFrame({
        messageType: options.sends === "output_stream_data" ? "input_stream_data" : "output_stream_data",
        sequenceNumber,
        payloadType: 1,
        payload: new TextEncoder().encode(text)
      }))
    const settle = Effect.gen(function*() {
      for (let i = 0; i < 50; i++) yield* Effect.yieldNow()
    })
    return {
      channel,
      sent,
      delivered,
      ack,
      output,
      settle,
      agentFrame,
      setAccepting: (value: boolean | number) =>
        (accepting = value === true ? Number.POSITIVE_INFINITY : value === false ? 0 : value),
      dataSent: () =>
        decodeAll(sent).filter((m) =>
          m.messageType === (options.sends ?? "input_stream_data")
        ),
      acksSent: () => decodeAll(sent).filter((m) => m.messageType === "acknowledge")
    }
  })

describe("RTO (AGENT-PROTOCOL.md section 5.4)", () => {
  it("follows AWS's formula, in AWS's order, between 200 ms and 1 s", () => {
    let state = Rto.initialRto
    assert.deepStrictEqual(state, { rtt: 100, rttVar: 0, rto: 200 })
    state = Rto.update(state, 50)
    // RTTVAR uses the old RTT: 0.75*0 + 0.25*|100-50| = 12.5; RTT = 0.875*100 + 0.125*50 = 93.75
    assert.strictEqual(state.rttVar, 12.5)
    assert.strictEqual(state.rtt, 93.75)
    assert.strictEqual(state.rto, 200) // 93.75 + 50 = 143.75, raised to the 200 ms floor
    for (let i = 0; i < 20; i++) state = Rto.update(state, 5000)
    assert.strictEqual(state.rto, 1000)
    state = Rto.update({ rtt: 400, rttVar: 10, rto: 440 }, 400)
    assert.strictEqual(state.rto, 400 + Math.max(10, 4 * 7.5))
  })
})

describe("data channel engine", () => {
  it.scoped("sequence numbers from 0, chunks of at most 1024 bytes, flags 0", () =>
    Effect.gen(function*() {
      const h = yield* harness()
      yield* h.channel.send(1, new Uint8Array(2500))
      yield* h.channel.send(3, new TextEncoder().encode(`{"cols":80,"rows":24}`))
      yield* h.settle
      const data = h.dataSent()
      assert.deepStrictEqual(data.map((m) => m.sequenceNumber), [0, 1, 2, 3])
      assert.deepStrictEqual(data.map((m) => m.payload.length), [1024, 1024, 452, 21])
      assert.deepStrictEqual(data.map((m) => m.flags), [0, 0, 0, 0])
    }))

  it.scoped("resends an unacknowledged message after the RTO, backing off, and stops when it is acknowledged", () =>
    Effect.gen(function*() {
      const h = yield* harness()
      const tick = (d: Duration.DurationInput) => Effect.zipRight(TestClock.adjust(d), h.settle)
      yield* h.channel.send(1, new Uint8Array([1]))
      yield* h.settle
      assert.strictEqual(h.dataSent().length, 1)
      yield* tick("100 millis")
      assert.strictEqual(h.dataSent().length, 1)
      yield* tick("100 millis")
      assert.strictEqual(h.dataSent().length, 2) // 200 ms: the initial RTO
      yield* tick("300 millis")
      assert.strictEqual(h.dataSent().length, 2) // then after twice the RTO (RFC 6298 back-off)
      yield* tick("100 millis")
      assert.strictEqual(h.dataSent().length, 3)
      yield* tick("700 millis")
      assert.strictEqual(h.dataSent().length, 3) // 4 x RTO = 800 ms later
      yield* tick("100 millis")
      assert.strictEqual(h.dataSent().length, 4)
      yield* tick("900 millis")
      assert.strictEqual(h.dataSent().length, 4) // then capped at 1 s
      yield* tick("100 millis")
      assert.strictEqual(h.dataSent().length, 5)
      const [first, again] = h.dataSent()
      assert.strictEqual(AgentMessage.unsafeEncode(first!).toString(), AgentMessage.unsafeEncode(again!).toString())
      h.ack(0)
      yield* tick("2 seconds")
      assert.strictEqual(h.dataSent().length, 5)
      assert.strictEqual(h.channel.stats().retransmissions, 4)
      assert.strictEqual(h.channel.unacknowledged(), 0)
    }))

  it.scoped("with nothing acknowledged only the oldest message goes again; after a later ack, the gaps go at once", () =>
    Effect.gen(function*() {
      const h = yield* harness()
      yield* h.channel.send(1, new Uint8Array(5 * 1024))
      yield* h.settle
      yield* TestClock.adjust("200 millis")
      yield* h.settle
      assert.deepStrictEqual(h.dataSent().slice(5).map((m) => m.sequenceNumber), [0])
      // the agent acknowledges 3 and 4: 0, 1 and 2 were lost
      h.ack(0)
      h.ack(3)
      h.ack(4)
      yield* TestClock.adjust("100 millis")
      yield* h.settle
      assert.deepStrictEqual(h.dataSent().slice(6).map((m) => m.sequenceNumber), [1, 2])
    }))

  it.scoped("gives up after giveUpAfter with a typed failure", () =>
    Effect.gen(function*() {
      const h = yield* harness({ giveUpAfter: Duration.seconds(5) })
      yield* h.channel.send(1, new Uint8Array([1]))
      const failed = yield* Effect.fork(h.channel.failed)
      yield* TestClock.adjust("4900 millis")
      assert.isNull(failed.unsafePoll())
      yield* TestClock.adjust("200 millis")
      const failure = yield* Fiber.join(failed)
      assert.strictEqual(failure.reason, "GiveUp")
      assert.strictEqual((yield* Effect.flip(h.channel.send(1, new Uint8Array([2])))).reason, "GiveUp")
    }))

  it.scoped("paces data messages to messagesPerSecond", () =>
    Effect.gen(function*() {
      const h = yield* harness({ messagesPerSecond: 10 })
      const sending = yield* Effect.fork(h.channel.send(1, new Uint8Array(10 * 1024)))
      yield* h.settle
      assert.strictEqual(h.dataSent().length, 1) // the 20 ms burst allows one at 100 ms spacing
      yield* TestClock.adjust("500 millis")
      yield* h.settle
      assert.strictEqual(h.dataSent().length, 6)
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(sending)
      yield* h.settle
      const sent = h.dataSent()
      assert.strictEqual(new Set(sent.map((m) => m.sequenceNumber)).size, 10)
      // resends are paced too: 1.5 s at 10 per second, plus the 20 ms burst
      assert.isAtMost(sent.length, 16)
    }))

  it.scoped("the window bounds messages in flight: sending suspends until acknowledgements come", () =>
    Effect.gen(function*() {
      const h = yield* harness({ windowSize: 2 })
      const sending = yield* Effect.fork(h.channel.send(1, new Uint8Array(4 * 1024)))
      yield* h.settle
      assert.strictEqual(h.dataSent().length, 2)
      h.ack(0)
      yield* h.settle
      assert.strictEqual(h.dataSent().length, 3)
      h.ack(1)
      h.ack(2)
      yield* Fiber.join(sending)
      yield* h.settle
      assert.strictEqual(h.dataSent().length, 4)
    }))

  it.scoped("closing the channel fails a send that waits for the window, instead of hanging", () =>
    Effect.gen(function*() {
      const h = yield* harness({ windowSize: 2 })
      const sending = yield* Effect.fork(h.channel.send(1, new Uint8Array(4 * 1024)))
      yield* h.settle
      assert.strictEqual(h.dataSent().length, 2)
      h.channel.close("the session has ended")
      const failure = yield* Effect.flip(Fiber.join(sending))
      assert.strictEqual(failure.reason, "Closed")
      assert.strictEqual((yield* Effect.flip(h.channel.send(1, new Uint8Array(1)))).reason, "Closed")
    }))

  it.scoped("pause_publication holds new data (and resends) until start_publication", () =>
    Effect.gen(function*() {
      const h = yield* harness()
      h.channel.receive(h.agentFrame({ messageType: "pause_publication", payload: new TextEncoder().encode("{}") }))
      assert.isTrue(h.channel.paused())
      const sending = yield* Effect.fork(h.channel.send(1, new Uint8Array([1])))
      yield* TestClock.adjust("1 second")
      assert.strictEqual(h.dataSent().length, 0)
      h.channel.receive(h.agentFrame({ messageType: "start_publication", payload: new TextEncoder().encode("{}") }))
      yield* Fiber.join(sending)
      yield* h.settle
      assert.strictEqual(h.dataSent().length, 1)
    }))

  it.scoped("receiving: in-order delivery through the reorder buffer, duplicates re-acked, nothing delivered twice", () =>
    Effect.gen(function*() {
      const h = yield* harness()
      h.output(1)
      h.output(2)
      assert.strictEqual(h.delivered.length, 0)
      h.output(0)
      h.output(1) // duplicate
      yield* h.settle
      assert.deepStrictEqual(h.delivered.map((m) => new TextDecoder().decode(m.payload)), ["m0", "m1", "m2"])
      assert.deepStrictEqual(h.acksSent().length, 4) // 1, 2, 0 and the re-ack of 1
      assert.strictEqual(h.channel.stats().duplicatesReceived, 1)
    }))

  it.scoped("a full reorder buffer or a full delivery buffer drops without acknowledging", () =>
    Effect.gen(function*() {
      const h = yield* harness()
      for (let seq = 1; seq <= 20; seq++) h.output(seq)
      yield* h.settle
      assert.strictEqual(h.channel.stats().reorderDepth, 7)
      assert.strictEqual(h.acksSent().length, 7) // 1..7 stored (within 8 of expected), the rest dropped
      h.setAccepting(false)
      h.output(0)
      yield* h.settle
      assert.strictEqual(h.acksSent().length, 7)
      assert.strictEqual(h.delivered.length, 0)
      h.setAccepting(true)
      h.output(0)
      yield* h.settle
      assert.strictEqual(h.delivered.length, 8)
    }))

  it.scoped("frames that fail to decode are dropped unacknowledged", () =>
    Effect.gen(function*() {
      const invalid: Array<string> = []
      const h = yield* harness({ onInvalid: (error) => invalid.push(error.reason) })
      const frame = h.agentFrame({ messageType: "output_stream_data", payloadType: 1, payload: new Uint8Array([1]) })
      frame[frame.length - 1] = 2
      h.channel.receive(frame)
      h.channel.receive(new Uint8Array(10))
      yield* h.settle
      assert.deepStrictEqual(invalid, ["DigestMismatch", "TooShort"])
      assert.strictEqual(h.acksSent().length, 0)
    }))
})

describe("receiving as the agent needs it", () => {
  it.scoped("acknowledges every accepted message once more after repeatAckAfter, with the same bytes", () =>
    Effect.gen(function*() {
      const h = yield* harness({ repeatAckAfter: 50 })
      h.output(0)
      h.output(2)
      yield* h.settle
      assert.strictEqual(h.acksSent().length, 2)
      yield* TestClock.adjust("49 millis")
      yield* h.settle
      assert.strictEqual(h.acksSent().length, 2)
      yield* TestClock.adjust("1 millis")
      yield* h.settle
      const acks = h.acksSent()
      assert.deepStrictEqual(acks.map((ack) => new TextDecoder().decode(ack.payload).match(/Number":(\d+)/)![1]), [
        "0",
        "2",
        "0",
        "2"
      ])
      assert.strictEqual(acks[2]!.messageId, acks[0]!.messageId)
      yield* TestClock.adjust("1 second")
      yield* h.settle
      assert.strictEqual(h.acksSent().length, 4)
    }))

  /** A transport whose backlog a test fills and drains: `congested` as told, drain callbacks kept for the test. */
  const congestedTransport = () => {
    const state = { congested: false, allowances: [] as Array<number>, drains: [] as Array<() => void> }
    const congestion: DataChannel.Congestion = {
      congested: (allowance) => {
        state.allowances.push(allowance)
        return state.congested
      },
      whenDrained: (callback) => {
        state.drains.push(callback)
      }
    }
    const drain = () => {
      state.congested = false
      const callbacks = state.drains.splice(0)
      for (const callback of callbacks) callback()
    }
    return { state, congestion, drain }
  }
  const ackedSequences = (acks: ReadonlyArray<AgentMessage.AgentMessage>) =>
    acks.map((ack) => Number(new TextDecoder().decode(ack.payload).match(/Number":(\d+)/)![1]))

  it.scoped("while the transport is congested acks wait, one per sequence number, and all go when it drains", () =>
    Effect.gen(function*() {
      const transport = congestedTransport()
      const h = yield* harness({ repeatAckAfter: 50, congestion: transport.congestion })
      h.output(0)
      yield* h.settle
      assert.deepStrictEqual(ackedSequences(h.acksSent()), [0])
      transport.state.congested = true
      // in order, out of order, duplicates of both, and the repeat of 0 falling due: nothing is written, nothing lost
      h.output(1)
      h.output(3)
      h.output(1)
      h.output(0)
      h.output(3)
      h.output(2)
      yield* TestClock.adjust("50 millis")
      yield* h.settle
      assert.deepStrictEqual(ackedSequences(h.acksSent()), [0])
      assert.strictEqual(h.delivered.length, 4)
      assert.strictEqual(h.channel.stats().duplicatesReceived, 3)
      assert.strictEqual(transport.state.drains.length, 1, "one drain callback asked for")
      assert.strictEqual(h.channel.stats().acknowledgementsWaiting, 4)
      transport.drain()
      yield* h.settle
      assert.strictEqual(h.channel.stats().acknowledgementsWaiting, 0)
      // each once, in the order they were due (0's repeat included); not repeated later, as they went late anyway
      assert.deepStrictEqual(ackedSequences(h.acksSent()), [0, 1, 3, 0, 2])
      yield* TestClock.adjust("1 second")
      yield* h.settle
      assert.deepStrictEqual(ackedSequences(h.acksSent()), [0, 1, 3, 0, 2])
      // once drained, a duplicate is acknowledged at once again, and so is a new message (then repeated)
      h.output(1)
      h.output(4)
      yield* TestClock.adjust("50 millis")
      yield* h.settle
      assert.deepStrictEqual(ackedSequences(h.acksSent()), [0, 1, 3, 0, 2, 1, 4, 1, 4])
    }))

  it.scoped("an acknowledgement that waits, or a repeat that waits, names its message as the one written at once", () =>
    Effect.gen(function*() {
      const transport = congestedTransport()
      const h = yield* harness({ repeatAckAfter: 50, congestion: transport.congestion })
      const ids = ["6f1c0c4e-2b7a-4d3e-9a51-0c2d4e6f8a10", "a3b2c1d0-e9f8-4a7b-8c6d-5e4f3a2b1c0d"]
      const data = (sequenceNumber: number) =>
        h.channel.receive(h.agentFrame({
          messageType: "output_stream_data",
          sequenceNumber,
          messageId: ids[sequenceNumber]!,
          payloadType: 1,
          payload: new TextEncoder().encode(`m${sequenceNumber}`)
        }))
      data(0)
      yield* h.settle
      transport.state.congested = true
      data(1)
      // 0's repeat falls due while the transport is full: it waits too, read back from the frame written
      yield* TestClock.adjust("50 millis")
      yield* h.settle
      transport.drain()
      yield* h.settle
      const acks = h.acksSent().map((ack) => JSON.parse(new TextDecoder().decode(ack.payload)))
      assert.deepStrictEqual(
        acks.map((ack) => [ack.AcknowledgedMessageSequenceNumber, ack.AcknowledgedMessageId, ack.AcknowledgedMessageType]),
        [[0, ids[0], "output_stream_data"], [1, ids[1], "output_stream_data"], [0, ids[0], "output_stream_data"]]
      )
    }))

  it.scoped("acknowledgements that wait still go when the drain never comes, once the channel carries on", () =>
    Effect.gen(function*() {
      const transport = congestedTransport()
      const h = yield* harness({ congestion: transport.congestion })
      transport.state.congested = true
      h.output(0)
      h.output(1)
      yield* h.settle
      assert.strictEqual(h.acksSent().length, 0)
      // the transport is lost; its drain callback never runs. A new one carries the channel on
      h.channel.hold(true)
      transport.state.drains.length = 0
      transport.state.congested = false
      h.channel.hold(false)
      yield* h.settle
      assert.deepStrictEqual(ackedSequences(h.acksSent()), [0, 1])
    }))

  it.scoped("data frames not yet acknowledged are allowed for: acknowledgements never wait behind data alone", () =>
    Effect.gen(function*() {
      const transport = congestedTransport()
      const h = yield* harness({ congestion: transport.congestion })
      yield* h.channel.send(1, new Uint8Array(1500))
      yield* h.settle
      h.output(0)
      yield* h.settle
      const frames = h.dataSent().map((m) => m.payload.length + 120 + 8)
      assert.strictEqual(transport.state.allowances.at(-1), frames[0]! + frames[1]!)
      h.ack(0)
      h.ack(1)
      h.output(1)
      yield* h.settle
      assert.strictEqual(transport.state.allowances.at(-1), 0)
    }))

  it.scoped(`past ${DataChannel.MAX_PENDING_ACKS} waiting acks new messages are not accepted, and come again`, () =>
    Effect.gen(function*() {
      const transport = congestedTransport()
      const h = yield* harness({ congestion: transport.congestion, reorderBufferSize: 100_000 })
      transport.state.congested = true
      const max = DataChannel.MAX_PENDING_ACKS
      for (let seq = 0; seq < max + 3; seq++) h.output(seq)
      // a duplicate of one that waits adds nothing; one beyond is refused again (it was never accepted)
      h.output(5)
      h.output(max + 1)
      yield* h.settle
      assert.strictEqual(h.delivered.length, max)
      assert.strictEqual(h.channel.stats().droppedUnacknowledged, 4)
      assert.strictEqual(h.acksSent().length, 0)
      transport.drain()
      yield* h.settle
      const acked = ackedSequences(h.acksSent())
      assert.strictEqual(acked.length, max)
      assert.deepStrictEqual(acked.slice(0, 3), [0, 1, 2])
      // the peer sends the refused ones again: taken now
      for (let seq = max; seq < max + 3; seq++) h.output(seq)
      yield* h.settle
      assert.strictEqual(h.delivered.length, max + 3)
      assert.deepStrictEqual(ackedSequences(h.acksSent()).slice(max), [max, max + 1, max + 2])
    }))

  it.scoped("the reorder buffer is bounded in bytes too, counting an overhead per message", () =>
    Effect.gen(function*() {
      const h = yield* harness({
        reorderBufferSize: 1000,
        reorderBufferBytes: 3 * (100 + DataChannel.REORDER_ENTRY_OVERHEAD)
      })
      for (let seq = 1; seq <= 5; seq++) h.output(seq, "x".repeat(100))
      yield* h.settle
      assert.strictEqual(h.channel.stats().reorderDepth, 3)
      assert.strictEqual(h.channel.stats().droppedUnacknowledged, 2)
      h.output(0)
      yield* h.settle
      assert.strictEqual(h.delivered.length, 4)
      // delivered messages free their room
      h.output(4, "x".repeat(100))
      h.output(6, "x".repeat(100))
      yield* h.settle
      assert.strictEqual(h.channel.stats().reorderDepth, 1)
      assert.strictEqual(h.delivered.length, 5)
    }))

  it.scoped("acknowledged messages wait in the reorder buffer while the receiver is full, and go on resumeDelivery", () =>
    Effect.gen(function*() {
      const h = yield* harness()
      for (let seq = 1; seq <= 4; seq++) h.output(seq)
      h.output(0)
      yield* h.settle
      assert.strictEqual(h.delivered.length, 5)
      for (let seq = 6; seq <= 8; seq++) h.output(seq)
      h.setAccepting(1)
      h.output(5)
      yield* h.settle
      // 5 was taken; 6..8 are acknowledged and held, not dropped and not forced on the receiver
      assert.strictEqual(h.delivered.length, 6)
      assert.strictEqual(h.channel.stats().reorderDepth, 3)
      assert.strictEqual(h.acksSent().length, 9)
      h.channel.resumeDelivery()
      assert.strictEqual(h.delivered.length, 6)
      h.setAccepting(true)
      h.channel.resumeDelivery()
      assert.deepStrictEqual(h.delivered.map((m) => new TextDecoder().decode(m.payload)).slice(5), ["m5", "m6", "m7", "m8"])
      assert.strictEqual(h.channel.stats().expected, 9)
    }))
})

describe("the agent's sender (datachannel.go)", () => {
  const agent = (
    { ackBeforeRecord, ...options }: Partial<DataChannel.ChannelOptions> & AgentSender.AgentSenderOptions = {}
  ) =>
    harness({
      sends: "output_stream_data",
      sender: AgentSender.make({ ackBeforeRecord }),
      windowSize: 2,
      reorderBufferSize: 100_000,
      reorderAhead: Number.POSITIVE_INFINITY,
      ...options
    })

  it.scoped("has no window: everything goes out at once", () =>
    Effect.gen(function*() {
      const h = yield* agent()
      yield* h.channel.send(1, new Uint8Array(10 * 1024))
      yield* h.settle
      assert.strictEqual(h.dataSent().length, 10)
      assert.deepStrictEqual(h.dataSent().map((m) => m.flags), [1, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    }))

  it.scoped("resends only the oldest unacknowledged message, one per 100 ms tick, with no attempt limit", () =>
    Effect.gen(function*() {
      const h = yield* agent({ giveUpAfter: Duration.seconds(1) })
      yield* h.channel.send(1, new Uint8Array(3 * 1024))
      yield* h.settle
      const tick = Effect.zipRight(TestClock.adjust("100 millis"), h.settle)
      yield* tick
      assert.strictEqual(h.dataSent().length, 3) // 100 ms is not more than the initial 200 ms RTO
      yield* tick
      assert.strictEqual(h.dataSent().length, 3) // 200 ms: not more than 200 ms
      yield* tick
      assert.deepStrictEqual(h.dataSent().slice(3).map((m) => m.sequenceNumber), [0]) // 300 ms
      yield* tick
      yield* tick
      assert.strictEqual(h.dataSent().length, 4)
      yield* tick
      assert.deepStrictEqual(h.dataSent().slice(3).map((m) => m.sequenceNumber), [0, 0]) // once per RTO, no back-off
      // 1 and 2 were acknowledged, 0 never is: it goes again every RTO, for longer than any give-up
      h.ack(1)
      h.ack(2)
      // (the late acks' samples raised the RTO towards 1 s)
      for (let i = 0; i < 100; i++) yield* tick
      assert.isAtLeast(h.dataSent().length, 3 + 2 + 8)
      assert.deepStrictEqual(new Set(h.dataSent().slice(3).map((m) => m.sequenceNumber)), new Set([0]))
      assert.isNull(yield* Effect.fork(h.channel.failed).pipe(Effect.map((fiber) => fiber.unsafePoll())))
      h.ack(0)
      assert.strictEqual(h.channel.unacknowledged(), 0)
    }))

  it.scoped("its RTO follows AWS's formula with no floor", () =>
    Effect.gen(function*() {
      const h = yield* agent()
      for (let i = 0; i < 40; i++) {
        yield* h.channel.send(1, new Uint8Array([i]))
        yield* h.settle
        h.ack(i)
      }
      // zero-time round trips: RTT decays towards 0 and the RTO to the 10 ms clock granularity
      assert.isBelow(h.channel.stats().rto, 20)
    }))

  it.scoped("an acknowledgement that overtakes the recording is lost: the message stays until acknowledged again", () =>
    Effect.gen(function*() {
      const h = yield* agent({ ackBeforeRecord: () => true })
      yield* h.channel.send(1, new Uint8Array([1]))
      yield* h.settle
      h.ack(0)
      assert.strictEqual(h.channel.unacknowledged(), 1)
      yield* TestClock.adjust("300 millis")
      yield* h.settle
      assert.strictEqual(h.dataSent().length, 2)
      h.ack(0)
      assert.strictEqual(h.channel.unacknowledged(), 0)
    }))

  it.scoped("drops empty payloads, as the agent does", () =>
    Effect.gen(function*() {
      const h = yield* agent()
      yield* h.channel.send(1, new Uint8Array(0))
      yield* h.settle
      assert.strictEqual(h.dataSent().length, 0)
    }))
})
