/**
 * What a simulated agent is and knows (`AgentState`), with the steps that only read and change it: taking the
 * client's data messages (`deliver`) and counting them against the service's rate cap. The service's view of a
 * session (`SessionRecord`) and what an agent runs with (`AgentRun`) are here too. `agent.ts` runs it.
 *
 * @internal
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Mailbox from "effect/Mailbox"
import * as AgentMessage from "../../AgentMessage.js"
import * as AgentPayload from "../../AgentPayload.js"
import type * as AgentSimulator from "../../AgentSimulator.js"
import type * as DataChannel from "../channel/dataChannel.js"
import type * as SessionCipher from "../crypto/sessionCipher.js"
import { readUint32 } from "../protocol/agentMessage.js"
import * as Version from "../protocol/version.js"
import type * as SimulatorKms from "./kms.js"

const decodeResponse = AgentPayload.decodePayload(AgentPayload.jsonPayload(AgentPayload.HandshakeResponse))
const decodeChallenge = AgentPayload.decodePayload(AgentPayload.jsonPayload(AgentPayload.EncryptionChallenge))
const decodeSize = AgentPayload.decodePayload(AgentPayload.jsonPayload(AgentPayload.TerminalSize))

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
 * What a running agent knows: its run, what it was asked to be, and the state of its handshake, plugin input and the
 * service's rate cap.
 * @internal
 */
export interface AgentState {
  readonly run: AgentRun
  readonly spec: AgentSimulator.SessionSpec
  readonly agentVersion: string
  /** agents up to 2.3.722.0 ignore the TerminateSession flag (the client calls the API instead) */
  readonly honoursTerminateFlag: boolean
  /** the account's KMS preference applies to every session type but Port (section 8.5) */
  readonly kmsKeyId: string | undefined
  /** the client's data for the plugin, and the bytes of it not yet read */
  readonly input: Mailbox.Mailbox<AgentSimulator.PluginInput>
  inputBuffered: number
  readonly inputBufferSize: number
  readonly handshakeResponse: Deferred.Deferred<AgentPayload.HandshakeResponse, string>
  readonly challengeResponse: Deferred.Deferred<Uint8Array, string>
  handshakeDone: boolean
  pluginReady: boolean
  /** completed by the client's TerminateSession flag */
  readonly terminated: Deferred.Deferred<void>
  /** the agent's side of a KMS session's encryption, once the handshake set it up */
  cipher: SessionCipher.SessionCipher | undefined
  /** the service's message-rate cap: one-second windows of client data messages, and since when they exceed it */
  readonly rateCapHit: Deferred.Deferred<void>
  rateWindowStart: number
  rateWindowCount: number
  rateExceededSince: number | undefined
}

/** The record of an agent about to start. @internal */
export const makeAgentState = (run: AgentRun): Effect.Effect<AgentState> =>
  Effect.gen(function*() {
    const spec = run.record.spec
    const agentVersion = spec.agentVersion ?? run.options.agentVersion ?? "3.3.1142.0"
    // null: none, whatever the account says (an ECS exec session: the cluster's key or none)
    const kmsKeyId = spec.kmsKeyId === null ? undefined : spec.kmsKeyId ??
      (spec.plugin.sessionType === AgentPayload.SessionType.Port ? undefined : run.options.kmsKeyId)
    return {
      run,
      spec,
      agentVersion,
      honoursTerminateFlag: Version.isGreaterThan(agentVersion, Version.TERMINATE_FLAG_AFTER),
      kmsKeyId,
      input: yield* Mailbox.make<AgentSimulator.PluginInput>(),
      inputBuffered: 0,
      inputBufferSize: spec.inputBufferSize ?? 1024 * 1024,
      handshakeResponse: yield* Deferred.make<AgentPayload.HandshakeResponse, string>(),
      challengeResponse: yield* Deferred.make<Uint8Array, string>(),
      handshakeDone: !(spec.plugin.requireHandshake || kmsKeyId !== undefined),
      pluginReady: spec.plugin.signalsReady !== true,
      terminated: yield* Deferred.make<void>(),
      cipher: undefined,
      rateCapHit: yield* Deferred.make<void>(),
      rateWindowStart: Date.now(),
      rateWindowCount: 0,
      rateExceededSince: undefined
    }
  })

/** A data message of the handshake, which the agent takes before its plugin runs. */
const deliverHandshake = (agent: AgentState, message: AgentMessage.AgentMessage): boolean => {
  if (message.payloadType === AgentMessage.PayloadType.HandshakeResponse) {
    agent.run.record.stats.handshakeResponses++
    const response = decodeResponse(message.payload)
    Deferred.unsafeDone(
      agent.handshakeResponse,
      Either.isRight(response) ? Exit.succeed(response.right) : Exit.fail(response.left.detail)
    )
  }
  if (message.payloadType === AgentMessage.PayloadType.EncChallengeResponse) {
    const response = decodeChallenge(message.payload)
    Deferred.unsafeDone(
      agent.challengeResponse,
      Either.isRight(response) ? Exit.succeed(response.right.Challenge) : Exit.fail(response.left.detail)
    )
  }
  // anything else during the handshake is acknowledged and discarded, as the agent does
  return true
}

/**
 * The engine's `deliver`: one client data message, in order. False when the agent cannot take it now (its plugin is
 * not ready, or has not read 1 MiB of input): it then goes unacknowledged, or waits in the reorder buffer.
 * @internal
 */
export const deliver = (agent: AgentState, message: AgentMessage.AgentMessage, owned: boolean): boolean => {
  if (!agent.handshakeDone) return deliverHandshake(agent, message)
  if (!agent.pluginReady) return false
  switch (message.payloadType) {
    case AgentMessage.PayloadType.Output: {
      if (agent.inputBuffered >= agent.inputBufferSize) return false
      const bytes = agent.cipher !== undefined
        ? agent.cipher.decrypt(message.payload)
        : owned
        ? message.payload
        : message.payload.slice()
      if (bytes === undefined) {
        agent.run.record.stats.decryptionFailures++
        return false
      }
      agent.inputBuffered += bytes.length
      agent.input.unsafeOffer({ _tag: "Data", bytes })
      return true
    }
    case AgentMessage.PayloadType.Size: {
      // read as the agent's Go decoder reads its SizeData (shell.go): lenient keys, missing fields 0
      const size = decodeSize(message.payload)
      if (Either.isRight(size)) agent.input.unsafeOffer({ _tag: "Size", cols: size.right.cols, rows: size.right.rows })
      return true
    }
    case AgentMessage.PayloadType.Flag: {
      const flag = readFlag(message.payload)
      if (flag === AgentMessage.FlagPayload.TerminateSession) {
        agent.run.record.stats.terminateFlags++
        if (agent.honoursTerminateFlag) Deferred.unsafeDone(agent.terminated, Exit.void)
      } else agent.input.unsafeOffer({ _tag: "Flag", flag })
      return true
    }
    default:
      return true
  }
}

/** A Flag payload's 4 big-endian bytes as a number (0 for any other length), as the agent reads it. */
const readFlag = (p: Uint8Array): number =>
  p.length === 4 ? readUint32(p, 0) : 0

/**
 * Counts one client data message against the service's message-rate cap: too many per second for too long closes
 * the channel (`rateCapHit`).
 * @internal
 */
export const countClientMessage = (agent: AgentState, now: number): void => {
  agent.run.record.stats.dataMessagesReceived++
  const cap = agent.run.faults.rateCap
  if (cap === undefined) return
  if (now - agent.rateWindowStart >= 1000) {
    const exceeded = agent.rateWindowCount > cap.messagesPerSecond
    agent.rateExceededSince = exceeded ? agent.rateExceededSince ?? agent.rateWindowStart : undefined
    agent.rateWindowStart = now
    agent.rateWindowCount = 0
  }
  agent.rateWindowCount++
  if (agent.rateWindowCount > cap.messagesPerSecond) agent.rateExceededSince ??= agent.rateWindowStart
  if (agent.rateExceededSince !== undefined && now - agent.rateExceededSince >= (cap.sustainedMillis ?? 2000)) {
    agent.run.record.stats.rateCapClosed = true
    Deferred.unsafeDone(agent.rateCapHit, Exit.void)
  }
}
