/**
 * The ring of recent acknowledgements (`ackRing.ts`) against a model: a list of every frame kept, with its sequence
 * number and when its repeat is due. Whatever the operations, the ring holds the latest `capacity` frames byte for
 * byte, in order, hands out copies, and gives each repeat once, in the order they fall due.
 */
import { assert, describe, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import * as AgentMessage from "../src/AgentMessage.js"
import * as AckRing from "../src/internal/channel/ackRing.js"
import { encodeAcknowledge, MAX_ACKNOWLEDGE_FRAME } from "../src/internal/protocol/agentMessage.js"

interface Kept {
  readonly frame: Uint8Array
  readonly sequence: number
  due: number
}

const frameArbitrary = fc.uint8Array({ minLength: 1, maxLength: MAX_ACKNOWLEDGE_FRAME })

/** keep a frame with a repeat due `in` ms later (or none), or repeat what is due by now, then let time pass */
const operation = fc.oneof(
  fc.record({ _tag: fc.constant("keep" as const), frame: frameArbitrary, repeat: fc.boolean(), advance: fc.nat({ max: 30 }) }),
  fc.record({ _tag: fc.constant("repeatDue" as const), advance: fc.nat({ max: 30 }) })
)

describe("AckRing", () => {
  it("property: the latest frames in order, copies handed out, each repeat once and in due order", () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 8 }), fc.array(operation, { maxLength: 60 }), fc.constantFrom(0, 1, 1e12), (capacity, operations, start) => {
      const ring = AckRing.make(capacity)
      const model: Array<Kept> = []
      const repeats: Array<number> = []
      const expected: Array<number> = []
      let now = start
      let sequence = 0
      /** what the channel does: every repeat due by `now`, oldest first */
      const repeatDue = () => {
        for (let slot = AckRing.nextRepeat(ring); slot !== undefined; slot = AckRing.nextRepeat(ring)) {
          if (ring.due[slot]! > now) break
          repeats.push(AckRing.sequenceAt(ring, slot))
          AckRing.repeated(ring, slot)
        }
        for (const kept of model) {
          if (kept.due > 0 && kept.due <= now) {
            expected.push(kept.sequence)
            kept.due = 0
          }
        }
      }
      for (const op of operations) {
        if (op._tag === "keep") {
          // the oldest entry's repeat goes before it is overwritten
          const lapped = AckRing.lapped(ring)
          const oldest = model.length >= capacity ? model[model.length - capacity]! : undefined
          assert.strictEqual(lapped !== undefined, oldest !== undefined && oldest.due > 0)
          if (lapped !== undefined) {
            repeats.push(AckRing.sequenceAt(ring, lapped))
            AckRing.repeated(ring, lapped)
            expected.push(oldest!.sequence)
            oldest!.due = 0
          }
          const due = op.repeat ? now + 50 : 0
          AckRing.keep(ring, op.frame, sequence, due)
          model.push({ frame: op.frame, sequence, due })
          sequence++
        } else {
          repeatDue()
        }
        now += op.advance
      }
      now += 1000
      repeatDue()
      assert.deepStrictEqual(repeats, expected)
      assert.strictEqual(ring.repeatsDue, 0)
      const latest = model.slice(-capacity)
      const slots = AckRing.slots(ring)
      assert.deepStrictEqual(slots.map((slot) => AckRing.sequenceAt(ring, slot)), latest.map((kept) => kept.sequence))
      slots.forEach((slot, i) => {
        const copy = AckRing.frameAt(ring, slot)
        assert.deepStrictEqual(copy, latest[i]!.frame)
        copy.fill(0)
        assert.deepStrictEqual(AckRing.frameAt(ring, slot), latest[i]!.frame)
      })
    }), { numRuns: 300 })
  })

  it("every acknowledgement encodeAcknowledge can write fits an entry", () => {
    const id = "ffffffff-ffff-4fff-bfff-ffffffffffff"
    for (const type of Object.values(AgentMessage.MessageType)) {
      const frame = encodeAcknowledge(type, id, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER)
      assert.isAtMost(frame.length, MAX_ACKNOWLEDGE_FRAME)
    }
    // the bound is the longest type the header takes, not merely the longest known one
    assert.strictEqual(
      encodeAcknowledge("x".repeat(32) as AgentMessage.MessageType, id, Number.MAX_SAFE_INTEGER, 1).length,
      MAX_ACKNOWLEDGE_FRAME
    )
  })

  it("an entry overwritten before the caller repeated it is no longer counted as due", () => {
    const ring = AckRing.make(2)
    const frame = new Uint8Array([1])
    AckRing.keep(ring, frame, 0, 50)
    AckRing.keep(ring, frame, 1, 50)
    AckRing.keep(ring, frame, 2, 50) // without the caller's repeat of 0
    assert.strictEqual(ring.repeatsDue, 2)
    assert.strictEqual(AckRing.sequenceAt(ring, AckRing.nextRepeat(ring)!), 1)
  })

  it("a frame larger than an acknowledgement can be is not kept", () => {
    const ring = AckRing.make(2)
    AckRing.keep(ring, new Uint8Array(MAX_ACKNOWLEDGE_FRAME + 1), 7, 50)
    assert.strictEqual(ring.size, 0)
    assert.strictEqual(ring.repeatsDue, 0)
    assert.strictEqual(AckRing.nextRepeat(ring), undefined)
  })
})
