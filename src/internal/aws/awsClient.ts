/**
 * What the SDK-backed services share: a client made for a layer and destroyed with it, and SDK exceptions
 * mapped by name to a module's reasons.
 *
 * @internal
 */
import type * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Predicate from "effect/Predicate"

/**
 * A layer of `fromClient(client)`, where the client is made by `make` (which loads the SDK) on its first `send`,
 * not when the layer is built: a program that provides the layer "just in case" (to resume a session, say) loads
 * no SDK until it calls AWS. A client made is destroyed with the layer.
 * @internal
 */
export const layerFromClient = <
  I,
  S,
  C extends { readonly destroy: () => void; readonly send: (...args: Array<any>) => Promise<unknown> }
>(
  tag: Context.Tag<I, S>,
  make: Effect.Effect<C>,
  fromClient: (client: Pick<C, "send">) => S
): Layer.Layer<I> =>
  Layer.scoped(
    tag,
    Effect.gen(function*() {
      let client: Promise<C> | undefined
      let made: C | undefined
      let closed = false
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => {
          closed = true
          made?.destroy()
        })
      )
      const get = () =>
        client ??= Effect.runPromise(make).then((c) => {
          made = c
          // made after the layer closed: nothing will use it
          if (closed) c.destroy()
          return c
        })
      // `send` is overloaded in the SDK's types; this one forwards whatever it is given
      const lazy = { send: (...args: Array<any>) => get().then((c) => c.send(...args)) } as Pick<C, "send">
      return fromClient(lazy)
    })
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

/** The exception names of a refused identity, in every service. @internal */
export const ACCESS_DENIED_NAMES: ReadonlyArray<string> = ["AccessDeniedException", "AccessDenied", "UnauthorizedOperation"]

/** The exception names of throttling, in every service. @internal */
export const THROTTLING_NAMES: ReadonlyArray<string> = [
  "ThrottlingException",
  "TooManyRequestsException",
  "Throttling",
  "RequestLimitExceeded"
]

/** The exception names of missing, expired or refused credentials, in every service. @internal */
export const CREDENTIALS_NAMES: ReadonlyArray<string> = [
  "ExpiredTokenException",
  "ExpiredToken",
  "UnrecognizedClientException",
  "InvalidSignatureException",
  "CredentialsProviderError",
  "InvalidClientTokenId"
]

/**
 * One SDK call with the SDK `module` loaded: its exception mapped by `onFailure`, and a deadline that interrupts
 * it (which aborts the SDK's request through the signal) and fails with `onTimeout`.
 * @internal
 */
export const callWithDeadline = <M, A, E>(
  module: Effect.Effect<M>,
  timeout: Duration.Duration,
  run: (module: M, signal: AbortSignal) => Promise<A>,
  onFailure: (cause: unknown) => E,
  onTimeout: () => E
): Effect.Effect<A, E> =>
  Effect.flatMap(module, (loaded) => Effect.tryPromise({ try: (signal) => run(loaded, signal), catch: onFailure })).pipe(
    Effect.timeoutFail({ duration: timeout, onTimeout })
  )

/**
 * Makes an API error's `message` start with its operation (`ResumeSession: Credentials: …`), after its reason and
 * detail as every ReasonError has them.
 * @internal
 */
export const operationLeadsMessage = (
  errorClass: { readonly prototype: { readonly operation: string; readonly reason: string; readonly detail: string } }
): void => {
  Object.defineProperty(errorClass.prototype, "message", {
    get(this: { readonly operation: string; readonly reason: string; readonly detail: string }) {
      return `${this.operation}: ${this.reason}: ${this.detail}`
    }
  })
}
