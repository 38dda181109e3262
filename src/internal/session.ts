/**
 * The client side of a data channel over a WebSocket: opening (OpenDataChannel), the handshake, delivery of
 * output and events through a bounded buffer, and the end of the session (AGENT-PROTOCOL.md sections 2, 5-7,
 * 9, 12, 20). Reliability is the shared data-channel engine.
 *
 * @internal
 */
import * as Socket from "@effect/platform/Socket"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as FiberSet from "effect/FiberSet"
import * as Mailbox from "effect/Mailbox"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as PubSub from "effect/PubSub"
import type * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as AgentMessage from "../AgentMessage.js"
import * as AgentPayload from "../AgentPayload.js"
import type * as Session from "../Session.js"
import type * as SsmApi from "../SsmApi.js"
import * as DataChannel from "./dataChannel.js"
import * as Handshake from "./handshake.js"
import * as KmsApi from "./kmsApi.js"
import * as Link from "./link.js"
import * as Resume from "./resume.js"
import * as SessionCipher from "./sessionCipher.js"
import * as Version from "./version.js"

/** @internal */
export const TypeId: Session.TypeId = Symbol.for("ssm-session-manager/Session") as Session.TypeId

/** @internal */
export const ErrorTypeId: Session.ErrorTypeId = Symbol.for(
  "ssm-session-manager/Session/SessionError"
) as Session.ErrorTypeId

/** @internal */
export class SessionError extends Data.TaggedError("SessionError")<{
  readonly reason: Session.SessionError.Reason
  readonly detail: string
  readonly cause?: unknown
}> {
  readonly [ErrorTypeId]: Session.ErrorTypeId = ErrorTypeId
  override get message(): string {
    return `${this.reason}: ${this.detail}`
  }
}

/** @internal */
export const isSessionError = (u: unknown): u is SessionError => Predicate.hasProperty(u, ErrorTypeId)

/** @internal */
export const tag = Context.GenericTag<Session.Session>("ssm-session-manager/Session")

/** @internal */
export const metrics: Session.SessionMetrics = DataChannel.makeMetrics("ssm_session")

/** The SsmApi service, looked up by its key: the Session resumes through it without loading the AWS SDK. */
const ssmApiTag = Context.GenericTag<SsmApi.SsmApi>("ssm-session-manager/SsmApi")

/** The version this client reports: above 1.2.331.0 so current agents turn smux keepalive off (section 18.1). */
/** @internal */
export const CLIENT_VERSION = "1.2.694.0"

/** One ClientId per process, reused on reconnects, as the official client. */
const processClientId = globalThis.crypto.randomUUID()

/** @internal */
export const defaults = {
  clientVersion: CLIENT_VERSION,
  openTimeout: Duration.seconds(10),
  handshakeTimeout: Duration.seconds(30),
  pingInterval: Duration.seconds(30),
  windowSize: 1024,
  reorderBufferSize: 100_000,
  reorderBufferBytes: 64 * 1024 * 1024,
  repeatAckAfter: Duration.millis(50),
  receiveBufferSize: 1024 * 1024,
  messagesPerSecond: 1000,
  giveUpAfter: Duration.minutes(5),
  terminateTimeout: Duration.seconds(2)
} as const

const textEncoder = new TextEncoder()
const decodeHandshakeRequest = AgentPayload.decodePayload(AgentPayload.jsonPayload(AgentPayload.HandshakeRequest))
const decodeHandshakeComplete = AgentPayload.decodePayload(AgentPayload.jsonPayload(AgentPayload.HandshakeComplete))
const decodeChannelClosed = AgentPayload.decodePayload(AgentPayload.jsonPayload(AgentPayload.ChannelClosed))
const encodeHandshakeResponse = AgentPayload.encodePayload(AgentPayload.jsonPayload(AgentPayload.HandshakeResponse))
const decodeChallenge = AgentPayload.decodePayload(AgentPayload.jsonPayload(AgentPayload.EncryptionChallenge))
const encodeChallenge = AgentPayload.encodePayload(AgentPayload.jsonPayload(AgentPayload.EncryptionChallenge))
const encodeOpen = AgentPayload.encodePayload(AgentPayload.jsonPayload(AgentPayload.OpenDataChannel))

interface Ready {
  readonly sessionType: string
  readonly agentVersion: Option.Option<string>
  readonly properties: Readonly<Record<string, unknown>> | null
  readonly customerMessage: string
  readonly handshakeDuration: Option.Option<Duration.Duration>
}

const exitCodeOf = (payload: Uint8Array): number => {
  const match = /EXIT_CODE:\s*(-?\d+)/.exec(new TextDecoder().decode(payload))
  return match === null ? Number.NaN : Number(match[1])
}

/** @internal */
export const make = (
  options: Session.SessionOptions
): Effect.Effect<Session.Session, SessionError, Scope.Scope | Socket.WebSocketConstructor> =>
  Effect.gen(function*() {
    const config = {
      clientVersion: options.clientVersion ?? defaults.clientVersion,
      clientId: options.clientId ?? processClientId,
      openTimeout: Duration.decode(options.openTimeout ?? defaults.openTimeout),
      handshakeTimeout: Duration.decode(options.handshakeTimeout ?? defaults.handshakeTimeout),
      pingInterval: Duration.decode(options.pingInterval ?? defaults.pingInterval),
      windowSize: options.windowSize ?? defaults.windowSize,
      reorderBufferSize: options.reorderBufferSize ?? defaults.reorderBufferSize,
      reorderBufferBytes: options.reorderBufferBytes ?? defaults.reorderBufferBytes,
      repeatAckAfter: Duration.toMillis(Duration.decode(options.repeatAckAfter ?? defaults.repeatAckAfter)),
      receiveBufferSize: options.receiveBufferSize ?? defaults.receiveBufferSize,
      messagesPerSecond: options.messagesPerSecond ?? defaults.messagesPerSecond,
      giveUpAfter: Duration.decode(options.giveUpAfter ?? defaults.giveUpAfter),
      terminateTimeout: Duration.decode(options.terminateTimeout ?? defaults.terminateTimeout)
    }

    const ready = yield* Deferred.make<Ready, SessionError>()
    const ended = yield* Deferred.make<string, SessionError>()
    const output = yield* Mailbox.make<Uint8Array, SessionError>()
    const events = yield* Mailbox.make<Session.SessionEvent, SessionError>()
    const connectionEvents = yield* PubSub.sliding<Session.ConnectionEvent>(64)
    let buffered = 0
    /** a HandshakeRequest or a first Output arrived: the session type is decided */
    let handshakeSeen = false
    let closedByService = false

    let finished = false
    const end = (exit: Exit.Exit<string, SessionError>) => {
      if (finished) return
      finished = true
      Deferred.unsafeDone(ended, exit)
      // writes waiting for the window (which will never open now) fail instead of hanging
      channel?.close("the session has ended")
      const done = Exit.asVoid(exit)
      linkUp.unsafeOpen()
      output.unsafeDone(done)
      events.unsafeDone(done)
      Deferred.unsafeDone(
        ready,
        Exit.isFailure(exit) ? Exit.failCause(exit.cause) : Exit.fail(
          new SessionError({
            reason: "Handshake",
            detail: `the channel closed before the session was ready${exit.value === "" ? "" : `: ${exit.value}`}`
          })
        )
      )
    }
    const failWith = (reason: Session.SessionError.Reason, detail: string, cause?: unknown) =>
      end(Exit.fail(new SessionError(cause === undefined ? { reason, detail } : { reason, detail, cause })))

    // ------------------------------------------------------------------------------------------------------------
    // transport: one link (WebSocket) at a time; a lost one is replaced by resuming the session
    // ------------------------------------------------------------------------------------------------------------
    let link: Link.Link | undefined
    const linkUp = yield* Effect.makeLatch(false)
    // every link's scope comes from this one, made before the session's other finalizers: closing the session
    // ends with the WebSocket, after the TerminateSession flag went out on it
    const linksScope = yield* Scope.fork(yield* Effect.scope, ExecutionStrategy.sequential)
    /** frames written while no link is up wait for the next one; those written to a dying one are lost */
    const sendFrame = (frame: Uint8Array): Effect.Effect<void> => {
      if (link !== undefined) {
        link.send(frame)
        return Effect.void
      }
      return linkUp.whenOpen(Effect.sync(() => link?.send(frame)))
    }
    const resumePolicy = options.resume === false ? undefined : Resume.policy(options.resume)
    const api = yield* Effect.serviceOption(ssmApiTag)
    const resumeSession = options.resume === false
      ? undefined
      : options.resume?.resumeSession ?? Option.getOrUndefined(Option.map(api, (api) => api.resumeSession))
    let reconnects = 0
    let disconnectedMillis = 0
    let disconnectedSince: number | undefined

    // ------------------------------------------------------------------------------------------------------------
    // delivery
    // ------------------------------------------------------------------------------------------------------------
    let channel: DataChannel.Channel | undefined
    // fibers started from the (synchronous) receive path, interrupted with the session's scope
    const runFork = yield* FiberSet.makeRuntime<never>()

    const sendJson = (payloadType: AgentMessage.PayloadType, payload: Uint8Array) =>
      channel === undefined ? Effect.void : Effect.ignore(channel.send(payloadType, payload))

    const kms = yield* Effect.serviceOption(KmsApi.tag)
    /** set once the data key is known (KMS sessions); Output is then encrypted both ways */
    let cipher: SessionCipher.SessionCipher | undefined

    let handshakeAnswered = false
    let handshakeFailure: SessionError | undefined
    const handleHandshakeRequest = (message: AgentMessage.AgentMessage) => {
      // answered once: a repeat is acknowledged and ignored (a second data key would swap the cipher mid-session)
      if (handshakeAnswered) return
      handshakeAnswered = true
      handshakeSeen = true
      const request = decodeHandshakeRequest(message.payload)
      if (Either.isLeft(request)) {
        failWith("Handshake", `the HandshakeRequest could not be read: ${request.left.detail}`, request.left)
        return
      }
      const context = { sessionId: options.sessionId, target: options.target, clientVersion: config.clientVersion, kms }
      runFork(Effect.gen(function*() {
        const answer = yield* Handshake.answer(request.right, context)
        cipher = answer.cipher
        pendingReady = {
          sessionType: answer.sessionType ?? "",
          agentVersion: Option.some(request.right.AgentVersion),
          properties: answer.properties,
          customerMessage: "",
          handshakeDuration: Option.none()
        }
        const failure = Option.isSome(answer.kmsUnavailable)
          ? new SessionError({ reason: "EncryptionRequired", detail: answer.kmsUnavailable.value })
          : answer.kmsFailure !== undefined
          ? new SessionError({
            reason: "Encryption",
            detail: `kms:GenerateDataKey failed: ${answer.kmsFailure.message}`,
            cause: answer.kmsFailure
          })
          : answer.sessionType === undefined
          ? new SessionError({
            reason: "Handshake",
            detail: `the agent asked for no supported session type: ${answer.response.Errors?.join("; ")}`
          })
          : undefined
        // the agent answers a failed response by closing the channel: that is this failure, not a plain close
        if (failure !== undefined) handshakeFailure = failure
        const response = encodeHandshakeResponse(answer.response)
        if (Either.isRight(response)) yield* sendJson(6, response.right)
        if (failure === undefined) return
        // say why before leaving, as AWS's client does: the agent then ends at once with the reason, instead of
        // waiting 15 s for a response ("Handshake timed out"). Bounded: an agent that never acknowledges it
        // cannot keep the failure from being reported.
        yield* Effect.ignore(Effect.timeout(engine.drained, config.terminateTimeout))
        end(Exit.fail(failure))
      }))
    }

    /** EncChallengeRequest: decrypt with the agent's half, encrypt again with ours (section 8.3) */
    const handleChallenge = (message: AgentMessage.AgentMessage) => {
      const request = decodeChallenge(message.payload)
      const plain = cipher === undefined || Either.isLeft(request) ? undefined : cipher.decrypt(request.right.Challenge)
      if (plain === undefined) {
        failWith("Encryption", "the agent's encryption challenge did not decrypt with the data key")
        return
      }
      const response = encodeChallenge(new AgentPayload.EncryptionChallenge({ Challenge: cipher!.encrypt(plain) }))
      if (Either.isRight(response)) runFork(sendJson(9, response.right))
    }

    let pendingReady: Ready | undefined

    const handleHandshakeComplete = (message: AgentMessage.AgentMessage) => {
      const complete = decodeHandshakeComplete(message.payload)
      if (pendingReady === undefined) {
        failWith("Handshake", "HandshakeComplete arrived without a HandshakeRequest")
        return
      }
      Deferred.unsafeDone(ready, Exit.succeed({
        ...pendingReady,
        customerMessage: Either.isRight(complete) ? complete.right.CustomerMessage : "",
        handshakeDuration: Either.isRight(complete) ? Option.some(complete.right.HandshakeTimeToComplete) : Option.none()
      }))
    }

    let readingPaused = false
    let peakBuffered = 0
    const canPause = () => link?.canPause === true
    const offer = <A>(mailbox: Mailbox.Mailbox<A, SessionError>, value: A, size: number): boolean => {
      // the hard limit: past it a message goes unacknowledged and the agent resends it later (or, when it was
      // already acknowledged, it waits in the reorder buffer until reading makes room)
      if (buffered >= config.receiveBufferSize * (canPause() ? 2 : 1)) return false
      buffered += size
      if (buffered > peakBuffered) peakBuffered = buffered
      mailbox.unsafeOffer(value)
      if (!readingPaused && buffered >= config.receiveBufferSize && canPause()) {
        readingPaused = true
        link!.pauseReading()
      }
      return true
    }
    const released = (size: number) => {
      buffered -= size
      if (buffered < config.receiveBufferSize) channel?.resumeDelivery()
      if (readingPaused && buffered < config.receiveBufferSize / 2) {
        readingPaused = false
        link?.resumeReading()
      }
    }

    /** Output, StdErr and ExitCode: decrypted in KMS sessions (a payload that does not is fatal, section 8.4) */
    const deliverData = (message: AgentMessage.AgentMessage): boolean => {
      let payload = message.payload
      if (cipher !== undefined) {
        const plain = cipher.decrypt(payload)
        if (plain === undefined) {
          failWith("Encryption", `a message (sequence ${message.sequenceNumber}) did not decrypt with the data key`)
          return false
        }
        payload = plain
      }
      // not copied when it is a view into the transport's buffer (not \`owned\`): every transport here hands over
      // buffers that nothing writes to again (ws's socket reads, a browser's ArrayBuffer per message). A view keeps
      // its whole read (up to 64 KiB) alive, but output is taken in order, so what is kept alive stays within the
      // receive buffer's bound plus one read
      switch (message.payloadType) {
        case 1:
          if (!handshakeSeen) {
            // no handshake: a shell session without KMS (section 7.6)
            Deferred.unsafeDone(ready, Exit.succeed<Ready>({
              sessionType: AgentPayload.SessionType.StandardStream,
              agentVersion: Option.none(),
              properties: null,
              customerMessage: "",
              handshakeDuration: Option.none()
            }))
          }
          handshakeSeen = true
          return offer(output, payload, payload.length)
        case 11:
          return offer(events, { _tag: "StdErr", bytes: payload }, payload.length)
        default:
          return offer(events, { _tag: "ExitCode", code: exitCodeOf(payload) }, 16)
      }
    }

    let unknownPayloadTypeLogged = false
    // payloads are views the session keeps as they are (every transport hands over buffers it does not write to again)
    const deliver = (message: AgentMessage.AgentMessage): boolean => {
      switch (message.payloadType) {
        case 5:
          handleHandshakeRequest(message)
          return true
        case 7:
          handleHandshakeComplete(message)
          return true
        case 8:
          handleChallenge(message)
          return true
        case 1:
        case 11:
        case 12:
          return deliverData(message)
        case 10: {
          const view = message.payload
          const flag = view.length === 4 ? ((view[0]! << 24) | (view[1]! << 16) | (view[2]! << 8) | view[3]!) >>> 0 : -1
          return offer(events, { _tag: "Flag", flag }, 16)
        }
        default:
          // acknowledged and skipped, so the sequence moves on, as AWS's client does (it does not check the type)
          if (message.payloadType > 12 && !unknownPayloadTypeLogged) {
            unknownPayloadTypeLogged = true
            runFork(Effect.logWarning(
              `skipping a data message of unknown PayloadType ${message.payloadType} (further ones are skipped silently)`
            ))
          }
          return true
      }
    }

    const onChannelClosed = (message: AgentMessage.AgentMessage) => {
      if (handshakeFailure !== undefined) return end(Exit.fail(handshakeFailure))
      closedByService = true
      const closed = decodeChannelClosed(message.payload)
      const text = Either.isRight(closed) ? closed.right.Output : ""
      events.unsafeOffer({ _tag: "ChannelClosed", output: text })
      end(Exit.succeed(text))
    }

    channel = yield* DataChannel.make({
      role: "client",
      send: sendFrame,
      sendNow: (frame) => {
        if (link === undefined) return false
        link.send(frame)
        return true
      },
      cork: () => link === undefined ? () => {} : link.cork(),
      // with no link (resuming) acknowledgements wait too; `hold(false)` sends them on the new one
      congestion: {
        congested: (allowance) => link === undefined || link.congested(allowance),
        whenDrained: (callback) => link?.whenDrained(callback)
      },
      outgoingPayload: (payloadType, payload) =>
        cipher !== undefined && SessionCipher.isEncrypted(payloadType, "client") ? cipher.encrypt(payload) : payload,
      deliver,
      onChannelClosed,
      windowSize: config.windowSize,
      reorderBufferSize: config.reorderBufferSize,
      reorderBufferBytes: config.reorderBufferBytes,
      repeatAckAfter: config.repeatAckAfter,
      messagesPerSecond: config.messagesPerSecond,
      giveUpAfter: config.giveUpAfter,
      metrics
    })
    const engine = channel

    yield* Effect.forkScoped(Effect.flatMap(engine.failed, (failure) =>
      Effect.sync(() => failWith(failure.reason === "Closed" ? "Transport" : failure.reason, failure.detail, failure.cause))))

    /** a frame arrived on some link: the service took our OpenDataChannel, so a lost link can be resumed */
    let heard = false
    const webSocketConstructor = yield* Socket.WebSocketConstructor
    /** a new link in its own scope, closed when the link is replaced or the session ends */
    const dial = (token: Redacted.Redacted<string>) =>
      Effect.gen(function*() {
        // the OpenDataChannel text frame: the token leaves Redacted only here. A new RequestId for every link,
        // the same ClientId (section 11.3)
        const open = encodeOpen(new AgentPayload.OpenDataChannel({
          MessageSchemaVersion: "1.0",
          RequestId: globalThis.crypto.randomUUID(),
          TokenValue: token,
          ClientId: config.clientId,
          ClientVersion: config.clientVersion
        }))
        if (Either.isLeft(open)) return yield* Effect.fail<Link.LinkOpenError>({ detail: open.left.detail })
        const scope = yield* Scope.fork(linksScope, ExecutionStrategy.sequential)
        const opened = yield* Link.open({
          url: options.streamUrl,
          openFrame: new TextDecoder().decode(open.right),
          openTimeout: config.openTimeout,
          pingInterval: config.pingInterval,
          onFrame: (frame) => {
            heard = true
            engine.receive(frame)
          },
          expectingTraffic: () => engine.unacknowledged() > 0
        }).pipe(
          Scope.extend(scope),
          Effect.provideService(Socket.WebSocketConstructor, webSocketConstructor),
          Effect.onError(() => Scope.close(scope, Exit.void))
        )
        return { link: opened, scope }
      })

    const publish = (event: Session.ConnectionEvent) =>
      Effect.sync(() => {
        // beside output and events, not limited by the receive buffer: there are few, and each matters
        buffered += 16
        events.unsafeOffer(event)
        connectionEvents.unsafeOffer(event)
      })

    /** Runs each link until it ends, and resumes the session on a new one while that is possible. */
    const supervise = (first: { readonly link: Link.Link; readonly scope: Scope.CloseableScope }) =>
      Effect.gen(function*() {
        let current = first
        while (true) {
          const lost = yield* current.link.ended
          link = undefined
          linkUp.unsafeClose()
          yield* Scope.close(current.scope, Exit.void)
          if (finished || closedByService) return
          const why = Link.describeEnd(lost)
          if (resumePolicy === undefined || resumeSession === undefined || !heard) {
            const unresumable = !heard
              ? ""
              : resumePolicy === undefined
              ? " (resume is off)"
              : " (no SsmApi to resume it)"
            return failWith("Transport", `${why}${unresumable}`, lost)
          }
          const since = yield* Clock.currentTimeMillis
          disconnectedSince = since
          engine.hold(true)
          const resumed = yield* Resume.reconnect({
            sessionId: options.sessionId,
            policy: resumePolicy,
            resumeSession,
            dial,
            onAttempt: (attempt, cause) => publish({ _tag: "Reconnecting", attempt, cause })
          }, why).pipe(Effect.either)
          if (Either.isLeft(resumed)) {
            return failWith(resumed.left.reason, `${why}, and the session was not resumed: ${resumed.left.detail}`, resumed.left.cause)
          }
          const now = yield* Clock.currentTimeMillis
          current = resumed.right.value
          link = current.link
          if (readingPaused) link.pauseReading()
          reconnects++
          disconnectedMillis += now - since
          disconnectedSince = undefined
          metrics.reconnects.unsafeUpdate(1, [])
          metrics.disconnectedMillis.unsafeUpdate(now - since, [])
          linkUp.unsafeOpen()
          engine.hold(false)
          yield* publish({ _tag: "Reconnected", after: Duration.millis(now - since), attempts: resumed.right.attempts })
        }
      })

    const first = yield* dial(options.tokenValue).pipe(
      Effect.mapError((error) =>
        new SessionError({ reason: "Open", detail: `the WebSocket could not open: ${error.detail}`, cause: error.cause })
      )
    )
    link = first.link
    linkUp.unsafeOpen()
    yield* Effect.forkScoped(supervise(first))

    const facts = yield* Deferred.await(ready).pipe(
      Effect.timeoutFail({
        duration: config.handshakeTimeout,
        onTimeout: () => new SessionError({ reason: "Handshake", detail: "the agent did not complete the handshake in time" })
      })
    )

    // ------------------------------------------------------------------------------------------------------------
    // API
    // ------------------------------------------------------------------------------------------------------------
    const toSessionError = (failure: DataChannel.ChannelFailure) =>
      new SessionError({
        reason: failure.reason,
        detail: failure.detail
      })

    const sendSequenced = (payloadType: AgentMessage.PayloadType, payload: Uint8Array) =>
      Effect.suspend(() =>
        finished
          ? Effect.fail(new SessionError({ reason: "Closed", detail: "the session has ended" }))
          : Effect.mapError(engine.send(payloadType, payload), toSessionError)
      )

    const write = (bytes: Uint8Array): Effect.Effect<void, SessionError> =>
      bytes.length === 0 ? Effect.void : sendSequenced(1, bytes)

    const sendFlag = (flag: AgentMessage.FlagPayload) =>
      sendSequenced(10, new Uint8Array([0, 0, 0, flag]))

    const honoursTerminateFlag = facts.sessionType === AgentPayload.SessionType.Port &&
      Option.match(facts.agentVersion, {
        onNone: () => false,
        onSome: (version) => Version.isGreaterThan(version, Version.TERMINATE_FLAG_AFTER)
      })

    /** true when the service closed the channel, before or in answer to the TerminateSession flag */
    const terminate: Effect.Effect<boolean> = Effect.gen(function*() {
      if (finished) return closedByService
      if (honoursTerminateFlag) {
        // finalizers are uninterruptible: the wait (for the window, the pace, and the channel to close) must be
        // interruptible itself, or its deadline could never end it
        yield* Effect.zipRight(Effect.ignore(sendFlag(2)), Effect.ignore(Deferred.await(ended))).pipe(
          Effect.interruptible,
          Effect.timeout(config.terminateTimeout),
          Effect.ignore
        )
      }
      end(Exit.succeed(""))
      return closedByService
    })

    yield* Effect.addFinalizer(() => Effect.ignore(terminate))

    const consume = <A>(mailbox: Mailbox.Mailbox<A, SessionError>, size: (a: A) => number) =>
      Mailbox.toStream(mailbox).pipe(Stream.mapChunks((chunk) => {
        let total = 0
        for (const item of chunk) total += size(item)
        released(total)
        return chunk
      }))

    return {
      [TypeId]: TypeId,
      sessionId: options.sessionId,
      sessionType: facts.sessionType,
      agentVersion: facts.agentVersion,
      properties: facts.properties,
      customerMessage: facts.customerMessage,
      handshakeDuration: facts.handshakeDuration,
      clientVersion: config.clientVersion,
      output: consume(output, (bytes) => bytes.length),
      events: consume(events, (event) =>
        event._tag === "StdErr" ? event.bytes.length : event._tag === "ChannelClosed" ? 0 : 16),
      write,
      sendFlag,
      resize: (size) =>
        sendSequenced(3, textEncoder.encode(`{"cols":${Math.trunc(size.cols)},"rows":${Math.trunc(size.rows)}}`)),
      terminate,
      closed: Deferred.await(ended),
      subscribe: Effect.map(PubSub.subscribe(connectionEvents), (subscription) => Stream.fromQueue(subscription)),
      stats: Effect.map(Clock.currentTimeMillis, (now) => ({
        ...engine.stats(),
        bufferedBytes: buffered,
        peakBufferedBytes: peakBuffered,
        connected: link !== undefined,
        reconnects,
        disconnectedMillis: disconnectedMillis + (disconnectedSince === undefined ? 0 : now - disconnectedSince)
      }))
    } satisfies Session.Session
  })
