/**
 * The agent's reading of shell session properties, which the command plugin, the shell plugin and `documentSpec`
 * share. As the agent on Linux: only the `linux` key of the properties counts (`commands`, `runAsElevated`,
 * `separateOutputStream`, `stdOutSeparatorPrefix`, `stdErrSeparatorPrefix`), read as Go's `encoding/json`
 * reads them; `plan` says what the agent does with them before it runs anything.
 *
 * Each behaviour names the agent file and function it comes from (`aws/amazon-ssm-agent`, under `agent/`).
 *
 * @internal
 */
import * as Either from "effect/Either"


/**
 * The key of the properties the simulated agent reads: it runs on Linux (`session/shell/constants/
 * constants_unix.go` GetShellCommand, GetRunAsElevated, GetSeparateOutputStream and the prefix getters all read
 * `shellProps.Linux`; `constants_darwin.go` reads `MacOS`, `constants_windows.go` `Windows`).
 *
 * @internal
 */
export const OS_KEY = "linux"

/** `session/contracts/model.go` ShellConfig (`separateOutputStream` is an `interface{}`, the others typed) @internal */
export interface ShellConfig {
  readonly commands: string
  readonly runAsElevated: boolean
  readonly separateOutputStream: unknown
  readonly stdOutSeparatorPrefix: string
  readonly stdErrSeparatorPrefix: string
}

/** `session/contracts/model.go` ShellProperties: one ShellConfig per OS, nothing at the top level */
interface ShellProperties {
  readonly windows: ShellConfig
  readonly linux: ShellConfig
  readonly macos: ShellConfig
}

const zeroConfig: ShellConfig = {
  commands: "",
  runAsElevated: false,
  separateOutputStream: null,
  stdOutSeparatorPrefix: "",
  stdErrSeparatorPrefix: ""
}

/** the fields with Go's names for their types (undefined: `interface{}`, any JSON value) */
const configFields: ReadonlyArray<readonly [keyof ShellConfig, "string" | "bool" | undefined]> = [
  ["commands", "string"],
  ["runAsElevated", "bool"],
  ["separateOutputStream", undefined],
  ["stdErrSeparatorPrefix", "string"],
  ["stdOutSeparatorPrefix", "string"]
]

const goKind = (json: unknown): string =>
  typeof json === "string"
    ? "string"
    : typeof json === "number"
    ? "number"
    : typeof json === "boolean"
    ? "bool"
    : Array.isArray(json)
    ? "array"
    : "object"

const isObject = (json: unknown): json is Readonly<Record<string, unknown>> =>
  typeof json === "object" && json !== null && !Array.isArray(json)

/**
 * Go's `encoding/json` into a struct with these field names: keys in the order Go meets them (a Go map
 * marshals with sorted keys), each matching a field exactly or else case-insensitively (ASCII), later keys
 * overwriting earlier ones; unknown keys ignored; `null` leaves a field as it is. Returns the fields' JSON values
 * (undefined where none) or nothing when `json` is not an object.
 */
const goFields = (json: unknown, names: ReadonlyArray<string>): Map<string, unknown> | undefined => {
  if (!isObject(json)) return undefined
  const values = new Map<string, unknown>()
  for (const key of Object.keys(json).sort()) {
    const name = names.find((candidate) => candidate === key) ??
      names.find((candidate) => candidate.toUpperCase() === key.toUpperCase())
    if (name !== undefined && json[key] !== null) values.set(name, json[key])
  }
  return values
}

/**
 * `jsonutil.Remarshal(config.Properties, &shellProps)` (`session/plugins/sessionplugin/sessionplugin.go`
 * Execute, `session/plugins/singlecommand/singlecommand.go` Execute): the properties through Go's
 * `encoding/json` into ShellProperties. Keys match exactly or case-insensitively, unknown keys (flat
 * `commands`, `separateOutputStream`, ...) are dropped, missing and `null` fields are zero; a value of the wrong
 * type (`runAsElevated: "true"`, a number for `commands`, a string for `linux`) is Go's UnmarshalTypeError,
 * whose text this returns (the first in Go's order).
 *
 * @internal
 */
export const readShellProperties = (
  properties: Readonly<Record<string, unknown>> | null
): Either.Either<ShellProperties, string> => {
  const oses = goFields(properties, ["windows", "linux", "macos"]) ?? new Map<string, unknown>()
  const read: Record<string, ShellConfig> = {}
  for (const os of ["linux", "macos", "windows"] as const) {
    const json = oses.get(os)
    const fields = json === undefined ? new Map<string, unknown>() : goFields(json, configFields.map(([name]) => name))
    if (fields === undefined) {
      return Either.left(
        `json: cannot unmarshal ${goKind(json)} into Go struct field ShellProperties.${os} ` +
          "of type contracts.ShellConfig"
      )
    }
    for (const [field, type] of configFields) {
      const value = fields.get(field)
      if (value !== undefined && type !== undefined && goKind(value) !== type) {
        return Either.left(
          `json: cannot unmarshal ${goKind(value)} into Go struct field ShellConfig.${os}.${field} of type ${type}`
        )
      }
    }
    read[os] = { ...zeroConfig, ...Object.fromEntries(fields) }
  }
  return Either.right(read as unknown as ShellProperties)
}

/**
 * `parameters.ConvertToBool` (`framework/docparser/parameters/parameters.go`), how the agent reads the
 * `interface{}` `separateOutputStream`: absent or `null` is false, a boolean is itself, a string is
 * `strconv.ParseBool`'s (`""` false; `1 t T TRUE true True`, `0 f F FALSE false False`), anything else an error.
 *
 * @internal
 */
export const convertToBool = (input: unknown): Either.Either<boolean, string> => {
  if (input === null || input === undefined) return Either.right(false)
  if (typeof input === "boolean") return Either.right(input)
  if (typeof input !== "string") return Either.left("invalid parameter type")
  if (input === "") return Either.right(false)
  if (["1", "t", "T", "TRUE", "true", "True"].includes(input)) return Either.right(true)
  if (["0", "f", "F", "FALSE", "false", "False"].includes(input)) return Either.right(false)
  return Either.left(`invalid input strconv.ParseBool: parsing ${JSON.stringify(input)}: invalid syntax`)
}

/** Go's `%v` of the properties (a `map[string]interface{}`), for the agent's "Invalid format" text */
const goPrint = (value: unknown): string => {
  if (value === null || value === undefined) return "<nil>"
  if (Array.isArray(value)) return `[${value.map(goPrint).join(" ")}]`
  if (typeof value === "object") {
    const record = value as Record<string, unknown>
    return `map[${Object.keys(record).sort().map((key) => `${key}:${goPrint(record[key])}`).join(" ")}]`
  }
  return String(value)
}

/** `session/shell/shell.go` separateOutputStreamPrefixRegex */
const validPrefix = (prefix: string) => /^[0-9a-zA-Z\r\n_:-]{0,30}$/.test(prefix)

/**
 * What the agent does with a session's properties before it runs anything, the same for `documentSpec` (which
 * plays the service: the handshake and `channel_closed`) and the plugins (which play the agent's process):
 * - `FailBeforeHandshake`: NonInteractiveCommands whose properties do not read (Remarshal) or whose
 *   `separateOutputStream` does not convert: the agent marks the session failed before its handshake
 *   (`session/plugins/sessionplugin/sessionplugin.go` Execute). Its reason goes to the agent's log and the
 *   plugin's stderr, not to the session's result Output, so the client sees no handshake and a
 *   `channel_closed` with empty Output.
 * - `Refuse`: the plugin ends at once with `output` as its result Output and sends nothing on the data channel;
 *   the service then closes the channel with that text as `channel_closed` Output (inference: the agent puts it
 *   in AgentTaskComplete's Output, `messageservice/interactor/mgsinteractor/replytypes/sessioncompletereplytype.go`
 *   formatAgentTaskCompletePayload, and the text reaches users as the channel's closing text).
 * - `Run`: the command runs with `config`, the `linux` key.
 *
 * @internal
 */
export type Plan =
  | { readonly _tag: "FailBeforeHandshake"; readonly reason: string }
  | { readonly _tag: "Refuse"; readonly output: string }
  | { readonly _tag: "Run"; readonly config: ShellConfig; readonly separate: boolean }

/** @internal */
export const plan = (sessionType: string, properties: Readonly<Record<string, unknown>> | null): Plan => {
  // Standard_Stream hands the shell empty ShellProperties, whatever the document says
  // (session/plugins/standardstream/standardstream.go Execute)
  if (sessionType === "Standard_Stream") return { _tag: "Run", config: zeroConfig, separate: false }
  const nonInteractive = sessionType === "NonInteractiveCommands"
  const read = readShellProperties(properties)
  if (Either.isLeft(read)) {
    return nonInteractive
      // sessionplugin.go Execute, before the handshake
      ? { _tag: "FailBeforeHandshake", reason: `Fail to remarshal shell properties: ${read.left}` }
      // singlecommand.go Execute
      : { _tag: "Refuse", output: `Invalid format in session properties ${goPrint(properties)};\nerror ${read.left}` }
  }
  const config = read.right[OS_KEY]
  let separate = false
  if (nonInteractive) {
    // sessionplugin.go Execute, before the handshake: constants.GetSeparateOutputStream
    const converted = convertToBool(config.separateOutputStream)
    if (Either.isLeft(converted)) {
      return {
        _tag: "FailBeforeHandshake",
        reason: `Fail to get separateOutPutStream property: unable to convert separateOutPutStream: ${converted.left}`
      }
    }
    separate = converted.right
  }
  // singlecommand_unix.go validateProperties, called by singlecommand.go Execute: a flat document lands here,
  // its `commands` never read
  if (config.commands.trim() === "") {
    return { _tag: "Refuse", output: `Commands cannot be empty for session type ${sessionType}` }
  }
  // shell.go setSeparateOutputStreamProperties (NonInteractiveCommands with separate streams only)
  if (separate && !validPrefix(config.stdOutSeparatorPrefix)) {
    return { _tag: "Refuse", output: `invalid stdoutSeparatorPrefix ${config.stdOutSeparatorPrefix}` }
  }
  if (separate && !validPrefix(config.stdErrSeparatorPrefix)) {
    return { _tag: "Refuse", output: `invalid stderrSeparatorPrefix ${config.stdErrSeparatorPrefix}` }
  }
  return { _tag: "Run", config, separate }
}
