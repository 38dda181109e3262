import { Effect } from "effect"
import * as Net from "node:net"

/** A TCP echo server on 127.0.0.1 for the scope, calling `onConnection` for each connection; its port. */
export const countingEchoServer = (onConnection: () => void) =>
  Effect.acquireRelease(
    Effect.async<Net.Server>((resume) => {
      const server = Net.createServer((socket) => {
        onConnection()
        socket.pipe(socket)
      })
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
    }),
    (server) => Effect.sync(() => server.close())
  ).pipe(Effect.map((server) => (server.address() as Net.AddressInfo).port))

/** A TCP echo server on 127.0.0.1 for the scope; its port. */
export const echoServer = countingEchoServer(() => {})

/** A port on 127.0.0.1 that nothing listens on (it was free a moment ago). */
export const closedPort = Effect.async<number>((resume) => {
  const server = Net.createServer()
  server.listen(0, "127.0.0.1", () => {
    const port = (server.address() as Net.AddressInfo).port
    server.close(() => resume(Effect.succeed(port)))
  })
})
