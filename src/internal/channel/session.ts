/**
 * The client side of a data channel over a WebSocket: the reliable channel and nothing more. `make` wires the
 * session's state (`channel/sessionState.ts`) to the data-channel engine, the links (`channel/sessionLink.ts`)
 * and the handshake (`channel/sessionHandshake.ts`), and answers with the Session (AGENT-PROTOCOL.md sections 2,
 * 5-7, 9, 12, 20). What a session type means (terminal sizes, exit codes, when to send TerminateSession) is for
 * Shell, RemoteCommand and PortForwarding.
 *
 * @internal
 */
import * as Socket from "@effect/platform/Socket"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as FiberSet from "effect/FiberSet"
import * as Mailbox from "effect/Mailbox"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as AgentMessage from "../../AgentMessage.js"
import type * as ResumerService from "../../Resumer.js"
import type * as Session from "../../Session.js"
import * as Resumer from "./resumer.js"
import { SessionError, TypeId } from "./sessionError.js"
import * as Handshake from "./sessionHandshake.js"
import * as SessionLink from "./sessionLink.js"
import * as State from "./sessionState.js"
import * as DataChannel from "./dataChannel.js"
import * as KmsApi from "../aws/kmsApi.js"
import * as Resume from "./resume.js"
import * as SessionCipher from "../crypto/sessionCipher.js"

export { ErrorTypeId, isSessionError, SessionError, TypeId } from "./sessionError.js"
export { CLIENT_VERSION, defaults } from "./sessionState.js"

/** @internal */
export const tag = Context.GenericTag<Session.Session>("ssm-session-manager/Session")

/** @internal */
export const metrics: Session.SessionMetrics = DataChannel.makeMetrics("ssm_session")

/** How the session resumes, if it can: off, the option's function, or the Resumer in the context. */
const resumeOf = (options: Session.SessionOptions, provided: Option.Option<ResumerService.Resumer>) => {
  if (options.resume === false) return { resume: Option.none(), unresumable: " (resume is off)" }
  const resumer = options.resume?.resumeSession !== undefined
    ? Option.some(Resumer.make(options.resume.resumeSession))
    : provided
  return {
    resume: Option.map(resumer, (resumer) => ({ policy: Resume.policy(options.resume || {}), resumer })),
    unresumable: " (no SsmApi or Resumer to resume it)"
  }
}

/** The record, with nothing running yet. @internal */
export const makeState = (
  options: Session.SessionOptions
): Effect.Effect<State.SessionState, never, Scope.Scope> =>
  Effect.gen(function*() {
    const { resume, unresumable } = resumeOf(options, yield* Effect.serviceOption(Resumer.tag))
    return {
      options,
      config: State.configOf(options),
      ready: yield* Deferred.make<State.Ready, SessionError>(),
      ended: yield* Deferred.make<string, SessionError>(),
      output: yield* Mailbox.make<Uint8Array, SessionError>(),
      events: yield* Mailbox.make<Session.SessionEvent, SessionError>(),
      connectionEvents: yield* PubSub.sliding<Session.ConnectionEvent>(64),
      linkUp: yield* Effect.makeLatch(false),
      // every link's scope comes from this one, made before the session's other finalizers: closing the session
      // ends with the WebSocket, after the TerminateSession flag went out on it
      linksScope: yield* Scope.fork(yield* Effect.scope, ExecutionStrategy.sequential),
      runFork: yield* FiberSet.makeRuntime<never>(),
      kms: yield* Effect.serviceOption(KmsApi.tag),
      resume,
      unresumable,
      channel: undefined,
      link: undefined,
      cipher: undefined,
      buffered: 0,
      peakBuffered: 0,
      readingPaused: false,
      unreadFlags: 0,
      unreadConnectionEvents: 0,
      unreadPayloads: 0,
      handshakeSeen: false,
      handshakeAnswered: false,
      handshakeFailure: undefined,
      pendingReady: undefined,
      closedByService: false,
      finished: false,
      heard: false,
      unknownPayloadTypeLogged: false,
      closeFlag: undefined,
      reconnects: 0,
      disconnectedMillis: 0,
      disconnectedSince: undefined
    }
  })

/** The data-channel engine over the session's links. */
const makeChannel = (state: State.SessionState) =>
  DataChannel.make({
    send: (frame) => SessionLink.sendFrame(state, frame),
    sendNow: (frame) => {
      if (state.link === undefined) return false
      state.link.send(frame)
      return true
    },
    cork: () => state.link === undefined ? () => {} : state.link.cork(),
    // with no link (resuming) acknowledgements wait too; `hold(false)` sends them on the new one
    congestion: {
      congested: (allowance) => state.link === undefined || state.link.congested(allowance),
      whenDrained: (callback) => state.link?.whenDrained(callback)
    },
    outgoingPayload: (payloadType, payload) =>
      state.cipher !== undefined && SessionCipher.isEncrypted(payloadType, "client") ? state.cipher.encrypt(payload) : payload,
    deliver: (message) => Handshake.receive(state, message),
    onChannelClosed: (message) => Handshake.onChannelClosed(state, message),
    windowSize: state.config.windowSize,
    reorderBufferSize: state.config.reorderBufferSize,
    reorderBufferBytes: state.config.reorderBufferBytes,
    repeatAckAfter: state.config.repeatAckAfter,
    messagesPerSecond: state.config.messagesPerSecond,
    giveUpAfter: state.config.giveUpAfter,
    metrics
  })

/** A data message of `payloadType`, sequenced: suspends while the window is full. @internal */
export const send = (
  state: State.SessionState,
  payloadType: AgentMessage.PayloadType,
  payload: Uint8Array
): Effect.Effect<void, SessionError> =>
  Effect.suspend(() =>
    state.finished || state.channel === undefined
      ? Effect.fail(new SessionError({ reason: "Closed", detail: "the session has ended" }))
      : Effect.mapError(
        state.channel.send(payloadType, payload),
        (failure) => new SessionError({ reason: failure.reason, detail: failure.detail })
      )
  )

/** The 4-byte big-endian body of a Flag message. @internal */
export const flagPayload = (flag: AgentMessage.FlagPayload): Uint8Array => {
  const bytes = new Uint8Array(4)
  new DataView(bytes.buffer).setUint32(0, flag)
  return bytes
}

/**
 * Ends the session: the closing flag (`closeWith`) if one was given, then a brief wait for the channel to close.
 * True when the service closed the channel, before or in answer to the flag. @internal
 */
export const terminate = (state: State.SessionState): Effect.Effect<boolean> =>
  Effect.gen(function*() {
    if (state.finished) return state.closedByService
    const flag = state.closeFlag
    if (flag !== undefined) {
      // finalizers are uninterruptible: the wait (for the window, the pace, and the channel to close) must be
      // interruptible itself, or its deadline could never end it
      yield* Effect.zipRight(
        Effect.ignore(send(state, AgentMessage.PayloadType.Flag, flagPayload(flag))),
        Effect.ignore(Deferred.await(state.ended))
      ).pipe(Effect.interruptible, Effect.timeout(state.config.terminateTimeout), Effect.ignore)
    }
    State.end(state, Exit.succeed(""))
    return state.closedByService
  })

/** @internal */
export const stats = (state: State.SessionState): Effect.Effect<Session.SessionStats> =>
  Effect.map(Clock.currentTimeMillis, (now) => ({
    ...state.channel!.stats(),
    bufferedBytes: state.buffered,
    peakBufferedBytes: state.peakBuffered,
    connected: state.link !== undefined,
    reconnects: state.reconnects,
    disconnectedMillis: state.disconnectedMillis + (state.disconnectedSince === undefined ? 0 : now - state.disconnectedSince)
  }))

/**
 * `readyAfterSilence`: once `after` has passed with neither a HandshakeRequest nor output, the session is ready as
 * one without a handshake (a HandshakeRequest that still came would be answered, as ever).
 */
const readyAfterSilence = (state: State.SessionState, after: Duration.DurationInput) =>
  Effect.delay(
    Effect.sync(() => {
      if (state.handshakeSeen) return
      state.handshakeSeen = true
      Deferred.unsafeDone(state.ready, Exit.succeed(State.noHandshake))
    }),
    after
  )

/** @internal */
export const make = (
  options: Session.SessionOptions
): Effect.Effect<Session.Session, SessionError, Scope.Scope | Socket.WebSocketConstructor> =>
  Effect.gen(function*() {
    const state = yield* makeState(options)
    const engine = yield* makeChannel(state)
    state.channel = engine
    yield* Effect.forkScoped(Effect.flatMap(engine.failed, (failure) =>
      Effect.sync(() =>
        State.failWith(state, failure.reason === "Closed" ? "Transport" : failure.reason, failure.detail, failure.cause)
      )))

    const webSocketConstructor = yield* Socket.WebSocketConstructor
    const dial = (token: Parameters<typeof SessionLink.dial>[2]) => SessionLink.dial(state, webSocketConstructor, token)
    const first = yield* dial(options.tokenValue).pipe(
      Effect.mapError((error) =>
        new SessionError({ reason: "Open", detail: `the WebSocket could not open: ${error.detail}`, cause: error.cause })
      )
    )
    state.link = first.link
    state.linkUp.unsafeOpen()
    yield* Effect.forkScoped(SessionLink.supervise(state, first, dial, metrics))

    if (options.readyAfterSilence !== undefined) yield* Effect.forkScoped(readyAfterSilence(state, options.readyAfterSilence))
    const facts = yield* Deferred.await(state.ready).pipe(
      Effect.timeoutFail({
        duration: state.config.handshakeTimeout,
        onTimeout: () => new SessionError({ reason: "Handshake", detail: "the agent did not complete the handshake in time" })
      })
    )
    yield* Effect.addFinalizer(() => Effect.ignore(terminate(state)))

    return {
      [TypeId]: TypeId,
      sessionId: options.sessionId,
      sessionType: facts.sessionType,
      agentVersion: facts.agentVersion,
      properties: facts.properties,
      customerMessage: facts.customerMessage,
      handshakeDuration: facts.handshakeDuration,
      clientVersion: state.config.clientVersion,
      output: State.outputStream(state),
      events: State.eventsStream(state),
      write: (bytes) => bytes.length === 0 ? Effect.void : send(state, AgentMessage.PayloadType.Output, bytes),
      send: (payloadType, payload) => send(state, payloadType, payload),
      sendFlag: (flag) => send(state, AgentMessage.PayloadType.Flag, flagPayload(flag)),
      closeWith: (flag) =>
        Effect.sync(() => {
          state.closeFlag = flag
        }),
      terminate: terminate(state),
      closed: Deferred.await(state.ended),
      subscribe: Effect.map(PubSub.subscribe(state.connectionEvents), (subscription) => Stream.fromQueue(subscription)),
      stats: stats(state)
    } satisfies Session.Session
  })
