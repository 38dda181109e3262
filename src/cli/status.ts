/**
 * What a long-running tunnel shows: a live status line on a terminal, a periodic summary otherwise, and a final
 * summary. Written to stderr, so that stdout carries only what the official client prints.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import type * as PortForwarding from "../PortForwarding.js"

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
    const tick = Effect.map(forwarding.stats, (stats) => {
      const line = formatStats(stats)
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
