// `npm run browser-demo`: the page's server on 127.0.0.1, with the agent simulator as AWS and the instance (a
// real shell on this machine) by default, or AWS itself with --target:
//
//   npm run browser-demo                                  # simulator, any free port
//   npm run browser-demo -- --port 8080
//   npm run browser-demo -- --kms-key-id alias/session-manager   # the simulated account encrypts with KMS
//   npm run browser-demo -- --target i-0123456789abcdef0 [--region eu-west-1] [--profile dev]
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Util from "node:util"
import * as AgentSimulator from "ssm-session-manager/AgentSimulator"
import * as KmsApi from "ssm-session-manager/KmsApi"
import * as SsmApi from "ssm-session-manager/SsmApi"
import { serve } from "./server.js"

const { values } = Util.parseArgs({
  options: {
    port: { type: "string", default: "0" },
    target: { type: "string" },
    region: { type: "string" },
    profile: { type: "string" },
    "kms-key-id": { type: "string" }
  }
})

const aws = values.target !== undefined
const region = values.region ?? process.env["AWS_REGION"]
const profile = values.profile ?? process.env["AWS_PROFILE"]
// SsmApi for the page's sessions, and KmsApi for the data keys of the sessions the account's preferences encrypt
const api = aws
  ? Layer.merge(SsmApi.layer({ region, profile }), KmsApi.layer({ region, profile }))
  // the simulator plays AWS and the instance: the default shell document runs /bin/sh on this machine behind a
  // pseudo-terminal, RemoteCommand's document runs commands with their exit codes; with --kms-key-id its account
  // asks for KMS encryption, and its KMS makes the keys its agent accepts
  : Layer.merge(AgentSimulator.layerSsmApi(), AgentSimulator.layerKmsApi).pipe(
    Layer.provide(AgentSimulator.layer({ kmsKeyId: values["kms-key-id"] }))
  )

Effect.gen(function*() {
  const { url } = yield* serve({ target: values.target ?? "i-simulated", port: Number(values.port) })
  // the URL carries the secret that grants the page (traded for a cookie when opened): it is for this user only
  yield* Console.log(`Open ${url} (${aws ? `AWS, target ${values.target}` : "simulated instance: a shell on this machine"}). Ctrl-C stops.`)
  return yield* Effect.never
}).pipe(Effect.scoped, Effect.provide(api), NodeRuntime.runMain)
