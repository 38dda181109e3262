/**
 * The local listener of a tunnel: each accepted TCP or Unix-socket connection is carried through its own tunnel
 * connection, with read backpressure (a connection's socket is paused while the tunnel is not taking its bytes).
 *
 * @internal
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberSet from "effect/FiberSet"
import type * as Scope from "effect/Scope"
import * as Fs from "node:fs"
import * as Net from "node:net"
import type * as NodePortForwarding from "../../NodePortForwarding.js"
import type * as PortForwarding from "../../PortForwarding.js"
import * as NodeNetTransport from "./netTransport.js"
import { PortForwardingError } from "../tunnels/portForwarding.js"

const listenAny = (
  forwarding: NodePortForwarding.Forwarder,
  options: NodePortForwarding.ListenOptions = {}
): Effect.Effect<NodePortForwarding.Listener, PortForwardingError, Scope.Scope> =>
  Effect.gen(function*() {
    const port = "path" in options ? undefined : options.port ?? 0
    if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535)) {
      return yield* new PortForwardingError({
        reason: "InvalidOptions",
        detail: `the local port must be an integer from 0 to 65535, not ${port}`
      })
    }
    if ("path" in options) yield* removeStaleSocket(options.path)
    const connections = yield* FiberSet.make()
    const run = yield* FiberSet.runtime(connections)()
    const handle = (socket: Net.Socket) =>
      Effect.scoped(Effect.gen(function*() {
        const local = yield* NodeNetTransport.fromNetSocket(socket)
        yield* forwarding.forward(local)
      })).pipe(
        Effect.catchAll((error) => Effect.logWarning("a local connection could not be forwarded", error)),
        Effect.annotateLogs("remote", `${socket.remoteAddress ?? "unix"}:${socket.remotePort ?? ""}`)
      )

    const server = yield* Effect.acquireRelease(
      Effect.async<Net.Server, PortForwardingError>((resume) => {
        const server = Net.createServer({ noDelay: true }, (socket) => {
          run(handle(socket))
        })
        const onError = (cause: Error) =>
          resume(Effect.fail(new PortForwardingError({ reason: "Listen", detail: cause.message, cause })))
        server.once("error", onError)
        const listening = () => {
          server.off("error", onError)
          // owner only, whatever the umask: anyone who can connect can use the tunnel
          if ("path" in options) Fs.chmodSync(options.path, 0o600)
          // later errors (EMFILE on accept) are the connection's business, not the listener's end
          server.on("error", () => {})
          resume(Effect.succeed(server))
        }
        if ("path" in options) server.listen(options.path, listening)
        else server.listen(port, options.host ?? "127.0.0.1", listening)
        return Effect.sync(() => {
          server.close()
        })
      }),
      // stop accepting; not waiting for close's callback, which comes only once every connection has ended (the
      // connections' fibers are interrupted by their own finalizer, after this one)
      (server) => Effect.sync(() => server.close())
    )
    // a tunnel that ended, or broke, takes no more connections (those open were ended or reset by `forward`)
    const stopped = yield* Deferred.make<void>()
    yield* Effect.forkScoped(Effect.ignore(forwarding.closed).pipe(
      Effect.andThen(Effect.sync(() => server.close())),
      Effect.andThen(Deferred.succeed(stopped, undefined))
    ))
    const address = server.address()
    const closed = Deferred.await(stopped)
    return typeof address === "string" || address === null
      ? { address: { _tag: "Unix", path: "path" in options ? options.path : String(address) }, port: undefined, closed }
      : { address: { _tag: "Tcp", host: address.address, port: address.port }, port: address.port, closed }
  })

/**
 * `listenAny`, typed per options: TCP options give a `Listener<TcpAddress>` (its port a number), a path a
 * `Listener<UnixAddress>`, as the address `listenAny` reads from the server shows
 *
 * @internal
 */
export const listen = listenAny as typeof NodePortForwarding.listen

/**
 * A socket file left by a process that was killed: removed when nothing answers on it, so the next start can
 * listen; a socket something still listens on is left alone (listening then fails with "address in use").
 */
const removeStaleSocket = (path: string) =>
  Effect.async<void>((resume) => {
    let stat: Fs.Stats
    try {
      stat = Fs.lstatSync(path)
    } catch {
      return resume(Effect.void)
    }
    if (!stat.isSocket()) return resume(Effect.void)
    const probe = Net.connect(path)
    probe.once("connect", () => {
      probe.destroy()
      resume(Effect.void)
    })
    probe.once("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "ECONNREFUSED") Fs.rmSync(path, { force: true })
      resume(Effect.void)
    })
    return Effect.sync(() => probe.destroy())
  })

/** @internal */
export const listenAll = <
  M extends { readonly listen: NodePortForwarding.ListenOptions },
  F extends NodePortForwarding.Forwarder,
  E,
  R,
  E2 = never,
  R2 = never
>(
  mappings: ReadonlyArray<M>,
  open: (mapping: M) => Effect.Effect<F, E, Scope.Scope | R>,
  ready: (
    forwarder: F,
    address: NodePortForwarding.ListenerAddress,
    mapping: M
  ) => Effect.Effect<void, E2, Scope.Scope | R2> = () => Effect.void
): Effect.Effect<
  ReadonlyArray<NodePortForwarding.Listening<M, F, E | E2>>,
  E | E2 | PortForwarding.PortForwardingError,
  Scope.Scope | R | R2
> =>
  Effect.gen(function*() {
    type Failure = E | E2 | PortForwarding.PortForwardingError
    const run = (mapping: M, up: Deferred.Deferred<NodePortForwarding.Listening<M, F, E | E2>, Failure>, ended: Deferred.Deferred<void, Failure>) =>
      Effect.scoped(Effect.gen(function*() {
        const forwarder = yield* open(mapping)
        const listener = yield* listenAny(forwarder, mapping.listen)
        yield* ready(forwarder, listener.address, mapping)
        yield* Deferred.succeed(up, {
          mapping,
          address: listener.address,
          port: listener.port,
          forwarder,
          closed: Deferred.await(ended)
        })
        yield* forwarder.closed
      })).pipe(
        // the scope is closed (listener, sessions) before the tunnel's end is told
        Effect.onExit((exit) => Effect.zipRight(Deferred.done(up, Exit.asVoid(exit) as Exit.Exit<never, Failure>), Deferred.done(ended, exit)))
      )
    const started = yield* Effect.forEach(mappings, (mapping) =>
      Effect.gen(function*() {
        const up = yield* Deferred.make<NodePortForwarding.Listening<M, F, E | E2>, Failure>()
        const ended = yield* Deferred.make<void, Failure>()
        const fiber = yield* Effect.forkScoped(run(mapping, up, ended))
        return { up, fiber }
      }))
    return yield* Effect.all(started.map(({ up }) => Deferred.await(up)), { concurrency: "unbounded" }).pipe(
      // all or nothing: the tunnels that did start are closed with the one that could not
      Effect.onError(() => Effect.forEach(started, ({ fiber }) => Fiber.interrupt(fiber), { discard: true, concurrency: "unbounded" }))
    )
  })
