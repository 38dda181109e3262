/**
 * The client session's transport: one link (WebSocket) at a time, opened with OpenDataChannel (section 2.3), and
 * a lost one replaced by resuming the session through the Resumer (section 11.3), keeping every sequence number,
 * buffer and key.
 *
 * @internal
 */
import * as Socket from "@effect/platform/Socket"
import * as Clock from "effect/Clock"
import type * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import * as AgentPayload from "../../AgentPayload.js"
import type * as Session from "../../Session.js"
import * as Link from "./link.js"
import * as Resume from "./resume.js"
import { failWith, offerEvent, type SessionState } from "./sessionState.js"

const encodeOpen = AgentPayload.encodePayload(AgentPayload.jsonPayload(AgentPayload.OpenDataChannel))
const textDecoder = new TextDecoder()

/** A link and the scope it lives in, closed when the link is replaced or the session ends. @internal */
export interface OpenLink {
  readonly link: Link.Link
  readonly scope: Scope.CloseableScope
}

/** Frames written while no link is up wait for the next one; those written to a dying one are lost. @internal */
export const sendFrame = (state: SessionState, frame: Uint8Array): Effect.Effect<void> => {
  if (state.link !== undefined) {
    state.link.send(frame)
    return Effect.void
  }
  return state.linkUp.whenOpen(Effect.sync(() => state.link?.send(frame)))
}

/** A new link with `token`, in its own scope. @internal */
export const dial = (
  state: SessionState,
  webSocketConstructor: Context.Tag.Service<typeof Socket.WebSocketConstructor>,
  token: Redacted.Redacted<string>
): Effect.Effect<OpenLink, Link.LinkOpenError> =>
  Effect.gen(function*() {
    const { config } = state
    // the OpenDataChannel text frame: the token leaves Redacted only here. A new RequestId for every link, the
    // same ClientId (section 11.3)
    const open = encodeOpen(new AgentPayload.OpenDataChannel({
      MessageSchemaVersion: "1.0",
      RequestId: globalThis.crypto.randomUUID(),
      TokenValue: token,
      ClientId: config.clientId,
      ClientVersion: config.clientVersion
    }))
    if (Either.isLeft(open)) return yield* Effect.fail<Link.LinkOpenError>({ detail: open.left.detail })
    const scope = yield* Scope.fork(state.linksScope, ExecutionStrategy.sequential)
    const opened = yield* Link.open({
      url: state.options.streamUrl,
      openFrame: textDecoder.decode(open.right),
      openTimeout: config.openTimeout,
      pingInterval: config.pingInterval,
      onFrame: (frame) => {
        state.heard = true
        state.channel?.receive(frame)
      },
      expectingTraffic: () => (state.channel?.unacknowledged() ?? 0) > 0
    }).pipe(
      Scope.extend(scope),
      Effect.provideService(Socket.WebSocketConstructor, webSocketConstructor),
      Effect.onError(() => Scope.close(scope, Exit.void))
    )
    return { link: opened, scope }
  })

/**
 * A connection event, on `events` (beside output, outside the receive budget: there are few, and each matters)
 * and for every subscriber.
 * @internal
 */
export const publish = (state: SessionState, event: Session.ConnectionEvent): Effect.Effect<void> =>
  Effect.sync(() => {
    offerEvent(state, event)
    state.connectionEvents.unsafeOffer(event)
  })

/** The new link carries the session: counters, metrics, and the engine let go. */
const resumed = (state: SessionState, link: Link.Link, since: number, now: number, metrics: Session.SessionMetrics) => {
  state.link = link
  if (state.readingPaused) link.pauseReading()
  state.reconnects++
  state.disconnectedMillis += now - since
  state.disconnectedSince = undefined
  metrics.reconnects.unsafeUpdate(1, [])
  metrics.disconnectedMillis.unsafeUpdate(now - since, [])
  state.linkUp.unsafeOpen()
  state.channel?.hold(false)
}

/** Runs each link until it ends, and resumes the session on a new one while that is possible. @internal */
export const supervise = (
  state: SessionState,
  first: OpenLink,
  dialWith: (token: Redacted.Redacted<string>) => Effect.Effect<OpenLink, Link.LinkOpenError>,
  metrics: Session.SessionMetrics
): Effect.Effect<void> =>
  Effect.gen(function*() {
    let current = first
    while (true) {
      const lost = yield* current.link.ended
      state.link = undefined
      state.linkUp.unsafeClose()
      yield* Scope.close(current.scope, Exit.void)
      if (state.finished || state.closedByService) return
      const why = Link.describeEnd(lost)
      if (Option.isNone(state.resume) || !state.heard) {
        return failWith(state, "Transport", `${why}${state.heard ? state.unresumable : ""}`, lost)
      }
      const since = yield* Clock.currentTimeMillis
      state.disconnectedSince = since
      state.channel?.hold(true)
      const attempt = yield* Resume.reconnect({
        sessionId: state.options.sessionId,
        policy: state.resume.value.policy,
        resumer: state.resume.value.resumer,
        dial: dialWith,
        onAttempt: (attempt, cause) => publish(state, { _tag: "Reconnecting", attempt, cause })
      }, why).pipe(Effect.either)
      if (Either.isLeft(attempt)) {
        const failure = attempt.left
        return failWith(state, failure.reason, `${why}, and the session was not resumed: ${failure.detail}`, failure.cause)
      }
      const now = yield* Clock.currentTimeMillis
      current = attempt.right.value
      resumed(state, current.link, since, now, metrics)
      yield* publish(state, { _tag: "Reconnected", after: Duration.millis(now - since), attempts: attempt.right.attempts })
    }
  })
