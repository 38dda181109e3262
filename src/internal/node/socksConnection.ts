/**
 * One SOCKS client connection: its handshake (bounded in time), the CONNECT through the destination's pool with
 * the reply sent once the agent has answered, and a rejection's reply followed by a linger (so that the close is
 * not an RST).
 *
 * @internal
 */
import * as Chunk from "effect/Chunk"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import type * as Scope from "effect/Scope"
import type * as Net from "node:net"
import type * as NodeNetTransport from "../../NodeNetTransport.js"
import type * as PortForwarding from "../../PortForwarding.js"
import type * as PortForwardingPool from "../../PortForwardingPool.js"
import * as SsmApi from "../../SsmApi.js"
import { concat } from "../protocol/bytes.js"
import * as Pull from "../smux/pull.js"
import { formatDestination, Reply, replyBytes } from "./socksWire.js"
import * as NetTransport from "./netTransport.js"
import { lease, publish, refusalWaitFor } from "./socksDestinations.js"
import { isSocksError, type Rejection, silentRejection, SocksError } from "./socksError.js"
import { checkRequest, type HandshakeRequest, readHandshake, rejectWith } from "./socksHandshake.js"
import type { Destination, SocksServerState } from "./socksState.js"

/** How long a rejected client may still send before its connection is closed (so that the close is not an RST). */
const REJECT_LINGER = Duration.seconds(1)

/**
 * The reply for a destination whose session could not start: the service refusing the caller (AccessDenied) is
 * "not allowed", a target that is offline makes every destination unreachable ("network unreachable"), a host
 * the document rejects is "host unreachable", anything else a general failure.
 *
 * @internal
 */
export const replyForStartFailure = (error: unknown): number => {
  const cause = isSocksError(error) ? error.cause : error
  if (SsmApi.isSsmApiError(cause)) {
    switch (cause.reason) {
      case "AccessDenied":
        return Reply.NotAllowed
      case "TargetNotConnected":
        return Reply.NetworkUnreachable
      case "InvalidParameters":
        return Reply.HostUnreachable
      default:
        return Reply.GeneralFailure
    }
  }
  return Reply.GeneralFailure
}

/** Serves one accepted client until it ends; never fails. @internal */
export const serveConnection = (state: SocksServerState, socket: Net.Socket): Effect.Effect<void> =>
  Effect.gen(function*() {
    state.stats.connections++
    state.stats.activeConnections++
    yield* Effect.addFinalizer(() => Effect.sync(() => state.stats.activeConnections--))
    const transport = yield* NetTransport.fromNetSocket(socket)
    const outcome = yield* Effect.either(handshakeAndConnect(state, transport, socket))
    if (outcome._tag === "Left") yield* rejectAndLinger(state, outcome.left, transport, socket)
  }).pipe(
    Effect.scoped,
    Effect.catchAllCause((cause) => Effect.logDebug("a SOCKS connection ended with a failure", cause)),
    Effect.annotateLogs("client", `${socket.remoteAddress ?? ""}:${socket.remotePort ?? ""}`)
  )

const writeRaw = (socket: Net.Socket, bytes: Uint8Array) =>
  Effect.mapError(
    NetTransport.writeTo(socket, bytes),
    (error) => new SocksError({ reason: "Handshake", detail: "the client went away", cause: error.cause })
  )

/** The handshake (bounded in time), the request's checks, the destination's lease, and the CONNECT. */
const handshakeAndConnect = (
  state: SocksServerState,
  transport: NodeNetTransport.NetTransport,
  socket: Net.Socket
): Effect.Effect<void, Rejection, Scope.Scope> =>
  Effect.gen(function*() {
    const deadline = state.config.handshakeTimeout
    const request = yield* readHandshake(transport, (bytes) => writeRaw(socket, bytes)).pipe(
      Effect.timeoutFail({
        duration: deadline,
        onTimeout: () => silentRejection("Handshake", `no complete request within ${Duration.format(deadline)}`)
      })
    )
    const invalid = checkRequest(request)
    if (invalid !== undefined) return yield* invalid
    const name = formatDestination(request.host, request.port)
    const { destination, pool } = yield* Effect.mapError(
      lease(state, request.host, request.port),
      (error) => rejectWith(name, replyForStartFailure(error), error.reason, error.detail, error.cause)
    )
    return yield* connectThrough(state, request, name, destination, pool, transport, socket)
  })

/**
 * A rejection: counted and told, its reply (if any) sent, then a half-close, and what the client still sends is
 * read and dropped for a while: closing with unread bytes would be an RST, which can make the client lose the
 * reply.
 */
const rejectAndLinger = (
  state: SocksServerState,
  rejection: Rejection,
  transport: NodeNetTransport.NetTransport,
  socket: Net.Socket
) =>
  Effect.gen(function*() {
    state.stats.rejected++
    yield* publish(state, {
      _tag: "Rejected",
      destination: rejection.destination,
      reply: rejection.reply === undefined || rejection.reply.length < 2 ? undefined : rejection.reply[1],
      error: rejection.error
    })
    yield* Effect.logDebug(`SOCKS connection rejected: ${rejection.error.message}`)
    if (rejection.reply !== undefined) yield* Effect.ignore(writeRaw(socket, rejection.reply))
    socket.end()
    yield* Pull.drain(transport.pull, () => Effect.void).pipe(Effect.ignore, Effect.timeout(REJECT_LINGER), Effect.ignore)
  })

/** What a CONNECT has done so far: whether it replied, whether the client ended, its first bytes not yet sent on. */
interface ConnectState {
  replied: boolean
  clientEnded: boolean
  first: Uint8Array | undefined
}

/**
 * A CONNECT through the destination's pool. The reply waits for the tunnel connection to be open, and for the
 * destination not to be refused: success comes with the destination's first bytes, or after the refusal wait; a
 * stream the agent ends before any byte (its ConnectToPortError) is "connection refused".
 */
const connectThrough = (
  state: SocksServerState,
  request: HandshakeRequest,
  name: string,
  destination: Destination,
  pool: PortForwardingPool.PortForwardingPool,
  transport: NodeNetTransport.NetTransport,
  socket: Net.Socket
) =>
  Effect.gen(function*() {
    const { stats } = state
    const connection: ConnectState = {
      replied: false,
      clientEnded: false,
      first: request.rest.length > 0 ? request.rest : undefined
    }
    const opened = yield* Deferred.make<void>()
    const answered = yield* Deferred.make<void>()
    const success = replyBytes(Reply.Succeeded)
    const pull: Pull.Pull<Uint8Array, NodeNetTransport.NetTransportError> = Effect.suspend(() => {
      // the tunnel reads its local side only once its connection is open
      Deferred.unsafeDone(opened, Exit.void)
      if (connection.first !== undefined) {
        const bytes = connection.first
        connection.first = undefined
        stats.bytesSent += bytes.length
        return Effect.succeed(Chunk.of(bytes))
      }
      return transport.pull.pipe(
        Effect.tap((chunk) =>
          Effect.sync(() => {
            for (const bytes of chunk) stats.bytesSent += bytes.length
          })
        ),
        Effect.tapError(() => Effect.sync(() => connection.clientEnded = true))
      )
    })
    /** The success reply, once, synchronously with its decision (so that it always precedes any data). */
    const replySuccess = (then: Uint8Array | undefined) =>
      Effect.async<void, NodeNetTransport.NetTransportError>((resume) => {
        let out = then
        if (!connection.replied) {
          connection.replied = true
          stats.succeeded++
          destination.succeeded = true
          Deferred.unsafeDone(answered, Exit.void)
          out = then === undefined ? success : concat([success, then])
        }
        if (out === undefined) return resume(Effect.void)
        socket.write(out, (error) =>
          resume(error ? Effect.fail(NetTransport.netTransportError("Write", error)) : Effect.void))
      })
    const local: PortForwarding.LocalConnection<NodeNetTransport.NetTransportError, NodeNetTransport.NetTransportError> = {
      incoming: Pull.toStream(pull),
      pull,
      write: (bytes) => {
        stats.bytesReceived += bytes.length
        destination.proven = true
        return replySuccess(bytes)
      },
      reset: transport.reset
    }
    const forwarding = yield* Effect.forkScoped(Effect.either(pool.forward(local)))
    const ended = yield* Effect.raceFirst(
      Effect.as(Fiber.await(forwarding), true),
      Effect.as(Deferred.await(opened), false)
    )
    if (!ended && !connection.replied) {
      const wait = destination.proven ? Duration.zero : yield* refusalWaitFor(state, pool)
      const decided = yield* Effect.raceFirst(
        Effect.as(Fiber.await(forwarding), "ended" as const),
        Effect.raceFirst(
          Effect.as(Deferred.await(answered), "answered" as const),
          Effect.as(Effect.sleep(wait), "waited" as const)
        )
      )
      if (decided === "waited") yield* Effect.ignore(replySuccess(undefined))
    }
    const result = yield* Fiber.join(forwarding)
    if (connection.replied) return
    // the connection ended before any reply
    connection.replied = true
    if (connection.clientEnded) {
      return yield* silentRejection("Handshake", "the client closed before the reply", destination.name)
    }
    if (result._tag === "Left") {
      return yield* rejectWith(name, Reply.GeneralFailure, "Broken", result.left.message, result.left)
    }
    if (result.right._tag === "Cut") {
      return yield* rejectWith(name, Reply.GeneralFailure, "Broken", result.right.error.message, result.right.error)
    }
    destination.proven = false
    destination.refused = true
    return yield* rejectWith(
      name,
      Reply.ConnectionRefused,
      "Refused",
      `the agent could not connect to ${destination.name} (or it closed at once)`
    )
  })
