/**
 * The simulated service's state, in named records: `ServiceState` (the sessions, the credentials, the documents
 * created, the instances, the simulator's KMS and where it listens), `ServiceSession` (one session: its token, its
 * agent's frames, the WebSocket carrying it, its timers) and `Attachment` (one client WebSocket carrying a
 * session). The behaviours are top-level functions over them: `attachments.ts` (carrying frames), `faults.ts`
 * (dropping WebSockets, losing sessions), `connections.ts` (a WebSocket's life), `api.ts` and `httpApi.ts` (the
 * SSM and KMS APIs); `service.ts` only wires them to a server and a scope.
 *
 * @internal
 */
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberId from "effect/FiberId"
import * as Mailbox from "effect/Mailbox"
import * as Redacted from "effect/Redacted"
import * as Crypto from "node:crypto"
import type * as WS from "ws"
import type * as AgentSimulator from "../../AgentSimulator.js"
import * as Agent from "./agent.js"
import * as SimulatorKms from "./kms.js"

/** Bytes queued on a WebSocket before the agent's writer waits, as a blocking write would. @internal */
export const SEND_BUFFER_LIMIT = 1024 * 1024

/**
 * Frames the agent sent while no WebSocket carried the session (before the pause reached it), which the service
 * delivers when one does; past this many they are lost.
 * @internal
 */
export const BACKLOG_LIMIT = 1024

/** How long frames sent may stay "in flight" (behind the `lostFrames` newest) before they are delivered. @internal */
export const IN_FLIGHT_MILLIS = 2

/** The largest WebSocket message a data channel takes (the `ws` default is 100 MiB). @internal */
export const MESSAGE_LIMIT = 4 * 1024 * 1024

/** The ways to drop a client's WebSocket (see `AgentSimulator.DropConnection`). @internal */
export type CloseMode = "abrupt" | "reset" | "recycle" | "silent"

/** One client WebSocket carrying a session. @internal */
export interface Attachment {
  readonly socket: WS.WebSocket
  /** agent → client, through the toClient faults */
  readonly outgoing: { readonly push: (frame: Uint8Array) => void }
  /** the newest frames sent, not yet delivered: lost if the WebSocket is dropped now */
  inFlight: Array<Uint8Array>
  readonly lostFrames: number
  flushTimer: ReturnType<typeof setTimeout> | undefined
  dropTimer: ReturnType<typeof setTimeout> | undefined
  live: boolean
}

/** One session as the service keeps it, across the client's WebSockets. @internal */
export interface ServiceSession extends Agent.SessionRecord {
  readonly id: string
  /** the token the next WebSocket must present; each is good for one */
  token: string | undefined
  readonly faults: AgentSimulator.Faults
  readonly random: () => number
  readonly frames: Mailbox.Mailbox<Uint8Array>
  readonly incoming: { readonly push: (frame: Uint8Array) => void }
  attached: Attachment | undefined
  /** see `BACKLOG_LIMIT` */
  backlog: Array<Uint8Array>
  agentStarted: boolean
  /** the agent side has ended */
  ended: boolean
  /** the client stayed away past the grace period: the session timed out */
  expired: boolean
  /** `closeAfterMessages`: the service lost the session, which cannot be resumed */
  killed: boolean
  readonly gone: Deferred.Deferred<void>
  graceTimer: ReturnType<typeof setTimeout> | undefined
  /** frames the agent has sent, and how many when the last drop was */
  sent: number
  sentAtDrop: number
  resumeCalls: number
}

/** The simulated service: everything the API and the connections share. @internal */
export interface ServiceState {
  readonly options: AgentSimulator.SimulatorOptions
  readonly sessions: Map<string, ServiceSession>
  /** what the HTTP API's callers must sign with */
  readonly credentials: AgentSimulator.SimulatorCredentials
  /** access key ids `expireCredentials` named */
  readonly expiredAccessKeys: Set<string>
  /**
   * Session documents created through CreateDocument (their names), beside the ones the simulator plays (a created
   * document the simulator does not know runs the echo plugin).
   */
  readonly createdDocuments: Set<string>
  /** the managed nodes DescribeInstanceInformation lists */
  readonly instances: ReadonlyArray<AgentSimulator.SimulatedInstance>
  /** the simulator's KMS: the data keys clients make are the ones its agent can decrypt */
  readonly kms: SimulatorKms.SimulatedKms
  readonly graceMillis: number
  readonly openFrameMillis: number
  readonly host: string
  /** the port listened on (0 until the server listens) */
  port: number
  /** runs a session's agent in the simulator's scope */
  readonly fork: (effect: Effect.Effect<void>) => void
}

/** Fresh credentials for a simulator (see `AgentSimulator.SimulatorCredentials`). @internal */
export const generateCredentials = (): AgentSimulator.SimulatorCredentials => ({
  accessKeyId: `AKIASIM${Crypto.randomBytes(8).toString("hex").toUpperCase()}`,
  secretAccessKey: Redacted.make(Crypto.randomBytes(30).toString("base64url"))
})

/** The account's one managed node when `instances` lists none. @internal */
export const defaultInstances: ReadonlyArray<AgentSimulator.SimulatedInstance> = [{
  instanceId: "i-simulated",
  tags: { Name: "simulated" },
  computerName: "simulated",
  ipAddress: "127.0.0.1"
}]

/** A service with no sessions yet, for `options`; `fork` runs the agents. @internal */
export const makeState = (
  options: AgentSimulator.SimulatorOptions,
  fork: (effect: Effect.Effect<void>) => void
): ServiceState => ({
  options,
  sessions: new Map(),
  credentials: generateCredentials(),
  expiredAccessKeys: new Set(),
  createdDocuments: new Set(),
  instances: options.instances ?? defaultInstances,
  kms: SimulatorKms.make(),
  graceMillis: Duration.toMillis(Duration.decode(options.resumeGrace ?? "2 minutes")),
  openFrameMillis: Duration.toMillis(Duration.decode(options.openFrameTimeout ?? "5 seconds")),
  host: options.host ?? "127.0.0.1",
  port: options.port ?? 0,
  fork
})

/** A data-channel token: good for one WebSocket. @internal */
export const newToken = () => `${globalThis.crypto.randomUUID()}${globalThis.crypto.randomUUID()}`

/** Where a session's WebSockets connect. @internal */
export const streamUrl = (state: ServiceState, sessionId: string) =>
  `ws://${state.host}:${state.port}/v1/data-channel/${encodeURIComponent(sessionId)}?role=publish_subscribe`

/** A new session for `spec`, with its first token, not yet carried by any WebSocket. @internal */
export const newSession = (
  state: ServiceState,
  sessionId: string,
  spec: AgentSimulator.SessionSpec,
  token: string
): ServiceSession => {
  const faults = { ...state.options.faults, ...spec.faults }
  const random = Agent.prng(faults.seed ?? 1)
  const frames = Effect.runSync(Mailbox.make<Uint8Array>())
  return {
    id: sessionId,
    spec,
    token,
    faults,
    random,
    frames,
    incoming: Agent.makeFaultyPipe(faults.toAgent, random, (frame) => frames.unsafeOffer(frame)),
    attached: undefined,
    backlog: [],
    agentStarted: false,
    ended: false,
    expired: false,
    killed: false,
    gone: Deferred.unsafeMake<void>(FiberId.none),
    graceTimer: undefined,
    sent: 0,
    sentAtDrop: 0,
    resumeCalls: 0,
    stats: {
      connections: 0,
      openConnections: 0,
      closed: false,
      handshakeResponses: 0,
      terminateFlags: 0,
      terminatedByApi: false,
      dataMessagesReceived: 0,
      rateCapClosed: false,
      pauses: 0,
      pings: 0,
      encrypted: false,
      decryptionFailures: 0,
      resumes: 0,
      drops: 0
    },
    channel: undefined,
    terminate: Deferred.unsafeMake<void>(FiberId.none)
  }
}

/** Stops a session's timers: its grace period, and its WebSocket's drop and in-flight timers. @internal */
export const clearTimers = (session: ServiceSession) => {
  if (session.graceTimer !== undefined) clearTimeout(session.graceTimer)
  session.graceTimer = undefined
  const attached = session.attached
  if (attached?.dropTimer !== undefined) clearTimeout(attached.dropTimer)
  if (attached?.flushTimer !== undefined) clearTimeout(attached.flushTimer)
}

/** Whether `dropConnection.times` allows another drop. @internal */
export const dropsLeft = (session: ServiceSession) =>
  session.stats.drops < (session.faults.dropConnection?.times ?? Infinity)
