/**
 * This process's stdin and stdout as the local end of a standard-stream session (ssh's ProxyCommand), and
 * writing to stdout or stderr.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Option from "effect/Option"
import * as PortForwarding from "../PortForwarding.js"
import { reportConnection } from "./status.js"
import { fromReadable } from "../NodeNetTransport.js"

/**
 * Writes `bytes` to `stream` (stdout or stderr), completing once they are handed over.
 *
 * @since 0.1.0
 * @category output
 */
export const writeTo = (stream: NodeJS.WriteStream, bytes: Uint8Array): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    stream.write(bytes, () => resume(Effect.void))
  })

/**
 * @since 0.1.0
 * @category local connections
 */
export const stdio: PortForwarding.LocalConnection<unknown, never> = {
  incoming: fromReadable(() => process.stdin, (error) => error),
  write: (bytes) => writeTo(process.stdout, bytes)
}

/**
 * After the stream ended: a channel the agent closed with a reason (it could not reach the destination: "Plugin
 * failed: Unable to connect to specified port …") is this program's failure, not a quiet end.
 */
const whyItClosed = (forwarding: PortForwarding.PortForwarding): Effect.Effect<void, PortForwarding.PortForwardingError> =>
  Effect.flatMap(
    // done already when the stream ended with the channel
    Effect.option(Effect.timeout(forwarding.session.closed, "1 second")),
    (closed) =>
      Option.isSome(closed) && closed.value !== ""
        ? Effect.fail(
          new PortForwarding.PortForwardingError({
            reason: "ChannelClosed",
            detail: `the agent closed the session: ${closed.value}`
          })
        )
        : Effect.void
  )

/**
 * Carries stdin and stdout through one tunnel connection until either ends. A tunnel that breaks under it is this
 * program's failure (ssh then sees the proxy fail, not a clean end of its connection).
 *
 * @since 0.1.0
 * @category local connections
 */
export const carry = (
  forwarding: PortForwarding.PortForwarding
): Effect.Effect<void, PortForwarding.PortForwardingError, Scope.Scope> =>
  Effect.zipRight(
    reportConnection(forwarding.session),
    Effect.raceFirst(
      Effect.zipRight(forwarding.closed, Effect.never),
      Effect.flatMap(forwarding.forward(stdio), (outcome) =>
        outcome._tag === "Cut" ? Effect.fail(outcome.error) : whyItClosed(forwarding))
    )
  )
