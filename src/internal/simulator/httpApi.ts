/**
 * The simulator's HTTP API: the SSM JSON protocol (`X-Amz-Target: AmazonSSM.<Operation>`), KMS's
 * (`TrentService.<Operation>`) and ECS's (`AmazonEC2ContainerServiceV20141113.<Operation>`, `ecs.ts`), for SDK clients in other processes that sign with the simulator's credentials.
 * `answer` turns a verified request into the service's reply over the state; `serveApi` reads the request off
 * Node's HTTP server and checks its signature.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as Http from "node:http"
import type * as SsmApi from "../../SsmApi.js"
import * as Api from "./api.js"
import type { ApiFailure } from "./api.js"
import * as Ecs from "./ecs.js"
import { verifySignature } from "./signature.js"
import type { ServiceState } from "./serviceState.js"

/** The largest request body the API reads; past it, 413 and the connection closes. @internal */
export const BODY_LIMIT = 1024 * 1024

type Body = Readonly<Record<string, unknown>>

const serialization = (message: string): ApiFailure => ({ status: 400, name: "SerializationException", message })

/** A string member of a JSON body (absent or null: undefined); anything else is a SerializationException. */
const stringField = (body: Body, key: string): Either.Either<string | undefined, ApiFailure> => {
  const value = body[key]
  return value === undefined || value === null
    ? Either.right(undefined)
    : typeof value === "string"
    ? Either.right(value)
    : Either.left(serialization(`${key} must be a string`))
}

/** A number member of a JSON body (absent or null: undefined). */
const numberField = (body: Body, key: string): Either.Either<number | undefined, ApiFailure> => {
  const value = body[key]
  return value === undefined || value === null
    ? Either.right(undefined)
    : typeof value === "number"
    ? Either.right(value)
    : Either.left(serialization(`${key} must be a number`))
}

const isObject = (value: unknown): value is Body =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/** A list of strings, or a SerializationException naming `what`. */
const stringList = (value: unknown, what: string): Either.Either<ReadonlyArray<string>, ApiFailure> =>
  Array.isArray(value) && value.every((item) => typeof item === "string")
    ? Either.right(value as ReadonlyArray<string>)
    : Either.left(serialization(`${what} must be a list of strings`))

/** StartSession's Parameters: a map of string lists. */
const parametersOf = (value: unknown): Either.Either<Record<string, ReadonlyArray<string>>, ApiFailure> =>
  Either.gen(function*() {
    const parameters: Record<string, ReadonlyArray<string>> = Object.create(null)
    if (value === undefined || value === null) return parameters
    if (!isObject(value)) return yield* Either.left(serialization("Parameters must map names to lists of strings"))
    for (const [key, values] of Object.entries(value)) parameters[key] = yield* stringList(values, `Parameters.${key}`)
    return parameters
  })

/** DescribeInstanceInformation's Filters: a list of `{ Key, Values }`. */
const filtersOf = (value: unknown): Either.Either<ReadonlyArray<SsmApi.InstanceFilter>, ApiFailure> =>
  Either.gen(function*() {
    if (value === undefined || value === null) return []
    if (!Array.isArray(value)) return yield* Either.left(serialization("Filters must be a list"))
    const filters: Array<SsmApi.InstanceFilter> = []
    for (const filter of value) {
      if (!isObject(filter)) return yield* Either.left(serialization("each filter must be an object"))
      const key = (yield* stringField(filter, "Key")) ?? ""
      const values = filter["Values"] === undefined || filter["Values"] === null
        ? []
        : yield* stringList(filter["Values"], "Values")
      filters.push({ key, values })
    }
    return filters
  })

const validation = (message: string): ApiFailure => ({ status: 400, name: "ValidationException", message })

/** KMS's GenerateDataKey (the KMS JSON protocol, `X-Amz-Target: TrentService.GenerateDataKey`). */
const generateDataKey = (state: ServiceState, body: Body) =>
  Effect.gen(function*() {
    const keyId = (yield* stringField(body, "KeyId")) ?? ""
    const context = body["EncryptionContext"] ?? {}
    const keySpec = yield* stringField(body, "KeySpec")
    const numberOfBytes = (yield* numberField(body, "NumberOfBytes")) ??
      (keySpec === "AES_128" ? 16 : keySpec === "AES_256" ? 32 : NaN)
    if (keyId === "") return yield* Effect.fail(validation("KeyId is required"))
    if (!(Number.isInteger(numberOfBytes) && numberOfBytes >= 1 && numberOfBytes <= 1024)) {
      return yield* Effect.fail(validation("NumberOfBytes or KeySpec is required"))
    }
    if (!isObject(context) || Object.values(context).some((v) => typeof v !== "string")) {
      return yield* Effect.fail(validation("EncryptionContext must map strings to strings"))
    }
    return yield* Effect.map(
      state.kms.kms.generateDataKey({ keyId, numberOfBytes, encryptionContext: context as Record<string, string> }),
      (key) => ({
        KeyId: keyId,
        Plaintext: Buffer.from(Redacted.value(key.plaintext)).toString("base64"),
        CiphertextBlob: Buffer.from(key.ciphertextBlob).toString("base64")
      })
    ).pipe(
      Effect.catchAll((error) => Effect.fail<ApiFailure>({ status: 400, name: "KMSInternalException", message: error.detail }))
    )
  })

/** DescribeInstanceInformation, in pages as the service gives them. */
const describeInstances = (state: ServiceState, body: Body) =>
  Effect.gen(function*() {
    const all = Api.describeInstanceInformation(state, yield* filtersOf(body["Filters"]))
    // pages as the service gives them: MaxResults (5 to 50) at a time, NextToken an opaque offset
    const size = Math.min(50, Math.max(5, (yield* numberField(body, "MaxResults")) ?? 50)) || 50
    const from = Math.max(0, Math.floor(Number((yield* stringField(body, "NextToken")) ?? 0))) || 0
    const list = all.slice(from, from + size)
    return {
      ...(from + size < all.length ? { NextToken: String(from + size) } : {}),
      InstanceInformationList: list.map((instance) => ({
        InstanceId: instance.instanceId,
        PingStatus: instance.pingStatus,
        ComputerName: instance.computerName,
        IPAddress: instance.ipAddress
      }))
    }
  })

type Operation = (state: ServiceState, body: Body, accessKeyId: string) => Effect.Effect<unknown, ApiFailure>

/** A boolean member of a JSON body (absent or null: undefined). */
const booleanField = (body: Body, key: string): Either.Either<boolean | undefined, ApiFailure> => {
  const value = body[key]
  return value === undefined || value === null
    ? Either.right(undefined)
    : typeof value === "boolean"
    ? Either.right(value)
    : Either.left(serialization(`${key} must be a boolean`))
}

/** ECS's operations (`ecs.ts`), by `X-Amz-Target` */
const ECS = "AmazonEC2ContainerServiceV20141113"

const ecsOperations: Readonly<Record<string, Operation>> = {
  [`${ECS}.ExecuteCommand`]: (state, body) =>
    Effect.gen(function*() {
      return yield* Ecs.executeCommand(state, {
        cluster: yield* stringField(body, "cluster"),
        task: yield* stringField(body, "task"),
        container: yield* stringField(body, "container"),
        command: yield* stringField(body, "command"),
        interactive: yield* booleanField(body, "interactive")
      })
    }),
  [`${ECS}.DescribeTasks`]: (state, body) =>
    Effect.gen(function*() {
      const tasks = body["tasks"] === undefined || body["tasks"] === null ? [] : yield* stringList(body["tasks"], "tasks")
      return yield* Ecs.describeTasks(state, { cluster: yield* stringField(body, "cluster"), tasks })
    }),
  [`${ECS}.ListTasks`]: (state, body) =>
    Effect.gen(function*() {
      return yield* Ecs.listTasks(state, {
        cluster: yield* stringField(body, "cluster"),
        serviceName: yield* stringField(body, "serviceName"),
        family: yield* stringField(body, "family"),
        desiredStatus: yield* stringField(body, "desiredStatus"),
        maxResults: yield* numberField(body, "maxResults"),
        nextToken: yield* stringField(body, "nextToken")
      })
    })
}

/** The operations the API simulates, by `X-Amz-Target`. @internal */
export const operations: Readonly<Record<string, Operation>> = {
  "AmazonSSM.ResumeSession": (state, body, accessKeyId) =>
    Effect.gen(function*() {
      const sessionId = (yield* stringField(body, "SessionId")) ?? ""
      const resumed = yield* Api.resumeSession(state, sessionId, accessKeyId)
      return Option.match(resumed, {
        onNone: () => ({ SessionId: sessionId }),
        onSome: (r) => ({ SessionId: r.SessionId, TokenValue: Redacted.value(r.TokenValue), StreamUrl: r.StreamUrl })
      })
    }),
  "AmazonSSM.TerminateSession": (state, body) =>
    Effect.gen(function*() {
      const sessionId = (yield* stringField(body, "SessionId")) ?? ""
      if (!Api.terminateSession(state, sessionId)) {
        return yield* Effect.fail<ApiFailure>({ status: 400, name: "DoesNotExistException", message: `Session ${sessionId} does not exist` })
      }
      return { SessionId: sessionId }
    }),
  "AmazonSSM.DescribeInstanceInformation": describeInstances,
  "AmazonSSM.StartSession": (state, body) =>
    Effect.gen(function*() {
      const target = (yield* stringField(body, "Target")) ?? ""
      const documentName = yield* stringField(body, "DocumentName")
      const parameters = yield* parametersOf(body["Parameters"])
      const spec = yield* Api.startSpec(state, { target, documentName, parameters })
      const r = Api.startSession(state, { targetId: target, ...spec })
      return { SessionId: r.SessionId, TokenValue: Redacted.value(r.TokenValue), StreamUrl: r.StreamUrl }
    }),
  "AmazonSSM.CreateDocument": (state, body) =>
    Effect.gen(function*() {
      const description = yield* Api.createDocument(state, {
        name: (yield* stringField(body, "Name")) ?? "",
        documentType: (yield* stringField(body, "DocumentType")) ?? "Command",
        documentFormat: (yield* stringField(body, "DocumentFormat")) ?? "JSON",
        content: (yield* stringField(body, "Content")) ?? ""
      })
      return { DocumentDescription: description }
    }),
  "TrentService.GenerateDataKey": generateDataKey,
  ...ecsOperations
}

/** What the API answers: a status, a JSON body and, for a failure, its `x-amzn-errortype`. @internal */
export interface Reply {
  readonly status: number
  readonly body: unknown
  readonly errorType?: string | undefined
}

/** A failure as the service answers it. @internal */
export const failureReply = (failure: ApiFailure): Reply => ({
  status: failure.status,
  body: { __type: failure.name, message: failure.message },
  errorType: failure.name
})

const internalError = failureReply({ status: 500, name: "InternalServerError", message: "the simulator failed" })

/**
 * The reply to a request whose signature checked out (signed under `accessKeyId`): a body that is not a JSON
 * object, or a member of the wrong type, gets SerializationException, an operation not simulated
 * UnknownOperationException, anything unforeseen 500. It never fails.
 * @internal
 */
export const answer = (
  state: ServiceState,
  request: { readonly method: string; readonly target: string | undefined; readonly body: Uint8Array },
  accessKeyId: string
): Effect.Effect<Reply> =>
  Effect.suspend(() => {
    const raw = Buffer.from(request.body.buffer, request.body.byteOffset, request.body.byteLength)
    const body = Either.try(() => JSON.parse(raw.length === 0 ? "{}" : raw.toString("utf8")) as unknown)
    if (Either.isLeft(body) || !isObject(body.right)) {
      return Effect.succeed(failureReply(serialization("the request body is not a JSON object")))
    }
    const target = request.target
    const operation = request.method === "POST" && target !== undefined && Object.hasOwn(operations, target)
      ? operations[target]!
      : undefined
    if (operation === undefined) {
      return Effect.succeed(failureReply({ status: 400, name: "UnknownOperationException", message: "not simulated" }))
    }
    return Effect.matchCause(operation(state, body.right, accessKeyId), {
      onFailure: (cause) => Option.match(Cause.failureOption(cause), { onSome: failureReply, onNone: () => internalError }),
      onSuccess: (answer): Reply => ({ status: 200, body: answer })
    })
  }).pipe(Effect.catchAllDefect(() => Effect.succeed(internalError)))

/**
 * Serves the API on Node's HTTP server. Bodies past `BODY_LIMIT` get 413 and the connection closes; a request not
 * signed with the simulator's secret gets 403 (`verifySignature`); then `answer`: no request ends the server.
 * @internal
 */
export const serveApi = (state: ServiceState) => (request: Http.IncomingMessage, response: Http.ServerResponse) => {
  const reply = ({ body, errorType, status }: Reply) => {
    if (response.headersSent || response.destroyed) return
    response.statusCode = status
    response.setHeader("content-type", "application/x-amz-json-1.1")
    if (errorType !== undefined) response.setHeader("x-amzn-errortype", errorType)
    response.end(JSON.stringify(body))
  }
  let done = false
  /** 413, and the connection closes once it is said, without reading further */
  const tooLarge = () => {
    done = true
    request.removeAllListeners("data")
    response.setHeader("connection", "close")
    response.once("finish", () => request.socket.destroy())
    reply(failureReply({
      status: 413,
      name: "RequestEntityTooLargeException",
      message: `request bodies are limited to ${BODY_LIMIT} bytes`
    }))
  }
  const declared = Number(request.headers["content-length"] ?? 0)
  if (declared > BODY_LIMIT) return tooLarge()
  const chunks: Array<Buffer> = []
  let size = 0
  request.on("error", () => {
    done = true
  })
  request.on("data", (chunk: Buffer) => {
    if (done) return
    size += chunk.length
    if (size > BODY_LIMIT) return tooLarge()
    chunks.push(chunk)
  })
  request.on("end", () => {
    if (done) return
    done = true
    try {
      const raw = Buffer.concat(chunks)
      const signed = verifySignature(
        { method: request.method ?? "", url: request.url ?? "/", headers: request.headers },
        raw,
        Redacted.value(state.credentials.secretAccessKey),
        Date.now()
      )
      if (Either.isLeft(signed)) return reply(failureReply(signed.left))
      const target = request.headers["x-amz-target"]
      const verified = { method: request.method ?? "", target: typeof target === "string" ? target : undefined, body: raw }
      Effect.runFork(Effect.map(answer(state, verified, signed.right), reply))
    } catch {
      reply(internalError)
    }
  })
}
