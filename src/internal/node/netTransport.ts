/**
 * Byte transports over Node `net` sockets (TCP or Unix), with read backpressure: the socket is paused while
 * nobody is pulling, so a slow reader fills the TCP window instead of memory.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Mailbox from "effect/Mailbox"
import type * as Scope from "effect/Scope"
import * as Net from "node:net"
import type * as NodeNetTransport from "../../NodeNetTransport.js"
import { isReasonError, ReasonError } from "../error.js"
import * as Pull from "../smux/pull.js"

/** @internal */
export const ErrorTypeId: NodeNetTransport.ErrorTypeId = Symbol.for(
  "ssm-session-manager/NodeNetTransport/NetTransportError"
) as NodeNetTransport.ErrorTypeId

/** A failure of the socket under a transport. @internal */
export class NetTransportError
  extends ReasonError(ErrorTypeId, "NetTransportError")<NodeNetTransport.NetTransportError.Reason>
{}

/** @internal */
export const isNetTransportError: (u: unknown) => u is NetTransportError = isReasonError<NetTransportError>(
  ErrorTypeId
)

const messageOf = (cause: unknown): string => cause instanceof Error ? cause.message : String(cause)

/** @internal */
export const netTransportError = (reason: NodeNetTransport.NetTransportError.Reason, cause: unknown) =>
  new NetTransportError({ reason, detail: messageOf(cause), cause })

/** chunks (of at most 64 KiB each) held before the socket is paused */
const HIGH_WATER = 16

/** @internal */
export const fromNetSocket = (
  socket: Net.Socket
): Effect.Effect<NodeNetTransport.NetTransport, never, Scope.Scope> =>
  Effect.gen(function*() {
    const mailbox = yield* Mailbox.make<Uint8Array, NetTransportError>()
    let held = 0
    socket.on("data", (chunk: Buffer) => {
      mailbox.unsafeOffer(chunk)
      if (++held >= HIGH_WATER) socket.pause()
    })
    socket.on("end", () => mailbox.unsafeDone(Exit.void))
    socket.on("close", () => mailbox.unsafeDone(Exit.void))
    socket.on("error", (cause) => mailbox.unsafeDone(Exit.fail(netTransportError("Read", cause))))
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
      write: (bytes: Uint8Array) => writeTo(socket, bytes)
    }
  })

/** Writes to a socket, done when Node has handed the bytes to the kernel. @internal */
export const writeTo = (socket: Net.Socket, bytes: Uint8Array): Effect.Effect<void, NetTransportError> =>
  Effect.async<void, NetTransportError>((resume) => {
    socket.write(bytes, (error) => resume(error ? Effect.fail(netTransportError("Write", error)) : Effect.void))
  })

/** @internal */
export const connect = (
  options: Net.NetConnectOpts
): Effect.Effect<NodeNetTransport.NetTransport, NetTransportError, Scope.Scope> =>
  Effect.flatMap(
    Effect.acquireRelease(
      Effect.async<Net.Socket, NetTransportError>((resume) => {
        const socket = Net.connect(options)
        const onError = (cause: unknown) => resume(Effect.fail(netTransportError("Connect", cause)))
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
