/**
 * A pool of sessions past the service's per-session cap: 8 parallel downloads through one local listener over a
 * `PortForwardingPool` of k = 1, 2, 4, 8 sessions, each session paced at 1000 messages/s by both ends and the
 * simulator closing any channel that exceeds the cap. The goal: at least 0.9 k times the single session's figure.
 */
import { Context, Duration, Effect, Layer } from "effect"
import * as AgentSimulator from "../src/AgentSimulator.js"
import * as NodePortForwarding from "../src/NodePortForwarding.js"
import * as NodeSession from "../src/NodeSession.js"
import * as PortForwardingPool from "../src/PortForwardingPool.js"
import type { Row } from "./harness.js"
import { download, source } from "./portForwarding.js"

const MB = 1e6
const MiB = 1024 * 1024
const CONNECTIONS = 8
const SIZE = MiB

export const run = (): Promise<ReadonlyArray<Row>> =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const rows: Array<Row> = []
    const context = yield* Layer.build(
      AgentSimulator.layerSsmApi().pipe(
        Layer.provideMerge(AgentSimulator.layer({
          messagesPerSecond: 1000,
          faults: { rateCap: { messagesPerSecond: 1000, sustainedMillis: 2000 } }
        })),
        Layer.merge(NodeSession.layerWebSocketConstructor)
      )
    )
    const simulator = Context.get(context, AgentSimulator.AgentSimulator)
    const destination = yield* source(SIZE)
    let single = 0
    for (const k of [1, 2, 4, 8]) {
      const { rate, capClosed } = yield* Effect.scoped(Effect.gen(function*() {
        const pool = yield* PortForwardingPool.start({
          target: "i-simulated",
          portNumber: destination,
          sessions: k,
          session: { messagesPerSecond: 1000 }
        })
        const listener = yield* NodePortForwarding.listen(pool)
        const port = (listener.address as { readonly port: number }).port
        const [elapsed] = yield* Effect.timed(
          Effect.forEach(Array.from({ length: CONNECTIONS }), () => download(port, SIZE), { concurrency: "unbounded" })
        )
        const members = yield* pool.members
        let capClosed = false
        for (const member of members) {
          capClosed ||= (yield* simulator.sessionStats(member.session.sessionId))?.rateCapClosed ?? false
        }
        return { rate: (CONNECTIONS * SIZE) / Duration.toSeconds(elapsed), capClosed }
      })).pipe(Effect.provide(context))
      if (k === 1) single = rate
      const ratio = rate / (k * single)
      console.log(
        `pool of ${k}: ${CONNECTIONS} x 1 MiB downloads at once, ${(rate / MB).toFixed(2)} MB/s, ` +
          `${ratio.toFixed(2)} x ${k} sessions' worth${capClosed ? " (a channel was closed by the cap)" : ""}`
      )
      rows.push({
        group: "Session pool",
        name: `${CONNECTIONS} parallel 1 MiB downloads under the 1000 messages/s cap, pool of ${k}`,
        value: `${(rate / MB).toFixed(2)} MB/s`,
        ceiling: `${k} x one session ${((k * single) / MB).toFixed(2)} MB/s (goal ≥ 0.9x)`,
        ratio
      })
    }
    return rows
  })))
