/**
 * The simulated Session Manager service: a WebSocket server on 127.0.0.1, with the SSM JSON API (StartSession for
 * every document the simulator plays, ResumeSession, TerminateSession, DescribeInstanceInformation,
 * CreateDocument) and KMS's GenerateDataKey over HTTP on the same port. It carries frames
 * between each client WebSocket and the session's agent side (`agent.ts`), which lives as long as the session,
 * not the WebSocket: while the client is away the agent is paused (`pause_publication`, as the service does,
 * AGENT-PROTOCOL.md section 9) for up to `resumeGrace`, and ResumeSession hands out a fresh single-use token
 * (section 11.3).
 *
 * Seeded faults: frames dropped, duplicated, reordered or delayed; garbage frames; WebSockets dropped every so
 * many frames or milliseconds (abruptly, or closed with 1000 as the service's hourly recycle) with the frames in
 * flight lost; the session lost for good; resumes refused; credentials expired.
 *
 * @internal
 */
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as FiberSet from "effect/FiberSet"
import * as Layer from "effect/Layer"
import * as Mailbox from "effect/Mailbox"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as Http from "node:http"
import * as WS from "ws"
import * as AgentPayload from "../../AgentPayload.js"
import type * as AgentSimulator from "../../AgentSimulator.js"
import type * as KmsApi from "../../KmsApi.js"
import type * as SsmApi from "../../SsmApi.js"
import * as kmsApi from "../kmsApi.js"
import { corkSocket } from "../link.js"
import * as ssmApi from "../ssmApi.js"
import * as Agent from "./agent.js"
import * as Documents from "./documents.js"
import * as SimulatorKms from "./kms.js"
import * as Port from "./port.js"

const textEncoder = new TextEncoder()
const decodeOpen = AgentPayload.decodePayload(AgentPayload.jsonPayload(AgentPayload.OpenDataChannel))

/** bytes queued on a WebSocket before the agent's writer waits, as a blocking write would */
const SEND_BUFFER_LIMIT = 1024 * 1024

/**
 * Frames the agent sent while no WebSocket carried the session (before the pause reached it), which the service
 * delivers when one does; past this many they are lost.
 */
const BACKLOG_LIMIT = 1024

/** How long frames sent may stay "in flight" (behind the `lostFrames` newest) before they are delivered. */
const IN_FLIGHT_MILLIS = 2

/** One client WebSocket carrying a session. */
interface Attachment {
  readonly socket: WS.WebSocket
  /** agent → client, through the toClient faults */
  readonly outgoing: { readonly push: (frame: Uint8Array) => void }
  /** the newest frames sent, not yet delivered: lost if the WebSocket is dropped now */
  inFlight: Array<Uint8Array>
  readonly lostFrames: number
  flushTimer: ReturnType<typeof setTimeout> | undefined
  dropTimer: ReturnType<typeof setTimeout> | undefined
  live: boolean
}

interface ServiceSession extends Agent.SessionRecord {
  readonly id: string
  /** the token the next WebSocket must present; each is good for one */
  token: string | undefined
  readonly faults: AgentSimulator.Faults
  readonly random: () => number
  readonly frames: Mailbox.Mailbox<Uint8Array>
  readonly incoming: { readonly push: (frame: Uint8Array) => void }
  attached: Attachment | undefined
  /** see `BACKLOG_LIMIT` */
  backlog: Array<Uint8Array>
  agentStarted: boolean
  /** the agent side has ended */
  ended: boolean
  /** the client stayed away past the grace period: the session timed out */
  expired: boolean
  /** `closeAfterMessages`: the service lost the session, which cannot be resumed */
  killed: boolean
  readonly gone: Deferred.Deferred<void>
  graceTimer: ReturnType<typeof setTimeout> | undefined
  /** frames the agent has sent, and how many when the last drop was */
  sent: number
  sentAtDrop: number
  resumeCalls: number
}

/** A failure of the simulated API, as the service reports it. */
interface ApiFailure {
  readonly status: number
  readonly name: string
  readonly message: string
}

/** StartSession's Parameters: a map of string lists (anything else is left out). */
const parametersOf = (value: unknown): Record<string, ReadonlyArray<string>> => {
  const parameters: Record<string, ReadonlyArray<string>> = Object.create(null)
  if (typeof value !== "object" || value === null) return parameters
  for (const [key, values] of Object.entries(value)) {
    if (Array.isArray(values)) parameters[key] = values.map(String)
  }
  return parameters
}

/** @internal */
export const make = (
  options: AgentSimulator.SimulatorOptions = {}
): Effect.Effect<AgentSimulator.AgentSimulator, AgentSimulator.SimulatorError, Scope.Scope> =>
  Effect.gen(function*() {
    const sessions = new Map<string, ServiceSession>()
    const expiredAccessKeys = new Set<string>()
    // the simulator's KMS: the data keys clients make are the ones its agent can decrypt
    const simulatedKms = SimulatorKms.make()
    const agents = yield* FiberSet.make()
    const runFork = yield* FiberSet.runtime(agents)<never>()
    const graceMillis = Duration.toMillis(Duration.decode(options.resumeGrace ?? "2 minutes"))
    const openFrameMillis = Duration.toMillis(Duration.decode(options.openFrameTimeout ?? "5 seconds"))

    const { server, webSockets } = yield* Effect.acquireRelease(
      Effect.async<{ server: Http.Server; webSockets: WS.WebSocketServer }, AgentSimulator.SimulatorError>((resume) => {
        const server = Http.createServer((request, response) => serveApi(request, response))
        const webSockets = new WS.WebSocketServer({ server })
        server.once("listening", () => resume(Effect.succeed({ server, webSockets })))
        server.once("error", (cause) => resume(Effect.fail({ _tag: "SimulatorError", reason: "Listen", cause })))
        server.listen(options.port ?? 0, options.host ?? "127.0.0.1")
      }),
      ({ server, webSockets }) =>
        Effect.async<void>((resume) => {
          for (const session of sessions.values()) clearTimers(session)
          for (const client of webSockets.clients) client.terminate()
          webSockets.close()
          server.closeAllConnections()
          server.close(() => resume(Effect.void))
        })
    )
    const port = (server.address() as { port: number }).port
    const host = options.host ?? "127.0.0.1"

    const clearTimers = (session: ServiceSession) => {
      if (session.graceTimer !== undefined) clearTimeout(session.graceTimer)
      session.graceTimer = undefined
      const attached = session.attached
      if (attached?.dropTimer !== undefined) clearTimeout(attached.dropTimer)
      if (attached?.flushTimer !== undefined) clearTimeout(attached.flushTimer)
    }

    // ------------------------------------------------------------------------------------------------------------
    // connections: a WebSocket presents a token, then carries the session until it closes or is dropped
    // ------------------------------------------------------------------------------------------------------------
    webSockets.on("connection", (socket, request) => {
      const match = /^\/v1\/data-channel\/([^?]+)/.exec(request.url ?? "")
      const session = match === null ? undefined : sessions.get(decodeURIComponent(match[1]!))
      if (session === undefined || session.ended || session.expired || session.killed) {
        socket.close(4004, "unknown session")
        return
      }
      session.stats.connections++
      session.stats.openConnections++
      let attachment: Attachment | undefined
      // a connection that says nothing must not hold a socket for ever
      const openTimer = setTimeout(() => socket.close(4001, "expected OpenDataChannel"), openFrameMillis)
      socket.on("message", (data: Buffer, isBinary: boolean) => {
        if (attachment === undefined) {
          // 1. the OpenDataChannel text frame with the session's current token
          clearTimeout(openTimer)
          if (isBinary) return socket.close(4001, "expected OpenDataChannel")
          const open = decodeOpen(textEncoder.encode(data.toString("utf8")))
          if (Either.isLeft(open) || session.token === undefined || Redacted.value(open.right.TokenValue) !== session.token) {
            return socket.close(4003, "invalid token")
          }
          session.token = undefined
          attachment = attach(session, socket, open.right.ClientVersion)
          return
        }
        // the client's frames count until its connection is gone (a reset or a silent path takes them with it)
        if (isBinary) session.incoming.push(new Uint8Array(data.buffer, data.byteOffset, data.byteLength))
      })
      socket.on("ping", () => session.stats.pings++)
      socket.on("close", () => {
        clearTimeout(openTimer)
        session.stats.openConnections--
        if (attachment === undefined) return
        detach(session, attachment)
        pauseAgent(session)
      })
    })

    const attach = (session: ServiceSession, socket: WS.WebSocket, clientVersion: string): Attachment => {
      if (session.graceTimer !== undefined) clearTimeout(session.graceTimer)
      session.graceTimer = undefined
      const attachment: Attachment = {
        socket,
        outgoing: Agent.makeFaultyPipe(session.faults.toClient, session.random, (frame) => {
          if (socket.readyState === WS.WebSocket.OPEN) socket.send(frame)
        }),
        inFlight: [],
        lostFrames: session.faults.dropConnection?.lostFrames ?? 0,
        flushTimer: undefined,
        dropTimer: undefined,
        live: true
      }
      session.attached = attachment
      const drop = session.faults.dropConnection
      if (drop?.everyMillis !== undefined && dropsLeft(session)) {
        attachment.dropTimer = setTimeout(() => dropConnection(session, drop.close ?? "abrupt"), drop.everyMillis)
      }
      if (!session.agentStarted) {
        session.agentStarted = true
        runFork(runAgent(session, clientVersion))
      } else {
        // the client is back: the agent carries on (the agent's Reconnect clears its pause), after whatever the
        // client's previous WebSocket still brought
        session.frames.unsafeOffer(Agent.publication("start_publication"))
        const backlog = session.backlog
        session.backlog = []
        for (const frame of backlog) deliver(attachment, frame)
      }
      return attachment
    }

    /**
     * The WebSocket no longer carries the session: what the agent sends waits for the next (`BACKLOG_LIMIT`), and
     * the session waits for one up to the grace period.
     */
    const detach = (session: ServiceSession, attachment: Attachment) => {
      attachment.live = false
      attachment.inFlight = []
      if (attachment.dropTimer !== undefined) clearTimeout(attachment.dropTimer)
      if (attachment.flushTimer !== undefined) clearTimeout(attachment.flushTimer)
      if (session.attached !== attachment) return
      session.attached = undefined
      if (session.ended) return
      session.graceTimer = setTimeout(() => {
        if (session.attached !== undefined) return
        session.expired = true
        Deferred.unsafeDone(session.gone, Exit.void)
      }, graceMillis)
    }

    /**
     * The client is away: the service pauses the agent, after the last frames the client's WebSocket brought (any
     * frame from the client clears the agent's pause).
     */
    const pauseAgent = (session: ServiceSession) => {
      if (session.attached === undefined && !session.ended) session.frames.unsafeOffer(Agent.publication("pause_publication"))
    }

    const dropsLeft = (session: ServiceSession) => session.stats.drops < (session.faults.dropConnection?.times ?? Infinity)

    /** Drops the session's WebSocket: the frames in flight are lost, and so is everything until a new one. */
    const dropConnection = (session: ServiceSession, close: "abrupt" | "reset" | "recycle" | "silent") => {
      const attachment = session.attached
      if (attachment === undefined) return false
      session.stats.drops++
      session.sentAtDrop = session.sent
      detach(session, attachment)
      if (close === "recycle") {
        attachment.socket.close(1000)
        // the service decided to close: it pauses the agent now, and again once the closing handshake is over (a
        // frame the client still sends on its way out clears the agent's pause), so that what the agent sends
        // meanwhile does not outgrow the backlog and wait for the agent's one resend per 100 ms
        pauseAgent(session)
      } else if (close === "silent") {
        // the connection stays open and goes quiet: nothing is read (so no pong) and nothing is sent
        const raw = (attachment.socket as unknown as { readonly _socket?: { pause?: () => void } })._socket
        raw?.pause?.()
        pauseAgent(session)
      } else {
        const raw = (attachment.socket as unknown as {
          readonly _socket?: { readonly end: () => void; readonly resetAndDestroy?: () => void }
        })._socket
        if (close === "reset" && typeof raw?.resetAndDestroy === "function") {
          // a TCP reset: whatever the connection still held is lost with it, as much as its buffers took
          raw.resetAndDestroy()
        } else if (raw !== undefined) {
          // the connection ends without a WebSocket close frame (1006 for the client) once what it took before the
          // drop has gone: what is lost is the `lostFrames` in flight, so a test controls the loss
          raw.end()
        } else {
          attachment.socket.terminate()
        }
      }
      return true
    }

    /** Into the client's WebSocket, behind the `lostFrames` newest frames still in flight. */
    const deliver = (attachment: Attachment, frame: Uint8Array) => {
      const lost = attachment.lostFrames
      if (lost === 0) return attachment.outgoing.push(frame)
      attachment.inFlight.push(frame)
      while (attachment.inFlight.length > lost) attachment.outgoing.push(attachment.inFlight.shift()!)
      attachment.flushTimer ??= setTimeout(() => {
        attachment.flushTimer = undefined
        for (const held of attachment.inFlight) attachment.outgoing.push(held)
        attachment.inFlight = []
      }, IN_FLIGHT_MILLIS)
    }

    /**
     * The agent's frames to the client: through the current WebSocket; while there is none, kept for the next
     * (up to `BACKLOG_LIMIT`).
     */
    const sendToClient = (session: ServiceSession) => (frame: Uint8Array): Effect.Effect<void> =>
      Effect.suspend(() => {
        session.sent++
        const faults = session.faults
        if (faults.closeAfterMessages !== undefined && session.sent > faults.closeAfterMessages) {
          // the service lost the session: its WebSocket dies, and it cannot be resumed
          if (!session.killed) {
            session.killed = true
            session.attached?.socket.terminate()
            Deferred.unsafeDone(session.gone, Exit.void)
          }
          return Effect.void
        }
        const attachment = session.attached
        if (attachment === undefined) {
          if (session.backlog.length < BACKLOG_LIMIT) session.backlog.push(frame)
          return Effect.void
        }
        const drop = faults.dropConnection
        if (
          drop?.everyMessages !== undefined && session.sent - session.sentAtDrop > drop.everyMessages && dropsLeft(session)
        ) {
          dropConnection(session, drop.close ?? "abrupt")
          return Effect.void
        }
        if (faults.garbage !== undefined && session.random() < faults.garbage) {
          const length = 64 + Math.floor(session.random() * 200)
          attachment.outgoing.push(Uint8Array.from({ length }, () => Math.floor(session.random() * 256)))
        }
        deliver(attachment, frame)
        // the agent's WebSocket write blocks while the connection is full (its sender, pumps and resends all
        // wait on it: communicator/websocketchannel.go SendMessage): so does this one, past a megabyte
        return attachment.socket.bufferedAmount > SEND_BUFFER_LIMIT ? Agent.drained(attachment.socket) : Effect.void
      })

    const runAgent = (session: ServiceSession, clientVersion: string) =>
      Agent.runAgent({
        sessionId: session.id,
        record: session,
        options,
        faults: session.faults,
        random: session.random,
        frames: session.frames,
        send: sendToClient(session),
        cork: () => corkSocket(session.attached?.socket),
        clientVersion,
        kms: simulatedKms,
        gone: session.gone
      }).pipe(
        Effect.scoped,
        Effect.ensuring(Effect.sync(() => {
          session.ended = true
          session.stats.closed = true
          clearTimers(session)
          // a graceful close delivers what was sent last (channel_closed)
          session.attached?.socket.close()
        }))
      )

    // ------------------------------------------------------------------------------------------------------------
    // the API
    // ------------------------------------------------------------------------------------------------------------
    const streamUrl = (sessionId: string) =>
      `ws://${host}:${port}/v1/data-channel/${encodeURIComponent(sessionId)}?role=publish_subscribe`

    const startSession = (spec: AgentSimulator.SessionSpec) =>
      Effect.sync((): AgentSimulator.StartSessionResponse => {
        const sessionId = `sim-${globalThis.crypto.randomUUID()}`
        const token = `${globalThis.crypto.randomUUID()}${globalThis.crypto.randomUUID()}`
        const faults = { ...options.faults, ...spec.faults }
        const random = Agent.prng(faults.seed ?? 1)
        const frames = Effect.runSync(Mailbox.make<Uint8Array>())
        sessions.set(sessionId, {
          id: sessionId,
          spec,
          token,
          faults,
          random,
          frames,
          incoming: Agent.makeFaultyPipe(faults.toAgent, random, (frame) => frames.unsafeOffer(frame)),
          attached: undefined,
          backlog: [],
          agentStarted: false,
          ended: false,
          expired: false,
          killed: false,
          gone: Deferred.unsafeMake<void>(FiberId.none),
          graceTimer: undefined,
          sent: 0,
          sentAtDrop: 0,
          resumeCalls: 0,
          stats: {
            connections: 0,
            openConnections: 0,
            closed: false,
            handshakeResponses: 0,
            terminateFlags: 0,
            terminatedByApi: false,
            dataMessagesReceived: 0,
            rateCapClosed: false,
            pauses: 0,
            pings: 0,
            encrypted: false,
            decryptionFailures: 0,
            resumes: 0,
            drops: 0
          },
          channel: undefined,
          terminate: Deferred.unsafeMake<void>(FiberId.none)
        })
        return { SessionId: sessionId, StreamUrl: streamUrl(sessionId), TokenValue: Redacted.make(token) }
      })

    const resumeSession = (sessionId: string, accessKeyId?: string) =>
      Effect.suspend((): Effect.Effect<Option.Option<AgentSimulator.StartSessionResponse>, ApiFailure> => {
        const session = sessions.get(sessionId)
        if (accessKeyId !== undefined && expiredAccessKeys.has(accessKeyId)) {
          return Effect.fail({
            status: 400,
            name: "ExpiredTokenException",
            message: "The security token included in the request is expired"
          })
        }
        const terminated = session !== undefined &&
          (session.stats.terminatedByApi || (session.ended && !session.expired && !session.killed))
        if (session === undefined || terminated) {
          return Effect.fail({ status: 400, name: "DoesNotExistException", message: `Session ${sessionId} does not exist` })
        }
        session.resumeCalls++
        const refused = session.faults.refuseResumes ?? 0
        if (session.resumeCalls <= refused) {
          return Effect.fail({ status: 500, name: "InternalServerError", message: "simulated: ResumeSession refused" })
        }
        if (session.resumeCalls <= refused + (session.faults.expiredCredentialsResumes ?? 0)) {
          return Effect.fail({
            status: 400,
            name: "ExpiredTokenException",
            message: "The security token included in the request is expired"
          })
        }
        // a session the service lost, or whose client stayed away too long, has timed out: no token
        if (session.expired || session.killed) return Effect.succeed(Option.none())
        const token = `${globalThis.crypto.randomUUID()}${globalThis.crypto.randomUUID()}`
        session.token = token
        session.stats.resumes++
        return Effect.succeed(Option.some({ SessionId: sessionId, StreamUrl: streamUrl(sessionId), TokenValue: Redacted.make(token) }))
      })

    const terminateSession = (sessionId: string) =>
      Effect.sync(() => {
        const session = sessions.get(sessionId)
        if (session === undefined) return false
        session.stats.terminatedByApi = true
        Deferred.unsafeDone(session.terminate, Exit.void)
        return true
      })

    const instances = options.instances ?? [{
      instanceId: "i-simulated",
      tags: { Name: "simulated" },
      computerName: "simulated",
      ipAddress: "127.0.0.1"
    }]
    /** DescribeInstanceInformation's filters (ssm/describe-instance-information): every filter must match */
    const describeInstanceInformation = (filters: ReadonlyArray<SsmApi.InstanceFilter>) =>
      Effect.sync(() =>
        instances.filter((instance) =>
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
      )

    /**
     * Session documents created through CreateDocument (their names), beside the ones the simulator plays (a created
     * document the simulator does not know runs the echo plugin).
     */
    const createdDocuments = new Set<string>()

    /**
     * The service's answer to a StartSession request: TargetNotConnected for a managed node whose agent is not
     * online (or, when `instances` lists the account's nodes, one it does not list); with `sessionSpec`, what it
     * says; otherwise the document's plugin (`port.documentSpec`) after the service's checks of the document and its
     * parameters (InvalidDocument, InvalidParameters).
     */
    const startSpec = (request: SsmApi.StartSessionRequest) =>
      Effect.suspend((): Effect.Effect<AgentSimulator.SessionSpec, ApiFailure> => {
        const instance = instances.find((instance) => instance.instanceId === request.target)
        if (
          instance === undefined ? options.instances !== undefined : (instance.pingStatus ?? "Online") !== "Online"
        ) {
          return Effect.fail({ status: 400, name: "TargetNotConnected", message: `${request.target} is not connected.` })
        }
        if (options.sessionSpec !== undefined) return Effect.succeed(options.sessionSpec(request))
        const parameters = request.parameters ?? {}
        const problem = createdDocuments.has(request.documentName ?? "")
          ? undefined
          : Documents.checkRequest(request.documentName, parameters)
        if (problem !== undefined) {
          return Effect.fail(
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
          )
        }
        return Effect.succeed(Port.documentSpec(request))
      })

    const createDocument = (body: Record<string, unknown>) =>
      Effect.suspend(() => {
        const name = String(body["Name"] ?? "")
        const type = String(body["DocumentType"] ?? "Command")
        const format = String(body["DocumentFormat"] ?? "JSON")
        if (!/^[a-zA-Z0-9_.-]{3,128}$/.test(name) || /^(aws|amazon|amzn)/i.test(name) && !(name in Documents.documents)) {
          return Effect.fail<ApiFailure>({ status: 400, name: "ValidationException", message: `Invalid document name ${name}` })
        }
        if (createdDocuments.has(name) || name in Documents.documents && name.startsWith("AWS-")) {
          return Effect.fail<ApiFailure>({ status: 400, name: "DocumentAlreadyExists", message: "The specified document already exists." })
        }
        try {
          const content = format === "JSON" ? JSON.parse(String(body["Content"] ?? "")) : undefined
          if (type === "Session" && format === "JSON" && (typeof content !== "object" || content === null || !("sessionType" in content))) {
            throw new Error("no sessionType")
          }
        } catch {
          return Effect.fail<ApiFailure>({ status: 400, name: "InvalidDocumentContent", message: "The content for the document is not valid." })
        }
        createdDocuments.add(name)
        return Effect.succeed({
          Name: name,
          DocumentType: type,
          DocumentFormat: format,
          DocumentVersion: "1",
          LatestVersion: "1",
          DefaultVersion: "1",
          Status: "Active",
          SchemaVersion: "1.0"
        })
      })

    /** KMS's GenerateDataKey (the KMS JSON protocol, `X-Amz-Target: TrentService.GenerateDataKey`). */
    const generateDataKey = (body: Record<string, unknown>) =>
      Effect.suspend((): Effect.Effect<Record<string, unknown>, ApiFailure> => {
        const keyId = String(body["KeyId"] ?? "")
        const context = body["EncryptionContext"] ?? {}
        const numberOfBytes = body["NumberOfBytes"] !== undefined
          ? Number(body["NumberOfBytes"])
          : body["KeySpec"] === "AES_128"
          ? 16
          : body["KeySpec"] === "AES_256"
          ? 32
          : NaN
        if (keyId === "") return Effect.fail({ status: 400, name: "ValidationException", message: "KeyId is required" })
        if (!(Number.isInteger(numberOfBytes) && numberOfBytes >= 1 && numberOfBytes <= 1024)) {
          return Effect.fail({ status: 400, name: "ValidationException", message: "NumberOfBytes or KeySpec is required" })
        }
        if (typeof context !== "object" || context === null || Object.values(context).some((v) => typeof v !== "string")) {
          return Effect.fail({ status: 400, name: "ValidationException", message: "EncryptionContext must map strings to strings" })
        }
        return Effect.map(
          simulatedKms.kms.generateDataKey({
            keyId,
            numberOfBytes,
            encryptionContext: context as Record<string, string>
          }),
          (key) => ({
            KeyId: keyId,
            Plaintext: Buffer.from(Redacted.value(key.plaintext)).toString("base64"),
            CiphertextBlob: Buffer.from(key.ciphertextBlob).toString("base64")
          })
        ).pipe(Effect.catchAll((error) => Effect.fail<ApiFailure>({ status: 400, name: "KMSInternalException", message: error.detail })))
      })

    /**
     * The SSM JSON protocol (`X-Amz-Target: AmazonSSM.<Operation>`) and KMS's (`TrentService.<Operation>`), for SDK
     * clients in other processes.
     */
    const serveApi = (request: Http.IncomingMessage, response: Http.ServerResponse) => {
      let raw = ""
      request.on("data", (chunk) => (raw += chunk))
      request.on("end", () => {
        const reply = (status: number, body: unknown, errorType?: string) => {
          response.statusCode = status
          response.setHeader("content-type", "application/x-amz-json-1.1")
          if (errorType !== undefined) response.setHeader("x-amzn-errortype", errorType)
          response.end(JSON.stringify(body))
        }
        const fail = (failure: ApiFailure) => reply(failure.status, { __type: failure.name, message: failure.message }, failure.name)
        let body: Record<string, unknown> = {}
        try {
          body = JSON.parse(raw || "{}")
        } catch {
          return fail({ status: 400, name: "SerializationException", message: "the request is not JSON" })
        }
        const accessKeyId = /Credential=([^/]+)\//.exec(String(request.headers["authorization"] ?? ""))?.[1]
        const sessionId = String(body["SessionId"] ?? "")
        const answer = <A>(effect: Effect.Effect<A, ApiFailure>, ok: (a: A) => unknown) =>
          Effect.runFork(Effect.match(effect, { onFailure: fail, onSuccess: (a) => reply(200, ok(a)) }))
        switch (String(request.headers["x-amz-target"] ?? "")) {
          case "AmazonSSM.ResumeSession":
            return answer(resumeSession(sessionId, accessKeyId), (resumed) =>
              Option.match(resumed, {
                onNone: () => ({ SessionId: sessionId }),
                onSome: (r) => ({ SessionId: r.SessionId, TokenValue: Redacted.value(r.TokenValue), StreamUrl: r.StreamUrl })
              }))
          case "AmazonSSM.TerminateSession":
            return answer(
              Effect.flatMap(terminateSession(sessionId), (known) =>
                known
                  ? Effect.void
                  : Effect.fail<ApiFailure>({ status: 400, name: "DoesNotExistException", message: `Session ${sessionId} does not exist` })),
              () => ({ SessionId: sessionId })
            )
          case "AmazonSSM.DescribeInstanceInformation": {
            const filters = Array.isArray(body["Filters"]) ? body["Filters"] as Array<{ Key?: unknown; Values?: unknown }> : []
            return answer(
              describeInstanceInformation(filters.map((filter) => ({
                key: String(filter.Key ?? ""),
                values: Array.isArray(filter.Values) ? filter.Values.map(String) : []
              }))),
              (all) => {
                // pages as the service gives them: MaxResults (5 to 50) at a time, NextToken an opaque offset
                const size = Math.min(50, Math.max(5, Number(body["MaxResults"] ?? 50) || 50))
                const from = Number(body["NextToken"] ?? 0) || 0
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
              }
            )
          }
          case "AmazonSSM.StartSession": {
            const target = String(body["Target"] ?? "")
            const documentName = typeof body["DocumentName"] === "string" ? body["DocumentName"] : undefined
            const parameters = parametersOf(body["Parameters"])
            return answer(
              Effect.flatMap(
                startSpec({ target, documentName, parameters }),
                (spec) => startSession({ targetId: target, ...spec })
              ),
              (r) => ({ SessionId: r.SessionId, TokenValue: Redacted.value(r.TokenValue), StreamUrl: r.StreamUrl })
            )
          }
          case "AmazonSSM.CreateDocument":
            return answer(createDocument(body), (description) => ({ DocumentDescription: description }))
          case "TrentService.GenerateDataKey":
            return answer(generateDataKey(body), (key) => key)
          default:
            return fail({ status: 400, name: "UnknownOperationException", message: "not simulated" })
        }
      })
    }

    return {
      host,
      port,
      endpoint: `http://${host}:${port}`,
      kms: simulatedKms.kms,
      startSession,
      resumeSession: (sessionId) =>
        Effect.mapError(resumeSession(sessionId), (failure) =>
          new ssmApi.SsmApiError({
            reason: ssmApi.reasonOf({ name: failure.name }),
            operation: "ResumeSession",
            detail: failure.message
          })),
      terminateSession,
      describeInstanceInformation,
      dropConnection: (sessionId, close = "abrupt") =>
        Effect.sync(() => {
          const session = sessions.get(sessionId)
          return session === undefined ? false : dropConnection(session, close)
        }),
      expireCredentials: (accessKeyId) => Effect.sync(() => void expiredAccessKeys.add(accessKeyId)),
      sessionStats: (sessionId) =>
        Effect.sync(() => {
          const session = sessions.get(sessionId)
          if (session === undefined) return undefined
          const live = session.channel?.stats()
          return {
            ...session.stats,
            retransmissions: live?.retransmissions ?? 0,
            messagesSent: live?.messagesSent ?? 0
          }
        })
    }
  })

/** @internal */
export const simulatorTag = Context.GenericTag<AgentSimulator.AgentSimulator>("ssm-session-manager/AgentSimulator")

/** @internal */
export const layerSsmApi = (
  spec: (request: SsmApi.StartSessionRequest) => AgentSimulator.SessionSpec
): Layer.Layer<SsmApi.SsmApi, never, AgentSimulator.AgentSimulator> =>
  Layer.effect(
    ssmApi.tag,
    Effect.map(simulatorTag, (simulator): SsmApi.SsmApi => ({
      startSession: (request) =>
        Effect.map(simulator.startSession({ targetId: request.target, ...spec(request) }), (response) => ({
          sessionId: response.SessionId,
          streamUrl: response.StreamUrl,
          tokenValue: response.TokenValue
        })),
      resumeSession: (sessionId) =>
        Effect.map(simulator.resumeSession(sessionId), Option.map((response) => ({
          sessionId: response.SessionId,
          streamUrl: response.StreamUrl,
          tokenValue: response.TokenValue
        }))),
      describeInstanceInformation: simulator.describeInstanceInformation,
      terminateSession: (sessionId) =>
        Effect.flatMap(simulator.terminateSession(sessionId), (known) =>
          known ? Effect.void : Effect.fail(
            new ssmApi.SsmApiError({
              reason: "DoesNotExist",
              operation: "TerminateSession",
              detail: `Session ${sessionId} does not exist`
            })
          ))
    }))
  )

/** @internal */
export const layerKmsApi: Layer.Layer<KmsApi.KmsApi, never, AgentSimulator.AgentSimulator> = Layer.effect(
  kmsApi.tag,
  Effect.map(simulatorTag, (simulator) => simulator.kms)
)
