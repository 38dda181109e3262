import { Effect, Stream } from "effect"
import * as NodeSocks from "ssm-session-manager/NodeSocks"

// A SOCKS5 proxy into the instance's network: each destination a client asks for is reached from the instance,
// through its own remote-host session, opened on first use and closed after 5 idle minutes.
export const proxyInto = (target: string) =>
  Effect.gen(function*() {
    const proxy = yield* NodeSocks.serve({ target, port: 0, idleTimeout: "5 minutes" })
    yield* proxy.events.pipe(
      Stream.runForEach((event) => Effect.log(event._tag, "destination" in event ? event.destination : "")),
      Effect.forkScoped
    )
    return proxy.address // ALL_PROXY=socks5h://127.0.0.1:<port> curl http://internal-api:8080/
  })
