import { Effect } from "effect"
import { PortForwarding } from "ssm-session-manager"

// No local port at all: a connection through the tunnel is an @effect/platform Socket in this process, so a
// service can talk to something behind an instance directly. Here: one HTTP/1.0 request.
export const getThroughInstance = (target: string, port: number, path: string) =>
  Effect.scoped(Effect.gen(function*() {
    const forwarding = yield* PortForwarding.toInstancePort({ target, portNumber: port })
    const socket = yield* forwarding.connect
    const write = yield* socket.writer
    yield* write(`GET ${path} HTTP/1.0\r\nHost: localhost\r\n\r\n`)
    let response = ""
    const decoder = new TextDecoder()
    // the server closes the connection after answering: the agent closes the stream, `run` returns
    yield* socket.run((bytes) => {
      response += decoder.decode(bytes, { stream: true })
    })
    return response
  }))
