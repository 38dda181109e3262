/**
 * The binary agent message: a 120-byte big-endian header and a payload (AGENT-PROTOCOL.md sections 3 and 4).
 * Plain synchronous functions over `Uint8Array`; the public module wraps them in Schema and Either.
 *
 * @internal
 */
import * as Either from "effect/Either"
import { sha256Equals, sha256Into } from "#sha256"
import type * as AgentMessage from "../../AgentMessage.js"
import { allocate } from "./bytes.js"
import { isReasonError, ReasonError } from "../error.js"

/** @internal */
export const ErrorTypeId: AgentMessage.ErrorTypeId = Symbol.for(
  "ssm-session-manager/AgentMessage/AgentMessageError"
) as AgentMessage.ErrorTypeId

/** The one error of the agent message codecs. @internal */
export class AgentMessageError extends ReasonError(ErrorTypeId, "AgentMessageError")<
  AgentMessage.AgentMessageError.Reason
> {}

/** @internal */
export const isAgentMessageError: (u: unknown) => u is AgentMessageError = isReasonError<AgentMessageError>(
  ErrorTypeId
)

// ---------------------------------------------------------------------------------------------------------------
// layout (section 3.1)
// ---------------------------------------------------------------------------------------------------------------

/** @internal */
export const HEADER_LENGTH = 116
/** @internal */
export const PAYLOAD_OFFSET = 120
/** @internal */
export const SHORT_HEADER_LENGTH = 112
/** @internal */
export const MESSAGE_TYPE_LENGTH = 32

const TYPE_OFFSET = 4
const SCHEMA_VERSION_OFFSET = 36
const CREATED_DATE_OFFSET = 40
const SEQUENCE_NUMBER_OFFSET = 48
const FLAGS_OFFSET = 56
const MESSAGE_ID_OFFSET = 64
const DIGEST_OFFSET = 80
const PAYLOAD_TYPE_OFFSET = 112
const TWO_32 = 0x1_0000_0000
/** the largest high word of a 64-bit integer whose value is still a safe JavaScript integer */
const MAX_SAFE_HIGH = 0x1f_ffff

// the names of `AgentMessage` that this module needs, checked against them by type (importing the values would
// be a cycle: the public module imports this one)
/** `PayloadType.Undefined` */
const PAYLOAD_TYPE_UNDEFINED: typeof AgentMessage.PayloadType.Undefined = 0
/** `PayloadType.ExitCode`, the last payload type defined */
const LAST_PAYLOAD_TYPE: typeof AgentMessage.PayloadType.ExitCode = 12
/** `Flags.SynFin`, what acknowledgements carry */
const FLAGS_SYN_FIN: typeof AgentMessage.Flags.SynFin = 3

/** @internal */
export const messageTypes: ReadonlyArray<AgentMessage.MessageType> = [
  "input_stream_data",
  "output_stream_data",
  "acknowledge",
  "channel_closed",
  "start_publication",
  "pause_publication"
]

/** The 32 header bytes of each known type, space padded as the writer emits them. */
const paddedTypes = new Map<string, Uint8Array>(
  messageTypes.map((type) => {
    const bytes = new Uint8Array(MESSAGE_TYPE_LENGTH).fill(0x20)
    for (let i = 0; i < type.length; i++) bytes[i] = type.charCodeAt(i)
    return [type, bytes]
  })
)

const knownTypes = new Set<string>(messageTypes)

// ---------------------------------------------------------------------------------------------------------------
// UUID <-> wire bytes (section 3.3: the two 8-byte halves are swapped)
// ---------------------------------------------------------------------------------------------------------------

const HEX = "0123456789abcdef"
const byteToHex: Array<string> = Array.from({ length: 256 }, (_, i) => HEX[i >> 4]! + HEX[i & 15]!)
const hexValue = new Int8Array(128).fill(-1)
for (let i = 0; i < 16; i++) {
  hexValue[HEX.charCodeAt(i)] = i
  hexValue[HEX.toUpperCase().charCodeAt(i)] = i
}

/** Positions of the 32 hex digits inside the 36-character `8-4-4-4-12` form. */
const UUID_DIGIT_POSITIONS: ReadonlyArray<number> = Array.from({ length: 36 }, (_, i) => i).filter((i) =>
  i !== 8 && i !== 13 && i !== 18 && i !== 23
)

/**
 * Writes `uuid` (logical string form) at `offset` in wire order. Returns false when it is not a UUID.
 * @internal
 */
export const writeMessageId = (uuid: string, target: Uint8Array, offset: number): boolean => {
  if (uuid.length !== 36 || uuid[8] !== "-" || uuid[13] !== "-" || uuid[18] !== "-" || uuid[23] !== "-") return false
  for (let byte = 0; byte < 16; byte++) {
    const hi = uuid.charCodeAt(UUID_DIGIT_POSITIONS[byte * 2]!)
    const lo = uuid.charCodeAt(UUID_DIGIT_POSITIONS[byte * 2 + 1]!)
    const h = hi < 128 ? hexValue[hi]! : -1
    const l = lo < 128 ? hexValue[lo]! : -1
    if (h < 0 || l < 0) return false
    // logical byte `byte` goes to the other half on the wire
    target[offset + (byte < 8 ? byte + 8 : byte - 8)] = (h << 4) | l
  }
  return true
}

/**
 * Reads the wire-order id at `offset` as the logical lowercase UUID string.
 * @internal
 */
export const readMessageId = (source: Uint8Array, offset: number): string => {
  const b = (logical: number) => byteToHex[source[offset + (logical < 8 ? logical + 8 : logical - 8)]!]!
  return b(0) + b(1) + b(2) + b(3) + "-" + b(4) + b(5) + "-" + b(6) + b(7) + "-" + b(8) + b(9) + "-" +
    b(10) + b(11) + b(12) + b(13) + b(14) + b(15)
}

// ---------------------------------------------------------------------------------------------------------------
// writer (section 3.7)
// ---------------------------------------------------------------------------------------------------------------

const isUint = (n: number, max: number): boolean => Number.isInteger(n) && n >= 0 && n <= max

const setUint64 = (view: DataView, offset: number, value: number): void => {
  view.setUint32(offset, Math.floor(value / TWO_32))
  view.setUint32(offset + 4, value >>> 0)
}

const fail = (reason: AgentMessage.AgentMessageError.Reason, detail: string) =>
  Either.left(new AgentMessageError({ reason, detail }))

/**
 * Checks the fields that the wire format cannot carry, so a bad value is an error and never a corrupt frame.
 * @internal
 */
export const validateFields = (message: AgentMessage.AgentMessage): AgentMessageError | undefined => {
  const type = message.messageType as string
  if (type.length === 0) return new AgentMessageError({ reason: "MissingType", detail: "messageType is empty" })
  if (!paddedTypes.has(type)) {
    return type.length > MESSAGE_TYPE_LENGTH
      ? new AgentMessageError({ reason: "OutOfRange", detail: `messageType is longer than 32 bytes` })
      : new AgentMessageError({ reason: "UnknownMessageType", detail: `messageType ${JSON.stringify(type)}` })
  }
  if (!isUint(message.schemaVersion, 0xffff_ffff)) return outOfRange("schemaVersion", message.schemaVersion)
  if (!isUint(message.createdDate, Number.MAX_SAFE_INTEGER)) return outOfRange("createdDate", message.createdDate)
  if (message.createdDate === 0) return new AgentMessageError({ reason: "MissingDate", detail: "createdDate is 0" })
  if (!isUint(message.sequenceNumber, Number.MAX_SAFE_INTEGER)) {
    return outOfRange("sequenceNumber", message.sequenceNumber)
  }
  if (!isUint(message.flags, Number.MAX_SAFE_INTEGER)) return outOfRange("flags", message.flags)
  if (!isUint(message.payloadType, LAST_PAYLOAD_TYPE)) {
    return new AgentMessageError({ reason: "UnknownPayloadType", detail: `payloadType ${message.payloadType}` })
  }
  return undefined
}

const outOfRange = (field: string, value: number) =>
  new AgentMessageError({ reason: "OutOfRange", detail: `${field} ${value} does not fit the wire format` })

/** Writes every header field but the message id and the digest. */
const writeHeader = (
  frame: Uint8Array,
  message: Omit<AgentMessage.AgentMessage, "messageId" | "payload">,
  payloadLength: number
): void => {
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength)
  view.setUint32(0, HEADER_LENGTH)
  frame.set(paddedTypes.get(message.messageType)!, TYPE_OFFSET)
  view.setUint32(SCHEMA_VERSION_OFFSET, message.schemaVersion)
  setUint64(view, CREATED_DATE_OFFSET, message.createdDate)
  setUint64(view, SEQUENCE_NUMBER_OFFSET, message.sequenceNumber)
  setUint64(view, FLAGS_OFFSET, message.flags)
  view.setUint32(PAYLOAD_TYPE_OFFSET, message.payloadType)
  view.setUint32(HEADER_LENGTH, payloadLength)
}

/** Writes the frame, or returns undefined when `messageId` is not a UUID. */
const write = (message: AgentMessage.AgentMessage): Uint8Array | undefined => {
  const payload = message.payload
  const frame = allocate(PAYLOAD_OFFSET + payload.length)
  if (!writeMessageId(message.messageId, frame, MESSAGE_ID_OFFSET)) return undefined
  writeHeader(frame, message, payload.length)
  sha256Into(payload, frame, DIGEST_OFFSET)
  frame.set(payload, PAYLOAD_OFFSET)
  return frame
}

const textEncoder = new TextEncoder()

// random message ids, 16 bytes at a time from a pool filled 256 ids at once
const idPool = new Uint8Array(16 * 256)
let idPoolOffset = idPool.length

/** Writes a random (version 4) UUID at `offset` in wire order. */
const writeRandomMessageId = (frame: Uint8Array, offset: number): void => {
  if (idPoolOffset === idPool.length) {
    globalThis.crypto.getRandomValues(idPool)
    idPoolOffset = 0
  }
  for (let i = 0; i < 16; i++) frame[offset + i] = idPool[idPoolOffset + i]!
  idPoolOffset += 16
  // the version (logical byte 6) and the variant (logical byte 8), at their wire positions (halves swapped)
  frame[offset + 14] = (frame[offset + 14]! & 0x0f) | 0x40
  frame[offset] = (frame[offset]! & 0x3f) | 0x80
}

/**
 * An acknowledgement's JSON before each of its four values (type, message id, sequence number, sequential), as Go's
 * `json.Marshal` writes it for AWS's agent and client: what `encodeAcknowledge` writes, and the canonical form the
 * engine reads without a parser.
 * @internal
 */
export const ACKNOWLEDGE_FIELDS = [
  `{"AcknowledgedMessageType":"`,
  `","AcknowledgedMessageId":"`,
  `","AcknowledgedMessageSequenceNumber":`,
  `,"IsSequentialMessage":`
] as const
const [TYPE_FIELD, ID_FIELD, SEQUENCE_FIELD, SEQUENTIAL_FIELD] = ACKNOWLEDGE_FIELDS
const SEQUENTIAL_END = "true}"

/**
 * The largest frame `encodeAcknowledge` writes: a message type of 32 bytes (the longest the header takes), a
 * 36-character id, a sequence number of 16 digits (the largest is 2^53 - 1).
 * @internal
 */
export const MAX_ACKNOWLEDGE_FRAME = PAYLOAD_OFFSET + ACKNOWLEDGE_FIELDS.join("").length + SEQUENTIAL_END.length +
  MESSAGE_TYPE_LENGTH + 36 + 16

/**
 * The acknowledgement of a data message (section 4), built in one allocation: its JSON written straight into the
 * frame, a random message id straight from a pool of random bytes. `messageType` and `messageId` are those of a
 * decoded frame (ASCII: a known type, and a UUID as `readMessageId` writes it).
 * @internal
 */
export const encodeAcknowledge = (
  messageType: AgentMessage.MessageType,
  messageId: string,
  sequenceNumber: number,
  createdDate: number
): Uint8Array => {
  const json = TYPE_FIELD + messageType + ID_FIELD + messageId + SEQUENCE_FIELD + sequenceNumber + SEQUENTIAL_FIELD +
    SEQUENTIAL_END
  const frame = allocate(PAYLOAD_OFFSET + json.length)
  writeRandomMessageId(frame, MESSAGE_ID_OFFSET)
  writeHeader(frame, {
    messageType: "acknowledge",
    schemaVersion: 1,
    createdDate,
    sequenceNumber: 0,
    flags: FLAGS_SYN_FIN,
    payloadType: PAYLOAD_TYPE_UNDEFINED
  }, json.length)
  const payload = frame.subarray(PAYLOAD_OFFSET)
  // ASCII, so as many bytes as characters
  textEncoder.encodeInto(json, payload)
  sha256Into(payload, frame, DIGEST_OFFSET)
  return frame
}

const invalidMessageId = (messageId: string) =>
  new AgentMessageError({ reason: "InvalidMessageId", detail: `messageId ${JSON.stringify(messageId)} is not a UUID` })

/**
 * Serializes without validating the numeric fields: for messages the library built itself.
 * Throws an `AgentMessageError` on a malformed `messageId`.
 * @internal
 */
export const unsafeEncode = (message: AgentMessage.AgentMessage): Uint8Array => {
  const frame = write(message)
  if (frame === undefined) throw invalidMessageId(message.messageId)
  return frame
}

/** @internal */
export const encode = (message: AgentMessage.AgentMessage): Either.Either<Uint8Array, AgentMessageError> => {
  const invalid = validateFields(message)
  if (invalid !== undefined) return Either.left(invalid)
  const frame = write(message)
  return frame === undefined ? Either.left(invalidMessageId(message.messageId)) : Either.right(frame)
}

// ---------------------------------------------------------------------------------------------------------------
// reader (sections 3.4 to 3.6)
// ---------------------------------------------------------------------------------------------------------------

const isPadding = (byte: number): boolean => byte === 0x00 || byte === 0x20 || (byte >= 0x09 && byte <= 0x0d)

const paddedTypeList = Array.from(paddedTypes)

const equalsAt = (frame: Uint8Array, offset: number, expected: Uint8Array): boolean => {
  for (let i = 0; i < expected.length; i++) {
    if (frame[offset + i] !== expected[i]) return false
  }
  return true
}

/**
 * Whether a frame's MessageType field holds `type` as every AWS writer (and this one) pads it, without decoding the
 * frame: for transports that treat some frames apart.
 * @internal
 */
export const hasMessageType = (frame: Uint8Array, type: AgentMessage.MessageType): boolean =>
  frame.length >= TYPE_OFFSET + MESSAGE_TYPE_LENGTH && equalsAt(frame, TYPE_OFFSET, paddedTypes.get(type)!)

/** Trims NUL and white space from both ends of the type field, as the Go reader does. */
const readMessageType = (frame: Uint8Array): string => {
  // fast path: the canonical space padding that every AWS writer emits
  for (const [type, padded] of paddedTypeList) {
    if (frame[TYPE_OFFSET] === padded[0] && equalsAt(frame, TYPE_OFFSET, padded)) return type
  }
  let start = TYPE_OFFSET
  let end = TYPE_OFFSET + MESSAGE_TYPE_LENGTH
  while (start < end && isPadding(frame[start]!)) start++
  while (end > start && isPadding(frame[end - 1]!)) end--
  let type = ""
  for (let i = start; i < end; i++) type += String.fromCharCode(frame[i]!)
  return type
}

/** A big-endian 32-bit unsigned integer at `offset` (a header field, a Flag payload). @internal */
export const readUint32 = (frame: Uint8Array, offset: number): number =>
  ((frame[offset]! << 24) | (frame[offset + 1]! << 16) | (frame[offset + 2]! << 8) | frame[offset + 3]!) >>> 0

/** A big-endian 64-bit unsigned integer, or -1 when it is beyond 2^53. */
const readUint64 = (frame: Uint8Array, offset: number): number => {
  const high = readUint32(frame, offset)
  return high > MAX_SAFE_HIGH ? -1 : high * TWO_32 + readUint32(frame, offset + 4)
}

const digestMatches = (frame: Uint8Array, payload: Uint8Array): boolean => sha256Equals(payload, frame, DIGEST_OFFSET)

/**
 * Parses one frame. The payload is a view into `frame` (no copy). With `anyPayloadType`, a PayloadType beyond
 * the known ones is kept as it is (AWS's client does not check it, section 3.5), for a receiver that skips what it
 * does not know instead of refusing the frame.
 * @internal
 */
export const decode = (
  frame: Uint8Array,
  anyPayloadType = false
): Either.Either<AgentMessage.AgentMessage, AgentMessageError> => {
  if (frame.length < SHORT_HEADER_LENGTH + 4) {
    return fail("TooShort", `a frame needs at least 116 bytes, got ${frame.length}`)
  }
  const headerLength = readUint32(frame, 0)
  if (headerLength < SHORT_HEADER_LENGTH) return fail("HeaderLength", `HeaderLength ${headerLength} is below 112`)
  if (headerLength + 4 > frame.length) {
    return fail("HeaderLength", `HeaderLength ${headerLength} + 4 is beyond the frame of ${frame.length} bytes`)
  }
  const messageType = readMessageType(frame)
  if (messageType.length === 0) return fail("MissingType", "MessageType is empty")
  if (!knownTypes.has(messageType)) return fail("UnknownMessageType", `MessageType ${JSON.stringify(messageType)}`)
  const publication = messageType === "start_publication" || messageType === "pause_publication"
  const createdDate = readUint64(frame, CREATED_DATE_OFFSET)
  if (createdDate === 0 && !publication) return fail("MissingDate", "CreatedDate is 0")
  const sequenceNumber = readUint64(frame, SEQUENCE_NUMBER_OFFSET)
  const flags = readUint64(frame, FLAGS_OFFSET)
  if (createdDate < 0 || sequenceNumber < 0 || flags < 0) {
    return fail("OutOfRange", "CreatedDate, SequenceNumber or Flags is beyond 2^53")
  }
  let payloadType = headerLength >= HEADER_LENGTH ? readUint32(frame, PAYLOAD_TYPE_OFFSET) : PAYLOAD_TYPE_UNDEFINED
  if (payloadType > LAST_PAYLOAD_TYPE) {
    // start/pause_publication are reported to carry garbage beyond the type; nothing reads their payload
    if (publication) payloadType = PAYLOAD_TYPE_UNDEFINED
    else if (!anyPayloadType) return fail("UnknownPayloadType", `PayloadType ${payloadType}`)
  }
  const payload = frame.subarray(headerLength + 4)
  if (!publication && payload.length > 0 && !digestMatches(frame, payload)) {
    return fail("DigestMismatch", "PayloadDigest is not the SHA-256 of the payload")
  }
  return Either.right({
    messageType: messageType as AgentMessage.MessageType,
    schemaVersion: readUint32(frame, SCHEMA_VERSION_OFFSET),
    createdDate,
    sequenceNumber,
    flags,
    messageId: readMessageId(frame, MESSAGE_ID_OFFSET),
    payloadType: payloadType as AgentMessage.PayloadType,
    payload
  })
}
