/**
 * What a data channel is made with (`ChannelOptions`), what it reports (`ChannelFailure`, `ChannelStats`, the
 * metrics), and how a transport tells it about congestion.
 *
 * @internal
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import type * as AgentMessage from "../../AgentMessage.js"
import type * as Session from "../../Session.js"
import type * as internalMessage from "../protocol/agentMessage.js"
import type { Sender } from "./sending.js"

/**
 * The two sequenced data message types: a channel sends one and receives the other.
 * @internal
 */
export type DataMessageType =
  | typeof AgentMessage.MessageType.InputStreamData
  | typeof AgentMessage.MessageType.OutputStreamData

/** @internal */
export interface ChannelOptions {
  /**
   * the data messages this end sends (`input_stream_data`, the default, as a client does); it receives the other
   * type
   */
  readonly sends?: DataMessageType | undefined
  /** writes one binary frame to the transport */
  readonly send: (frame: Uint8Array) => Effect.Effect<void, unknown>
  /**
   * optional: writes one frame at once when the transport can take it now, and says whether it did. Frames go
   * this way while nothing waits in the writer, so an acknowledgement costs no fiber
   */
  readonly sendNow?: ((frame: Uint8Array) => boolean) | undefined
  /**
   * called, in order and exactly once per sequence number, for each data message. Return false when the
   * message cannot be taken now: a message received in order is then not acknowledged and the peer resends it;
   * one that waited in the reorder buffer (already acknowledged) stays there until `resumeDelivery`. With `owned`
   * the payload is the engine's own copy; otherwise it is a view into the transport's buffer, to be copied if kept.
   */
  readonly deliver: (message: AgentMessage.AgentMessage, owned: boolean) => boolean
  /** called for `channel_closed` */
  readonly onChannelClosed: (message: AgentMessage.AgentMessage) => void
  /**
   * optional: holds the transport's writes together until the returned function is called, so a batch of frames
   * leaves in few system calls (a Node socket's cork/uncork)
   */
  readonly cork?: (() => () => void) | undefined
  /**
   * optional: the payload each data message goes out with, given its plaintext chunk (KMS sessions encrypt here,
   * after chunking to 1024 bytes and before the digest, as section 8.2 says)
   */
  readonly outgoingPayload?: ((payloadType: AgentMessage.PayloadType, payload: Uint8Array) => Uint8Array) | undefined
  /**
   * optional: how full the transport is. While `congested` says so, acknowledgements wait in the engine (unique per
   * sequence number, at most `MAX_PENDING_ACKS`) instead of piling up in the transport, and go out when the
   * callback given to `whenDrained` runs (or when `hold(false)` carries on over a new transport)
   */
  readonly congestion?: Congestion | undefined
  /** called for frames that fail to decode or validate (they are dropped unacknowledged) */
  readonly onInvalid?: ((error: internalMessage.AgentMessageError) => void) | undefined
  /**
   * how data messages go out and are resent (see `Sender`). Default: the windowed sender of `windowedSender.ts`
   * over `windowSize`. A sender holds state of its own: one per channel
   */
  readonly sender?: Sender | undefined
  /** with the default sender: sequence numbers in flight from the oldest unacknowledged one */
  readonly windowSize: number
  /** out-of-order messages held */
  readonly reorderBufferSize: number
  /**
   * how far ahead of the expected message a held one may be. Default `reorderBufferSize`, so that a window of that
   * size is always enough for the peer
   */
  readonly reorderAhead?: number | undefined
  /** bytes the reorder buffer holds at most: payloads plus `REORDER_ENTRY_OVERHEAD` per message */
  readonly reorderBufferBytes: number
  /** data messages with a larger payload end the channel (`Protocol`). Default `MAX_PAYLOAD_BYTES` */
  readonly maxPayloadBytes?: number | undefined
  /** acknowledge every accepted message once more this many ms later; 0 for never */
  readonly repeatAckAfter?: number | undefined
  readonly messagesPerSecond: number
  /** with the default sender: a message unacknowledged this long (while the transport is up) ends the channel */
  readonly giveUpAfter: Duration.Duration
  readonly metrics: ChannelMetrics
  /**
   * optional: called once per message, with the ms from its latest transmission to the first acknowledgement of it
   * that arrives (also one that the sender then loses, see `Sender.acknowledging`)
   */
  readonly onAckSample?: ((millis: number) => void) | undefined
}

/**
 * A transport's backlog of frames written and not yet taken by the network, as the engine's acknowledgements see it.
 * @internal
 */
export interface Congestion {
  /**
   * true while so much of ours waits for the network that acknowledgements should wait in the engine instead: more
   * than its bound beyond `allowance` bytes, the data frames not yet acknowledged (the window bounds them, and any of
   * them may still wait there), so that acknowledgements never wait behind data alone
   */
  readonly congested: (allowance: number) => boolean
  /**
   * calls `callback` once, when the backlog has drained or may have (the engine then looks again), or when the
   * transport ends (or never, then: `hold(false)` sends what waits on the next transport)
   */
  readonly whenDrained: (callback: () => void) => void
}

/** @internal */
export type ChannelMetrics = Session.SessionMetrics

/**
 * The metrics of every channel of one kind, named `<prefix>_<metric>`.
 * @internal
 */
export const makeMetrics = (prefix: string): ChannelMetrics => {
  const counter = (name: string, description: string) =>
    Metric.counter(`${prefix}_${name}`, { description, incremental: true })
  return {
    messagesSent: counter("messages_sent", "data messages written, first transmissions"),
    messagesReceived: counter("messages_received", "data messages accepted"),
    bytesSent: counter("bytes_sent", "payload bytes of data messages first written"),
    bytesReceived: counter("bytes_received", "payload bytes of data messages accepted"),
    retransmissions: counter("retransmissions", "data messages written again"),
    rtt: Metric.gauge(`${prefix}_rtt_ms`, { description: "smoothed round-trip time" }),
    rto: Metric.gauge(`${prefix}_rto_ms`, { description: "retransmission timeout" }),
    reorderDepth: Metric.gauge(`${prefix}_reorder_depth`, { description: "out-of-order messages held" }),
    reconnects: counter("reconnects", "sessions resumed on a new WebSocket"),
    disconnectedMillis: counter("disconnected_ms", "time without a WebSocket, from losing one to resuming")
  }
}

/** @internal */
export interface ChannelFailure {
  readonly reason: "GiveUp" | "Transport" | "Closed" | "Protocol"
  readonly detail: string
  readonly cause?: unknown
}

/**
 * The engine's counters: the Session's stats without its delivery buffer.
 * @internal
 */
export type ChannelStats = Omit<
  Session.SessionStats,
  "bufferedBytes" | "peakBufferedBytes" | "connected" | "reconnects" | "disconnectedMillis"
>
