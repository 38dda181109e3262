/**
 * The simulated AWS the tests run against, in one place: the agent simulator (unpaced unless told) as the SsmApi
 * and KmsApi services with the Node WebSocket, in process (`simulatedAwsLayer`, or `simulatedAws` to also record
 * the StartSession requests), or through its HTTP API with the AWS SDK clients, as a real program meets it
 * (`simulatedAwsOverHttp`, or `sdkAws` for a simulator in another process).
 */
import { Context, Effect, Layer, Redacted } from "effect"
import * as AgentSimulator from "../../src/AgentSimulator.js"
import * as KmsApi from "../../src/KmsApi.js"
import * as NodeSession from "../../src/NodeSession.js"
import * as SsmApi from "../../src/SsmApi.js"

/**
 * The simulator's options, with `messagesPerSecond` 0 (no pacing) unless given; `sessionSpec` chooses what a
 * StartSession starts (by default `AgentSimulator.documentSpec`, after the service's checks).
 */
export type SimulatedAwsOptions = AgentSimulator.SimulatorOptions

/**
 * A simulator for the layer's lifetime as `AgentSimulator`, `SsmApi` (StartSession in process) and `KmsApi`, with
 * the Node WebSocket constructor: everything PortForwarding, RemoteCommand, Shell and the pools need.
 */
export const simulatedAwsLayer = (options: SimulatedAwsOptions = {}) =>
  AgentSimulator.layerAll({ messagesPerSecond: 0, ...options })

/**
 * `simulatedAwsLayer` built for the test's scope, recording the StartSession requests it answers: the requests,
 * the services (`Effect.provide(aws.context)`) and the simulator.
 */
export const simulatedAws = (options: SimulatedAwsOptions = {}) =>
  Effect.gen(function*() {
    const requests: Array<SsmApi.StartSessionRequest> = []
    const spec = options.sessionSpec ??
      ((request: SsmApi.StartSessionRequest) => AgentSimulator.documentSpec(request, options.remoteProcess))
    const context = yield* Layer.build(simulatedAwsLayer({
      ...options,
      sessionSpec: (request) => {
        requests.push(request)
        return spec(request)
      }
    }))
    return { requests, context, simulator: Context.get(context, AgentSimulator.AgentSimulator) }
  })

/** A simulator's generated credentials as an AWS SDK client takes them (its HTTP API answers only these). */
export const sdkCredentials = (simulator: { readonly credentials: AgentSimulator.SimulatorCredentials }) => ({
  accessKeyId: simulator.credentials.accessKeyId,
  secretAccessKey: Redacted.value(simulator.credentials.secretAccessKey)
})

/** The same as environment variables, for a child process (the AWS SDK's environment credentials). */
export const credentialsEnvironment = (simulator: { readonly credentials: AgentSimulator.SimulatorCredentials }) => ({
  AWS_ACCESS_KEY_ID: simulator.credentials.accessKeyId,
  AWS_SECRET_ACCESS_KEY: Redacted.value(simulator.credentials.secretAccessKey)
})

/**
 * SsmApi and KmsApi from the AWS SDK clients, signed with `credentials`, against a simulator's HTTP `endpoint`
 * (one attempt a call: a refusal is the test's answer, not something to retry), with the Node WebSocket.
 */
export const sdkAws = (options: {
  readonly endpoint: string
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string }
}) =>
  Layer.mergeAll(
    SsmApi.layer({ region: "us-east-1", endpoint: options.endpoint, credentials: options.credentials, maxAttempts: 1 }),
    KmsApi.layer({ region: "us-east-1", endpoint: options.endpoint, credentials: options.credentials }),
    NodeSession.layerWebSocketConstructor
  )

/**
 * A simulator for the test's scope, reached as a real program reaches AWS: through its HTTP API with the SDK
 * clients (`sdkAws`). The simulator, for its faults and stats, and the services (`Effect.provide(aws.layer)`).
 */
export const simulatedAwsOverHttp = (options: SimulatedAwsOptions = {}) =>
  Effect.map(
    AgentSimulator.make({ messagesPerSecond: 0, ...options }),
    (simulator) => ({
      simulator,
      layer: sdkAws({ endpoint: simulator.endpoint, credentials: sdkCredentials(simulator) })
    })
  )
