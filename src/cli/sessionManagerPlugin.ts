#!/usr/bin/env node
/**
 * The `session-manager-plugin` bin alias: a drop-in for AWS's binary on the PATH, so `aws ssm start-session`
 * works unchanged. Its arguments are positional, exactly as the AWS CLI passes them.
 *
 * @since 0.1.0
 */
import { runPlugin } from "./plugin.js"
import { runCli } from "./run.js"

runCli("session-manager-plugin", runPlugin(process.argv.slice(2)))
