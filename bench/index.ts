/**
 * `npm run bench`: every benchmark in one run, then the README table.
 */
import * as AgentMessageBench from "./agentMessage.js"
import * as BrowserBench from "./browser.js"
import * as ClientBench from "./client.js"
import { printTable, type Row } from "./harness.js"
import * as PoolBench from "./pool.js"
import * as PortForwardingBench from "./portForwarding.js"
import * as ResumeBench from "./resume.js"
import * as SessionBench from "./session.js"
import * as SmuxBench from "./smux.js"
import * as SocksBench from "./socks.js"
import * as TransferBench from "./transfer.js"

const rows: Array<Row> = []
/** `SSM_BENCH_ONLY=smux,session` runs only those groups (the keys below). */
const only = process.env["SSM_BENCH_ONLY"]?.split(",").map((name) => name.trim().toLowerCase())
const group = async (key: string, title: string, run: () => ReadonlyArray<Row> | Promise<ReadonlyArray<Row>>) => {
  if (only !== undefined && !only.includes(key)) return
  console.log(`\n== ${title} ==`)
  rows.push(...(await run()))
}
console.log(`Node ${process.version}, ${process.platform}/${process.arch}`)
await group("agentmessage", "AgentMessage", AgentMessageBench.run)
await group("smux", "Smux", SmuxBench.run)
await group("session", "Session", SessionBench.run)
await group("portforwarding", "Port forwarding", PortForwardingBench.run)
await group("pool", "Session pool", PoolBench.run)
await group("socks", "SOCKS proxy", SocksBench.run)
await group("resume", "Resume", ResumeBench.run)
await group("transfer", "File copy (cp)", TransferBench.run)
await group("client", "Client process (separate processes)", ClientBench.run)
await group("browser", "Browser (Debian's Chromium)", BrowserBench.run)
printTable(rows)
