import { Effect, Either, Exit, Mailbox, Option, Redacted } from "effect"
import * as WS from "ws"
import * as AgentMessage from "../../src/AgentMessage.js"
import type * as AgentSimulator from "../../src/AgentSimulator.js"

/**
 * A client written by hand, the way a third party writes one: it opens the data channel with its own JSON, sends
 * the frames a test builds, and hands over every frame it receives. Nothing of the library's Session.
 */
export const rawClient = (response: AgentSimulator.StartSessionResponse) =>
  Effect.gen(function*() {
    const received = yield* Mailbox.make<AgentMessage.AgentMessage>()
    const socket = yield* Effect.acquireRelease(
      Effect.async<WS.WebSocket, Error>((resume) => {
        const socket = new WS.WebSocket(response.StreamUrl)
        socket.once("open", () => resume(Effect.succeed(socket)))
        socket.once("error", (error) => resume(Effect.fail(error)))
      }),
      (socket) => Effect.sync(() => socket.terminate())
    )
    socket.on("message", (data: Buffer, isBinary: boolean) => {
      if (!isBinary) return
      const message = AgentMessage.decode(new Uint8Array(data.buffer, data.byteOffset, data.byteLength))
      if (Either.isRight(message)) received.unsafeOffer({ ...message.right, payload: message.right.payload.slice() })
    })
    socket.on("close", () => received.unsafeDone(Exit.void))
    socket.send(JSON.stringify({
      MessageSchemaVersion: "1.0",
      RequestId: globalThis.crypto.randomUUID(),
      TokenValue: Redacted.value(response.TokenValue),
      ClientId: globalThis.crypto.randomUUID(),
      ClientVersion: "1.2.694.0"
    }))
    let sequence = 0
    const send = (message: Partial<AgentMessage.AgentMessage> & Pick<AgentMessage.AgentMessage, "messageType">) =>
      Effect.sync(() =>
        socket.send(AgentMessage.unsafeEncode(AgentMessage.make({ createdDate: Date.now(), ...message })))
      )
    return {
      /** the next received message that satisfies `predicate` (others are skipped); none once the socket closed */
      next: (predicate: (message: AgentMessage.AgentMessage) => boolean) =>
        Effect.gen(function*() {
          while (true) {
            const message = yield* Effect.option(received.take)
            if (Option.isNone(message) || predicate(message.value)) return message
          }
        }).pipe(Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => new Error("no such message in time") })),
      /** a data message with the next sequence number (or `sequenceNumber`), JSON when `json` is given */
      sendData: (payloadType: AgentMessage.PayloadType, payload: string | Uint8Array, sequenceNumber = sequence++) =>
        send({
          messageType: "input_stream_data",
          sequenceNumber,
          payloadType,
          payload: typeof payload === "string" ? new TextEncoder().encode(payload) : payload
        }),
      ack: (message: AgentMessage.AgentMessage) =>
        send({
          messageType: "acknowledge",
          payload: new TextEncoder().encode(JSON.stringify({
            AcknowledgedMessageType: message.messageType,
            AcknowledgedMessageId: message.messageId,
            AcknowledgedMessageSequenceNumber: message.sequenceNumber,
            IsSequentialMessage: true
          }))
        })
    }
  })

/** the acknowledged sequence number of an `acknowledge` message */
export const ackedSequence = (message: AgentMessage.AgentMessage): number =>
  JSON.parse(new TextDecoder().decode(message.payload)).AcknowledgedMessageSequenceNumber
