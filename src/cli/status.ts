/**
 * What a long-running tunnel shows: a live status line on a terminal, a periodic summary otherwise, and a final
 * summary, all on stderr. Every other line a command prints goes through `printLine`, which clears the live line
 * first and draws it again after, so that no line runs into it.
 *
 * @since 0.1.0
 */
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

/** The live status line on stderr now (a terminal only), without its line end; undefined when none is shown. */
let liveLine: string | undefined

/**
 * Clears the live status line, if one is shown, so that the terminal's cursor is at the start of an empty line.
 *
 * @since 0.2.0
 * @category output
 */
export const clearLiveLine = (): void => {
  if (liveLine !== undefined) process.stderr.write("\r\x1b[K")
}

/**
 * Draws the live status line again, if one is shown (after `clearLiveLine` and a line of output).
 *
 * @since 0.2.0
 * @category output
 */
export const redrawLiveLine = (): void => {
  if (liveLine !== undefined) process.stderr.write(liveLine)
}

/** a terminal in raw mode (a shell's session) moves the cursor down on `\n` without going back to column 0 */
const lineEnd = (stream: NodeJS.WriteStream): string =>
  stream.isTTY === true && process.stdin.isTTY === true && process.stdin.isRaw ? "\r\n" : "\n"

/**
 * Writes `text` and a line end to stdout or stderr, at once: a live status line is cleared first and drawn again
 * after it, so that the two never run together on a terminal.
 *
 * @since 0.2.0
 * @category output
 */
export const printLine = (to: "stdout" | "stderr", text: string): void => {
  const stream = to === "stdout" ? process.stdout : process.stderr
  clearLiveLine()
  stream.write(`${text}${lineEnd(stream)}`)
  redrawLiveLine()
}

/**
 * `printLine` as an effect.
 *
 * @since 0.2.0
 * @category output
 */
export const say = (to: "stdout" | "stderr", text: string): Effect.Effect<void> => Effect.sync(() => printLine(to, text))

/**
 * A status line on stderr until the scope closes: live on a terminal (redrawn every second, and after every line
 * `printLine` writes), otherwise written every 30 seconds when it changed; `final` once more at the end (by
 * default the same line). Nothing live is drawn when stderr is not a terminal.
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
      if (live) {
        process.stderr.write(`\r\x1b[K${text}`)
        liveLine = text
      } else if (text !== last) process.stderr.write(`${text}\n`)
      last = text
    })
    yield* Effect.forkScoped(Effect.repeat(tick, Schedule.spaced(live ? "1 second" : "30 seconds")))
    yield* Effect.addFinalizer(() =>
      Effect.map(final, (text) => {
        clearLiveLine()
        liveLine = undefined
        process.stderr.write(`${text}\n`)
      })
    )
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
 * What the official client prints once a port listens (`Port 8080 opened for sessionId …`, on `to`: stdout, as
 * the official client prints it, by default), and a warning on stderr when the listener is reachable from other
 * machines.
 *
 * @since 0.2.0
 * @category reporting
 */
export const announceListener = (
  address: NodePortForwarding.ListenerAddress,
  sessionIds: ReadonlyArray<string>,
  to: "stdout" | "stderr" = "stdout"
): Effect.Effect<void> =>
  Effect.sync(() => {
    const where = address._tag === "Tcp" ? `Port ${address.port}` : `Unix socket ${address.path}`
    printLine(to, `${where} opened for sessionId ${sessionIds.join(", ")}.`)
    if (address._tag === "Tcp" && !isLoopback(address.host)) {
      printLine(
        "stderr",
        `warning: listening on ${formatAddress(address)}, reachable from other machines: ` +
          "whoever can connect to it uses this session"
      )
    }
  })

/**
 * The official client's line for a connection event of a tunnel: an accepted connection (on `to`: stdout, as the
 * official client prints it, by default), or a failed dial on the instance (stderr); nothing for the rest.
 *
 * @since 0.2.0
 * @category reporting
 */
export const reportConnectionEvent = (
  sessionId: string,
  event: PortForwarding.PortForwardingEvent,
  to: "stdout" | "stderr" = "stdout"
): Effect.Effect<void> =>
  event._tag === "ConnectionOpened"
    ? say(to, `Connection accepted for session [${sessionId}]`)
    : event._tag === "ConnectToPortError"
    ? say("stderr", "The agent could not connect to the destination port.")
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
        // a terminal may be in raw mode (a shell) and mid-line: start the line afresh
        if (liveLine === undefined && process.stderr.isTTY === true) process.stderr.write("\r\x1b[K")
        printLine("stderr", formatConnectionEvent(event))
      })))))
