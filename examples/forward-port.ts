import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Effect, Layer } from "effect"
import { PortForwarding, SsmApi } from "ssm-session-manager"
import * as NodePortForwarding from "ssm-session-manager/NodePortForwarding"
import * as NodeSession from "ssm-session-manager/NodeSession"
import * as Url from "node:url"

// StartSession (AWS-StartPortForwardingSession), a local listener, and on scope close the TerminateSession flag
// (or the API, for agents that ignore the flag).
export const forwardToInstance = (target: string, remotePort: number, localPort: number) =>
  Effect.gen(function*() {
    const forwarding = yield* PortForwarding.toInstancePort({ target, portNumber: remotePort })
    const listener = yield* NodePortForwarding.listen(forwarding, { port: localPort })
    yield* Effect.log(`${JSON.stringify(listener.address)} -> ${target}:${remotePort} (${forwarding.mode._tag})`)
    return { forwarding, listener }
  })

// Credentials and region from the SDK's default chains (AWS_REGION, AWS_PROFILE, SSO, instance roles ...).
const aws = Layer.merge(SsmApi.layerConfig(), NodeSession.layerWebSocketConstructor)

// Forward 127.0.0.1:8080 to port 80 of the instance until Ctrl-C or the session ends.
if (process.argv[1] === Url.fileURLToPath(import.meta.url)) {
  forwardToInstance(process.argv[2] ?? "i-0123456789abcdef0", 80, 8080).pipe(
    Effect.flatMap(({ forwarding }) => forwarding.closed),
    Effect.scoped,
    Effect.provide(aws),
    NodeRuntime.runMain
  )
}
