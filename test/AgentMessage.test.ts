import { assert, describe, it } from "@effect/vitest"
import { Arbitrary, Effect, Either, FastCheck as fc, Schema } from "effect"
import * as AgentMessage from "../src/AgentMessage.js"
import * as internalMessage from "../src/internal/protocol/agentMessage.js"
import * as Sha256Node from "../src/internal/crypto/sha256.node.js"
import * as Sha256Web from "../src/internal/crypto/sha256.web.js"
import { fromHex, toHex, vectors } from "./utils/vectors.js"

const expectRight = <A, E>(result: Either.Either<A, E>): A => {
  if (Either.isLeft(result)) assert.fail(`expected Right, got ${String(result.left)}`)
  return result.right
}

const expectLeft = <A, E>(result: Either.Either<A, E>): E => {
  if (Either.isRight(result)) assert.fail("expected Left, got Right")
  return result.left
}

describe("AgentMessage", () => {
  describe("AWS vectors", () => {
    for (const vector of vectors.valid) {
      it(`decodes ${vector.name}`, () => {
        const message = expectRight(AgentMessage.decode(fromHex(vector.hex)))
        assert.strictEqual(message.messageType, vector.messageType)
        assert.strictEqual(message.schemaVersion, vector.schemaVersion)
        assert.strictEqual(message.createdDate, vector.createdDate)
        assert.strictEqual(message.sequenceNumber, vector.sequenceNumber)
        assert.strictEqual(message.flags, vector.flags)
        assert.strictEqual(message.messageId, vector.messageId)
        assert.strictEqual(message.payloadType, vector.payloadType)
        assert.strictEqual(toHex(message.payload), vector.payloadHex)
      })
      if (vector.name !== "channel-closed-112-byte-header") {
        it(`encodes ${vector.name} to AWS's exact bytes`, () => {
          const message = expectRight(AgentMessage.decode(fromHex(vector.hex)))
          assert.strictEqual(toHex(expectRight(AgentMessage.encode(message))), vector.hex)
          const built = AgentMessage.make({
            messageType: vector.messageType as AgentMessage.MessageType,
            schemaVersion: vector.schemaVersion,
            createdDate: vector.createdDate,
            sequenceNumber: vector.sequenceNumber,
            flags: vector.flags,
            messageId: vector.messageId,
            payloadType: vector.payloadType as AgentMessage.PayloadType,
            payload: fromHex(vector.payloadHex)
          })
          assert.strictEqual(toHex(expectRight(AgentMessage.encode(built))), vector.hex)
        })
      }
    }

    it("the 112-byte variant re-encodes in the standard 116-byte layout", () => {
      const vector = vectors.valid.find((v) => v.name === "channel-closed-112-byte-header")!
      const frame = fromHex(vector.hex)
      assert.strictEqual(new DataView(frame.buffer).getUint32(0), 112)
      const message = expectRight(AgentMessage.decode(frame))
      const again = expectRight(AgentMessage.decode(expectRight(AgentMessage.encode(message))))
      assert.deepStrictEqual(again, message)
    })

    const expectedReason: Record<string, AgentMessage.AgentMessageError.Reason> = {
      "empty": "TooShort",
      "truncated-header": "TooShort",
      "header-length-zero": "HeaderLength",
      "header-length-past-end": "HeaderLength",
      "digest-mismatch": "DigestMismatch",
      "created-date-zero": "MissingDate",
      "message-type-blank": "MissingType"
    }
    for (const vector of vectors.invalid) {
      it(`rejects ${vector.name} (${vector.reason})`, () => {
        const error = expectLeft(AgentMessage.decode(fromHex(vector.hex)))
        assert.isTrue(AgentMessage.isAgentMessageError(error))
        assert.strictEqual(error._tag, "AgentMessageError")
        assert.strictEqual(error.reason, expectedReason[vector.name])
      })
    }
  })

  describe("worked examples of AGENT-PROTOCOL.md section 3.8", () => {
    it("(a) keystrokes ls\\r", () => {
      const hex = "00000074696e7075745f73747265616d5f64617461202020202020202020202020202020000000010000015e0baa7884" +
        "00000000000000020000000000000000a508b5f073f31b16dd01e56bff48483e1d887ce0f8672e4914d9000e801cd74e" +
        "cd805dd9366c0bc42dc16adc0197dc2f00000001000000036c730d"
      const frame = AgentMessage.unsafeEncode(AgentMessage.make({
        messageType: "input_stream_data",
        createdDate: 1503434274948,
        sequenceNumber: 2,
        messageId: "dd01e56b-ff48-483e-a508-b5f073f31b16",
        payloadType: AgentMessage.PayloadType.Output,
        payload: new TextEncoder().encode("ls\r")
      }))
      assert.strictEqual(toHex(frame), hex)
    })

    it("(b) acknowledgement header", () => {
      const payload = new TextEncoder().encode(
        `{"AcknowledgedMessageType":"output_stream_data","AcknowledgedMessageId":"dd01e56b-ff48-483e-a508-b5f073f31b16",` +
          `"AcknowledgedMessageSequenceNumber":7,"IsSequentialMessage":true}`
      )
      assert.strictEqual(payload.length, 176)
      const frame = AgentMessage.unsafeEncode(AgentMessage.make({
        messageType: "acknowledge",
        createdDate: 1700000000000,
        flags: AgentMessage.Flags.SynFin,
        messageId: "6ba7b810-9dad-41d1-80b4-00c04fd430c8",
        payload
      }))
      assert.strictEqual(frame.length, 296)
      assert.strictEqual(
        toHex(frame.subarray(0, 120)),
        "0000007461636b6e6f776c656467652020202020202020202020202020202020202020" + "20000000010000018bcfe568" +
          "00" +
          "00000000000000000000000000000003" +
          "80b400c04fd430c86ba7b8109dad41d1bb487a3f076aac75c3a35b6e402d2e44ccdd9844ac4e5b2007e8b4ac8f1d8f31" +
          "00000000000000b0"
      )
    })

    it("(b) the engine's own acknowledgement (built in one allocation) is that frame but for its random version-4 id", () => {
      const ids = new Set<string>()
      for (let i = 0; i < 600; i++) {
        const frame = internalMessage.encodeAcknowledge("output_stream_data", "dd01e56b-ff48-483e-a508-b5f073f31b16", 7, 1700000000000)
        assert.strictEqual(frame.length, 296)
        const decoded = Either.getOrThrow(AgentMessage.decode(frame))
        assert.match(decoded.messageId, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
        ids.add(decoded.messageId)
        const expected = AgentMessage.unsafeEncode(AgentMessage.make({
          messageType: "acknowledge",
          createdDate: 1700000000000,
          flags: AgentMessage.Flags.SynFin,
          messageId: decoded.messageId,
          payload: new TextEncoder().encode(
            `{"AcknowledgedMessageType":"output_stream_data","AcknowledgedMessageId":"dd01e56b-ff48-483e-a508-b5f073f31b16",` +
              `"AcknowledgedMessageSequenceNumber":7,"IsSequentialMessage":true}`
          )
        }))
        assert.strictEqual(toHex(frame), toHex(expected))
      }
      // across refills of the pool of random bytes
      assert.strictEqual(ids.size, 600)
    })

    it("(c) TerminateSession flag", () => {
      const frame = AgentMessage.unsafeEncode(AgentMessage.make({
        messageType: "input_stream_data",
        createdDate: 1700000000000,
        sequenceNumber: 5,
        messageId: "6ba7b810-9dad-41d1-80b4-00c04fd430c8",
        payloadType: AgentMessage.PayloadType.Flag,
        payload: new Uint8Array([0, 0, 0, AgentMessage.FlagPayload.TerminateSession])
      }))
      assert.strictEqual(
        toHex(frame),
        "00000074696e7075745f73747265616d5f646174612020202020202020202020202020200000000100000" +
          "18bcfe568000000000000000005000000000000000080b400c04fd430c86ba7b8109dad41d1433ebf5bc03dffa3853667" +
          "3207a21281612cef5faa9bc7a4d5b9be2fdb12cf1a0000000a0000000400000002"
      )
    })
  })

  describe("reader tolerance and strictness", () => {
    const hello = vectors.valid.find((v) => v.name === "input-hello")!

    it("accepts a NUL-padded type and ignores PayloadLength", () => {
      const frame = fromHex(hello.hex)
      frame.fill(0, 4 + "input_stream_data".length, 36)
      new DataView(frame.buffer).setUint32(116, 9999)
      const message = expectRight(AgentMessage.decode(frame))
      assert.strictEqual(message.messageType, "input_stream_data")
      assert.strictEqual(new TextDecoder().decode(message.payload), "hello")
    })

    it("the payload is a view into the frame, not a copy", () => {
      const frame = fromHex(hello.hex)
      const message = expectRight(AgentMessage.decode(frame))
      assert.strictEqual(message.payload.buffer, frame.buffer)
    })

    it("skips the digest of start_publication and pause_publication only", () => {
      for (const name of ["start-publication", "pause-publication"]) {
        const frame = fromHex(vectors.valid.find((v) => v.name === name)!.hex)
        frame.fill(0xab, 80, 112)
        expectRight(AgentMessage.decode(frame))
      }
      const frame = fromHex(hello.hex)
      frame.fill(0xab, 80, 112)
      assert.strictEqual(expectLeft(AgentMessage.decode(frame)).reason, "DigestMismatch")
    })

    it("an unknown message type or payload type is a typed error", () => {
      const frame = fromHex(hello.hex)
      frame.set(new TextEncoder().encode("agent_job_reply"), 4)
      assert.strictEqual(expectLeft(AgentMessage.decode(frame)).reason, "UnknownMessageType")
      const other = fromHex(hello.hex)
      new DataView(other.buffer).setUint32(112, 13)
      assert.strictEqual(expectLeft(AgentMessage.decode(other)).reason, "UnknownPayloadType")
    })

    it("a 64-bit field beyond 2^53 is OutOfRange", () => {
      const frame = fromHex(hello.hex)
      new DataView(frame.buffer).setUint32(48, 0x0020_0000)
      assert.strictEqual(expectLeft(AgentMessage.decode(frame)).reason, "OutOfRange")
    })
  })

  describe("writer range checks", () => {
    const base = AgentMessage.make({ messageType: "input_stream_data", createdDate: 1 })

    it("refuses what the wire cannot carry, with a typed error", () => {
      const cases: ReadonlyArray<[AgentMessage.AgentMessage, AgentMessage.AgentMessageError.Reason]> = [
        [{ ...base, sequenceNumber: 2 ** 53 }, "OutOfRange"],
        [{ ...base, sequenceNumber: -1 }, "OutOfRange"],
        [{ ...base, flags: 1.5 }, "OutOfRange"],
        [{ ...base, createdDate: 0 }, "MissingDate"],
        [{ ...base, messageType: "x".repeat(33) as AgentMessage.MessageType }, "OutOfRange"],
        [{ ...base, messageType: "agent_job" as AgentMessage.MessageType }, "UnknownMessageType"],
        [{ ...base, messageType: "" as AgentMessage.MessageType }, "MissingType"],
        [{ ...base, payloadType: 13 as AgentMessage.PayloadType }, "UnknownPayloadType"],
        [{ ...base, messageId: "not-a-uuid" }, "InvalidMessageId"],
        [{ ...base, messageId: "dd01e56b-ff48-483e-a508-b5f073f31bzz" }, "InvalidMessageId"]
      ]
      for (const [message, reason] of cases) {
        assert.strictEqual(expectLeft(AgentMessage.encode(message)).reason, reason)
      }
    })

    it("accepts an uppercase id and decodes it lowercase", () => {
      const frame = expectRight(AgentMessage.encode({ ...base, messageId: "DD01E56B-FF48-483E-A508-B5F073F31B16" }))
      assert.strictEqual(expectRight(AgentMessage.decode(frame)).messageId, "dd01e56b-ff48-483e-a508-b5f073f31b16")
    })
  })

  describe("Schema codec", () => {
    it.effect("FromBytes decodes and encodes", () =>
      Effect.gen(function*() {
        const vector = vectors.valid.find((v) => v.name === "output-1024")!
        const message = yield* Schema.decode(AgentMessage.FromBytes)(fromHex(vector.hex))
        assert.strictEqual(message.sequenceNumber, 7)
        const bytes = yield* Schema.encode(AgentMessage.FromBytes)(message)
        assert.strictEqual(toHex(bytes), vector.hex)
        const failure = yield* Effect.flip(Schema.decode(AgentMessage.FromBytes)(new Uint8Array(10)))
        assert.include(failure.message, "TooShort")
      }))
  })

  describe("properties", () => {
    const arbitraryMessage = Arbitrary.make(AgentMessage.AgentMessage).filter((m) => m.createdDate > 0)

    it.prop("arbitrary messages round-trip byte-exactly", [arbitraryMessage], ([message]) => {
      const frame = expectRight(AgentMessage.encode(message))
      const decoded = expectRight(AgentMessage.decode(frame))
      assert.deepStrictEqual({ ...decoded, payload: Array.from(decoded.payload) }, {
        ...message,
        payload: Array.from(message.payload)
      })
      assert.strictEqual(toHex(expectRight(AgentMessage.encode(decoded))), toHex(frame))
    }, { fastCheck: { numRuns: 2_000 } })

    it("random buffers never throw (100,000)", () => {
      let rejected = 0
      fc.assert(
        fc.property(fc.uint8Array({ minLength: 0, maxLength: 300 }), (bytes) => {
          if (Either.isLeft(AgentMessage.decode(bytes))) rejected++
        }),
        { numRuns: 100_000 }
      )
      assert.isAbove(rejected, 99_000)
    })

    it("mutated valid frames never throw and are either rejected or decode consistently (100,000)", () => {
      const frames = vectors.valid.map((v) => fromHex(v.hex))
      const mutation = fc.record({
        frame: fc.integer({ min: 0, max: frames.length - 1 }),
        edits: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
        cut: fc.option(fc.nat(), { nil: undefined })
      })
      let accepted = 0
      fc.assert(
        fc.property(mutation, ({ cut, edits, frame }) => {
          let bytes = frames[frame]!.slice()
          for (const [at, value] of edits) bytes[at % bytes.length] = value
          if (cut !== undefined) bytes = bytes.subarray(0, cut % (bytes.length + 1))
          const result = AgentMessage.decode(bytes)
          if (Either.isRight(result)) {
            accepted++
            // whatever decodes must be re-encodable or refused with a typed error, never a throw
            const encoded = AgentMessage.encode(result.right)
            assert.isTrue(Either.isRight(encoded) || AgentMessage.isAgentMessageError(encoded.left))
          }
        }),
        { numRuns: 100_000 }
      )
      assert.isAbove(accepted, 0)
    })
  })

  it("node:crypto and @noble/hashes give the same SHA-256, written in place and compared in place", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), fc.nat(40), (bytes, offset) => {
        assert.strictEqual(toHex(Sha256Node.sha256(bytes)), toHex(Sha256Web.sha256(bytes)))
        const node = new Uint8Array(offset + 32)
        const web = new Uint8Array(offset + 32)
        Sha256Node.sha256Into(bytes, node, offset)
        Sha256Web.sha256Into(bytes, web, offset)
        assert.strictEqual(toHex(node.subarray(offset)), toHex(Sha256Web.sha256(bytes)))
        assert.strictEqual(toHex(web), toHex(node))
        assert.isTrue(Sha256Node.sha256Equals(bytes, node, offset) && Sha256Web.sha256Equals(bytes, node, offset))
        node[offset + (bytes.length % 32)]! ^= 1
        assert.isFalse(Sha256Node.sha256Equals(bytes, node, offset) || Sha256Web.sha256Equals(bytes, node, offset))
      }),
      { numRuns: 500 }
    )
    assert.strictEqual(
      toHex(Sha256Web.sha256(new Uint8Array(0))),
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
  })
})

describe("AgentMessage.encode's frames (as its documentation says)", () => {
  it("a small frame is a view into a shared slab, and an earlier frame is never rewritten by a later one", () => {
    const message = (sequenceNumber: number): AgentMessage.AgentMessage => ({
      messageType: "input_stream_data",
      schemaVersion: 1,
      createdDate: 1_700_000_000_000,
      sequenceNumber,
      flags: 0,
      messageId: "dd01e56b-ff48-483e-a508-b5f073f31b16",
      payloadType: 1,
      payload: new Uint8Array(100).fill(sequenceNumber)
    })
    const first = Either.getOrThrow(AgentMessage.encode(message(1)))
    const copy = first.slice()
    const second = Either.getOrThrow(AgentMessage.encode(message(2)))
    assert.isAbove(first.buffer.byteLength, first.length)
    assert.strictEqual(first.buffer, second.buffer)
    assert.deepStrictEqual(first, copy)
    assert.deepStrictEqual(Either.getOrThrow(AgentMessage.decode(first)).payload, new Uint8Array(100).fill(1))
  })
})
