/**
 * KMS-encrypted sessions: the cipher against the protocol's vector, the KmsApi over the SDK against a local
 * endpoint, and shells and commands through a simulator whose account preference names a KMS key.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Either, Layer, Option, Redacted, Stream } from "effect"
import * as Http from "node:http"
import * as AgentSimulator from "../src/AgentSimulator.js"
import * as aesNode from "../src/internal/crypto/aesGcm.node.js"
import * as aesWeb from "../src/internal/crypto/aesGcm.web.js"
import * as SessionCipher from "../src/internal/crypto/sessionCipher.js"
import * as KmsApi from "../src/KmsApi.js"
import * as NodeSession from "../src/NodeSession.js"
import * as RemoteCommand from "../src/RemoteCommand.js"
import * as Session from "../src/Session.js"
import * as Shell from "../src/Shell.js"
import { simulatedAwsLayer } from "./utils/aws.js"

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex")
const key = Uint8Array.from({ length: 64 }, (_, i) => i)
const nonce = () => Uint8Array.from({ length: 12 }, (_, i) => 0xa0 + i)

describe("session cipher (AGENT-PROTOCOL.md 8.6)", () => {
  it("encrypts both directions byte-exactly as the vector, and each side decrypts the other", () => {
    const client = SessionCipher.make(key, "client", nonce)
    const agent = SessionCipher.make(key, "agent", nonce)
    const ls = new TextEncoder().encode("ls\r")
    const toAgent = client.encrypt(ls)
    const toClient = agent.encrypt(ls)
    assert.strictEqual(hex(toAgent), "a0a1a2a3a4a5a6a7a8a9aaab124fa9c3be5ea267c186006575655e2404c2cb")
    assert.strictEqual(hex(toClient), "a0a1a2a3a4a5a6a7a8a9aaab8a6b71aa62f165efd37c656cd0eaaba7455583")
    assert.strictEqual(Buffer.from(toClient).toString("base64"), "oKGio6SlpqeoqaqrimtxqmLxZe/TfGVs0Oqrp0VVgw==")
    assert.deepStrictEqual(agent.decrypt(toAgent), ls)
    assert.deepStrictEqual(client.decrypt(toClient), ls)
    // each key only one way; a flipped bit, a short payload: nothing
    assert.isUndefined(client.decrypt(toAgent))
    const tampered = toClient.slice()
    tampered[14]! ^= 1
    assert.isUndefined(client.decrypt(tampered))
    assert.isUndefined(client.decrypt(toClient.subarray(0, 27)))
  })

  it("node:crypto and @noble/ciphers agree", () => {
    const plaintext = Uint8Array.from({ length: 1500 }, (_, i) => (i * 7) & 0xff)
    const sealed = aesNode.seal(key.subarray(0, 32), nonce(), plaintext)
    assert.strictEqual(hex(aesWeb.seal(key.subarray(0, 32), nonce(), plaintext)), hex(sealed))
    assert.deepStrictEqual(aesWeb.open(key.subarray(0, 32), nonce(), sealed), plaintext)
    assert.deepStrictEqual(aesNode.open(key.subarray(0, 32), nonce(), sealed), plaintext)
  })
})

/** A local endpoint speaking the KMS JSON protocol; records requests, fails when told. */
const fakeKms = (failWith?: string) =>
  Effect.acquireRelease(
    Effect.async<{ readonly url: string; readonly bodies: Array<Record<string, unknown>>; readonly server: Http.Server }>((resume) => {
      const bodies: Array<Record<string, unknown>> = []
      const server = Http.createServer((request, response) => {
        let raw = ""
        request.on("data", (chunk) => (raw += chunk))
        request.on("end", () => {
          bodies.push(JSON.parse(raw || "{}"))
          response.setHeader("content-type", "application/x-amz-json-1.1")
          if (failWith !== undefined) {
            response.statusCode = 400
            response.end(JSON.stringify({ __type: failWith, message: `simulated ${failWith}` }))
            return
          }
          response.end(JSON.stringify({
            KeyId: "arn:aws:kms:us-east-1:111122223333:key/k",
            CiphertextBlob: Buffer.from("wrapped").toString("base64"),
            Plaintext: Buffer.from(key).toString("base64")
          }))
        })
      })
      server.listen(0, "127.0.0.1", () =>
        resume(Effect.succeed({ url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, bodies, server })))
    }),
    ({ server }) => Effect.sync(() => server.close())
  )

const kmsAt = (url: string) =>
  Effect.provide(
    KmsApi.KmsApi,
    KmsApi.layer({ region: "us-east-1", endpoint: url, credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "example" } })
  )

describe("KmsApi over @aws-sdk/client-kms (against a local endpoint)", () => {
  it.scopedLive("GenerateDataKey sends key, size and context; the plaintext comes back Redacted", () =>
    Effect.gen(function*() {
      const fake = yield* fakeKms()
      const kms = yield* kmsAt(fake.url)
      const dataKey = yield* kms.generateDataKey({
        keyId: "alias/ssm",
        numberOfBytes: 64,
        encryptionContext: { "aws:ssm:SessionId": "s-1", "aws:ssm:TargetId": "i-1" }
      })
      assert.deepStrictEqual(fake.bodies[0], {
        KeyId: "alias/ssm",
        NumberOfBytes: 64,
        EncryptionContext: { "aws:ssm:SessionId": "s-1", "aws:ssm:TargetId": "i-1" }
      })
      assert.deepStrictEqual(Redacted.value(dataKey.plaintext), key)
      assert.strictEqual(String(dataKey.plaintext), "<redacted>")
      assert.strictEqual(new TextDecoder().decode(dataKey.ciphertextBlob), "wrapped")
    }))

  it.scopedLive("the SDK's exceptions become typed reasons", () =>
    Effect.gen(function*() {
      const fake = yield* fakeKms("AccessDeniedException")
      const kms = yield* kmsAt(fake.url)
      const result = yield* Effect.either(kms.generateDataKey({ keyId: "k", numberOfBytes: 64, encryptionContext: {} }))
      assert.isTrue(Either.isLeft(result) && result.left.reason === "AccessDenied")
    }))
})

/** The simulator as SSM, KMS and the instance, with the account's KMS preference set. */
const encryptedAws = simulatedAwsLayer({ kmsKeyId: "alias/session-manager" })

describe("KMS-encrypted sessions through the simulator", () => {
  it.scopedLive("a shell: data key, challenge, the KMS notice, and encrypted input and output", () =>
    Effect.gen(function*() {
      const simulator = yield* AgentSimulator.AgentSimulator
      const shell = yield* Shell.start({ target: "i-0123456789abcdef0", size: { cols: 80, rows: 24 } })
      assert.strictEqual(shell.session.customerMessage, "This session is encrypted using AWS KMS.")
      const pull = yield* Stream.toPull(Stream.decodeText(shell.output))
      yield* shell.write(new TextEncoder().encode("echo :se''cret-$((6 * 7))\n"))
      let text = ""
      while (!/:secret-42/.test(text)) text += [...(yield* pull)].join("")
      const stats = yield* simulator.sessionStats(shell.session.sessionId)
      assert.isTrue(stats?.encrypted)
      assert.strictEqual(stats?.decryptionFailures, 0)
    }).pipe(Effect.provide(encryptedAws)), 30_000)

  it.live("a command: stdout, stderr and the exit code, each encrypted by the agent", () =>
    Effect.gen(function*() {
      const result = yield* RemoteCommand.exec({ target: "i-1", command: "seq 1 3000; echo oops >&2; exit 42" })
      const lines = Array.from({ length: 3000 }, (_, i) => `${i + 1}\n`).join("")
      assert.strictEqual(new TextDecoder().decode(result.stdout), lines)
      assert.strictEqual(new TextDecoder().decode(result.stderr), "oops\n")
      assert.strictEqual(result.exitCode, 42)
    }).pipe(Effect.provide(encryptedAws)), 30_000)

  it.live("Port sessions are never encrypted, whatever the preference", () =>
    Effect.gen(function*() {
      const simulator = yield* AgentSimulator.AgentSimulator
      const response = yield* simulator.startSession(AgentSimulator.documentSpec({
        target: "i-1",
        documentName: "AWS-StartSSHSession",
        parameters: { portNumber: ["9"] }
      }))
      const session = yield* Session.make({
        sessionId: response.SessionId,
        streamUrl: response.StreamUrl,
        tokenValue: response.TokenValue,
        target: "i-1"
      })
      assert.strictEqual(session.customerMessage, "")
      assert.isFalse((yield* simulator.sessionStats(response.SessionId))?.encrypted)
    }).pipe(Effect.scoped, Effect.provide(encryptedAws)), 30_000)

  const failure = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    Effect.map(Effect.either(effect), (result) => Either.isLeft(result) ? Option.some(result.left) : Option.none())

  it.live("without a KmsApi: EncryptionRequired; with another target than the agent's: the handshake fails", () =>
    Effect.gen(function*() {
      const simulator = yield* AgentSimulator.AgentSimulator
      const open = (target: string, withKms: boolean) =>
        Effect.gen(function*() {
          const response = yield* simulator.startSession({ plugin: AgentSimulator.shellPlugin(), targetId: "i-agent" })
          const session = Session.make({
            sessionId: response.SessionId,
            streamUrl: response.StreamUrl,
            tokenValue: response.TokenValue,
            target,
            handshakeTimeout: "10 seconds"
          })
          return yield* Effect.scoped(
            withKms ? Effect.provide(session, AgentSimulator.layerKmsApi.pipe(Layer.provide(Layer.succeed(AgentSimulator.AgentSimulator, simulator)))) : session
          )
        })
      const required = yield* failure(open("i-agent", false))
      assert.isTrue(Option.isSome(required) && Session.isSessionError(required.value) && required.value.reason === "EncryptionRequired")
      // the agent decrypts the data key with its own instance id in the context: kms:Decrypt fails, so does the session
      const mismatch = yield* failure(open("i-someone-else", true))
      assert.isTrue(Option.isSome(mismatch) && Session.isSessionError(mismatch.value) && mismatch.value.reason === "Handshake")
      const works = yield* failure(open("i-agent", true))
      assert.isTrue(Option.isNone(works))
    }).pipe(Effect.provide(Layer.merge(AgentSimulator.layer({ messagesPerSecond: 0, kmsKeyId: "k" }), NodeSession.layerWebSocketConstructor))), 30_000)

  it.live("a failing kms:GenerateDataKey is a typed Encryption error", () =>
    Effect.gen(function*() {
      const simulator = yield* AgentSimulator.AgentSimulator
      const response = yield* simulator.startSession({ plugin: AgentSimulator.shellPlugin() })
      const denied = Layer.succeed(KmsApi.KmsApi, {
        generateDataKey: () => Effect.fail(new KmsApi.KmsApiError({ reason: "AccessDenied", detail: "not allowed" }))
      })
      const result = yield* failure(Effect.scoped(Session.make({
        sessionId: response.SessionId,
        streamUrl: response.StreamUrl,
        tokenValue: response.TokenValue,
        target: "i-simulated"
      })).pipe(Effect.provide(denied)))
      assert.isTrue(Option.isSome(result) && Session.isSessionError(result.value) && result.value.reason === "Encryption")
    }).pipe(Effect.provide(Layer.merge(AgentSimulator.layer({ messagesPerSecond: 0, kmsKeyId: "k" }), NodeSession.layerWebSocketConstructor))), 30_000)
})
