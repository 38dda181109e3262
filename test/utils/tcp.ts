import { Effect } from "effect"
import * as Net from "node:net"

/** A TCP echo server on 127.0.0.1 for the scope, calling `onConnection` for each connection; its port. */
export const countingEchoServer = (onConnection: () => void) =>
  Effect.acquireRelease(
    Effect.async<Net.Server>((resume) => {
      const server = Net.createServer((socket) => {
        onConnection()
        socket.on("error", () => {})
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

/**
 * Connects to 127.0.0.1:`port` (or a Unix socket path), sends `data` and reads until as many bytes came back or
 * the peer closed; what came back.
 */
export const roundTrip = (target: number | string, data: Uint8Array) =>
  Effect.async<Uint8Array, Error>((resume) => {
    const socket = typeof target === "number" ? Net.connect(target, "127.0.0.1") : Net.connect(target)
    const received: Array<Buffer> = []
    let length = 0
    let done = false
    const finish = () => {
      if (done) return
      done = true
      socket.destroy()
      resume(Effect.succeed(new Uint8Array(Buffer.concat(received))))
    }
    socket.on("data", (chunk: Buffer) => {
      received.push(chunk)
      length += chunk.length
      if (length >= data.length) finish()
    })
    socket.on("close", finish)
    socket.on("error", (error) => {
      if (!done) {
        done = true
        resume(Effect.fail(error))
      }
    })
    socket.write(data)
    return Effect.sync(() => socket.destroy())
  })

/** A TCP server on 127.0.0.1 that sends `greeting` to each connection and then echoes; its port. */
export const greetingEchoServer = (greeting: string) =>
  Effect.acquireRelease(
    Effect.async<Net.Server>((resume) => {
      const server = Net.createServer((socket) => {
        socket.on("error", () => {})
        socket.write(greeting)
        socket.pipe(socket)
      })
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
    }),
    (server) => Effect.sync(() => server.close())
  ).pipe(Effect.map((server) => (server.address() as Net.AddressInfo).port))
