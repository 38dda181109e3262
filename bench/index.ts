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

const rows: Array<Row> = []
console.log(`Node ${process.version}, ${process.platform}/${process.arch}\n`)
console.log("== AgentMessage ==")
rows.push(...AgentMessageBench.run())
console.log("\n== Smux ==")
rows.push(...(await SmuxBench.run()))
console.log("\n== Session ==")
rows.push(...(await SessionBench.run()))
console.log("\n== Port forwarding ==")
rows.push(...(await PortForwardingBench.run()))
console.log("\n== Session pool ==")
rows.push(...(await PoolBench.run()))
console.log("\n== SOCKS proxy ==")
rows.push(...(await SocksBench.run()))
console.log("\n== Resume ==")
rows.push(...(await ResumeBench.run()))
console.log("\n== Client process (separate processes) ==")
rows.push(...(await ClientBench.run()))
console.log("\n== Browser (Debian's Chromium) ==")
rows.push(...(await BrowserBench.run()))
printTable(rows)
