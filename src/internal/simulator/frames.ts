/**
 * What the simulated service and network do to frames between the client and the agent: faults (drop, duplicate,
 * reorder, delay) replayed from a seed, waiting for a WebSocket to drain, and the service's own frames
 * (`pause_publication`, `start_publication`, `channel_closed`).
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type * as WS from "ws"
import * as AgentMessage from "../../AgentMessage.js"
import type * as AgentSimulator from "../../AgentSimulator.js"
import * as internalMessage from "../protocol/agentMessage.js"
import { wsConnection } from "../channel/wsConnection.js"

const textEncoder = new TextEncoder()

/** A small seeded PRNG (mulberry32), so fault patterns replay. @internal */
export const prng = (seed: number) => {
  let state = seed >>> 0
  return (): number => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/**
 * Drop, duplicate, reorder and delay, each with a rate, applied to binary frames in one direction.
 * @internal
 */
export const makeFaultyPipe = (
  faults: AgentSimulator.DirectionFaults | undefined,
  random: () => number,
  deliver: (frame: Uint8Array) => void
) => {
  if (faults === undefined) return { push: deliver, flush: () => {} }
  let held: Uint8Array | undefined
  const flush = () => {
    if (held !== undefined) {
      const frame = held
      held = undefined
      deliver(frame)
    }
  }
  const push = (frame: Uint8Array) => {
    // the service's own channel_closed is followed by the WebSocket's close: over one TCP connection both arrive
    // or neither does, so it never meets the per-frame faults alone (a test that wants the channel to end without
    // it drops the connection: `dropConnection`). What the pipe holds goes first, as the order on the wire says
    if (internalMessage.hasMessageType(frame, AgentMessage.MessageType.ChannelClosed)) {
      flush()
      return deliver(frame)
    }
    if (random() < (faults.drop ?? 0)) return
    const copies = random() < (faults.duplicate ?? 0) ? 2 : 1
    for (let i = 0; i < copies; i++) {
      if (held === undefined && random() < (faults.reorder ?? 0)) {
        held = frame
        // a network reorders frames, it does not keep one for ever: it goes after the next frame, or soon
        setTimeout(() => held === frame && flush(), faults.delayMillis ?? 20)
        continue
      }
      if (random() < (faults.delay ?? 0)) {
        setTimeout(() => deliver(frame), faults.delayMillis ?? 20)
        continue
      }
      deliver(frame)
      flush()
    }
  }
  return { push, flush }
}

/** Completes once the WebSocket's connection has taken what was queued on it (or closed). @internal */
export const drained = (socket: WS.WebSocket): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    const raw = wsConnection(socket)
    if (
      raw === undefined || raw.destroyed === true || raw.writableLength === 0 || raw.on === undefined ||
      raw.off === undefined
    ) return resume(Effect.void)
    const { off: removeListener, on: addListener } = raw
    // a batch may have corked the connection: nothing would leave it while we wait
    while ((raw.writableCorked ?? 0) > 0 && raw.uncork !== undefined) raw.uncork()
    // both listeners go at once, whichever comes: a "close" listener left after each drain would pile up on the
    // connection (Node's MaxListenersExceededWarning in long benchmarks)
    const off = () => {
      removeListener.call(raw, "drain", done)
      removeListener.call(raw, "close", done)
    }
    const done = () => {
      off()
      resume(Effect.void)
    }
    addListener.call(raw, "drain", done)
    addListener.call(raw, "close", done)
    return Effect.sync(off)
  })

/** The 112-byte header variant the service uses for channel_closed (section 3.6). @internal */
export const toShortHeader = (frame: Uint8Array): Uint8Array => {
  const short = new Uint8Array(frame.length - 4)
  short.set(frame.subarray(0, 112), 0)
  short.set(frame.subarray(116), 112)
  new DataView(short.buffer).setUint32(0, 112)
  // NUL padding of the type, as observed
  for (let i = 4 + "channel_closed".length; i < 36; i++) short[i] = 0
  return short
}

/** The service's pause_publication or start_publication frame (section 9). @internal */
export const publication = (type: "pause_publication" | "start_publication"): Uint8Array =>
  internalMessage.unsafeEncode({
    messageType: type,
    schemaVersion: 1,
    createdDate: Date.now(),
    sequenceNumber: 0,
    flags: AgentMessage.Flags.None,
    messageId: globalThis.crypto.randomUUID(),
    payloadType: AgentMessage.PayloadType.Undefined,
    payload: textEncoder.encode("{}")
  })

/** The service's channel_closed, in the 112-byte header variant when `short`. @internal */
export const closeChannel = (
  send: (frame: Uint8Array) => Effect.Effect<void>,
  sessionId: string,
  output: string,
  short: boolean
) =>
  Effect.gen(function*() {
    const now = Date.now()
    const payload = textEncoder.encode(JSON.stringify({
      MessageId: globalThis.crypto.randomUUID(),
      CreatedDate: new Date(now).toISOString(),
      DestinationId: "mi-simulator",
      SessionId: sessionId,
      MessageType: "channel_closed",
      SchemaVersion: 1,
      Output: output
    }))
    const frame = internalMessage.unsafeEncode({
      messageType: AgentMessage.MessageType.ChannelClosed,
      schemaVersion: 1,
      createdDate: now,
      sequenceNumber: 0,
      flags: AgentMessage.Flags.None,
      messageId: globalThis.crypto.randomUUID(),
      payloadType: AgentMessage.PayloadType.Undefined,
      payload
    })
    yield* send(short ? toShortHeader(frame) : frame)
  })
