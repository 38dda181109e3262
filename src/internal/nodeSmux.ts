/**
 * Smux transports over Node TCP sockets, with read backpressure: the socket is paused while the session is not
 * pulling, so a slow reader fills the TCP window instead of memory.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Mailbox from "effect/Mailbox"
import type * as Scope from "effect/Scope"
import * as Net from "node:net"
import type * as NodeSmux from "../NodeSmux.js"
import * as Pull from "./pull.js"

/** chunks (of at most 64 KiB each) held before the socket is paused */
const HIGH_WATER = 16

/** @internal */
export const fromNetSocket = (
  socket: Net.Socket
): Effect.Effect<NodeSmux.NetTransport, never, Scope.Scope> =>
  Effect.gen(function*() {
    const mailbox = yield* Mailbox.make<Uint8Array, NodeSmux.NetTransportError>()
    let held = 0
    const fail = (cause: unknown) =>
      mailbox.unsafeDone(Exit.fail({ _tag: "NetTransportError", cause } as NodeSmux.NetTransportError))
    socket.on("data", (chunk: Buffer) => {
      mailbox.unsafeOffer(chunk)
      if (++held >= HIGH_WATER) socket.pause()
    })
    socket.on("end", () => mailbox.unsafeDone(Exit.void))
    socket.on("close", () => mailbox.unsafeDone(Exit.void))
    socket.on("error", fail)
    socket.setNoDelay(true)
    yield* Effect.addFinalizer(() => Effect.sync(() => socket.destroy()))
    const pull = Pull.fromMailbox(mailbox, (chunk) => {
      held -= chunk.length
      if (held < HIGH_WATER && socket.isPaused()) socket.resume()
    })
    return {
      incoming: Pull.toStream(pull),
      pull,
      reset: Effect.sync(() => {
        // a TCP RST; a Unix socket has none (Node throws for it): there the close is all a peer can get
        try {
          socket.resetAndDestroy()
        } catch {
          socket.destroy()
        }
      }),
      write: (bytes: Uint8Array) =>
        Effect.async<void, NodeSmux.NetTransportError>((resume) => {
          socket.write(bytes, (error) =>
            resume(error ? Effect.fail({ _tag: "NetTransportError", cause: error }) : Effect.void))
        })
    }
  })

/** @internal */
export const connect = (
  options: Net.NetConnectOpts
): Effect.Effect<NodeSmux.NetTransport, NodeSmux.NetTransportError, Scope.Scope> =>
  Effect.flatMap(
    Effect.acquireRelease(
      Effect.async<Net.Socket, NodeSmux.NetTransportError>((resume) => {
        const socket = Net.connect(options)
        const onError = (cause: unknown) => resume(Effect.fail({ _tag: "NetTransportError", cause }))
        socket.once("error", onError)
        socket.once("connect", () => {
          socket.off("error", onError)
          resume(Effect.succeed(socket))
        })
        return Effect.sync(() => socket.destroy())
      }),
      (socket) => Effect.sync(() => socket.destroy())
    ),
    fromNetSocket
  )
