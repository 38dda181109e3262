/**
 * A local listener for a tunnel on Node: TCP on 127.0.0.1 (a chosen port or an ephemeral one) or a Unix socket.
 * Each accepted connection goes through the tunnel on its own connection (an smux stream in multiplexed mode;
 * in basic mode they take turns). Closing the scope stops listening and closes every connection.
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as internal from "./internal/node/nodePortForwarding.js"
import type * as PortForwarding from "./PortForwarding.js"

/**
 * Listening on TCP.
 *
 * @since 0.2.0
 * @category models
 */
export interface TcpListenOptions {
  /** default 127.0.0.1 */
  readonly host?: string | undefined
  /** default 0: an ephemeral port, reported as the listener's `port` */
  readonly port?: number | undefined
}

/**
 * Listening on a Unix socket.
 *
 * @since 0.2.0
 * @category models
 */
export interface UnixListenOptions {
  readonly path: string
}

/**
 * @since 0.1.0
 * @category models
 */
export type ListenOptions = TcpListenOptions | UnixListenOptions

/**
 * @since 0.2.0
 * @category models
 */
export interface TcpAddress {
  readonly _tag: "Tcp"
  readonly host: string
  readonly port: number
}

/**
 * @since 0.2.0
 * @category models
 */
export interface UnixAddress {
  readonly _tag: "Unix"
  readonly path: string
}

/**
 * @since 0.1.0
 * @category models
 */
export type ListenerAddress = TcpAddress | UnixAddress

/**
 * A listener; `Listener<TcpAddress>` (what `listen` gives for TCP options) has its port as a number.
 *
 * @since 0.1.0
 * @category models
 */
export interface Listener<Address extends ListenerAddress = ListenerAddress> {
  /** where it listens, with the real port when an ephemeral one was asked for */
  readonly address: Address
  /**
   * the TCP port it listens on (the real one when an ephemeral one was asked for), as `address.port`; undefined
   * on a Unix socket
   */
  readonly port: Address extends TcpAddress ? number : undefined
  /**
   * completes when the listener stops taking connections because the tunnel ended (normally, or broken: then
   * its open connections were reset)
   */
  readonly closed: Effect.Effect<void>
}

/**
 * What a listener forwards through: a `PortForwarding`, or a `PortForwardingPool`.
 *
 * @since 0.2.0
 * @category models
 */
export type Forwarder = Pick<PortForwarding.PortForwarding, "forward" | "closed">

/**
 * Listens for local connections and forwards each through the tunnel, until the scope closes: on TCP (127.0.0.1
 * and an ephemeral port by default; `listener.port` is the real one) or on a Unix socket (`{ path }`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const listen: {
  (
    forwarding: Forwarder,
    options: UnixListenOptions
  ): Effect.Effect<Listener<UnixAddress>, PortForwarding.PortForwardingError, Scope.Scope>
  (
    forwarding: Forwarder,
    options?: TcpListenOptions
  ): Effect.Effect<Listener<TcpAddress>, PortForwarding.PortForwardingError, Scope.Scope>
  (
    forwarding: Forwarder,
    options?: ListenOptions
  ): Effect.Effect<Listener, PortForwarding.PortForwardingError, Scope.Scope>
} = internal.listen

/**
 * One tunnel of `listenAll` once it listens: where, over what, and how it ended.
 *
 * @since 0.2.0
 * @category models
 */
export interface Listening<M, F extends Forwarder, E> {
  readonly mapping: M
  readonly address: ListenerAddress
  /** the TCP port it listens on, as `address.port`; undefined on a Unix socket */
  readonly port: number | undefined
  readonly forwarder: F
  /**
   * completes when the tunnel ended normally, fails when it broke or `open` failed; its listener and its sessions
   * are closed by then, and the other tunnels carry on
   */
  readonly closed: Effect.Effect<void, E | PortForwarding.PortForwardingError>
}

/**
 * Several tunnels at once, each with its own listener: every mapping's tunnel is opened (`open`, say
 * `PortForwardingPool.start` to its destination) and listened on together, and `ready` (a probe, say) runs on
 * each. All or nothing: if one fails, the others are closed and this fails. From then on each runs apart, in its
 * own scope: a tunnel that breaks closes its listener and its sessions alone (see `closed`). All close with the
 * caller's scope.
 *
 * @since 0.2.0
 * @category constructors
 */
export const listenAll: <M extends { readonly listen: ListenOptions }, F extends Forwarder, E, R, E2 = never, R2 = never>(
  mappings: ReadonlyArray<M>,
  open: (mapping: M) => Effect.Effect<F, E, Scope.Scope | R>,
  ready?: (forwarder: F, address: ListenerAddress, mapping: M) => Effect.Effect<void, E2, Scope.Scope | R2>
) => Effect.Effect<
  ReadonlyArray<Listening<M, F, E | E2>>,
  E | E2 | PortForwarding.PortForwardingError,
  Scope.Scope | R | R2
> = internal.listenAll
