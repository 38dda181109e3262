/**
 * What a long-running tunnel shows: a live status line on a terminal, a periodic summary otherwise, and a final
 * summary. Written to stderr, so that stdout carries only what the official client prints.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
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
 * Reports the tunnel's counters until the scope closes, then once more.
 *
 * @since 0.1.0
 * @category reporting
 */
export const report = (forwarding: PortForwarding.PortForwarding): Effect.Effect<void, never, Scope.Scope> =>
  Effect.gen(function*() {
    const live = process.stderr.isTTY === true
    let last = formatStats(yield* forwarding.stats)
    const tick = Effect.map(Effect.zip(forwarding.stats, forwarding.session.stats), ([stats, session]) => {
      const line = `${session.connected ? "" : "resuming the session; "}${formatStats(stats)}`
      if (live) process.stderr.write(`\r\x1b[K${line}`)
      else if (line !== last) process.stderr.write(`${line}\n`)
      last = line
    })
    yield* Effect.forkScoped(Effect.repeat(tick, Schedule.spaced(live ? "1 second" : "30 seconds")))
    yield* Effect.addFinalizer(() =>
      Effect.map(forwarding.stats, (stats) => {
        process.stderr.write(`${live ? "\r\x1b[K" : ""}${formatStats(stats)}\n`)
      })
    )
  })

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
