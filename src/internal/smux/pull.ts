/**
 * Pull-style reading: an effect that yields the next chunk and fails with `None` at the end (the convention of
 * `Stream.toPull`). A copy loop over a pull costs a fiber; running a Stream costs a channel executor on top
 * (about 14 KiB each, measured), which matters for thousands of idle forwarded connections.
 *
 * @internal
 */
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import type * as Mailbox from "effect/Mailbox"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"

/** @internal */
export type Pull<A, E> = Effect.Effect<Chunk.Chunk<A>, Option.Option<E>>

/** The mailbox's items as a pull; `onChunk` sees each chunk taken. @internal */
export const fromMailbox = <A, E>(
  mailbox: Mailbox.ReadonlyMailbox<A, E>,
  onChunk: (chunk: Chunk.Chunk<A>) => void = () => {}
): Pull<A, E> =>
  Effect.flatMap(Effect.mapError(mailbox.takeAll, Option.some), ([chunk, done]) => {
    if (Chunk.isEmpty(chunk)) return done ? Effect.fail(Option.none()) : Effect.succeed(chunk)
    onChunk(chunk)
    return Effect.succeed(chunk)
  })

/** A pull as a Stream. @internal */
export const toStream = <A, E>(pull: Pull<A, E>): Stream.Stream<A, E> => Stream.repeatEffectChunkOption(pull)

/** Writes every chunk of `pull` with `write` until the end; the pull's failure or the write's. @internal */
export const drain = <A, E1, E2>(
  pull: Pull<A, E1>,
  write: (a: A) => Effect.Effect<void, E2>
): Effect.Effect<void, E1 | E2> =>
  Effect.gen(function*() {
    while (true) {
      const next = yield* Effect.either(pull)
      if (next._tag === "Left") {
        if (Option.isNone(next.left)) return
        return yield* Effect.fail(next.left.value)
      }
      for (const item of next.right) yield* write(item)
    }
  })
