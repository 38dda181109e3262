/**
 * A client WebSocket carrying a session (`Attachment`): made when the WebSocket presents its token, frames
 * delivered behind the newest ones still "in flight", and detached when it closes or is dropped, after which the
 * agent is paused and the session waits out the grace period.
 *
 * @internal
 */
import * as Deferred from "effect/Deferred"
import * as Exit from "effect/Exit"
import * as WS from "ws"
import * as Agent from "./agent.js"
import { type Attachment, IN_FLIGHT_MILLIS, type ServiceSession, type ServiceState } from "./serviceState.js"

/** A WebSocket now carrying `session`, its frames through the session's toClient faults. @internal */
export const makeAttachment = (session: ServiceSession, socket: WS.WebSocket): Attachment => ({
  socket,
  outgoing: Agent.makeFaultyPipe(session.faults.toClient, session.random, (frame) => {
    if (socket.readyState === WS.WebSocket.OPEN) socket.send(frame)
  }),
  inFlight: [],
  lostFrames: session.faults.dropConnection?.lostFrames ?? 0,
  flushTimer: undefined,
  dropTimer: undefined,
  live: true
})

/**
 * The WebSocket no longer carries the session: what the agent sends waits for the next (`BACKLOG_LIMIT`), and
 * the session waits for one up to the grace period.
 * @internal
 */
export const detach = (state: ServiceState, session: ServiceSession, attachment: Attachment) => {
  attachment.live = false
  attachment.inFlight = []
  if (attachment.dropTimer !== undefined) clearTimeout(attachment.dropTimer)
  if (attachment.flushTimer !== undefined) clearTimeout(attachment.flushTimer)
  if (session.attached !== attachment) return
  session.attached = undefined
  if (session.ended) return
  session.graceTimer = setTimeout(() => expire(session), state.graceMillis)
}

/** The grace period is over: with no WebSocket back, the session has timed out. @internal */
export const expire = (session: ServiceSession) => {
  if (session.attached !== undefined) return
  session.expired = true
  Deferred.unsafeDone(session.gone, Exit.void)
}

/**
 * The client is away: the service pauses the agent, after the last frames the client's WebSocket brought (any
 * frame from the client clears the agent's pause).
 * @internal
 */
export const pauseAgent = (session: ServiceSession) => {
  if (session.attached === undefined && !session.ended) {
    session.frames.unsafeOffer(Agent.publication("pause_publication"))
  }
}

/**
 * The client is back: the agent carries on (the agent's Reconnect clears its pause), after whatever the client's
 * previous WebSocket still brought.
 * @internal
 */
export const resumeAgent = (session: ServiceSession, attachment: Attachment) => {
  session.frames.unsafeOffer(Agent.publication("start_publication"))
  const backlog = session.backlog
  session.backlog = []
  for (const frame of backlog) deliver(attachment, frame)
}

/** Into the client's WebSocket, behind the `lostFrames` newest frames still in flight. @internal */
export const deliver = (attachment: Attachment, frame: Uint8Array) => {
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
