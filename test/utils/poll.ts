import { Effect, Schedule } from "effect"

/**
 * Runs `self` every `every` until its result satisfies `predicate`, at most `times` more runs; then fails. For
 * state outside any Effect we could await (a simulator's counters, a terminal's screen).
 */
export const pollUntil = <A, E>(
  self: Effect.Effect<A, E>,
  predicate: (a: A) => boolean,
  options: { readonly every: string & `${number} millis`; readonly times: number; readonly what: string }
): Effect.Effect<A, E | Error> =>
  self.pipe(
    Effect.filterOrFail(predicate, () => new Error(`never saw ${options.what}`)),
    Effect.retry({ times: options.times, schedule: Schedule.spaced(options.every) })
  )
