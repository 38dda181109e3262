/**
 * StartSession / ResumeSession / TerminateSession over `@aws-sdk/client-ssm`, with the SDK's exceptions mapped to
 * one typed error, and a simulator-backed implementation.
 *
 * @internal
 */
import type { SSMClient, SSMClientConfig } from "@aws-sdk/client-ssm"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as Socket from "@effect/platform/Socket"
import type * as Scope from "effect/Scope"
import {
  ACCESS_DENIED_NAMES,
  callWithDeadline,
  CREDENTIALS_NAMES,
  layerFromClient,
  lazyModule,
  messageOf,
  operationLeadsMessage,
  reasonByName,
  THROTTLING_NAMES
} from "./awsClient.js"

const sdk = lazyModule(() => import("@aws-sdk/client-ssm"))
const credentialProviders = lazyModule(() => import("@aws-sdk/credential-provider-node"))
import * as internalSession from "../channel/session.js"
import * as internalResumer from "../channel/resumer.js"
import { isReasonError, ReasonError } from "../error.js"
import type * as Resumer from "../../Resumer.js"
import type * as Session from "../../Session.js"
import type * as SsmApi from "../../SsmApi.js"

/** @internal */
export const ErrorTypeId: SsmApi.ErrorTypeId = Symbol.for("ssm-session-manager/SsmApi/SsmApiError") as SsmApi.ErrorTypeId

/** @internal */
export class SsmApiError extends ReasonError(ErrorTypeId, "SsmApiError")<
  SsmApi.SsmApiError.Reason,
  { readonly operation: SsmApi.Operation }
> {}
// the operation leads the message: `ResumeSession: Credentials: …`
operationLeadsMessage(SsmApiError)

/** @internal */
export const isSsmApiError = isReasonError<SsmApiError>(ErrorTypeId)

/** @internal */
export const tag = Context.GenericTag<SsmApi.SsmApi>("ssm-session-manager/SsmApi")

const reasons: ReadonlyArray<readonly [ReadonlyArray<string>, SsmApi.SsmApiError.Reason]> = [
  [ACCESS_DENIED_NAMES, "AccessDenied"],
  [["TargetNotConnected"], "TargetNotConnected"],
  [["InvalidDocument", "InvalidDocumentVersion", "InvalidDocumentType"], "InvalidDocument"],
  [["InvalidParameters", "ValidationException", "InvalidTarget", "InvalidInstanceId"], "InvalidParameters"],
  [THROTTLING_NAMES, "Throttling"],
  [CREDENTIALS_NAMES, "Credentials"],
  [["DoesNotExistException"], "DoesNotExist"]
]

/** Maps an SDK exception (by its `name`) to a reason. @internal */
export const reasonOf = reasonByName(reasons, "Other")

/** how long one call may take by default, the SDK's retries included */
const DEFAULT_TIMEOUT = Duration.seconds(30)

const call = <A>(
  operation: SsmApiError["operation"],
  timeout: Duration.Duration,
  run: (module: typeof import("@aws-sdk/client-ssm"), signal: AbortSignal) => Promise<A>
) =>
  callWithDeadline(
    sdk,
    timeout,
    run,
    (cause) => new SsmApiError({ reason: reasonOf(cause), operation, detail: messageOf(cause), cause }),
    () => new SsmApiError({ reason: "Timeout", operation, detail: `no answer within ${Duration.format(timeout)}` })
  )

const toResponse = (
  operation: SsmApiError["operation"],
  response: { SessionId?: string | undefined; TokenValue?: string | undefined; StreamUrl?: string | undefined }
) =>
  response.SessionId !== undefined && response.TokenValue !== undefined && response.StreamUrl !== undefined
    ? Effect.succeed<SsmApi.SessionResponse>({
      sessionId: response.SessionId,
      streamUrl: response.StreamUrl,
      tokenValue: Redacted.make(response.TokenValue)
    })
    : Effect.fail(new SsmApiError({ reason: "Other", operation, detail: "the response lacks SessionId, TokenValue or StreamUrl" }))

/** @internal */
export const fromClient = (
  client: Pick<SSMClient, "send">,
  options: { readonly timeout?: Duration.DurationInput | undefined } = {}
): SsmApi.SsmApi => {
  const timeout = Duration.decode(options.timeout ?? DEFAULT_TIMEOUT)
  return {
  startSession: (request) =>
    Effect.flatMap(
      call("StartSession", timeout, ({ StartSessionCommand }, abortSignal) =>
        client.send(
          new StartSessionCommand({
            Target: request.target,
            ...(request.documentName === undefined ? {} : { DocumentName: request.documentName }),
            ...(request.parameters === undefined ? {} : {
              Parameters: Object.fromEntries(Object.entries(request.parameters).map(([k, v]) => [k, [...v]]))
            }),
            ...(request.reason === undefined ? {} : { Reason: request.reason })
          }),
          { abortSignal }
        )),
      (response) => toResponse("StartSession", response)
    ),
  resumeSession: (sessionId) =>
    Effect.flatMap(
      call("ResumeSession", timeout, ({ ResumeSessionCommand }, abortSignal) =>
        client.send(new ResumeSessionCommand({ SessionId: sessionId }), { abortSignal })),
      // no token: the session timed out (AGENT-PROTOCOL.md section 11.3)
      (response) => response.TokenValue === undefined ? Effect.succeed(Option.none()) : Effect.map(toResponse("ResumeSession", response), Option.some)
    ),
  terminateSession: (sessionId) =>
    Effect.asVoid(call("TerminateSession", timeout, ({ TerminateSessionCommand }, abortSignal) =>
      client.send(new TerminateSessionCommand({ SessionId: sessionId }), { abortSignal }))),
  describeInstanceInformation: (filters) =>
    Effect.gen(function*() {
      const found: Array<SsmApi.InstanceInformation> = []
      let nextToken: string | undefined
      for (let page = 0; page < MAX_PAGES; page++) {
        const response = yield* call("DescribeInstanceInformation", timeout, ({ DescribeInstanceInformationCommand }, abortSignal) =>
          client.send(
            new DescribeInstanceInformationCommand({
              Filters: filters.map((filter) => ({ Key: filter.key, Values: [...filter.values] })),
              MaxResults: 50,
              ...(nextToken === undefined ? {} : { NextToken: nextToken })
            }),
            { abortSignal }
          ))
        for (const instance of response.InstanceInformationList ?? []) {
          if (instance.InstanceId === undefined) continue
          found.push({
            instanceId: instance.InstanceId,
            pingStatus: instance.PingStatus ?? "Unknown",
            computerName: instance.ComputerName,
            ipAddress: instance.IPAddress,
            platformName: instance.PlatformName,
            name: instance.Name
          })
        }
        nextToken = response.NextToken
        if (nextToken === undefined || nextToken === "") break
      }
      return found
    })
  }
}

/** pages of 50 read at most when resolving a name: 1000 nodes share it, or the name is not a name */
const MAX_PAGES = 20

/** @internal */
export const targetQuery = (target: string): SsmApi.TargetQuery => {
  if (/^(i-|mi-|ecs:)/.test(target)) return { _tag: "Id", id: target }
  if (target.startsWith("tag:")) {
    const equals = target.indexOf("=")
    if (equals > 4) return { _tag: "Tag", key: target.slice(4, equals), value: target.slice(equals + 1) }
  }
  return { _tag: "Tag", key: "Name", value: target.startsWith("name:") ? target.slice(5) : target }
}

const describeNode = (node: SsmApi.InstanceInformation) =>
  [node.instanceId, node.name ?? node.computerName, node.ipAddress, node.pingStatus === "Online" ? undefined : node.pingStatus]
    .filter((part) => part !== undefined && part !== "").join(" ")

/** @internal */
export const resolveTarget = (target: string): Effect.Effect<string, SsmApi.SsmApiError, SsmApi.SsmApi> =>
  Effect.gen(function*() {
    const query = targetQuery(target)
    if (query._tag === "Id") return query.id
    const api = yield* tag
    const operation = "DescribeInstanceInformation"
    if (api.describeInstanceInformation === undefined) {
      return yield* new SsmApiError({
        reason: "Other",
        operation,
        detail: `${target} is not an instance id, and this SsmApi cannot look names up (no describeInstanceInformation)`
      })
    }
    const nodes = yield* api.describeInstanceInformation([{ key: `tag:${query.key}`, values: [query.value] }])
    const online = nodes.filter((node) => node.pingStatus === "Online")
    const named = `no managed node with tag ${query.key}=${query.value}`
    if (online.length === 1) return online[0]!.instanceId
    if (online.length > 1) {
      return yield* new SsmApiError({
        reason: "AmbiguousTarget",
        operation,
        detail: `${online.length} online managed nodes have tag ${query.key}=${query.value}: ${online.map(describeNode).join(", ")}; ` +
          "name one by its id"
      })
    }
    return yield* new SsmApiError({
      reason: "TargetNotFound",
      operation,
      detail: nodes.length === 0 ? named : `${named} is online (${nodes.map(describeNode).join(", ")})`
    })
  })

/**
 * What a failed ResumeSession call means for the session: a session the service no longer knows (or no longer
 * accepts as a parameter) was terminated; access denied and refused credentials are what they say; anything else
 * (throttling, no answer, the network) may pass.
 * @internal
 */
export const resumeFailure = (error: SsmApi.SsmApiError): Resumer.ResumeFailure => {
  const detail = `ssm:ResumeSession failed: ${error.message}`
  switch (error.reason) {
    case "DoesNotExist":
    case "InvalidParameters":
      return new internalResumer.ResumeFailure({ reason: "Terminated", detail, cause: error })
    case "AccessDenied":
    case "Credentials":
      return new internalResumer.ResumeFailure({ reason: error.reason, detail, cause: error })
    default:
      return new internalResumer.ResumeFailure({ reason: "Unavailable", detail, cause: error })
  }
}

/** The Resumer over an SsmApi's ResumeSession. @internal */
export const resumer = (api: SsmApi.SsmApi): Resumer.Resumer => ({
  resume: (sessionId) => Effect.mapError(api.resumeSession(sessionId), resumeFailure)
})

/** @internal */
export const layerResumer: Layer.Layer<Resumer.Resumer, never, SsmApi.SsmApi> = Layer.effect(
  internalResumer.tag,
  Effect.map(tag, resumer)
)

/** @internal */
export const layer = (options: SsmApi.SsmApiOptions = {}): Layer.Layer<SsmApi.SsmApi | Resumer.Resumer> =>
  Layer.provideMerge(layerResumer, layerClient(options))

const layerClient = (options: SsmApi.SsmApiOptions): Layer.Layer<SsmApi.SsmApi> => {
  const config: SSMClientConfig = {
    ...(options.region === undefined ? {} : { region: options.region }),
    ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
    ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
    ...(options.profile === undefined ? {} : { profile: options.profile }),
    ...(options.maxAttempts === undefined ? {} : { maxAttempts: options.maxAttempts })
  }
  return layerFromClient(tag, Effect.map(sdk, ({ SSMClient }) => new SSMClient(config)), (client) => ({
    ...fromClient(client, options),
    resumeSession: (sessionId) => resumeWithFreshCredentials(config, options, sessionId)
  }))
}

/**
 * ResumeSession with credentials resolved afresh through the SDK's provider chain, files read again: a session
 * is resumed hours after it started, when the credentials it started with may have expired, and SSO, web-identity,
 * assume-role or rotated keys in the credentials file have new ones by then (AWS's client reuses the first and
 * gets a 403, aws/session-manager-plugin#136). Credentials given as an option are the caller's to refresh.
 */
const resumeWithFreshCredentials = (config: SSMClientConfig, options: SsmApi.SsmApiOptions, sessionId: string) =>
  Effect.acquireUseRelease(
    Effect.zipWith(sdk, credentialProviders, ({ SSMClient }, { defaultProvider }) =>
      new SSMClient(
        options.credentials !== undefined ? config : {
          ...config,
          credentials: defaultProvider({ ...(options.profile === undefined ? {} : { profile: options.profile }), ignoreCache: true })
        }
      )),
    (client) => fromClient(client, options).resumeSession(sessionId),
    (client) => Effect.sync(() => client.destroy())
  )

/** how long closing waits for the TerminateSession API */
const TERMINATE_DEADLINE = Duration.seconds(10)

/** @internal */
export const terminateOnClose = (session: Session.Session): Effect.Effect<void, never, Scope.Scope> =>
  Effect.flatMap(Effect.serviceOption(tag), (api) =>
    // added after the Session was made, so it runs before the Session's own finalizer
    Effect.addFinalizer(() =>
      Effect.gen(function*() {
        if (yield* session.terminate) return
        if (Option.isNone(api)) {
          return yield* Effect.logWarning("the session may stay open until it times out: no SsmApi to terminate it")
        }
        // a finalizer is uninterruptible: the call must be interruptible itself for its deadline to end it (the
        // SDK's request is aborted then)
        yield* api.value.terminateSession(session.sessionId).pipe(
          Effect.interruptible,
          Effect.timeoutFail({
            duration: TERMINATE_DEADLINE,
            onTimeout: () => `no answer within ${Duration.format(TERMINATE_DEADLINE)}`
          }),
          Effect.tap(() => Effect.logDebug("terminated through the ssm:TerminateSession API")),
          Effect.catchAll((error) => Effect.logWarning(`ssm:TerminateSession failed: ${typeof error === "string" ? error : error.message}`))
        )
      }).pipe(Effect.annotateLogs("sessionId", session.sessionId))
    ))

/** @internal */
export const openSession = (
  request: SsmApi.StartSessionRequest,
  options: SsmApi.OpenSessionOptions = {}
): Effect.Effect<
  Session.Session,
  SsmApi.SsmApiError | Session.SessionError,
  Scope.Scope | SsmApi.SsmApi | Socket.WebSocketConstructor
> =>
  Effect.gen(function*() {
    const api = yield* tag
    const response = yield* api.startSession(request)
    // the session resumes through this SsmApi, unless a Resumer of the caller's own is provided
    const provided = yield* Effect.serviceOption(internalResumer.tag)
    // the target feeds the KMS encryption context of encrypted sessions
    const session = yield* internalSession.make({ ...options, ...response, target: request.target }).pipe(
      Effect.provideService(internalResumer.tag, Option.getOrElse(provided, () => resumer(api)))
    )
    yield* terminateOnClose(session)
    return session
  })
