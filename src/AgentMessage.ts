/**
 * The Session Manager agent message: the binary frame that carries everything on the data channel, as a typed
 * model, a Schema codec and plain synchronous `encode`/`decode` functions for hot paths. Byte-exact with the
 * serializer of AWS's session-manager-plugin and amazon-ssm-agent.
 *
 * @since 0.1.0
 */
import type * as Cause from "effect/Cause"
import type * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as internal from "./internal/protocol/agentMessage.js"

// ---------------------------------------------------------------------------------------------------------------
// constants and enumerations
// ---------------------------------------------------------------------------------------------------------------

/**
 * The `MessageType` values a data channel carries (section 4.1).
 *
 * @since 0.1.0
 * @category models
 */
export const MessageType = {
  /** client → agent data, sequenced */
  InputStreamData: "input_stream_data",
  /** agent → client data, sequenced */
  OutputStreamData: "output_stream_data",
  /** acknowledgement of one sequenced message, both ways */
  Acknowledge: "acknowledge",
  /** service → client: the channel is closed */
  ChannelClosed: "channel_closed",
  /** service → client: the other side is back, sending may resume */
  StartPublication: "start_publication",
  /** service → client: the other side is away, stop sending new data */
  PausePublication: "pause_publication"
} as const

/**
 * @since 0.1.0
 * @category models
 */
export type MessageType = typeof MessageType[keyof typeof MessageType]

/**
 * The `PayloadType` values (section 4.2).
 *
 * @since 0.1.0
 * @category models
 */
export const PayloadType = {
  /** acknowledgements and service messages */
  Undefined: 0,
  /** raw bytes: terminal I/O, port bytes, the smux stream */
  Output: 1,
  /** defined, unused */
  Error: 2,
  /** terminal size JSON, client → agent */
  Size: 3,
  /** defined, unused */
  Parameter: 4,
  /** handshake request JSON, agent → client */
  HandshakeRequest: 5,
  /** handshake response JSON, client → agent */
  HandshakeResponse: 6,
  /** handshake complete JSON, agent → client */
  HandshakeComplete: 7,
  /** KMS challenge JSON, agent → client */
  EncChallengeRequest: 8,
  /** KMS challenge JSON, client → agent */
  EncChallengeResponse: 9,
  /** a 4-byte big-endian flag, both ways */
  Flag: 10,
  /** standard error of a non-interactive command, agent → client */
  StdErr: 11,
  /** `EXIT_CODE: <n>`, agent → client */
  ExitCode: 12
} as const

/**
 * @since 0.1.0
 * @category models
 */
export type PayloadType = typeof PayloadType[keyof typeof PayloadType]

/**
 * Bits of the message `Flags` field (section 6.1). Data messages carry 0 (the agent sets SYN on its first),
 * acknowledgements carry SYN|FIN; nobody reads the field on receipt.
 *
 * @since 0.1.0
 * @category models
 */
export const Flags = {
  None: 0,
  Syn: 1,
  Fin: 2,
  SynFin: 3
} as const

/**
 * One of the values of `Flags`.
 *
 * @since 0.3.0
 * @category models
 */
export type Flags = typeof Flags[keyof typeof Flags]

/**
 * The values of a `Flag` payload (PayloadType 10, section 6.2).
 *
 * @since 0.1.0
 * @category models
 */
export const FlagPayload = {
  /** client, basic port forwarding: the local connection went away */
  DisconnectToPort: 1,
  /** client, port sessions: end the session */
  TerminateSession: 2,
  /** agent, mux port forwarding: the destination of a new stream could not be dialled */
  ConnectToPortError: 3
} as const

/**
 * @since 0.1.0
 * @category models
 */
export type FlagPayload = typeof FlagPayload[keyof typeof FlagPayload]

/**
 * `HeaderLength` as every writer emits it: the offset of `PayloadLength`.
 *
 * @since 0.1.0
 * @category constants
 */
export const HeaderLength: number = internal.HEADER_LENGTH

/**
 * Where the payload starts in a frame that this library writes.
 *
 * @since 0.1.0
 * @category constants
 */
export const PayloadOffset: number = internal.PAYLOAD_OFFSET

// ---------------------------------------------------------------------------------------------------------------
// errors
// ---------------------------------------------------------------------------------------------------------------

/**
 * @since 0.1.0
 * @category type ids
 */
export const ErrorTypeId: unique symbol = internal.ErrorTypeId as ErrorTypeId

/**
 * @since 0.1.0
 * @category type ids
 */
export type ErrorTypeId = typeof ErrorTypeId

/**
 * The one error of this module: a frame or payload that cannot be read, or a message that cannot be written.
 *
 * @since 0.1.0
 * @category errors
 */
export interface AgentMessageError {
  readonly [ErrorTypeId]: ErrorTypeId
  readonly _tag: "AgentMessageError"
  readonly reason: AgentMessageError.Reason
  readonly detail: string
  readonly cause?: unknown
  readonly message: string
}

/**
 * @since 0.1.0
 * @category errors
 */
export declare namespace AgentMessageError {
  /**
   * - `TooShort`: fewer bytes than the smallest header.
   * - `HeaderLength`: `HeaderLength` below 112, or past the end of the frame.
   * - `DigestMismatch`: `PayloadDigest` is not the SHA-256 of the payload.
   * - `MissingType` / `MissingDate`: empty `MessageType`, zero `CreatedDate`.
   * - `UnknownMessageType` / `UnknownPayloadType`: a value this protocol does not define.
   * - `OutOfRange`: a number the wire format (or a JavaScript number) cannot carry.
   * - `InvalidMessageId`: a `messageId` that is not a UUID.
   * - `InvalidPayload`: a payload that is not the JSON or bytes its payload type requires.
   *
   * @since 0.1.0
   * @category errors
   */
  export type Reason =
    | "TooShort"
    | "HeaderLength"
    | "DigestMismatch"
    | "MissingType"
    | "MissingDate"
    | "UnknownMessageType"
    | "UnknownPayloadType"
    | "OutOfRange"
    | "InvalidMessageId"
    | "InvalidPayload"
}

/**
 * @since 0.1.0
 * @category errors
 */
export const AgentMessageError: new(args: {
  readonly reason: AgentMessageError.Reason
  readonly detail: string
  readonly cause?: unknown
}) => AgentMessageError & Cause.YieldableError = internal.AgentMessageError

/**
 * @since 0.1.0
 * @category refinements
 */
export const isAgentMessageError: (u: unknown) => u is AgentMessageError = internal.isAgentMessageError

// ---------------------------------------------------------------------------------------------------------------
// the message
// ---------------------------------------------------------------------------------------------------------------

const SafeUint = Schema.Int.pipe(Schema.between(0, Number.MAX_SAFE_INTEGER))

/**
 * A message id in its logical (JSON) form: a lowercase hyphenated UUID. On the wire its halves are swapped.
 *
 * @since 0.1.0
 * @category schemas
 */
export const MessageId: Schema.filter<typeof Schema.String> = Schema.String.pipe(
  Schema.pattern(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/),
  Schema.annotations({ identifier: "MessageId" })
)

const messageFields = {
  messageType: Schema.Literal(...Object.values(MessageType)),
  schemaVersion: Schema.Int.pipe(Schema.between(0, 0xffff_ffff)),
  /** epoch milliseconds */
  createdDate: SafeUint,
  sequenceNumber: SafeUint,
  flags: SafeUint,
  messageId: MessageId,
  payloadType: Schema.Literal(...Object.values(PayloadType)),
  payload: Schema.Uint8ArrayFromSelf
}

/**
 * The schema of a decoded agent message.
 *
 * @since 0.1.0
 * @category schemas
 */
export const AgentMessage: Schema.Struct<typeof messageFields> = Schema.Struct(messageFields).annotations({
  identifier: "AgentMessage"
})

/**
 * A decoded agent message. `createdDate` is epoch milliseconds, `messageId` the logical UUID string, and a
 * decoded `payload` is a view into the frame it came from.
 *
 * @since 0.1.0
 * @category models
 */
export interface AgentMessage extends Schema.Schema.Type<typeof AgentMessage> {}

/**
 * Builds a message, filling what is not given: schema version 1, the current time, a fresh random id,
 * sequence number 0, flags 0, payload type `Undefined` and an empty payload.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  fields: Pick<AgentMessage, "messageType"> & Partial<Omit<AgentMessage, "messageType">>
): AgentMessage => ({
  messageType: fields.messageType,
  schemaVersion: fields.schemaVersion ?? 1,
  createdDate: fields.createdDate ?? Date.now(),
  sequenceNumber: fields.sequenceNumber ?? 0,
  flags: fields.flags ?? Flags.None,
  messageId: fields.messageId ?? globalThis.crypto.randomUUID(),
  payloadType: fields.payloadType ?? PayloadType.Undefined,
  payload: fields.payload ?? new Uint8Array(0)
})

// ---------------------------------------------------------------------------------------------------------------
// codecs
// ---------------------------------------------------------------------------------------------------------------

/**
 * Reads one frame (one WebSocket message). Tolerant where the protocol needs it: the 112-byte header of
 * `channel_closed`, NUL or space padding of the type, the payload taken from `HeaderLength + 4` to the end
 * whatever `PayloadLength` says. Strict where it must be: bounds, digest (except for start/pause_publication),
 * non-empty type, non-zero date. Never throws. The payload is a view into `frame`, not a copy.
 *
 * @since 0.1.0
 * @category codecs
 */
export const decode: (frame: Uint8Array) => Either.Either<AgentMessage, AgentMessageError> = internal.decode

/**
 * Writes one frame: HeaderLength 116, space-padded type, swapped id halves, SHA-256 digest. A value that the
 * wire format cannot carry (a sequence number beyond 2^53, an unknown type, a malformed id) is an
 * `AgentMessageError`, never a corrupt frame.
 *
 * Frames of up to 4 KiB are carved from a shared 64 KiB slab, as Node's `Buffer` pool does (a fresh small
 * `Uint8Array` costs as much as hashing it): the result is a view whose `buffer` is shared with other frames, and
 * never rewritten. Send it or copy it; `frame.buffer` is not the frame (use `frame.slice()` for an `ArrayBuffer`
 * of its own).
 *
 * @since 0.1.0
 * @category codecs
 */
export const encode: (message: AgentMessage) => Either.Either<Uint8Array, AgentMessageError> = internal.encode

/**
 * `encode` without the range checks, for messages built by trusted code on hot paths. It throws an
 * `AgentMessageError` on a malformed `messageId`.
 *
 * @since 0.1.0
 * @category codecs
 */
export const unsafeEncode: (message: AgentMessage) => Uint8Array = internal.unsafeEncode

/**
 * The frame codec as a Schema: `Uint8Array` <-> `AgentMessage`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const FromBytes: Schema.Schema<AgentMessage, Uint8Array> = Schema.transformOrFail(
  Schema.Uint8ArrayFromSelf,
  AgentMessage,
  {
    strict: true,
    decode: (frame, _, ast) => {
      const result = internal.decode(frame)
      return result._tag === "Right"
        ? ParseResult.succeed(result.right)
        : ParseResult.fail(new ParseResult.Type(ast, frame, result.left.message))
    },
    encode: (message, _, ast) => {
      const result = internal.encode(message)
      return result._tag === "Right"
        ? ParseResult.succeed(result.right)
        : ParseResult.fail(new ParseResult.Type(ast, message, result.left.message))
    }
  }
).annotations({ identifier: "AgentMessage.FromBytes" })
