import type * as Socket from "@effect/platform/Socket"
import { Deferred, Effect, Exit, Fiber } from "effect"

/** Writes `text` on a connection (through a tunnel, say) and reads as much back: an echo server's answer. */
export const exchange = (socket: Socket.Socket, text: string) =>
  Effect.gen(function*() {
    const done = yield* Deferred.make<string>()
    let received = ""
    const reader = yield* Effect.fork(socket.run((bytes) => {
      received += new TextDecoder().decode(bytes)
      if (received.length >= text.length) Deferred.unsafeDone(done, Exit.succeed(received))
    }))
    yield* (yield* socket.writer)(text)
    const echoed = yield* Deferred.await(done)
    yield* Fiber.interrupt(reader)
    return echoed
  })
