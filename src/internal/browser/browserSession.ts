/**
 * Sessions in a web page: the browser's WebSocket, and the `SsmApi` service over the page's own server, which
 * answers through whatever `SsmApi` it has (AWS's or the simulator's). The page holds no AWS credentials; it
 * holds the token of a session its server started for it, as AWS's own console page does.
 *
 * Wire format, one JSON POST per call, AWS's field names:
 * - `{"action":"StartSession","Target":…,"DocumentName"?:…,"Parameters"?:{…},"Reason"?:…}` →
 *   `{"SessionId","StreamUrl","TokenValue"}`
 * - `{"action":"ResumeSession","SessionId"}` → the same, or `{"SessionId","TokenValue":null}` when the session
 *   timed out
 * - `{"action":"TerminateSession","SessionId"}` → `{"SessionId"}`
 * - a failure: a 4xx/5xx status and `{"__type": <SsmApiError reason>, "message"}`
 *
 * @internal
 */
import * as Socket from "@effect/platform/Socket"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Redacted from "effect/Redacted"
import type * as BrowserSession from "../../BrowserSession.js"
import type * as Resumer from "../../Resumer.js"
import type * as SsmApi from "../../SsmApi.js"
import type * as KmsApi from "../../KmsApi.js"
import { KmsApiError, tag as kmsApiTag } from "../aws/kmsApi.js"
import { resumer, SsmApiError, tag as ssmApiTag } from "../aws/ssmApi.js"
import { tag as resumerTag } from "../channel/resumer.js"

/** @internal */
export const layerWebSocketConstructor: Layer.Layer<Socket.WebSocketConstructor> = Layer.succeed(
  Socket.WebSocketConstructor,
  (url, protocols) => {
    const webSocket = new globalThis.WebSocket(url, protocols)
    // frames as ArrayBuffers, read in place; Blobs (the default) would cost an asynchronous read each
    webSocket.binaryType = "arraybuffer"
    return webSocket
  }
)

type Operation = SsmApiError["operation"]

/** The HTTP status a server answers for each reason (a new reason does not compile until it has one). @internal */
export const statusByReason: { readonly [R in SsmApi.SsmApiError.Reason]: number } = {
  AccessDenied: 403,
  Credentials: 401,
  DoesNotExist: 404,
  TargetNotFound: 404,
  InvalidDocument: 400,
  InvalidParameters: 400,
  TargetNotConnected: 409,
  AmbiguousTarget: 409,
  Throttling: 429,
  Timeout: 504,
  Other: 502
}

const isReason = (u: unknown): u is SsmApi.SsmApiError.Reason =>
  typeof u === "string" && Object.prototype.hasOwnProperty.call(statusByReason, u)

/** The reason a status says, for answers without a `__type` (a proxy's, a login page's). */
const reasonOfStatus = (status: number): SsmApi.SsmApiError.Reason =>
  status === 401 || status === 403
    ? "AccessDenied"
    : status === 404
    ? "DoesNotExist"
    : status === 400
    ? "InvalidParameters"
    : status === 429
    ? "Throttling"
    : status === 504 || status === 408
    ? "Timeout"
    : "Other"

const DEFAULT_TIMEOUT = Duration.seconds(30)

const messageOf = (u: unknown): string => Predicate.hasProperty(u, "message") ? String(u.message) : String(u)

const responseOf = (operation: Operation, body: unknown): Effect.Effect<SsmApi.SessionResponse, SsmApiError> =>
  Predicate.hasProperty(body, "SessionId") && typeof body.SessionId === "string" &&
    Predicate.hasProperty(body, "StreamUrl") && typeof body.StreamUrl === "string" &&
    Predicate.hasProperty(body, "TokenValue") && typeof body.TokenValue === "string"
    ? Effect.succeed({
      sessionId: body.SessionId,
      streamUrl: body.StreamUrl,
      tokenValue: Redacted.make(body.TokenValue)
    })
    : Effect.fail(
      new SsmApiError({ reason: "Other", operation, detail: "the server's answer lacks SessionId, StreamUrl or TokenValue" })
    )

/** What the server answered: its status, and its body as JSON (undefined when it was not JSON). */
interface Answer {
  readonly status: number
  readonly ok: boolean
  readonly body: unknown
  readonly text: string
}

/** One JSON POST to the page's server, with its deadline; `failure` makes the caller's error of what went wrong. */
const post = <E>(
  options: BrowserSession.ServerOptions,
  action: string,
  request: Record<string, unknown>,
  failure: (type: unknown, status: number | undefined, detail: string, cause?: unknown) => E
): Effect.Effect<unknown, E> => {
  const timeout = Duration.decode(options.timeout ?? DEFAULT_TIMEOUT)
  return Effect.tryPromise({
    try: async (signal): Promise<Answer> => {
      const headers = typeof options.headers === "function" ? await options.headers() : options.headers
      const response = await (options.fetch ?? globalThis.fetch)(options.url, {
        method: "POST",
        headers: { ...headers, "content-type": "application/json" },
        body: JSON.stringify({ action, ...request }),
        // the page's own server: its cookies go with the call, as they do with the page's other requests
        credentials: "same-origin",
        signal
      })
      const text = await response.text()
      let body: unknown = undefined
      try {
        body = text === "" ? undefined : JSON.parse(text)
      } catch {
        // not JSON: the status alone says what happened
      }
      return { status: response.status, ok: response.ok, body, text }
    },
    catch: (cause) => failure(undefined, undefined, `the server could not be reached: ${messageOf(cause)}`, cause)
  }).pipe(
    Effect.flatMap(({ body, ok, status, text }) => {
      if (ok) return Effect.succeed(body)
      const type = Predicate.hasProperty(body, "__type") ? body.__type : undefined
      const message = Predicate.hasProperty(body, "message") && typeof body.message === "string"
        ? body.message
        : text.slice(0, 200)
      return Effect.fail(failure(type, status, `the server answered ${status}${message === "" ? "" : `: ${message}`}`))
    }),
    Effect.timeoutFail({
      duration: timeout,
      onTimeout: () => failure("Timeout", undefined, `no answer within ${Duration.format(timeout)}`)
    })
  )
}

/** @internal */
export const fromServer = (options: BrowserSession.ServerOptions): SsmApi.SsmApi => {
  const call = (operation: Operation, request: Record<string, unknown>): Effect.Effect<unknown, SsmApiError> =>
    post(options, operation, request, (type, status, detail, cause) =>
      new SsmApiError({
        reason: isReason(type) ? type : status === undefined ? "Other" : reasonOfStatus(status),
        operation,
        detail,
        ...(cause === undefined ? {} : { cause })
      }))
  return {
    startSession: (request) =>
      Effect.flatMap(
        call("StartSession", {
          Target: request.target,
          ...(request.documentName === undefined ? {} : { DocumentName: request.documentName }),
          ...(request.parameters === undefined ? {} : { Parameters: request.parameters }),
          ...(request.reason === undefined ? {} : { Reason: request.reason })
        }),
        (body) => responseOf("StartSession", body)
      ),
    resumeSession: (sessionId) =>
      Effect.flatMap(call("ResumeSession", { SessionId: sessionId }), (body) =>
        // no token: the session timed out on the service's side
        Predicate.hasProperty(body, "TokenValue") && typeof body.TokenValue === "string"
          ? Effect.map(responseOf("ResumeSession", body), Option.some)
          : Effect.succeed(Option.none())),
    terminateSession: (sessionId) => Effect.asVoid(call("TerminateSession", { SessionId: sessionId }))
  }
}

const kmsReasons: ReadonlyArray<KmsApi.KmsApiError.Reason> = [
  "AccessDenied",
  "NotFound",
  "KeyUnavailable",
  "InvalidKeyUsage",
  "Throttling",
  "Credentials",
  "Other"
]

const toBase64 = (bytes: Uint8Array): string => {
  let binary = ""
  for (let i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i]!)
  return globalThis.btoa(binary)
}

const fromBase64 = (text: string): Uint8Array => Uint8Array.from(globalThis.atob(text), (c) => c.charCodeAt(0))

/** @internal */
export const fromServerKms = (options: BrowserSession.ServerOptions): KmsApi.KmsApi => ({
  generateDataKey: (request) =>
    post(options, "GenerateDataKey", {
      KeyId: request.keyId,
      NumberOfBytes: request.numberOfBytes,
      EncryptionContext: request.encryptionContext
    }, (type, status, detail, cause) =>
      new KmsApiError({
        reason: kmsReasons.includes(type as KmsApi.KmsApiError.Reason)
          ? type as KmsApi.KmsApiError.Reason
          : status === 401 || status === 403
          ? "AccessDenied"
          : type === "Timeout"
          ? "KeyUnavailable"
          : "Other",
        detail: `GenerateDataKey: ${detail}`,
        ...(cause === undefined ? {} : { cause })
      })).pipe(
        Effect.flatMap((body) => {
          const plaintext = Predicate.hasProperty(body, "Plaintext") ? body.Plaintext : undefined
          const blob = Predicate.hasProperty(body, "CiphertextBlob") ? body.CiphertextBlob : undefined
          if (typeof plaintext !== "string" || typeof blob !== "string") {
            return Effect.fail(new KmsApiError({ reason: "Other", detail: "GenerateDataKey: the server's answer lacks Plaintext or CiphertextBlob" }))
          }
          return Effect.try({
            try: (): KmsApi.DataKey => ({ plaintext: Redacted.make(fromBase64(plaintext)), ciphertextBlob: fromBase64(blob) }),
            catch: () => new KmsApiError({ reason: "Other", detail: "GenerateDataKey: the server's answer is not base64" })
          })
        })
      )
})

/** @internal */
export const layerKmsApi = (options: BrowserSession.ServerOptions): Layer.Layer<KmsApi.KmsApi> =>
  Layer.succeed(kmsApiTag, fromServerKms(options))

/** `fromServer`, and the Resumer over it: sessions resume by asking the page's server (refusals by `__type`). @internal */
export const layerSsmApi = (options: BrowserSession.ServerOptions): Layer.Layer<SsmApi.SsmApi | Resumer.Resumer> =>
  Layer.succeedContext(Context.make(ssmApiTag, fromServer(options)).pipe(
    Context.add(resumerTag, resumer(fromServer(options)))
  ))

/** @internal */
export const layer = (
  options: BrowserSession.ServerOptions
): Layer.Layer<SsmApi.SsmApi | Resumer.Resumer | KmsApi.KmsApi | Socket.WebSocketConstructor> =>
  Layer.mergeAll(layerSsmApi(options), layerKmsApi(options), layerWebSocketConstructor)

// ---------------------------------------------------------------------------------------------------------------
// the server's half

const refuse = (
  operation: Operation | undefined,
  reason: SsmApi.SsmApiError.Reason,
  message: string
): BrowserSession.HandlerResponse => ({
  status: statusByReason[reason],
  body: { __type: reason, message: operation === undefined ? message : `${operation}: ${message}` }
})

const kmsRefusal = (reason: KmsApi.KmsApiError.Reason | "InvalidParameters", status: number, message: string): BrowserSession.HandlerResponse => ({
  status,
  body: { __type: reason, message: `GenerateDataKey: ${message}` }
})

const isStringArray = (u: unknown): u is ReadonlyArray<string> =>
  Array.isArray(u) && u.every((value) => typeof value === "string")

/** Reads a StartSession request as the page sent it, or says what is wrong with it. */
const readStart = (body: object): SsmApi.StartSessionRequest | string => {
  const { DocumentName, Parameters, Reason, Target } = body as Record<string, unknown>
  if (typeof Target !== "string" || Target === "") return "Target must be a non-empty string"
  if (DocumentName !== undefined && typeof DocumentName !== "string") return "DocumentName must be a string"
  if (Reason !== undefined && typeof Reason !== "string") return "Reason must be a string"
  if (
    Parameters !== undefined &&
    (typeof Parameters !== "object" || Parameters === null || !Object.values(Parameters).every(isStringArray))
  ) return "Parameters must map names to arrays of strings"
  return {
    target: Target,
    documentName: DocumentName,
    parameters: Parameters as Record<string, ReadonlyArray<string>> | undefined,
    reason: Reason
  }
}

/** @internal */
export const makeHandler = (
  options: BrowserSession.HandlerOptions
): Effect.Effect<BrowserSession.Handler, never, SsmApi.SsmApi> =>
  Effect.map(Effect.zip(ssmApiTag, Effect.serviceOption(kmsApiTag)), ([api, kms]) => {
    // the sessions this handler started: the only ones it resumes or terminates, unless told otherwise
    const started = new Set<string>()
    const mayUse = options.authorizeSession ??
      ((sessionId: string) => started.has(sessionId) ? Effect.void : Effect.fail("not a session started here"))
    const failed = (operation: Operation) => (error: SsmApi.SsmApiError) =>
      Effect.as(
        Effect.logWarning(`${operation} failed: ${error.message}`),
        refuse(operation, error.reason, error.detail)
      )
    return (body: unknown, context?: unknown) =>
      Effect.gen(function*() {
        if (typeof body !== "object" || body === null || !Predicate.hasProperty(body, "action")) {
          return refuse(undefined, "InvalidParameters", "expected a JSON object with an action")
        }
        switch (body.action) {
          case "StartSession": {
            const read = readStart(body)
            if (typeof read === "string") return refuse("StartSession", "InvalidParameters", read)
            const allowed = yield* Effect.either(options.authorizeStart(read, context))
            if (allowed._tag === "Left") return refuse("StartSession", "AccessDenied", allowed.left)
            return yield* api.startSession(allowed.right).pipe(
              Effect.map((response): BrowserSession.HandlerResponse => {
                started.add(response.sessionId)
                return {
                  status: 200,
                  body: {
                    SessionId: response.sessionId,
                    StreamUrl: response.streamUrl,
                    // the token leaves Redacted only for the page that asked for the session
                    TokenValue: Redacted.value(response.tokenValue)
                  }
                }
              }),
              Effect.catchAll(failed("StartSession"))
            )
          }
          case "ResumeSession":
          case "TerminateSession": {
            const operation: Operation = body.action
            const sessionId = Predicate.hasProperty(body, "SessionId") ? body.SessionId : undefined
            if (typeof sessionId !== "string" || sessionId === "") {
              return refuse(operation, "InvalidParameters", "SessionId must be a non-empty string")
            }
            const allowed = yield* Effect.either(mayUse(sessionId, operation, context))
            if (allowed._tag === "Left") return refuse(operation, "AccessDenied", allowed.left)
            if (operation === "TerminateSession") {
              return yield* api.terminateSession(sessionId).pipe(
                Effect.map((): BrowserSession.HandlerResponse => {
                  started.delete(sessionId)
                  return { status: 200, body: { SessionId: sessionId } }
                }),
                Effect.catchAll(failed(operation))
              )
            }
            return yield* api.resumeSession(sessionId).pipe(
              Effect.map((response): BrowserSession.HandlerResponse => ({
                status: 200,
                body: Option.match(response, {
                  onNone: () => ({ SessionId: sessionId, TokenValue: null }),
                  onSome: (response) => ({
                    SessionId: response.sessionId,
                    StreamUrl: response.streamUrl,
                    TokenValue: Redacted.value(response.tokenValue)
                  })
                })
              })),
              Effect.catchAll(failed(operation))
            )
          }
          case "GenerateDataKey": {
            // the data key of a KMS-encrypted session (the account's preferences ask for one): only for a session
            // this page may use, named in the encryption context the agent checks
            const { EncryptionContext, KeyId, NumberOfBytes } = body as Record<string, unknown>
            const encryptionContext = EncryptionContext as Record<string, unknown> | undefined
            const sessionId = typeof encryptionContext === "object" && encryptionContext !== null ? encryptionContext["aws:ssm:SessionId"] : undefined
            if (
              typeof KeyId !== "string" || KeyId === "" || typeof NumberOfBytes !== "number" ||
              !Number.isInteger(NumberOfBytes) || NumberOfBytes < 1 || NumberOfBytes > 1024 ||
              typeof sessionId !== "string" || !Object.values(encryptionContext!).every((value) => typeof value === "string")
            ) {
              return kmsRefusal("InvalidParameters", 400, "KeyId, NumberOfBytes (1 to 1024) and an EncryptionContext naming aws:ssm:SessionId")
            }
            const allowed = yield* Effect.either(mayUse(sessionId, "GenerateDataKey", context))
            if (allowed._tag === "Left") return kmsRefusal("AccessDenied", 403, allowed.left)
            if (Option.isNone(kms)) return kmsRefusal("Other", 501, "this server has no KmsApi: it cannot serve encrypted sessions")
            return yield* kms.value.generateDataKey({
              keyId: KeyId,
              numberOfBytes: NumberOfBytes,
              encryptionContext: encryptionContext as Record<string, string>
            }).pipe(
              Effect.map((key): BrowserSession.HandlerResponse => ({
                status: 200,
                // the key leaves Redacted only for the page whose session it encrypts
                body: { Plaintext: toBase64(Redacted.value(key.plaintext)), CiphertextBlob: toBase64(key.ciphertextBlob) }
              })),
              Effect.catchAll((error) =>
                Effect.as(Effect.logWarning(`GenerateDataKey failed: ${error.message}`), kmsRefusal(error.reason, error.reason === "AccessDenied" ? 403 : 502, error.detail))
              )
            )
          }
          default:
            return refuse(undefined, "InvalidParameters", `unknown action ${JSON.stringify(body.action)}`)
        }
      }).pipe(
        // a defect in an authorizer or the api: a 502 for the page, the cause in the server's log
        Effect.catchAllDefect((defect) =>
          Effect.as(Effect.logError(`the session request failed: ${messageOf(defect)}`), refuse(undefined, "Other", "internal error"))
        )
      )
  })
