/**
 * What a long-running tunnel shows: a live status line on a terminal, a periodic summary otherwise, and a final
 * summary. Written to stderr, so that stdout carries only what the official client prints.
 *
 * @since 0.1.0
 */
import * as Console from "effect/Console"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Net from "node:net"
import type * as NodePortForwarding from "../NodePortForwarding.js"
import type * as PortForwarding from "../PortForwarding.js"
import type * as Session from "../Session.js"

const units = ["B", "KiB", "MiB", "GiB", "TiB"]

/**
 * @since 0.1.0
 * @category formatting
 */
export const formatBytes = (bytes: number): string => {
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`
}

/**
 * @since 0.1.0
 * @category formatting
 */
export const formatStats = (stats: PortForwarding.PortForwardingStats): string =>
  `connections ${stats.activeConnections} open, ${stats.connections} total; ` +
  `sent ${formatBytes(stats.bytesSent)}, received ${formatBytes(stats.bytesReceived)}` +
  (stats.connectErrors > 0 ? `; ${stats.connectErrors} failed to connect` : "")

/**
 * A status line on stderr until the scope closes: live on a terminal (every second), otherwise written every 30
 * seconds when it changed; `final` once more at the end (by default the same line).
 *
 * @since 0.2.0
 * @category reporting
 */
export const reportLine = (
  line: Effect.Effect<string>,
  final: Effect.Effect<string> = line
): Effect.Effect<void, never, Scope.Scope> =>
  Effect.gen(function*() {
    const live = process.stderr.isTTY === true
    let last = yield* final
    const tick = Effect.map(line, (text) => {
      if (live) process.stderr.write(`\r\x1b[K${text}`)
      else if (text !== last) process.stderr.write(`${text}\n`)
      last = text
    })
    yield* Effect.forkScoped(Effect.repeat(tick, Schedule.spaced(live ? "1 second" : "30 seconds")))
    yield* Effect.addFinalizer(() => Effect.map(final, (text) => process.stderr.write(`${live ? "\r\x1b[K" : ""}${text}\n`)))
  })

/**
 * Reports the tunnel's counters until the scope closes, then once more.
 *
 * @since 0.1.0
 * @category reporting
 */
export const report = (forwarding: PortForwarding.PortForwarding): Effect.Effect<void, never, Scope.Scope> =>
  reportLine(
    Effect.map(
      Effect.zip(forwarding.stats, forwarding.session.stats),
      ([stats, session]) => `${session.connected ? "" : "resuming the session; "}${formatStats(stats)}`
    ),
    Effect.map(forwarding.stats, formatStats)
  )

/**
 * Whether a listening address is reachable from this machine alone: 127.0.0.0/8, ::1, or IPv4 loopback mapped into
 * IPv6.
 *
 * @since 0.2.0
 * @category formatting
 */
export const isLoopback = (address: string): boolean => {
  const v4 = address.startsWith("::ffff:") ? address.slice("::ffff:".length) : address
  return (Net.isIPv4(v4) && v4.startsWith("127.")) || address === "::1" || address === "0:0:0:0:0:0:0:1"
}

/**
 * `host:port` as the readiness line, the status line and the warnings write it (IPv6 in brackets), or `unix:path`.
 *
 * @since 0.2.0
 * @category formatting
 */
export const formatAddress = (address: NodePortForwarding.ListenerAddress): string =>
  address._tag === "Tcp"
    ? `${address.host.includes(":") ? `[${address.host}]` : address.host}:${address.port}`
    : `unix:${address.path}`

/**
 * What the official client prints once a port listens (`Port 8080 opened for sessionId …`), and a warning on
 * stderr when the listener is reachable from other machines.
 *
 * @since 0.2.0
 * @category reporting
 */
export const announceListener = (
  address: NodePortForwarding.ListenerAddress,
  sessionIds: ReadonlyArray<string>
): Effect.Effect<void> =>
  Effect.gen(function*() {
    const where = address._tag === "Tcp" ? `Port ${address.port}` : `Unix socket ${address.path}`
    yield* Console.log(`${where} opened for sessionId ${sessionIds.join(", ")}.`)
    if (address._tag === "Tcp" && !isLoopback(address.host)) {
      yield* Console.error(
        `warning: listening on ${formatAddress(address)}, reachable from other machines: ` +
          "whoever can connect to it uses this session"
      )
    }
  })

/**
 * The official client's line for a connection event of a tunnel: an accepted connection (stdout), or a failed
 * dial on the instance (stderr); nothing for the rest.
 *
 * @since 0.2.0
 * @category reporting
 */
export const reportConnectionEvent = (sessionId: string, event: PortForwarding.PortForwardingEvent): Effect.Effect<void> =>
  event._tag === "ConnectionOpened"
    ? Console.log(`Connection accepted for session [${sessionId}]`)
    : event._tag === "ConnectToPortError"
    ? Console.error("The agent could not connect to the destination port.")
    : Effect.void

/**
 * What a connection event says, in one line.
 *
 * @since 0.2.0
 * @category formatting
 */
export const formatConnectionEvent = (event: Session.ConnectionEvent): string =>
  event._tag === "Reconnecting"
    ? event.attempt === 1
      ? `connection lost (${event.cause}); resuming the session`
      : `resuming the session, attempt ${event.attempt} (the last: ${event.cause})`
    : `session resumed after ${Duration.format(Duration.millis(Math.round(Duration.toMillis(event.after))))}` +
      (event.attempts > 1 ? ` (${event.attempts} attempts)` : "")

/**
 * Writes a line to stderr for each time the session loses its WebSocket and resumes, until the scope closes.
 *
 * @since 0.2.0
 * @category reporting
 */
export const reportConnection = (session: Session.Session): Effect.Effect<void, never, Scope.Scope> =>
  Effect.flatMap(session.subscribe, (events) =>
    Effect.asVoid(Effect.forkScoped(Stream.runForEach(events, (event) =>
      Effect.sync(() => {
        // a terminal may be in raw mode (a shell) or show the status line: start the line afresh
        const tty = process.stderr.isTTY === true
        process.stderr.write(`${tty ? "\r\x1b[K" : ""}${formatConnectionEvent(event)}${tty ? "\r\n" : "\n"}`)
      })))))
