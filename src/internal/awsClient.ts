/**
 * What the SDK-backed services share: a client made for a layer and destroyed with it, and SDK exceptions
 * mapped by name to a module's reasons.
 *
 * @internal
 */
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Predicate from "effect/Predicate"

/**
 * A layer of `fromClient(client)` over a client made by `make` (which may load the SDK: importing this library
 * does not), destroyed with the layer.
 * @internal
 */
export const layerFromClient = <I, S, C extends { readonly destroy: () => void }>(
  tag: Context.Tag<I, S>,
  make: Effect.Effect<C>,
  fromClient: (client: C) => S
): Layer.Layer<I> =>
  Layer.scoped(
    tag,
    Effect.map(Effect.acquireRelease(make, (client) => Effect.sync(() => client.destroy())), fromClient)
  )

/**
 * An SDK module, loaded on first use: importing this library loads no AWS SDK (a third of a second, and most
 * programs that use the Session alone never call AWS).
 * @internal
 */
export const lazyModule = <M>(load: () => Promise<M>): Effect.Effect<M> => {
  let loaded: Promise<M> | undefined
  return Effect.promise(() => loaded ??= load())
}

/** The reason listed for an SDK exception's `name`, or `otherwise`. @internal */
export const reasonByName = <R extends string>(
  table: ReadonlyArray<readonly [ReadonlyArray<string>, R]>,
  otherwise: R
) =>
(error: unknown): R => {
  const name = Predicate.hasProperty(error, "name") && typeof error.name === "string" ? error.name : ""
  for (const [names, reason] of table) if (names.includes(name)) return reason
  return otherwise
}

/** An SDK exception's message. @internal */
export const messageOf = (cause: unknown): string =>
  Predicate.hasProperty(cause, "message") ? String(cause.message) : String(cause)
