import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Effect } from "effect"
import { PortForwarding } from "ssm-session-manager"
import * as AgentSimulator from "ssm-session-manager/AgentSimulator"
import * as NodePortForwarding from "ssm-session-manager/NodePortForwarding"
import * as Http from "node:http"
import type * as Net from "node:net"

// The simulated instance is this machine, so the port forwarded to is one here: a web server for the scope.
const webServer = Effect.acquireRelease(
  Effect.async<Http.Server>((resume) => {
    const server = Http.createServer((request, response) => response.end(`the instance answers ${request.url}`))
    server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
  }),
  (server) => Effect.sync(() => server.close())
)

const program = Effect.gen(function*() {
  const remotePort = ((yield* webServer).address() as Net.AddressInfo).port
  // the same code as against AWS: StartSession through SsmApi, the data channel, smux, a local listener
  const forwarding = yield* PortForwarding.toInstancePort({ target: "i-simulated", portNumber: remotePort })
  const listener = yield* NodePortForwarding.listen(forwarding) // 127.0.0.1, an ephemeral port
  console.log(`127.0.0.1:${listener.port} -> i-simulated:${remotePort} (${forwarding.mode._tag})`)
  const body = yield* Effect.tryPromise(() => fetch(`http://127.0.0.1:${listener.port}/hello`).then((r) => r.text()))
  console.log(`came back: ${body}`)
})

// One layer in place of AWS: the simulator, SsmApi and KmsApi backed by it, and the Node WebSocket. When the
// program ends its scope closes the listener and the session (TerminateSession), then the layer the simulator.
program.pipe(Effect.scoped, Effect.provide(AgentSimulator.layerAll()), NodeRuntime.runMain)
