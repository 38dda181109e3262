/**
 * The port-forwarding error, apart from the tunnel so that its state and tunnel functions, the pool and the local
 * listener can make it without importing the tunnel.
 *
 * @internal
 */
import * as Predicate from "effect/Predicate"
import type * as PortForwarding from "../../PortForwarding.js"
import { isReasonError, ReasonError } from "../error.js"

/** @internal */
export const ErrorTypeId: PortForwarding.ErrorTypeId = Symbol.for(
  "ssm-session-manager/PortForwarding/PortForwardingError"
) as PortForwarding.ErrorTypeId

/** The one error of port forwarding. @internal */
export class PortForwardingError
  extends ReasonError(ErrorTypeId, "PortForwardingError")<PortForwarding.PortForwardingError.Reason>
{}

/** @internal */
export const isPortForwardingError: (u: unknown) => u is PortForwardingError = isReasonError<PortForwardingError>(
  ErrorTypeId
)

/** The tunnel could not open or carry a connection (an smux failure, the session's write failing). @internal */
export const tunnelError = (cause: unknown): PortForwardingError =>
  new PortForwardingError({
    reason: "Tunnel",
    detail: `the tunnel failed${
      Predicate.hasProperty(cause, "message") && typeof cause.message === "string" ? `: ${cause.message}` : ""
    }`,
    cause
  })
