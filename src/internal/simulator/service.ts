/**
 * The simulated Session Manager service: a WebSocket server on 127.0.0.1, with the SSM JSON API (StartSession for
 * every document the simulator plays, ResumeSession, TerminateSession, DescribeInstanceInformation,
 * CreateDocument), KMS's GenerateDataKey and ECS's ExecuteCommand, DescribeTasks and ListTasks (`ecs.ts`) over HTTP
 * on the same port. It carries frames
 * between each client WebSocket and the session's agent side (`agent.ts`), which lives as long as the session,
 * not the WebSocket: while the client is away the agent is paused (`pause_publication`, as the service does,
 * AGENT-PROTOCOL.md section 9) for up to `resumeGrace`, and ResumeSession hands out a fresh single-use token
 * (section 11.3).
 *
 * Seeded faults: frames dropped, duplicated, reordered or delayed; garbage frames; WebSockets dropped every so
 * many frames or milliseconds (abruptly, or closed with 1000 as the service's hourly recycle) with the frames in
 * flight lost; the session lost for good; resumes refused; credentials expired.
 *
 * The state is one record (`serviceState.ts` `ServiceState`); its behaviours are functions over it (`api.ts`,
 * `httpApi.ts`, `connections.ts`, `attachments.ts`, `faults.ts`). `make` only wires it to a server and a scope.
 *
 * @internal
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as FiberSet from "effect/FiberSet"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as Http from "node:http"
import * as WS from "ws"
import type * as AgentSimulator from "../../AgentSimulator.js"
import type * as EcsApi from "../../EcsApi.js"
import type * as KmsApi from "../../KmsApi.js"
import type * as Resumer from "../../Resumer.js"
import type * as SsmApi from "../../SsmApi.js"
import * as ecsApi from "../aws/ecsApi.js"
import * as kmsApi from "../aws/kmsApi.js"
import * as ssmApi from "../aws/ssmApi.js"
import * as NodeSession from "../../NodeSession.js"
import * as Api from "./api.js"
import { onConnection } from "./connections.js"
import { SimulatorError } from "./error.js"
import { dropConnection } from "./faults.js"
import { serveApi } from "./httpApi.js"
import * as Port from "./port.js"
import { clearTimers, makeState, MESSAGE_LIMIT, type ServiceState } from "./serviceState.js"

/** The HTTP server with the data channel's WebSocket server on it, listening; closed with the scope. */
const listen = (state: ServiceState) =>
  Effect.acquireRelease(
    Effect.async<{ server: Http.Server; webSockets: WS.WebSocketServer }, SimulatorError>((resume) => {
      const server = Http.createServer(serveApi(state))
      const webSockets = new WS.WebSocketServer({ server, maxPayload: MESSAGE_LIMIT })
      // ws re-emits the server's errors, a failure to listen among them: heard here, it fails `make` (below)
      // instead of ending the process as an unhandled "error"
      webSockets.on("error", () => {})
      server.once("listening", () => resume(Effect.succeed({ server, webSockets })))
      server.once("error", (cause) =>
        resume(Effect.fail(
          new SimulatorError({
            reason: "Listen",
            detail: `cannot listen on ${state.host}:${state.options.port ?? 0}: ${cause.message}`,
            cause
          })
        )))
      server.listen(state.options.port ?? 0, state.host)
    }),
    ({ server, webSockets }) =>
      Effect.async<void>((resume) => {
        for (const session of state.sessions.values()) clearTimers(session)
        for (const client of webSockets.clients) client.terminate()
        webSockets.close()
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  )

/** The running simulator's operations, over its state. */
const simulatorOf = (state: ServiceState): AgentSimulator.AgentSimulator => ({
  host: state.host,
  port: state.port,
  endpoint: `http://${state.host}:${state.port}`,
  credentials: state.credentials,
  kms: state.kms.kms,
  startSession: (spec) => Effect.sync(() => Api.startSession(state, spec)),
  resumeSession: (sessionId) =>
    Effect.mapError(Effect.suspend(() => Api.resumeSession(state, sessionId)), (failure) =>
      new ssmApi.SsmApiError({
        reason: ssmApi.reasonOf({ name: failure.name }),
        operation: "ResumeSession",
        detail: failure.message
      })),
  terminateSession: (sessionId) => Effect.sync(() => Api.terminateSession(state, sessionId)),
  describeInstanceInformation: (filters) => Effect.sync(() => Api.describeInstanceInformation(state, filters)),
  dropConnection: (sessionId, close = "abrupt") =>
    Effect.sync(() => {
      const session = state.sessions.get(sessionId)
      return session === undefined ? false : dropConnection(state, session, close)
    }),
  expireCredentials: (accessKeyId) => Effect.sync(() => void state.expiredAccessKeys.add(accessKeyId)),
  sessionStats: (sessionId) => Effect.sync(() => Api.sessionStats(state, sessionId))
})

/** @internal */
export const make = (
  options: AgentSimulator.SimulatorOptions = {}
): Effect.Effect<AgentSimulator.AgentSimulator, AgentSimulator.SimulatorError, Scope.Scope> =>
  Effect.gen(function*() {
    const agents = yield* FiberSet.make()
    const runFork = yield* FiberSet.runtime(agents)<never>()
    const state = makeState(options, (agent) => void runFork(agent))
    const { server, webSockets } = yield* listen(state)
    state.port = (server.address() as { port: number }).port
    // after listening, errors are per connection: none may end the process (a listener keeps them from throwing)
    server.on("error", () => {})
    webSockets.on("connection", (socket, request) => onConnection(state, socket, request))
    return simulatorOf(state)
  })

/** @internal */
export const simulatorTag = Context.GenericTag<AgentSimulator.AgentSimulator>("ssm-session-manager/AgentSimulator")

/** @internal */
export const layerSsmApi = (
  spec: (request: SsmApi.StartSessionRequest) => AgentSimulator.SessionSpec
): Layer.Layer<SsmApi.SsmApi | Resumer.Resumer, never, AgentSimulator.AgentSimulator> =>
  // with the Resumer that asks this SsmApi, as SsmApi's own layer provides: a Session made on it resumes
  Layer.provideMerge(ssmApi.layerResumer, Layer.effect(
    ssmApi.tag,
    Effect.map(simulatorTag, (simulator): SsmApi.SsmApi => ({
      startSession: (request) =>
        Effect.map(simulator.startSession({ targetId: request.target, ...spec(request) }), (response) => ({
          sessionId: response.SessionId,
          streamUrl: response.StreamUrl,
          tokenValue: response.TokenValue
        })),
      resumeSession: (sessionId) =>
        Effect.map(simulator.resumeSession(sessionId), Option.map((response) => ({
          sessionId: response.SessionId,
          streamUrl: response.StreamUrl,
          tokenValue: response.TokenValue
        }))),
      describeInstanceInformation: simulator.describeInstanceInformation,
      terminateSession: (sessionId) =>
        Effect.flatMap(simulator.terminateSession(sessionId), (known) =>
          known ? Effect.void : Effect.fail(
            new ssmApi.SsmApiError({
              reason: "DoesNotExist",
              operation: "TerminateSession",
              detail: `Session ${sessionId} does not exist`
            })
          ))
    }))
  ))

/** @internal */
export const layerKmsApi: Layer.Layer<KmsApi.KmsApi, never, AgentSimulator.AgentSimulator> = Layer.effect(
  kmsApi.tag,
  Effect.map(simulatorTag, (simulator) => simulator.kms)
)

/**
 * `services` over the simulator in the context; without one (a wiring the compiler was told to accept, or plain
 * JavaScript) a defect that says what to provide, in place of Effect's "Service not found".
 * @internal
 */
export const withSimulator = <A>(
  name: string,
  services: Layer.Layer<A, never, AgentSimulator.AgentSimulator>
): Layer.Layer<A, never, AgentSimulator.AgentSimulator> =>
  Layer.unwrapEffect(Effect.map(
    Effect.serviceOption(simulatorTag),
    Option.match({
      onNone: (): Layer.Layer<A> =>
        Layer.die(
          new Error(
            `AgentSimulator.${name} needs an AgentSimulator: provide one to it (AgentSimulator.layer(options), say, with ` +
              `Layer.provideMerge), or use AgentSimulator.layerAll(options), which starts one`
          )
        ),
      onSome: (simulator) => Layer.provide(services, Layer.succeed(simulatorTag, simulator))
    })
  ))

/**
 * The real ECS client (`EcsApi.layer`) over the simulator's HTTP API, signing with its credentials, with the SDK's
 * own retries: its answers are final (ECS's refusals are not retried), but a kept-alive connection the HTTP server
 * closes just as a call reuses it fails with ECONNRESET, which the SDK retries on a new one (CI met it once with a
 * single attempt).
 * @internal
 */
export const layerEcsApi: Layer.Layer<EcsApi.EcsApi, never, AgentSimulator.AgentSimulator> = Layer.unwrapEffect(
  Effect.map(simulatorTag, (simulator) =>
    ecsApi.layer({
      region: "us-east-1",
      endpoint: simulator.endpoint,
      credentials: {
        accessKeyId: simulator.credentials.accessKeyId,
        secretAccessKey: Redacted.value(simulator.credentials.secretAccessKey)
      }
    }))
)

/** `AgentSimulator.layerAll`: a simulator for `options`, and the services over it. @internal */
export const layerAll = (
  options: AgentSimulator.SimulatorOptions
): Layer.Layer<AgentSimulator.Services, AgentSimulator.SimulatorError> =>
  Layer.mergeAll(
    layerSsmApi(options.sessionSpec ?? ((request) => Port.documentSpec(request, options.remoteProcess))),
    layerKmsApi,
    layerEcsApi,
    NodeSession.layerWebSocketConstructor
  ).pipe(Layer.provideMerge(Layer.scoped(simulatorTag, make(options))))
