import { Effect } from "effect"
import type * as AgentSimulator from "../../src/AgentSimulator.js"
import * as NodeSession from "../../src/NodeSession.js"
import * as Session from "../../src/Session.js"

/** Opens a Session on a simulator's StartSession response, unpaced unless told otherwise. */
export const openSession = (response: AgentSimulator.StartSessionResponse, options: Partial<Session.SessionOptions> = {}) =>
  Session.make({
    sessionId: response.SessionId,
    streamUrl: response.StreamUrl,
    tokenValue: response.TokenValue,
    messagesPerSecond: 0,
    ...options
  }).pipe(Effect.provide(NodeSession.layerWebSocketConstructor))
