/**
 * The tunnel's and the pool's state functions: how the channel closing ends a tunnel, a break that resets the
 * local sides before the verdict (once), the agent's failed dials counted, the mode read from the document's
 * properties, and a pool's choice of session.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Option, PubSub } from "effect"
import * as PortForwarding from "../src/PortForwarding.js"
import {
  breakWith,
  channelClosedBreak,
  closingFlag,
  type ForwardingState,
  isConnectToPortError,
  makeCounters,
  onSessionEvent
} from "../src/internal/tunnels/forwardingState.js"
import { PortForwardingError } from "../src/internal/tunnels/portForwardingError.js"
import { asPortForwardingError, leastLoaded, type Member, type PoolState, shouldGrow } from "../src/internal/tunnels/poolState.js"

const makeState = (mode: PortForwarding.Mode) =>
  Effect.gen(function*() {
    const state: ForwardingState = {
      mode,
      events: yield* PubSub.unbounded<PortForwarding.PortForwardingEvent>(),
      stats: makeCounters(),
      broken: yield* Deferred.make<PortForwardingError>(),
      verdict: yield* Deferred.make<void, PortForwardingError>(),
      cutConnections: 0,
      resets: new Set()
    }
    return state
  })

const mux: PortForwarding.Mode = { _tag: "Mux", keepAlive: false }

describe("tunnel state", () => {
  it.effect("the channel closing with no connection open ends the tunnel well; with connections open it breaks it", () =>
    Effect.gen(function*() {
      const state = yield* makeState(mux)
      assert.isUndefined(channelClosedBreak(state, ""))
      assert.isUndefined(channelClosedBreak(state, "the session ended"))
      state.stats.activeConnections = 2
      assert.strictEqual(channelClosedBreak(state, ""), "the service closed the channel with 2 connection(s) open")
      state.stats.activeConnections = 0
      // connections the closing already cut count as open
      state.cutConnections = 1
      assert.strictEqual(
        channelClosedBreak(state, "terminated"),
        "the service closed the channel with 1 connection(s) open: terminated"
      )
    }))

  it.effect("a standard stream's channel closing without a reason is its normal end, connections or not (10.4)", () =>
    Effect.gen(function*() {
      const state = yield* makeState({ _tag: "StandardStream" })
      state.stats.activeConnections = 1
      assert.isUndefined(channelClosedBreak(state, ""))
      assert.isDefined(channelClosedBreak(state, "terminated by the user"))
    }))

  it.effect("a break resets every local side, then fails the verdict; a second break changes nothing", () =>
    Effect.gen(function*() {
      const state = yield* makeState(mux)
      const order: Array<string> = []
      state.resets.add(Effect.sync(() => order.push("reset 1")))
      state.resets.add(Effect.sync(() => order.push("reset 2")))
      yield* breakWith(state, "Tunnel", "smux failed")
      assert.deepStrictEqual(order, ["reset 1", "reset 2"])
      assert.strictEqual(state.resets.size, 0)
      const verdict = yield* Effect.exit(Deferred.await(state.verdict))
      assert.isTrue(Exit.isFailure(verdict))
      const broken = yield* Deferred.await(state.broken)
      assert.strictEqual(broken.reason, "Tunnel")
      assert.strictEqual(broken.message, "Tunnel: smux failed")
      assert.isTrue(PortForwarding.isPortForwardingError(broken))
      yield* breakWith(state, "Session", "later")
      assert.strictEqual((yield* Deferred.await(state.broken)).reason, "Tunnel")
    }))

  it.effect("only the agent's ConnectToPortError flag counts as a failed dial, and it is told", () =>
    Effect.gen(function*() {
      const state = yield* makeState(mux)
      const subscription = yield* PubSub.subscribe(state.events)
      assert.isFalse(isConnectToPortError({ _tag: "Flag", flag: 2 } as never))
      yield* onSessionEvent(state, { _tag: "ChannelClosed", output: "" } as never)
      yield* onSessionEvent(state, { _tag: "Flag", flag: 1 } as never)
      assert.strictEqual(state.stats.connectErrors, 0)
      yield* onSessionEvent(state, { _tag: "Flag", flag: 3 } as never)
      assert.strictEqual(state.stats.connectErrors, 1)
      assert.deepStrictEqual(yield* subscription.take, { _tag: "ConnectToPortError" })
    }).pipe(Effect.scoped))

  it("the mode comes from the document's type, read as the agent reads its PortParameters", () => {
    const agent = Option.some("3.3.1142.0")
    assert.deepStrictEqual(PortForwarding.chooseMode({ type: "LocalPortForwarding", portNumber: "22" }, agent), {
      _tag: "Mux",
      keepAlive: false
    })
    assert.deepStrictEqual(PortForwarding.chooseMode({ type: "LocalPortForwarding" }, Option.some("3.0.196.0")), {
      _tag: "Basic"
    })
    assert.deepStrictEqual(PortForwarding.chooseMode({ portNumber: "22" }, agent), { _tag: "StandardStream" })
    assert.deepStrictEqual(PortForwarding.chooseMode(null, agent), { _tag: "StandardStream" })
    assert.deepStrictEqual(PortForwarding.chooseMode({ type: 7 }, agent), { _tag: "StandardStream" })
  })

  it("a Port session closes with TerminateSession only where the agent answers it (above 2.3.722.0)", () => {
    assert.deepStrictEqual(closingFlag(Option.some("3.3.1142.0")), Option.some(2))
    assert.deepStrictEqual(closingFlag(Option.some("2.3.723.0")), Option.some(2))
    assert.deepStrictEqual(closingFlag(Option.some("2.3.722.0")), Option.none())
    assert.deepStrictEqual(closingFlag(Option.none()), Option.none())
  })

  it("PortForwardingError is a yieldable error with its reason in the message", () => {
    const error = new PortForwarding.PortForwardingError({ reason: "Listen", detail: "EADDRINUSE" })
    assert.strictEqual(error._tag, "PortForwardingError")
    assert.strictEqual(error.message, "Listen: EADDRINUSE")
    assert.isTrue(error instanceof Error)
    assert.isTrue(PortForwarding.isPortForwardingError(error))
    assert.isFalse(PortForwarding.isPortForwardingError(new Error("Listen: EADDRINUSE")))
  })
})

describe("pool state", () => {
  const member = (load: number) => ({ load }) as Member
  const pool = (members: Array<Member>, starting: number, limit: number) =>
    ({ members, starting, limit, closing: false }) as unknown as PoolState<never>

  it("the least-loaded member, the first of equals", () => {
    const [a, b, c] = [member(2), member(1), member(1)]
    assert.strictEqual(leastLoaded([a!, b!, c!]), b)
    assert.isUndefined(leastLoaded([]))
  })

  it("grows only when every session is busy (or none is left) and the limit, starts included, allows", () => {
    const idle = member(0)
    const busy = member(1)
    assert.isFalse(shouldGrow(pool([idle], 0, 3), idle))
    assert.isTrue(shouldGrow(pool([busy], 0, 3), busy))
    assert.isFalse(shouldGrow(pool([busy], 2, 3), busy))
    assert.isTrue(shouldGrow(pool([], 0, 1), undefined))
    assert.isFalse(shouldGrow({ ...pool([busy], 0, 3), closing: true } as PoolState<never>, busy))
  })

  it("a failure that is not a PortForwardingError becomes a Session one, with what it said", () => {
    const kept = new PortForwardingError({ reason: "Tunnel", detail: "x" })
    assert.strictEqual(asPortForwardingError(kept, "ignored"), kept)
    const wrapped = asPortForwardingError(new Error("throttled"), "a session could not start")
    assert.strictEqual(wrapped.reason, "Session")
    assert.strictEqual(wrapped.detail, "a session could not start: throttled")
  })
})
