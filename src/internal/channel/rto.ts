/**
 * The retransmission timeout of AGENT-PROTOCOL.md section 5.4 (RFC 6298 shape, AWS's constants), as a pure
 * function so it can be tested without clocks.
 *
 * @internal
 */

/** @internal */
export interface RtoState {
  /** smoothed round-trip time, ms */
  readonly rtt: number
  /** round-trip time variation, ms */
  readonly rttVar: number
  /** retransmission timeout, ms */
  readonly rto: number
}

/** @internal */
export const initialRto: RtoState = { rtt: 100, rttVar: 0, rto: 200 }

/** @internal */
export const CLOCK_GRANULARITY = 10
/** @internal */
export const MAX_RTO = 1000
/**
 * The floor of the timeout (ARCHITECTURE.md: "RTO 200 ms to 1 s"). AWS's formula has none but the 10 ms term,
 * so on a fast path its RTO falls to a few tens of ms and any scheduling hiccup causes spurious resends.
 * @internal
 */
export const MIN_RTO = 200

/**
 * Folds one round-trip sample (ms) into the state, in AWS's order: the variation uses the old RTT. `floor` is
 * `MIN_RTO` for this library; the agent has none (0).
 * @internal
 */
export const update = (state: RtoState, sample: number, floor: number = MIN_RTO): RtoState => {
  const rttVar = 0.75 * state.rttVar + 0.25 * Math.abs(state.rtt - sample)
  const rtt = 0.875 * state.rtt + 0.125 * sample
  const rto = Math.min(Math.max(rtt + Math.max(CLOCK_GRANULARITY, 4 * rttVar), floor), MAX_RTO)
  return { rtt, rttVar, rto }
}
