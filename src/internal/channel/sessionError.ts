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
