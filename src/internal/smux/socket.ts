/**
 * An `@effect/platform` Socket over any readable stream and write function: smux streams and tunnel connections
 * use it, so Socket-based code runs over either.
 *
 * @internal
 */
import * as Socket from "@effect/platform/Socket"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"

const encoder = new TextEncoder()

/** @internal */
export interface Duplex<E> {
  readonly readable: Stream.Stream<Uint8Array, E>
  readonly write: (bytes: Uint8Array) => Effect.Effect<void, E>
  /** what writing a `CloseEvent` does */
  readonly close: Effect.Effect<void>
}

/** @internal */
export const fromDuplex = <E>(duplex: Duplex<E>): Socket.Socket => {
  const runRaw = <_, E2, R>(
    handler: (data: Uint8Array) => Effect.Effect<_, E2, R> | void,
    options?: { readonly onOpen?: Effect.Effect<void> | undefined }
  ): Effect.Effect<void, Socket.SocketError | E2, R> =>
    Effect.zipRight(
      options?.onOpen ?? Effect.void,
      duplex.readable.pipe(
        Stream.mapError((cause) => new Socket.SocketGenericError({ reason: "Read", cause })),
        Stream.runForEach((data) => {
          const result = handler(data)
          return Effect.isEffect(result) ? Effect.asVoid(result) : Effect.void
        })
      )
    )
  return {
    [Socket.TypeId]: Socket.TypeId,
    run: runRaw,
    runRaw,
    writer: Effect.succeed((chunk: Uint8Array | string | Socket.CloseEvent) =>
      Socket.isCloseEvent(chunk)
        ? duplex.close
        : Effect.mapError(
          duplex.write(typeof chunk === "string" ? encoder.encode(chunk) : chunk),
          (cause) => new Socket.SocketGenericError({ reason: "Write", cause })
        )
    )
  }
}
