import { Effect } from "effect"
import * as Net from "node:net"
import { pseudoRandomBytes } from "./bytes.js"

/**
 * A TCP server on 127.0.0.1 for the scope that sends each connection `size` pseudo-random bytes (seeded by the
 * first byte the client sends) and keeps it open; its port.
 */
export const downloadServer = (size: number) =>
  Effect.acquireRelease(
    Effect.async<Net.Server>((resume) => {
      const server = Net.createServer((socket) => {
        socket.on("error", () => {})
        socket.once("data", (request) => socket.write(pseudoRandomBytes(size, 1000 + request[0]!)))
      })
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
    }),
    (server) => Effect.sync(() => server.close())
  ).pipe(Effect.map((server) => (server.address() as Net.AddressInfo).port))

/** Connects to 127.0.0.1:`port`, asks for download `seed` and reads `size` bytes; what came. */
export const download = (port: number, seed: number, size: number) =>
  Effect.async<Uint8Array, Error>((resume) => {
    const socket = Net.connect(port, "127.0.0.1")
    const received = Buffer.alloc(size)
    let length = 0
    socket.on("error", (error) => resume(Effect.fail(error)))
    socket.on("close", () => resume(Effect.fail(new Error(`closed after ${length} of ${size} bytes`))))
    socket.on("data", (chunk: Buffer) => {
      chunk.copy(received, length, 0, Math.min(chunk.length, size - length))
      length += chunk.length
      if (length >= size) {
        socket.removeAllListeners("close")
        socket.destroy()
        resume(Effect.succeed(new Uint8Array(received.buffer, received.byteOffset, size)))
      }
    })
    socket.write(new Uint8Array([seed]))
    return Effect.sync(() => socket.destroy())
  })

/**
 * How a download ended, as the local program sees a tunnel that broke under it: "cut" for a reset (ECONNRESET),
 * and also for a close before every byte came. The library resets the connection (a TCP RST, which Node's debug
 * log shows it sending); on a loaded machine the receiving end now and then reports that RST as the end of a
 * short transfer instead of ECONNRESET. Either way the transfer is visibly incomplete; "complete" means it was not cut.
 */
export const howItEnded = (effect: Effect.Effect<Uint8Array, Error>) =>
  Effect.map(Effect.either(effect), (result) => {
    if (result._tag === "Right") return "complete"
    const error = result.left as NodeJS.ErrnoException
    return error.code === "ECONNRESET" || /^closed after \d+ of \d+ bytes$/.test(error.message)
      ? "cut"
      : error.code ?? error.message
  })
