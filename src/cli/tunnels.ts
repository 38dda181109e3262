/**
 * Several tunnels in one command (`forward -L … -L …`): each mapping a pool of sessions to its destination with its
 * own listener, started together (all or nothing), then supervised apart: a mapping whose sessions cannot be
 * kept is reported and ends on its own while the others carry on. One status line covers them all.
 *
 * @since 0.2.0
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Net from "node:net"
import * as NodePortForwarding from "../NodePortForwarding.js"
import type * as PortForwarding from "../PortForwarding.js"
import * as PortForwardingPool from "../PortForwardingPool.js"
import { CliError } from "./error.js"
import { formatAddress, formatStats, reportConnection, reportConnectionEvent, reportLine, say } from "./status.js"

/**
 * One `-L` mapping: where to listen, and the destination as the instance sees it (`host` undefined for the
 * instance's own port).
 *
 * @since 0.2.0
 * @category models
 */
export interface Mapping {
  readonly listen: NodePortForwarding.ListenOptions
  readonly host: string | undefined
  readonly portNumber: number
}

const isPort = (text: string) => /^\d{1,5}$/.test(text) && Number(text) <= 65535

/** Splits on colons outside brackets (`[::1]:8080:db:5432`), dropping the brackets. */
const splitSpec = (spec: string): Array<string> => {
  const parts: Array<string> = []
  let current = ""
  let bracket = false
  for (const char of spec) {
    if (char === "[" && current === "") bracket = true
    else if (char === "]" && bracket) bracket = false
    else if (char === ":" && !bracket) {
      parts.push(current)
      current = ""
    } else current += char
  }
  parts.push(current)
  return parts
}

/**
 * Parses an ssh-style `-L` spec: `[bind:]localPort:[host:]remotePort`, or `path:[host:]remotePort` for a Unix
 * socket (a first part with a `/`). Three parts read as ssh reads them, `localPort:host:remotePort`, unless the
 * first is not a port (`bind:localPort:remotePort`). A bind of `*` or nothing is every IPv4 address; a host of
 * `localhost` is the instance itself.
 *
 * @since 0.2.0
 * @category parsing
 */
export const parseMapping = (spec: string): Either.Either<Mapping, string> => {
  const parts = splitSpec(spec)
  const bad = (why: string) => Either.left(`-L ${spec}: ${why} (expected [bind:]localPort:[host:]remotePort)`)
  if (parts.length < 2 || parts.length > 4) return bad("wrong number of parts")
  const remote = parts[parts.length - 1]!
  if (!isPort(remote) || Number(remote) === 0) return bad(`${remote} is not a remote port`)
  const first = parts[0]!
  const unix = first.includes("/")
  let bind: string | undefined
  let local: string
  let host: string | undefined
  if (parts.length === 2) local = first
  else if (parts.length === 4) [bind, local, host] = parts as [string, string, string]
  else if (unix || isPort(first)) [local, host] = parts as [string, string]
  else [bind, local] = parts as [string, string]
  if (host !== undefined && host === "") return bad("empty host")
  const destination = host === undefined || host === "localhost" ? undefined : host
  if (unix || local.includes("/")) {
    if (bind !== undefined) return bad("a Unix socket takes no bind address")
    return Either.right({ listen: { path: local }, host: destination, portNumber: Number(remote) })
  }
  if (!isPort(local)) return bad(`${local} is not a local port`)
  const address = bind === undefined ? "127.0.0.1" : bind === "" || bind === "*" ? "0.0.0.0" : bind
  if (bind !== undefined && Net.isIP(address) === 0 && address !== "localhost") {
    return bad(`${bind} is not an address to listen on`)
  }
  return Either.right({ listen: { host: address, port: Number(local) }, host: destination, portNumber: Number(remote) })
}

/**
 * A mapping once its listener is up.
 *
 * @since 0.2.0
 * @category models
 */
export interface Running {
  readonly mapping: Mapping
  readonly address: NodePortForwarding.ListenerAddress
  readonly pool: PortForwardingPool.PortForwardingPool
  readonly sessionIds: ReadonlyArray<string>
}

/**
 * How the agent answers a probe connection: `Refused` when it could not connect to the destination
 * (ConnectToPortError), `Accepted` when nothing came back within `settle` (the protocol has no positive answer:
 * a destination that drops packets looks the same as one that accepted).
 *
 * @since 0.2.0
 * @category running
 */
export const probe = (pool: PortForwardingPool.PortForwardingPool, settle: number) =>
  Effect.scoped(Effect.gen(function*() {
    const events = yield* pool.subscribe
    const refused = yield* Deferred.make<void>()
    yield* Effect.forkScoped(Stream.runForEach(events, (event) =>
      event._tag === "Connection" && event.event._tag === "ConnectToPortError"
        ? Deferred.succeed(refused, undefined)
        : Effect.void))
    const socket = yield* pool.connect
    // the agent sends its flag before it closes the stream: a close is followed by the flag at once, if refused
    const closed = Effect.zipRight(
      socket.run(() => {}).pipe(Effect.ignore),
      Effect.timeoutTo(Deferred.await(refused), { duration: "500 millis", onSuccess: () => "Refused" as const, onTimeout: () => "Accepted" as const })
    )
    return yield* Effect.raceFirst(
      Effect.as(Deferred.await(refused), "Refused" as const),
      Effect.raceFirst(closed, Effect.as(Effect.sleep(settle), "Accepted" as const))
    )
  }))

/**
 * Starts every mapping together (all listening, or the command fails and none stays), then `whileRunning`; each
 * mapping runs until its pool fails, reported on stderr, while the others carry on. Fails when a mapping failed,
 * once all have ended; `whileRunning` completing (or the scope closing) ends them all.
 *
 * @since 0.2.0
 * @category running
 */
export const runMappings = <E extends { readonly message: string }, R>(
  mappings: ReadonlyArray<Mapping>,
  open: (mapping: Mapping) => Effect.Effect<PortForwardingPool.PortForwardingPool, E, Scope.Scope | R>,
  options: {
    readonly waitRemote: boolean
    readonly onReady: (running: ReadonlyArray<Running>) => Effect.Effect<void, CliError>
  }
): Effect.Effect<void, E | CliError | PortForwarding.PortForwardingError, Scope.Scope | R> =>
  Effect.gen(function*() {
    const describe = (mapping: Mapping, address: NodePortForwarding.ListenerAddress) =>
      `${formatAddress(address)} -> ${mapping.host ?? "localhost"}:${mapping.portNumber}`
    const listening = yield* NodePortForwarding.listenAll(mappings, open, (pool, address, mapping) =>
      options.waitRemote
        ? Effect.flatMap(probe(pool, 2000), (answer) =>
          answer === "Refused"
            ? Effect.fail(
              new CliError({
                reason: "DestinationRefused",
                detail: `${describe(mapping, address)}: the agent could not connect to the destination`
              })
            )
            : Effect.void)
        : Effect.void)
    const running = yield* Effect.forEach(listening, ({ address, forwarder, mapping }) =>
      Effect.map(forwarder.sessions, (sessions): Running => ({
        mapping,
        address,
        pool: forwarder,
        sessionIds: sessions.map((session) => session.sessionId)
      })))
    yield* options.onReady(running)
    yield* reportAll(running)
    // each mapping on its own from here: a failure is one line on stderr while others run (a lone mapping's
    // failure is the command's, said once by its error line)
    if (listening.length === 1) return yield* listening[0]!.closed
    const outcomes = yield* Effect.forEach(listening, ({ address, closed, mapping }) =>
      Effect.tapError(closed, (error) => say("stderr", `${describe(mapping, address)} ended: ${error.message}`)).pipe(
        Effect.either
      ), { concurrency: "unbounded" })
    const failed = outcomes.filter(Either.isLeft)
    if (failed.length > 0) {
      return yield* new CliError({
        reason: "MappingsFailed",
        detail: `${failed.length} of ${mappings.length} mappings failed (each named above)`
      })
    }
  })

/**
 * The pools' sessions and connections on stderr: a line when a session is replaced or resumed, connection lines as
 * the official client words them, and one status line over every mapping (live on a terminal, every 30 seconds
 * otherwise, and once at the end).
 */
const reportAll = (running: ReadonlyArray<Running>): Effect.Effect<void, never, Scope.Scope> =>
  Effect.gen(function*() {
    for (const { pool } of running) {
      for (const member of yield* pool.members) yield* reportConnection(member.session)
      const events = yield* pool.subscribe
      yield* Effect.forkScoped(Stream.runForEach(events, (event) =>
        Effect.gen(function*() {
          switch (event._tag) {
            case "Connection":
              return yield* reportConnectionEvent(event.sessionId, event.event, "stderr")
            case "SessionEnded":
              return yield* say(
                "stderr",
                `session ${event.sessionId} ${event.error === undefined ? "ended" : `broke: ${event.error.message}`}; starting another`
              )
            case "StartFailed":
              return yield* say("stderr", `a session could not start: ${event.error.message}`)
            case "SessionStarted": {
              const member = (yield* pool.members).find((member) => member.session.sessionId === event.sessionId)
              if (member !== undefined) yield* reportConnection(member.session)
            }
          }
        })))
    }
    const line = Effect.gen(function*() {
      const all = yield* Effect.forEach(running, ({ pool }) => pool.stats)
      const total = all.reduce<PortForwarding.PortForwardingStats>((sum, stats) => ({
        connections: sum.connections + stats.connections,
        activeConnections: sum.activeConnections + stats.activeConnections,
        bytesSent: sum.bytesSent + stats.bytesSent,
        bytesReceived: sum.bytesReceived + stats.bytesReceived,
        connectErrors: sum.connectErrors + stats.connectErrors
      }), { connections: 0, activeConnections: 0, bytesSent: 0, bytesReceived: 0, connectErrors: 0 })
      const resuming = yield* Effect.forEach(running, ({ pool }) =>
        Effect.flatMap(pool.members, (members) =>
          Effect.map(Effect.forEach(members, (member) => member.session.stats), (stats) => stats.some((s) => !s.connected))))
      const each = running.length === 1 ? "" : ` (${running.map((r, i) =>
        `${formatAddress(r.address)}: ${all[i]!.activeConnections}/${all[i]!.connections}${all[i]!.sessions > 1 ? ` over ${all[i]!.sessions} sessions` : ""}`).join(", ")})`
      return `${resuming.some((r) => r) ? "resuming a session; " : ""}${formatStats(total)}${each}`
    })
    yield* reportLine(line)
  })
