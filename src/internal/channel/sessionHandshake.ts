/**
 * The client session's handshake (AGENT-PROTOCOL.md sections 7, 8): the HandshakeRequest answered once, the KMS
 * challenge, HandshakeComplete, and the channel's closing; and `receive`, which sends each data message in
 * sequence to the handshake or to delivery.
 *
 * @internal
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as AgentMessage from "../../AgentMessage.js"
import * as AgentPayload from "../../AgentPayload.js"
import * as Handshake from "./handshake.js"
import { SessionError } from "./sessionError.js"
import { deliver, end, failWith, type SessionState } from "./sessionState.js"

const decodeHandshakeRequest = AgentPayload.decodePayload(AgentPayload.jsonPayload(AgentPayload.HandshakeRequest))
const decodeHandshakeComplete = AgentPayload.decodePayload(AgentPayload.jsonPayload(AgentPayload.HandshakeComplete))
const decodeChannelClosed = AgentPayload.decodePayload(AgentPayload.jsonPayload(AgentPayload.ChannelClosed))
const encodeHandshakeResponse = AgentPayload.encodePayload(AgentPayload.jsonPayload(AgentPayload.HandshakeResponse))
const decodeChallenge = AgentPayload.decodePayload(AgentPayload.jsonPayload(AgentPayload.EncryptionChallenge))
const encodeChallenge = AgentPayload.encodePayload(AgentPayload.jsonPayload(AgentPayload.EncryptionChallenge))

/** A JSON message of ours, sequenced like any other; a failure to send it is the channel's to report. */
const sendJson = (state: SessionState, payloadType: AgentMessage.PayloadType, payload: Uint8Array) =>
  state.channel === undefined ? Effect.void : Effect.ignore(state.channel.send(payloadType, payload))

/** Why the handshake's answer means the session cannot go on, if it does. @internal */
export const handshakeFailure = (answer: Handshake.HandshakeAnswer): SessionError | undefined =>
  Option.isSome(answer.kmsUnavailable)
    ? new SessionError({ reason: "EncryptionRequired", detail: answer.kmsUnavailable.value })
    : answer.kmsFailure !== undefined
    ? new SessionError({
      reason: "Encryption",
      detail: `kms:GenerateDataKey failed: ${answer.kmsFailure.message}`,
      cause: answer.kmsFailure
    })
    : answer.sessionType === undefined
    ? new SessionError({
      reason: "Handshake",
      detail: `the agent asked for no supported session type: ${answer.response.Errors?.join("; ")}`
    })
    : undefined

/** HandshakeRequest: answered once (a second data key would swap the cipher mid-session). @internal */
export const onHandshakeRequest = (state: SessionState, message: AgentMessage.AgentMessage): void => {
  if (state.handshakeAnswered) return
  state.handshakeAnswered = true
  state.handshakeSeen = true
  const request = decodeHandshakeRequest(message.payload)
  if (Either.isLeft(request)) {
    failWith(state, "Handshake", `the HandshakeRequest could not be read: ${request.left.detail}`, request.left)
    return
  }
  const { config, options } = state
  const context = { sessionId: options.sessionId, target: options.target, clientVersion: config.clientVersion, kms: state.kms }
  state.runFork(Effect.gen(function*() {
    const answer = yield* Handshake.answer(request.right, context)
    state.cipher = answer.cipher
    state.pendingReady = {
      sessionType: answer.sessionType ?? AgentPayload.SessionType.StandardStream,
      agentVersion: Option.some(request.right.AgentVersion),
      properties: answer.properties,
      customerMessage: "",
      handshakeDuration: Option.none()
    }
    const failure = handshakeFailure(answer)
    // the agent answers a failed response by closing the channel: that is this failure, not a plain close
    if (failure !== undefined) state.handshakeFailure = failure
    const response = encodeHandshakeResponse(answer.response)
    if (Either.isRight(response)) yield* sendJson(state, AgentMessage.PayloadType.HandshakeResponse, response.right)
    if (failure === undefined) return
    // say why before leaving, as AWS's client does: the agent then ends at once with the reason, instead of
    // waiting 15 s for a response ("Handshake timed out"). Bounded: an agent that never acknowledges it
    // cannot keep the failure from being reported.
    if (state.channel !== undefined) yield* Effect.ignore(Effect.timeout(state.channel.drained, config.terminateTimeout))
    end(state, Exit.fail(failure))
  }))
}

/** EncChallengeRequest: decrypt with the agent's half, encrypt again with ours (section 8.3). @internal */
export const onChallenge = (state: SessionState, message: AgentMessage.AgentMessage): void => {
  const request = decodeChallenge(message.payload)
  const cipher = state.cipher
  const plain = cipher === undefined || Either.isLeft(request) ? undefined : cipher.decrypt(request.right.Challenge)
  if (cipher === undefined || plain === undefined) {
    failWith(state, "Encryption", "the agent's encryption challenge did not decrypt with the data key")
    return
  }
  const response = encodeChallenge(new AgentPayload.EncryptionChallenge({ Challenge: cipher.encrypt(plain) }))
  if (Either.isRight(response)) {
    state.runFork(sendJson(state, AgentMessage.PayloadType.EncChallengeResponse, response.right))
  }
}

/** HandshakeComplete: the session is ready. @internal */
export const onHandshakeComplete = (state: SessionState, message: AgentMessage.AgentMessage): void => {
  const complete = decodeHandshakeComplete(message.payload)
  if (state.pendingReady === undefined) {
    failWith(state, "Handshake", "HandshakeComplete arrived without a HandshakeRequest")
    return
  }
  Deferred.unsafeDone(state.ready, Exit.succeed({
    ...state.pendingReady,
    customerMessage: Either.isRight(complete) ? complete.right.CustomerMessage : "",
    handshakeDuration: Either.isRight(complete) ? Option.some(complete.right.HandshakeTimeToComplete) : Option.none()
  }))
}

/**
 * Every data message in sequence: the handshake's to the handshake, the rest to delivery. Payloads are views the
 * session keeps as they are (every transport hands over buffers it does not write to again).
 * @internal
 */
export const receive = (state: SessionState, message: AgentMessage.AgentMessage): boolean => {
  switch (message.payloadType) {
    case AgentMessage.PayloadType.HandshakeRequest:
      onHandshakeRequest(state, message)
      return true
    case AgentMessage.PayloadType.HandshakeComplete:
      onHandshakeComplete(state, message)
      return true
    case AgentMessage.PayloadType.EncChallengeRequest:
      onChallenge(state, message)
      return true
    default:
      return deliver(state, message)
  }
}

/** channel_closed: the end, or the handshake's failure the agent answered by closing. @internal */
export const onChannelClosed = (state: SessionState, message: AgentMessage.AgentMessage): void => {
  if (state.handshakeFailure !== undefined) return end(state, Exit.fail(state.handshakeFailure))
  state.closedByService = true
  const closed = decodeChannelClosed(message.payload)
  const text = Either.isRight(closed) ? closed.right.Output : ""
  state.events.unsafeOffer({ _tag: "ChannelClosed", output: text })
  end(state, Exit.succeed(text))
}
