/**
 * Reading JSON the way Go's `encoding/json` reads it into a struct, as a step in front of a schema: a missing
 * field holds its Go zero value, an object key matches a field name exactly or else case-insensitively, an
 * unknown key is ignored, and `null` leaves a field at its zero value. Values of the wrong type are left alone,
 * so the schema still refuses them (Go's decoder fails on them too).
 *
 * The reading is planned once per schema from the encoded side of its AST (transformations and refinements
 * are looked through, so base64 bytes read as strings, a Go `time.Duration` as a number) and cached per AST
 * node; reading a message is then one pass over the parsed JSON with map look-ups, no AST walk.
 *
 * Go zero values, as each schema type can hold them:
 * - strings, template literals, string literals: `""`; numbers, number literals: `0`; booleans: `false`
 * - a type that admits `null` (Go pointer, slice, map or interface): `null`; `unknown`: `null`
 * - an array that does not admit `null` (Go slice): `[]`; a record that does not admit `null` (Go map): `{}`
 * - a struct that does not admit `null`: the struct with every field at its zero value
 * - an optional field (`Schema.optional`, `optionalWith`): absent, which is how the schema already spells
 *   "not there"; its own default, if any, then applies
 * - anything else (declarations, bigints, fixed tuples, recursive `Schema.suspend`s): no zero value, so a
 *   missing field stays missing and the schema decides
 *
 * A union of structs (the requested actions of a HandshakeRequest) reads an object as the first struct whose
 * literal fields (its discriminator, such as `ActionType`) match after reading; its zero value is that of the
 * first struct whose discriminator allows the zero (a requested action with `ActionType` `""` is unknown).
 *
 * Known differences from Go, none of which a Go peer produces: a top-level `null` is left for the schema to
 * refuse (Go leaves the whole struct at zero); when one object repeats the exact same key, `JSON.parse` keeps the
 * last value in the first key's place, so a case variant of that key between the two wins instead; a number
 * written with a fraction or an exponent (`7.0`, `1e3`) is read as the integer it equals, where Go refuses it
 * for an integer field.
 *
 * @internal
 */
import type * as AST from "effect/SchemaAST"
import * as Duration from "effect/Duration"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"

/** How to read one JSON value for one schema type; built once per AST node. */
interface Reader {
  /** "object": a struct or record; "array": a slice; "value": anything else */
  readonly kind: "object" | "array" | "value"
  /** reads a present, non-null JSON value (values of the wrong type are returned unchanged) */
  readonly read: (json: unknown) => unknown
  /** the Go zero value, made fresh per use; undefined when the type has none */
  readonly zero: (() => unknown) | undefined
  /** `null` is a value of this type (Go pointer, slice, map, interface), so a JSON `null` stays `null` */
  readonly nullable: boolean
  /** for a literal (or a union of literals): the values it allows, used to tell union members apart */
  readonly literals: ReadonlySet<unknown> | undefined
  /** for an object read by `read`: whether its literal fields match this type (true when it has none) */
  readonly accepts: (read: unknown) => boolean
}

// ---------------------------------------------------------------------------------------------------------------
// field names
// ---------------------------------------------------------------------------------------------------------------

/**
 * Go's `foldName` for the names this library uses: ASCII letters upper-cased, and the two non-ASCII runes Go
 * folds onto ASCII letters (KELVIN SIGN onto `K`, LATIN SMALL LETTER LONG S onto `S`). Other runes are kept,
 * which can differ from Go only for field names that are not ASCII.
 */
const foldName = (name: string): string => {
  let folded = ""
  for (let i = 0; i < name.length; i++) {
    const code = name.charCodeAt(i)
    folded += code >= 0x61 && code <= 0x7a
      ? String.fromCharCode(code - 0x20)
      : code === 0x212a
      ? "K"
      : code === 0x017f
      ? "S"
      : name[i]
  }
  return folded
}

const isObject = (json: unknown): json is Readonly<Record<string, unknown>> =>
  typeof json === "object" && json !== null && !Array.isArray(json)

const always = () => true

/** a JSON value read for a slot that exists in Go (a required field or an element): null means zero */
const readPresent = (reader: Reader, json: unknown): unknown =>
  json !== null ? reader.read(json) : reader.nullable || reader.zero === undefined ? null : reader.zero()

// ---------------------------------------------------------------------------------------------------------------
// readers per AST node
// ---------------------------------------------------------------------------------------------------------------

const scalar = (zero: (() => unknown) | undefined, options?: {
  readonly nullable?: boolean
  readonly literals?: ReadonlySet<unknown>
}): Reader => ({
  kind: "value",
  read: (json) => json,
  zero,
  nullable: options?.nullable ?? false,
  literals: options?.literals,
  accepts: always
})

const zeroOfLiteral = (literal: unknown): (() => unknown) | undefined => {
  switch (typeof literal) {
    case "string":
      return () => ""
    case "number":
      return () => 0
    case "boolean":
      return () => false
    default:
      return literal === null ? () => null : undefined
  }
}

const literalsOf = (values: ReadonlyArray<unknown>): Reader =>
  scalar(zeroOfLiteral(values[0]), { nullable: values.includes(null), literals: new Set(values) })

interface Field {
  readonly name: string
  readonly optional: boolean
  readonly reader: Reader
}

/** a field's value in the object read, or undefined to leave it out */
const readField = (field: Field, json: unknown): unknown => {
  if (json === undefined) return field.optional ? undefined : field.reader.zero?.()
  if (json === null && field.optional && !field.reader.nullable) return undefined
  return readPresent(field.reader, json)
}

const struct = (ast: AST.TypeLiteral): Reader => {
  const fields: ReadonlyArray<Field> = ast.propertySignatures.flatMap((signature) =>
    typeof signature.name === "string"
      ? [{ name: signature.name, optional: signature.isOptional, reader: readerFor(signature.type) }]
      : []
  )
  const exact = new Map<string, number>()
  const folded = new Map<string, number>()
  fields.forEach((field, index) => {
    exact.set(field.name, index)
    // as Go: of several fields with the same folded name, the first one declared takes a folded key
    if (!folded.has(foldName(field.name))) folded.set(foldName(field.name), index)
  })
  const discriminators = fields.filter((field) => field.reader.literals !== undefined)

  const read = (json: unknown): unknown => {
    if (!isObject(json)) return json
    const values = new Array<unknown>(fields.length)
    for (const key of Object.keys(json)) {
      const index = exact.get(key) ?? folded.get(foldName(key))
      if (index !== undefined) values[index] = json[key]
    }
    const out: Record<string, unknown> = {}
    for (let index = 0; index < fields.length; index++) {
      const field = fields[index]!
      const fieldValue = readField(field, values[index])
      if (fieldValue !== undefined) out[field.name] = fieldValue
    }
    return out
  }
  return {
    kind: "object",
    read,
    zero: () => read({}),
    nullable: false,
    literals: undefined,
    accepts: (out) =>
      isObject(out) && discriminators.every((field) => field.reader.literals!.has(out[field.name]))
  }
}

const record: Reader = {
  kind: "object",
  read: (json) => json,
  zero: () => ({}),
  nullable: false,
  literals: undefined,
  accepts: always
}

const slice = (element: Reader): Reader => ({
  kind: "array",
  read: (json) => Array.isArray(json) ? json.map((item) => readPresent(element, item)) : json,
  zero: () => [],
  nullable: false,
  literals: undefined,
  accepts: always
})

/** the members of a union, nested unions flattened, `undefined` left out (JSON has none) */
const unionMembers = (ast: AST.Union): ReadonlyArray<AST.AST> =>
  ast.types.flatMap((member) =>
    member._tag === "Union"
      ? unionMembers(member)
      : member._tag === "UndefinedKeyword" || member._tag === "VoidKeyword"
      ? []
      : [member]
  )

/** the zero value of the first member that accepts its own zero (a struct whose discriminator allows "") */
const unionZero = (members: ReadonlyArray<Reader>): (() => unknown) | undefined =>
  members.find((member) => member.zero !== undefined && member.accepts(member.zero()))?.zero

const union = (ast: AST.Union): Reader => {
  const members = unionMembers(ast).map(readerFor)
  const nullable = members.some((member) => member.nullable)
  const objects = members.filter((member) => member.kind === "object")
  const array = members.find((member) => member.kind === "array")
  const allowed = members.every((member) => member.literals !== undefined)
    ? new Set(members.flatMap((member) => [...member.literals!]))
    : undefined
  return {
    kind: "value",
    read: (json) => {
      if (isObject(json)) {
        for (const member of objects) {
          const out = member.read(json)
          if (member.accepts(out)) return out
        }
        return json
      }
      return Array.isArray(json) && array !== undefined ? array.read(json) : json
    },
    zero: nullable ? () => null : unionZero(members),
    nullable,
    literals: allowed,
    accepts: always
  }
}

/**
 * A recursive schema: its reader is planned on first read, when planning is over. Until then nothing is known of
 * it, so it tells its parents the safe answers (no zero value, `null` not allowed, not a struct of a union).
 */
const suspend = (ast: AST.Suspend): Reader => {
  let target: Reader | undefined
  return {
    ...scalar(undefined),
    read: (json) => (target ??= readerFor(ast.f())).read(json)
  }
}

const plan = (ast: AST.AST): Reader => {
  switch (ast._tag) {
    case "Transformation":
      return readerFor(ast.from)
    case "Refinement":
      return readerFor(ast.from)
    case "Suspend":
      return suspend(ast)
    case "TypeLiteral":
      return ast.indexSignatures.length > 0 ? record : struct(ast)
    case "TupleType":
      return ast.elements.length === 0 && ast.rest.length === 1
        ? slice(readerFor(ast.rest[0]!.type))
        : scalar(undefined)
    case "Union":
      return union(ast)
    case "Literal":
      return literalsOf([ast.literal])
    case "Enums":
      return literalsOf(ast.enums.map(([, enumValue]) => enumValue))
    case "StringKeyword":
    case "TemplateLiteral":
      return scalar(() => "")
    case "NumberKeyword":
      return scalar(() => 0)
    case "BooleanKeyword":
      return scalar(() => false)
    case "UnknownKeyword":
    case "AnyKeyword":
      return scalar(() => null, { nullable: true })
    default:
      return scalar(undefined)
  }
}

const readers = new WeakMap<AST.AST, Reader>()

const readerFor = (ast: AST.AST): Reader => {
  let cached = readers.get(ast)
  if (cached === undefined) {
    cached = plan(ast)
    readers.set(ast, cached)
  }
  return cached
}

/**
 * Reads a parsed JSON value as Go would for the encoded form of `ast`: the result is what the schema then
 * decodes. A top-level `null` or a value of the wrong type is returned unchanged, for the schema to refuse.
 */
const reader = (ast: AST.AST): (json: unknown) => unknown => {
  const planned = readerFor(ast)
  return (json) => json === null ? null : planned.read(json)
}

/**
 * `schema` preceded by Go's lenient reading of its JSON input; encoding is `schema`'s own, unchanged.
 *
 * @internal
 */
export const lenient = <A, I, R>(schema: Schema.Schema<A, I, R>): Schema.Schema<A, unknown, R> => {
  const read = reader(schema.ast)
  return Schema.compose(
    Schema.transform(Schema.Unknown, Schema.Unknown, { strict: true, decode: read, encode: (encoded) => encoded })
      .annotations({ identifier: "GoJson" }),
    schema,
    { strict: false }
  )
}

/**
 * A Go `time.Duration` as `encoding/json` writes it: integer nanoseconds (up to 2^53, what a JSON number read
 * by JavaScript carries exactly).
 *
 * @internal
 */
export const DurationFromNanos: Schema.Schema<Duration.Duration, number> = Schema.transformOrFail(
  Schema.Int.pipe(Schema.between(0, Number.MAX_SAFE_INTEGER)),
  Schema.DurationFromSelf,
  {
    strict: true,
    decode: (nanos) => ParseResult.succeed(Duration.nanos(BigInt(nanos))),
    encode: (duration, _, ast) => {
      const nanos = Duration.toNanos(duration)
      return nanos._tag === "Some" && nanos.value <= BigInt(Number.MAX_SAFE_INTEGER)
        ? ParseResult.succeed(Number(nanos.value))
        : ParseResult.fail(new ParseResult.Type(ast, duration, "the duration does not fit a Go time.Duration"))
    }
  }
)

const utf8 = new TextDecoder("utf-8", { fatal: true })
const utf8Encoder = new TextEncoder()

/** UTF-8 bytes <-> string; invalid UTF-8 is a parse failure (`AgentPayload.Utf8FromBytes`). @internal */
export const Utf8FromBytes: Schema.Schema<string, Uint8Array> = Schema.transformOrFail(
  Schema.Uint8ArrayFromSelf,
  Schema.String,
  {
    strict: true,
    decode: (bytes, _, ast) =>
      ParseResult.try({
        try: () => utf8.decode(bytes),
        catch: () => new ParseResult.Type(ast, bytes, "the payload is not valid UTF-8")
      }),
    encode: (text) => ParseResult.succeed(utf8Encoder.encode(text))
  }
)
