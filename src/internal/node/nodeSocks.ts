/**
 * A SOCKS5 proxy (RFC 1928: no authentication, CONNECT only) whose every destination is reached through a
 * port-forwarding session to a remote host (`AWS-StartPortForwardingSessionToRemoteHost`): a pool of sessions
 * per destination, started on its first CONNECT (concurrent first CONNECTs share the start), reused by later ones
 * (one smux stream per connection), and closed when it has carried no connection for `idleTimeout`. At most
 * `maxDestinations` are kept (the least recently used one without connections is closed for a new one), and a
 * destination the agent has only ever refused is closed once its last connection ends.
 *
 * `serve` only wires: the state is `node/socksState.ts`, the destinations' lives `node/socksDestinations.ts`, a
 * client's handshake `node/socksHandshake.ts` and its CONNECT `node/socksConnection.ts`.
 *
 * @internal
 */
import type * as Socket from "@effect/platform/Socket"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as FiberMap from "effect/FiberMap"
import * as FiberSet from "effect/FiberSet"
import * as PubSub from "effect/PubSub"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Net from "node:net"
import type * as NodeSocks from "../../NodeSocks.js"
import type * as SsmApi from "../../SsmApi.js"
import { serveConnection } from "./socksConnection.js"
import { SocksError } from "./socksError.js"
import { makeCounters, parseServeOptions, type SocksServerState, statsOf } from "./socksState.js"

/** @internal */
export { ErrorTypeId, isSocksError, SocksError } from "./socksError.js"
/** @internal */
export { replyForStartFailure } from "./socksConnection.js"
/** @internal */
export { Reply } from "./socksWire.js"

/** @internal */
export const serve = (
  options: NodeSocks.ServeOptions
): Effect.Effect<
  NodeSocks.SocksServer,
  SocksError,
  Scope.Scope | SsmApi.SsmApi | Socket.WebSocketConstructor
> =>
  Effect.gen(function*() {
    const config = yield* parseServeOptions(options)
    const serverScope = yield* Effect.scope
    const stopped = yield* Deferred.make<void, SocksError>()
    yield* Effect.addFinalizer(() => Deferred.succeed(stopped, undefined))
    const state: SocksServerState = {
      config,
      context: yield* Effect.context<SsmApi.SsmApi | Socket.WebSocketConstructor>(),
      events: yield* Effect.acquireRelease(PubSub.sliding<NodeSocks.SocksEvent>(1024), PubSub.shutdown),
      background: yield* FiberSet.make(),
      idleTimers: yield* FiberMap.make<number>(),
      // every destination's scope is a child of this one, closed in parallel when the proxy closes (after the
      // connections, which are closed first: their listener and fibers were acquired later)
      destinationsScope: yield* Scope.fork(serverScope, ExecutionStrategy.parallel),
      table: new Map(),
      stats: makeCounters(),
      nextId: 0,
      closing: false
    }
    yield* Effect.addFinalizer(() => Effect.sync(() => state.closing = true))

    const connections = yield* FiberSet.make()
    const runConnection = yield* FiberSet.runtime(connections)()
    const server = yield* listen(config.host, config.port, stopped, (socket) => {
      socket.on("error", () => {})
      runConnection(serveConnection(state, socket))
    })
    const address = server.address() as Net.AddressInfo

    return {
      address: { host: address.address, port: address.port },
      stats: Effect.sync(() => statsOf(state)),
      destinations: Effect.gen(function*() {
        const result: Array<NodeSocks.DestinationInfo> = []
        for (const destination of state.table.values()) {
          result.push({
            destination: destination.name,
            connections: destination.active,
            sessions: destination.pool === undefined
              ? []
              : (yield* destination.pool.sessions).map((session) => session.sessionId)
          })
        }
        return result
      }),
      events: Stream.fromPubSub(state.events),
      subscribe: Effect.map(PubSub.subscribe(state.events), Stream.fromQueue),
      closed: Deferred.await(stopped)
    } satisfies NodeSocks.SocksServer
  })

/** The listener, closed with the scope; a failure after it listens fails `stopped`. */
const listen = (
  host: string,
  port: number,
  stopped: Deferred.Deferred<void, SocksError>,
  onConnection: (socket: Net.Socket) => void
) =>
  Effect.acquireRelease(
    Effect.async<Net.Server, SocksError>((resume) => {
      const server = Net.createServer({ noDelay: true }, onConnection)
      const onError = (cause: Error) =>
        resume(Effect.fail(new SocksError({ reason: "Listen", detail: `${host}:${port}: ${cause.message}`, cause })))
      server.once("error", onError)
      server.listen(port, host, () => {
        server.off("error", onError)
        server.on("error", (cause) =>
          Deferred.unsafeDone(stopped, Exit.fail(new SocksError({ reason: "Listen", detail: cause.message, cause }))))
        resume(Effect.succeed(server))
      })
      return Effect.sync(() => server.close())
    }),
    (server) => Effect.sync(() => server.close())
  )
