import { Effect, Stream } from "effect"
import { Smux } from "ssm-session-manager"

// A client and a server joined in memory, cut into 1024-byte chunks as the SSM data channel does.
const program = Effect.gen(function*() {
  const [left, right] = yield* Smux.makeMemoryPair({ chunkSize: 1024 })
  const client = yield* Smux.make(left, { role: "client" })
  const server = yield* Smux.make(right, { role: "server" })

  // The server echoes every stream; each handler's stream is closed (FIN) when the handler ends.
  yield* Effect.forkScoped(server.serve((stream) => Stream.run(Smux.toStream(stream), stream.sink)))

  // A client stream lives in its own scope: leaving it sends FIN.
  const reply = yield* Effect.scoped(Effect.gen(function*() {
    const stream = yield* client.open
    yield* stream.write(new TextEncoder().encode("hello over smux"))
    return yield* Smux.toStream(stream).pipe(Stream.take(1), Stream.runCollect)
  }))
  return new TextDecoder().decode([...reply][0])
})

Effect.runPromise(Effect.scoped(program)).then(console.log)
