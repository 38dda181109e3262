/**
 * An in-memory transport pair for smux: each direction a bounded Mailbox, so a writer suspends when the other
 * side does not read.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Mailbox from "effect/Mailbox"
import type * as Scope from "effect/Scope"
import type * as Smux from "../../Smux.js"

const direction = (capacity: number, chunkSize: number | undefined) =>
  Effect.map(Mailbox.make<Uint8Array>({ capacity, strategy: "suspend" }), (mailbox) => ({
    mailbox,
    write: (bytes: Uint8Array): Effect.Effect<void> => {
      if (chunkSize === undefined || bytes.length <= chunkSize) return Effect.asVoid(mailbox.offer(bytes))
      const pieces: Array<Uint8Array> = []
      for (let offset = 0; offset < bytes.length; offset += chunkSize) {
        pieces.push(bytes.subarray(offset, offset + chunkSize))
      }
      return Effect.forEach(pieces, (piece) => mailbox.offer(piece), { discard: true })
    }
  }))

/** @internal */
export const makeMemoryPair = (
  options?: { readonly capacity?: number | undefined; readonly chunkSize?: number | undefined }
): Effect.Effect<readonly [Smux.Transport<never>, Smux.Transport<never>], never, Scope.Scope> =>
  Effect.gen(function*() {
    const capacity = options?.capacity ?? 64
    const aToB = yield* direction(capacity, options?.chunkSize)
    const bToA = yield* direction(capacity, options?.chunkSize)
    yield* Effect.addFinalizer(() => Effect.zipRight(aToB.mailbox.end, bToA.mailbox.end))
    return [
      { incoming: Mailbox.toStream(bToA.mailbox), write: aToB.write },
      { incoming: Mailbox.toStream(aToB.mailbox), write: bToA.write }
    ] as const
  })
