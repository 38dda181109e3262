import { Effect } from "effect"
import { PortForwardingPool, SsmApi } from "ssm-session-manager"
import * as NodePortForwarding from "ssm-session-manager/NodePortForwarding"

// A database behind the instance named "bastion", over 4 sessions (growing to 8 when every one is busy): the
// service caps each session at about 1 MB/s, so parallel connections get about 4 (to 8) times as much.
export const fastDatabase = (name: string, host: string, port: number) =>
  Effect.gen(function*() {
    const target = yield* SsmApi.resolveTarget(name) // "bastion", "tag:Role=bastion" or an id
    const pool = yield* PortForwardingPool.start({ target, host, portNumber: port, sessions: 4, maxSessions: 8 })
    const listener = yield* NodePortForwarding.listen(pool, { port: 0 })
    return { pool, address: listener.address }
  })
