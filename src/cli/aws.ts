/**
 * The options every command that talks to AWS shares, and the services they stand for: the SSM API from the SDK's
 * default chains (or the embedded agent simulator with `--simulator`) and the WebSocket constructor.
 *
 * @since 0.1.0
 */
import * as Options from "@effect/cli/Options"
import type * as Socket from "@effect/platform/Socket"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as AgentSimulator from "../AgentSimulator.js"
import * as KmsApi from "../KmsApi.js"
import * as NodeSession from "../NodeSession.js"
import * as SsmApi from "../SsmApi.js"

/**
 * @since 0.1.0
 * @category options
 */
export const awsOptions = {
  region: Options.text("region").pipe(Options.optional, Options.withDescription("AWS region (default: the SDK's chain)")),
  profile: Options.text("profile").pipe(Options.optional, Options.withDescription("shared config profile")),
  endpoint: Options.text("endpoint").pipe(Options.optional, Options.withDescription("SSM endpoint override")),
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
 * `SsmApi` saying on stderr what it waits for: a StartSession with no answer yet is never silent. `whenSlow`
 * (ssh's ProxyCommand, run for every connection) says it only when StartSession has taken a second.
 *
 * @since 0.2.0
 * @category layers
 */
export const layerAnnounced = (
  when: "always" | "whenSlow" = "always"
): Layer.Layer<SsmApi.SsmApi, never, SsmApi.SsmApi> =>
  Layer.effect(
    SsmApi.SsmApi,
    Effect.map(SsmApi.SsmApi, (api) => ({
      ...api,
      startSession: (request) => {
        const starting = Effect.sync(() =>
          process.stderr.write(
            `Starting a session with ${request.target}${request.documentName === undefined ? "" : ` (${request.documentName})`}...\n`
          )
        )
        if (when === "whenSlow") {
          return Effect.flatMap(
            Effect.fork(Effect.delay(starting, "1 second")),
            (line) => Effect.ensuring(api.startSession(request), Fiber.interrupt(line))
          )
        }
        return Effect.zipRight(
          starting,
          Effect.tap(api.startSession(request), (response) =>
            Effect.sync(() => process.stderr.write(`Opening the data channel of session ${response.sessionId}...\n`)))
        )
      }
    }))
  )

/**
 * The SSM and KMS APIs (real or simulated) and the WebSocket constructor.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerAws = (
  options: AwsOptions,
  announce: "always" | "whenSlow" = "always"
): Layer.Layer<SsmApi.SsmApi | KmsApi.KmsApi | Socket.WebSocketConstructor, AgentSimulator.SimulatorError> =>
  Layer.merge(
    options.simulator
      ? Layer.merge(Layer.provide(layerAnnounced(announce), AgentSimulator.layerSsmApi()), AgentSimulator.layerKmsApi).pipe(
        // SSM_SIMULATOR_KMS_KEY_ID plays an account whose preferences encrypt shells and commands with KMS
        Layer.provide(AgentSimulator.layer({ kmsKeyId: process.env["SSM_SIMULATOR_KMS_KEY_ID"] }))
      )
      : Layer.merge(
        Layer.provide(
          layerAnnounced(announce),
          SsmApi.layer({
            region: Option.getOrUndefined(options.region),
            profile: Option.getOrUndefined(options.profile),
            endpoint: Option.getOrUndefined(options.endpoint),
            timeout: `${options.apiTimeout} seconds`
          })
        ),
        // KMS-encrypted sessions (shells and commands where the account's preferences name a key)
        KmsApi.layer({ region: Option.getOrUndefined(options.region), profile: Option.getOrUndefined(options.profile) })
      ),
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
  simulator: boolean
): Effect.Effect<string, Error | SsmApi.SsmApiError, SsmApi.SsmApi> =>
  Option.match(target, {
    onSome: (target) =>
      SsmApi.targetQuery(target)._tag === "Id"
        ? Effect.succeed(target)
        : Effect.tap(SsmApi.resolveTarget(target), (id) => Console.error(`Target ${target} is ${id}.`)),
    onNone: () =>
      simulator ? Effect.succeed("i-simulated") : Effect.fail(new Error("--target is required (or use --simulator)"))
  })
