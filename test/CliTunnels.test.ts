/**
 * `forward` with several mappings, session pools, `--wait-remote` and `--background`, as real processes through the
 * embedded simulator; and the `-L` spec parser.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Either, Fiber, Schedule } from "effect"
import type * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { isCliError } from "../src/cli/error.js"
import { type Mapping, parseMapping, type Running, runMappings } from "../src/cli/tunnels.js"
import * as PortForwarding from "../src/PortForwarding.js"
import * as PortForwardingPool from "../src/PortForwardingPool.js"
import { simulatedAws } from "./utils/aws.js"
import { pseudoRandomBytes, sha256Hex } from "./utils/bytes.js"
import { collectOutput, exitCode, spawnCli, waitForOutput } from "./utils/cli.js"
import { pollUntil } from "./utils/poll.js"
import { closedPort, echoServer, roundTrip } from "./utils/tcp.js"

/** The child's stderr, as it comes. */
const stderrOf = (child: ChildProcess.ChildProcess) => {
  let text = ""
  child.stderr!.on("data", (data: Buffer) => (text += data.toString()))
  return () => text
}

interface Readiness {
  readonly mappings: ReadonlyArray<{
    readonly local: string
    readonly remote: string
    readonly target: string
    readonly sessionId: string
    readonly sessionIds?: ReadonlyArray<string>
  }>
}

const portOf = (local: string) => Number(local.split(":").pop())

describe("forward -L", () => {
  it("parses ssh-style specs, and says what is wrong with bad ones", () => {
    const parsed = (spec: string) => Either.getOrThrow(parseMapping(spec))
    assert.deepStrictEqual(parsed("8080:80"), { listen: { host: "127.0.0.1", port: 8080 }, host: undefined, portNumber: 80 })
    assert.deepStrictEqual(parsed("5432:db.internal:5432"), {
      listen: { host: "127.0.0.1", port: 5432 },
      host: "db.internal",
      portNumber: 5432
    })
    assert.deepStrictEqual(parsed("0.0.0.0:8080:80"), { listen: { host: "0.0.0.0", port: 8080 }, host: undefined, portNumber: 80 })
    assert.deepStrictEqual(parsed("*:8080:localhost:80"), { listen: { host: "0.0.0.0", port: 8080 }, host: undefined, portNumber: 80 })
    assert.deepStrictEqual(parsed("[::1]:8443:[fd00::5]:443"), {
      listen: { host: "::1", port: 8443 },
      host: "fd00::5",
      portNumber: 443
    })
    assert.deepStrictEqual(parsed("/tmp/db.sock:db:5432"), { listen: { path: "/tmp/db.sock" }, host: "db", portNumber: 5432 })
    for (const [spec, why] of [
      ["8080", "wrong number of parts"],
      ["8080:http", "http is not a remote port"],
      ["8080:0", "0 is not a remote port"],
      ["99999:80", "99999 is not a local port"],
      ["nohost:8080:80", "nohost is not an address to listen on"],
      ["8080::80", "empty host"],
      ["1:2:3:4:5", "wrong number of parts"]
    ] as const) {
      const error = parseMapping(spec)
      assert.isTrue(Either.isLeft(error), spec)
      assert.strictEqual((error as Either.Left<string, unknown>).left, `-L ${spec}: ${why} (expected [bind:]localPort:[host:]remotePort)`)
    }
  })

  it.scopedLive("two mappings and a pool of 2 each: one readiness line for all, bytes intact through both, Ctrl-C exits 0", () =>
    Effect.gen(function*() {
      const first = yield* echoServer
      const second = yield* echoServer
      const child = yield* spawnCli("main", [
        "forward", "--simulator", "-L", `0:${first}`, "-L", `127.0.0.1:0:127.0.0.1:${second}`, "--sessions", "2",
        "--ready-json", "-"
      ])
      const stderr = stderrOf(child)
      const [line] = yield* waitForOutput(child, /\{"mappings":.*\}\n/)
      const ready = JSON.parse(line!) as Readiness
      assert.deepStrictEqual(ready.mappings.map((mapping) => mapping.remote), [`localhost:${first}`, `127.0.0.1:${second}`])
      for (const mapping of ready.mappings) {
        assert.strictEqual(mapping.sessionIds?.length, 2)
        assert.strictEqual(mapping.sessionId, mapping.sessionIds![0])
      }
      const data = [pseudoRandomBytes(300 * 1024, 71), pseudoRandomBytes(300 * 1024, 72)]
      const back = yield* Effect.forEach(ready.mappings, (mapping, i) => roundTrip(portOf(mapping.local), data[i]!), {
        concurrency: "unbounded"
      })
      assert.deepStrictEqual(back.map(sha256Hex), data.map(sha256Hex))
      child.kill("SIGINT")
      assert.strictEqual(yield* exitCode(child), 0)
      // the last status line covers both mappings
      const last = stderr().trim().split("\n").pop()!
      assert.match(last, /^connections 0 open, 2 total; .* \(127\.0\.0\.1:\d+: 0\/1 over 2 sessions, 127\.0\.0\.1:\d+: 0\/1 over 2 sessions\)$/)
    }), 60_000)

  it.scopedLive("--wait-remote: a destination the agent cannot reach is exit 1 with one line naming it; a reachable one is ready", () =>
    Effect.gen(function*() {
      const closed = yield* closedPort
      const refused = yield* spawnCli("main", ["forward", "--simulator", "-L", `0:${closed}`, "--wait-remote"])
      const stderr = stderrOf(refused)
      assert.strictEqual(yield* exitCode(refused), 1)
      const errors = stderr().split("\n").filter((line) => line.startsWith("ssm-session-manager:"))
      assert.strictEqual(errors.length, 1)
      assert.match(errors[0]!, new RegExp(`127\\.0\\.0\\.1:\\d+ -> localhost:${closed}: the agent could not connect to the destination$`))

      const open = yield* echoServer
      const reachable = yield* spawnCli("main", ["forward", "--simulator", "-L", `0:${open}`, "--wait-remote", "--ready-json", "-"])
      const [line] = yield* waitForOutput(reachable, /\{"mappings":.*\}\n/)
      const port = portOf((JSON.parse(line!) as Readiness).mappings[0]!.local)
      assert.strictEqual(new TextDecoder().decode(yield* roundTrip(port, new TextEncoder().encode("up"))), "up")
      reachable.kill("SIGINT")
      assert.strictEqual(yield* exitCode(reachable), 0)
    }), 60_000)

  it.scopedLive("--background: exits 0 once ready, the tunnel goes on in a detached process until it is killed", () =>
    Effect.gen(function*() {
      const destination = yield* echoServer
      const dir = yield* Effect.acquireRelease(
        Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "ssm-background-"))),
        (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
      )
      const file = Path.join(dir, "ready.json")
      const parent = yield* spawnCli("main", [
        "forward", "--simulator", "-L", `0:${destination}`, "--wait-remote", "--background", "--ready-json", file
      ])
      const parentOutput = collectOutput(parent)
      assert.strictEqual(yield* exitCode(parent), 0)
      // what the foreground command would have said, on stderr; stdout has nothing without --ready-json -
      const said = parentOutput.stderr()
      assert.strictEqual(parentOutput.stdout(), "")
      const [, pid] = /Forwarding in the background as process (\d+); end it with: kill \d+/.exec(said) ?? []
      assert.isDefined(pid)
      yield* Effect.addFinalizer(() => Effect.sync(() => {
        try {
          process.kill(Number(pid), "SIGTERM")
        } catch {
          // already gone
        }
      }))
      const ready = JSON.parse(Fs.readFileSync(file, "utf8")) as Readiness
      const port = portOf(ready.mappings[0]!.local)
      assert.match(said, new RegExp(`^Port ${port} opened for sessionId ${ready.mappings[0]!.sessionId}\\.$`, "m"))
      assert.strictEqual(new TextDecoder().decode(yield* roundTrip(port, new TextEncoder().encode("detached"))), "detached")
      process.kill(Number(pid), "SIGTERM")
      yield* pollUntil(Effect.sync(() => {
        try {
          process.kill(Number(pid), 0)
          return false
        } catch {
          return true
        }
      }), (gone) => gone, { every: "50 millis", times: 200, what: "the background process end" })
      // the readiness file went with it (SIGTERM)
      assert.isFalse(Fs.existsSync(file))

      // --ready-json -: the waiting process prints the readiness line, with the background process, alone on stdout
      const toStdout = yield* spawnCli("main", ["forward", "--simulator", "-L", `0:${destination}`, "--background", "--ready-json=-"])
      const printed = collectOutput(toStdout)
      assert.strictEqual(yield* exitCode(toStdout), 0)
      const lines = printed.stdout().split("\n")
      assert.strictEqual(lines.length, 2, printed.stdout())
      assert.strictEqual(lines[1], "")
      const readiness = JSON.parse(lines[0]!) as Readiness & { readonly pid: number }
      process.kill(readiness.pid, "SIGTERM")
      assert.match(printed.stderr(), new RegExp(`as process ${readiness.pid}; end it with: kill ${readiness.pid}`))
      assert.strictEqual(readiness.mappings[0]!.remote, `localhost:${destination}`)

      const closed = yield* closedPort
      const failing = yield* spawnCli("main", ["forward", "--simulator", "-L", `0:${closed}`, "--wait-remote", "--background"])
      const stderr = stderrOf(failing)
      assert.strictEqual(yield* exitCode(failing), 1)
      assert.match(stderr().trim().split("\n").pop()!, /the agent could not connect to the destination$/)
    }), 60_000)
})

describe("runMappings", () => {
  it.scopedLive("a mapping whose sessions cannot be kept ends on its own, named on stderr, while the other carries on", () =>
    Effect.gen(function*() {
      const destination = yield* echoServer
      const { context, simulator } = yield* simulatedAws()
      // the second mapping's target is gone after its first session: no replacement can start
      const starts = new Map<string, number>()
      const gone = new Set<string>()
      const open = (mapping: Mapping) => {
        const name = mapping.host ?? "localhost"
        return PortForwardingPool.make(
          Effect.suspend(() => {
            starts.set(name, (starts.get(name) ?? 0) + 1)
            return gone.has(name)
              ? Effect.fail(new PortForwarding.PortForwardingError({ reason: "Session", detail: `${name} is gone` }))
              : PortForwarding.start({ target: "i-1", portNumber: mapping.portNumber, host: mapping.host })
          }),
          { restart: Schedule.recurs(1) }
        )
      }
      const lines: Array<string> = []
      const write = process.stderr.write
      process.stderr.write = ((text: string | Uint8Array) => {
        lines.push(...String(text).split("\n").filter((line) => line !== ""))
        return true
      }) as typeof process.stderr.write
      yield* Effect.addFinalizer(() => Effect.sync(() => (process.stderr.write = write)))
      const mappings = [
        Either.getOrThrow(parseMapping(`0:${destination}`)),
        Either.getOrThrow(parseMapping(`0:127.0.0.1:${destination}`))
      ]
      const ready = yield* Deferred.make<ReadonlyArray<Running>>()
      const supervisor = yield* Effect.fork(Effect.scoped(runMappings(mappings, open, {
        waitRemote: false,
        onReady: (running) => Deferred.succeed(ready, running)
      })).pipe(Effect.provide(context)))
      const [kept, doomed] = yield* Deferred.await(ready)
      const portOfRunning = (running: Running) => (running.address as { readonly port: number }).port
      gone.add("127.0.0.1")
      const [session] = yield* doomed!.pool.members
      yield* simulator.terminateSession(session!.session.sessionId)
      yield* Effect.flip(doomed!.pool.closed)
      assert.strictEqual(starts.get("127.0.0.1"), 3)
      // the other mapping carries on
      assert.strictEqual(new TextDecoder().decode(yield* roundTrip(portOfRunning(kept!), new TextEncoder().encode("on"))), "on")
      yield* pollUntil(Effect.sync(() => lines), (lines) => lines.some((line) => line.includes(" ended: ")), {
        every: "20 millis",
        times: 250,
        what: "the failed mapping's line"
      })
      assert.deepStrictEqual(lines.filter((line) => line.includes(" ended: ")), [
        `127.0.0.1:${portOfRunning(doomed!)} -> 127.0.0.1:${destination} ended: Session: 127.0.0.1 is gone`
      ])
      // and when it fails too, the command fails naming how many did
      gone.add("localhost")
      const [last] = yield* kept!.pool.members
      yield* simulator.terminateSession(last!.session.sessionId)
      const failure = yield* Effect.flip(Fiber.join(supervisor))
      assert.strictEqual(failure.message, "2 of 2 mappings failed (each named above)")
      assert.isTrue(isCliError(failure) && failure.reason === "MappingsFailed")
    }), 60_000)
})
