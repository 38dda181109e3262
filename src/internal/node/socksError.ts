/**
 * The SOCKS proxy's error, and the rejection a connection's handshake or CONNECT ends with: apart from the proxy so
 * that its state, handshake and connection functions can make them without importing the proxy.
 *
 * @internal
 */
import * as Data from "effect/Data"
import type * as NodeSocks from "../../NodeSocks.js"
import { isReasonError, ReasonError } from "../error.js"

/** @internal */
export const ErrorTypeId: NodeSocks.ErrorTypeId = Symbol.for(
  "ssm-session-manager/NodeSocks/SocksError"
) as NodeSocks.ErrorTypeId

/** The one error of the SOCKS proxy. @internal */
export class SocksError extends ReasonError(ErrorTypeId, "SocksError")<NodeSocks.SocksError.Reason> {}

/** @internal */
export const isSocksError: (u: unknown) => u is SocksError = isReasonError<SocksError>(ErrorTypeId)

/**
 * A rejected handshake or CONNECT: the reply to send (if any) before closing, and why.
 *
 * @internal
 */
export class Rejection extends Data.TaggedError("Rejection")<{
  readonly reply: Uint8Array | undefined
  readonly error: SocksError
  readonly destination?: string | undefined
}> {}

/** A rejection with no reply (the client is gone, or it did not speak SOCKS5 at all). @internal */
export const silentRejection = (reason: NodeSocks.SocksError.Reason, detail: string, destination?: string): Rejection =>
  new Rejection({ reply: undefined, destination, error: new SocksError({ reason, detail }) })
