/**
 * The service's faults on the way to the client: where each frame the agent sends goes (`route`: through the
 * WebSocket, into the backlog, or lost with a dropped WebSocket or a lost session), how a WebSocket is dropped
 * (`closeAction`, `dropConnection`) and the agent's writer waiting on a full connection (`sendToClient`).
 *
 * @internal
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { type WsConnection, wsConnection } from "../channel/wsConnection.js"
import * as Agent from "./agent.js"
import { deliver, detach, pauseAgent } from "./attachments.js"
import {
  BACKLOG_LIMIT,
  type CloseMode,
  dropsLeft,
  SEND_BUFFER_LIMIT,
  type ServiceSession,
  type ServiceState
} from "./serviceState.js"

/** The WebSocket close code of the service's recycle: a normal closure. */
const NORMAL_CLOSURE = 1000

/**
 * What dropping a WebSocket does to it, by the way asked for and what is reachable of its TCP connection:
 * - `CloseFrame`: a close with code 1000 (`recycle`);
 * - `Pause`: the connection stops reading (`silent`), when it can;
 * - `Reset`: a TCP reset (`reset`), when the connection can;
 * - `End`: the connection ends without a close frame (`abrupt`, or `reset` where no reset is possible);
 * - `Terminate`: `ws`'s own abrupt end, when no connection is reachable;
 * - `Nothing`: `silent` with no connection to pause.
 * @internal
 */
export type CloseAction = "CloseFrame" | "Pause" | "Reset" | "End" | "Terminate" | "Nothing"

/** @internal */
export const closeAction = (close: CloseMode, connection: WsConnection | undefined): CloseAction =>
  close === "recycle"
    ? "CloseFrame"
    : close === "silent"
    ? typeof connection?.pause === "function" ? "Pause" : "Nothing"
    : close === "reset" && typeof connection?.resetAndDestroy === "function"
    ? "Reset"
    : connection !== undefined
    ? "End"
    : "Terminate"

/**
 * Drops the session's WebSocket: the frames in flight are lost, and so is everything until a new one. False when
 * no WebSocket carries the session.
 * @internal
 */
export const dropConnection = (state: ServiceState, session: ServiceSession, close: CloseMode): boolean => {
  const attachment = session.attached
  if (attachment === undefined) return false
  session.stats.drops++
  session.sentAtDrop = session.sent
  detach(state, session, attachment)
  const connection = wsConnection(attachment.socket)
  switch (closeAction(close, connection)) {
    case "CloseFrame":
      attachment.socket.close(NORMAL_CLOSURE)
      // the service decided to close: it pauses the agent now, and again once the closing handshake is over (a
      // frame the client still sends on its way out clears the agent's pause), so that what the agent sends
      // meanwhile does not outgrow the backlog and wait for the agent's one resend per 100 ms
      pauseAgent(session)
      break
    case "Pause":
    case "Nothing":
      // the connection stays open and goes quiet: nothing is read (so no pong) and nothing is sent
      connection?.pause?.()
      pauseAgent(session)
      break
    case "Reset":
      // a TCP reset: whatever the connection still held is lost with it, as much as its buffers took
      connection!.resetAndDestroy!()
      break
    case "End":
      // the connection ends without a WebSocket close frame (1006 for the client) once what it took before the
      // drop has gone: what is lost is the `lostFrames` in flight, so a test controls the loss
      connection!.end?.()
      break
    case "Terminate":
      attachment.socket.terminate()
      break
  }
  return true
}

/**
 * Where the agent's next frame goes, the frame counted (`session.sent`) already:
 * - `LoseSession`: `closeAfterMessages` is reached: the service loses the session now;
 * - `Lost`: the session is lost already, or no WebSocket carries it and the backlog is full;
 * - `Backlog`: no WebSocket carries the session: kept for the next;
 * - `Drop`: `dropConnection.everyMessages` is reached: the WebSocket is dropped, the frame with it;
 * - `Deliver`: through the WebSocket.
 * @internal
 */
export type Route = "LoseSession" | "Lost" | "Backlog" | "Drop" | "Deliver"

/** @internal */
export const route = (session: ServiceSession): Route => {
  const faults = session.faults
  if (faults.closeAfterMessages !== undefined && session.sent > faults.closeAfterMessages) {
    return session.killed ? "Lost" : "LoseSession"
  }
  if (session.attached === undefined) return session.backlog.length < BACKLOG_LIMIT ? "Backlog" : "Lost"
  const drop = faults.dropConnection
  return drop?.everyMessages !== undefined && session.sent - session.sentAtDrop > drop.everyMessages &&
      dropsLeft(session)
    ? "Drop"
    : "Deliver"
}

/** The service lost the session: its WebSocket dies, and it cannot be resumed. @internal */
export const loseSession = (session: ServiceSession) => {
  session.killed = true
  session.attached?.socket.terminate()
  Deferred.unsafeDone(session.gone, Exit.void)
}

/**
 * The agent's frames to the client: through the current WebSocket; while there is none, kept for the next
 * (up to `BACKLOG_LIMIT`).
 * @internal
 */
export const sendToClient = (state: ServiceState, session: ServiceSession) => (frame: Uint8Array): Effect.Effect<void> =>
  Effect.suspend(() => {
    session.sent++
    switch (route(session)) {
      case "LoseSession":
        loseSession(session)
        return Effect.void
      case "Lost":
        return Effect.void
      case "Backlog":
        session.backlog.push(frame)
        return Effect.void
      case "Drop":
        dropConnection(state, session, session.faults.dropConnection?.close ?? "abrupt")
        return Effect.void
      case "Deliver": {
        const attachment = session.attached!
        const garbage = session.faults.garbage
        if (garbage !== undefined && session.random() < garbage) {
          const length = 64 + Math.floor(session.random() * 200)
          attachment.outgoing.push(Uint8Array.from({ length }, () => Math.floor(session.random() * 256)))
        }
        deliver(attachment, frame)
        // the agent's WebSocket write blocks while the connection is full (its sender, pumps and resends all
        // wait on it: communicator/websocketchannel.go SendMessage): so does this one, past a megabyte
        return attachment.socket.bufferedAmount > SEND_BUFFER_LIMIT ? Agent.drained(attachment.socket) : Effect.void
      }
    }
  })
