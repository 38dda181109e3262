/**
 * The tunnel connections of each mode (AGENT-PROTOCOL.md section 10): an smux stream each in multiplexed mode,
 * the session's own bytes taking turns in basic and standard-stream modes.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { FlagPayload } from "../../AgentMessage.js"
import type * as PortForwarding from "../../PortForwarding.js"
import type * as Session from "../../Session.js"
import type * as Smux from "../../Smux.js"
import type * as Pull from "../smux/pull.js"
import { PortForwardingError, tunnelError } from "./portForwardingError.js"

/** One connection through the tunnel. @internal */
export interface Tunnel {
  readonly pull: Pull.Pull<Uint8Array, PortForwardingError>
  readonly write: (bytes: Uint8Array) => Effect.Effect<void, PortForwardingError>
  readonly close: Effect.Effect<void>
}

/** Multiplexed mode: each connection is an smux stream, closed (FIN) with its scope. @internal */
export const muxTunnel = (smux: Smux.Smux): Effect.Effect<Tunnel, PortForwardingError, Scope.Scope> =>
  Effect.map(Effect.mapError(smux.open, tunnelError), (stream) => ({
    pull: Effect.mapError(stream.pull, Option.map(tunnelError)),
    write: (bytes) => Effect.mapError(stream.write(bytes), tunnelError),
    close: stream.close
  }))

/**
 * Basic and standard-stream modes: the session's bytes are one connection's bytes, so connections take turns;
 * in basic mode the end of each sends DisconnectToPort, and the agent dials again on the next data (10.2, 10.4).
 * Output nobody reads stays in the session for the next connection, as with the official client: a destination
 * that speaks first (SSH, SMTP) must not lose its greeting.
 *
 * @internal
 */
export const singleTunnels = (
  session: Session.Session,
  mode: PortForwarding.Mode
): Effect.Effect<Effect.Effect<Tunnel, PortForwardingError, Scope.Scope>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const pull = yield* Stream.toPull(session.output)
    const turn = yield* Effect.makeSemaphore(1)
    return Effect.gen(function*() {
      yield* Effect.acquireRelease(turn.take(1), () =>
        Effect.zipRight(
          mode._tag === "Basic" ? Effect.ignore(session.sendFlag(FlagPayload.DisconnectToPort)) : Effect.void,
          turn.release(1)
        ))
      let closed = false
      return {
        pull: Effect.suspend(() =>
          closed
            ? Effect.fail(Option.none())
            : Effect.mapError(pull, (error) =>
              Option.isSome(error)
                ? Option.some(tunnelError(error.value))
                // the session's output ended: the channel closed. A standard stream ends so when its destination
                // closes (10.4); a basic-mode connection is cut by it (the agent keeps those sessions open)
                : mode._tag === "Basic"
                ? Option.some(new PortForwardingError({ reason: "ChannelClosed", detail: "the channel closed" }))
                : Option.none())
        ),
        write: (bytes) => Effect.mapError(session.write(bytes), tunnelError),
        close: Effect.sync(() => {
          closed = true
        })
      } satisfies Tunnel
    })
  })
