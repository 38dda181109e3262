/**
 * The simulator's Port plugin, behaving as the agent's (AGENT-PROTOCOL.md section 10): multiplexed (smux server,
 * one dial per stream, ConnectToPortError on a failed dial) or basic (one connection, re-dialled after
 * DisconnectToPort), chosen by the same version gates as the agent.
 *
 * @internal
 */
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as AgentMessage from "../../AgentMessage.js"
import type * as AgentSimulator from "../../AgentSimulator.js"
import type { RemoteProcessOptions } from "./model.js"
import * as NodeNetTransport from "../../NodeNetTransport.js"
import * as Smux from "../../Smux.js"
import type * as SsmApi from "../../SsmApi.js"
import { echoPlugin } from "./agent.js"
import * as FramedCommand from "../tunnels/framedCommand.js"
import { DOCUMENT_CONTENT, DOCUMENT_NAME } from "../tunnels/remoteCommand.js"
import { commandPlugin } from "./command.js"
import { plan } from "./shellProperties.js"
import { shellPlugin } from "./shell.js"
import * as Pull from "../smux/pull.js"
import * as Version from "../protocol/version.js"

/**
 * The Port session's properties, the parts the agent reads (`plugins/port/port.go` PortParameters: `type`, `host`,
 * `portNumber`; the documents give `portNumber` as a string, a `sessionSpec` may give a number). Other members are
 * ignored.
 * @internal
 */
export const PortProperties = Schema.Struct({
  type: Schema.optional(Schema.String),
  host: Schema.optional(Schema.String),
  portNumber: Schema.optional(Schema.Union(Schema.String, Schema.Number))
})

/** @internal */
export type PortProperties = typeof PortProperties.Type

const decodePortProperties = Schema.decodeUnknownEither(PortProperties)

/** The session's properties as the Port plugin reads them; properties of another shape read as none. @internal */
export const readPortProperties = (properties: Readonly<Record<string, unknown>> | null): PortProperties =>
  Either.getOrElse(decodePortProperties(properties ?? {}), () => ({}))

/** The only `type` the agent multiplexes, and keeps past the destination's end. */
const LOCAL_PORT_FORWARDING = "LocalPortForwarding"

/**
 * What the agent decides (gates 1 and 2, and its own history): mux for LocalPortForwarding when the client is
 * at least 1.1.70 and the agent has mux at all (3.0.222.0 on); smux keepalive off when the client is above
 * 1.2.331.0 on agents from 3.1.1575.0 (where that gate arrived), always off on 3.1.1446.0, on otherwise.
 * @internal
 */
export const portMode = (
  properties: Readonly<Record<string, unknown>> | null,
  clientVersion: string,
  agentVersion = "3.3.1142.0"
) => {
  const mux = readPortProperties(properties).type === LOCAL_PORT_FORWARDING &&
    Version.compareAgentStyle(clientVersion, Version.MUX_SUPPORTED_CLIENT_VERSION) >= 0 &&
    Version.compareAgentStyle(agentVersion, "3.0.222.0") >= 0
  const keepAlive = agentVersion === "3.1.1446.0"
    ? false
    : Version.compareAgentStyle(agentVersion, "3.1.1575.0") < 0 ||
      Version.compareAgentStyle(clientVersion, Version.MUX_KEEPALIVE_DISABLED_AFTER_CLIENT_VERSION) <= 0
  return { mux, keepAlive }
}

/** Where the agent dials: `host` (127.0.0.1 when none or empty) and `portNumber`. @internal */
export const destination = (properties: PortProperties) => ({
  host: properties.host !== undefined && properties.host !== "" ? properties.host : "127.0.0.1",
  port: Number(properties.portNumber ?? 0)
})

const dataOnly = (input: Stream.Stream<AgentSimulator.PluginInput>) =>
  Stream.filterMap(input, (item) => item._tag === "Data" ? Option.some(item.bytes) : Option.none())

/** Copies both ways between a smux stream and a TCP connection until either side ends. */
const bridge = (stream: Smux.SmuxStream, connection: NodeNetTransport.NetTransport) =>
  Effect.raceFirst(
    Pull.drain(connection.pull, stream.write),
    Pull.drain(stream.pull, connection.write)
  ).pipe(Effect.ignore)

/** @internal */
export const portPlugin = (options: AgentSimulator.PortPluginOptions = {}): AgentSimulator.Plugin => ({
  sessionType: "Port",
  requireHandshake: true,
  signalsReady: true,
  run: (io) =>
    Effect.gen(function*() {
      const mode = portMode(io.properties, io.clientVersion, io.agentVersion)
      options.onMode?.(mode)
      const properties = readPortProperties(io.properties)
      const target = destination(properties)
      if (mode.mux) {
        const smux = yield* Smux.make({ incoming: dataOnly(io.input), write: io.write }, {
          role: "server",
          keepAlive: mode.keepAlive
        })
        yield* io.ready
        return yield* smux.serve((stream) =>
          Effect.scoped(Effect.matchEffect(NodeNetTransport.connect(target), {
            // as the agent: tell the client, and close the stream
            onFailure: () => Effect.zipRight(io.sendFlag(AgentMessage.FlagPayload.ConnectToPortError), stream.close),
            onSuccess: (connection) => bridge(stream, connection)
          }))
        ).pipe(Effect.ignore)
      }
      // basic: one connection at a time; DisconnectToPort closes it, the next data re-dials
      const pull = yield* Stream.toPull(io.input)
      let backlog: Array<AgentSimulator.PluginInput> = []
      /** the next input item, or none when the input ended */
      const next: Effect.Effect<Option.Option<AgentSimulator.PluginInput>> = Effect.suspend(() => {
        const item = backlog.shift()
        if (item !== undefined) return Effect.succeed(Option.some(item))
        return Effect.flatMap(Effect.option(pull), (items) => {
          if (Option.isNone(items)) return Effect.succeed(Option.none())
          backlog = [...Chunk.toReadonlyArray(items.value)]
          return next
        })
      })
      let pending: Uint8Array | undefined
      let dials = 0
      while (true) {
        const ended = yield* Effect.scoped(Effect.gen(function*() {
          const connection = yield* Effect.either(NodeNetTransport.connect(target))
          if (connection._tag === "Left") {
            // the first dial failing fails the plugin, with the agent's words (port_basic.go InitializeSession)
            if (dials === 0) {
              const cause = connection.left.cause as { readonly message?: unknown } | undefined
              return yield* Effect.fail(`Unable to connect to specified port: ${String(cause?.message ?? cause)}`)
            }
            return true
          }
          dials++
          const connected = connection.right
          yield* io.ready
          const toClient = yield* Effect.forkScoped(Stream.runForEach(connected.incoming, io.write))
          if (pending !== undefined) {
            yield* Effect.ignore(connected.write(pending))
            pending = undefined
          }
          // other types than LocalPortForwarding end the session when the destination closes (section 10.4)
          const endsWithDestination = properties.type !== LOCAL_PORT_FORWARDING
          while (true) {
            const item = endsWithDestination
              ? yield* Effect.raceFirst(next, Effect.as(Fiber.await(toClient), "destination closed" as const))
              : yield* next
            if (item === "destination closed") return true
            if (Option.isNone(item)) return true
            if (item.value._tag === "Flag" && item.value.flag === AgentMessage.FlagPayload.DisconnectToPort) return false
            if (item.value._tag === "Data") yield* Effect.ignore(connected.write(item.value.bytes))
            // other types end the session when the destination closes (section 10.2)
            if (toClient.unsafePoll() !== null && endsWithDestination) return true
          }
        }))
        if (ended) return
        // wait for the next data before dialling again
        while (pending === undefined) {
          const item = yield* next
          if (Option.isNone(item)) return
          if (item.value._tag === "Data") pending = item.value.bytes
        }
      }
    })
})

/**
 * How the agent runs shells and commands: `remoteProcess`, and `containerMode` for an ECS container's agent (its
 * InteractiveCommands split by shlex and exec'd, `shell.ts`).
 * @internal
 */
export type AgentRemote = RemoteProcessOptions & { readonly containerMode?: boolean | undefined }

const first = (request: SsmApi.StartSessionRequest, name: string, otherwise: string) =>
  request.parameters?.[name]?.[0] ?? otherwise

/**
 * A Session document's content, as `aws ssm create-document --document-type Session` takes it: the parts the
 * agent reads.
 * @internal
 */
export interface SessionDocumentContent {
  readonly sessionType: string
  readonly parameters?: Readonly<Record<string, { readonly type: string; readonly default?: unknown }>> | undefined
  readonly properties?: Readonly<Record<string, unknown>> | undefined
}

/** AWS's AWS-StartNonInteractiveCommand and AWS-StartInteractiveCommand: `{{command}}` under each OS's key */
const awsCommandDocument = (sessionType: string): SessionDocumentContent => ({
  sessionType,
  parameters: { command: { type: "String" } },
  properties: Object.fromEntries(
    ["windows", "linux", "macos"].map((os) => [os, { commands: "{{command}}", runAsElevated: false }])
  )
})

/**
 * The document's parameters from the StartSession request (`framework/docparser/docparser.go` ParseParameters:
 * a String is its first value, a StringList all of them; a missing one takes its `default`). The service
 * refuses a StartSession that misses a parameter without a default; here it is empty.
 */
const documentParameters = (content: SessionDocumentContent, request: SsmApi.StartSessionRequest) =>
  Object.fromEntries(Object.entries(content.parameters ?? {}).map(([name, definition]): [string, unknown] => {
    const given = request.parameters?.[name]
    return [
      name,
      given === undefined ? definition.default ?? "" : definition.type === "StringList" ? [...given] : given[0] ?? ""
    ]
  }))

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

/**
 * `framework/docparser/parameters/parameters.go` ReplaceParameters, which the agent applies to the document's
 * properties (`framework/docparser/docparser.go` replaceValidatedSessionParameters): a string that is exactly
 * `{{ name }}` becomes the value itself; elsewhere each `{{ name }}` becomes the value as text (JSON when not a
 * string) with `$$` read as `$` (ReplaceParameter).
 */
const replaceParameters = (input: unknown, values: Readonly<Record<string, unknown>>): unknown => {
  if (typeof input === "string") {
    for (const [name, value] of Object.entries(values)) {
      if (new RegExp(`^\\{\\{\\s*${escapeRegExp(name)}\\s*\\}\\}$`).test(input)) return value
    }
    const names = Object.keys(values)
    if (names.length === 0) return input
    // in one pass: a value holding `{{ other }}` is not replaced again
    const tokens = new RegExp(`\\{\\{\\s*(${names.map(escapeRegExp).join("|")})\\s*\\}\\}`, "g")
    return input.replace(tokens, (_, name: string) => {
      const value = values[name]
      return (typeof value === "string" ? value : JSON.stringify(value)).replaceAll("$$", "$")
    })
  }
  if (Array.isArray(input)) return input.map((item) => replaceParameters(item, values))
  if (typeof input === "object" && input !== null) {
    return Object.fromEntries(Object.entries(input).map(([key, value]) => [key, replaceParameters(value, values)]))
  }
  return input
}

/**
 * What the service and the agent make of a Session document's `content` for a StartSession `request`: the
 * properties with the request's parameters in place, read as the agent reads them (shellProperties.ts `plan`):
 * NonInteractiveCommands by the command plugin, InteractiveCommands and Standard_Stream by the shell plugin,
 * Port by the Port plugin. A document the agent refuses ends the session the agent's way: properties it cannot
 * read as NonInteractiveCommands end it before the handshake (`session/plugins/sessionplugin/sessionplugin.go`
 * Execute); empty `commands` for this machine's OS (a flat document, whose properties are not under `linux`,
 * `macos` or `windows`) or an invalid separator prefix end it at once, nothing sent, with the agent's text as
 * `channel_closed` Output (`Commands cannot be empty for session type NonInteractiveCommands`,
 * `session/plugins/singlecommand/singlecommand_unix.go` validateProperties).
 * @internal
 */
export const documentContentSpec = (
  content: SessionDocumentContent,
  request: SsmApi.StartSessionRequest,
  remote: AgentRemote = {}
): AgentSimulator.SessionSpec => {
  const properties = replaceParameters(content.properties ?? null, documentParameters(content, request)) as
    | Readonly<Record<string, unknown>>
    | null
  switch (content.sessionType) {
    case "NonInteractiveCommands":
    case "InteractiveCommands": {
      const plugin = content.sessionType === "NonInteractiveCommands"
        ? commandPlugin(remote)
        // the agent's InteractiveCommands asks for no handshake without KMS (session/plugins/singlecommand/
        // singlecommand.go RequireHandshake), so a client sees what a shell's client sees
        : shellPlugin({ ...remote, sessionType: "InteractiveCommands", requireHandshake: false })
      const next = plan(content.sessionType, properties)
      return next._tag === "FailBeforeHandshake"
        ? { plugin: { ...plugin, requireHandshake: false }, properties }
        : next._tag === "Refuse"
        ? { plugin, properties, closeOutput: next.output }
        : { plugin, properties }
    }
    case "Port":
      return { plugin: portPlugin(), properties }
    default:
      return { plugin: shellPlugin(remote), properties }
  }
}

/**
 * What the service makes of a StartSession request for the port documents, as their published content says:
 * `AWS-StartPortForwardingSession` and `...ToRemoteHost` (type LocalPortForwarding, portNumber default 80, host),
 * `AWS-StartSSHSession` (a standard stream to portNumber, default 22); the command documents through
 * `documentContentSpec`, read as the agent reads them: `AWS-StartNonInteractiveCommand` (one output stream, no
 * exit code), `RemoteCommand.DOCUMENT_NAME` as `RemoteCommand.DOCUMENT_CONTENT` (separate streams and the exit
 * code) and `AWS-StartInteractiveCommand` (the shell plugin running the command); no document (the default
 * shell) starts the shell plugin. Anything else: the echo plugin.
 * @internal
 */
export const documentSpec = (
  request: SsmApi.StartSessionRequest,
  remote: AgentRemote = {}
): AgentSimulator.SessionSpec => {
  switch (request.documentName) {
    case "AWS-StartPortForwardingSession":
      return {
        plugin: portPlugin(),
        properties: {
          type: LOCAL_PORT_FORWARDING,
          portNumber: first(request, "portNumber", "80"),
          localPortNumber: first(request, "localPortNumber", "0")
        }
      }
    case "AWS-StartPortForwardingSessionToRemoteHost":
      return {
        plugin: portPlugin(),
        properties: {
          type: LOCAL_PORT_FORWARDING,
          host: first(request, "host", ""),
          portNumber: first(request, "portNumber", "80"),
          localPortNumber: first(request, "localPortNumber", "0")
        }
      }
    case "AWS-StartSSHSession":
      return { plugin: portPlugin(), properties: { portNumber: first(request, "portNumber", "22") } }
    case "AWS-StartNonInteractiveCommand":
      return documentContentSpec(awsCommandDocument("NonInteractiveCommands"), request, remote)
    case "AWS-StartInteractiveCommand":
      return documentContentSpec(awsCommandDocument("InteractiveCommands"), request, remote)
    case DOCUMENT_NAME:
      return documentContentSpec(DOCUMENT_CONTENT, request, remote)
    case FramedCommand.DOCUMENT_NAME:
      return documentContentSpec(FramedCommand.DOCUMENT_CONTENT, request, remote)
    case undefined:
    case "SSM-SessionManagerRunShell":
      return { plugin: shellPlugin(remote) }
    default:
      return { plugin: echoPlugin() }
  }
}
