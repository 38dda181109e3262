/**
 * The simulated SSM API's actions over the service's state: StartSession (after the service's checks, `startSpec`),
 * ResumeSession (a fresh single-use token, or none for a session that timed out), TerminateSession,
 * DescribeInstanceInformation and CreateDocument. Each is synchronous and answers with the service's failure
 * (`ApiFailure`) where the service would; `httpApi.ts` serves them over HTTP and `service.ts` to callers in
 * process.
 *
 * @internal
 */
import * as Deferred from "effect/Deferred"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as AgentSimulator from "../../AgentSimulator.js"
import type * as SsmApi from "../../SsmApi.js"
import * as Documents from "./documents.js"
import * as Ecs from "./ecs.js"
import * as Port from "./port.js"
import { newSession, newToken, type ServiceState, streamUrl } from "./serviceState.js"

/** A failure of the simulated API, as the service reports it. @internal */
export interface ApiFailure {
  readonly status: number
  readonly name: string
  readonly message: string
}

const doesNotExist = (sessionId: string): ApiFailure => ({
  status: 400,
  name: "DoesNotExistException",
  message: `Session ${sessionId} does not exist`
})

const expiredToken: ApiFailure = {
  status: 400,
  name: "ExpiredTokenException",
  message: "The security token included in the request is expired"
}

/** StartSession with `spec` as the session's behaviour: a new session and its first token. @internal */
export const startSession = (
  state: ServiceState,
  spec: AgentSimulator.SessionSpec
): AgentSimulator.StartSessionResponse => {
  const sessionId = `sim-${globalThis.crypto.randomUUID()}`
  const token = newToken()
  state.sessions.set(sessionId, newSession(state, sessionId, spec, token))
  return { SessionId: sessionId, StreamUrl: streamUrl(state, sessionId), TokenValue: Redacted.make(token) }
}

/**
 * ResumeSession: a fresh token for the session, which replaces any it had; none for a session that timed out or
 * that the service lost. Unknown or terminated sessions are DoesNotExistException; calls signed with an expired
 * access key, and the calls `expiredCredentialsResumes` names, ExpiredTokenException; the calls `refuseResumes`
 * names, InternalServerError.
 * @internal
 */
export const resumeSession = (
  state: ServiceState,
  sessionId: string,
  accessKeyId?: string
): Either.Either<Option.Option<AgentSimulator.StartSessionResponse>, ApiFailure> => {
  const session = state.sessions.get(sessionId)
  if (accessKeyId !== undefined && state.expiredAccessKeys.has(accessKeyId)) return Either.left(expiredToken)
  const terminated = session !== undefined &&
    (session.stats.terminatedByApi || (session.ended && !session.expired && !session.killed))
  if (session === undefined || terminated) return Either.left(doesNotExist(sessionId))
  session.resumeCalls++
  const refused = session.faults.refuseResumes ?? 0
  if (session.resumeCalls <= refused) {
    return Either.left({ status: 500, name: "InternalServerError", message: "simulated: ResumeSession refused" })
  }
  if (session.resumeCalls <= refused + (session.faults.expiredCredentialsResumes ?? 0)) return Either.left(expiredToken)
  // a session the service lost, or whose client stayed away too long, has timed out: no token
  if (session.expired || session.killed) return Either.right(Option.none())
  const token = newToken()
  session.token = token
  session.stats.resumes++
  return Either.right(
    Option.some({ SessionId: sessionId, StreamUrl: streamUrl(state, sessionId), TokenValue: Redacted.make(token) })
  )
}

/** TerminateSession: the session's agent ends it; false for an unknown session. @internal */
export const terminateSession = (state: ServiceState, sessionId: string): boolean => {
  const session = state.sessions.get(sessionId)
  if (session === undefined) return false
  session.stats.terminatedByApi = true
  Deferred.unsafeDone(session.terminate, Exit.void)
  return true
}

/** DescribeInstanceInformation's filters (ssm/describe-instance-information): every filter must match @internal */
export const describeInstanceInformation = (
  state: ServiceState,
  filters: ReadonlyArray<SsmApi.InstanceFilter>
): ReadonlyArray<SsmApi.InstanceInformation> =>
  state.instances.filter((instance) =>
    filters.every((filter) => {
      const value = filter.key === "InstanceIds"
        ? instance.instanceId
        : filter.key === "PingStatus"
        ? instance.pingStatus ?? "Online"
        : filter.key.startsWith("tag:")
        ? instance.tags?.[filter.key.slice(4)]
        : undefined
      return value !== undefined && filter.values.includes(value)
    })
  ).map((instance): SsmApi.InstanceInformation => ({
    instanceId: instance.instanceId,
    pingStatus: instance.pingStatus ?? "Online",
    computerName: instance.computerName,
    ipAddress: instance.ipAddress
  }))

/** The service's words for a StartSession whose document or parameters it refuses. @internal */
export const documentFailure = (problem: Documents.RequestProblem): ApiFailure =>
  problem._tag === "UnknownDocument"
    ? { status: 400, name: "InvalidDocument", message: `Document with name ${problem.document} does not exist.` }
    : {
      status: 400,
      name: "InvalidParameters",
      message: problem._tag === "UnknownParameter"
        ? `Parameter ${problem.key} is not declared by the document (it takes: ${problem.known.join(", ") || "none"})`
        : problem._tag === "MissingParameter"
        ? `Parameter ${problem.key} is required by the document`
        : `Parameter ${problem.key} must be a port number from ${problem.minimum} to 65535, got "${problem.value}"`
    }

/**
 * The service's answer to a StartSession request: TargetNotConnected for a managed node whose agent is not
 * online (or, when `instances` lists the account's nodes, one it does not list) and for an `ecs:` target ECS Exec
 * cannot reach (`ecs.ts` `startTarget`, whose agent then runs in ContainerMode); with `sessionSpec`, what it
 * says; otherwise the document's plugin (`port.documentSpec`, with `remoteProcess`) after the service's checks of
 * the document and its parameters (InvalidDocument, InvalidParameters).
 * @internal
 */
export const startSpec = (
  state: ServiceState,
  request: SsmApi.StartSessionRequest
): Either.Either<AgentSimulator.SessionSpec, ApiFailure> => {
  const instance = state.instances.find((instance) => instance.instanceId === request.target)
  // an ECS container (`ecs:<cluster>_<task>_<runtime>`) is connected while ECS Exec could reach it (`ecs.ts`)
  const ecs = request.target.startsWith("ecs:")
  const container = ecs ? Ecs.startTarget(state, request.target) : undefined
  const notConnected = ecs
    ? container === undefined
    : instance === undefined
    ? state.options.instances !== undefined
    : (instance.pingStatus ?? "Online") !== "Online"
  if (notConnected) {
    return Either.left({ status: 400, name: "TargetNotConnected", message: `${request.target} is not connected.` })
  }
  if (state.options.sessionSpec !== undefined) return Either.right(state.options.sessionSpec(request))
  const problem = state.createdDocuments.has(request.documentName ?? "")
    ? undefined
    : Documents.checkRequest(request.documentName, request.parameters ?? {})
  // a container's agent runs in ContainerMode, with the container's environment
  const remote: Port.AgentRemote | undefined = container === undefined ? state.options.remoteProcess : {
    ...state.options.remoteProcess,
    environment: { ...state.options.remoteProcess?.environment, ...container.environment },
    containerMode: true
  }
  return problem !== undefined ? Either.left(documentFailure(problem)) : Either.right(Port.documentSpec(request, remote))
}

/** What CreateDocument is given. @internal */
export interface CreateDocumentRequest {
  readonly name: string
  readonly documentType: string
  readonly documentFormat: string
  readonly content: string
}

const isObject = (value: unknown): value is Readonly<Record<string, unknown>> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/**
 * CreateDocument: the name must be valid and new (the `AWS-` documents the simulator plays exist already), and a
 * JSON Session document must hold a `sessionType`. The document's description.
 * @internal
 */
export const createDocument = (
  state: ServiceState,
  request: CreateDocumentRequest
): Either.Either<Readonly<Record<string, string>>, ApiFailure> => {
  const { content: text, documentFormat: format, documentType: type, name } = request
  if (!/^[a-zA-Z0-9_.-]{3,128}$/.test(name) || /^(aws|amazon|amzn)/i.test(name) && !(name in Documents.documents)) {
    return Either.left({ status: 400, name: "ValidationException", message: `Invalid document name ${name}` })
  }
  if (state.createdDocuments.has(name) || name in Documents.documents && name.startsWith("AWS-")) {
    return Either.left({ status: 400, name: "DocumentAlreadyExists", message: "The specified document already exists." })
  }
  const content = format === "JSON" ? Either.try(() => JSON.parse(text) as unknown) : Either.right(undefined)
  if (
    Either.isLeft(content) ||
    type === "Session" && format === "JSON" && !(isObject(content.right) && "sessionType" in content.right)
  ) {
    return Either.left({ status: 400, name: "InvalidDocumentContent", message: "The content for the document is not valid." })
  }
  state.createdDocuments.add(name)
  return Either.right({
    Name: name,
    DocumentType: type,
    DocumentFormat: format,
    DocumentVersion: "1",
    LatestVersion: "1",
    DefaultVersion: "1",
    Status: "Active",
    SchemaVersion: "1.0"
  })
}

/** What the agent's counters and the connections say of a session; undefined for an unknown one. @internal */
export const sessionStats = (state: ServiceState, sessionId: string): AgentSimulator.SessionStats | undefined => {
  const session = state.sessions.get(sessionId)
  if (session === undefined) return undefined
  const live = session.channel?.stats()
  return {
    ...session.stats,
    retransmissions: live?.retransmissions ?? 0,
    messagesSent: live?.messagesSent ?? 0
  }
}
