/**
 * A SOCKS5 proxy (RFC 1928: no authentication, CONNECT only) whose every destination is reached through a
 * port-forwarding session to a remote host (`AWS-StartPortForwardingSessionToRemoteHost`): a pool of sessions
 * per destination, started on its first CONNECT (concurrent first CONNECTs share the start), reused by later ones
 * (one smux stream per connection), and closed when it has carried no connection for `idleTimeout`. At most
 * `maxDestinations` are kept (the least recently used one without connections is closed for a new one), and a
 * destination the agent has only ever refused is closed once its last connection ends.
 *
 * @internal
 */
import type * as Socket from "@effect/platform/Socket"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as FiberMap from "effect/FiberMap"
import * as FiberSet from "effect/FiberSet"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as PubSub from "effect/PubSub"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Net from "node:net"
import type * as NodeSocks from "../NodeSocks.js"
import type * as PortForwarding from "../PortForwarding.js"
import * as PortForwardingPool from "../PortForwardingPool.js"
import * as SsmApi from "../SsmApi.js"
import { concat } from "./bytes.js"
import type * as NodeSmuxApi from "../NodeSmux.js"
import * as NodeSmux from "./nodeSmux.js"
import * as Pull from "./pull.js"
import { formatDestination, isHostName, NO_ACCEPTABLE_METHODS, NO_AUTHENTICATION, type Parsed, parseGreeting, parseRequest, Reply, replyBytes, type Request } from "./socksWire.js"

// ---------------------------------------------------------------------------------------------------------------
// the error
// ---------------------------------------------------------------------------------------------------------------

/** @internal */
export const ErrorTypeId: NodeSocks.ErrorTypeId = Symbol.for(
  "ssm-session-manager/NodeSocks/SocksError"
) as NodeSocks.ErrorTypeId

/** @internal */
export class SocksError extends Data.TaggedError("SocksError")<{
  readonly reason: NodeSocks.SocksError.Reason
  readonly detail: string
  readonly cause?: unknown
}> {
  readonly [ErrorTypeId]: NodeSocks.ErrorTypeId = ErrorTypeId
  override get message(): string {
    return `${this.reason}: ${this.detail}`
  }
}

/** @internal */
export const isSocksError = (u: unknown): u is SocksError => Predicate.hasProperty(u, ErrorTypeId)


/** @internal */
export { Reply }

// ---------------------------------------------------------------------------------------------------------------
// reply codes for failures
// ---------------------------------------------------------------------------------------------------------------

const describe = (error: unknown): string =>
  Predicate.hasProperty(error, "message") && typeof error.message === "string" ? error.message : String(error)

/**
 * The reply for a destination whose session could not start: the service refusing the caller (AccessDenied) is
 * "not allowed", a target that is offline makes every destination unreachable ("network unreachable"), a host
 * the document rejects is "host unreachable", anything else a general failure.
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

// ---------------------------------------------------------------------------------------------------------------
// the proxy
// ---------------------------------------------------------------------------------------------------------------

/** One destination's sessions. */
interface Destination {
  readonly id: number
  readonly key: string
  readonly host: string
  readonly port: number
  readonly name: string
  readonly ready: Deferred.Deferred<PortForwardingPool.PortForwardingPool, SocksError>
  /** set once the pool started */
  pool: PortForwardingPool.PortForwardingPool | undefined
  /** set by the start; closing it ends the destination's sessions */
  scope: Scope.CloseableScope | undefined
  /** connections that hold it now (those waiting for the start included) */
  active: number
  /** a connection to it has received bytes from it: later CONNECTs are answered once their stream is open */
  proven: boolean
  /** taken out of the table (idle, failed, evicted, refused, or the proxy closing) */
  detached: boolean
  /** a CONNECT to it was answered with success */
  succeeded: boolean
  /** a CONNECT to it was refused by the agent */
  refused: boolean
}

/** A rejected handshake or CONNECT: the reply to send (if any) before closing, and why. */
class Rejection extends Data.TaggedError("Rejection")<{
  readonly reply: Uint8Array | undefined
  readonly error: SocksError
  readonly destination?: string | undefined
}> {}

/** How long a rejected client may still send before its connection is closed (so that the close is not an RST). */
const REJECT_LINGER = Duration.seconds(1)
const MIN_REFUSAL_WAIT = 100
const MAX_REFUSAL_WAIT = 1000

const positiveDuration = (input: Duration.DurationInput | undefined, fallback: Duration.Duration) => {
  if (input === undefined) return Option.some(fallback)
  const duration = Duration.decodeUnknown(input)
  return Option.filter(duration, (d) => Duration.isFinite(d) && Duration.toMillis(d) >= 0)
}

/** @internal */
export const serve = (
  options: NodeSocks.ServeOptions
): Effect.Effect<
  NodeSocks.SocksServer,
  SocksError,
  Scope.Scope | SsmApi.SsmApi | Socket.WebSocketConstructor
> =>
  Effect.gen(function*() {
    const invalid = (detail: string) => new SocksError({ reason: "InvalidOptions", detail })
    const listenPort = options.port ?? 1080
    if (!Number.isInteger(listenPort) || listenPort < 0 || listenPort > 65535) {
      return yield* invalid(`the port must be an integer from 0 to 65535, not ${listenPort}`)
    }
    const maxDestinations = options.maxDestinations ?? 64
    if (!Number.isInteger(maxDestinations) || maxDestinations < 1) {
      return yield* invalid(`maxDestinations must be an integer of 1 or more, not ${maxDestinations}`)
    }
    const sessions = options.sessions ?? 1
    if (!Number.isInteger(sessions) || sessions < 1) {
      return yield* invalid(`sessions must be an integer of 1 or more, not ${sessions}`)
    }
    const idleTimeout = positiveDuration(options.idleTimeout, Duration.minutes(5))
    const handshakeTimeout = positiveDuration(options.handshakeTimeout, Duration.seconds(10))
    const refusalWait = options.refusalWait === undefined
      ? Option.none()
      : Option.some(positiveDuration(options.refusalWait, Duration.zero))
    if (Option.isNone(idleTimeout)) return yield* invalid(`idleTimeout must be a finite duration, not ${options.idleTimeout}`)
    if (Option.isNone(handshakeTimeout)) {
      return yield* invalid(`handshakeTimeout must be a finite duration, not ${options.handshakeTimeout}`)
    }
    if (Option.isSome(refusalWait) && Option.isNone(refusalWait.value)) {
      return yield* invalid(`refusalWait must be a finite duration, not ${options.refusalWait}`)
    }
    const idle = idleTimeout.value
    const handshakeDeadline = handshakeTimeout.value
    const fixedRefusalWait = Option.flatten(refusalWait)

    const context = yield* Effect.context<SsmApi.SsmApi | Socket.WebSocketConstructor>()
    const serverScope = yield* Effect.scope
    const events = yield* Effect.acquireRelease(PubSub.sliding<NodeSocks.SocksEvent>(1024), PubSub.shutdown)
    const stopped = yield* Deferred.make<void, SocksError>()
    yield* Effect.addFinalizer(() => Deferred.succeed(stopped, undefined))
    // starts, watchers and closes of destinations: they outlive the connection that asked for them
    const background = yield* FiberSet.make()
    const idleTimers = yield* FiberMap.make<number>()
    // every destination's scope is a child of this one, closed in parallel when the proxy closes (after the
    // connections, which are closed first: their listener and fibers were acquired later)
    const destinationsScope = yield* Scope.fork(serverScope, ExecutionStrategy.parallel)
    const table = new Map<string, Destination>()
    let nextId = 0
    let closing = false
    yield* Effect.addFinalizer(() => Effect.sync(() => closing = true))

    const stats = {
      connections: 0,
      activeConnections: 0,
      succeeded: 0,
      rejected: 0,
      sessionsStarted: 0,
      sessionsClosed: 0,
      startFailures: 0,
      bytesSent: 0,
      bytesReceived: 0
    }
    const publish = (event: NodeSocks.SocksEvent) => PubSub.publish(events, event)

    /** Takes a destination out of the table (once): later CONNECTs to it start afresh. */
    const detach = (destination: Destination) => {
      if (destination.detached) return false
      destination.detached = true
      if (table.get(destination.key) === destination) table.delete(destination.key)
      return true
    }

    const closeDestination = (destination: Destination) =>
      destination.scope === undefined ? Effect.void : Scope.close(destination.scope, Exit.void)

    /** Starts a destination's pool, tells the CONNECTs waiting for it, and watches it until it ends. */
    const start = (destination: Destination) =>
      Effect.gen(function*() {
        const scope = yield* Scope.fork(destinationsScope, ExecutionStrategy.sequential)
        destination.scope = scope
        const started = yield* Effect.exit(
          PortForwardingPool.start({
            target: options.target,
            host: destination.host,
            portNumber: destination.port,
            // one document for every destination, 127.0.0.1 and localhost included
            documentName: "AWS-StartPortForwardingSessionToRemoteHost",
            sessions,
            reason: options.reason,
            session: options.session
          }).pipe(Scope.extend(scope), Effect.provide(context))
        )
        if (Exit.isFailure(started)) {
          const cause = Cause.squash(started.cause)
          const error = new SocksError({
            reason: "Start",
            detail: `no session to ${destination.name} could be started: ${describe(cause)}`,
            cause
          })
          detach(destination)
          stats.startFailures++
          yield* Scope.close(scope, Exit.void)
          yield* Deferred.fail(destination.ready, error)
          yield* Effect.logWarning(error.message)
          yield* publish({ _tag: "StartFailed", destination: destination.name, error })
          return
        }
        const pool = started.value
        destination.pool = pool
        const opened = yield* pool.sessions
        stats.sessionsStarted += opened.length
        // later sessions (replacements, growth) are told by the pool's events
        const poolEvents = yield* Scope.extend(pool.subscribe, scope)
        yield* Effect.forEach(opened, (session) =>
          Effect.zipRight(
            Effect.logDebug(`session ${session.sessionId} opened for ${destination.name}`),
            publish({ _tag: "SessionOpened", destination: destination.name, sessionId: session.sessionId })
          ), { discard: true })
        yield* Deferred.succeed(destination.ready, pool)
        yield* Effect.forkIn(
          Stream.runForEach(poolEvents, (event) => {
            switch (event._tag) {
              case "SessionStarted":
                stats.sessionsStarted++
                return publish({ _tag: "SessionOpened", destination: destination.name, sessionId: event.sessionId })
              case "SessionEnded": {
                stats.sessionsClosed++
                const error = event.error === undefined ? undefined : new SocksError({
                  reason: "Broken",
                  detail: `session ${event.sessionId} to ${destination.name} failed: ${event.error.message}`,
                  cause: event.error
                })
                return publish({
                  _tag: "SessionClosed",
                  destination: destination.name,
                  sessionId: event.sessionId,
                  reason: error === undefined ? "Ended" : "Broken",
                  ...(error === undefined ? {} : { error })
                })
              }
              case "Connection":
                return Effect.void
              case "StartFailed":
                stats.startFailures++
                return publish({
                  _tag: "StartFailed",
                  destination: destination.name,
                  error: new SocksError({
                    reason: "Start",
                    detail: `a session to ${destination.name} could not start: ${event.error.message}`,
                    cause: event.error
                  })
                })
            }
          }),
          scope
        )
        // every session ended and none could be started again: the destination is dropped (its connections were
        // reset by the pool); the next CONNECT starts afresh
        yield* Effect.forkIn(
          Effect.catchAll(pool.closed, (cause) =>
            Effect.suspend(() => {
              if (!detach(destination)) return Effect.void
              const error = new SocksError({
                reason: "Broken",
                detail: `the sessions to ${destination.name} ended: ${cause.message}`,
                cause
              })
              return Effect.all([
                Effect.logWarning(error.message),
                publish({ _tag: "DestinationFailed", destination: destination.name, error }),
                FiberSet.run(background, closeDestination(destination))
              ], { discard: true })
            })),
          scope
        )
        if (destination.active === 0) yield* scheduleIdle(destination)
      })

    /** After `idleTimeout` with no connection, the destination's sessions are closed. */
    const scheduleIdle = (destination: Destination): Effect.Effect<void> =>
      Effect.asVoid(FiberMap.run(
        idleTimers,
        destination.id,
        // scheduled from a release (uninterruptible): the timer itself must stay interruptible
        Effect.interruptible(Effect.zipRight(
          Effect.sleep(idle),
          Effect.suspend(() => {
            if (destination.active > 0 || destination.pool === undefined || !detach(destination)) return Effect.void
            return Effect.asVoid(retire(destination, "Idle", `idle for ${Duration.format(idle)}`))
          })
        ))
      ))

    /**
     * Closes the sessions of a destination already detached (so that no timer or CONNECT takes it again): tells
     * each session's close, then closes its scope from another fiber (the caller may be its idle timer, which the
     * close must not interrupt); the fiber that closes it.
     */
    const retire = (
      destination: Destination,
      reason: "Idle" | "Evicted" | "Refused",
      why: string
    ): Effect.Effect<Fiber.RuntimeFiber<void>> =>
      Effect.gen(function*() {
        const pool = destination.pool
        if (pool !== undefined) {
          const open = yield* pool.sessions
          stats.sessionsClosed += open.length
          yield* Effect.forEach(open, (session) =>
            Effect.zipRight(
              Effect.logDebug(`session ${session.sessionId} to ${destination.name} closed: ${why}`),
              publish({ _tag: "SessionClosed", destination: destination.name, sessionId: session.sessionId, reason })
            ), { discard: true })
        }
        return yield* FiberSet.run(background, closeDestination(destination))
      })

    /** Moves a destination to the most recently used end of the table. */
    const touch = (destination: Destination) => {
      if (destination.detached || table.get(destination.key) !== destination) return
      table.delete(destination.key)
      table.set(destination.key, destination)
    }

    /**
     * Makes room for one more destination, synchronously (so that concurrent CONNECTs cannot both take the same
     * room): the least recently used one with no connection (and started) is detached, and the effect returned
     * closes it; nothing when the table has room. `undefined` when every kept destination has connections.
     */
    const makeRoom = (): Effect.Effect<void> | undefined => {
      if (table.size < maxDestinations) return Effect.void
      let victim: Destination | undefined
      // a Map iterates in insertion order: `touch` keeps the least recently used first
      for (const candidate of table.values()) {
        if (candidate.active === 0 && candidate.pool !== undefined) {
          victim = candidate
          break
        }
      }
      if (victim === undefined) return undefined
      const evicted = victim
      // detached first (synchronously with the choice): its idle timer, if it fires now, leaves it alone
      detach(evicted)
      // the new destination starts once the evicted one's sessions are closed: never more than the bound at once
      return FiberMap.remove(idleTimers, evicted.id).pipe(
        Effect.zipRight(retire(evicted, "Evicted", `the least recently used of ${maxDestinations} destinations (maxDestinations)`)),
        Effect.flatMap(Fiber.await),
        Effect.asVoid
      )
    }

    /**
     * The destination's pool for the caller's scope, counted as in use until the scope closes; the first CONNECT
     * starts it, concurrent ones wait for the same start.
     */
    const lease = (host: string, port: number) =>
      Effect.acquireRelease(
        Effect.suspend(() => {
          const key = formatDestination(host.toLowerCase(), port)
          let destination = table.get(key)
          const created = destination === undefined
          let room: Effect.Effect<void> = Effect.void
          if (destination === undefined) {
            const made = makeRoom()
            if (made === undefined) {
              return Effect.fail(
                new SocksError({
                  reason: "Limit",
                  detail: `the proxy keeps ${maxDestinations} destinations (maxDestinations) and each has connections now`
                })
              )
            }
            room = made
          } else {
            touch(destination)
          }
          if (destination === undefined) {
            destination = {
              id: nextId++,
              key,
              host,
              port,
              name: formatDestination(host, port),
              ready: Deferred.unsafeMake(FiberId.none),
              pool: undefined,
              scope: undefined,
              active: 0,
              proven: false,
              detached: false,
              succeeded: false,
              refused: false
            }
            table.set(key, destination)
          }
          destination.active++
          const found = destination
          return Effect.as(
            Effect.zipRight(
              room,
              // forked from an uninterruptible region (the acquire), so made interruptible again: the proxy's close
              // must be able to stop a start, and the fibers it forks
              created ? FiberSet.run(background, Effect.interruptible(start(found))) : FiberMap.remove(idleTimers, found.id)
            ),
            found
          )
        }),
        (destination) =>
          Effect.suspend(() => {
            destination.active--
            touch(destination)
            if (destination.active > 0 || destination.detached || destination.pool === undefined || closing) {
              return Effect.void
            }
            // the agent refused every connection to it: not kept (a client trying closed ports would otherwise
            // hold a session per port until the idle timeout); the next CONNECT starts afresh
            if (destination.refused && !destination.succeeded) {
              detach(destination)
              return Effect.zipRight(
                FiberMap.remove(idleTimers, destination.id),
                Effect.asVoid(retire(destination, "Refused", "the agent refused every connection to it"))
              )
            }
            return scheduleIdle(destination)
          })
      ).pipe(Effect.flatMap((destination) =>
        Effect.map(Deferred.await(destination.ready), (pool) => ({ destination, pool }))
      ))

    /** How long a CONNECT to a destination not yet proven waits for the agent to report a failed dial. */
    const refusalWaitFor = (pool: PortForwardingPool.PortForwardingPool) =>
      Option.match(fixedRefusalWait, {
        onSome: Effect.succeed,
        onNone: () =>
          Effect.gen(function*() {
            // the agent's ConnectToPortError (and the stream's FIN) come back one round trip after the SYN
            let rtt = 0
            for (const member of yield* pool.members) rtt = Math.max(rtt, (yield* member.session.stats).rtt)
            return Duration.millis(Math.min(MAX_REFUSAL_WAIT, Math.max(MIN_REFUSAL_WAIT, 2 * rtt)))
          })
      })

    const handle = (socket: Net.Socket) =>
      Effect.gen(function*() {
        stats.connections++
        stats.activeConnections++
        yield* Effect.addFinalizer(() => Effect.sync(() => stats.activeConnections--))
        const transport = yield* NodeSmux.fromNetSocket(socket)
        const writeRaw = (bytes: Uint8Array) =>
          Effect.async<void, SocksError>((resume) => {
            socket.write(bytes, (error) =>
              resume(
                error
                  ? Effect.fail(new SocksError({ reason: "Handshake", detail: "the client went away", cause: error }))
                  : Effect.void
              ))
          })

        const outcome = yield* Effect.either(
          Effect.gen(function*() {
            // the handshake: bounded in time and in bytes (a greeting is at most 257 bytes, a request 262; what
            // the client sends beyond a complete request is its first data, kept for the destination)
            const request = yield* readHandshake(transport, writeRaw).pipe(
              Effect.timeoutFail({
                duration: handshakeDeadline,
                onTimeout: () =>
                  new Rejection({
                    reply: undefined,
                    error: new SocksError({
                      reason: "Handshake",
                      detail: `no complete request within ${Duration.format(handshakeDeadline)}`
                    })
                  })
              })
            )
            const name = formatDestination(request.host, request.port)
            const reject = (code: number, reason: NodeSocks.SocksError.Reason, detail: string, cause?: unknown) =>
              new Rejection({
                reply: replyBytes(code),
                destination: name,
                error: new SocksError(cause === undefined ? { reason, detail } : { reason, detail, cause })
              })
            if (request.command !== 0x01) {
              const what = request.command === 0x02 ? "BIND" : request.command === 0x03 ? "UDP ASSOCIATE" : `command ${request.command}`
              return yield* reject(Reply.CommandNotSupported, "Handshake", `${what} is not supported (CONNECT is)`)
            }
            if (!Net.isIP(request.host) && !isHostName(request.host)) {
              return yield* reject(Reply.HostUnreachable, "Handshake", `${JSON.stringify(request.host)} is not a host name`)
            }
            if (request.port === 0) return yield* reject(Reply.HostUnreachable, "Handshake", "port 0")
            const { destination, pool } = yield* Effect.mapError(
              lease(request.host, request.port),
              (error) => reject(replyForStartFailure(error), error.reason, error.detail, error.cause)
            )
            return yield* connect(request, destination, pool, transport, socket, reject)
          })
        )
        if (outcome._tag === "Right") return
        const rejection = outcome.left
        stats.rejected++
        yield* publish({
          _tag: "Rejected",
          destination: rejection.destination,
          reply: rejection.reply === undefined || rejection.reply.length < 2 ? undefined : rejection.reply[1],
          error: rejection.error
        })
        yield* Effect.logDebug(`SOCKS connection rejected: ${rejection.error.message}`)
        if (rejection.reply !== undefined) yield* Effect.ignore(writeRaw(rejection.reply))
        // a half-close, then what the client still sends is read and dropped for a while: closing with unread
        // bytes would be an RST, which can make the client lose the reply
        socket.end()
        yield* Pull.drain(transport.pull, () => Effect.void).pipe(Effect.ignore, Effect.timeout(REJECT_LINGER), Effect.ignore)
      }).pipe(
        Effect.scoped,
        Effect.catchAllCause((cause) => Effect.logDebug("a SOCKS connection ended with a failure", cause)),
        Effect.annotateLogs("client", `${socket.remoteAddress ?? ""}:${socket.remotePort ?? ""}`)
      )

    /**
     * A CONNECT through the destination's pool. The reply waits for the tunnel connection to be open, and for
     * the destination not to be refused: success comes with the destination's first bytes, or after the refusal
     * wait; a stream the agent ends before any byte (its ConnectToPortError) is "connection refused".
     */
    const connect = (
      request: Request & { readonly rest: Uint8Array },
      destination: Destination,
      pool: PortForwardingPool.PortForwardingPool,
      transport: NodeSmuxApi.NetTransport,
      socket: Net.Socket,
      reject: (code: number, reason: NodeSocks.SocksError.Reason, detail: string, cause?: unknown) => Rejection
    ) =>
      Effect.gen(function*() {
        let replied = false
        let clientEnded = false
        const opened = yield* Deferred.make<void>()
        const answered = yield* Deferred.make<void>()
        const success = replyBytes(Reply.Succeeded)
        let first: Uint8Array | undefined = request.rest.length > 0 ? request.rest : undefined
        const pull: Pull.Pull<Uint8Array, NodeSmuxApi.NetTransportError> = Effect.suspend(() => {
          // the tunnel reads its local side only once its connection is open
          Deferred.unsafeDone(opened, Exit.void)
          if (first !== undefined) {
            const bytes = first
            first = undefined
            stats.bytesSent += bytes.length
            return Effect.succeed(Chunk.of(bytes))
          }
          return transport.pull.pipe(
            Effect.tap((chunk) =>
              Effect.sync(() => {
                for (const bytes of chunk) stats.bytesSent += bytes.length
              })
            ),
            Effect.tapError(() => Effect.sync(() => clientEnded = true))
          )
        })
        /** The success reply, once, synchronously with its decision (so that it always precedes any data). */
        const replySuccess = (then: Uint8Array | undefined) =>
          Effect.async<void, NodeSmuxApi.NetTransportError>((resume) => {
            let out = then
            if (!replied) {
              replied = true
              stats.succeeded++
              destination.succeeded = true
              Deferred.unsafeDone(answered, Exit.void)
              out = then === undefined ? success : concat([success, then])
            }
            if (out === undefined) return resume(Effect.void)
            socket.write(out, (error) => resume(error ? Effect.fail({ _tag: "NetTransportError", cause: error }) : Effect.void))
          })
        const local: PortForwarding.LocalConnection<NodeSmuxApi.NetTransportError, NodeSmuxApi.NetTransportError> = {
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
        if (!ended && !replied) {
          const wait = destination.proven ? Duration.zero : yield* refusalWaitFor(pool)
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
        if (replied) return
        // the connection ended before any reply
        replied = true
        if (clientEnded) {
          return yield* new Rejection({
            reply: undefined,
            destination: destination.name,
            error: new SocksError({ reason: "Handshake", detail: "the client closed before the reply" })
          })
        }
        if (result._tag === "Left") {
          return yield* reject(Reply.GeneralFailure, "Broken", result.left.message, result.left)
        }
        if (result.right._tag === "Cut") {
          return yield* reject(Reply.GeneralFailure, "Broken", result.right.error.message, result.right.error)
        }
        destination.proven = false
        destination.refused = true
        return yield* reject(
          Reply.ConnectionRefused,
          "Refused",
          `the agent could not connect to ${destination.name} (or it closed at once)`
        )
      })

    // the listener
    const connections = yield* FiberSet.make()
    const runConnection = yield* FiberSet.runtime(connections)()
    const host = options.host ?? "127.0.0.1"
    const server = yield* Effect.acquireRelease(
      Effect.async<Net.Server, SocksError>((resume) => {
        const server = Net.createServer({ noDelay: true }, (socket) => {
          socket.on("error", () => {})
          runConnection(handle(socket))
        })
        const onError = (cause: Error) =>
          resume(Effect.fail(new SocksError({ reason: "Listen", detail: `${host}:${listenPort}: ${cause.message}`, cause })))
        server.once("error", onError)
        server.listen(listenPort, host, () => {
          server.off("error", onError)
          server.on("error", (cause) =>
            Deferred.unsafeDone(
              stopped,
              Exit.fail(new SocksError({ reason: "Listen", detail: cause.message, cause }))
            ))
          resume(Effect.succeed(server))
        })
        return Effect.sync(() => server.close())
      }),
      (server) => Effect.sync(() => server.close())
    )
    const address = server.address() as Net.AddressInfo

    return {
      address: { host: address.address, port: address.port },
      stats: Effect.sync((): NodeSocks.SocksStats => ({ ...stats, destinations: table.size })),
      destinations: Effect.gen(function*() {
        const result: Array<NodeSocks.DestinationInfo> = []
        for (const destination of table.values()) {
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
      events: Stream.fromPubSub(events),
      subscribe: Effect.map(PubSub.subscribe(events), Stream.fromQueue),
      closed: Deferred.await(stopped)
    } satisfies NodeSocks.SocksServer
  })

/** Reads the greeting and the request, answering the greeting; fails with the rejection to send. */
const readHandshake = (
  transport: NodeSmuxApi.NetTransport,
  write: (bytes: Uint8Array) => Effect.Effect<void, SocksError>
): Effect.Effect<Request & { readonly rest: Uint8Array }, Rejection> =>
  Effect.gen(function*() {
    let buffer: Uint8Array = new Uint8Array(0)
    const more = Effect.flatMap(
      Effect.mapError(transport.pull, () =>
        new Rejection({
          reply: undefined,
          error: new SocksError({ reason: "Handshake", detail: "the client closed during the handshake" })
        })),
      (chunk) =>
        Effect.sync(() => {
          buffer = concat([buffer, ...chunk])
        })
    )
    const parse = <A>(parser: (buffer: Uint8Array) => Parsed<A>) =>
      Effect.gen(function*() {
        while (true) {
          const parsed = parser(buffer)
          if (parsed._tag === "Done") {
            buffer = buffer.subarray(parsed.consumed)
            return parsed.value
          }
          if (parsed._tag === "Invalid") {
            return yield* new Rejection({
              reply: parsed.reply,
              error: new SocksError({ reason: "Handshake", detail: parsed.detail })
            })
          }
          yield* more
        }
      })
    const greeting = yield* parse(parseGreeting)
    if (!greeting.noAuthentication) {
      return yield* new Rejection({
        reply: NO_ACCEPTABLE_METHODS,
        error: new SocksError({
          reason: "Handshake",
          detail: "the client offers no acceptable authentication method (only \"no authentication\" is served)"
        })
      })
    }
    yield* Effect.mapError(write(NO_AUTHENTICATION), (error) => new Rejection({ reply: undefined, error }))
    const request = yield* parse(parseRequest)
    return { ...request, rest: buffer }
  })
