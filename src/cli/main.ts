#!/usr/bin/env node
/**
 * The command line: `ssm-session-manager <command>`. A thin shell over the library.
 *
 * @since 0.1.0
 */
import * as Args from "@effect/cli/Args"
import * as CliConfig from "@effect/cli/CliConfig"
import * as Command from "@effect/cli/Command"
import type * as HelpDoc from "@effect/cli/HelpDoc"
import * as Effect from "effect/Effect"
import * as CliContext from "./context.js"
import { cp } from "./cp.js"
import { createDocumentCommand } from "./createDocument.js"
import { ecs, ecsCommands } from "./ecs.js"
import { exec, sshProxy } from "./exec.js"
import { demo, forward } from "./forward.js"
import { commandHelp, helpRequest, renderCommandHelp, renderTopHelp } from "./help.js"
import { installPlugin } from "./installPlugin.js"
import { runPlugin, versionLine } from "./plugin.js"
import { PACKAGE_VERSION, runCli } from "./run.js"
import { shell } from "./shell.js"
import { simulate } from "./simulate.js"
import { socks } from "./socks.js"

/** `plugin`: the drop-in plugin as a subcommand (the `session-manager-plugin` bin runs `runPlugin` alone) */
const plugin = Command.make(
  "plugin",
  { args: Args.text({ name: "argument" }).pipe(Args.repeated) },
  ({ args }) => runPlugin(args)
).pipe(Command.withDescription(
  "behave as session-manager-plugin: <response JSON or env var name> <region> StartSession <profile> <request JSON> " +
    "<endpoint>; give the response in an environment variable (AWS_SSM_START_SESSION_RESPONSE, named as the first " +
    "argument), as the AWS CLI does: on the command line its token is readable by every local user"
))

const commands = {
  forward,
  shell,
  exec,
  "ssh-proxy": sshProxy,
  demo,
  plugin,
  simulate,
  "install-plugin": installPlugin,
  "create-document": createDocumentCommand,
  socks,
  cp,
  ...ecsCommands
}

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
    socks,
    cp,
    ecs
  ])
)

/** `@effect/cli`'s help for a command, from which `--help` takes the options */
const helpDoc = (name: keyof typeof commands): HelpDoc.HelpDoc => {
  const command: Command.Command<string, never, unknown, unknown> = commands[name] as never
  return Command.getHelp(command, CliConfig.make({ showBuiltIns: false }))
}

/**
 * What is answered before `@effect/cli` parses anything: help (examples first), `--version` (one line), a
 * `--ready-json` without its value; undefined for the rest.
 */
const answerDirectly = (args: ReadonlyArray<string>): { readonly stdout?: string; readonly stderr?: string; readonly code: number } | undefined => {
  const help = helpRequest(args)
  if (help !== undefined) {
    const name = help.command as keyof typeof commands | undefined
    return {
      stdout: name === undefined ? renderTopHelp(PACKAGE_VERSION) : renderCommandHelp(commandHelp[name]!, helpDoc(name)),
      code: 0
    }
  }
  if (args.length === 1 && args[0] === "--version") return { stdout: `${PACKAGE_VERSION}\n`, code: 0 }
  // the drop-in plugin's --version: the ClientVersion the AWS CLI reads, as the session-manager-plugin bin says it
  if (args.length === 2 && args[0] === "plugin" && args[1] === "--version") {
    return { stdout: `${versionLine(process.stdout.isTTY === true)}\n`, code: 0 }
  }
  const end = args.indexOf("--")
  const options = end === -1 ? args : args.slice(0, end)
  const ready = options.indexOf("--ready-json")
  const bare = ready !== -1 && (ready === options.length - 1 || /^-./.test(options[ready + 1]!) || options[ready + 1] === "")
  if (bare || options.includes("--ready-json=")) {
    return {
      stderr: "ssm-session-manager: --ready-json needs a value: - for stdout (--ready-json -), or a file path " +
        "(--ready-json ready.json)\n",
      code: 1
    }
  }
  return undefined
}

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

const direct = answerDirectly(process.argv.slice(2))
if (direct !== undefined) {
  if (direct.stdout !== undefined) process.stdout.write(direct.stdout)
  if (direct.stderr !== undefined) process.stderr.write(direct.stderr)
  process.exitCode = direct.code
} else {
  runCli(
    "ssm-session-manager",
    Command.run(cli, { name: "ssm-session-manager", version: PACKAGE_VERSION })(hoistLogLevel(process.argv)).pipe(
      CliContext.plainWhereNeeded,
      Effect.provide(CliContext.layer)
    )
  )
}
