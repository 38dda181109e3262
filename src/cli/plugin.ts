/**
 * A drop-in for AWS's `session-manager-plugin`, as the AWS CLI invokes it (`aws ssm start-session` runs
 * `session-manager-plugin <response> <region> StartSession <profile> <request> <endpoint>`): port sessions are
 * forwarded from a local port (or Unix socket), standard-stream port sessions (such as `AWS-StartSSHSession`
 * under ssh's ProxyCommand) are carried over stdin and stdout, shells run in this terminal, and command sessions
 * print their output.
 *
 * @since 0.1.0
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { SessionType } from "../AgentPayload.js"
import * as KmsApi from "../KmsApi.js"
import * as NodeSession from "../NodeSession.js"
import * as PortForwarding from "../PortForwarding.js"
import * as RemoteCommand from "../RemoteCommand.js"
import * as Session from "../Session.js"
import * as Shell from "../Shell.js"
import * as SsmApi from "../SsmApi.js"
import { CliError } from "./error.js"
import { serve } from "./serve.js"
import { runShell, terminalSize } from "./terminal.js"
import { PACKAGE_VERSION } from "./run.js"
import { isLoopback, reportConnection } from "./status.js"
import { carry, writeTo } from "./stdio.js"

/**
 * `--version` answers with our ClientVersion alone when read by a program: the AWS CLI accepts only a bare version
 * number there, and above 1.2.497.0 passes the StartSession response in the environment rather than on the
 * command line. On a terminal it also says whose plugin this is.
 *
 * @since 0.2.0
 * @category running
 */
export const versionLine = (tty: boolean): string =>
  tty
    ? `${Session.CLIENT_VERSION} (ssm-session-manager ${PACKAGE_VERSION}, standing in for AWS's session-manager-plugin)`
    : Session.CLIENT_VERSION

const StartSessionResponse = Schema.Struct({
  SessionId: Schema.String,
  TokenValue: Schema.Redacted(Schema.String),
  StreamUrl: Schema.String
})

const StartSessionRequest = Schema.Struct({
  Target: Schema.optional(Schema.String),
  DocumentName: Schema.optional(Schema.String),
  Parameters: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Array(Schema.String) }))
})

/**
 * JSON whose object keys are matched to `fields` as Go's encoding/json matches them (the official plugin's
 * reader): the exact name first, else any case of it. ECS's ExecuteCommand gives the AWS CLI a session with
 * `sessionId`, `tokenValue` and `streamUrl`, which it passes on as they are. Undefined when `text` is not JSON.
 *
 * @since 0.5.0
 * @category parsing
 */
export const parseFields = (text: string, fields: ReadonlyArray<string>): unknown => {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return undefined
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return value
  const record = value as Record<string, unknown>
  const keys = Object.keys(record)
  const result: Record<string, unknown> = {}
  for (const field of fields) {
    const key = field in record ? field : keys.find((key) => key.toLowerCase() === field.toLowerCase())
    if (key !== undefined) result[field] = record[key]
  }
  return result
}

/**
 * The invocation's arguments, read as the official plugin reads them.
 *
 * @since 0.1.0
 * @category models
 */
export interface PluginInvocation {
  readonly response: SsmApi.SessionResponse
  /** the request's Target: KMS-encrypted sessions need it for the data key's encryption context */
  readonly target: string | undefined
  readonly region: string
  readonly profile: string
  readonly parameters: Readonly<Record<string, ReadonlyArray<string>>>
  readonly endpoint: string
}

/**
 * Whether the plugin may connect to a StartSession response's StreamUrl, before it does: `wss:` to any host (the
 * service only ever gives `wss:`), and `ws:` only to a loopback host (127.0.0.0/8, ::1, localhost), as the
 * simulator's and the tests' are. Anything else (`ws:` to another host, `http:`, `ws+unix:`, not a URL) is the
 * reason it may not, in one line.
 *
 * @since 0.2.0
 * @category parsing
 */
export const checkStreamUrl = (streamUrl: string): Either.Either<string, string> => {
  let url: URL
  try {
    url = new URL(streamUrl)
  } catch {
    return Either.left("the StartSession response's StreamUrl is not a URL")
  }
  const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname
  if (url.protocol === "wss:" && host !== "") return Either.right(streamUrl)
  if (url.protocol === "ws:" && (host === "localhost" || isLoopback(host))) return Either.right(streamUrl)
  const shown = JSON.stringify(url.host === "" ? url.protocol : `${url.protocol}//${url.host}`)
  return Either.left(
    `the StartSession response's StreamUrl (${shown}) is not wss: (ws: is accepted only to a loopback host, ` +
      "for the simulator): not connecting"
  )
}

/** What AWS's client prints when the channel closes: the agent's reason when it gave one. */
const closedLine = (sessionId: string, reason: string) =>
  Console.log(
    reason === "" ? `\n\nExiting session with sessionId: ${sessionId}.\n\n` : `\n\nSessionId: ${sessionId} : ${reason}\n\n`
  )

/**
 * Reads the arguments; the response is JSON, or the name of an environment variable starting with
 * `AWS_SSM_START_SESSION_RESPONSE` that holds it (removed from the environment once read).
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseInvocation = (
  args: ReadonlyArray<string>,
  env: Record<string, string | undefined>
): Either.Either<PluginInvocation, CliError> => {
  const invalid = (detail: string) => Either.left(new CliError({ reason: "InvalidArguments", detail }))
  if (args.length < 5) return invalid(`expected at least 5 arguments, got ${args.length}`)
  if (args[2] !== "StartSession") return invalid(`Invalid operation: ${args[2]}`)
  let responseText = args[0]!
  if (responseText.startsWith("AWS_SSM_START_SESSION_RESPONSE")) {
    const value = env[responseText]
    if (value === undefined) return invalid(`the environment variable ${responseText} is not set`)
    delete env[responseText]
    responseText = value
  }
  const response = Schema.decodeUnknownEither(StartSessionResponse)(
    parseFields(responseText, ["SessionId", "TokenValue", "StreamUrl"])
  )
  if (Either.isLeft(response)) return invalid("the StartSession response is not valid JSON with SessionId, TokenValue and StreamUrl")
  const streamUrl = checkStreamUrl(response.right.StreamUrl)
  if (Either.isLeft(streamUrl)) return invalid(streamUrl.left)
  const request = Schema.decodeUnknownEither(StartSessionRequest)(
    parseFields(args[4] === "" ? "{}" : args[4]!, ["Target", "DocumentName", "Parameters"])
  )
  if (Either.isLeft(request)) return invalid("the StartSession request is not valid JSON")
  return Either.right({
    response: {
      sessionId: response.right.SessionId,
      streamUrl: response.right.StreamUrl,
      tokenValue: response.right.TokenValue
    },
    target: request.right.Target,
    region: args[1]!,
    profile: args[3]!,
    parameters: request.right.Parameters ?? {},
    endpoint: args[5] ?? ""
  })
}

/**
 * Where credentials come from, as the AWS CLI took them for its own StartSession. AWS CLI v2 passes the profile
 * only when `--profile` named one (`awscli/customizations/sessionmanager.py`), and botocore then skips environment
 * keys; v1 passes `AWS_PROFILE` too, for which botocore keeps environment keys first. The SDK for JavaScript skips
 * environment keys whenever a profile is set (its option or `AWS_PROFILE`), so environment keys are used as they
 * are when there is no profile, or the profile is the one the CLI would pick by itself (`AWS_PROFILE`,
 * `AWS_DEFAULT_PROFILE`, `default`); any other profile is used as named.
 *
 * @since 0.2.0
 * @category parsing
 */
export const credentialsFor = (
  profile: string,
  env: Record<string, string | undefined>
):
  | { readonly _tag: "Environment"; readonly accessKeyId: string; readonly secretAccessKey: string; readonly sessionToken?: string }
  | { readonly _tag: "Profile"; readonly profile: string | undefined } =>
{
  const implicit = env["AWS_PROFILE"] ?? env["AWS_DEFAULT_PROFILE"] ?? "default"
  const accessKeyId = env["AWS_ACCESS_KEY_ID"]
  const secretAccessKey = env["AWS_SECRET_ACCESS_KEY"]
  if ((profile === "" || profile === implicit) && accessKeyId !== undefined && secretAccessKey !== undefined) {
    const sessionToken = env["AWS_SESSION_TOKEN"]
    return { _tag: "Environment", accessKeyId, secretAccessKey, ...(sessionToken === undefined ? {} : { sessionToken }) }
  }
  return { _tag: "Profile", profile: profile === "" ? undefined : profile }
}

const property = (
  properties: Readonly<Record<string, unknown>> | null,
  parameters: Readonly<Record<string, ReadonlyArray<string>>>,
  name: string
): string | undefined => {
  const value = properties?.[name]
  return typeof value === "string" && value !== "" ? value : parameters[name]?.[0]
}

/**
 * Runs a session as the official plugin would, given its command line.
 *
 * @since 0.1.0
 * @category running
 */
export const runPlugin = (args: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    if (args.length === 0) {
      return yield* Console.log(
        "\nThe Session Manager plugin was installed successfully. Use the AWS CLI to start a session.\n\n"
      )
    }
    if (args[0] === "--version") return yield* Console.log(versionLine(process.stdout.isTTY === true))
    const invocation = yield* parseInvocation(args, process.env)
    const region = invocation.region === "" ? undefined : invocation.region
    const credentials = credentialsFor(invocation.profile, process.env)
    const source = credentials._tag === "Profile"
      ? { profile: credentials.profile }
      : { credentials: { accessKeyId: credentials.accessKeyId, secretAccessKey: credentials.secretAccessKey, ...(credentials.sessionToken === undefined ? {} : { sessionToken: credentials.sessionToken }) } }
    const api = Layer.merge(
      SsmApi.layer({ region, ...source, endpoint: invocation.endpoint === "" ? undefined : invocation.endpoint }),
      KmsApi.layer({ region, ...source })
    )
    return yield* Effect.gen(function*() {
      // a session without a handshake (an InteractiveCommands one without KMS, as ECS Exec's) is ready at its first
      // output, or after 3 s of silence: a command that prints nothing at first (`sleep`, `tail -f`) still runs
      const opened = yield* Session.make({ ...invocation.response, target: invocation.target, readyAfterSilence: "3 seconds" }).pipe(
        Effect.asSome,
        Effect.catchAll((error) => {
          // the agent closed the channel before the session was ready: a command that ended, or never started, silently
          const closing = Shell.closedBeforeReady(error)
          return closing === undefined
            ? Effect.fail(error)
            : Effect.as(closedLine(invocation.response.sessionId, closing.trim()), Option.none())
        })
      )
      if (Option.isNone(opened)) return
      const session = opened.value
      yield* SsmApi.terminateOnClose(session)
      switch (session.sessionType) {
        case SessionType.Port:
          return yield* forwardPort(session, invocation.parameters)
        case SessionType.StandardStream:
        case SessionType.InteractiveCommands:
          return yield* runShell(yield* Shell.make(session, { size: terminalSize() }))
        default:
          // NonInteractiveCommands: the output as the official client shows it, stderr on ours
          yield* reportConnection(session)
          return yield* Stream.runForEach(RemoteCommand.stream(session), (item) =>
            item._tag === "Exit" ? Effect.void : writeTo(item._tag === "Stdout" ? process.stdout : process.stderr, item.bytes)
          ).pipe(Effect.catchIf((error) => error.reason === "NoExitCode", () => Effect.void))
      }
    }).pipe(Effect.scoped, Effect.provide(Layer.merge(api, NodeSession.layerWebSocketConstructor)))
  })

/** A port session: a local listener, or stdin and stdout for standard-stream documents. */
const forwardPort = (session: Session.Session, parameters: Readonly<Record<string, ReadonlyArray<string>>>) =>
  Effect.gen(function*() {
    const forwarding = yield* PortForwarding.make(session)
    const properties = session.properties
    if (forwarding.mode._tag === "StandardStream") {
      return yield* carry(forwarding)
    }
    const socket = property(properties, parameters, "localConnectionType") === "unix"
      ? Option.fromNullable(property(properties, parameters, "localUnixSocket"))
      : Option.none()
    const port = Number(property(properties, parameters, "localPortNumber") ?? "0")
    return yield* serve(forwarding, Option.match(socket, {
      onNone: () => ({ port: Number.isInteger(port) ? port : 0 }),
      onSome: (path) => ({ path })
    }))
  })
