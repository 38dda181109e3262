/**
 * The simulator's Port plugin, behaving as the agent's (AGENT-PROTOCOL.md section 10): multiplexed (smux server,
 * one dial per stream, ConnectToPortError on a failed dial) or basic (one connection, re-dialled after
 * DisconnectToPort), chosen by the same version gates as the agent.
 *
 * @internal
 */
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type * as AgentSimulator from "../AgentSimulator.js"
import * as NodeSmux from "../NodeSmux.js"
import * as Smux from "../Smux.js"
import type * as SsmApi from "../SsmApi.js"
import { echoPlugin } from "./agentSimulator.js"
import { DOCUMENT_NAME } from "./remoteCommand.js"
import { commandPlugin } from "./simulatorCommand.js"
import { shellPlugin } from "./simulatorShell.js"
import * as Pull from "./pull.js"
import * as Version from "./version.js"

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
  const mux = properties?.["type"] === "LocalPortForwarding" &&
    Version.compareAgentStyle(clientVersion, Version.MUX_SUPPORTED_CLIENT_VERSION) >= 0 &&
    Version.compareAgentStyle(agentVersion, "3.0.222.0") >= 0
  const keepAlive = agentVersion === "3.1.1446.0"
    ? false
    : Version.compareAgentStyle(agentVersion, "3.1.1575.0") < 0 ||
      Version.compareAgentStyle(clientVersion, Version.MUX_KEEPALIVE_DISABLED_AFTER_CLIENT_VERSION) <= 0
  return { mux, keepAlive }
}

const destination = (properties: Readonly<Record<string, unknown>> | null) => ({
  host: typeof properties?.["host"] === "string" && properties["host"] !== "" ? properties["host"] : "127.0.0.1",
  port: Number(properties?.["portNumber"] ?? 0)
})

const dataOnly = (input: Stream.Stream<AgentSimulator.PluginInput>) =>
  Stream.filterMap(input, (item) => item._tag === "Data" ? Option.some(item.bytes) : Option.none())

/** Copies both ways between a smux stream and a TCP connection until either side ends. */
const bridge = (stream: Smux.SmuxStream, connection: NodeSmux.NetTransport) =>
  Effect.raceFirst(
    Pull.drain(connection.pull, stream.write),
    Pull.drain(stream.pull, connection.write)
  ).pipe(Effect.ignore)

/** @internal */
export const portPlugin = (options: AgentSimulator.PortPluginOptions = {}): AgentSimulator.Plugin => ({
  sessionType: "Port",
  requireHandshake: true,
  run: (io) =>
    Effect.gen(function*() {
      const mode = portMode(io.properties, io.clientVersion, io.agentVersion)
      options.onMode?.(mode)
      const target = destination(io.properties)
      if (mode.mux) {
        const smux = yield* Smux.make({ incoming: dataOnly(io.input), write: io.write }, {
          role: "server",
          keepAlive: mode.keepAlive
        })
        return yield* smux.serve((stream) =>
          Effect.scoped(Effect.matchEffect(NodeSmux.connect(target), {
            // as the agent: tell the client, and close the stream
            onFailure: () => Effect.zipRight(io.sendFlag(3), stream.close),
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
      while (true) {
        const ended = yield* Effect.scoped(Effect.gen(function*() {
          const connection = yield* Effect.orElse(NodeSmux.connect(target), () => Effect.succeed(undefined))
          if (connection === undefined) return true
          const toClient = yield* Effect.forkScoped(Stream.runForEach(connection.incoming, io.write))
          if (pending !== undefined) {
            yield* Effect.ignore(connection.write(pending))
            pending = undefined
          }
          while (true) {
            const item = yield* next
            if (Option.isNone(item)) return true
            if (item.value._tag === "Flag" && item.value.flag === 1) return false
            if (item.value._tag === "Data") yield* Effect.ignore(connection.write(item.value.bytes))
            // other types end the session when the destination closes (section 10.2)
            if (toClient.unsafePoll() !== null && io.properties?.["type"] !== "LocalPortForwarding") return true
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

const first = (request: SsmApi.StartSessionRequest, name: string, otherwise: string) =>
  request.parameters?.[name]?.[0] ?? otherwise

/**
 * What the service makes of a StartSession request for the port documents, as their published content says:
 * `AWS-StartPortForwardingSession` and `...ToRemoteHost` (type LocalPortForwarding, portNumber default 80, host),
 * `AWS-StartSSHSession` (a standard stream to portNumber, default 22); the command documents
 * `AWS-StartNonInteractiveCommand` (one output stream, no exit code) and `RemoteCommand.DOCUMENT_NAME` (separate
 * streams and the exit code); no document (the default shell) and `AWS-StartInteractiveCommand` start the shell
 * plugin. Anything else: the echo plugin.
 * @internal
 */
export const documentSpec = (request: SsmApi.StartSessionRequest): AgentSimulator.SessionSpec => {
  switch (request.documentName) {
    case "AWS-StartPortForwardingSession":
      return {
        plugin: portPlugin(),
        properties: {
          type: "LocalPortForwarding",
          portNumber: first(request, "portNumber", "80"),
          localPortNumber: first(request, "localPortNumber", "0")
        }
      }
    case "AWS-StartPortForwardingSessionToRemoteHost":
      return {
        plugin: portPlugin(),
        properties: {
          type: "LocalPortForwarding",
          host: first(request, "host", ""),
          portNumber: first(request, "portNumber", "80"),
          localPortNumber: first(request, "localPortNumber", "0")
        }
      }
    case "AWS-StartSSHSession":
      return { plugin: portPlugin(), properties: { portNumber: first(request, "portNumber", "22") } }
    case "AWS-StartNonInteractiveCommand":
      return { plugin: commandPlugin(), properties: { commands: first(request, "command", ""), runAsElevated: false } }
    case DOCUMENT_NAME:
      return {
        plugin: commandPlugin(),
        properties: { commands: first(request, "command", ""), runAsElevated: false, separateOutputStream: true }
      }
    case undefined:
    case "SSM-SessionManagerRunShell":
      return { plugin: shellPlugin() }
    case "AWS-StartInteractiveCommand":
      return {
        plugin: shellPlugin({ sessionType: "InteractiveCommands", requireHandshake: true }),
        properties: { commands: first(request, "command", ""), runAsElevated: false }
      }
    default:
      return { plugin: echoPlugin() }
  }
}
