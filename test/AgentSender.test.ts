/**
 * The SSM Agent's sender (`simulator/agentSender.ts`, after `datachannel.go`), as the engine runs it: its functions
 * over a channel state, and its resend fiber under TestClock.
 */
import { assert, describe, it } from "@effect/vitest"
import type { Clock } from "effect"
import { Duration, Effect, Either, Fiber, TestClock } from "effect"
import * as AgentMessage from "../src/AgentMessage.js"
import * as Sending from "../src/internal/channel/sending.js"
import * as Options from "../src/internal/channel/dataChannelOptions.js"
import * as State from "../src/internal/channel/dataChannelState.js"
import * as AgentSender from "../src/internal/simulator/agentSender.js"

const text = new TextEncoder()

const setup = (clock: Clock.Clock, senderOptions: AgentSender.AgentSenderOptions = {}) => {
  const sent: Array<AgentMessage.AgentMessage> = []
  const sender = AgentSender.make(senderOptions)
  const state = State.makeState({
    sends: AgentMessage.MessageType.OutputStreamData,
    send: () => Effect.die("every frame goes through sendNow"),
    sendNow: (frame) => {
      const decoded = AgentMessage.decode(frame)
      if (Either.isLeft(decoded)) throw new Error(decoded.left.message)
      sent.push(decoded.right)
      return true
    },
    deliver: () => true,
    onChannelClosed: () => {},
    windowSize: 2,
    reorderBufferSize: AgentSender.AGENT_BUFFER_CAPACITY,
    reorderBufferBytes: Number.POSITIVE_INFINITY,
    messagesPerSecond: 0,
    giveUpAfter: Duration.seconds(1),
    metrics: Options.makeMetrics("test_agent_sender")
  }, sender, clock)
  const send = (count: number, now: number) => {
    for (let i = 0; i < count; i++) {
      Sending.enqueue(state, AgentMessage.PayloadType.Output, new Uint8Array([i]))
      Sending.sendNext(state, now)
    }
  }
  const ack = (sequenceNumber: number, now: number) =>
    Sending.onAck(
      state,
      AgentMessage.make({
        messageType: AgentMessage.MessageType.Acknowledge,
        createdDate: 1,
        payload: text.encode(
          `{"AcknowledgedMessageType":"output_stream_data","AcknowledgedMessageId":"00000000-0000-4000-8000-000000000000",` +
            `"AcknowledgedMessageSequenceNumber":${sequenceNumber},"IsSequentialMessage":true}`
        )
      }),
      now
    )
  return { sent, sender, state, send, ack }
}

const fixedClock = (now: () => number) => ({ unsafeCurrentTimeMillis: now }) as Clock.Clock

describe("the agent's sender", () => {
  it("has no window, drops empty payloads, and sets SYN on its first message only", () => {
    const h = setup(fixedClock(() => 1))
    assert.isUndefined(Sending.enqueue(h.state, AgentMessage.PayloadType.Output, new Uint8Array(0)))
    h.send(5, 1)
    assert.isFalse(h.sender.windowFull(h.state))
    assert.deepStrictEqual(h.sent.map((m) => m.flags), [AgentMessage.Flags.Syn, 0, 0, 0, 0])
    assert.deepStrictEqual(h.sent.map((m) => m.messageType), Array(5).fill(AgentMessage.MessageType.OutputStreamData))
  })

  it("resends only the oldest unacknowledged message, and only once it is older than the RTO", () => {
    const h = setup(fixedClock(() => 0))
    h.send(3, 1000)
    h.ack(1, 1000) // a zero sample: the RTO falls to RTT + 10 ms, no floor
    const rto = h.state.rto.rto
    assert.isBelow(rto, 200)
    assert.isUndefined(AgentSender.resendOldest(h.state, 1000 + rto)) // not older than the RTO
    assert.strictEqual(AgentSender.resendOldest(h.state, 1001 + rto), 0)
    // 0 was just sent again: 2, also unacknowledged and older, is not looked at
    assert.isUndefined(AgentSender.resendOldest(h.state, 1002 + rto))
    assert.deepStrictEqual(h.sent.slice(3).map((m) => m.sequenceNumber), [0])
    assert.strictEqual(h.state.stats.retransmissions, 1)
    // while paused or without a transport, nothing goes again
    h.state.paused = true
    assert.isUndefined(AgentSender.resendOldest(h.state, 5000))
    h.state.paused = false
    h.state.held = true
    assert.isUndefined(AgentSender.resendOldest(h.state, 5000))
  })

  it("samples the RTO from the latest transmission, resends included", () => {
    const h = setup(fixedClock(() => 0))
    h.send(1, 1000)
    AgentSender.resendOldest(h.state, 1300)
    h.ack(0, 1310)
    // 10 ms from the resend, not 310 from the first transmission (and not skipped, as Karn would)
    assert.strictEqual(h.state.rto.rtt, 0.875 * 100 + 0.125 * 10)
  })

  it("loses the first acknowledgement of a message it records after the ack arrived", () => {
    const h = setup(fixedClock(() => 0), { ackBeforeRecord: () => true })
    h.send(1, 1000)
    h.ack(0, 1001)
    assert.strictEqual(h.state.inFlight.size, 1)
    h.ack(0, 1002)
    assert.strictEqual(h.state.inFlight.size, 0)
  })

  it(`records at most ${AgentSender.AGENT_BUFFER_CAPACITY} messages: one sent past that is never resent`, () => {
    const h = setup(fixedClock(() => 0))
    const entry: State.InFlight = {
      frame: new Uint8Array(1),
      firstSent: 0,
      lastSent: 0,
      retransmitted: false,
      ackSampled: false
    }
    for (let i = 0; i < AgentSender.AGENT_BUFFER_CAPACITY - 1; i++) h.state.inFlight.set(-1 - i, entry)
    h.state.nextSequence = 0
    h.send(2, 1000)
    assert.strictEqual(h.sent.length, 2) // both written
    assert.strictEqual(h.state.inFlight.size, AgentSender.AGENT_BUFFER_CAPACITY)
    assert.isTrue(h.state.inFlight.has(0))
    assert.isFalse(h.state.inFlight.has(1))
  })

  it.scoped("its resend fiber ticks every 100 ms, one resend per tick, with no attempt limit", () =>
    Effect.gen(function*() {
      const h = setup(yield* Effect.clock)
      h.send(3, 0)
      const fiber = yield* Effect.fork(h.sender.resendLoop(h.state))
      const tick = Effect.zipRight(TestClock.adjust(`${AgentSender.AGENT_RESEND_TICK} millis`), Effect.yieldNow())
      yield* tick
      yield* tick
      assert.strictEqual(h.sent.length, 3) // 200 ms is not older than the initial 200 ms RTO
      for (let i = 0; i < 30; i++) yield* tick
      // every third tick, only 0 again; never a give-up (giveUpAfter is 1 s)
      const resent = h.sent.slice(3).map((m) => m.sequenceNumber)
      assert.isAtLeast(resent.length, 9)
      assert.isAtMost(resent.length, 11)
      assert.deepStrictEqual(new Set(resent), new Set([0]))
      assert.isUndefined(h.state.failure)
      yield* Fiber.interrupt(fiber)
    }))
})
