#!/usr/bin/env node
/**
 * The `session-manager-plugin` bin alias: a drop-in for AWS's binary on the PATH, so `aws ssm start-session`
 * works unchanged. Its arguments are positional, exactly as the AWS CLI passes them.
 *
 * @since 0.1.0
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import { runPlugin } from "./plugin.js"

runPlugin(process.argv.slice(2)).pipe(
  Effect.tapErrorCause((cause) => Console.error(cause)),
  // stdout may carry a standard-stream session's bytes: logs go to stderr
  Effect.provide(Logger.replace(Logger.defaultLogger, Logger.prettyLogger({ stderr: true }))),
  NodeRuntime.runMain({ disableErrorReporting: true, disablePrettyLogger: true })
)
