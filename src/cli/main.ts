#!/usr/bin/env node
/**
 * The command line: `ssm-session-manager <command>`. A thin shell over the library.
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import * as Effect from "effect/Effect"
import * as CliContext from "./context.js"
import { exec, sshProxy } from "./exec.js"
import { demo, forward } from "./forward.js"
import { installPlugin } from "./installPlugin.js"
import { plugin } from "./plugin.js"
import { PACKAGE_VERSION, runCli } from "./run.js"
import { shell } from "./shell.js"
import { simulate } from "./simulate.js"

const cli = Command.make("ssm-session-manager").pipe(
  Command.withDescription("AWS Session Manager from Effect, without session-manager-plugin"),
  Command.withSubcommands([forward, shell, exec, sshProxy, demo, plugin, simulate, installPlugin])
)

runCli(
  "ssm-session-manager",
  Command.run(cli, { name: "ssm-session-manager", version: PACKAGE_VERSION })(process.argv).pipe(Effect.provide(CliContext.layer))
)
