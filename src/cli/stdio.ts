/**
 * This process's stdin and stdout as the local end of a standard-stream session (ssh's ProxyCommand).
 *
 * @since 0.1.0
 */
import * as NodeStream from "@effect/platform-node/NodeStream"
import * as Effect from "effect/Effect"
import type * as PortForwarding from "../PortForwarding.js"

/**
 * @since 0.1.0
 * @category local connections
 */
export const stdio: PortForwarding.LocalConnection<unknown, never> = {
  incoming: NodeStream.fromReadable(() => process.stdin, (error) => error),
  write: (bytes) =>
    Effect.async<void>((resume) => {
      process.stdout.write(bytes, () => resume(Effect.void))
    })
}
