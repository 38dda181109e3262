#!/usr/bin/env node
/**
 * The command line: `ssm-session-manager <command>`. A thin shell over the library.
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import * as Effect from "effect/Effect"
import * as CliContext from "./context.js"
import { createDocumentCommand } from "./createDocument.js"
import { exec, sshProxy } from "./exec.js"
import { demo, forward } from "./forward.js"
import { installPlugin } from "./installPlugin.js"
import { plugin } from "./plugin.js"
import { PACKAGE_VERSION, runCli } from "./run.js"
import { shell } from "./shell.js"
import { simulate } from "./simulate.js"
import { socks } from "./socks.js"

const cli = Command.make("ssm-session-manager").pipe(
  Command.withDescription("AWS Session Manager from Effect, without session-manager-plugin"),
  Command.withSubcommands([
    forward,
    shell,
    exec,
    sshProxy,
    demo,
    plugin,
    simulate,
    installPlugin,
    createDocumentCommand,
    socks
  ])
)

/**
 * `--log-level` is `@effect/cli`'s own option, read only before the subcommand: it is moved there from anywhere
 * before `--` (after which everything is the remote command's).
 */
const hoistLogLevel = (argv: ReadonlyArray<string>): Array<string> => {
  const [node = "", script = "", ...rest] = argv
  const end = rest.indexOf("--")
  const options = end === -1 ? rest : rest.slice(0, end)
  const hoisted: Array<string> = []
  const kept: Array<string> = []
  for (let i = 0; i < options.length; i++) {
    const arg = options[i]!
    if (arg === "--log-level" && i + 1 < options.length) hoisted.push(arg, options[++i]!)
    else if (arg.startsWith("--log-level=")) hoisted.push(arg)
    else kept.push(arg)
  }
  return [node, script, ...hoisted, ...kept, ...(end === -1 ? [] : rest.slice(end))]
}

runCli(
  "ssm-session-manager",
  Command.run(cli, { name: "ssm-session-manager", version: PACKAGE_VERSION })(hoistLogLevel(process.argv)).pipe(
    CliContext.plainWhereNeeded,
    Effect.provide(CliContext.layer)
  )
)
