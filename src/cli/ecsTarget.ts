/**
 * How the `ecs` commands choose a container: `--cluster`, `--task` or `--service`, `--container`, resolved by
 * `EcsExec.resolve` and said on stderr.
 *
 * @since 0.5.0
 */
import * as Options from "@effect/cli/Options"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as EcsApi from "../EcsApi.js"
import * as EcsExec from "../EcsExec.js"
import type { Announce } from "./aws.js"
import { CliError } from "./error.js"
import { printLine } from "./status.js"

/**
 * The options that choose a container, shared by every `ecs` command.
 *
 * @since 0.5.0
 * @category options
 */
export const selectorOptions = {
  cluster: Options.text("cluster").pipe(
    Options.withDescription("the cluster's name or ARN (default: the default cluster; sim with --simulator)"),
    Options.optional
  ),
  task: Options.text("task").pipe(Options.withDescription("the task's id or ARN"), Options.optional),
  service: Options.text("service").pipe(
    Options.withDescription("the service whose one running task is meant (several: they are listed, for --task)"),
    Options.optional
  ),
  container: Options.text("container").pipe(
    Options.withDescription("the container's name (needed when the task has several)"),
    Options.optional
  )
}

/**
 * The values of `selectorOptions`, and `--simulator`.
 *
 * @since 0.5.0
 * @category options
 */
export interface SelectorOptions {
  readonly cluster: Option.Option<string>
  readonly task: Option.Option<string>
  readonly service: Option.Option<string>
  readonly container: Option.Option<string>
  readonly simulator: boolean
}

/**
 * What `resolveContainer` says on stderr once it has chosen: `Task <id> of service web, container app.`
 *
 * @since 0.5.0
 * @category formatting
 */
export const chosenLine = (target: EcsExec.ExecTarget, service: string | undefined): string =>
  `Task ${target.taskId}${service === undefined ? "" : ` of service ${service}`}, container ${target.containerName}.`

/**
 * The container the options choose (`container` given by the caller wins over `--container`: `ecs cp`'s
 * `CONTAINER:PATH`). `--simulator` with neither `--task` nor `--service` is the simulator's service `web` in
 * cluster `sim`. The choice is said on stderr as `announce` says (by default when stderr is a terminal).
 *
 * @since 0.5.0
 * @category running
 */
export const resolveContainer = (
  options: SelectorOptions,
  container: string | undefined = undefined,
  announce: Announce = "terminal"
): Effect.Effect<EcsExec.ExecTarget, CliError | EcsApi.EcsApiError, EcsApi.EcsApi> =>
  Effect.gen(function*() {
    const invalid = (detail: string) => new CliError({ reason: "InvalidOptions", detail })
    const task = Option.getOrUndefined(options.task)
    let service = Option.getOrUndefined(options.service)
    if (task !== undefined && service !== undefined) {
      return yield* invalid("give --task or --service, not both")
    }
    if (task === undefined && service === undefined) {
      if (!options.simulator) return yield* invalid("give --task <id|arn> or --service <name> (and --cluster <name>)")
      service = "web"
    }
    const named = Option.getOrUndefined(options.container)
    if (container !== undefined && named !== undefined && container !== named) {
      return yield* invalid(`the container is named twice: --container ${named} and ${container}:`)
    }
    const target = yield* EcsExec.resolve({
      cluster: Option.getOrElse(options.cluster, () => options.simulator ? "sim" : undefined),
      task,
      service,
      container: container ?? named
    })
    if (announce === "always" || (announce === "terminal" && process.stderr.isTTY === true)) {
      printLine("stderr", chosenLine(target, service))
    }
    return target
  })
