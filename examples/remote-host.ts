import { Effect, Stream } from "effect"
import { PortForwarding } from "ssm-session-manager"
import * as NodePortForwarding from "ssm-session-manager/NodePortForwarding"

// A database the instance can reach, on a local port: AWS-StartPortForwardingSessionToRemoteHost.
export const forwardToDatabase = (target: string, host: string, port: number) =>
  Effect.gen(function*() {
    const forwarding = yield* PortForwarding.toRemoteHost({ target, host, portNumber: port })
    const listener = yield* NodePortForwarding.listen(forwarding) // an ephemeral port: see listener.address

    // What happens to the tunnel, as typed events (a failed dial on the instance is ConnectToPortError).
    yield* forwarding.events.pipe(
      Stream.runForEach((event) => Effect.log(event._tag)),
      Effect.forkScoped
    )
    return listener.address
  })
