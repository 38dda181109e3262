/**
 * `cp` at the service's pace: a 64 MiB random file up to the simulated instance and back down through
 * `NodeFileTransfer`, with one session and with `sessions: 4`, every session paced at 1000 messages/s by both ends
 * and the simulator closing any channel that exceeds the cap, the remote side the agent-faithful one (the
 * framed wrapper under a real pty, the agent's 1024-byte reads and UTF-8 hold-back). The ceiling is one session's
 * cap measured in the same run: a port-forwarding download through one paced session, no framing, no shell.
 * Goals: each direction ≥ 0.9 of it, and ≥ 3.4 times it with 4 sessions.
 */
import { Duration, Effect, Layer } from "effect"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as AgentSimulator from "../src/AgentSimulator.js"
import * as NodeFileTransfer from "../src/NodeFileTransfer.js"
import * as NodePortForwarding from "../src/NodePortForwarding.js"
import * as NodeSession from "../src/NodeSession.js"
import * as PortForwarding from "../src/PortForwarding.js"
import type { Row } from "./harness.js"
import { download, source } from "./portForwarding.js"

const MB = 1e6
const MiB = 1024 * 1024
const SIZE = Number(process.env["SSM_BENCH_TRANSFER_MIB"] ?? 64) * MiB
const PACE = 1000
const session = { messagesPerSecond: PACE }

const sha256 = (path: string) => {
  const hash = Crypto.createHash("sha256")
  const file = Fs.openSync(path, "r")
  const buffer = Buffer.alloc(16 * MiB)
  for (let read = Fs.readSync(file, buffer); read > 0; read = Fs.readSync(file, buffer)) hash.update(buffer.subarray(0, read))
  Fs.closeSync(file)
  return hash.digest("hex")
}

export const run = (): Promise<ReadonlyArray<Row>> =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const rows: Array<Row> = []
    const context = yield* Layer.build(
      AgentSimulator.layerSsmApi().pipe(
        Layer.provideMerge(AgentSimulator.layer({
          messagesPerSecond: PACE,
          faults: { rateCap: { messagesPerSecond: PACE, sustainedMillis: 2000 } }
        })),
        Layer.merge(NodeSession.layerWebSocketConstructor)
      )
    )
    const dir = yield* Effect.acquireRelease(
      Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "ssm-bench-cp-"))),
      (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
    )
    const local = Path.join(dir, "local.bin")
    const file = Fs.openSync(local, "w")
    for (let written = 0; written < SIZE; written += MiB) Fs.writeSync(file, Crypto.randomBytes(MiB))
    Fs.closeSync(file)
    const expected = sha256(local)

    // one session's cap, in this run: a port-forwarding download through one paced session
    const destination = yield* source(16 * MiB)
    const cap = yield* Effect.scoped(Effect.gen(function*() {
      const forwarding = yield* PortForwarding.start({ target: "i-simulated", portNumber: destination, session })
      const listener = yield* NodePortForwarding.listen(forwarding)
      const port = (listener.address as { readonly port: number }).port
      const [elapsed] = yield* Effect.timed(download(port, 16 * MiB))
      return (16 * MiB) / Duration.toSeconds(elapsed)
    })).pipe(Effect.provide(context))
    console.log(`one session's cap, measured: ${(cap / MB).toFixed(3)} MB/s (the pace allows ${(PACE * 1024 / MB).toFixed(3)})`)

    for (const sessions of [1, 4]) {
      const remote = Path.join(dir, `remote-${sessions}.bin`)
      const back = Path.join(dir, `back-${sessions}.bin`)
      const copies = [
        ["up", Effect.asVoid(NodeFileTransfer.upload({ target: "i-simulated", localPath: local, remotePath: remote, sessions, session }))],
        ["down", Effect.asVoid(NodeFileTransfer.download({ target: "i-simulated", remotePath: remote, localPath: back, sessions, session }))]
      ] as const
      for (const [direction, copy] of copies) {
        const goal = sessions === 1 ? 0.9 : 3.4
        const name = `${SIZE / MiB} MiB random file ${direction === "up" ? "up to" : "down from"} the instance under ` +
          `the 1000 messages/s cap, ${sessions === 1 ? "one session" : `--sessions ${sessions}`}`
        const ceiling = `one session's cap ${(cap / MB).toFixed(3)} MB/s (goal ≥ ${goal}x)`
        const outcome = yield* Effect.either(Effect.timed(copy).pipe(Effect.provide(context)))
        if (outcome._tag === "Left") {
          // a failed copy is a row that says so, not a crashed run
          console.log(`cp ${direction}, ${sessions} session(s): failed: ${outcome.left.message}`)
          rows.push({ group: "File copy (cp)", name, value: `failed: ${outcome.left.message.slice(0, 80)}`, ceiling })
          continue
        }
        if (sha256(direction === "up" ? remote : back) !== expected) throw new Error("a copy differs from the source")
        const rate = SIZE / Duration.toSeconds(outcome.right[0])
        console.log(
          `cp ${direction}, ${SIZE / MiB} MiB, ${sessions} session${sessions === 1 ? "" : "s"}: ` +
            `${(rate / MB).toFixed(3)} MB/s, ${(rate / cap).toFixed(2)} x one session's cap (goal ≥ ${goal})`
        )
        rows.push({ group: "File copy (cp)", name, value: `${(rate / MB).toFixed(3)} MB/s`, ceiling, ratio: rate / cap })
      }
    }
    return rows
  })))
