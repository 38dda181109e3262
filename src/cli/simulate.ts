/**
 * `simulate`: runs the agent simulator with the plugin the service would choose for a StartSession request (port
 * sessions dialling their real destination, shells and commands on this machine), or the echo plugin, and prints
 * one StartSession-like response per session, so any client (this library's, or AWS's session-manager-plugin)
 * can be pointed at it. Serves until interrupted.
 *
 * One simulated session serves one client: once its plugin ends or the client terminates it, the simulator
 * refuses further connections to it (WebSocket close 4004); a connection that drops without ending it is waited
 * for (the agent paused) until the client resumes the session with ResumeSession over HTTP.
 * `--sessions N` prints N responses for N clients. The endpoint printed on stderr serves the SSM API
 * (StartSession for every document the simulator plays, ResumeSession, TerminateSession,
 * DescribeInstanceInformation, CreateDocument), KMS's GenerateDataKey and ECS's ExecuteCommand, DescribeTasks and
 * ListTasks (the world `SimulatorEcs.DEFAULT_ECS`: cluster `sim`, service `web`, container `app`) to AWS SDK
 * clients in other processes that sign with the credentials the simulator generated, which the next stderr line
 * gives as `export AWS_ACCESS_KEY_ID=… AWS_SECRET_ACCESS_KEY=… AWS_ENDPOINT_URL_SSM=… AWS_ENDPOINT_URL_KMS=…
 * AWS_ENDPOINT_URL_ECS=…`.
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { PortType, SessionType } from "../AgentPayload.js"
import * as AgentSimulator from "../AgentSimulator.js"
import * as SimulatorDocuments from "../SimulatorDocuments.js"
import * as SimulatorEcs from "../SimulatorEcs.js"
import { CliError } from "./error.js"

const { defaultShell, documentNames, documents, portParameters } = SimulatorDocuments

/** the ECS world `simulate` plays, as its stderr names it: `SimulatorEcs.DEFAULT_ECS`, one cluster, one task */
const ecsCluster = SimulatorEcs.DEFAULT_ECS.clusters[0]!
const ecsWorld = `${ecsCluster.name}, task ${ecsCluster.tasks[0]!.taskId} of service ${ecsCluster.tasks[0]!.service}`

/** The session types `--session-type` offers, in the order its help lists them. */
const sessionTypes = [
  SessionType.Port,
  SessionType.StandardStream,
  SessionType.InteractiveCommands,
  SessionType.NonInteractiveCommands
] as const
type SimulatedType = typeof sessionTypes[number]

const port = Options.integer("port").pipe(
  Options.withDefault(0),
  Options.withDescription("port on 127.0.0.1 the simulator listens on (0: any free port, in the StreamUrl)")
)
const documentName = Options.text("document-name").pipe(
  Options.optional,
  Options.withDescription(
    `the session document, as StartSession's DocumentName: ${documentNames.join(", ")} ` +
      "(default: none, the default shell, unless --session-type says otherwise)"
  )
)
const parameter = Options.text("parameter").pipe(
  Options.repeated,
  Options.withDescription(
    "a document parameter as key=value (the value is everything after the first =), repeatable: " +
      "--parameter portNumber=5432 --parameter host=db.local, as StartSession's Parameters; commands run as the " +
      "agent runs them, split into words without a shell: --parameter \"command=sh -c 'echo hi; exit 3'\""
  )
)
const portNumber = Options.integer("port-number").pipe(
  Options.optional,
  Options.withDescription("the destination port of a Port session (short for --parameter portNumber=N)")
)
const sessionType = Options.choice("session-type", sessionTypes).pipe(
  Options.optional,
  Options.withDescription(
    "without --document-name: Port forwards to --port-number (AWS-StartPortForwardingSession, or ...ToRemoteHost " +
      "with --parameter host=...), Standard_Stream is the default shell, InteractiveCommands and " +
      "NonInteractiveCommands run --parameter command=... (AWS-StartInteractiveCommand, " +
      "AWS-StartNonInteractiveCommand); with --echo: the session type the echo plugin announces (default Port)"
  )
)
const echo = Options.boolean("echo").pipe(
  Options.withDescription("serve the echo plugin (every byte sent comes back) instead of a document's plugin")
)
const target = Options.text("target").pipe(
  Options.withDefault("i-simulated"),
  Options.withDescription("the StartSession target, the instance id the agent uses (KMS encryption context)")
)
const kmsKeyId = Options.text("kms-key-id").pipe(
  Options.optional,
  Options.withDescription(
    "play an account whose preferences encrypt shells and commands with this KMS key: the client calls " +
      "GenerateDataKey, which the simulator serves too (AWS_ENDPOINT_URL_KMS set to its endpoint)"
  )
)
const agentVersion = Options.text("agent-version").pipe(
  Options.withDefault("3.3.1142.0"),
  Options.withDescription("the AgentVersion of the handshake, which also picks the agent's behaviour (smux, ...)")
)
const messagesPerSecond = Options.integer("messages-per-second").pipe(
  Options.withDefault(1000),
  Options.withDescription("pacing of the agent's data messages (0: none)")
)
const sessions = Options.integer("sessions").pipe(
  Options.withDefault(1),
  Options.withDescription(
    "start this many sessions alike, one response line each (one per client); 0: none, the HTTP API alone"
  )
)
const rate = (name: string, what: string) =>
  Options.float(name).pipe(
    Options.withDefault(0),
    Options.withDescription(`probability (0 to 1) that a frame, in either direction, is ${what}`)
  )
const drop = rate("drop", "dropped")
const duplicate = rate("duplicate", "sent twice")
const reorder = rate("reorder", "held and sent after the next one")
const delay = rate("delay", "sent --delay-millis later")
const garbage = Options.float("garbage").pipe(
  Options.withDefault(0),
  Options.withDescription("probability (0 to 1) of a garbage frame before each frame to the client")
)
const delayMillis = Options.integer("delay-millis").pipe(
  Options.withDefault(20),
  Options.withDescription("how late a delayed frame goes")
)
const seed = Options.integer("seed").pipe(
  Options.withDefault(1),
  Options.withDescription("seed of the faults, so that a run replays")
)

/**
 * The flags of `simulate`, as parsed.
 *
 * @since 0.1.0
 * @category models
 */
export interface SimulateOptions {
  readonly port: number
  readonly documentName: Option.Option<string>
  readonly parameter: ReadonlyArray<string>
  readonly portNumber: Option.Option<number>
  readonly sessionType: Option.Option<SimulatedType>
  readonly echo: boolean
  readonly target: string
  readonly kmsKeyId: Option.Option<string>
  readonly agentVersion: string
  readonly messagesPerSecond: number
  readonly sessions: number
  readonly drop: number
  readonly duplicate: number
  readonly reorder: number
  readonly delay: number
  readonly delayMillis: number
  readonly garbage: number
  readonly seed: number
}

/**
 * What the flags ask for: the simulator's options, and the spec of each session (a new plugin each time).
 *
 * @since 0.1.0
 * @category models
 */
export interface SimulatePlan {
  readonly simulator: AgentSimulator.SimulatorOptions
  readonly sessions: number
  readonly spec: () => AgentSimulator.SessionSpec
}

const invalid = (detail: string) => Effect.fail(new CliError({ reason: "InvalidOptions", detail }))

const list = (names: ReadonlyArray<string>) => names.length === 0 ? "none" : names.join(", ")

/**
 * Checks the flags and turns them into a plan, with the document and parameter checks the service makes on a
 * StartSession request.
 *
 * @since 0.1.0
 * @category parsing
 */
export const plan = (options: SimulateOptions): Effect.Effect<SimulatePlan, CliError> =>
  Effect.gen(function*() {
    const rates = {
      drop: options.drop,
      duplicate: options.duplicate,
      reorder: options.reorder,
      delay: options.delay,
      garbage: options.garbage
    }
    for (const [name, value] of Object.entries(rates)) {
      if (!(value >= 0 && value <= 1)) return yield* invalid(`--${name} must be a probability from 0 to 1, got ${value}`)
    }
    if (options.port < 0 || options.port > 65535) return yield* invalid(`--port must be from 0 to 65535, got ${options.port}`)
    if (options.messagesPerSecond < 0) {
      return yield* invalid(`--messages-per-second must be 0 (no pacing) or more, got ${options.messagesPerSecond}`)
    }
    if (options.delayMillis < 0) return yield* invalid(`--delay-millis must be 0 or more, got ${options.delayMillis}`)
    if (options.sessions < 0) return yield* invalid(`--sessions must be 0 (the HTTP API alone) or more, got ${options.sessions}`)
    if (!/^\d+(\.\d+){0,3}$/.test(options.agentVersion)) {
      return yield* invalid(`--agent-version must be a version such as 3.3.1142.0, got "${options.agentVersion}"`)
    }
    if (options.target === "") return yield* invalid("--target must not be empty")

    const parameters: Record<string, Array<string>> = Object.create(null)
    for (const entry of options.parameter) {
      const at = entry.indexOf("=")
      if (at <= 0) return yield* invalid(`--parameter must be key=value, got "${entry}"`)
      const key = entry.slice(0, at)
      if (key in parameters) return yield* invalid(`--parameter ${key} is given twice`)
      parameters[key] = [entry.slice(at + 1)]
    }
    if (Option.isSome(options.portNumber)) {
      if ("portNumber" in parameters) return yield* invalid("--port-number and --parameter portNumber=... are both given")
      parameters["portNumber"] = [String(options.portNumber.value)]
    }

    const faulty = [options.drop, options.duplicate, options.reorder, options.delay].some((rate) => rate > 0)
    const direction: AgentSimulator.DirectionFaults = {
      drop: options.drop,
      duplicate: options.duplicate,
      reorder: options.reorder,
      delay: options.delay,
      delayMillis: options.delayMillis
    }
    const simulator: AgentSimulator.SimulatorOptions = {
      port: options.port,
      agentVersion: options.agentVersion,
      // the one managed node, online: StartSession over HTTP names it by id (or by its Name tag through
      // DescribeInstanceInformation); other targets are not connected
      instances: [{ instanceId: options.target, tags: { Name: "simulated" }, computerName: "simulated", ipAddress: "127.0.0.1" }],
      ...(Option.isSome(options.kmsKeyId) ? { kmsKeyId: options.kmsKeyId.value } : {}),
      messagesPerSecond: options.messagesPerSecond,
      faults: {
        seed: options.seed,
        ...(faulty ? { toClient: direction, toAgent: direction } : {}),
        ...(options.garbage > 0 ? { garbage: options.garbage } : {})
      }
    }

    if (options.echo) {
      if (Option.isSome(options.documentName) || Object.keys(parameters).length > 0) {
        return yield* invalid("--echo serves the echo plugin: it takes no --document-name, --parameter or --port-number")
      }
      const type = Option.getOrElse(options.sessionType, (): SimulatedType => SessionType.Port)
      return {
        simulator,
        sessions: options.sessions,
        spec: () => ({
          plugin: AgentSimulator.echoPlugin({
            sessionType: type,
            requireHandshake: type === SessionType.Port || type === SessionType.NonInteractiveCommands
          }),
          properties: type === SessionType.Port ? { portNumber: "0", type: PortType.LocalPortForwarding } : null,
          targetId: options.target
        })
      }
    }

    let document: string | undefined
    if (Option.isSome(options.documentName)) {
      document = options.documentName.value
      const info = documents[document]
      if (info === undefined) {
        return yield* invalid(`unknown --document-name ${document}; known: ${list(documentNames)}`)
      }
      if (Option.isSome(options.sessionType) && options.sessionType.value !== info.sessionType) {
        return yield* invalid(
          `${document} starts a ${info.sessionType} session, not --session-type ${options.sessionType.value}`
        )
      }
    } else {
      switch (Option.getOrUndefined(options.sessionType)) {
        case SessionType.Port: {
          if (!("portNumber" in parameters)) {
            return yield* invalid("--session-type Port needs --port-number (the destination port) or a --document-name")
          }
          document = "host" in parameters ? "AWS-StartPortForwardingSessionToRemoteHost" : "AWS-StartPortForwardingSession"
          break
        }
        case SessionType.InteractiveCommands:
          document = "AWS-StartInteractiveCommand"
          break
        case SessionType.NonInteractiveCommands:
          document = "AWS-StartNonInteractiveCommand"
          break
        default:
          document = undefined
      }
    }

    const info = document === undefined ? defaultShell : documents[document]!
    const described = document ?? "the default shell (no --document-name)"
    for (const key of Object.keys(parameters)) {
      if (!info.parameters.includes(key)) {
        return yield* invalid(
          key === "portNumber" && Option.isSome(options.portNumber)
            ? `--port-number is for Port sessions, not ${described}`
            : `${described} has no parameter ${key} (it takes: ${list(info.parameters)})`
        )
      }
    }
    for (const key of info.required) {
      if (!(key in parameters)) return yield* invalid(`${described} needs --parameter ${key}=...`)
    }
    for (const [key, minimum] of Object.entries(portParameters)) {
      const value = parameters[key]?.[0]
      if (value !== undefined && !(/^\d{1,5}$/.test(value) && Number(value) >= minimum && Number(value) <= 65535)) {
        return yield* invalid(`--parameter ${key} must be a port number from ${minimum} to 65535, got "${value}"`)
      }
    }

    const request = { target: options.target, documentName: document, parameters }
    return {
      simulator,
      sessions: options.sessions,
      spec: () => ({ ...AgentSimulator.documentSpec(request), targetId: options.target })
    }
  })

const run = (options: SimulateOptions) =>
  Effect.gen(function*() {
    const { sessions, simulator: simulatorOptions, spec } = yield* plan(options)
    const simulator = yield* AgentSimulator.make(simulatorOptions).pipe(
      Effect.mapError((error) =>
        new CliError({
          reason: "Listen",
          detail: `cannot listen on 127.0.0.1:${options.port}: ${
            error.cause instanceof Error ? error.cause.message : String(error.cause)
          }`,
          cause: error.cause
        })
      )
    )
    // the SSM, KMS and ECS APIs: the plugin's endpoint argument (ResumeSession, TerminateSession), or
    // AWS_ENDPOINT_URL_SSM, _KMS and _ECS (or --endpoint) for a client that starts its own sessions
    yield* Console.error(
      `SSM API (StartSession, ResumeSession, TerminateSession, DescribeInstanceInformation, CreateDocument), KMS ` +
        `GenerateDataKey and ECS (ExecuteCommand, DescribeTasks, ListTasks: cluster ${ecsWorld}) for target ` +
        `${options.target} (Name simulated): ${simulator.endpoint}`
    )
    // the API answers only calls signed with the credentials generated now, which only this process's stderr
    // shows: one shell line that points an AWS SDK or CLI (and the plugin's ResumeSession) at the simulator
    yield* Console.error(
      `export AWS_ACCESS_KEY_ID=${simulator.credentials.accessKeyId} ` +
        `AWS_SECRET_ACCESS_KEY=${Redacted.value(simulator.credentials.secretAccessKey)} ` +
        `AWS_ENDPOINT_URL_SSM=${simulator.endpoint} AWS_ENDPOINT_URL_KMS=${simulator.endpoint} ` +
        `AWS_ENDPOINT_URL_ECS=${simulator.endpoint}`
    )
    for (let i = 0; i < sessions; i++) {
      const response = yield* simulator.startSession(spec())
      // the simulator's own token: printed so that a client can connect, as `aws ssm start-session` prints its response
      yield* Console.log(JSON.stringify({
        SessionId: response.SessionId,
        TokenValue: Redacted.value(response.TokenValue),
        StreamUrl: response.StreamUrl
      }))
    }
    return yield* Effect.never
  }).pipe(Effect.scoped)

/**
 * @since 0.1.0
 * @category commands
 */
export const simulate = Command.make(
  "simulate",
  {
    agentVersion,
    delay,
    delayMillis,
    documentName,
    drop,
    duplicate,
    echo,
    garbage,
    messagesPerSecond,
    parameter,
    port,
    portNumber,
    reorder,
    seed,
    kmsKeyId,
    sessionType,
    sessions,
    target
  },
  // a bad value fails with CliError (InvalidOptions): runCli makes it one line on stderr and exit code 1
  run
).pipe(Command.withDescription(
  "run a local agent simulator serving the session a StartSession request would start (--document-name, " +
    "--parameter; a shell by default; port sessions dial their real destination), print its StartSession response " +
    "as one JSON line per session for session-manager-plugin or `plugin`, and serve until interrupted, with the SSM " +
    "API (StartSession for every document above, ResumeSession, TerminateSession, DescribeInstanceInformation, " +
    "CreateDocument), KMS GenerateDataKey and ECS (ExecuteCommand, DescribeTasks, ListTasks over a cluster `sim` " +
    "with one task of service `web` and its container `app`, whose commands run on this machine as ECS Exec runs " +
    "them) over HTTP at the endpoint it prints on stderr, for AWS SDK clients (AWS_ENDPOINT_URL_SSM, " +
    "AWS_ENDPOINT_URL_KMS, AWS_ENDPOINT_URL_ECS, or --endpoint) that sign with the credentials it generates and " +
    "prints on stderr as an `export AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=...` line (any other call gets 403). " +
    "Sessions run real commands and dial real ports on this machine, as the user running `simulate`. " +
    "One session serves one client: " +
    "once it ends (the plugin ends, or the client terminates it) its StreamUrl refuses connections"
))
