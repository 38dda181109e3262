/**
 * The Session's type ids and its one error, apart from the session itself so that every part of the session
 * (state, handshake, link) can make it without importing the whole.
 *
 * @internal
 */
import type * as Session from "../../Session.js"
import { isReasonError, ReasonError } from "../error.js"

/** @internal */
export const TypeId: Session.TypeId = Symbol.for("ssm-session-manager/Session") as Session.TypeId

/** @internal */
export const ErrorTypeId: Session.ErrorTypeId = Symbol.for(
  "ssm-session-manager/Session/SessionError"
) as Session.ErrorTypeId

/** @internal */
export class SessionError extends ReasonError(ErrorTypeId, "SessionError")<Session.SessionError.Reason> {}

/** @internal */
export const isSessionError = isReasonError<SessionError>(ErrorTypeId)

/** A SessionError without a `cause` field when there is none. @internal */
export const sessionError = (reason: Session.SessionError.Reason, detail: string, cause?: unknown): SessionError =>
  new SessionError(cause === undefined ? { reason, detail } : { reason, detail, cause })

/** what a session that the agent closed before it was ready fails with, before the agent's closing text */
const CLOSED_BEFORE_READY = "the channel closed before the session was ready"

/**
 * The error of a channel the agent closed before the session was ready (no handshake, no output), with the agent's
 * closing text, if any. @internal
 */
export const closedBeforeReadyError = (closingOutput: string): SessionError =>
  new SessionError({
    reason: "Handshake",
    detail: closingOutput === "" ? CLOSED_BEFORE_READY : `${CLOSED_BEFORE_READY}: ${closingOutput}`
  })

/** @internal */
export const isClosedBeforeReady = (u: unknown): u is SessionError =>
  isSessionError(u) && u.reason === "Handshake" && u.detail.startsWith(CLOSED_BEFORE_READY)

/** The agent's closing text ("" for none) of an `isClosedBeforeReady` error; undefined for any other. @internal */
export const closedBeforeReady = (u: unknown): string | undefined =>
  !isClosedBeforeReady(u)
    ? undefined
    : u.detail.startsWith(`${CLOSED_BEFORE_READY}: `)
    ? u.detail.slice(CLOSED_BEFORE_READY.length + 2)
    : ""
