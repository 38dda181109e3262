/**
 * `forward`: a local port (or Unix socket) forwarded to a port on, or behind, an instance; and `demo`, the same
 * through the embedded simulator to a small HTTP server on this machine.
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Http from "node:http"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Path from "node:path"
import * as Either from "effect/Either"
import * as NodePortForwarding from "../NodePortForwarding.js"
import * as PortForwarding from "../PortForwarding.js"
import * as PortForwardingPool from "../PortForwardingPool.js"
import { awsOptions, layerAws, requireTarget, target } from "./aws.js"
import * as Background from "./background.js"
import * as Tunnels from "./tunnels.js"
import { CliError } from "./error.js"
import { checkReadyDestination, readyLine, removeReadyOnExit, writeReady } from "./ready.js"
import { serve } from "./serve.js"
import { announceListener, say } from "./status.js"

const localPort = Options.integer("local-port").pipe(
  Options.withDescription("local port (default: any free port, printed)"),
  Options.withDefault(0)
)
const localHost = Options.text("local-host").pipe(
  Options.withDescription("local address to listen on"),
  Options.withDefault("127.0.0.1")
)
const unixSocket = Options.text("unix-socket").pipe(
  Options.withDescription("listen on this Unix socket path instead of a port"),
  Options.optional
)
const host = Options.text("host").pipe(
  Options.withDescription("a remote host the instance can reach (AWS-StartPortForwardingSessionToRemoteHost)"),
  Options.optional
)
const reason = Options.text("reason").pipe(Options.withDescription("reason recorded with the session"), Options.optional)
const readyJson = Options.text("ready-json").pipe(
  Options.withDescription(
    "once listening, write one JSON line saying where, for scripts: - for stdout (then the only thing on stdout), " +
      "or a file path (written whole, mode 0600, under a random temporary name, then renamed; removed on exit)"
  ),
  Options.optional
)

const listenOptions = (options: {
  readonly localPort: number
  readonly localHost: string
  readonly unixSocket: Option.Option<string>
}): NodePortForwarding.ListenOptions =>
  Option.match(options.unixSocket, {
    onNone: () => ({ port: options.localPort, host: options.localHost }),
    onSome: (path) => ({ path })
  })

/**
 * The local end checked before StartSession (a session started for a port that cannot be listened on would only
 * be ended again): a port out of range, one in use, an address this machine does not have, a Unix socket path
 * whose directory does not exist.
 *
 * @since 0.2.0
 * @category running
 */
export const checkLocal = (listen: NodePortForwarding.ListenOptions): Effect.Effect<void, CliError> =>
  "path" in listen
    ? Effect.suspend(() =>
      Fs.existsSync(Path.dirname(Path.resolve(listen.path)))
        ? Effect.void
        : Effect.fail(
          new CliError({
            reason: "InvalidOptions",
            detail: `--unix-socket ${listen.path}: the directory ${Path.dirname(listen.path)} does not exist`
          })
        )
    )
    : !Number.isInteger(listen.port) || (listen.port ?? 0) < 0 || (listen.port ?? 0) > 65535
    ? Effect.fail(
      new CliError({ reason: "InvalidOptions", detail: `--local-port ${listen.port} is not a port (0 to 65535)` })
    )
    : listen.port === 0 || listen.port === undefined
    ? Effect.void
    : Effect.async<void, CliError>((resume) => {
      const probe = Net.createServer()
      probe.once("error", (error: NodeJS.ErrnoException) =>
        resume(Effect.fail(
          new CliError({
            reason: "Listen",
            detail: `cannot listen on ${listen.host ?? "127.0.0.1"}:${listen.port}: ${
              error.code === "EADDRINUSE" ? "the port is in use" : error.message
            }`,
            cause: error
          })
        )))
      probe.listen(listen.port, listen.host ?? "127.0.0.1", () => probe.close(() => resume(Effect.void)))
    })

/** One session to one destination, served on a local listener: the demo's tunnel. */
const startAndServe = (
  options: {
    readonly target: string
    readonly portNumber: number
    readonly host: Option.Option<string>
    readonly reason: Option.Option<string>
    readonly listen: NodePortForwarding.ListenOptions
  },
  whileListening: (address: NodePortForwarding.ListenerAddress) => Effect.Effect<void>
) =>
  Effect.gen(function*() {
    yield* checkLocal(options.listen)
    const forwarding = yield* PortForwarding.start({
      target: options.target,
      portNumber: options.portNumber,
      host: Option.getOrUndefined(options.host),
      reason: Option.getOrUndefined(options.reason)
    })
    return yield* serve(forwarding, options.listen, whileListening)
  })

const localForward = Options.text("local-forward").pipe(
  Options.withAlias("L"),
  Options.withDescription(
    "a mapping, ssh-style: [bind:]localPort:[host:]remotePort (or path:[host:]remotePort for a Unix socket); " +
      "repeat it for several, each its own session"
  ),
  Options.repeated
)
const sessions = Options.integer("sessions").pipe(
  Options.withDescription(
    "sessions per mapping: its connections are spread over them, least-loaded first (each session is capped at " +
      "about 1000 messages a second by the service); one that ends is replaced"
  ),
  Options.withDefault(1)
)
const maxSessions = Options.integer("max-sessions").pipe(
  Options.withDescription("grow a mapping's pool on demand up to this many sessions, one per connection that finds all busy"),
  Options.optional
)
const waitRemote = Options.boolean("wait-remote").pipe(
  Options.withDescription(
    "before saying ready, open one connection to each destination and fail if the agent cannot connect to it"
  )
)
const background = Options.boolean("background").pipe(
  Options.withDescription(
    "once every mapping is ready, go on in the background and exit 0 (1 with the error if one is not): " +
      "`forward … --wait-remote --background && psql …`"
  )
)

/** The mappings a `forward` command line asks for: the one-mapping flags, then each `-L`. */
const mappingsOf = (
  options: Pick<ForwardOptions, "remotePort" | "localPort" | "localHost" | "unixSocket" | "host" | "localForward">
): Effect.Effect<ReadonlyArray<Tunnels.Mapping>, CliError> =>
  Effect.gen(function*() {
    const mappings: Array<Tunnels.Mapping> = []
    if (Option.isSome(options.remotePort)) {
      mappings.push({
        listen: listenOptions(options),
        host: Option.getOrUndefined(options.host),
        portNumber: options.remotePort.value
      })
    }
    for (const spec of options.localForward) {
      mappings.push(yield* Either.match(Tunnels.parseMapping(spec), {
        onLeft: (detail) => Effect.fail(new CliError({ reason: "InvalidOptions", detail })),
        onRight: Effect.succeed
      }))
    }
    if (mappings.length === 0) {
      return yield* new CliError({ reason: "InvalidOptions", detail: "give --remote-port, or one or more -L mappings" })
    }
    return mappings
  })

/**
 * What the official client prints for each port (on stderr: `forward`'s stdout is for the readiness line alone),
 * the warnings, the readiness line and the background hand-off.
 */
const announce = (target: string, readyJson: string | undefined) => (running: ReadonlyArray<Tunnels.Running>) =>
  Effect.gen(function*() {
    for (const { address, sessionIds } of running) yield* announceListener(address, sessionIds, "stderr")
    yield* say("stderr", "Waiting for connections...")
    const line = readyLine(running.map(({ address, mapping, sessionIds }) => ({
      address,
      target,
      host: mapping.host,
      portNumber: mapping.portNumber,
      sessionId: sessionIds[0]!,
      sessionIds
    })))
    // a readiness line that cannot be written is the command's failure (exit 1): a script waiting for it would
    // otherwise wait for ever
    if (readyJson !== undefined) yield* writeReady(readyJson, line)
    yield* Background.ready(line)
  })

/**
 * `forward`'s own options (the target and the AWS options aside), shared with `ecs forward`.
 *
 * @since 0.5.0
 * @category options
 */
export const forwardOptions = {
  remotePort: Options.integer("remote-port").pipe(
    Options.withDescription("the destination port (the one-mapping form; see -L for more)"),
    Options.optional
  ),
  localPort,
  localHost,
  unixSocket,
  host,
  localForward,
  sessions,
  maxSessions,
  waitRemote,
  background,
  reason,
  readyJson
}

/**
 * The values of `forwardOptions`.
 *
 * @since 0.5.0
 * @category options
 */
export interface ForwardOptions {
  readonly remotePort: Option.Option<number>
  readonly localPort: number
  readonly localHost: string
  readonly unixSocket: Option.Option<string>
  readonly host: Option.Option<string>
  readonly localForward: ReadonlyArray<string>
  readonly sessions: number
  readonly maxSessions: Option.Option<number>
  readonly waitRemote: boolean
  readonly background: boolean
  readonly reason: Option.Option<string>
  readonly readyJson: Option.Option<string>
}

/**
 * Forwards the mappings the options ask for to `target` (resolved by the caller: an instance, a container's
 * `ecs:` target), once the local ends and the readiness file are checked; in the background with `--background`.
 *
 * @since 0.5.0
 * @category running
 */
export const runForward = <E extends { readonly message: string }, R>(
  options: ForwardOptions,
  resolveTarget: Effect.Effect<string, E, R>
) =>
  Effect.gen(function*() {
    const mappings = yield* mappingsOf(options)
    const target = yield* resolveTarget
    // the local ends and the readiness file are checked before any session starts
    for (const mapping of mappings) yield* checkLocal(mapping.listen)
    const ready = Option.getOrUndefined(options.readyJson)
    yield* checkReadyDestination(ready)
    if (options.background && !Background.isChild()) return yield* Background.start({ readinessToStdout: ready === "-" })
    if (ready !== undefined && ready !== "-") yield* removeReadyOnExit
    return yield* Tunnels.runMappings(mappings, (mapping) =>
      PortForwardingPool.start({
        target,
        portNumber: mapping.portNumber,
        host: mapping.host,
        reason: Option.getOrUndefined(options.reason),
        sessions: options.sessions,
        maxSessions: Option.getOrUndefined(options.maxSessions)
      }), { waitRemote: options.waitRemote, onReady: announce(target, ready) })
  }).pipe(Background.reportFailure)

/**
 * @since 0.1.0
 * @category commands
 */
export const forward = Command.make(
  "forward",
  { ...awsOptions, target, ...forwardOptions },
  (options) =>
    runForward(options, requireTarget(options.target, options.simulator)).pipe(
      Effect.scoped,
      Effect.provide(layerAws(options))
    )
).pipe(Command.withDescription("forward local ports to ports on (or behind) an instance, over one or more sessions each"))

/** A small HTTP server on 127.0.0.1 standing in for the instance's web server. */
const demoServer: Effect.Effect<number, never, Scope.Scope> = Effect.acquireRelease(
  Effect.async<Http.Server>((resume) => {
    const server = Http.createServer((request, response) => {
      response.setHeader("content-type", "text/plain")
      response.end(`Hello from the instance: ${request.method} ${request.url} came through the data channel.\n`)
    })
    server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
  }),
  (server) =>
    Effect.sync(() => {
      server.closeAllConnections()
      server.close()
    })
).pipe(Effect.map((server) => (server.address() as Net.AddressInfo).port))

/** One request through the tunnel, as a user's curl would make it. */
const get = (port: number) =>
  Effect.tryPromise(() => fetch(`http://127.0.0.1:${port}/demo`).then((response) => response.text()))

/**
 * @since 0.1.0
 * @category commands
 */
export const demo = Command.make(
  "demo",
  {
    region: awsOptions.region,
    profile: awsOptions.profile,
    endpoint: awsOptions.endpoint,
    apiTimeout: awsOptions.apiTimeout,
    target: Options.text("target").pipe(
      Options.withDescription("forward to this instance on AWS instead of the simulator"),
      Options.optional
    ),
    remotePort: Options.integer("remote-port").pipe(Options.withDefault(80)),
    localPort,
    localHost,
    unixSocket,
    host,
    reason,
    once: Options.boolean("once").pipe(Options.withDescription("exit after the first request through the tunnel"))
  },
  (options) =>
    Effect.gen(function*() {
      const simulated = Option.isNone(options.target)
      const portNumber = simulated ? yield* demoServer : options.remotePort
      if (simulated) {
        yield* say(
          "stdout",
          `Simulated instance: an HTTP server on 127.0.0.1:${portNumber}, reached through a local agent simulator.`
        )
      }
      const run = startAndServe({
        target: Option.getOrElse(options.target, () => "i-simulated"),
        portNumber,
        host: options.host,
        reason: options.reason,
        listen: listenOptions(options)
      }, (address) =>
        Effect.gen(function*() {
          if (address._tag === "Tcp") {
            yield* say("stdout", `Try: curl http://127.0.0.1:${address.port}/`)
            if (simulated) {
              const body = yield* Effect.orDie(get(address.port))
              yield* say("stdout", `GET /demo through the tunnel: ${body.trim()}`)
            }
          }
          if (!options.once) return yield* Effect.never
        }))
      return yield* run
    }).pipe(Effect.scoped, Effect.provide(layerAws({ ...options, simulator: Option.isNone(options.target) })))
).pipe(Command.withDescription("port forwarding through the embedded simulator to a demo HTTP server, or to --target"))
