import { Effect, Redacted } from "effect"
import * as WS from "ws"
import type * as AgentMessage from "../../src/AgentMessage.js"
import type * as AgentSimulator from "../../src/AgentSimulator.js"
import { framePeer } from "./framePeer.js"

/**
 * A client written by hand, the way a third party writes one: it opens the data channel with its own JSON, sends
 * the frames a test builds, and hands over every frame it receives. Nothing of the library's Session.
 */
export const rawClient = (response: AgentSimulator.StartSessionResponse) =>
  Effect.gen(function*() {
    const socket = yield* Effect.acquireRelease(
      Effect.async<WS.WebSocket, Error>((resume) => {
        const socket = new WS.WebSocket(response.StreamUrl)
        socket.once("open", () => resume(Effect.succeed(socket)))
        socket.once("error", (error) => resume(Effect.fail(error)))
      }),
      (socket) => Effect.sync(() => socket.terminate())
    )
    const frames = framePeer(socket)
    socket.send(JSON.stringify({
      MessageSchemaVersion: "1.0",
      RequestId: globalThis.crypto.randomUUID(),
      TokenValue: Redacted.value(response.TokenValue),
      ClientId: globalThis.crypto.randomUUID(),
      ClientVersion: "1.2.694.0"
    }))
    let sequence = 0
    return {
      next: frames.next,
      /** a data message with the next sequence number (or `sequenceNumber`) */
      sendData: (payloadType: AgentMessage.PayloadType, payload: string | Uint8Array, sequenceNumber = sequence++) =>
        frames.data("input_stream_data", sequenceNumber, payloadType, payload),
      ack: frames.ack
    }
  })

/** the acknowledged sequence number of an `acknowledge` message */
export const ackedSequence = (message: AgentMessage.AgentMessage): number =>
  JSON.parse(new TextDecoder().decode(message.payload)).AcknowledgedMessageSequenceNumber
