/**
 * A tunnel's state as one record, and what happens to it when the session under it ends, fails, or reports a
 * failed dial: connections cut by a broken tunnel are reset (never ended as if all went well), then the tunnel's
 * verdict is decided once.
 *
 * @internal
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import { FlagPayload } from "../../AgentMessage.js"
import type * as PortForwarding from "../../PortForwarding.js"
import type * as Session from "../../Session.js"
import * as Version from "../protocol/version.js"
import { PortForwardingError } from "./portForwardingError.js"

/** @internal */
export type ForwardingCounters = { -readonly [K in keyof PortForwarding.PortForwardingStats]: number }

/** Everything a tunnel keeps while it carries connections. @internal */
export interface ForwardingState {
  readonly mode: PortForwarding.Mode
  readonly events: PubSub.PubSub<PortForwarding.PortForwardingEvent>
  readonly stats: ForwardingCounters
  /**
   * what broke the tunnel, once something has: the session failing, smux failing, or the service closing the
   * channel while connections were open
   */
  readonly broken: Deferred.Deferred<PortForwardingError>
  /** how the tunnel ended: decided once, after any cut connections were reset */
  readonly verdict: Deferred.Deferred<void, PortForwardingError>
  /** connections the tunnel's failure ended */
  cutConnections: number
  /** the local sides of the connections being forwarded, to reset when the tunnel breaks */
  readonly resets: Set<Effect.Effect<void>>
}

/** @internal */
export const makeCounters = (): ForwardingCounters => ({
  connections: 0,
  activeConnections: 0,
  bytesSent: 0,
  bytesReceived: 0,
  connectErrors: 0
})

/** @internal */
export const metrics: PortForwarding.PortForwardingMetrics = {
  connections: Metric.counter("ssm_port_connections_total", { description: "tunnel connections opened" }),
  activeConnections: Metric.counter("ssm_port_connections_active", { description: "tunnel connections open now" }),
  bytesSent: Metric.counter("ssm_port_bytes_sent_total", { description: "bytes sent to the destination" }),
  bytesReceived: Metric.counter("ssm_port_bytes_received_total", { description: "bytes from the destination" }),
  connectErrors: Metric.counter("ssm_port_connect_errors_total", {
    description: "connections the agent could not make (ConnectToPortError)"
  })
}

/**
 * Breaks the tunnel: resets first, then the verdict, so that whoever waits on `closed` (and then closes the scope)
 * comes after the RSTs. Only the first break counts.
 *
 * @internal
 */
export const breakWith = (
  state: ForwardingState,
  reason: PortForwarding.PortForwardingError.Reason,
  detail: string,
  cause?: unknown
): Effect.Effect<void> =>
  Effect.suspend(() => {
    const pending = [...state.resets]
    state.resets.clear()
    const error = new PortForwardingError(cause === undefined ? { reason, detail } : { reason, detail, cause })
    return Effect.all([
      Effect.all(pending, { discard: true }),
      Deferred.succeed(state.broken, error),
      Deferred.fail(state.verdict, error)
    ], { discard: true })
  })

/**
 * Whether the service closing the channel (with `output`, its reason) ended the tunnel well: with no connection
 * open (connections the closing already cut count as open: they were, when it came), or, for a standard stream,
 * with no reason, which is how its channel closes when its destination closes (10.4). Otherwise the detail of the
 * `ChannelClosed` break.
 *
 * @internal
 */
export const channelClosedBreak = (state: ForwardingState, output: string): string | undefined =>
  (state.stats.activeConnections === 0 && state.cutConnections === 0) ||
    (state.mode._tag === "StandardStream" && output === "")
    ? undefined
    : `the service closed the channel with ${state.stats.activeConnections + state.cutConnections} connection(s) open` +
      (output === "" ? "" : `: ${output}`)

/** The session's end as the tunnel's: a failure breaks it, a close breaks it when connections were open. @internal */
export const watchSession = (state: ForwardingState, session: Session.Session): Effect.Effect<void> =>
  Effect.matchEffect(session.closed, {
    onFailure: (error) => breakWith(state, "Session", error.message, error),
    onSuccess: (output) => {
      const detail = channelClosedBreak(state, output)
      return detail === undefined ? Deferred.succeed(state.verdict, undefined) : breakWith(state, "ChannelClosed", detail)
    }
  })

/** True for the event by which the agent reports a failed dial (in multiplexed mode it also closes the stream). @internal */
export const isConnectToPortError = (event: Session.SessionEvent): boolean =>
  event._tag === "Flag" && event.flag === FlagPayload.ConnectToPortError

/** A session event as the tunnel's: a failed dial is counted and told. @internal */
export const onSessionEvent = (state: ForwardingState, event: Session.SessionEvent): Effect.Effect<void> => {
  if (!isConnectToPortError(event)) return Effect.void
  state.stats.connectErrors++
  return Effect.all([
    Metric.increment(metrics.connectErrors),
    PubSub.publish(state.events, { _tag: "ConnectToPortError" }),
    Effect.logWarning("the agent could not connect to the destination (ConnectToPortError)")
  ], { discard: true })
}

/**
 * The flag a Port session closes with: TerminateSession, which agents above 2.3.722.0 answer by closing the
 * channel; none for older ones (or an unknown version), which need the API's TerminateSession (`start` and
 * `fromResponse` call it).
 *
 * @internal
 */
export const closingFlag = (agentVersion: Option.Option<string>): Option.Option<FlagPayload> =>
  Option.exists(agentVersion, (version) => Version.isGreaterThan(version, Version.TERMINATE_FLAG_AFTER))
    ? Option.some(FlagPayload.TerminateSession)
    : Option.none()
