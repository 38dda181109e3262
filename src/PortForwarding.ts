/**
 * Port forwarding over a ready Port session: the mode the official client would choose (multiplexed smux,
 * basic, or a standard stream) and in-process connections through the tunnel as `@effect/platform` Sockets, so
 * a service can talk to a port on (or behind) an instance without any local listener.
 *
 * All three modes are implemented for in-process connections; the local listener, the CLI and the high-level
 * constructors come next.
 *
 * @since 0.1.0
 */
import type * as Socket from "@effect/platform/Socket"
import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as internal from "./internal/portForwarding.js"
import type * as Session from "./Session.js"
import type * as Smux from "./Smux.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const ErrorTypeId: unique symbol = internal.ErrorTypeId as ErrorTypeId

/**
 * @since 0.1.0
 * @category type ids
 */
export type ErrorTypeId = typeof ErrorTypeId

/**
 * The one error of this module.
 *
 * @since 0.1.0
 * @category errors
 */
export interface PortForwardingError {
  readonly [ErrorTypeId]: ErrorTypeId
  readonly _tag: "PortForwardingError"
  readonly reason: PortForwardingError.Reason
  readonly detail: string
  readonly cause?: unknown
  readonly message: string
}

/**
 * @since 0.1.0
 * @category errors
 */
export declare namespace PortForwardingError {
  /**
   * - `NotAPortSession`: the session's type is not `Port`.
   * - `Unsupported`: smux streams asked of a tunnel that is not multiplexed.
   * - `Tunnel`: the smux tunnel could not open a stream (it ended, or ids ran out).
   *
   * @since 0.1.0
   * @category errors
   */
  export type Reason = "NotAPortSession" | "Unsupported" | "Tunnel"
}

/**
 * @since 0.1.0
 * @category errors
 */
export const PortForwardingError: new(args: {
  readonly reason: PortForwardingError.Reason
  readonly detail: string
  readonly cause?: unknown
}) => PortForwardingError & Error = internal.PortForwardingError

/**
 * @since 0.1.0
 * @category refinements
 */
export const isPortForwardingError: (u: unknown) => u is PortForwardingError = internal.isPortForwardingError

/**
 * How the bytes of a port session are carried (section 10.1).
 *
 * @since 0.1.0
 * @category models
 */
export type Mode =
  | { readonly _tag: "Mux"; readonly keepAlive: boolean }
  | { readonly _tag: "Basic" }
  | { readonly _tag: "StandardStream" }

/**
 * The mode the official client picks from the document's `type` property and the agent's version: smux when the
 * type is `LocalPortForwarding` and the agent is above 3.0.196.0, with smux keepalive unless the agent is above
 * 3.1.1511.0; basic for older agents; a plain byte stream for other types.
 *
 * @since 0.1.0
 * @category constructors
 */
export const chooseMode: (
  properties: Readonly<Record<string, unknown>> | null,
  agentVersion: Option.Option<string>
) => Mode = internal.chooseMode

/**
 * A tunnel over a port session.
 *
 * @since 0.1.0
 * @category models
 */
export interface PortForwarding {
  readonly mode: Mode
  readonly session: Session.Session
  /** A new connection as an smux stream, closed (FIN) with its scope; multiplexed mode only. */
  readonly openStream: Effect.Effect<Smux.SmuxStream, PortForwardingError, Scope.Scope>
  /**
   * A new connection to the destination as a Socket, closed with its scope. Multiplexed: any number at once.
   * Basic and standard-stream: one at a time (others wait their turn); in basic mode each ends with
   * DisconnectToPort, and the agent dials the destination again for the next.
   */
  readonly connect: Effect.Effect<Socket.Socket, PortForwardingError, Scope.Scope>
  /** Connections the agent could not make (ConnectToPortError), also logged as warnings. */
  readonly connectErrors: Effect.Effect<number>
}

/**
 * Starts forwarding over a ready Port session; it runs until its scope closes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (session: Session.Session) => Effect.Effect<PortForwarding, PortForwardingError, Scope.Scope> =
  internal.make
