/**
 * The SOCKS proxy's state as one record, and the decisions over it that need no fiber: the options checked into a
 * configuration, the table of destinations kept in least-recently-used order, which destination makes room for a
 * new one, and what happens to a destination when its last connection ends.
 *
 * @internal
 */
import type * as Socket from "@effect/platform/Socket"
import type * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as FiberId from "effect/FiberId"
import type * as FiberMap from "effect/FiberMap"
import type * as FiberSet from "effect/FiberSet"
import * as Option from "effect/Option"
import type * as PubSub from "effect/PubSub"
import type * as Scope from "effect/Scope"
import type * as NodeSocks from "../../NodeSocks.js"
import type * as PortForwardingPool from "../../PortForwardingPool.js"
import type * as SsmApi from "../../SsmApi.js"
import { formatDestination } from "./socksWire.js"
import { SocksError } from "./socksError.js"

// ---------------------------------------------------------------------------------------------------------------
// the configuration
// ---------------------------------------------------------------------------------------------------------------

/** The proxy's options, checked, with their defaults. @internal */
export interface SocksConfig {
  readonly target: string
  /** the address to listen on */
  readonly host: string
  /** the port to listen on (0: an ephemeral one) */
  readonly port: number
  readonly maxDestinations: number
  /** sessions per destination */
  readonly sessions: number
  readonly idleTimeout: Duration.Duration
  readonly handshakeTimeout: Duration.Duration
  /** fixed by the user, or none: twice the sessions' round-trip time */
  readonly refusalWait: Option.Option<Duration.Duration>
  readonly reason: string | undefined
  readonly session: NodeSocks.ServeOptions["session"]
}

const positiveDuration = (input: Duration.DurationInput | undefined, fallback: Duration.Duration) => {
  if (input === undefined) return Option.some(fallback)
  const duration = Duration.decodeUnknown(input)
  return Option.filter(duration, (d) => Duration.isFinite(d) && Duration.toMillis(d) >= 0)
}

/** The options checked in order, the first one out of range failing with `InvalidOptions`. @internal */
export const parseServeOptions = (options: NodeSocks.ServeOptions): Either.Either<SocksConfig, SocksError> => {
  const invalid = (detail: string) => Either.left(new SocksError({ reason: "InvalidOptions", detail }))
  const port = options.port ?? 1080
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    return invalid(`the port must be an integer from 0 to 65535, not ${port}`)
  }
  const maxDestinations = options.maxDestinations ?? 64
  if (!Number.isInteger(maxDestinations) || maxDestinations < 1) {
    return invalid(`maxDestinations must be an integer of 1 or more, not ${maxDestinations}`)
  }
  const sessions = options.sessions ?? 1
  if (!Number.isInteger(sessions) || sessions < 1) {
    return invalid(`sessions must be an integer of 1 or more, not ${sessions}`)
  }
  const idleTimeout = positiveDuration(options.idleTimeout, Duration.minutes(5))
  if (Option.isNone(idleTimeout)) return invalid(`idleTimeout must be a finite duration, not ${options.idleTimeout}`)
  const handshakeTimeout = positiveDuration(options.handshakeTimeout, Duration.seconds(10))
  if (Option.isNone(handshakeTimeout)) {
    return invalid(`handshakeTimeout must be a finite duration, not ${options.handshakeTimeout}`)
  }
  let refusalWait = Option.none<Duration.Duration>()
  if (options.refusalWait !== undefined) {
    refusalWait = positiveDuration(options.refusalWait, Duration.zero)
    if (Option.isNone(refusalWait)) return invalid(`refusalWait must be a finite duration, not ${options.refusalWait}`)
  }
  return Either.right({
    target: options.target,
    host: options.host ?? "127.0.0.1",
    port,
    maxDestinations,
    sessions,
    idleTimeout: idleTimeout.value,
    handshakeTimeout: handshakeTimeout.value,
    refusalWait,
    reason: options.reason,
    session: options.session
  })
}

// ---------------------------------------------------------------------------------------------------------------
// the state
// ---------------------------------------------------------------------------------------------------------------

/** One destination's sessions. @internal */
export interface Destination {
  readonly id: number
  /** the table's key: the host in lower case */
  readonly key: string
  readonly host: string
  readonly port: number
  /** `host:port` as the client asked for it */
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

/** The counters of `SocksStats`, but `destinations` (the table's size). @internal */
export type SocksCounters = { -readonly [K in Exclude<keyof NodeSocks.SocksStats, "destinations">]: number }

/** Everything the proxy keeps while it serves. @internal */
export interface SocksServerState {
  readonly config: SocksConfig
  /** what every destination's pool is started with */
  readonly context: Context.Context<SsmApi.SsmApi | Socket.WebSocketConstructor>
  readonly events: PubSub.PubSub<NodeSocks.SocksEvent>
  /** starts, watchers and closes of destinations: they outlive the connection that asked for them */
  readonly background: FiberSet.FiberSet
  /** each destination's idle timer, by its id */
  readonly idleTimers: FiberMap.FiberMap<number>
  /** the parent of every destination's scope, closed (in parallel) when the proxy closes */
  readonly destinationsScope: Scope.Scope
  /** by key, least recently used first (a Map iterates in insertion order; `touch` moves a key to the end) */
  readonly table: Map<string, Destination>
  readonly stats: SocksCounters
  nextId: number
  /** the proxy's scope is closing: released destinations are left to it */
  closing: boolean
}

/** @internal */
export const makeCounters = (): SocksCounters => ({
  connections: 0,
  activeConnections: 0,
  succeeded: 0,
  rejected: 0,
  sessionsStarted: 0,
  sessionsClosed: 0,
  startFailures: 0,
  bytesSent: 0,
  bytesReceived: 0
})

/** @internal */
export const statsOf = (state: SocksServerState): NodeSocks.SocksStats => ({
  ...state.stats,
  destinations: state.table.size
})

// ---------------------------------------------------------------------------------------------------------------
// the table
// ---------------------------------------------------------------------------------------------------------------

/** Takes a destination out of the table (once): later CONNECTs to it start afresh. False if it already was. @internal */
export const detach = (state: SocksServerState, destination: Destination): boolean => {
  if (destination.detached) return false
  destination.detached = true
  if (state.table.get(destination.key) === destination) state.table.delete(destination.key)
  return true
}

/** Moves a destination to the most recently used end of the table. @internal */
export const touch = (state: SocksServerState, destination: Destination): void => {
  if (destination.detached || state.table.get(destination.key) !== destination) return
  state.table.delete(destination.key)
  state.table.set(destination.key, destination)
}

/** The least recently used destination with no connection and a started pool: the one a new destination evicts. @internal */
export const leastRecentlyUnused = (state: SocksServerState): Destination | undefined => {
  for (const candidate of state.table.values()) {
    if (candidate.active === 0 && candidate.pool !== undefined) return candidate
  }
  return undefined
}

/**
 * What a CONNECT to host:port takes, decided synchronously (so that concurrent CONNECTs cannot both take the same
 * room), the destination counted as held:
 * - `Found`: a destination kept for it;
 * - `Created`: a new one, put in the table; `evicted` is the destination detached to make room for it, if any;
 * - `Limit`: the table is full and every destination in it has connections (or is starting).
 *
 * @internal
 */
export type Claim =
  | { readonly _tag: "Found"; readonly destination: Destination }
  | { readonly _tag: "Created"; readonly destination: Destination; readonly evicted: Destination | undefined }
  | { readonly _tag: "Limit" }

/** @internal */
export const claim = (state: SocksServerState, host: string, port: number): Claim => {
  const key = formatDestination(host.toLowerCase(), port)
  const found = state.table.get(key)
  if (found !== undefined) {
    touch(state, found)
    found.active++
    return { _tag: "Found", destination: found }
  }
  let evicted: Destination | undefined
  if (state.table.size >= state.config.maxDestinations) {
    evicted = leastRecentlyUnused(state)
    if (evicted === undefined) return { _tag: "Limit" }
    // detached with the choice: its idle timer, if it fires now, leaves it alone
    detach(state, evicted)
  }
  const destination: Destination = {
    id: state.nextId++,
    key,
    host,
    port,
    name: formatDestination(host, port),
    ready: Deferred.unsafeMake(FiberId.none),
    pool: undefined,
    scope: undefined,
    active: 1,
    proven: false,
    detached: false,
    succeeded: false,
    refused: false
  }
  state.table.set(key, destination)
  return { _tag: "Created", destination, evicted }
}

/**
 * What becomes of a destination when a connection lets it go:
 * - `Held`: other connections hold it, or it is not the table's to decide (detached, still starting, the proxy
 *   closing);
 * - `Refused`: the agent refused every connection to it, so it is not kept (a client trying closed ports would
 *   otherwise hold a session per port until the idle timeout); it is detached here, and the next CONNECT starts
 *   afresh;
 * - `Idle`: its idle timer starts.
 *
 * @internal
 */
export const release = (state: SocksServerState, destination: Destination): "Held" | "Refused" | "Idle" => {
  destination.active--
  touch(state, destination)
  if (destination.active > 0 || destination.detached || destination.pool === undefined || state.closing) return "Held"
  if (destination.refused && !destination.succeeded) {
    detach(state, destination)
    return "Refused"
  }
  return "Idle"
}
