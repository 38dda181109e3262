import { assert, describe, it } from "@effect/vitest"
import { Duration, Either, Redacted } from "effect"
import * as AgentMessage from "../src/AgentMessage.js"
import * as AgentPayload from "../src/AgentPayload.js"
import { fromHex, vectors } from "./utils/vectors.js"

const bytes = (text: string) => new TextEncoder().encode(text)
const text = (payload: Uint8Array) => new TextDecoder().decode(payload)

const decodeRight = <A>(schema: import("effect").Schema.Schema<A, Uint8Array>, json: string): A => {
  const result = AgentPayload.decodePayload(schema)(bytes(json))
  if (Either.isLeft(result)) assert.fail(result.left.message)
  return result.right
}

const encodeText = <A>(schema: import("effect").Schema.Schema<A, Uint8Array>, value: A): string => {
  const result = AgentPayload.encodePayload(schema)(value)
  if (Either.isLeft(result)) assert.fail(result.left.message)
  return text(result.right)
}

describe("AgentPayload", () => {
  describe("the JSON examples of AGENT-PROTOCOL.md", () => {
    it("acknowledgement (section 3.8 b) decodes and re-encodes to the same bytes", () => {
      const json = `{"AcknowledgedMessageType":"output_stream_data","AcknowledgedMessageId":` +
        `"dd01e56b-ff48-483e-a508-b5f073f31b16","AcknowledgedMessageSequenceNumber":7,"IsSequentialMessage":true}`
      const schema = AgentPayload.jsonPayload(AgentPayload.Acknowledge)
      const ack = decodeRight(schema, json)
      assert.strictEqual(ack.AcknowledgedMessageSequenceNumber, 7)
      assert.strictEqual(ack.IsSequentialMessage, true)
      assert.strictEqual(encodeText(schema, ack), json)
    })

    it("HandshakeRequest (section 7.2) with SessionType and KMSEncryption", () => {
      const json = `{"AgentVersion":"3.3.1142.0","RequestedClientActions":[{"ActionType":"SessionType",` +
        `"ActionParameters":{"SessionType":"Port","Properties":{"host":"172.31.25.54","localPortNumber":"7406",` +
        `"portNumber":"3000","type":"LocalPortForwarding"}}},{"ActionType":"KMSEncryption","ActionParameters":` +
        `{"KMSKeyId":"arn:aws:kms:us-east-1:123456789012:key/abc","Challenge":"AAECAwQFBgcICQoLDA0ODw=="}}]}`
      const request = decodeRight(AgentPayload.jsonPayload(AgentPayload.HandshakeRequest), json)
      assert.strictEqual(request.AgentVersion, "3.3.1142.0")
      const [sessionType, kms] = request.RequestedClientActions
      assert.instanceOf(sessionType, AgentPayload.SessionTypeAction)
      assert.instanceOf(kms, AgentPayload.KmsEncryptionAction)
      if (sessionType instanceof AgentPayload.SessionTypeAction) {
        assert.strictEqual(sessionType.ActionParameters.SessionType, "Port")
        assert.deepStrictEqual(sessionType.ActionParameters.Properties?.["portNumber"], "3000")
      }
      if (kms instanceof AgentPayload.KmsEncryptionAction) {
        assert.strictEqual(kms.ActionParameters.Challenge, "AAECAwQFBgcICQoLDA0ODw==")
      }
    })

    it("HandshakeRequest: shell properties are null, unknown actions and extra fields are kept apart", () => {
      const json = `{"AgentVersion":"3.1.0.0","Extra":1,"RequestedClientActions":[{"ActionType":"SessionType",` +
        `"ActionParameters":{"SessionType":"Standard_Stream","Properties":null}},{"ActionType":"Future"}]}`
      const request = decodeRight(AgentPayload.jsonPayload(AgentPayload.HandshakeRequest), json)
      assert.instanceOf(request.RequestedClientActions[1], AgentPayload.UnknownAction)
    })

    it("HandshakeRequest: a missing required field is an InvalidPayload error", () => {
      const result = AgentPayload.decodePayload(AgentPayload.jsonPayload(AgentPayload.HandshakeRequest))(
        bytes(`{"RequestedClientActions":[]}`)
      )
      assert.isTrue(Either.isLeft(result) && result.left.reason === "InvalidPayload")
    })

    it("HandshakeResponse (section 7.3) encodes to the plugin's exact bytes", () => {
      const response = new AgentPayload.HandshakeResponse({
        ClientVersion: "1.2.694.0",
        ProcessedClientActions: [
          new AgentPayload.ProcessedClientAction({
            ActionType: "SessionType",
            ActionStatus: AgentPayload.ActionStatus.Success,
            ActionResult: null,
            Error: ""
          })
        ],
        Errors: null
      })
      assert.strictEqual(
        encodeText(AgentPayload.jsonPayload(AgentPayload.HandshakeResponse), response),
        `{"ClientVersion":"1.2.694.0","ProcessedClientActions":[{"ActionType":"SessionType","ActionStatus":1,` +
          `"ActionResult":null,"Error":""}],"Errors":null}`
      )
    })

    it("HandshakeResponse with a KMS result carries base64 bytes like Go's []byte", () => {
      const result = new AgentPayload.KmsEncryptionResult({
        KMSCipherTextKey: new Uint8Array([1, 2, 3, 250]),
        KMSCipherTextHash: null,
        ChallengeAcknowledgement: true
      })
      const json = encodeText(AgentPayload.jsonPayload(AgentPayload.KmsEncryptionResult), result)
      assert.strictEqual(json, `{"KMSCipherTextKey":"AQID+g==","KMSCipherTextHash":null,"ChallengeAcknowledgement":true}`)
    })

    it("HandshakeComplete (section 7.4): nanoseconds become a Duration", () => {
      const json = `{"HandshakeTimeToComplete":1500000000,"CustomerMessage":"This session is encrypted using AWS KMS."}`
      const schema = AgentPayload.jsonPayload(AgentPayload.HandshakeComplete)
      const complete = decodeRight(schema, json)
      assert.isTrue(Duration.equals(complete.HandshakeTimeToComplete, Duration.millis(1500)))
      assert.strictEqual(encodeText(schema, complete), json)
    })

    it("ChannelClosed (section 12) from the vectors", () => {
      for (const name of ["channel-closed", "channel-closed-112-byte-header"]) {
        const vector = vectors.valid.find((v) => v.name === name)!
        const message = AgentMessage.decode(fromHex(vector.hex))
        if (Either.isLeft(message)) assert.fail(message.left.message)
        const closed = decodeRight(AgentPayload.jsonPayload(AgentPayload.ChannelClosed), text(message.right.payload))
        assert.strictEqual(closed.MessageType, "channel_closed")
        assert.strictEqual(closed.SchemaVersion, 1)
        assert.strictEqual(closed.SessionId, "user-0a1b2c3d4e5f")
      }
    })

    it("EncryptionChallenge round-trips base64", () => {
      const schema = AgentPayload.jsonPayload(AgentPayload.EncryptionChallenge)
      const challenge = decodeRight(schema, `{"Challenge":"oKGio6SlpqeoqaqrimtxqmLxZe/TfGVs0Oqrp0VVgw=="}`)
      assert.strictEqual(challenge.Challenge.length, 31)
      assert.strictEqual(encodeText(schema, challenge), `{"Challenge":"oKGio6SlpqeoqaqrimtxqmLxZe/TfGVs0Oqrp0VVgw=="}`)
    })
  })

  it("TerminalSize matches the size vector", () => {
    const vector = vectors.valid.find((v) => v.name === "size")!
    const schema = AgentPayload.jsonPayload(AgentPayload.TerminalSize)
    assert.strictEqual(encodeText(schema, new AgentPayload.TerminalSize({ cols: 120, rows: 40 })), text(fromHex(vector.payloadHex)))
  })

  it("OpenDataChannel keeps the token redacted until encoded", () => {
    const open = new AgentPayload.OpenDataChannel({
      MessageSchemaVersion: "1.0",
      RequestId: "0c5e3f7a-8f0e-4a51-9a8e-2f4b1c6d7e80",
      TokenValue: Redacted.make("AAEAA...token"),
      ClientId: "3f2b9c1e-5d4a-4e7b-8c6f-1a2b3c4d5e6f",
      ClientVersion: "1.2.694.0"
    })
    assert.notInclude(String(open), "AAEAA")
    assert.notInclude(JSON.stringify(open), "AAEAA")
    assert.strictEqual(
      encodeText(AgentPayload.jsonPayload(AgentPayload.OpenDataChannel), open),
      `{"MessageSchemaVersion":"1.0","RequestId":"0c5e3f7a-8f0e-4a51-9a8e-2f4b1c6d7e80","TokenValue":"AAEAA...token",` +
        `"ClientId":"3f2b9c1e-5d4a-4e7b-8c6f-1a2b3c4d5e6f","ClientVersion":"1.2.694.0"}`
    )
  })

  it("Flag: 4-byte big-endian values, anything else is InvalidPayload", () => {
    const vector = vectors.valid.find((v) => v.name === "flag-disconnect-to-port")!
    const decoded = AgentPayload.decodePayload(AgentPayload.Flag)(fromHex(vector.payloadHex))
    assert.deepStrictEqual(decoded, Either.right(AgentMessage.FlagPayload.DisconnectToPort))
    const encoded = AgentPayload.encodePayload(AgentPayload.Flag)(AgentMessage.FlagPayload.ConnectToPortError)
    assert.deepStrictEqual(Either.map(encoded, Array.from), Either.right([0, 0, 0, 3]))
    for (const bad of [[0, 0, 0, 9], [0, 0, 2], []]) {
      const result = AgentPayload.decodePayload(AgentPayload.Flag)(new Uint8Array(bad))
      assert.isTrue(Either.isLeft(result) && result.left.reason === "InvalidPayload")
    }
  })

  it("invalid UTF-8 and invalid JSON are InvalidPayload, never a throw", () => {
    const schema = AgentPayload.jsonPayload(AgentPayload.Acknowledge)
    for (const payload of [new Uint8Array([0xff, 0xfe]), bytes("{"), bytes("null"), bytes(`{"IsSequentialMessage":1}`)]) {
      const result = AgentPayload.decodePayload(schema)(payload)
      assert.isTrue(Either.isLeft(result) && result.left.reason === "InvalidPayload")
    }
  })
})
