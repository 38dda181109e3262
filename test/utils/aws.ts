import { Context, Effect, Layer } from "effect"
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
