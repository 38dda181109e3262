/**
 * The agent side of a simulated session (AGENT-PROTOCOL.md sections 5-7, 9, 12, 14): the agent's data channel
 * (the same engine as the client's, sending `output_stream_data` with the SSM Agent's own sender), the handshake,
 * and the session plugin. It runs as long as the session does, across the client's WebSockets (`service.ts` carries
 * frames between them and it).
 *
 * One record (`AgentState`) holds what a running agent knows; each step is a function over it: `deliver` (the
 * client's messages), `countClientMessage` (the service's rate cap), `openChannel`, `handshake`, `pluginIO`.
 *
 * @internal
 */
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Encoding from "effect/Encoding"
import * as Mailbox from "effect/Mailbox"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as AgentMessage from "../../AgentMessage.js"
import * as AgentPayload from "../../AgentPayload.js"
import type * as AgentSimulator from "../../AgentSimulator.js"
import * as internalMessage from "../protocol/agentMessage.js"
import * as windowed from "../channel/windowedSender.js"
import * as DataChannel from "../channel/dataChannel.js"
import * as SessionCipher from "../crypto/sessionCipher.js"
import * as AgentSender from "./agentSender.js"
import { closeChannel, publication } from "./frames.js"
import * as SimulatorKms from "./kms.js"

import type { AgentRun, AgentState } from "./agentState.js"
import { agentChannels, agentFrameObservers, countClientMessage, deliver, makeAgentState } from "./agentState.js"

export { closeChannel, drained, makeFaultyPipe, prng, publication, toShortHeader } from "./frames.js"
export {
  type AgentFrameObserver,
  agentChannels,
  agentFrameObservers,
  type AgentRun,
  type AgentState,
  countClientMessage,
  deliver,
  makeAgentState,
  type SessionRecord
} from "./agentState.js"

const textEncoder = new TextEncoder()
const simulatorMetrics = DataChannel.makeMetrics("ssm_simulator")

/**
 * The sender the agent's channel runs: the SSM Agent's own (`agentSender.ts`) unless a test asks for this library's
 * (a window, fast resends), which is kinder. Either way the agent's first message carries SYN.
 */
const agentChannelSender = (agent: AgentState): DataChannel.Sender => {
  const { options, random } = agent.run
  const kind = agent.spec.sender ?? options.sender ?? "agent"
  if (kind === "agent") {
    const ackBeforeRecord = agent.spec.ackBeforeRecord ?? options.ackBeforeRecord ?? 0.02
    return AgentSender.make({ ackBeforeRecord: () => random() < ackBeforeRecord })
  }
  const sender = windowed.windowedSender(agent.spec.windowSize ?? options.windowSize ?? 1024)
  return { ...sender, flags: AgentSender.make().flags }
}

/**
 * The agent's data channel, reading the client's frames (faults applied) for the session's life.
 * @internal
 */
export const openChannel = (
  agent: AgentState,
  send: (frame: Uint8Array) => Effect.Effect<void>,
  observeReceived: ((frame: Uint8Array) => void) | undefined
): Effect.Effect<DataChannel.Channel, never, Scope.Scope> =>
  Effect.gen(function*() {
    const { options, record, sessionId } = agent.run
    const channel = yield* DataChannel.make({
      sends: AgentMessage.MessageType.OutputStreamData,
      send,
      cork: agent.run.cork,
      outgoingPayload: (payloadType, payload) =>
        agent.cipher !== undefined && SessionCipher.isEncrypted(payloadType, "agent")
          ? agent.cipher.encrypt(payload)
          : payload,
      deliver: (message, owned) => deliver(agent, message, owned),
      onChannelClosed: () => {},
      sender: agentChannelSender(agent),
      windowSize: agent.spec.windowSize ?? options.windowSize ?? 1024,
      reorderBufferSize: AgentSender.AGENT_BUFFER_CAPACITY,
      // the agent bounds only the count (datachannel.go handleStreamDataMessage)
      reorderAhead: Number.POSITIVE_INFINITY,
      reorderBufferBytes: Number.POSITIVE_INFINITY,
      messagesPerSecond: agent.spec.messagesPerSecond ?? options.messagesPerSecond ?? 1000,
      giveUpAfter: Duration.minutes(5),
      metrics: simulatorMetrics,
      onAckSample: options.onAcknowledged
    })
    record.channel = channel
    agentChannels.set(sessionId, channel)
    yield* Effect.addFinalizer(() => Effect.sync(() => agentChannels.delete(sessionId)))
    yield* Effect.forkScoped(Effect.forever(Effect.flatMap(agent.run.frames.takeAll, ([batch, done]) =>
      Effect.suspend(() => {
        for (const frame of batch) {
          observeReceived?.(frame)
          if (internalMessage.hasMessageType(frame, AgentMessage.MessageType.InputStreamData)) {
            countClientMessage(agent, Date.now())
          }
          channel.receive(frame)
        }
        return done ? Effect.interrupt : Effect.void
      })
    )).pipe(Effect.ignore))
    return channel
  })

/**
 * The handshake (`dc.go` PerformHandshake, handleHandshakeResponse; sessionplugin.go Execute): the request, the
 * response within 15 s, KMS if asked, and the completion. False when it failed and the channel was closed.
 * @internal
 */
export const handshake = (
  agent: AgentState,
  channel: DataChannel.Channel,
  send: (frame: Uint8Array) => Effect.Effect<void>
): Effect.Effect<boolean> =>
  Effect.gen(function*() {
    const { record, sessionId } = agent.run
    const spec = agent.spec
    const kmsKeyId = agent.kmsKeyId
    const started = Date.now()
    const actions: Array<unknown> = [{
      ActionType: "SessionType",
      // only the port plugin hands its parameters to the handshake; shells and commands send null
      // (GetPluginParameters in plugins/port/port.go, standardstream, singlecommand)
      ActionParameters: {
        SessionType: spec.plugin.sessionType,
        Properties: spec.plugin.sessionType === AgentPayload.SessionType.Port ? spec.properties ?? null : null
      }
    }]
    const randomChallenge = Encoding.encodeBase64(globalThis.crypto.getRandomValues(new Uint8Array(16)))
    if (kmsKeyId !== undefined) {
      actions.push({
        ActionType: "KMSEncryption",
        ActionParameters: { KMSKeyId: kmsKeyId, Challenge: randomChallenge }
      })
    }
    yield* Effect.ignore(channel.send(
      AgentMessage.PayloadType.HandshakeRequest,
      textEncoder.encode(JSON.stringify({ AgentVersion: agent.agentVersion, RequestedClientActions: actions }))
    ))
    const response = yield* Deferred.await(agent.handshakeResponse).pipe(Effect.timeout("15 seconds"), Effect.either)
    // the agent's words (datachannel.go PerformHandshake, handleHandshakeResponse; sessionplugin.go Execute)
    const failed = Either.isLeft(response)
      ? "Handshake timed out. Please ensure that you have the latest version of the session manager plugin."
      : response.right.ProcessedClientActions.filter((action) =>
        action.ActionStatus !== AgentPayload.ActionStatus.Success
      ).map((action) =>
        `${action.ActionType} failed on client with status ${action.ActionStatus} error: ${action.Error}`
      ).join("; ")
    const short = spec.shortChannelClosed ?? false
    if (failed !== "" || Either.isLeft(response)) {
      const output = `Handshake failed: Encountered error while initiating handshake. ${failed}`
      yield* closeChannel(send, sessionId, output, short)
      record.stats.closed = true
      return false
    }
    if (kmsKeyId !== undefined) {
      // as the agent: kms:Decrypt the client's data key with its own context, then the challenge (8.1, 8.3)
      agent.cipher = yield* SimulatorKms.agentHandshake({
        kms: agent.run.kms,
        response: response.right,
        keyId: kmsKeyId,
        sessionId,
        targetId: spec.targetId ?? "i-simulated",
        randomChallenge,
        sendChallenge: (payload) => Effect.ignore(channel.send(AgentMessage.PayloadType.EncChallengeRequest, payload)),
        answer: Deferred.await(agent.challengeResponse).pipe(Effect.timeout("15 seconds"), Effect.option)
      })
      if (agent.cipher === undefined) {
        yield* closeChannel(send, sessionId, "Handshake failed: KMS encryption", short)
        record.stats.closed = true
        return false
      }
      record.stats.encrypted = true
    }
    yield* Effect.ignore(channel.send(
      AgentMessage.PayloadType.HandshakeComplete,
      textEncoder.encode(JSON.stringify({
        HandshakeTimeToComplete: (Date.now() - started) * 1_000_000,
        CustomerMessage: kmsKeyId === undefined ? "" : "This session is encrypted using AWS KMS."
      }))
    ))
    agent.handshakeDone = true
    return true
  })

/** What the plugin runs with: the client's input, and writing to the client over the channel. @internal */
export const pluginIO = (agent: AgentState, channel: DataChannel.Channel): AgentSimulator.PluginIO => {
  const writeOutput = (payloadType: AgentMessage.PayloadType, bytes: Uint8Array) =>
    Effect.ignore(channel.send(payloadType, bytes))
  return {
    properties: agent.spec.properties ?? null,
    clientVersion: agent.run.clientVersion,
    agentVersion: agent.agentVersion,
    input: Mailbox.toStream(agent.input).pipe(Stream.mapChunks((chunk) => {
      for (const item of chunk) if (item._tag === "Data") agent.inputBuffered -= item.bytes.length
      // the agent's write into the plugin blocks until taken (port_basic.go HandleStreamMessage: conn.Write) and
      // then goes on with the next buffered message; here a full input buffer refused it, so it goes on now.
      // Messages waiting in the incoming buffer are acknowledged already: nothing else would ever resume them
      if (agent.inputBuffered < agent.inputBufferSize) channel.resumeDelivery()
      return chunk
    })),
    write: (bytes) => writeOutput(AgentMessage.PayloadType.Output, bytes),
    // dc.go SendStreamDataMessage sends what it is given as one message: a shell's read with the bytes
    // processStdoutData held before it, up to 1027
    writeMessage: (payloadType, bytes) => Effect.ignore(channel.send(payloadType, bytes, Math.max(1, bytes.length))),
    writeStdErr: (bytes) => writeOutput(AgentMessage.PayloadType.StdErr, bytes),
    writeExitCode: (code) => writeOutput(AgentMessage.PayloadType.ExitCode, textEncoder.encode(`EXIT_CODE: ${code}`)),
    sendFlag: (flag) => writeOutput(AgentMessage.PayloadType.Flag, new Uint8Array([0, 0, 0, flag])),
    ready: Effect.sync(() => {
      agent.pluginReady = true
      channel.resumeDelivery()
    })
  }
}

/**
 * Runs the agent side of a session until the plugin ends, the client terminates it, or the client is gone;
 * sends `channel_closed` when it ends the session itself.
 * @internal
 */
export const runAgent = (run: AgentRun): Effect.Effect<void, never, Scope.Scope> =>
  Effect.gen(function*() {
    const { record, sessionId } = run
    const observer = agentFrameObservers.get(sessionId)
    const observeSent = observer?.sent
    const send = observeSent === undefined ? run.send : (frame: Uint8Array) => {
      observeSent(frame)
      return run.send(frame)
    }
    const agent = yield* makeAgentState(run)
    const spec = agent.spec
    // 2. the agent's data channel
    const channel = yield* openChannel(agent, send, observer?.received)

    // pause_publication windows, as the service sends them while the other side is away
    if (run.faults.pausePublication !== undefined) {
      const pause = run.faults.pausePublication
      yield* Effect.forkScoped(Effect.forever(Effect.gen(function*() {
        yield* Effect.sleep(Duration.millis(pause.everyMillis))
        yield* send(publication("pause_publication"))
        record.stats.pauses++
        yield* Effect.sleep(Duration.millis(pause.forMillis))
        yield* send(publication("start_publication"))
      })))
    }

    // 3. the handshake
    if (!agent.handshakeDone && !(yield* handshake(agent, channel, send))) return

    // 4. the plugin, until it ends, the client terminates, or the socket goes away
    const outcome = yield* Effect.raceFirst(
      Effect.either(Effect.scoped(spec.plugin.run(pluginIO(agent, channel)))),
      Effect.as(
        Effect.raceFirst(Deferred.await(agent.terminated), Deferred.await(record.terminate)),
        Either.right(undefined)
      )
    ).pipe(
      Effect.raceFirst(Effect.as(Deferred.await(run.gone), Either.left("socket closed" as unknown))),
      Effect.raceFirst(Effect.as(Deferred.await(agent.rateCapHit), Either.left("rate cap" as unknown)))
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
      Either.isLeft(outcome) ? closingText(outcome.left) : spec.closeOutput ?? "",
      spec.shortChannelClosed ?? false
    )
  })

/**
 * A plugin's failure that the service passes on as `channel_closed`'s output word for word (the agent's plugin
 * output marked failed, as shell.go does with "Unable to start command: …").
 * @internal
 */
export class ClosingOutput {
  readonly _tag = "ClosingOutput"
  constructor(readonly output: string) {}
}

/** channel_closed's output for a plugin that failed */
const closingText = (failure: unknown): string =>
  failure instanceof ClosingOutput ? failure.output : `Plugin failed: ${String(failure)}`

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
