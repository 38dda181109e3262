import { Effect, Either, Exit, Mailbox, Option } from "effect"
import * as WS from "ws"
import * as AgentMessage from "../../src/AgentMessage.js"

const textEncoder = new TextEncoder()

/**
 * One end of a data channel played by hand over a WebSocket: every binary frame received is decoded and queued;
 * frames are built from the fields a test gives. Shared by the hand-written client and the hostile agent.
 */
export const framePeer = (socket: WS.WebSocket) => {
  const received = Effect.runSync(Mailbox.make<AgentMessage.AgentMessage>())
  socket.on("message", (data: Buffer, isBinary: boolean) => {
    if (!isBinary) return
    const message = AgentMessage.decode(new Uint8Array(data.buffer, data.byteOffset, data.byteLength))
    if (Either.isRight(message)) received.unsafeOffer({ ...message.right, payload: message.right.payload.slice() })
  })
  socket.on("close", () => received.unsafeDone(Exit.void))
  const sendRaw = (frame: Uint8Array) =>
    Effect.sync(() => {
      if (socket.readyState === WS.WebSocket.OPEN) socket.send(frame)
    })
  const send = (message: Partial<AgentMessage.AgentMessage> & Pick<AgentMessage.AgentMessage, "messageType">) =>
    sendRaw(AgentMessage.unsafeEncode(AgentMessage.make({ createdDate: Date.now(), ...message })))
  return {
    /** the next received message that satisfies `predicate` (others are skipped); none once the socket closed */
    next: (predicate: (message: AgentMessage.AgentMessage) => boolean = () => true) =>
      Effect.gen(function*() {
        while (true) {
          const message = yield* Effect.option(received.take)
          if (Option.isNone(message) || predicate(message.value)) return message
        }
      }).pipe(Effect.timeoutFail({ duration: "20 seconds", onTimeout: () => new Error("no such message in time") })),
    send,
    sendRaw,
    /** a data message (`input_stream_data` or `output_stream_data`) with a text or binary payload */
    data: (
      messageType: "input_stream_data" | "output_stream_data",
      sequenceNumber: number,
      payloadType: number,
      payload: string | Uint8Array
    ) =>
      send({
        messageType,
        sequenceNumber,
        payloadType: payloadType as AgentMessage.PayloadType,
        payload: typeof payload === "string" ? textEncoder.encode(payload) : payload
      }),
    ack: (message: AgentMessage.AgentMessage) =>
      send({
        messageType: "acknowledge",
        flags: 3,
        payload: textEncoder.encode(JSON.stringify({
          AcknowledgedMessageType: message.messageType,
          AcknowledgedMessageId: message.messageId,
          AcknowledgedMessageSequenceNumber: message.sequenceNumber,
          IsSequentialMessage: true
        }))
      })
  }
}
