/** A SOCKS5 client small enough to read (RFC 1928: no authentication, CONNECT to an IPv4 address). */
import { Effect } from "effect"
import * as Net from "node:net"

/**
 * Through the SOCKS5 proxy on 127.0.0.1:`proxy`, connects to 127.0.0.1:`port`, sends `data` and reads as many
 * bytes back; what came back.
 */
export const socks5RoundTrip = (proxy: number, port: number, data: Uint8Array) =>
  Effect.async<Buffer, Error>((resume) => {
    const socket = Net.connect(proxy, "127.0.0.1")
    let stage: "greeting" | "connect" | "data" = "greeting"
    let received = Buffer.alloc(0)
    const fail = (message: string) => {
      socket.destroy()
      resume(Effect.fail(new Error(message)))
    }
    socket.on("error", (error) => fail(`SOCKS5 client: ${error.message}`))
    socket.on("connect", () => socket.write(Uint8Array.of(5, 1, 0)))
    socket.on("data", (chunk: Buffer) => {
      received = Buffer.concat([received, chunk])
      if (stage === "greeting" && received.length >= 2) {
        if (received[0] !== 5 || received[1] !== 0) return fail(`greeting refused: ${received.toString("hex")}`)
        received = received.subarray(2)
        stage = "connect"
        socket.write(Uint8Array.of(5, 1, 0, 1, 127, 0, 0, 1, port >> 8, port & 0xff))
      }
      if (stage === "connect" && received.length >= 10) {
        if (received[1] !== 0) return fail(`CONNECT refused: reply ${received[1]}`)
        received = received.subarray(10)
        stage = "data"
        socket.write(data)
      }
      if (stage === "data" && received.length >= data.length) {
        socket.destroy()
        resume(Effect.succeed(received))
      }
    })
    return Effect.sync(() => socket.destroy())
  })
