/**
 * The payloads carried inside agent messages: JSON bodies with AWS's exact field names (acknowledgement,
 * handshake, encryption challenge, channel closed, terminal size), the OpenDataChannel text frame, and the 4-byte
 * flag.
 *
 * JSON bodies are read the way Go's `encoding/json` reads them into the agent's and the plugin's structs, in
 * both roles: a missing field (or one that is `null`) holds its Go zero value (`""`, `0`, `false`, `null` for
 * pointers and nullable slices, `[]` for other slices, a zero struct), keys match field names exactly or else
 * case-insensitively, and unknown fields are ignored. A value of the wrong type is still an `InvalidPayload`
 * error, as it is an error in Go. What this module writes is exactly what the Go types marshal.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as AgentMessage from "./AgentMessage.js"
import * as GoJson from "./internal/protocol/goJson.js"

const Int64 = Schema.Int.pipe(Schema.between(0, Number.MAX_SAFE_INTEGER))
const Uint32 = Schema.Int.pipe(Schema.between(0, 0xffff_ffff))

const invalidPayload = (error: ParseResult.ParseError): AgentMessage.AgentMessageError =>
  new AgentMessage.AgentMessageError({
    reason: "InvalidPayload",
    detail: ParseResult.TreeFormatter.formatErrorSync(error),
    cause: error
  })

// ---------------------------------------------------------------------------------------------------------------
// acknowledgement (section 6.3)
// ---------------------------------------------------------------------------------------------------------------

/**
 * The body of an `acknowledge` message.
 *
 * @since 0.1.0
 * @category schemas
 */
export class Acknowledge extends Schema.Class<Acknowledge>("Acknowledge")({
  AcknowledgedMessageType: Schema.String,
  AcknowledgedMessageId: Schema.String,
  AcknowledgedMessageSequenceNumber: Int64,
  IsSequentialMessage: Schema.Boolean
}) {}

// ---------------------------------------------------------------------------------------------------------------
// handshake (section 7)
// ---------------------------------------------------------------------------------------------------------------

/**
 * The session types an agent may announce (section 1).
 *
 * @since 0.1.0
 * @category models
 */
export const SessionType = {
  StandardStream: "Standard_Stream",
  Port: "Port",
  InteractiveCommands: "InteractiveCommands",
  NonInteractiveCommands: "NonInteractiveCommands"
} as const

/**
 * One of the session types of `SessionType`, as a union: `switch (type) { case SessionType.Port: … }`.
 *
 * @since 0.3.0
 * @category models
 */
export type SessionType = typeof SessionType[keyof typeof SessionType]

/**
 * True for the session types this library knows (what an agent's `SessionType` action may name).
 *
 * @since 0.3.0
 * @category refinements
 */
export const isSessionType = (u: unknown): u is SessionType => typeof u === "string" && sessionTypes.has(u)
const sessionTypes = new Set<unknown>(Object.values(SessionType))

/**
 * The `type` property of a Port session's document: `LocalPortForwarding` asks for smux multiplexing (with
 * agents after 3.0.196.0); anything else, or none, is the basic one-connection forwarder.
 *
 * @since 0.3.0
 * @category models
 */
export const PortType = { LocalPortForwarding: "LocalPortForwarding" } as const

/**
 * A Port session's properties as the agent reads them (`PortParameters`, `session/plugins/port/port.go`): strings,
 * missing ones `""`; `portNumber` may also be a number, as hand-written documents hold it. See `decodePortProperties`.
 *
 * @since 0.3.0
 * @category schemas
 */
export class PortProperties extends Schema.Class<PortProperties>("PortProperties")({
  portNumber: Schema.Union(Schema.String, Schema.Number),
  type: Schema.String,
  host: Schema.String
}) {}

/**
 * Reads a Port session's `properties` (as a handshake carries them, already parsed) the way the agent does:
 * missing fields and `null` properties at their zero values. Never throws.
 *
 * @since 0.3.0
 * @category codecs
 */
export const decodePortProperties = (
  properties: Readonly<Record<string, unknown>> | null | undefined
): Either.Either<PortProperties, AgentMessage.AgentMessageError> =>
  Either.mapLeft(decodePortPropertiesEither(properties ?? {}), invalidPayload)
const decodePortPropertiesEither = Schema.decodeUnknownEither(GoJson.lenient(PortProperties))

/**
 * A requested `SessionType` action: the session type and the document's properties (null for shells).
 *
 * @since 0.1.0
 * @category schemas
 */
export class SessionTypeAction extends Schema.Class<SessionTypeAction>("SessionTypeAction")({
  ActionType: Schema.Literal("SessionType"),
  ActionParameters: Schema.Struct({
    SessionType: Schema.String,
    Properties: Schema.optionalWith(Schema.NullOr(Schema.Record({ key: Schema.String, value: Schema.Unknown })), {
      default: () => null
    })
  })
}) {}

/**
 * A requested `KMSEncryption` action: the key to use and, from agent 3.3.808.0, a random challenge
 * (base64 of 16 bytes) to add to the KMS encryption context.
 *
 * @since 0.1.0
 * @category schemas
 */
export class KmsEncryptionAction extends Schema.Class<KmsEncryptionAction>("KmsEncryptionAction")({
  ActionType: Schema.Literal("KMSEncryption"),
  ActionParameters: Schema.Struct({
    KMSKeyId: Schema.String,
    Challenge: Schema.optional(Schema.String)
  })
}) {}

/**
 * A requested action of a type this library does not know; it is answered as unsupported.
 *
 * @since 0.1.0
 * @category schemas
 */
export class UnknownAction extends Schema.Class<UnknownAction>("UnknownAction")({
  ActionType: Schema.String.pipe(Schema.filter((type) => type !== "SessionType" && type !== "KMSEncryption")),
  ActionParameters: Schema.optional(Schema.Unknown)
}) {}

/**
 * The body of a HandshakeRequest (PayloadType 5).
 *
 * @since 0.1.0
 * @category schemas
 */
export class HandshakeRequest extends Schema.Class<HandshakeRequest>("HandshakeRequest")({
  AgentVersion: Schema.String,
  RequestedClientActions: Schema.Array(Schema.Union(SessionTypeAction, KmsEncryptionAction, UnknownAction))
}) {}

/**
 * `ActionStatus` of a processed action.
 *
 * @since 0.1.0
 * @category models
 */
export const ActionStatus = {
  Success: 1,
  Failed: 2,
  Unsupported: 3
} as const

/**
 * The `ActionResult` of a successful KMSEncryption action. Bytes are base64 as Go marshals `[]byte`.
 *
 * @since 0.1.0
 * @category schemas
 */
export class KmsEncryptionResult extends Schema.Class<KmsEncryptionResult>("KmsEncryptionResult")({
  KMSCipherTextKey: Schema.Uint8ArrayFromBase64,
  KMSCipherTextHash: Schema.NullOr(Schema.Uint8ArrayFromBase64),
  ChallengeAcknowledgement: Schema.optional(Schema.Boolean)
}) {}

/**
 * One processed action in a HandshakeResponse, in the order the actions were requested.
 *
 * @since 0.1.0
 * @category schemas
 */
export class ProcessedClientAction extends Schema.Class<ProcessedClientAction>("ProcessedClientAction")({
  ActionType: Schema.String,
  ActionStatus: Schema.Literal(ActionStatus.Success, ActionStatus.Failed, ActionStatus.Unsupported),
  ActionResult: Schema.NullOr(KmsEncryptionResult),
  Error: Schema.String
}) {}

/**
 * The body of a HandshakeResponse (PayloadType 6). `Errors` is null when empty, as Go marshals it.
 *
 * @since 0.1.0
 * @category schemas
 */
export class HandshakeResponse extends Schema.Class<HandshakeResponse>("HandshakeResponse")({
  ClientVersion: Schema.String,
  ProcessedClientActions: Schema.Array(ProcessedClientAction),
  Errors: Schema.NullOr(Schema.Array(Schema.String))
}) {}

/**
 * A Go `time.Duration` on the wire: integer nanoseconds.
 *
 * @since 0.1.0
 * @category schemas
 */
export const DurationFromNanosNumber: Schema.Schema<Duration.Duration, number> = GoJson.DurationFromNanos

/**
 * The body of a HandshakeComplete (PayloadType 7).
 *
 * @since 0.1.0
 * @category schemas
 */
export class HandshakeComplete extends Schema.Class<HandshakeComplete>("HandshakeComplete")({
  HandshakeTimeToComplete: DurationFromNanosNumber,
  CustomerMessage: Schema.String
}) {}

/**
 * The body of an EncChallengeRequest (8) or EncChallengeResponse (9): `nonce ‖ ciphertext ‖ tag`, base64.
 *
 * @since 0.1.0
 * @category schemas
 */
export class EncryptionChallenge extends Schema.Class<EncryptionChallenge>("EncryptionChallenge")({
  Challenge: Schema.Uint8ArrayFromBase64
}) {}

// ---------------------------------------------------------------------------------------------------------------
// other bodies
// ---------------------------------------------------------------------------------------------------------------

/**
 * The body of a `channel_closed` message (section 12). `Output` carries the reason, possibly empty.
 *
 * @since 0.1.0
 * @category schemas
 */
export class ChannelClosed extends Schema.Class<ChannelClosed>("ChannelClosed")({
  MessageId: Schema.String,
  CreatedDate: Schema.String,
  DestinationId: Schema.String,
  SessionId: Schema.String,
  MessageType: Schema.String,
  SchemaVersion: Schema.Int,
  Output: Schema.String
}) {}

/**
 * The body of a Size message (PayloadType 3): the terminal size.
 *
 * @since 0.1.0
 * @category schemas
 */
export class TerminalSize extends Schema.Class<TerminalSize>("TerminalSize")({
  cols: Uint32,
  rows: Uint32
}) {}

/**
 * The first frame on a new WebSocket, sent as text (section 2.3). The token stays `Redacted` in memory and is
 * revealed only when this is encoded for the wire.
 *
 * @since 0.1.0
 * @category schemas
 */
export class OpenDataChannel extends Schema.Class<OpenDataChannel>("OpenDataChannel")({
  MessageSchemaVersion: Schema.Literal("1.0"),
  RequestId: Schema.String,
  TokenValue: Schema.Redacted(Schema.String),
  ClientId: Schema.String,
  ClientVersion: Schema.String
}) {}

/**
 * The 4-byte big-endian body of a Flag message (PayloadType 10).
 *
 * @since 0.1.0
 * @category schemas
 */
export const Flag: Schema.Schema<AgentMessage.FlagPayload, Uint8Array> = Schema.transformOrFail(
  Schema.Uint8ArrayFromSelf,
  Schema.Literal(
    AgentMessage.FlagPayload.DisconnectToPort,
    AgentMessage.FlagPayload.TerminateSession,
    AgentMessage.FlagPayload.ConnectToPortError
  ),
  {
    strict: true,
    decode: (bytes, _, ast) =>
      bytes.length === 4
        ? ParseResult.succeed(new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0) as AgentMessage.FlagPayload)
        : ParseResult.fail(new ParseResult.Type(ast, bytes, `a flag is 4 bytes, got ${bytes.length}`)),
    encode: (flag) => {
      const bytes = new Uint8Array(4)
      new DataView(bytes.buffer).setUint32(0, flag)
      return ParseResult.succeed(bytes)
    }
  }
)

// ---------------------------------------------------------------------------------------------------------------
// payload codecs
// ---------------------------------------------------------------------------------------------------------------

/**
 * UTF-8 bytes <-> string; invalid UTF-8 is a parse failure.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Utf8FromBytes: Schema.Schema<string, Uint8Array> = GoJson.Utf8FromBytes

/**
 * A JSON payload: UTF-8 bytes <-> the value of `schema`. Decoding reads the JSON as Go's `encoding/json` does
 * (missing or `null` fields at their zero values, case-insensitive keys, unknown keys ignored) before `schema`
 * decodes it; the reading is planned once here, from `schema`'s fields. Encoding is `schema`'s own JSON.
 *
 * @since 0.1.0
 * @category schemas
 */
export const jsonPayload = <A, I>(schema: Schema.Schema<A, I>): Schema.Schema<A, Uint8Array> =>
  Schema.compose(Utf8FromBytes, Schema.parseJson(GoJson.lenient(schema)))

/**
 * Decodes a payload with a payload schema (such as `jsonPayload(Acknowledge)` or `Flag`); a failure is an
 * `AgentMessageError` with reason `InvalidPayload`. Never throws.
 *
 * @since 0.1.0
 * @category codecs
 */
export const decodePayload = <A>(schema: Schema.Schema<A, Uint8Array>) => {
  const decodeEither = Schema.decodeEither(schema)
  return (payload: Uint8Array): Either.Either<A, AgentMessage.AgentMessageError> =>
    Either.mapLeft(decodeEither(payload), invalidPayload)
}

/**
 * Encodes a payload with a payload schema; a value the schema refuses is an `AgentMessageError`.
 *
 * @since 0.1.0
 * @category codecs
 */
export const encodePayload = <A>(schema: Schema.Schema<A, Uint8Array>) => {
  const encodeEither = Schema.encodeEither(schema)
  return (value: A): Either.Either<Uint8Array, AgentMessage.AgentMessageError> =>
    Either.mapLeft(encodeEither(value), invalidPayload)
}

/**
 * Decodes an `acknowledge` body: `decodePayload(jsonPayload(Acknowledge))`, built on first use (start-up pays
 * nothing for it), never throwing.
 *
 * @since 0.3.0
 * @category codecs
 */
export const decodeAcknowledge = (payload: Uint8Array): Either.Either<Acknowledge, AgentMessage.AgentMessageError> =>
  (decodeAcknowledgeSchema ??= decodePayload(jsonPayload(Acknowledge)))(payload)

let decodeAcknowledgeSchema: ReturnType<typeof decodePayload<Acknowledge>> | undefined
