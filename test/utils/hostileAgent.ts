/**
 * A hostile (or broken) agent for tests: a WebSocket server on 127.0.0.1 whose every move a test scripts, from
 * the protocol notes, with none of the simulator's good manners: it acks what it likes, sends what it likes, and
 * may never answer at all.
 */
import { Effect, Either, Exit, FiberSet, Mailbox, Option, Redacted } from "effect"
import type * as Scope from "effect/Scope"
import * as Net from "node:net"
import * as WS from "ws"
import * as AgentMessage from "../../src/AgentMessage.js"
import type * as AgentSimulator from "../../src/AgentSimulator.js"

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
const encode = (message: Partial<AgentMessage.AgentMessage> & Pick<AgentMessage.AgentMessage, "messageType">) =>
  AgentMessage.unsafeEncode(AgentMessage.make({ createdDate: Date.now(), ...message }))

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
      const received = Effect.runSync(Mailbox.make<AgentMessage.AgentMessage>())
      socket.on("message", (data: Buffer, isBinary: boolean) => {
        if (!isBinary) return
        const message = AgentMessage.decode(new Uint8Array(data.buffer, data.byteOffset, data.byteLength))
        if (Either.isRight(message)) received.unsafeOffer({ ...message.right, payload: message.right.payload.slice() })
      })
      const closed = Effect.async<void>((resume) => {
        if (socket.readyState === WS.WebSocket.CLOSED) return resume(Effect.void)
        socket.once("close", () => resume(Effect.void))
      })
      socket.on("close", () => received.unsafeDone(Exit.void))
      const send = (frame: Uint8Array) =>
        Effect.sync(() => {
          if (socket.readyState === WS.WebSocket.OPEN) socket.send(frame)
        })
      const next: Peer["next"] = (predicate = () => true) =>
        Effect.gen(function*() {
          while (true) {
            const message = yield* Effect.option(received.take)
            if (Option.isNone(message) || predicate(message.value)) return message
          }
        }).pipe(Effect.timeoutFail({ duration: "20 seconds", onTimeout: () => new Error("no such message in time") }))
      const data: Peer["data"] = (sequenceNumber, payloadType, payload) =>
        send(encode({
          messageType: "output_stream_data",
          sequenceNumber,
          payloadType: payloadType as AgentMessage.PayloadType,
          payload: typeof payload === "string" ? textEncoder.encode(payload) : payload
        }))
      const ack: Peer["ack"] = (message) =>
        send(encode({
          messageType: "acknowledge",
          flags: 3,
          payload: textEncoder.encode(JSON.stringify({
            AcknowledgedMessageType: message.messageType,
            AcknowledgedMessageId: message.messageId,
            AcknowledgedMessageSequenceNumber: message.sequenceNumber,
            IsSequentialMessage: true
          }))
        }))
      const peer: Peer = {
        next,
        data,
        ack,
        sendRaw: send,
        channelClosed: (output) =>
          send(encode({
            messageType: "channel_closed",
            payload: textEncoder.encode(JSON.stringify({ MessageType: "channel_closed", SessionId: "hostile", Output: output }))
          })),
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
