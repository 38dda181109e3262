/**
 * A Node readable stream (stdin, a child's stdout) as an Effect Stream: chunks as they come, with backpressure
 * (the readable is paused while a chunk waits for room), ending with it; an error fails the stream, and the
 * readable is destroyed when the stream is done or interrupted. Node only: `NodeNetTransport.fromReadable` is its
 * public face (the CLI reads stdin through it), and the simulator's processes use it, so the library needs no
 * `@effect/platform-node`.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"

/** @internal */
export const fromReadable = <E>(
  evaluate: () => NodeJS.ReadableStream,
  onError: (error: unknown) => E
): Stream.Stream<Uint8Array, E> =>
  Stream.async<Uint8Array, E>((emit) => {
    const readable = evaluate() as NodeJS.ReadableStream & { readonly destroy?: () => void }
    const onData = (chunk: Uint8Array) => {
      readable.pause()
      void emit.single(chunk).then(() => readable.resume())
    }
    const onEnd = () => void emit.end()
    const onFailure = (error: unknown) => void emit.fail(onError(error))
    readable.on("data", onData)
    readable.once("end", onEnd)
    readable.once("error", onFailure)
    return Effect.sync(() => {
      readable.off("data", onData)
      readable.off("end", onEnd)
      readable.off("error", onFailure)
      readable.destroy?.()
    })
  }, 16)
