import { Context, Effect, Layer, Redacted } from "effect"
import * as AgentSimulator from "../../src/AgentSimulator.js"
import * as NodeSession from "../../src/NodeSession.js"
import type * as SsmApi from "../../src/SsmApi.js"

/**
 * The simulator (unpaced) as the SsmApi service and the "instance" for the test's scope, recording the
 * StartSession requests it answers; with the Node WebSocket.
 */
export const simulatedAws = (options: { readonly agentVersion?: string | undefined } = {}) =>
  Effect.gen(function*() {
    const requests: Array<SsmApi.StartSessionRequest> = []
    const context = yield* Layer.build(
      AgentSimulator.layerSsmApi((request) => {
        requests.push(request)
        return AgentSimulator.documentSpec(request)
      }).pipe(
        Layer.provideMerge(AgentSimulator.layer({ messagesPerSecond: 0, agentVersion: options.agentVersion })),
        Layer.merge(NodeSession.layerWebSocketConstructor)
      )
    )
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
