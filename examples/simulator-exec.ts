import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Effect } from "effect"
import { RemoteCommand } from "ssm-session-manager"
import * as AgentSimulator from "ssm-session-manager/AgentSimulator"

// A command through the simulator, whose agent runs it in `sh -c` on this machine as an instance would, with the
// document exec uses by default (RemoteCommand.DOCUMENT_NAME: stdout, stderr and the exit code apart).
const program = Effect.gen(function*() {
  const result = yield* RemoteCommand.exec({ target: "i-simulated", command: "echo out; echo err >&2; exit 3" })
  const text = (bytes: Uint8Array) => JSON.stringify(new TextDecoder().decode(bytes))
  console.log(`exit code ${result.exitCode}, stdout ${text(result.stdout)}, stderr ${text(result.stderr)}`)
  process.exitCode = result.exitCode // a non-zero exit is a value: pass it on, as ssh does
})

program.pipe(Effect.provide(AgentSimulator.layerAll()), NodeRuntime.runMain)
