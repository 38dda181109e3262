/**
 * The one shape of this library's errors: a yieldable error with a `_tag`, a TypeId on its prototype, a `reason`
 * from a literal union, a `detail` for people and an optional `cause`. Upstream's `TypeIdError`
 * (`@effect/platform/Error`) is the model; this one also derives `message` from the reason and the detail, and
 * does not load Schema (the CLI's start-up pays for every module it loads).
 *
 * @internal
 */
import type * as Cause from "effect/Cause"
import * as Data from "effect/Data"
import * as Predicate from "effect/Predicate"

/** @internal */
export interface ReasonFields<Reason extends string> {
  readonly reason: Reason
  readonly detail: string
  readonly cause?: unknown
}

/**
 * The base class of a module's error:
 *
 * ```ts
 * export class SmuxError extends ReasonError(ErrorTypeId, "SmuxError")<Smux.SmuxError.Reason> {}
 * ```
 *
 * Extra fields go in the second type parameter. `message` is `reason: detail`.
 *
 * @internal
 */
export const ReasonError = <const TypeId extends symbol, const Tag extends string>(
  typeId: TypeId,
  tag: Tag
): new<Reason extends string, Extra extends Record<string, unknown> = {}>(
  args: ReasonFields<Reason> & Extra
) =>
  & Cause.YieldableError
  & Record<TypeId, TypeId>
  & { readonly _tag: Tag }
  & ReasonFields<Reason>
  & Readonly<Extra> =>
{
  class Base extends Data.Error<ReasonFields<string>> {
    readonly _tag = tag
    override get message(): string {
      return `${this.reason}: ${this.detail}`
    }
  }
  ;(Base.prototype as any)[typeId] = typeId
  ;(Base.prototype as any).name = tag
  return Base as any
}

/**
 * The refinement that goes with a `ReasonError`: true for any value carrying the TypeId.
 *
 * @internal
 */
export const isReasonError = <E>(typeId: symbol) => (u: unknown): u is E => Predicate.hasProperty(u, typeId)
