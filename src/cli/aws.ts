/**
 * The options every command that talks to AWS shares, and the services they stand for: the SSM API from the SDK's
 * default chains (or the embedded agent simulator with `--simulator`) and the WebSocket constructor.
 *
 * @since 0.1.0
 */
import * as Options from "@effect/cli/Options"
import type * as Socket from "@effect/platform/Socket"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as AgentSimulator from "../AgentSimulator.js"
import * as EcsApi from "../EcsApi.js"
import * as KmsApi from "../KmsApi.js"
import * as NodeSession from "../NodeSession.js"
import * as SsmApi from "../SsmApi.js"
import { CliError } from "./error.js"
import { printLine } from "./status.js"

/**
 * @since 0.1.0
 * @category options
 */
export const awsOptions = {
  region: Options.text("region").pipe(Options.optional, Options.withDescription("AWS region (default: the SDK's chain)")),
  profile: Options.text("profile").pipe(Options.optional, Options.withDescription("shared config profile")),
  endpoint: Options.text("endpoint").pipe(
    Options.optional,
    Options.withDescription(
      "the SSM API's endpoint (default: the SDK's: AWS_ENDPOINT_URL_SSM, AWS_ENDPOINT_URL, the profile's " +
        "endpoint_url; ECS and KMS always take the SDK's)"
    )
  ),
  apiTimeout: Options.integer("api-timeout").pipe(
    Options.withDescription("seconds an AWS API call may take (StartSession, TerminateSession …)"),
    Options.withDefault(30)
  ),
  simulator: Options.boolean("simulator").pipe(
    Options.withDescription("run against an embedded agent simulator: the \"instance\" is this machine")
  )
}

/**
 * `--target`, optional because `--simulator` needs none (see `requireTarget`).
 *
 * @since 0.1.0
 * @category options
 */
export const target = Options.text("target").pipe(
  Options.withDescription(
    "instance id, managed node id or ECS target; or a Name tag's value, or tag:Key=Value, resolved to the one " +
      "online node it names (not needed with --simulator)"
  ),
  Options.optional
)

/**
 * @since 0.1.0
 * @category models
 */
export interface AwsOptions {
  readonly region: Option.Option<string>
  readonly profile: Option.Option<string>
  readonly endpoint: Option.Option<string>
  readonly apiTimeout: number
  readonly simulator: boolean
}

/**
 * When a command says on stderr what it waits for (`Starting a session with …`, `Opening the data channel of
 * session …`): `always`; `whenSlow`, only once a wait has taken a second (ssh's ProxyCommand, run for every
 * connection, and `exec`'s stderr when it is not a terminal: the remote command's stderr stays byte-exact unless
 * AWS is slow); `terminal`, always when stderr is a terminal, otherwise as `whenSlow`.
 *
 * @since 0.2.0
 * @category models
 */
export type Announce = "always" | "whenSlow" | "terminal"

/**
 * How long a wait may take before a `whenSlow` command says what it waits for.
 *
 * @since 0.2.0
 * @category constants
 */
export const SLOW_WAIT: Duration.DurationInput = "1 second"

/**
 * The end of a command's setup, for its announcements: once the data channel is open, a `whenSlow` command has
 * nothing more to say about its start.
 *
 * @since 0.2.0
 * @category services
 */
export class Announcer extends Context.Tag("ssm-session-manager/cli/Announcer")<Announcer, {
  /** the data channel is open (and the session ready): no `Opening the data channel …` line is due any more */
  readonly channelOpen: Effect.Effect<void>
}>() {}

/**
 * `SsmApi` saying on stderr what it waits for: a StartSession with no answer yet, then the data channel of its
 * session until `Announcer.channelOpen`. `whenSlow` says each only once it has taken a second.
 *
 * @since 0.2.0
 * @category layers
 */
export const layerAnnounced = (
  when: Announce = "always",
  slowWait: Duration.DurationInput = SLOW_WAIT
): Layer.Layer<SsmApi.SsmApi | Announcer, never, SsmApi.SsmApi> => {
  const slow = when === "whenSlow" || (when === "terminal" && process.stderr.isTTY !== true)
  const write = (line: string) => Effect.sync(() => printLine("stderr", line))
  return Layer.scopedContext(Effect.gen(function*() {
    const api = yield* SsmApi.SsmApi
    const scope = yield* Effect.scope
    // the delayed `Opening the data channel …` line of a whenSlow command, until the channel is open
    const opening = yield* Ref.make<Option.Option<Fiber.RuntimeFiber<void>>>(Option.none())
    const channelOpen = Effect.flatMap(
      Ref.getAndSet(opening, Option.none()),
      (fiber) => Option.isSome(fiber) ? Effect.asVoid(Fiber.interrupt(fiber.value)) : Effect.void
    )
    const announced: SsmApi.SsmApi = {
      ...api,
      startSession: (request) => {
        const starting = write(
          `Starting a session with ${request.target}${request.documentName === undefined ? "" : ` (${request.documentName})`}...`
        )
        const opened = (sessionId: string) => write(`Opening the data channel of session ${sessionId}...`)
        if (slow) {
          return Effect.flatMap(
            Effect.fork(Effect.delay(starting, slowWait)),
            (line) =>
              Effect.ensuring(api.startSession(request), Fiber.interrupt(line)).pipe(
                Effect.tap((response) =>
                  Effect.flatMap(
                    Effect.forkIn(Effect.delay(opened(response.sessionId), slowWait), scope),
                    (fiber) => Ref.set(opening, Option.some(fiber))
                  )
                )
              )
          )
        }
        return Effect.zipRight(starting, Effect.tap(api.startSession(request), (response) => opened(response.sessionId)))
      }
    }
    return Context.make(SsmApi.SsmApi, announced).pipe(Context.add(Announcer, { channelOpen }))
  }))
}

/**
 * `--profile` as `AWS_PROFILE` for this process: the SDK reads a profile's `endpoint_url` (and
 * `ignore_configured_endpoint_urls`) from `AWS_PROFILE`'s profile only, whatever profile a client is given. The
 * clients are given the profile too, so environment keys are skipped as they already were.
 */
const layerProfileEnv = (profile: Option.Option<string>): Layer.Layer<never> =>
  Layer.effectDiscard(Effect.sync(() => {
    if (Option.isSome(profile)) process.env["AWS_PROFILE"] = profile.value
  }))

/**
 * The SSM, KMS and ECS APIs (real or simulated) and the WebSocket constructor. Only the SSM API takes `--endpoint`;
 * otherwise the SDK's own settings choose each API's endpoint (`AWS_ENDPOINT_URL_<SSM|KMS|ECS>`,
 * `AWS_ENDPOINT_URL`, the profile's `endpoint_url`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerAws = (
  options: AwsOptions,
  announce: Announce = "always",
  /** how long a wait may take before a `whenSlow` command says it (`exec -i` and `cp` wait for the agent's first second) */
  slowWait: Duration.DurationInput = SLOW_WAIT
): Layer.Layer<
  SsmApi.SsmApi | KmsApi.KmsApi | EcsApi.EcsApi | Socket.WebSocketConstructor | Announcer,
  AgentSimulator.SimulatorError
> =>
  Layer.merge(
    options.simulator
      ? Layer.mergeAll(
        Layer.provide(layerAnnounced(announce, slowWait), AgentSimulator.layerSsmApi()),
        AgentSimulator.layerKmsApi,
        // DEFAULT_ECS: cluster sim, service web, container app
        AgentSimulator.layerEcsApi
      ).pipe(
        // SSM_SIMULATOR_KMS_KEY_ID plays an account whose preferences encrypt shells and commands with KMS
        Layer.provide(AgentSimulator.layer({ kmsKeyId: process.env["SSM_SIMULATOR_KMS_KEY_ID"] }))
      )
      : Layer.mergeAll(
        Layer.provide(
          layerAnnounced(announce, slowWait),
          SsmApi.layer({
            region: Option.getOrUndefined(options.region),
            profile: Option.getOrUndefined(options.profile),
            endpoint: Option.getOrUndefined(options.endpoint),
            timeout: `${options.apiTimeout} seconds`
          })
        ),
        // KMS-encrypted sessions (shells and commands where the account's preferences name a key)
        KmsApi.layer({ region: Option.getOrUndefined(options.region), profile: Option.getOrUndefined(options.profile) }),
        // the ecs commands (ExecuteCommand, DescribeTasks, ListTasks)
        EcsApi.layer({
          region: Option.getOrUndefined(options.region),
          profile: Option.getOrUndefined(options.profile),
          timeout: `${options.apiTimeout} seconds`
        })
      ).pipe(Layer.provide(layerProfileEnv(options.profile))),
    NodeSession.layerWebSocketConstructor
  )

/**
 * The `--target`, which only `--simulator` may leave out; a name (`web-1`, the Name tag) or a tag (`tag:Key=Value`)
 * is resolved to the one online node it names (see `SsmApi.resolveTarget`), said on stderr.
 *
 * @since 0.1.0
 * @category options
 */
export const requireTarget = (
  target: Option.Option<string>,
  simulator: boolean,
  announce: Announce = "always"
): Effect.Effect<string, CliError | SsmApi.SsmApiError, SsmApi.SsmApi> =>
  Option.match(target, {
    onSome: (target) =>
      SsmApi.targetQuery(target)._tag === "Id"
        ? Effect.succeed(target)
        : Effect.tap(SsmApi.resolveTarget(target), (id) =>
          announce === "always" || (announce === "terminal" && process.stderr.isTTY === true)
            ? Effect.sync(() => printLine("stderr", `Target ${target} is ${id}.`))
            : Effect.void),
    onNone: () =>
      simulator
        ? Effect.succeed("i-simulated")
        : Effect.fail(new CliError({ reason: "InvalidOptions", detail: "--target is required (or use --simulator)" }))
  })
