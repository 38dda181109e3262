import { Either } from "effect"
import { AgentMessage, AgentPayload } from "ssm-session-manager"

// Build and serialize an input message carrying three keystrokes.
const frame = AgentMessage.encode(AgentMessage.make({
  messageType: AgentMessage.MessageType.InputStreamData,
  sequenceNumber: 2,
  payloadType: AgentMessage.PayloadType.Output,
  payload: new TextEncoder().encode("ls\r")
}))

// Read it back: a typed message, or an AgentMessageError with a reason. Nothing throws.
const message = Either.flatMap(frame, AgentMessage.decode)

// Acknowledge it with AWS's JSON field names.
const ack = Either.flatMap(message, (received) =>
  AgentPayload.encodePayload(AgentPayload.jsonPayload(AgentPayload.Acknowledge))(
    new AgentPayload.Acknowledge({
      AcknowledgedMessageType: received.messageType,
      AcknowledgedMessageId: received.messageId,
      AcknowledgedMessageSequenceNumber: received.sequenceNumber,
      IsSequentialMessage: true
    })
  ))

console.log(Either.isRight(ack) ? new TextDecoder().decode(ack.right) : ack.left.message)
