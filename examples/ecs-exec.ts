import { Effect, Stream } from "effect"
import { EcsExec, FileTransfer, PortForwarding } from "ssm-session-manager"

// A command in the container of a service's one running task: its stdout, stderr and exit code (which
// `aws ecs execute-command` never gives), stdin from any stream. The container needs sh and coreutils or busybox.
export const runInService = (
  cluster: string,
  service: string,
  command: string,
  input: Stream.Stream<Uint8Array> = Stream.empty
) =>
  Effect.gen(function*() {
    const container = yield* EcsExec.resolve({ cluster, service })
    const result = yield* EcsExec.execWithInput({ target: container, command, input })
    return { task: container.taskId, exitCode: result.exitCode, stdout: new TextDecoder().decode(result.stdout) }
  })

// A file out of a task's container, verified by SHA-256: FileTransfer, launched by ecs:ExecuteCommand.
export const fileFromTask = (cluster: string, task: string, remotePath: string) =>
  Effect.gen(function*() {
    const container = yield* EcsExec.resolve({ cluster, task })
    const launch = yield* EcsExec.launch(container)
    const items = yield* Stream.runCollect(FileTransfer.download({ target: container.target, remotePath, launch }))
    return items.pipe((chunk) => [...chunk].flatMap((item) => item._tag === "Bytes" ? [item.bytes] : []))
  })

// A port of the task forwarded through its container's ecs: target (ssm:StartSession; no runtime id by hand).
export const forwardToTask = (cluster: string, service: string, portNumber: number) =>
  Effect.gen(function*() {
    const container = yield* EcsExec.resolve({ cluster, service })
    return yield* PortForwarding.toInstancePort({ target: container.target, portNumber })
  })
