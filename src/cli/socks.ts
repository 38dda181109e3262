/**
 * `socks`: a local SOCKS5 proxy whose destinations are reached from an instance, one port-forwarding session per
 * destination (opened on first use, reused, closed when idle, at most `--max-destinations` kept).
 *
 * @since 0.2.0
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as NodeSocks from "../NodeSocks.js"
import { awsOptions, layerAws, requireTarget, target } from "./aws.js"
import { CliError } from "./error.js"
import { isLoopback } from "./status.js"

/** The stderr line an event gets, if any: sessions opened, closed and failed. */
const describeEvent = (event: NodeSocks.SocksEvent): string | undefined => {
  switch (event._tag) {
    case "SessionOpened":
      return `session ${event.sessionId} opened for ${event.destination}`
    case "SessionClosed":
      return event.reason === "Idle"
        ? `session ${event.sessionId} to ${event.destination} closed (idle)`
        : event.reason === "Ended"
        ? `session ${event.sessionId} to ${event.destination} ended by the service`
        : event.reason === "Evicted"
        ? `session ${event.sessionId} to ${event.destination} closed (least recently used, for a new destination)`
        : event.reason === "Refused"
        ? `session ${event.sessionId} to ${event.destination} closed (the destination refused every connection)`
        : `session ${event.sessionId} to ${event.destination} failed: ${event.error?.detail ?? "broken"}`
    case "StartFailed":
      return `no session to ${event.destination}: ${event.error.detail}`
    case "DestinationFailed":
      return `sessions to ${event.destination} failed: ${event.error.detail}`
    case "Rejected":
      // the bound is the one rejection the user can act on (--max-destinations); the others are the client's
      return event.error.reason === "Limit"
        ? `CONNECT to ${event.destination ?? "?"} refused (reply 1): ${event.error.detail}`
        : undefined
  }
}

/**
 * `socks`'s own options (the target and the AWS options aside), shared with `ecs socks`.
 *
 * @since 0.5.0
 * @category options
 */
export const socksOptions = {
  port: Options.integer("port").pipe(
    Options.withDescription("local port to listen on (0: any free port, printed)"),
    Options.withDefault(1080)
  ),
  localHost: Options.text("local-host").pipe(
    Options.withDescription("local address to listen on; anyone who can connect uses the target's network"),
    Options.withDefault("127.0.0.1")
  ),
  idleTimeout: Options.integer("idle-timeout").pipe(
    Options.withDescription("seconds a destination's session is kept with no connection"),
    Options.withDefault(300)
  ),
  maxDestinations: Options.integer("max-destinations").pipe(
    Options.withDescription(
      "destinations kept at once; a new one closes the least recently used idle one, or is refused when all are in use"
    ),
    Options.withDefault(64)
  ),
  sessions: Options.integer("sessions").pipe(
    Options.withDescription("sessions per destination, each under the service's rate cap"),
    Options.withDefault(1)
  ),
  reason: Options.text("reason").pipe(Options.withDescription("reason recorded with each session"), Options.optional)
}

/**
 * The values of `socksOptions`.
 *
 * @since 0.5.0
 * @category options
 */
export interface SocksOptions {
  readonly port: number
  readonly localHost: string
  readonly idleTimeout: number
  readonly maxDestinations: number
  readonly sessions: number
  readonly reason: Option.Option<string>
}

/**
 * Serves the proxy for `target` (resolved by the caller: an instance, a container's `ecs:` target) until Ctrl-C.
 *
 * @since 0.5.0
 * @category running
 */
export const runSocks = <E, R>(options: SocksOptions, resolveTarget: Effect.Effect<string, E, R>) =>
  Effect.gen(function*() {
    const target = yield* resolveTarget
    if (options.idleTimeout < 0) {
      return yield* new CliError({
        reason: "InvalidOptions",
        detail: `--idle-timeout ${options.idleTimeout} is negative`
      })
    }
    const proxy = yield* NodeSocks.serve({
      target,
      host: options.localHost,
      port: options.port,
      idleTimeout: `${options.idleTimeout} seconds`,
      sessions: options.sessions,
      maxDestinations: options.maxDestinations,
      reason: Option.getOrUndefined(options.reason)
    })
    const events = yield* proxy.subscribe
    const { host, port } = proxy.address
    yield* Console.log(
      `SOCKS5 proxy listening on ${host.includes(":") ? `[${host}]` : host}:${port} for target ${target}`
    )
    if (!isLoopback(host)) {
      yield* Console.error(
        `warning: listening on ${host}:${port}, reachable from other machines: whoever can connect to it reaches ` +
          `what ${target} reaches`
      )
    }
    yield* Effect.forkScoped(Stream.runForEach(events, (event) => {
      const line = describeEvent(event)
      return line === undefined ? Effect.void : Console.error(line)
    }))
    // until Ctrl-C (or the listener failing)
    return yield* proxy.closed
  })

/**
 * The library's own warnings (a failed start, the agent's ConnectToPortError, which the client sees as reply 5)
 * only with an explicit --log-level: the lines `runSocks` prints say what happens to each destination.
 *
 * @since 0.5.0
 * @category running
 */
export const quietLogs = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.flatMap(FiberRef.get(FiberRef.currentMinimumLogLevel), (level) =>
    LogLevel.Info === level ? Logger.withMinimumLogLevel(self, LogLevel.Error) : self)

/**
 * @since 0.2.0
 * @category commands
 */
export const socks = Command.make(
  "socks",
  { ...awsOptions, target, ...socksOptions },
  (options) =>
    runSocks(options, requireTarget(options.target, options.simulator)).pipe(
      Effect.scoped,
      Effect.provide(layerAws(options, "whenSlow")),
      quietLogs
    )
).pipe(
  Command.withDescription(
    "a SOCKS5 proxy (CONNECT, no authentication): each destination through its own session from the instance"
  )
)
