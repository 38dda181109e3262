/**
 * The SOCKS proxy's state functions: options checked in order, the destination table kept in least-recently-used
 * order, eviction of the least recently used destination with no connection, the limit when every one is held,
 * and what a destination becomes when its last connection ends.
 */
import { assert, describe, it } from "@effect/vitest"
import { Either } from "effect"
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import type * as PortForwardingPool from "../src/PortForwardingPool.js"
import * as SsmApi from "../src/SsmApi.js"
import { replyForStartFailure } from "../src/internal/node/socksConnection.js"
import { SocksError } from "../src/internal/node/socksError.js"
import {
  claim,
  type Destination,
  detach,
  makeCounters,
  parseServeOptions,
  release,
  type SocksServerState,
  statsOf
} from "../src/internal/node/socksState.js"
import { Reply } from "../src/internal/node/socksWire.js"

/** A state with only what the table's functions use: no fibers, no scopes. */
const stateWith = (maxDestinations: number): SocksServerState => ({
  config: Either.getOrThrow(parseServeOptions({ target: "i-1", maxDestinations })),
  context: undefined as never,
  events: undefined as never,
  background: undefined as never,
  idleTimers: undefined as never,
  destinationsScope: undefined as never,
  table: new Map(),
  stats: makeCounters(),
  nextId: 0,
  closing: false
})

const started = {} as PortForwardingPool.PortForwardingPool

const created = (state: SocksServerState, host: string, port: number): Destination => {
  const claimed = claim(state, host, port)
  assert.strictEqual(claimed._tag, "Created")
  const destination = (claimed as Extract<typeof claimed, { _tag: "Created" }>).destination
  destination.pool = started
  return destination
}

const keys = (state: SocksServerState) => [...state.table.keys()]

describe("SOCKS proxy state", () => {
  describe("parseServeOptions", () => {
    it("defaults: port 1080 on 127.0.0.1, 64 destinations, 1 session, 5 minutes idle, 10 s handshake, no fixed refusal wait", () => {
      const config = Either.getOrThrow(parseServeOptions({ target: "i-1" }))
      assert.strictEqual(config.host, "127.0.0.1")
      assert.strictEqual(config.port, 1080)
      assert.strictEqual(config.maxDestinations, 64)
      assert.strictEqual(config.sessions, 1)
      assert.isTrue(Duration.equals(config.idleTimeout, Duration.minutes(5)))
      assert.isTrue(Duration.equals(config.handshakeTimeout, Duration.seconds(10)))
      assert.isTrue(Option.isNone(config.refusalWait))
    })

    it("a refusal wait given is fixed, zero included", () => {
      const config = Either.getOrThrow(parseServeOptions({ target: "i-1", refusalWait: 0 }))
      assert.deepStrictEqual(Option.map(config.refusalWait, Duration.toMillis), Option.some(0))
    })

    it("the first option out of range fails with InvalidOptions naming it", () => {
      const detail = (options: Parameters<typeof parseServeOptions>[0]) =>
        Either.match(parseServeOptions(options), {
          onLeft: (error) => `${error.reason}: ${error.detail}`,
          onRight: () => "ok"
        })
      assert.strictEqual(detail({ target: "i", port: 70000 }), "InvalidOptions: the port must be an integer from 0 to 65535, not 70000")
      assert.match(detail({ target: "i", port: 1.5, maxDestinations: 0 }), /the port/)
      assert.match(detail({ target: "i", maxDestinations: 0, sessions: 0 }), /maxDestinations/)
      assert.match(detail({ target: "i", sessions: 0 }), /sessions/)
      assert.match(detail({ target: "i", idleTimeout: "forever" as never }), /idleTimeout/)
      assert.match(detail({ target: "i", handshakeTimeout: Duration.infinity }), /handshakeTimeout/)
      assert.match(detail({ target: "i", refusalWait: "soon" as never }), /refusalWait/)
    })
  })

  describe("the table", () => {
    it("a CONNECT to a kept destination finds it (host case aside) and counts it as held", () => {
      const state = stateWith(4)
      const first = created(state, "DB.internal", 5432)
      assert.strictEqual(first.name, "DB.internal:5432")
      const again = claim(state, "db.INTERNAL", 5432)
      assert.deepStrictEqual(again, { _tag: "Found", destination: first })
      assert.strictEqual(first.active, 2)
      assert.strictEqual(statsOf(state).destinations, 1)
    })

    it("beyond maxDestinations, the least recently used destination with no connection is evicted and detached", () => {
      const state = stateWith(2)
      const a = created(state, "a", 1)
      const b = created(state, "b", 1)
      release(state, a)
      release(state, b)
      // a used again, then let go: b is now the least recently used
      claim(state, "a", 1)
      release(state, a)
      assert.deepStrictEqual(keys(state), ["b:1", "a:1"])
      const claimed = claim(state, "c", 1)
      assert.strictEqual(claimed._tag, "Created")
      assert.strictEqual((claimed as Extract<typeof claimed, { _tag: "Created" }>).evicted, b)
      assert.isTrue(b.detached)
      assert.deepStrictEqual(keys(state), ["a:1", "c:1"])
    })

    it("a destination still starting (no pool) or held is never evicted; with none to evict, the limit", () => {
      const state = stateWith(2)
      const a = created(state, "a", 1)
      a.pool = undefined
      release(state, a)
      created(state, "b", 1)
      assert.deepStrictEqual(claim(state, "c", 1), { _tag: "Limit" })
      assert.deepStrictEqual(keys(state), ["a:1", "b:1"])
      assert.isFalse(a.detached)
    })

    it("detach takes a destination out once; a newer one under the same key stays", () => {
      const state = stateWith(4)
      const old = created(state, "a", 1)
      assert.isTrue(detach(state, old))
      assert.isFalse(detach(state, old))
      const fresh = created(state, "a", 1)
      assert.notStrictEqual(fresh.id, old.id)
      detach(state, old)
      assert.strictEqual(state.table.get("a:1"), fresh)
    })
  })

  describe("release", () => {
    it("held while other connections hold it; idle when the last one ends", () => {
      const state = stateWith(4)
      const a = created(state, "a", 1)
      claim(state, "a", 1)
      assert.strictEqual(release(state, a), "Held")
      assert.strictEqual(release(state, a), "Idle")
      assert.strictEqual(a.active, 0)
      assert.isFalse(a.detached)
    })

    it("a destination the agent only ever refused is detached when its last connection ends", () => {
      const state = stateWith(4)
      const a = created(state, "a", 1)
      a.refused = true
      assert.strictEqual(release(state, a), "Refused")
      assert.isTrue(a.detached)
      assert.strictEqual(state.table.size, 0)
    })

    it("a refused destination that also succeeded once is kept; nothing is decided while the proxy closes", () => {
      const state = stateWith(4)
      const a = created(state, "a", 1)
      a.refused = true
      a.succeeded = true
      assert.strictEqual(release(state, a), "Idle")
      claim(state, "a", 1)
      state.closing = true
      assert.strictEqual(release(state, a), "Held")
    })
  })

  it("replyForStartFailure: the service's reasons as SOCKS reply codes", () => {
    const start = (reason: SsmApi.SsmApiError.Reason) =>
      new SocksError({ reason: "Start", detail: "x", cause: new SsmApi.SsmApiError({ reason, operation: "StartSession", detail: "y" }) })
    assert.strictEqual(replyForStartFailure(start("AccessDenied")), Reply.NotAllowed)
    assert.strictEqual(replyForStartFailure(start("TargetNotConnected")), Reply.NetworkUnreachable)
    assert.strictEqual(replyForStartFailure(start("InvalidParameters")), Reply.HostUnreachable)
    assert.strictEqual(replyForStartFailure(new Error("boom")), Reply.GeneralFailure)
  })
})
