import { Effect } from "effect"
import { RemoteCommand } from "ssm-session-manager"

// A command's stdout, stderr and exit code as a value: a non-zero exit is data, not an error. The command runs in
// `sh -c`; the document must separate the streams under the instance's OS key (RemoteCommand.DOCUMENT_NAME,
// created once from RemoteCommand.DOCUMENT_CONTENT).
export const diskUsage = (target: string) =>
  Effect.gen(function*() {
    const result = yield* RemoteCommand.exec({ target, command: "df -P / | tail -n 1; exit 3" })
    const usage = new TextDecoder().decode(result.stdout).trim().split(/\s+/)[4]
    return { usage, exitCode: result.exitCode, stderr: new TextDecoder().decode(result.stderr) }
  })
