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
import * as Cause from "effect/Cause"
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
import * as Crypto from "node:crypto"
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

/** A failure of the simulated API, as the service reports it. @internal */
export interface ApiFailure {
  readonly status: number
  readonly name: string
  readonly message: string
}

/** The largest request body the API reads; past it, 413 and the connection closes. */
export const BODY_LIMIT = 1024 * 1024

/** The largest WebSocket message a data channel takes (the `ws` default is 100 MiB). */
const MESSAGE_LIMIT = 4 * 1024 * 1024

/** How far a signed request's X-Amz-Date may be from now, as AWS allows. */
const SKEW_MILLIS = 15 * 60 * 1000

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

/** `decodeURIComponent`, or undefined for a malformed escape (`%`, `%E0%A4%A`). */
const decodeComponent = (text: string): string | undefined => {
  try {
    return decodeURIComponent(text)
  } catch {
    return undefined
  }
}

/** RFC 3986 escaping as SigV4 does it (`encodeURIComponent` plus `!'()*`). */
const escapeUri = (text: string) =>
  encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)

/** The canonical URI of a non-S3 request (segments normalised, then escaped once more), as the SDK signs it. */
const canonicalPath = (path: string) => {
  const segments: Array<string> = []
  for (const segment of path.split("/")) {
    if (segment === "" || segment === ".") continue
    if (segment === "..") segments.pop()
    else segments.push(segment)
  }
  const normalised = `${path.startsWith("/") ? "/" : ""}${segments.join("/")}${
    segments.length > 0 && path.endsWith("/") ? "/" : ""
  }`
  return escapeUri(normalised).replace(/%2F/g, "/")
}

/** The canonical query string; undefined when it does not decode. */
const canonicalQuery = (query: string): string | undefined => {
  const pairs: Array<string> = []
  for (const part of query.split("&")) {
    if (part === "") continue
    const equals = part.indexOf("=")
    const [key, value] = equals < 0 ? [part, ""] : [part.slice(0, equals), part.slice(equals + 1)]
    try {
      const name = decodeURIComponent(key)
      if (name.toLowerCase() === "x-amz-signature") continue
      pairs.push(`${escapeUri(name)}=${escapeUri(decodeURIComponent(value))}`)
    } catch {
      return undefined
    }
  }
  return pairs.sort().join("&")
}

const hmac = (key: Crypto.BinaryLike, text: string) => Crypto.createHmac("sha256", key).update(text, "utf8").digest()
const sha256Hex = (data: string | Uint8Array) => Crypto.createHash("sha256").update(data).digest("hex")

const AUTHORIZATION =
  /^AWS4-HMAC-SHA256 Credential=([^/,\s]+)\/(\d{8})\/([^/,\s]+)\/([^/,\s]+)\/aws4_request, ?SignedHeaders=([a-z0-9;_.-]+), ?Signature=([0-9a-f]{64})$/

/**
 * Checks a request's AWS Signature Version 4 (the Authorization header form; see the AWS docs "Create a canonical
 * request for Signature Version 4") against `secret`: the signature recomputed over the method, path, query,
 * signed headers (`host` and `x-amz-date` among them) and the hash of the body received, compared in constant
 * time, with X-Amz-Date within 15 minutes of `now`. The access key id it was signed under, or the failure to answer.
 *
 * @internal
 */
export const verifySignature = (
  request: {
    readonly method: string
    readonly url: string
    readonly headers: Readonly<Record<string, string | ReadonlyArray<string> | undefined>>
  },
  body: Uint8Array,
  secret: string,
  now: number
): Either.Either<string, ApiFailure> => {
  const unrecognized = Either.left<ApiFailure>({
    status: 403,
    name: "UnrecognizedClientException",
    message: "The security token included in the request is invalid."
  })
  const header = (name: string): string | undefined => {
    const value = request.headers[name]
    return value === undefined ? undefined : typeof value === "string" ? value : value.join(",")
  }
  const match = AUTHORIZATION.exec(header("authorization") ?? "")
  if (match === null) return unrecognized
  const [, accessKeyId, shortDate, region, service, signedHeaderList, signature] = match as unknown as [
    string,
    string,
    string,
    string,
    string,
    string,
    string
  ]
  const signedHeaders = signedHeaderList.split(";")
  const longDate = header("x-amz-date") ?? ""
  const dated = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(longDate)
  if (
    dated === null || !longDate.startsWith(shortDate) || !signedHeaders.includes("host") ||
    !signedHeaders.includes("x-amz-date") || signedHeaders.some((name, i) => i > 0 && signedHeaders[i - 1]! >= name)
  ) {
    return unrecognized
  }
  const signedAt = Date.UTC(+dated[1]!, +dated[2]! - 1, +dated[3]!, +dated[4]!, +dated[5]!, +dated[6]!)
  if (!(Math.abs(now - signedAt) <= SKEW_MILLIS)) {
    return Either.left({
      status: 403,
      name: "InvalidSignatureException",
      message: "Signature expired: the request's X-Amz-Date is more than 15 minutes from the simulator's time."
    })
  }
  const question = request.url.indexOf("?")
  const query = canonicalQuery(question < 0 ? "" : request.url.slice(question + 1))
  if (query === undefined) return unrecognized
  const canonicalHeaders = signedHeaders.map((name) =>
    `${name}:${(header(name) ?? "").replace(/[\r\n]/g, " ").replace(/[ \t]+/g, " ").replace(/^ | $/g, "")}\n`
  ).join("")
  const canonicalRequest = [
    request.method,
    canonicalPath(question < 0 ? request.url : request.url.slice(0, question)),
    query,
    canonicalHeaders,
    signedHeaderList,
    sha256Hex(body)
  ].join("\n")
  const scope = `${shortDate}/${region}/${service}/aws4_request`
  const stringToSign = `AWS4-HMAC-SHA256\n${longDate}\n${scope}\n${sha256Hex(canonicalRequest)}`
  const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, shortDate), region), service), "aws4_request")
  const expected = Crypto.createHmac("sha256", key).update(stringToSign, "utf8").digest()
  return Crypto.timingSafeEqual(expected, Buffer.from(signature, "hex"))
    ? Either.right(accessKeyId)
    : Either.left({
      status: 403,
      name: "InvalidSignatureException",
      message: "The request signature we calculated does not match the signature you provided."
    })
}

/** Whether two strings are equal, in time that does not depend on where they differ. */
const sameSecret = (a: string, b: string) =>
  Crypto.timingSafeEqual(Crypto.createHash("sha256").update(a).digest(), Crypto.createHash("sha256").update(b).digest())

/** Fresh credentials for a simulator (see `AgentSimulator.SimulatorCredentials`). */
const generateCredentials = (): AgentSimulator.SimulatorCredentials => ({
  accessKeyId: `AKIASIM${Crypto.randomBytes(8).toString("hex").toUpperCase()}`,
  secretAccessKey: Redacted.make(Crypto.randomBytes(30).toString("base64url"))
})

/** @internal */
export const make = (
  options: AgentSimulator.SimulatorOptions = {}
): Effect.Effect<AgentSimulator.AgentSimulator, AgentSimulator.SimulatorError, Scope.Scope> =>
  Effect.gen(function*() {
    const sessions = new Map<string, ServiceSession>()
    const credentials = generateCredentials()
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
        const webSockets = new WS.WebSocketServer({ server, maxPayload: MESSAGE_LIMIT })
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
    // after listening, errors are per connection: none may end the process (a listener keeps them from throwing)
    server.on("error", () => {})
    webSockets.on("error", () => {})
    webSockets.on("connection", (socket, request) => {
      // a frame ws rejects (bad opcode, too large, bad UTF-8) is an "error" on the socket, then "close"
      socket.on("error", () => {})
      const match = /^\/v1\/data-channel\/([^?]+)/.exec(request.url ?? "")
      const session = match === null ? undefined : sessions.get(decodeComponent(match[1]!) ?? "")
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
          if (
            Either.isLeft(open) || session.token === undefined ||
            !sameSecret(Redacted.value(open.right.TokenValue), session.token)
          ) {
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

    const createDocument = (body: Body) =>
      Effect.gen(function*() {
        const name = (yield* stringField(body, "Name")) ?? ""
        const type = (yield* stringField(body, "DocumentType")) ?? "Command"
        const format = (yield* stringField(body, "DocumentFormat")) ?? "JSON"
        const text = (yield* stringField(body, "Content")) ?? ""
        if (!/^[a-zA-Z0-9_.-]{3,128}$/.test(name) || /^(aws|amazon|amzn)/i.test(name) && !(name in Documents.documents)) {
          return yield* Effect.fail<ApiFailure>({ status: 400, name: "ValidationException", message: `Invalid document name ${name}` })
        }
        if (createdDocuments.has(name) || name in Documents.documents && name.startsWith("AWS-")) {
          return yield* Effect.fail<ApiFailure>({ status: 400, name: "DocumentAlreadyExists", message: "The specified document already exists." })
        }
        const content = format === "JSON"
          ? Either.try(() => JSON.parse(text) as unknown)
          : Either.right(undefined)
        if (
          Either.isLeft(content) ||
          type === "Session" && format === "JSON" && !(isObject(content.right) && "sessionType" in content.right)
        ) {
          return yield* Effect.fail<ApiFailure>({ status: 400, name: "InvalidDocumentContent", message: "The content for the document is not valid." })
        }
        createdDocuments.add(name)
        return {
          Name: name,
          DocumentType: type,
          DocumentFormat: format,
          DocumentVersion: "1",
          LatestVersion: "1",
          DefaultVersion: "1",
          Status: "Active",
          SchemaVersion: "1.0"
        }
      })

    /** KMS's GenerateDataKey (the KMS JSON protocol, `X-Amz-Target: TrentService.GenerateDataKey`). */
    const generateDataKey = (body: Body) =>
      Effect.gen(function*() {
        const keyId = (yield* stringField(body, "KeyId")) ?? ""
        const context = body["EncryptionContext"] ?? {}
        const keySpec = yield* stringField(body, "KeySpec")
        const numberOfBytes = (yield* numberField(body, "NumberOfBytes")) ??
          (keySpec === "AES_128" ? 16 : keySpec === "AES_256" ? 32 : NaN)
        if (keyId === "") return yield* Effect.fail<ApiFailure>({ status: 400, name: "ValidationException", message: "KeyId is required" })
        if (!(Number.isInteger(numberOfBytes) && numberOfBytes >= 1 && numberOfBytes <= 1024)) {
          return yield* Effect.fail<ApiFailure>({ status: 400, name: "ValidationException", message: "NumberOfBytes or KeySpec is required" })
        }
        if (!isObject(context) || Object.values(context).some((v) => typeof v !== "string")) {
          return yield* Effect.fail<ApiFailure>({ status: 400, name: "ValidationException", message: "EncryptionContext must map strings to strings" })
        }
        return yield* Effect.map(
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

    const operations: Record<string, (body: Body, accessKeyId: string) => Effect.Effect<unknown, ApiFailure>> = {
      "AmazonSSM.ResumeSession": (body, accessKeyId) =>
        Effect.gen(function*() {
          const sessionId = (yield* stringField(body, "SessionId")) ?? ""
          const resumed = yield* resumeSession(sessionId, accessKeyId)
          return Option.match(resumed, {
            onNone: () => ({ SessionId: sessionId }),
            onSome: (r) => ({ SessionId: r.SessionId, TokenValue: Redacted.value(r.TokenValue), StreamUrl: r.StreamUrl })
          })
        }),
      "AmazonSSM.TerminateSession": (body) =>
        Effect.gen(function*() {
          const sessionId = (yield* stringField(body, "SessionId")) ?? ""
          if (!(yield* terminateSession(sessionId))) {
            return yield* Effect.fail<ApiFailure>({ status: 400, name: "DoesNotExistException", message: `Session ${sessionId} does not exist` })
          }
          return { SessionId: sessionId }
        }),
      "AmazonSSM.DescribeInstanceInformation": (body) =>
        Effect.gen(function*() {
          const all = yield* describeInstanceInformation(yield* filtersOf(body["Filters"]))
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
        }),
      "AmazonSSM.StartSession": (body) =>
        Effect.gen(function*() {
          const target = (yield* stringField(body, "Target")) ?? ""
          const documentName = yield* stringField(body, "DocumentName")
          const parameters = yield* parametersOf(body["Parameters"])
          const spec = yield* startSpec({ target, documentName, parameters })
          const r = yield* startSession({ targetId: target, ...spec })
          return { SessionId: r.SessionId, TokenValue: Redacted.value(r.TokenValue), StreamUrl: r.StreamUrl }
        }),
      "AmazonSSM.CreateDocument": (body) =>
        Effect.map(createDocument(body), (description) => ({ DocumentDescription: description })),
      "TrentService.GenerateDataKey": generateDataKey
    }

    /**
     * The SSM JSON protocol (`X-Amz-Target: AmazonSSM.<Operation>`) and KMS's (`TrentService.<Operation>`), for SDK
     * clients in other processes that sign with the simulator's credentials. Bodies past `BODY_LIMIT` get 413 and
     * the connection closes; a body that is not a JSON object, or a member of the wrong type, gets
     * SerializationException; anything unforeseen gets 500: no request ends the server.
     */
    const serveApi = (request: Http.IncomingMessage, response: Http.ServerResponse) => {
      const reply = (status: number, body: unknown, errorType?: string) => {
        if (response.headersSent || response.destroyed) return
        response.statusCode = status
        response.setHeader("content-type", "application/x-amz-json-1.1")
        if (errorType !== undefined) response.setHeader("x-amzn-errortype", errorType)
        response.end(JSON.stringify(body))
      }
      const fail = (failure: ApiFailure) => reply(failure.status, { __type: failure.name, message: failure.message }, failure.name)
      let done = false
      /** 413, and the connection closes once it is said, without reading further */
      const tooLarge = () => {
        done = true
        request.removeAllListeners("data")
        response.setHeader("connection", "close")
        response.once("finish", () => request.socket.destroy())
        fail({ status: 413, name: "RequestEntityTooLargeException", message: `request bodies are limited to ${BODY_LIMIT} bytes` })
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
            Redacted.value(credentials.secretAccessKey),
            Date.now()
          )
          if (Either.isLeft(signed)) return fail(signed.left)
          const body = Either.try(() => JSON.parse(raw.length === 0 ? "{}" : raw.toString("utf8")) as unknown)
          if (Either.isLeft(body) || !isObject(body.right)) {
            return fail(serialization("the request body is not a JSON object"))
          }
          const target = request.headers["x-amz-target"]
          const operation = request.method === "POST" && typeof target === "string" && Object.hasOwn(operations, target)
            ? operations[target]!
            : undefined
          if (operation === undefined) {
            return fail({ status: 400, name: "UnknownOperationException", message: "not simulated" })
          }
          Effect.runFork(Effect.matchCause(operation(body.right, signed.right), {
            onFailure: (cause) =>
              Option.match(Cause.failureOption(cause), {
                onSome: fail,
                onNone: () => fail({ status: 500, name: "InternalServerError", message: "the simulator failed" })
              }),
            onSuccess: (answer) => reply(200, answer)
          }))
        } catch {
          fail({ status: 500, name: "InternalServerError", message: "the simulator failed" })
        }
      })
    }

    return {
      host,
      port,
      endpoint: `http://${host}:${port}`,
      credentials,
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
