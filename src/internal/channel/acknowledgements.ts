/**
 * The acknowledgements a channel writes, and how it reads those it gets.
 *
 * Writing: every accepted message (and every duplicate) is acknowledged at once and, with `repeatAckAfter`, once
 * more a little later (the agent resends only its oldest unacknowledged message, one per 100 ms, so every lost or
 * overtaken ack would otherwise cost a slot).
 *
 * Acknowledgements are never dropped. While the transport holds `MAX_UNSENT_BYTES` of our frames that the network
 * has not taken (`congestion`: a peer that does not read), an acknowledgement waits in the engine instead, one entry
 * per sequence number (a duplicate or a repeat of one that waits adds nothing), and all go out as soon as the
 * transport drains or a new one carries the channel. That set is bounded (`MAX_PENDING_ACKS`): when it is full the
 * engine accepts no more messages, as when its receive buffer is full (the peer resends them later), so an accepted
 * message is always acknowledged.
 *
 * Reading: an `acknowledge` payload is decoded by `AcknowledgePayload`, a Schema; the canonical form every agent
 * writes takes a shortcut to the same answer (`canonicalAcknowledgedSequence`, checked against the Schema).
 *
 * @internal
 */
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import type * as AgentMessage from "../../AgentMessage.js"
import * as internalMessage from "../protocol/agentMessage.js"
import * as GoJson from "../protocol/goJson.js"
import type { ChannelState } from "./dataChannelState.js"
import * as AckRing from "./ackRing.js"
import { congested, currentMillis, MAX_PENDING_ACKS, write } from "./dataChannelState.js"

// ---------------------------------------------------------------------------------------------------------------
// reading an acknowledgement
// ---------------------------------------------------------------------------------------------------------------

/**
 * An `acknowledge` payload as the engine reads it (section 6.3), through Go's reading of JSON (`GoJson.lenient`: keys
 * match whatever their case, as the agent's `encoding/json` and the engine's regular expression before matched
 * them). `AgentPayload.Acknowledge` is the public, complete schema; this one is for the hot path, one decode per
 * message sent: the sequence number is any number (one that is no sequence number in flight matches nothing, as an
 * unknown one does), and the other fields, which the engine does not use, may be absent. The sequence number is
 * optional here only so that Go's reading leaves a missing one out instead of reading 0: `readAcknowledge` takes
 * an acknowledgement without one for none (Go would acknowledge the first message).
 * @internal
 */
export const AcknowledgePayload = Schema.Struct({
  AcknowledgedMessageType: Schema.optional(Schema.String),
  AcknowledgedMessageId: Schema.optional(Schema.String),
  AcknowledgedMessageSequenceNumber: Schema.optional(Schema.Number),
  IsSequentialMessage: Schema.optional(Schema.Boolean)
})

/** An acknowledgement the engine can use: one that names a sequence number. @internal */
export type Acknowledgement = typeof AcknowledgePayload.Type & { readonly AcknowledgedMessageSequenceNumber: number }

const decodeAcknowledge = Schema.decodeUnknownEither(GoJson.lenient(AcknowledgePayload))
const textDecoder = new TextDecoder()
const textEncoder = new TextEncoder()

/**
 * The `acknowledge` payload in `payload`, or undefined when it is not one (not UTF-8 JSON, or not of that shape):
 * a malformed acknowledgement is ignored, never a defect.
 * @internal
 */
export const readAcknowledge = (payload: Uint8Array): Acknowledgement | undefined => {
  let json: unknown
  try {
    json = JSON.parse(textDecoder.decode(payload))
  } catch {
    return undefined
  }
  const decoded = decodeAcknowledge(json)
  return Either.isRight(decoded) && decoded.right.AcknowledgedMessageSequenceNumber !== undefined
    ? decoded.right as Acknowledgement
    : undefined
}

const CANONICAL_PARTS = internalMessage.ACKNOWLEDGE_FIELDS.map((part) => textEncoder.encode(part))
const TRUE_END = textEncoder.encode("true}")
const FALSE_END = textEncoder.encode("false}")
const QUOTE = 0x22
const BACKSLASH = 0x5c
const MINUS = 0x2d
const DIGIT_0 = 0x30
const DIGIT_9 = 0x39
/** digits read without a JSON parser: below 2^53, where adding digits in doubles is exact, as `JSON.parse` reads */
const MAX_FAST_DIGITS = 15

/** Whether `part` is in `payload` at `at`. */
const matchesAt = (payload: Uint8Array, at: number, part: Uint8Array): boolean => {
  if (at + part.length > payload.length) return false
  for (let i = 0; i < part.length; i++) if (payload[at + i] !== part[i]) return false
  return true
}

/** The end of a JSON string's text (its closing quote) from `at`, or -1 when it holds an escape or never ends. */
const plainStringEnd = (payload: Uint8Array, at: number): number => {
  for (let i = at; i < payload.length; i++) {
    const byte = payload[i]
    if (byte === QUOTE) return i
    if (byte === BACKSLASH || byte! < 0x20) return -1
  }
  return -1
}

/**
 * The sequence number of an acknowledgement written in the canonical form (the one AWS's agent and client, and
 * `encodeAcknowledge`, write: Go's `json.Marshal` of the struct, its four fields in order, no spaces, strings
 * without escapes, an integer of at most 15 digits), read without a parser; undefined for any other form. Where it
 * answers, `AcknowledgePayload` decodes the same payload to the same number (a property test checks it), so
 * this is only the cheap way to the Schema's answer: one comparison per byte instead of `JSON.parse` and a decode.
 * @internal
 */
export const canonicalAcknowledgedSequence = (payload: Uint8Array): number | undefined => {
  if (!matchesAt(payload, 0, CANONICAL_PARTS[0]!)) return undefined
  const typeEnd = plainStringEnd(payload, CANONICAL_PARTS[0]!.length)
  if (typeEnd < 0 || !matchesAt(payload, typeEnd, CANONICAL_PARTS[1]!)) return undefined
  const idEnd = plainStringEnd(payload, typeEnd + CANONICAL_PARTS[1]!.length)
  if (idEnd < 0 || !matchesAt(payload, idEnd, CANONICAL_PARTS[2]!)) return undefined
  let at = idEnd + CANONICAL_PARTS[2]!.length
  const negative = payload[at] === MINUS
  if (negative) at++
  const digitsStart = at
  let sequence = 0
  while (at < payload.length && payload[at]! >= DIGIT_0 && payload[at]! <= DIGIT_9) {
    sequence = sequence * 10 + payload[at]! - DIGIT_0
    at++
  }
  const digits = at - digitsStart
  // JSON numbers have no leading zeros; "-0" is -0 to JSON.parse: both go to the parser
  if (digits === 0 || digits > MAX_FAST_DIGITS || (digits > 1 && payload[digitsStart] === DIGIT_0)) return undefined
  if (negative && sequence === 0) return undefined
  if (!matchesAt(payload, at, CANONICAL_PARTS[3]!)) return undefined
  at += CANONICAL_PARTS[3]!.length
  const end = matchesAt(payload, at, TRUE_END) ? at + TRUE_END.length : matchesAt(payload, at, FALSE_END) ? at + FALSE_END.length : -1
  if (end !== payload.length) return undefined
  return negative ? -sequence : sequence
}

/**
 * The sequence number an `acknowledge` payload names: the canonical form read directly, any other form decoded by
 * `AcknowledgePayload`; undefined when it is no acknowledgement.
 * @internal
 */
export const acknowledgedSequence = (payload: Uint8Array): number | undefined =>
  canonicalAcknowledgedSequence(payload) ?? readAcknowledge(payload)?.AcknowledgedMessageSequenceNumber

const NO_MESSAGE_ID = "00000000-0000-0000-0000-000000000000"

/** The message id an acknowledgement frame of ours names (read back only when its repeat must wait). @internal */
export const acknowledgedMessageId = (frame: Uint8Array): string =>
  readAcknowledge(frame.subarray(internalMessage.PAYLOAD_OFFSET))?.AcknowledgedMessageId ?? NO_MESSAGE_ID

const idScratch = new Uint8Array(36)

/**
 * A message id in one piece, for an acknowledgement that waits: the decoder builds ids from some 20 short strings,
 * a rope that holds about 500 bytes where the flat string holds 60.
 * @internal
 */
export const flatMessageId = (messageId: string): string => {
  if (messageId.length !== 36) return messageId
  textEncoder.encodeInto(messageId, idScratch)
  return textDecoder.decode(idScratch)
}

// ---------------------------------------------------------------------------------------------------------------
// writing acknowledgements
// ---------------------------------------------------------------------------------------------------------------

/**
 * Encodes and writes one acknowledgement, and keeps it in the ring of recent ones; with `repeat`, it goes once more
 * `repeatAckAfter` later (the same bytes: the agent matches acknowledgements by sequence number only).
 * @internal
 */
export const writeAck = (state: ChannelState, sequence: number, messageId: string, now: number, repeat: boolean) => {
  const frame = internalMessage.encodeAcknowledge(state.receiveType, messageId, sequence, Math.max(1, now))
  write(state, frame)
  const lapped = AckRing.lapped(state.acks)
  if (lapped !== undefined) repeatAck(state, lapped)
  const due = repeat && state.repeatAckAfter > 0 ? now + state.repeatAckAfter : 0
  const wasIdle = state.acks.repeatsDue === 0
  AckRing.keep(state.acks, frame, sequence, due)
  if (wasIdle && state.acks.repeatsDue > 0) state.repeatAcksDue.unsafeOpen()
}

/** Asks the transport, once at a time, to say when it has drained: `flushAcks` then writes what waits. @internal */
export const requestDrain = (state: ChannelState): void => {
  const congestion = state.options.congestion
  if (state.drainRequested || congestion === undefined) return
  state.drainRequested = true
  congestion.whenDrained(() => flushAcks(state))
}

/**
 * The acknowledgement waits for the transport to drain: one entry per sequence number, whatever asks again.
 * @internal
 */
export const holdAck = (state: ChannelState, sequence: number, messageId: () => string): void => {
  if (!state.pendingAcks.has(sequence)) state.pendingAcks.set(sequence, messageId())
  requestDrain(state)
}

/**
 * Writes the acknowledgements that wait, oldest first, while the transport takes them. Not repeated: the
 * repeat is for an acknowledgement that overtakes the agent's recording of its message, and these are late.
 * @internal
 */
export const flushAcks = (state: ChannelState): void => {
  state.drainRequested = false
  if (state.pendingAcks.size === 0 || state.failure !== undefined) return
  const now = currentMillis(state)
  for (const [sequence, messageId] of state.pendingAcks) {
    if (congested(state)) break
    // deleting the entry being visited is safe in a Map's iteration
    state.pendingAcks.delete(sequence)
    writeAck(state, sequence, messageId, now, false)
  }
  if (state.pendingAcks.size > 0) requestDrain(state)
}

/** Acknowledges an accepted message (or a duplicate): now, or once the congested transport drains. @internal */
export const sendAck = (state: ChannelState, message: AgentMessage.AgentMessage, now: number): void => {
  // behind those that wait, or into the wait while the transport is full: never dropped
  if (state.pendingAcks.size > 0 && !congested(state)) flushAcks(state)
  if (state.pendingAcks.size > 0 || congested(state)) {
    return holdAck(state, message.sequenceNumber, () => flatMessageId(message.messageId))
  }
  writeAck(state, message.sequenceNumber, message.messageId, now, true)
}

/**
 * Whether the acknowledgement of `sequence` has room to wait if it must: false only while `MAX_PENDING_ACKS`
 * wait already (the message is then not accepted, and the peer sends it again later).
 * @internal
 */
export const ackRoom = (state: ChannelState, sequence: number): boolean => {
  if (state.pendingAcks.size < MAX_PENDING_ACKS || state.pendingAcks.has(sequence)) return true
  if (!congested(state)) flushAcks(state)
  return state.pendingAcks.size < MAX_PENDING_ACKS
}

/** Writes an entry of the ring once more, or into the wait while the transport is full (the first went out). */
const repeatAck = (state: ChannelState, slot: number): void => {
  AckRing.repeated(state.acks, slot)
  const sequence = AckRing.sequenceAt(state.acks, slot)
  // copied before `ackRoom`, whose flush may write enough acknowledgements to reuse the entry
  const frame = AckRing.frameAt(state.acks, slot)
  if (state.pendingAcks.size > 0 || congested(state)) {
    if (ackRoom(state, sequence)) holdAck(state, sequence, () => acknowledgedMessageId(frame))
  } else {
    write(state, frame)
  }
}

/**
 * Writes once more every acknowledgement due by `now`; returns the ms until the next one is due, or -1 when none
 * waits (the repeat fiber then sleeps on `repeatAcksDue`).
 * @internal
 */
export const repeatDueAcks = (state: ChannelState, now: number): number => {
  for (let slot = AckRing.nextRepeat(state.acks); slot !== undefined; slot = AckRing.nextRepeat(state.acks)) {
    const due = state.acks.due[slot]!
    if (due > now) return due - now
    repeatAck(state, slot)
  }
  state.repeatAcksDue.unsafeClose()
  return -1
}

/**
 * Writes the latest acknowledgements again, and those that wait, on a new transport: any of them may have been lost
 * with the old one.
 * @internal
 */
export const rewriteAcks = (state: ChannelState): void => {
  for (const slot of AckRing.slots(state.acks)) write(state, AckRing.frameAt(state.acks, slot))
  // those that waited for the old transport go on this one (its drain callback may never come)
  flushAcks(state)
}
