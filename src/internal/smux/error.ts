/**
 * The smux module's error and its type id, apart from the session so that the state functions can make it
 * without importing the session.
 *
 * @internal
 */
import type * as Smux from "../../Smux.js"
import { isReasonError, ReasonError } from "../error.js"

/** @internal */
export const ErrorTypeId: Smux.ErrorTypeId = Symbol.for("ssm-session-manager/Smux/SmuxError") as Smux.ErrorTypeId

/** The one error of smux sessions and streams. @internal */
export class SmuxError extends ReasonError(ErrorTypeId, "SmuxError")<Smux.SmuxError.Reason> {}

/** @internal */
export const isSmuxError: (u: unknown) => u is SmuxError = isReasonError<SmuxError>(ErrorTypeId)

/** @internal */
export const sessionClosed = (): SmuxError =>
  new SmuxError({ reason: "SessionClosed", detail: "the smux session was closed" })
