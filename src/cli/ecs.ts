/**
 * The `ecs` command group, ECS Exec from the command line: `ecs exec` and `ecs shell` (in `ecsExec.ts`), `ecs cp`,
 * `ecs forward` and `ecs socks`, each on a task's container chosen by `--cluster`, `--task` or `--service`, and
 * `--container` (`EcsExec.resolve`).
 *
 * @since 0.5.0
 */
import * as Command from "@effect/cli/Command"
import * as Effect from "effect/Effect"
import * as EcsExec from "../EcsExec.js"
import { awsOptions, layerAws } from "./aws.js"
import { copyOptions, runCopy } from "./cp.js"
import { ecsExec, ecsShell } from "./ecsExec.js"
import { resolveContainer, selectorOptions } from "./ecsTarget.js"
import { forwardOptions, runForward } from "./forward.js"
import { quietLogs, runSocks, socksOptions } from "./socks.js"

const remoteForm = "[CONTAINER]:PATH"

/**
 * @since 0.5.0
 * @category commands
 */
export const ecsCp = Command.make(
  "cp",
  { ...awsOptions, ...selectorOptions, ...copyOptions(remoteForm) },
  (options) =>
    runCopy(options, remoteForm, (prefix) =>
      Effect.gen(function*() {
        const target = yield* resolveContainer(options, prefix === "" ? undefined : prefix)
        return { target: target.target, launch: yield* EcsExec.launch(target) }
      })).pipe(Effect.provide(layerAws(options, "terminal", "3 seconds")))
).pipe(Command.withDescription("copy files to or from a task's container, verified by SHA-256 ([CONTAINER]:PATH on one side)"))

/**
 * @since 0.5.0
 * @category commands
 */
export const ecsForward = Command.make(
  "forward",
  { ...awsOptions, ...selectorOptions, ...forwardOptions },
  (options) =>
    runForward(options, Effect.map(resolveContainer(options, undefined, "always"), (target) => target.target)).pipe(
      Effect.scoped,
      Effect.provide(layerAws(options))
    )
).pipe(Command.withDescription("forward local ports to ports of a task's container (or hosts it reaches)"))

/**
 * @since 0.5.0
 * @category commands
 */
export const ecsSocks = Command.make(
  "socks",
  { ...awsOptions, ...selectorOptions, ...socksOptions },
  (options) =>
    runSocks(options, Effect.map(resolveContainer(options), (target) => target.target)).pipe(
      Effect.scoped,
      Effect.provide(layerAws(options, "whenSlow")),
      quietLogs
    )
).pipe(Command.withDescription("a SOCKS5 proxy into a task's network, each destination through its own session"))

/**
 * @since 0.5.0
 * @category commands
 */
export const ecs = Command.make("ecs").pipe(
  Command.withDescription("ECS Exec: commands, shells, copies and tunnels into a task's container"),
  Command.withSubcommands([ecsExec, ecsShell, ecsCp, ecsForward, ecsSocks])
)

/**
 * The group's commands by their command lines, for `--help`.
 *
 * @since 0.5.0
 * @category commands
 */
export const ecsCommands = {
  ecs,
  "ecs exec": ecsExec,
  "ecs shell": ecsShell,
  "ecs cp": ecsCp,
  "ecs forward": ecsForward,
  "ecs socks": ecsSocks
}
