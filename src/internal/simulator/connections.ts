/**
 * A client WebSocket's life at the service: it names a session in its URL, presents the session's current token
 * in its OpenDataChannel frame (each token opens one WebSocket), then carries the session until it closes or is
 * dropped. The first WebSocket of a session starts its agent (`agent.ts`), which lives as long as the session.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Redacted from "effect/Redacted"
import type * as Http from "node:http"
import type * as WS from "ws"
import * as AgentPayload from "../../AgentPayload.js"
import { corkSocket } from "../channel/link.js"
import * as Agent from "./agent.js"
import { detach, makeAttachment, pauseAgent, resumeAgent } from "./attachments.js"
import { dropConnection, sendToClient } from "./faults.js"
import { sameSecret } from "./signature.js"
import { type Attachment, clearTimers, dropsLeft, type ServiceSession, type ServiceState } from "./serviceState.js"

const textEncoder = new TextEncoder()
const decodeOpen = AgentPayload.decodePayload(AgentPayload.jsonPayload(AgentPayload.OpenDataChannel))

/**
 * The WebSocket close codes the service answers with before a WebSocket carries a session.
 * @internal
 */
export const CloseCode = {
  /** the first frame was not an OpenDataChannel text frame, or none came in time */
  ExpectedOpen: 4001,
  /** the token is not the session's current one */
  InvalidToken: 4003,
  /** the URL names no session that can be carried */
  UnknownSession: 4004
} as const

/** @internal */
export type CloseCode = typeof CloseCode[keyof typeof CloseCode]

/** The reason sent with each close code. */
const closeReason: Readonly<Record<CloseCode, string>> = {
  [CloseCode.ExpectedOpen]: "expected OpenDataChannel",
  [CloseCode.InvalidToken]: "invalid token",
  [CloseCode.UnknownSession]: "unknown session"
}

/** `decodeURIComponent`, or undefined for a malformed escape (`%`, `%E0%A4%A`). @internal */
export const decodeComponent = (text: string): string | undefined => {
  try {
    return decodeURIComponent(text)
  } catch {
    return undefined
  }
}

/** The session a WebSocket's URL names, if it can still be carried. @internal */
export const sessionOfUrl = (state: ServiceState, url: string): ServiceSession | undefined => {
  const match = /^\/v1\/data-channel\/([^?]+)/.exec(url)
  const session = match === null ? undefined : state.sessions.get(decodeComponent(match[1]!) ?? "")
  return session === undefined || session.ended || session.expired || session.killed ? undefined : session
}

/**
 * Whether `presented` is the session's current token, compared in constant time; a token that matches is used
 * up (each opens one WebSocket).
 * @internal
 */
export const presentToken = (session: ServiceSession, presented: string): boolean => {
  if (session.token === undefined || !sameSecret(presented, session.token)) return false
  session.token = undefined
  return true
}

/**
 * The client version a WebSocket's first frame announces, when it is an OpenDataChannel text frame with the
 * session's current token (used up); otherwise the close code to answer with.
 * @internal
 */
export const openFrame = (
  session: ServiceSession,
  data: Uint8Array,
  isBinary: boolean
): Either.Either<string, CloseCode> => {
  if (isBinary) return Either.left(CloseCode.ExpectedOpen)
  const open = decodeOpen(data)
  if (Either.isLeft(open) || !presentToken(session, Redacted.value(open.right.TokenValue))) {
    return Either.left(CloseCode.InvalidToken)
  }
  return Either.right(open.right.ClientVersion)
}

/** A WebSocket to the data-channel URL: until it closes, it may carry its session. @internal */
export const onConnection = (state: ServiceState, socket: WS.WebSocket, request: Http.IncomingMessage) => {
  // a frame ws rejects (bad opcode, too large, bad UTF-8) is an "error" on the socket, then "close"
  socket.on("error", () => {})
  const session = sessionOfUrl(state, request.url ?? "")
  if (session === undefined) {
    socket.close(CloseCode.UnknownSession, closeReason[CloseCode.UnknownSession])
    return
  }
  session.stats.connections++
  session.stats.openConnections++
  let attachment: Attachment | undefined
  // a connection that says nothing must not hold a socket for ever
  const openTimer = setTimeout(() => socket.close(CloseCode.ExpectedOpen, closeReason[CloseCode.ExpectedOpen]), state.openFrameMillis)
  socket.on("message", (data: Buffer, isBinary: boolean) => {
    if (attachment === undefined) {
      // 1. the OpenDataChannel text frame with the session's current token
      clearTimeout(openTimer)
      const opened = openFrame(session, textEncoder.encode(isBinary ? "" : data.toString("utf8")), isBinary)
      if (Either.isLeft(opened)) {
        return socket.close(opened.left, closeReason[opened.left])
      }
      attachment = attach(state, session, socket, opened.right)
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
    detach(state, session, attachment)
    pauseAgent(session)
  })
}

/**
 * The WebSocket carries the session from now on: its drop timer (`dropConnection.everyMillis`) runs, and the
 * agent starts (the first WebSocket) or resumes.
 * @internal
 */
export const attach = (
  state: ServiceState,
  session: ServiceSession,
  socket: WS.WebSocket,
  clientVersion: string
): Attachment => {
  if (session.graceTimer !== undefined) clearTimeout(session.graceTimer)
  session.graceTimer = undefined
  const attachment = makeAttachment(session, socket)
  session.attached = attachment
  const drop = session.faults.dropConnection
  if (drop?.everyMillis !== undefined && dropsLeft(session)) {
    attachment.dropTimer = setTimeout(() => dropConnection(state, session, drop.close ?? "abrupt"), drop.everyMillis)
  }
  if (!session.agentStarted) {
    session.agentStarted = true
    state.fork(runAgent(state, session, clientVersion))
  } else {
    resumeAgent(session, attachment)
  }
  return attachment
}

/** The session's agent, from the first WebSocket to the session's end. @internal */
export const runAgent = (state: ServiceState, session: ServiceSession, clientVersion: string): Effect.Effect<void> =>
  Agent.runAgent({
    sessionId: session.id,
    record: session,
    options: state.options,
    faults: session.faults,
    random: session.random,
    frames: session.frames,
    send: sendToClient(state, session),
    cork: () => corkSocket(session.attached?.socket),
    clientVersion,
    kms: state.kms,
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
