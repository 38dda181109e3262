/**
 * A hostile (or broken) agent for tests: a WebSocket server on 127.0.0.1 whose every move a test scripts, from
 * the protocol notes, with none of the simulator's good manners: it acks what it likes, sends what it likes, and
 * may never answer at all.
 */
import { Effect, FiberSet, Option, Redacted } from "effect"
import type * as Scope from "effect/Scope"
import * as Net from "node:net"
import * as WS from "ws"
import type * as AgentMessage from "../../src/AgentMessage.js"
import type * as AgentSimulator from "../../src/AgentSimulator.js"
import { framePeer } from "./framePeer.js"

export interface Peer {
  /** the next message from the client that satisfies `predicate`; none once the socket closed */
  readonly next: (
    predicate?: (message: AgentMessage.AgentMessage) => boolean
  ) => Effect.Effect<Option.Option<AgentMessage.AgentMessage>, Error>
  /** an `output_stream_data` message with this sequence number */
  readonly data: (sequenceNumber: number, payloadType: number, payload: string | Uint8Array) => Effect.Effect<void>
  readonly ack: (message: AgentMessage.AgentMessage) => Effect.Effect<void>
  readonly channelClosed: (output: string) => Effect.Effect<void>
  readonly sendRaw: (frame: Uint8Array) => Effect.Effect<void>
  /** HandshakeRequest (sequence 0) and, once answered, HandshakeComplete (1); the response */
  readonly handshake: (options?: {
    readonly sessionType?: string
    readonly agentVersion?: string
    readonly properties?: Record<string, unknown> | null
    readonly kmsKeyId?: string
  }) => Effect.Effect<AgentMessage.AgentMessage, Error>
  /** closes the WebSocket abruptly (no close frame) */
  readonly terminate: Effect.Effect<void>
  readonly closed: Effect.Effect<void>
}

const textEncoder = new TextEncoder()

/** Serves one session with `script` for each connection; a StartSession-like response for it. */
export const hostileAgent = (
  script: (peer: Peer) => Effect.Effect<void, unknown, Scope.Scope>
): Effect.Effect<AgentSimulator.StartSessionResponse, never, Scope.Scope> =>
  Effect.gen(function*() {
    const fibers = yield* FiberSet.make()
    const runFork = yield* FiberSet.runtime(fibers)<never>()
    const server = yield* Effect.acquireRelease(
      Effect.async<WS.WebSocketServer>((resume) => {
        const server: WS.WebSocketServer = new WS.WebSocketServer(
          { host: "127.0.0.1", port: 0 },
          () => resume(Effect.succeed(server))
        )
      }),
      (server) =>
        Effect.async<void>((resume) => {
          for (const client of server.clients) client.terminate()
          server.close(() => resume(Effect.void))
        })
    )
    server.on("connection", (socket) => {
      const frames = framePeer(socket)
      const closed = Effect.async<void>((resume) => {
        if (socket.readyState === WS.WebSocket.CLOSED) return resume(Effect.void)
        socket.once("close", () => resume(Effect.void))
      })
      const { ack, next, send } = frames
      const data: Peer["data"] = (sequenceNumber, payloadType, payload) =>
        frames.data("output_stream_data", sequenceNumber, payloadType, payload)
      const peer: Peer = {
        next,
        data,
        ack,
        sendRaw: frames.sendRaw,
        channelClosed: (output) =>
          send({
            messageType: "channel_closed",
            payload: textEncoder.encode(JSON.stringify({ MessageType: "channel_closed", SessionId: "hostile", Output: output }))
          }),
        handshake: (options = {}) =>
          Effect.gen(function*() {
            const actions: Array<unknown> = [{
              ActionType: "SessionType",
              ActionParameters: {
                SessionType: options.sessionType ?? "Port",
                Properties: options.properties === undefined ? { portNumber: "80", type: "LocalPortForwarding" } : options.properties
              }
            }]
            if (options.kmsKeyId !== undefined) {
              actions.push({ ActionType: "KMSEncryption", ActionParameters: { KMSKeyId: options.kmsKeyId } })
            }
            yield* data(0, 5, JSON.stringify({ AgentVersion: options.agentVersion ?? "3.3.1142.0", RequestedClientActions: actions }))
            const response = yield* next((m) => m.messageType === "input_stream_data" && m.payloadType === 6)
            if (Option.isNone(response)) return yield* Effect.fail(new Error("the client left during the handshake"))
            yield* ack(response.value)
            yield* data(1, 7, JSON.stringify({ HandshakeTimeToComplete: 1000000, CustomerMessage: "" }))
            return response.value
          }),
        terminate: Effect.sync(() => socket.terminate()),
        closed
      }
      runFork(Effect.scoped(script(peer)).pipe(Effect.ignore))
    })
    const port = (server.address() as Net.AddressInfo).port
    return {
      SessionId: "hostile-session",
      StreamUrl: `ws://127.0.0.1:${port}/v1/data-channel/hostile-session?role=publish_subscribe`,
      TokenValue: Redacted.make("hostile-token")
    }
  })

/** A TCP server on 127.0.0.1 that accepts connections and never says a word (a black hole for the upgrade). */
export const silentServer = Effect.acquireRelease(
  Effect.async<{ readonly server: Net.Server; readonly sockets: Set<Net.Socket> }>((resume) => {
    const sockets = new Set<Net.Socket>()
    const server = Net.createServer((socket) => {
      sockets.add(socket)
      socket.on("error", () => {})
    })
    server.listen(0, "127.0.0.1", () => resume(Effect.succeed({ server, sockets })))
  }),
  ({ server, sockets }) =>
    Effect.sync(() => {
      for (const socket of sockets) socket.destroy()
      server.close()
    })
).pipe(Effect.map(({ server }) => (server.address() as Net.AddressInfo).port))

/** An HTTP server on 127.0.0.1 that answers every request, the WebSocket upgrade included, with `status`. */
export const statusServer = (status: number) =>
  Effect.acquireRelease(
    Effect.async<Net.Server>((resume) => {
      const server = Net.createServer((socket) => {
        socket.on("error", () => {})
        socket.once("data", () => socket.end(`HTTP/1.1 ${status} Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`))
      })
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
    }),
    (server) => Effect.sync(() => server.close())
  ).pipe(Effect.map((server) => (server.address() as Net.AddressInfo).port))
