/**
 * `simulate`: runs the agent simulator and prints a StartSession-like response, so any client (this library's,
 * or AWS's session-manager-plugin) can be pointed at it. Serves until interrupted.
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as AgentSimulator from "../AgentSimulator.js"

const port = Options.integer("port").pipe(
  Options.withDefault(0),
  Options.withDescription("port on 127.0.0.1 to listen on (0: any free port)")
)
const sessionType = Options.choice("session-type", ["Port", "Standard_Stream", "InteractiveCommands", "NonInteractiveCommands"])
  .pipe(Options.withDefault("Port" as const), Options.withDescription("the session type the agent announces"))
const agentVersion = Options.text("agent-version").pipe(
  Options.withDefault("3.3.1142.0"),
  Options.withDescription("the AgentVersion of the handshake")
)
const messagesPerSecond = Options.integer("messages-per-second").pipe(
  Options.withDefault(1000),
  Options.withDescription("pacing of the agent's data messages (0: none)")
)

/**
 * @since 0.1.0
 * @category commands
 */
export const simulate = Command.make(
  "simulate",
  { agentVersion, messagesPerSecond, port, sessionType },
  (options) =>
    Effect.gen(function*() {
      const simulator = yield* AgentSimulator.make({
        port: options.port,
        agentVersion: options.agentVersion,
        messagesPerSecond: options.messagesPerSecond
      })
      const response = yield* simulator.startSession({
        plugin: AgentSimulator.echoPlugin({
          sessionType: options.sessionType,
          requireHandshake: options.sessionType === "Port" || options.sessionType === "NonInteractiveCommands"
        }),
        properties: options.sessionType === "Port" ? { portNumber: "0", type: "LocalPortForwarding" } : null
      })
      // the simulator's own token: printed so that a client can connect, as `aws ssm start-session` prints its response
      yield* Console.log(JSON.stringify({
        SessionId: response.SessionId,
        TokenValue: Redacted.value(response.TokenValue),
        StreamUrl: response.StreamUrl
      }))
      return yield* Effect.never
    }).pipe(Effect.scoped)
).pipe(Command.withDescription("run a local agent simulator (echo plugin) and print a StartSession response"))
