import { Effect, Stream } from "effect"
import { Session } from "ssm-session-manager"
import * as AgentSimulator from "ssm-session-manager/AgentSimulator"
import * as NodeSession from "ssm-session-manager/NodeSession"

// A local Session Manager plays the service and the agent; a real StartSession response looks the same.
const program = Effect.gen(function*() {
  const simulator = yield* AgentSimulator.make()
  const response = yield* simulator.startSession({ plugin: AgentSimulator.echoPlugin() })

  // The session is ready (handshake done) when `make` returns, and ends with its scope.
  const session = yield* Session.make({
    sessionId: response.SessionId,
    streamUrl: response.StreamUrl,
    tokenValue: response.TokenValue // Redacted: it leaves memory only in the OpenDataChannel frame
  })
  console.log(`session type ${session.sessionType}, agent ${session.agentVersion._tag === "Some" ? session.agentVersion.value : "?"}`)

  yield* session.write(new TextEncoder().encode("hello through the data channel"))
  const echoed = yield* session.output.pipe(Stream.take(1), Stream.runCollect)
  console.log(new TextDecoder().decode([...echoed][0]))
  console.log(yield* session.stats)
})

Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(NodeSession.layerWebSocketConstructor)))
