/**
 * The agent side of a simulated session (AGENT-PROTOCOL.md sections 5-7, 9, 12, 14): the agent's data channel
 * (the same engine as the client's, in the agent role), the handshake, and the session plugin. It runs as long as
 * the session does, across the client's WebSockets (`service.ts` carries frames between them and it).
 *
 * @internal
 */
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Encoding from "effect/Encoding"
import * as Exit from "effect/Exit"
import * as Mailbox from "effect/Mailbox"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as WS from "ws"
import type * as AgentMessage from "../../AgentMessage.js"
import * as AgentPayload from "../../AgentPayload.js"
import type * as AgentSimulator from "../../AgentSimulator.js"
import * as internalMessage from "../agentMessage.js"
import * as DataChannel from "../dataChannel.js"
import * as SessionCipher from "../sessionCipher.js"
import * as SimulatorKms from "./kms.js"
import * as Version from "../version.js"

const textEncoder = new TextEncoder()
const simulatorMetrics = DataChannel.makeMetrics("ssm_simulator")
const decodeResponse = AgentPayload.decodePayload(AgentPayload.jsonPayload(AgentPayload.HandshakeResponse))
const decodeChallenge = AgentPayload.decodePayload(AgentPayload.jsonPayload(AgentPayload.EncryptionChallenge))
const decodeSize = AgentPayload.decodePayload(AgentPayload.jsonPayload(AgentPayload.TerminalSize))

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
    const raw = (socket as unknown as { readonly _socket?: import("node:net").Socket })._socket
    if (raw === undefined || raw.destroyed || raw.writableLength === 0) return resume(Effect.void)
    // a batch may have corked the connection: nothing would leave it while we wait
    while (raw.writableCorked > 0) raw.uncork()
    // both listeners go at once, whichever comes: a "close" listener left after each drain would pile up on the
    // connection (Node's MaxListenersExceededWarning in long benchmarks)
    const off = () => {
      raw.off("drain", done)
      raw.off("close", done)
    }
    const done = () => {
      off()
      resume(Effect.void)
    }
    raw.once("drain", done)
    raw.once("close", done)
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
    flags: 0,
    messageId: globalThis.crypto.randomUUID(),
    payloadType: 0,
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
      messageType: "channel_closed",
      schemaVersion: 1,
      createdDate: now,
      sequenceNumber: 0,
      flags: 0,
      messageId: globalThis.crypto.randomUUID(),
      payloadType: 0,
      payload
    })
    yield* send(short ? toShortHeader(frame) : frame)
  })

/** What the service keeps of a session: its spec and token, and what its connections observed. @internal */
export interface SessionRecord {
  readonly spec: AgentSimulator.SessionSpec
  /** what the connections observed; the agent's send counters are read live from its channel */
  readonly stats: {
    connections: number
    openConnections: number
    closed: boolean
    handshakeResponses: number
    terminateFlags: number
    terminatedByApi: boolean
    dataMessagesReceived: number
    rateCapClosed: boolean
    pauses: number
    pings: number
    encrypted: boolean
    decryptionFailures: number
    resumes: number
    drops: number
  }
  /** the agent's channel */
  channel: DataChannel.Channel | undefined
  /** completed by the API's TerminateSession */
  readonly terminate: Deferred.Deferred<void>
}

/**
 * The data channel of each running agent, by session id: for tests that look at what the agent still waits to have
 * acknowledged (`unacknowledged`, `drained`). An entry goes when its agent ends.
 * @internal
 */
export const agentChannels = new Map<string, DataChannel.Channel>()

/**
 * Watches the frames of one session's agent, for tests and measurements: `sent` for each frame the agent's data
 * channel writes (before the service's faults), `received` for each client frame it reads (after them).
 * @internal
 */
export interface AgentFrameObserver {
  readonly sent?: ((frame: Uint8Array) => void) | undefined
  readonly received?: ((frame: Uint8Array) => void) | undefined
}

/**
 * Observers by session id, registered between StartSession and the client's first WebSocket (the agent looks once,
 * when it starts). An entry is the test's to remove.
 * @internal
 */
export const agentFrameObservers = new Map<string, AgentFrameObserver>()

/** What the agent side of a session runs with. @internal */
export interface AgentRun {
  readonly sessionId: string
  readonly record: SessionRecord
  readonly options: AgentSimulator.SimulatorOptions
  readonly faults: AgentSimulator.Faults
  readonly random: () => number
  /** the client's frames (faults applied), and the service's own pause and start frames */
  readonly frames: Mailbox.Mailbox<Uint8Array>
  /** to the client, over whichever WebSocket carries the session (lost while none does) */
  readonly send: (frame: Uint8Array) => Effect.Effect<void>
  readonly cork: () => () => void
  readonly clientVersion: string
  readonly kms: SimulatorKms.SimulatedKms
  /** completed when the client is gone for good (no new WebSocket within the grace period) */
  readonly gone: Deferred.Deferred<void>
}

/**
 * Runs the agent side of a session until the plugin ends, the client terminates it, or the client is gone;
 * sends `channel_closed` when it ends the session itself.
 * @internal
 */
export const runAgent = (run: AgentRun): Effect.Effect<void, never, Scope.Scope> =>
  Effect.gen(function*() {
    const { clientVersion, faults, frames, options, random, record, sessionId } = run
    const observer = agentFrameObservers.get(sessionId)
    const observeSent = observer?.sent
    const observeReceived = observer?.received
    const send = observeSent === undefined ? run.send : (frame: Uint8Array) => {
      observeSent(frame)
      return run.send(frame)
    }
    const spec = record.spec
    const simulatedKms = run.kms
    // 2. the agent's data channel
    const input = yield* Mailbox.make<AgentSimulator.PluginInput>()
    let inputBuffered = 0
    const inputBufferSize = spec.inputBufferSize ?? 1024 * 1024
    const handshake = yield* Deferred.make<AgentPayload.HandshakeResponse, string>()
    // the account's KMS preference applies to every session type but Port (section 8.5)
    const kmsKeyId = spec.kmsKeyId ?? (spec.plugin.sessionType === "Port" ? undefined : options.kmsKeyId)
    let handshakeDone = !(spec.plugin.requireHandshake || kmsKeyId !== undefined)
    let pluginReady = spec.plugin.signalsReady !== true
    const terminated = yield* Deferred.make<void>()
    const challengeResponse = yield* Deferred.make<Uint8Array, string>()
    /** the agent's side of a KMS session's encryption, once the handshake set it up */
    let cipher: SessionCipher.SessionCipher | undefined
    const agentVersion = spec.agentVersion ?? options.agentVersion ?? "3.3.1142.0"
    // agents up to 2.3.722.0 ignore the TerminateSession flag (the client calls the API instead)
    const honoursTerminateFlag = Version.isGreaterThan(agentVersion, Version.TERMINATE_FLAG_AFTER)

    const deliver = (message: AgentMessage.AgentMessage, owned: boolean): boolean => {
      if (!handshakeDone) {
        if (message.payloadType === 6) {
          record.stats.handshakeResponses++
          const response = decodeResponse(message.payload)
          Deferred.unsafeDone(
            handshake,
            Either.isRight(response) ? Exit.succeed(response.right) : Exit.fail(response.left.detail)
          )
        }
        if (message.payloadType === 9) {
          const response = decodeChallenge(message.payload)
          Deferred.unsafeDone(
            challengeResponse,
            Either.isRight(response) ? Exit.succeed(response.right.Challenge) : Exit.fail(response.left.detail)
          )
        }
        // anything else during the handshake is acknowledged and discarded, as the agent does
        return true
      }
      if (!pluginReady) return false
      switch (message.payloadType) {
        case 1: {
          if (inputBuffered >= inputBufferSize) return false
          const bytes = cipher !== undefined
            ? cipher.decrypt(message.payload)
            : owned
            ? message.payload
            : message.payload.slice()
          if (bytes === undefined) {
            record.stats.decryptionFailures++
            return false
          }
          inputBuffered += bytes.length
          input.unsafeOffer({ _tag: "Data", bytes })
          return true
        }
        case 3: {
          // read as the agent's Go decoder reads its SizeData (shell.go): lenient keys, missing fields 0
          const size = decodeSize(message.payload)
          if (Either.isRight(size)) input.unsafeOffer({ _tag: "Size", cols: size.right.cols, rows: size.right.rows })
          return true
        }
        case 10: {
          const p = message.payload
          const flag = p.length === 4 ? ((p[0]! << 24) | (p[1]! << 16) | (p[2]! << 8) | p[3]!) >>> 0 : 0
          if (flag === 2) {
            record.stats.terminateFlags++
            if (honoursTerminateFlag) Deferred.unsafeDone(terminated, Exit.void)
          }
          else input.unsafeOffer({ _tag: "Flag", flag })
          return true
        }
        default:
          return true
      }
    }

    // the agent's sender unless a test asks for this library's (a window, fast resends), which is kinder
    const sender = spec.sender ?? options.sender ?? "agent"
    const ackBeforeRecord = sender === "agent" ? spec.ackBeforeRecord ?? options.ackBeforeRecord ?? 0.02 : 0

    // the service's message-rate cap: too many client data messages per second for too long closes the channel
    const rateCapHit = yield* Deferred.make<void>()
    let windowStart = Date.now()
    let windowCount = 0
    let exceededSince: number | undefined
    const countClientMessage = () => {
      record.stats.dataMessagesReceived++
      const cap = faults.rateCap
      if (cap === undefined) return
      const now = Date.now()
      if (now - windowStart >= 1000) {
        const exceeded = windowCount > cap.messagesPerSecond
        exceededSince = exceeded ? exceededSince ?? windowStart : undefined
        windowStart = now
        windowCount = 0
      }
      windowCount++
      if (windowCount > cap.messagesPerSecond) exceededSince ??= windowStart
      if (exceededSince !== undefined && now - exceededSince >= (cap.sustainedMillis ?? 2000)) {
        record.stats.rateCapClosed = true
        Deferred.unsafeDone(rateCapHit, Exit.void)
      }
    }

    const channel = yield* DataChannel.make({
      role: "agent",
      send,
      cork: run.cork,
      outgoingPayload: (payloadType, payload) =>
        cipher !== undefined && SessionCipher.isEncrypted(payloadType, "agent") ? cipher.encrypt(payload) : payload,
      deliver,
      onChannelClosed: () => {},
      sender,
      windowSize: spec.windowSize ?? options.windowSize ?? 1024,
      ackBeforeRecord: () => random() < ackBeforeRecord,
      reorderBufferSize: DataChannel.AGENT_BUFFER_CAPACITY,
      reorderBufferBytes: Number.POSITIVE_INFINITY,
      messagesPerSecond: spec.messagesPerSecond ?? options.messagesPerSecond ?? 1000,
      giveUpAfter: Duration.minutes(5),
      metrics: simulatorMetrics,
      onAckSample: options.onAcknowledged
    })
    record.channel = channel
    agentChannels.set(sessionId, channel)
    yield* Effect.addFinalizer(() => Effect.sync(() => agentChannels.delete(sessionId)))
    yield* Effect.forkScoped(Effect.forever(Effect.flatMap(frames.takeAll, ([batch, done]) =>
      Effect.suspend(() => {
        for (const frame of batch) {
          observeReceived?.(frame)
          if (frame.length > 40 && frame[4] === 0x69 && frame[5] === 0x6e) countClientMessage() // "in"put_stream_data
          channel.receive(frame)
        }
        return done ? Effect.interrupt : Effect.void
      })
    )).pipe(Effect.ignore))

    // pause_publication windows, as the service sends them while the other side is away
    if (faults.pausePublication !== undefined) {
      const pause = faults.pausePublication
      yield* Effect.forkScoped(Effect.forever(Effect.gen(function*() {
        yield* Effect.sleep(Duration.millis(pause.everyMillis))
        yield* send(publication("pause_publication"))
        record.stats.pauses++
        yield* Effect.sleep(Duration.millis(pause.forMillis))
        yield* send(publication("start_publication"))
      })))
    }

    const writeOutput = (payloadType: AgentMessage.PayloadType, bytes: Uint8Array) =>
      Effect.ignore(channel.send(payloadType, bytes))

    // 3. the handshake
    if (!handshakeDone) {
      const started = Date.now()
      const actions: Array<unknown> = [{
        ActionType: "SessionType",
        // only the port plugin hands its parameters to the handshake; shells and commands send null
        // (GetPluginParameters in plugins/port/port.go, standardstream, singlecommand)
        ActionParameters: {
          SessionType: spec.plugin.sessionType,
          Properties: spec.plugin.sessionType === "Port" ? spec.properties ?? null : null
        }
      }]
      const randomChallenge = Encoding.encodeBase64(globalThis.crypto.getRandomValues(new Uint8Array(16)))
      if (kmsKeyId !== undefined) {
        actions.push({ ActionType: "KMSEncryption", ActionParameters: { KMSKeyId: kmsKeyId, Challenge: randomChallenge } })
      }
      yield* Effect.ignore(channel.send(5, textEncoder.encode(JSON.stringify({
        AgentVersion: agentVersion,
        RequestedClientActions: actions
      }))))
      const response = yield* Deferred.await(handshake).pipe(Effect.timeout("15 seconds"), Effect.either)
      // the agent's words (datachannel.go PerformHandshake, handleHandshakeResponse; sessionplugin.go Execute)
      const failed = Either.isLeft(response)
        ? "Handshake timed out. Please ensure that you have the latest version of the session manager plugin."
        : response.right.ProcessedClientActions.filter((action) =>
          action.ActionStatus !== AgentPayload.ActionStatus.Success
        ).map((action) =>
          `${action.ActionType} failed on client with status ${action.ActionStatus} error: ${action.Error}`
        ).join("; ")
      if (failed !== "" || Either.isLeft(response)) {
        yield* closeChannel(
          send,
          sessionId,
          `Handshake failed: Encountered error while initiating handshake. ${failed}`,
          spec.shortChannelClosed ?? false
        )
        record.stats.closed = true
        return
      }
      if (kmsKeyId !== undefined) {
        // as the agent: kms:Decrypt the client's data key with its own context, then the challenge (8.1, 8.3)
        cipher = yield* SimulatorKms.agentHandshake({
          kms: simulatedKms,
          response: response.right,
          keyId: kmsKeyId,
          sessionId,
          targetId: spec.targetId ?? "i-simulated",
          randomChallenge,
          sendChallenge: (payload) => Effect.ignore(channel.send(8, payload)),
          answer: Deferred.await(challengeResponse).pipe(Effect.timeout("15 seconds"), Effect.option)
        })
        const agreed = cipher !== undefined
        if (!agreed) {
          cipher = undefined
          yield* closeChannel(send, sessionId, "Handshake failed: KMS encryption", spec.shortChannelClosed ?? false)
          record.stats.closed = true
          return
        }
        record.stats.encrypted = true
      }
      yield* Effect.ignore(channel.send(7, textEncoder.encode(JSON.stringify({
        HandshakeTimeToComplete: (Date.now() - started) * 1_000_000,
        CustomerMessage: kmsKeyId === undefined ? "" : "This session is encrypted using AWS KMS."
      }))))
      handshakeDone = true
    }

    // 4. the plugin, until it ends, the client terminates, or the socket goes away
    const io: AgentSimulator.PluginIO = {
      properties: spec.properties ?? null,
      clientVersion,
      agentVersion,
      input: Mailbox.toStream(input).pipe(Stream.mapChunks((chunk) => {
        for (const item of chunk) if (item._tag === "Data") inputBuffered -= item.bytes.length
        // the agent's write into the plugin blocks until taken (port_basic.go HandleStreamMessage: conn.Write) and
        // then goes on with the next buffered message; here a full input buffer refused it, so it goes on now.
        // Messages waiting in the incoming buffer are acknowledged already: nothing else would ever resume them
        if (inputBuffered < inputBufferSize) channel.resumeDelivery()
        return chunk
      })),
      write: (bytes) => writeOutput(1, bytes),
      writeStdErr: (bytes) => writeOutput(11, bytes),
      writeExitCode: (code) => writeOutput(12, textEncoder.encode(`EXIT_CODE: ${code}`)),
      sendFlag: (flag) => Effect.ignore(channel.send(10, new Uint8Array([0, 0, 0, flag]))),
      ready: Effect.sync(() => {
        pluginReady = true
        channel.resumeDelivery()
      })
    }
    const outcome = yield* Effect.raceFirst(
      Effect.either(Effect.scoped(spec.plugin.run(io))),
      Effect.as(Effect.raceFirst(Deferred.await(terminated), Deferred.await(record.terminate)), Either.right(undefined))
    ).pipe(
      Effect.raceFirst(Effect.as(Deferred.await(run.gone), Either.left("socket closed" as unknown))),
      Effect.raceFirst(Effect.as(Deferred.await(rateCapHit), Either.left("rate cap" as unknown)))
    )
    if (Either.isLeft(outcome) && outcome.left === "rate cap") {
      record.stats.closed = true
      yield* closeChannel(send, sessionId, "Session closed: message rate exceeded", false)
      return
    }
    if (Either.isLeft(outcome) && outcome.left === "socket closed") return
    // 5. as the agent: wait up to 2 s for our output to be acknowledged, then the service closes the channel
    yield* Effect.ignore(Effect.timeout(channel.drained, "2 seconds"))
    record.stats.closed = true
    yield* closeChannel(
      send,
      sessionId,
      Either.isLeft(outcome) ? `Plugin failed: ${String(outcome.left)}` : spec.closeOutput ?? "",
      spec.shortChannelClosed ?? false
    )
  })

/** @internal */
export const echoPlugin = (options: AgentSimulator.EchoPluginOptions = {}): AgentSimulator.Plugin => ({
  sessionType: options.sessionType ?? "Port",
  requireHandshake: options.requireHandshake ?? true,
  run: (io) =>
    Effect.gen(function*() {
      if (options.greeting !== undefined) yield* io.write(options.greeting)
      yield* Stream.runForEach(io.input, (item) => item._tag === "Data" ? io.write(item.bytes) : Effect.void)
      yield* Effect.never
    })
})

/** @internal */
export const downloadPlugin = (
  bytes: Uint8Array,
  options: AgentSimulator.DownloadPluginOptions = {}
): AgentSimulator.Plugin => ({
  sessionType: options.sessionType ?? "Port",
  requireHandshake: options.requireHandshake ?? true,
  run: (io) => options.end === true ? io.write(bytes) : Effect.zipRight(io.write(bytes), Effect.never)
})
