/**
 * A port session served from a local listener, printing what the official client prints: shared by `forward`, the
 * ECS commands and the drop-in plugin, which loads no command definitions.
 *
 * @since 0.6.0
 */
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as NodePortForwarding from "../NodePortForwarding.js"
import type * as PortForwarding from "../PortForwarding.js"
import { announceListener, report, reportConnection, reportConnectionEvent, say } from "./status.js"

/**
 * Listens, prints what the official client prints, warns (on stderr) when the listener is reachable from other
 * machines, reports the counters, runs `whileListening`, and ends when the
 * session ends, `whileListening` completes, or the scope is interrupted (Ctrl-C).
 *
 * @since 0.1.0
 * @category running
 */
export const serve = <E = never>(
  forwarding: PortForwarding.PortForwarding,
  options: NodePortForwarding.ListenOptions,
  whileListening: (address: NodePortForwarding.ListenerAddress) => Effect.Effect<void, E> = () => Effect.never
) =>
  Effect.gen(function*() {
    const sessionId = forwarding.session.sessionId
    // subscribe before listening, so that no event is missed
    const events = yield* Stream.toPull(yield* forwarding.subscribe)
    const listener = yield* NodePortForwarding.listen(forwarding, options)
    yield* announceListener(listener.address, [sessionId])
    yield* say("stdout", "Waiting for connections...")
    yield* report(forwarding)
    yield* reportConnection(forwarding.session)
    yield* Effect.forkScoped(Effect.forever(Effect.flatMap(events, (chunk) =>
      Effect.forEach(chunk, (event) => reportConnectionEvent(sessionId, event), { discard: true }))).pipe(Effect.ignore))
    // a broken tunnel fails here (its connections were reset): the error is the program's, and it exits 1
    yield* Effect.raceFirst(forwarding.closed, whileListening(listener.address))
    yield* say("stdout", `\n\nExiting session with sessionId: ${sessionId}.\n\n`)
  })
