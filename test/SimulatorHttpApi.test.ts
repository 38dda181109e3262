/**
 * The simulator's HTTP API through the real AWS SDK clients, as a program in another process would call it:
 * StartSession for every document the simulator plays (without a `sessionSpec`), the service's refusals
 * (TargetNotConnected, InvalidDocument, InvalidParameters), CreateDocument, and KMS's GenerateDataKey, whose data
 * key the simulated agent then accepts for an encrypted shell.
 */
import { CreateDocumentCommand, SSMClient, StartSessionCommand } from "@aws-sdk/client-ssm"
import { GenerateDataKeyCommand, KMSClient } from "@aws-sdk/client-kms"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Redacted, Stream } from "effect"
import * as AgentSimulator from "../src/AgentSimulator.js"
import * as NodeSession from "../src/NodeSession.js"
import * as RemoteCommand from "../src/RemoteCommand.js"
import * as Session from "../src/Session.js"
import * as Shell from "../src/Shell.js"
import * as SsmApi from "../src/SsmApi.js"
import { sdkAws, sdkCredentials } from "./utils/aws.js"

const ssmClient = (simulator: AgentSimulator.AgentSimulator) =>
  Effect.acquireRelease(
    Effect.sync(() =>
      new SSMClient({ region: "us-east-1", endpoint: simulator.endpoint, credentials: sdkCredentials(simulator), maxAttempts: 1 })
    ),
    (client) => Effect.sync(() => client.destroy())
  )

/** What a call through the SDK gave: its output, or the exception's name and message. */
const call = <A>(send: () => Promise<A>) =>
  Effect.promise(() =>
    send().then(
      (output) => ({ _tag: "Ok" as const, output }),
      (error: Error) => ({ _tag: "Error" as const, name: error.name, message: error.message })
    )
  )

const instances: ReadonlyArray<AgentSimulator.SimulatedInstance> = [
  { instanceId: "i-0123456789abcdef0", tags: { Name: "web-1" } },
  { instanceId: "i-0fffffffffffffff0", tags: { Name: "gone" }, pingStatus: "ConnectionLost" }
]

describe("the simulator's HTTP API through the AWS SDK", () => {
  it.scopedLive("StartSession answers for every document the simulator plays, with the session its document runs", () =>
    Effect.gen(function*() {
      const simulator = yield* AgentSimulator.make({ messagesPerSecond: 0, instances })
      const client = yield* ssmClient(simulator)
      const requests: ReadonlyArray<readonly [string | undefined, Record<string, Array<string>>, string]> = [
        [undefined, {}, "Standard_Stream"],
        ["SSM-SessionManagerRunShell", {}, "Standard_Stream"],
        // a shell plugin without KMS starts without a handshake: the client knows it as a standard stream
        ["AWS-StartInteractiveCommand", { command: ["sh"] }, "Standard_Stream"],
        ["AWS-StartNonInteractiveCommand", { command: ["true"] }, "NonInteractiveCommands"],
        [RemoteCommand.DOCUMENT_NAME, { command: ["true"] }, "NonInteractiveCommands"],
        ["AWS-StartPortForwardingSession", { portNumber: ["9"] }, "Port"],
        ["AWS-StartPortForwardingSessionToRemoteHost", { host: ["127.0.0.1"], portNumber: ["9"] }, "Port"],
        ["AWS-StartSSHSession", { portNumber: ["22"] }, "Port"]
      ]
      for (const [documentName, parameters, sessionType] of requests) {
        const result = yield* call(() =>
          client.send(new StartSessionCommand({ Target: "i-0123456789abcdef0", DocumentName: documentName, Parameters: parameters }))
        )
        assert.strictEqual(result._tag, "Ok", `${documentName}: ${JSON.stringify(result)}`)
        if (result._tag !== "Ok") continue
        assert.match(result.output.SessionId ?? "", /^sim-/)
        assert.match(result.output.StreamUrl ?? "", /^ws:\/\/127\.0\.0\.1:\d+\/v1\/data-channel\//)
        assert.isAbove((result.output.TokenValue ?? "").length, 20)
        // the plugin the document runs: the session type the agent's handshake announces (shells have none)
        if (sessionType !== "Standard_Stream") {
          const announced = yield* Effect.scoped(Effect.gen(function*() {
            const session = yield* Session.make({
              sessionId: result.output.SessionId!,
              streamUrl: result.output.StreamUrl!,
              tokenValue: Redacted.make(result.output.TokenValue!),
              messagesPerSecond: 0
            }).pipe(Effect.provide(NodeSession.layerWebSocketConstructor))
            return session.sessionType
          }))
          assert.strictEqual(announced, sessionType, documentName)
        }
      }
    }))

  it.scopedLive("exec's document over the SDK: stdout, stderr and the exit code through the library's own SsmApi", () =>
    Effect.gen(function*() {
      const simulator = yield* AgentSimulator.make({ messagesPerSecond: 0, instances })
      const result = yield* RemoteCommand.exec({
        target: "i-0123456789abcdef0",
        command: "echo out; echo err >&2; exit 42"
      }).pipe(
        Effect.provide(sdkAws({ endpoint: simulator.endpoint, credentials: sdkCredentials(simulator) }))
      )
      assert.strictEqual(result.exitCode, 42)
      assert.strictEqual(new TextDecoder().decode(result.stdout), "out\n")
      assert.strictEqual(new TextDecoder().decode(result.stderr), "err\n")
    }))

  it.scopedLive("refusals as the service gives them: TargetNotConnected, InvalidDocument, InvalidParameters", () =>
    Effect.gen(function*() {
      const simulator = yield* AgentSimulator.make({ messagesPerSecond: 0, instances })
      const client = yield* ssmClient(simulator)
      const start = (input: ConstructorParameters<typeof StartSessionCommand>[0]) =>
        call(() => client.send(new StartSessionCommand(input)))
      // offline, and not a node of the account
      for (const target of ["i-0fffffffffffffff0", "i-0aaaaaaaaaaaaaaa0"]) {
        const refused = yield* start({ Target: target })
        assert.deepStrictEqual(refused, { _tag: "Error", name: "TargetNotConnected", message: `${target} is not connected.` })
      }
      const unknown = yield* start({ Target: "i-0123456789abcdef0", DocumentName: "No-Such-Document" })
      assert.strictEqual(unknown._tag === "Error" ? unknown.name : "Ok", "InvalidDocument")
      const missing = yield* start({ Target: "i-0123456789abcdef0", DocumentName: "AWS-StartNonInteractiveCommand" })
      assert.strictEqual(missing._tag === "Error" ? missing.name : "Ok", "InvalidParameters")
      const badPort = yield* start({
        Target: "i-0123456789abcdef0",
        DocumentName: "AWS-StartPortForwardingSession",
        Parameters: { portNumber: ["99999"] }
      })
      assert.strictEqual(badPort._tag === "Error" ? badPort.name : "Ok", "InvalidParameters")
      // the library's error for the refusal
      const error = yield* SsmApi.openSession({ target: "i-0fffffffffffffff0" }).pipe(
        Effect.scoped,
        Effect.flip,
        Effect.provide(sdkAws({ endpoint: simulator.endpoint, credentials: sdkCredentials(simulator) }))
      )
      assert.strictEqual((error as SsmApi.SsmApiError).reason, "TargetNotConnected")
    }))

  it.scopedLive("CreateDocument: created once, DocumentAlreadyExists after; content that is no Session document refused", () =>
    Effect.gen(function*() {
      const simulator = yield* AgentSimulator.make({ messagesPerSecond: 0 })
      const client = yield* ssmClient(simulator)
      const create = (content: string) =>
        call(() =>
          client.send(
            new CreateDocumentCommand({ Name: "Release-Test-Document", DocumentType: "Session", DocumentFormat: "JSON", Content: content })
          )
        )
      const created = yield* create(JSON.stringify(RemoteCommand.DOCUMENT_CONTENT))
      assert.strictEqual(created._tag, "Ok", JSON.stringify(created))
      assert.strictEqual(created._tag === "Ok" ? created.output.DocumentDescription?.Name : "", "Release-Test-Document")
      assert.strictEqual(created._tag === "Ok" ? created.output.DocumentDescription?.Status : "", "Active")
      const again = yield* create(JSON.stringify(RemoteCommand.DOCUMENT_CONTENT))
      assert.strictEqual(again._tag === "Error" ? again.name : "Ok", "DocumentAlreadyExists")
      const invalid = yield* call(() =>
        client.send(new CreateDocumentCommand({ Name: "Release-Invalid", DocumentType: "Session", Content: "{" }))
      )
      assert.strictEqual(invalid._tag === "Error" ? invalid.name : "Ok", "InvalidDocumentContent")
    }))

  it.scopedLive("KMS GenerateDataKey over HTTP: a data key the simulated agent accepts for an encrypted shell", () =>
    Effect.gen(function*() {
      const simulator = yield* AgentSimulator.make({ messagesPerSecond: 0, kmsKeyId: "alias/release-test", instances })
      const kms = yield* Effect.acquireRelease(
        Effect.sync(() => new KMSClient({ region: "us-east-1", endpoint: simulator.endpoint, credentials: sdkCredentials(simulator), maxAttempts: 1 })),
        (client) => Effect.sync(() => client.destroy())
      )
      const key = yield* call(() =>
        kms.send(new GenerateDataKeyCommand({ KeyId: "alias/any", NumberOfBytes: 64, EncryptionContext: { a: "b" } }))
      )
      assert.strictEqual(key._tag, "Ok", JSON.stringify(key))
      assert.strictEqual(key._tag === "Ok" ? key.output.Plaintext?.length : 0, 64)
      assert.isAbove(key._tag === "Ok" ? key.output.CiphertextBlob?.length ?? 0 : 0, 0)
      const noKey = yield* call(() => kms.send(new GenerateDataKeyCommand({ KeyId: undefined as never, NumberOfBytes: 64 })))
      assert.strictEqual(noKey._tag, "Error")

      // a shell whose account encrypts with KMS: the library's KmsApi over the SDK, against the same endpoint
      const output = yield* Effect.gen(function*() {
        const session = yield* SsmApi.openSession({ target: "i-0123456789abcdef0" }, { messagesPerSecond: 0 })
        const shell = yield* Shell.make(session)
        yield* shell.write(new TextEncoder().encode("echo encrypted-$((6*7))\n"))
        const seen = yield* shell.output.pipe(
          Stream.map((bytes) => new TextDecoder().decode(bytes)),
          Stream.scan("", (all, text) => all + text),
          Stream.takeUntil((all) => all.includes("encrypted-42")),
          Stream.runLast
        )
        const stats = yield* simulator.sessionStats(session.sessionId)
        return { seen, encrypted: stats?.encrypted }
      }).pipe(
        Effect.scoped,
        Effect.timeout("30 seconds"),
        Effect.provide(sdkAws({ endpoint: simulator.endpoint, credentials: sdkCredentials(simulator) }))
      )
      assert.include(output.seen._tag === "Some" ? output.seen.value : "", "encrypted-42")
      assert.isTrue(output.encrypted)
    }))
})
