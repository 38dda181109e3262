/**
 * AgentMessage encode/decode of 1024-byte payloads, beside SHA-256 alone over the same payloads: every message
 * needs one digest each way, so the hash is the ceiling.
 */
import * as AgentMessage from "../src/AgentMessage.js"
import { implementation, sha256 } from "#sha256"
import { formatRate, measure, type Row } from "./harness.js"

export const run = (): ReadonlyArray<Row> => {
  const count = 256
  const payloads = Array.from({ length: count }, (_, i) => {
    const payload = new Uint8Array(1024)
    for (let j = 0; j < payload.length; j++) payload[j] = (i * 31 + j * 7) & 0xff
    return payload
  })
  const messages = payloads.map((payload, i) =>
    AgentMessage.make({
      messageType: "output_stream_data",
      createdDate: 1764223200000 + i,
      sequenceNumber: i,
      payloadType: AgentMessage.PayloadType.Output,
      payload
    })
  )
  const frames = messages.map(AgentMessage.unsafeEncode)

  let sink = 0
  const hash = measure(`SHA-256 alone (${implementation}), 1024 B`, (n) => {
    for (let i = 0; i < n; i++) sink ^= sha256(payloads[i % count]!)[0]!
  }, { bytesPerOp: 1024 })
  const encode = measure("AgentMessage.encode, 1024 B payload", (n) => {
    for (let i = 0; i < n; i++) {
      const result = AgentMessage.encode(messages[i % count]!)
      if (result._tag === "Right") sink ^= result.right[0]!
    }
  }, { bytesPerOp: 1024 })
  const decode = measure("AgentMessage.decode, 1024 B payload", (n) => {
    for (let i = 0; i < n; i++) {
      const result = AgentMessage.decode(frames[i % count]!)
      if (result._tag === "Right") sink ^= result.right.sequenceNumber
    }
  }, { bytesPerOp: 1024 })
  if (sink === 0.5) console.log(sink)

  for (const rate of [hash, encode, decode]) console.log(formatRate(rate))
  const row = (name: string, rate: typeof encode): Row => ({
    group: "AgentMessage",
    name,
    value: `${Math.round(rate.opsPerSecond).toLocaleString("en-US")} msg/s (${rate.mbPerSecond!.toFixed(0)} MB/s)`,
    ceiling: `${Math.round(hash.opsPerSecond).toLocaleString("en-US")} digests/s (${hash.mbPerSecond!.toFixed(0)} MB/s)`,
    ratio: rate.opsPerSecond / hash.opsPerSecond
  })
  return [row("encode, 1024-byte payload", encode), row("decode, 1024-byte payload", decode)]
}
