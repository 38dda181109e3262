/**
 * The client as its users run it: the drop-in plugin as `install-plugin` installs it (the bundle `npm run build`
 * makes, `dist/bin/sessionManagerPlugin.js`, under the script's Node flags) in a process of its own, the simulated agent in this one in its fast mode (no pacing, the agent's own sender), and figures
 * for the client process alone, read from /proc: CPU seconds per GiB (one 256 MiB download, 64 connections of
 * 4 MiB), peak and late RSS, idle CPU and RSS, start to listening, the 1-byte round trip, and how soon the agent
 * sees its messages acknowledged. Every transfer is sha256-checked.
 *
 * The raw ceiling is a plain Node TCP relay process (no protocol, no agent): what moving the same bytes between
 * two sockets costs a Node process. With `SSM_BENCH_AWS_PLUGIN=/path/to/session-manager-plugin` AWS's client runs
 * the same workloads in the same run, alternating with ours. `SSM_BENCH_IDLE_SECONDS` (default 60) sets the idle
 * measurement's length (after 10 s of settling); `SSM_BENCH_NODE_OPTIONS` adds flags to our client's Node (`--cpu-prof`, say), and
 * `SSM_BENCH_SNAPSHOT` sends it SIGUSR2 a quarter into the download (for `--heapsnapshot-signal=SIGUSR2`);
 * `SSM_BENCH_ONLY_OURS` runs ours alone. Linux only
 * (/proc).
 */
import { Effect, Redacted } from "effect"
import * as ChildProcess from "node:child_process"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Url from "node:url"
import * as AgentSimulator from "../src/AgentSimulator.js"
import { nodeFlags } from "../src/cli/installPlugin.js"
import type { Row } from "./harness.js"
import { server } from "./portForwarding.js"

const MiB = 1024 * 1024
const GiB = 1024 * MiB
const root = Path.resolve(Path.dirname(Url.fileURLToPath(import.meta.url)), "..")
const CLOCK_TICKS = Number(ChildProcess.execFileSync("getconf", ["CLK_TCK"]).toString().trim()) || 100
const IDLE_SECONDS = Number(process.env["SSM_BENCH_IDLE_SECONDS"] ?? 60)
const SETTLE_SECONDS = 10
const now = () => performance.now()

// ---------------------------------------------------------------------------------------------------------------
// the process under measurement

/** CPU seconds (user + system) a process has used so far. */
const cpuSeconds = (pid: number): number => {
  const stat = Fs.readFileSync(`/proc/${pid}/stat`, "utf8")
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS
}

/**
 * Current and peak resident set size of a process, in MiB, and the part of the current one that is the process's
 * own (anonymous memory: heaps, buffers), not pages of its executable and libraries that other processes share.
 */
const memory = (pid: number): { readonly rss: number; readonly peak: number; readonly anonymous: number } => {
  const status = Fs.readFileSync(`/proc/${pid}/status`, "utf8")
  const kib = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, "m").exec(status)?.[1] ?? 0)
  return { rss: kib("VmRSS") / 1024, peak: kib("VmHWM") / 1024, anonymous: kib("RssAnon") / 1024 }
}

/** The relay that stands for the raw ceiling: listens on argv[1], pipes each connection to argv[2]. */
const RELAY = `
import * as Net from "node:net"
const [listen, destination] = process.argv.slice(1).map(Number)
Net.createServer({ noDelay: true }, (socket) => {
  const peer = Net.connect({ port: destination, host: "127.0.0.1", noDelay: true })
  socket.pipe(peer).pipe(socket)
  socket.on("error", () => peer.destroy())
  peer.on("error", () => socket.destroy())
}).listen(listen, "127.0.0.1", () => console.log("Waiting for connections..."))
`

interface Client {
  readonly name: string
  readonly env?: Record<string, string>
  /** the command line for a port session to `destination` listening on `local` */
  readonly command: (
    response: AgentSimulator.StartSessionResponse,
    endpoint: string,
    destination: number,
    local: number
  ) => readonly [string, ReadonlyArray<string>]
}

const pluginArguments = (
  response: AgentSimulator.StartSessionResponse,
  endpoint: string,
  destination: number,
  local: number
) => [
  JSON.stringify({ SessionId: response.SessionId, TokenValue: Redacted.value(response.TokenValue), StreamUrl: response.StreamUrl }),
  "us-east-1",
  "StartSession",
  "",
  JSON.stringify({
    Target: "i-bench",
    DocumentName: "AWS-StartPortForwardingSession",
    Parameters: { portNumber: [String(destination)], localPortNumber: [String(local)] }
  }),
  endpoint
]

/** Ours, installed by `install-plugin` into `dir`: the script execs Node, so its process is the one measured. */
const ours = (dir: string): Client => {
  ChildProcess.execFileSync(process.execPath, [Path.join(root, "dist", "bin", "main.js"), "install-plugin", "--dir", dir])
  const extra = (process.env["SSM_BENCH_NODE_OPTIONS"] ?? "").split(" ").filter((option) => option !== "")
  return {
    name: "this library",
    // with extra Node flags (not all are allowed in NODE_OPTIONS), Node runs the entry as the script would
    command: (response, endpoint, destination, local) =>
      extra.length === 0
        ? [Path.join(dir, "session-manager-plugin"), pluginArguments(response, endpoint, destination, local)]
        : [process.execPath, [
          ...nodeFlags(),
          ...extra,
          Path.join(root, "dist", "bin", "sessionManagerPlugin.js"),
          ...pluginArguments(response, endpoint, destination, local)
        ]]
  }
}

const aws = (binary: string): Client => ({
  name: "AWS's client",
  command: (response, endpoint, destination, local) => [binary, pluginArguments(response, endpoint, destination, local)]
})

const relay: Client = {
  name: "raw relay",
  command: (_response, _endpoint, destination, local) => [
    process.execPath,
    ["--input-type=module", "-e", RELAY, String(local), String(destination)]
  ]
}

// ---------------------------------------------------------------------------------------------------------------
// the destination side: servers on 127.0.0.1, and the agent

/** A block of pseudo-random bytes, repeated to make up transfers. */
const pattern = Crypto.randomBytes(MiB)

const expectedDigest = (size: number): string => {
  const hash = Crypto.createHash("sha256")
  for (let left = size; left > 0; left -= pattern.length) hash.update(pattern.subarray(0, Math.min(left, pattern.length)))
  return hash.digest("hex")
}

/** Each connection gets `size` bytes of the pattern, then an end. */
const source = (size: number) =>
  server((socket) => {
    let left = size
    const pump = () => {
      while (left > 0) {
        const chunk = pattern.subarray(0, Math.min(left, pattern.length))
        left -= chunk.length
        if (!socket.write(chunk)) return void socket.once("drain", pump)
      }
      socket.end()
    }
    pump()
  })

const echo = server((socket) => socket.pipe(socket))

const freePort = Effect.async<number>((resume) => {
  const probe = Net.createServer()
  probe.listen(0, "127.0.0.1", () => {
    const port = (probe.address() as Net.AddressInfo).port
    probe.close(() => resume(Effect.succeed(port)))
  })
})

/** A client process for the scope, started on a new session to `destination`; resolves once it listens. */
const start = (
  client: Client,
  simulator: AgentSimulator.AgentSimulator,
  destination: number
) =>
  Effect.gen(function*() {
    const local = yield* freePort
    // AWS's client listens on the port the agent's session properties name, ours on the request's
    const response = yield* simulator.startSession({
      plugin: AgentSimulator.portPlugin(),
      properties: { portNumber: String(destination), type: "LocalPortForwarding", localPortNumber: String(local) }
    })
    const [command, args] = client.command(response, simulator.endpoint, destination, local)
    const started = now()
    const child = yield* Effect.acquireRelease(
      Effect.sync(() => ChildProcess.spawn(command, args, {
        // the simulator's credentials: its API (the plugin's ResumeSession, TerminateSession) answers no other
        env: {
          ...process.env,
          ...client.env,
          AWS_ACCESS_KEY_ID: simulator.credentials.accessKeyId,
          AWS_SECRET_ACCESS_KEY: Redacted.value(simulator.credentials.secretAccessKey)
        },
        stdio: ["ignore", "pipe", "pipe"]
      })),
      (child) =>
        Effect.async<void>((resume) => {
          if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
          // SIGINT first, so that a profile asked for through SSM_BENCH_NODE_OPTIONS is written
          const kill = setTimeout(() => child.kill("SIGKILL"), 3000)
          child.once("exit", () => {
            clearTimeout(kill)
            resume(Effect.void)
          })
          child.kill("SIGINT")
        })
    )
    let stderr = ""
    let stdout = ""
    child.stderr!.on("data", (data: Buffer) => (stderr += data.toString()))
    child.stdout!.on("data", (data: Buffer) => (stdout = (stdout + data.toString()).slice(-2000)))
    // a client that dies under a workload says why
    child.once("exit", (code, signal) => {
      if (!child.killed) console.error(`${client.name} exited (${code ?? signal}): ${stderr.slice(-2000)}${stdout}`)
    })
    yield* Effect.async<void, Error>((resume) => {
      let output = ""
      child.stdout!.on("data", (data: Buffer) => {
        output += data.toString()
        if (output.includes("Waiting for connections")) resume(Effect.void)
      })
      child.once("exit", (code) => resume(Effect.fail(new Error(`${client.name} exited (${code}): ${stderr}`))))
    })
    return { pid: child.pid!, port: local, startMillis: now() - started, stderr: () => stderr }
  })

const connect = (port: number) =>
  Effect.async<Net.Socket, Error>((resume) => {
    const socket = Net.connect({ port, host: "127.0.0.1", noDelay: true }, () => resume(Effect.succeed(socket)))
    socket.once("error", (error) => resume(Effect.fail(error)))
  })

/** Reads a connection to its end; fails unless exactly `size` bytes with the pattern's digest arrived. */
const receiveAll = (socket: Net.Socket, size: number, digest: string, onProgress?: (received: number) => void) =>
  Effect.async<void, Error>((resume) => {
    const hash = Crypto.createHash("sha256")
    let received = 0
    socket.on("data", (chunk: Buffer) => {
      received += chunk.length
      hash.update(chunk)
      onProgress?.(received)
    })
    socket.once("error", (error) => resume(Effect.fail(error)))
    socket.once("close", () => {
      const actual = hash.digest("hex")
      resume(
        received === size && actual === digest
          ? Effect.void
          : Effect.fail(new Error(`received ${received} of ${size} bytes, digest ${actual === digest ? "ok" : "wrong"}`))
      )
    })
  })

// ---------------------------------------------------------------------------------------------------------------
// the workloads

const percentile = (values: ReadonlyArray<number>, p: number): number => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? Number.NaN
}

interface Figures {
  startMillis: number
  downloadCpuPerGiB: number
  downloadMBps: number
  downloadPeakRss: number
  /** RSS when a quarter and when all of the download had arrived */
  downloadRssQuarter: number
  downloadRssEnd: number
  manyCpuPerGiB: number
  manyMBps: number
  rttP50: number
  rttP99: number
  idleCpuPercent: number
  idleRss: number
  idleAnonymous: number
  downloadAnonymous: number
  pacedAckP50: number
  pacedAckP99: number
  ackP50: number
  ackP99: number
  ackMax: number
}

const DOWNLOAD = 256 * MiB
const CONNECTIONS = 64
const EACH = 4 * MiB
const ROUND_TRIPS = 2000
const PACED = 4 * MiB
/** rounds of the two bulk workloads, each in a new process */
const ROUNDS = 3

const measureClient = (client: Client, ackSamples: Array<number>) =>
  Effect.gen(function*() {
    const figures: Partial<Figures> = {}
    const simulator = yield* AgentSimulator.make({
      messagesPerSecond: 0,
      onAcknowledged: (millis) => ackSamples.push(millis)
    })

    // start to listening: the median of 5
    const starts: Array<number> = []
    for (let i = 0; i < 5; i++) {
      starts.push(yield* Effect.scoped(Effect.map(start(client, simulator, yield* echo), (c) => c.startMillis)))
    }
    figures.startMillis = percentile(starts, 0.5)

    // one 256 MiB download, three times (a new process each): CPU and throughput are the median round's, the peak
    // RSS the highest
    const downloads: Array<{ readonly cpu: number; readonly mbps: number; readonly peak: number }> = []
    for (let round = 0; round < ROUNDS; round++) {
      yield* Effect.scoped(Effect.gen(function*() {
        const destination = yield* source(DOWNLOAD)
        const process = yield* start(client, simulator, destination)
        const digest = expectedDigest(DOWNLOAD)
        ackSamples.length = 0
        const cpu = cpuSeconds(process.pid)
        const began = now()
        let quarter = 0
        const socket = yield* connect(process.port)
        yield* Effect.tapError(receiveAll(socket, DOWNLOAD, digest, (received) => {
          if (quarter === 0 && received >= DOWNLOAD / 4) {
            quarter = memory(process.pid).rss
            if (globalThis.process.env["SSM_BENCH_SNAPSHOT"] !== undefined) globalThis.process.kill(process.pid, "SIGUSR2")
          }
        }), () => Effect.sync(() => console.error(`${client.name} said: ${process.stderr()}`)))
        const seconds = (now() - began) / 1000
        const { peak, rss } = memory(process.pid)
        downloads.push({ cpu: (cpuSeconds(process.pid) - cpu) / (DOWNLOAD / GiB), mbps: DOWNLOAD / 1e6 / seconds, peak })
        figures.downloadRssQuarter = quarter
        figures.downloadRssEnd = rss
        figures.downloadAnonymous = memory(process.pid).anonymous
        if (ackSamples.length > 0) {
          figures.ackP50 = percentile(ackSamples, 0.5)
          figures.ackP99 = percentile(ackSamples, 0.99)
          figures.ackMax = percentile(ackSamples, 1)
        }
      }))
    }
    const medianDownload = [...downloads].sort((a, b) => a.cpu - b.cpu)[Math.floor(downloads.length / 2)]!
    figures.downloadCpuPerGiB = medianDownload.cpu
    figures.downloadMBps = medianDownload.mbps
    figures.downloadPeakRss = Math.max(...downloads.map((d) => d.peak))

    // a download at the service's pace (the agent sends at most 1000 messages a second): how soon acks go out
    // when the agent is not itself the bottleneck, as it is above
    yield* Effect.scoped(Effect.gen(function*() {
      const paced = yield* AgentSimulator.make({
        messagesPerSecond: 1000,
        onAcknowledged: (millis) => ackSamples.push(millis)
      })
      const destination = yield* source(PACED)
      const process = yield* start(client, paced, destination)
      ackSamples.length = 0
      yield* receiveAll(yield* connect(process.port), PACED, expectedDigest(PACED))
      figures.pacedAckP50 = percentile(ackSamples, 0.5)
      figures.pacedAckP99 = percentile(ackSamples, 0.99)
    }))

    // 64 connections of 4 MiB at once, three times: the median round's figures
    const manys: Array<{ readonly cpu: number; readonly mbps: number }> = []
    for (let round = 0; round < ROUNDS; round++) {
      yield* Effect.scoped(Effect.gen(function*() {
        const destination = yield* source(EACH)
        const process = yield* start(client, simulator, destination)
        const digest = expectedDigest(EACH)
        const cpu = cpuSeconds(process.pid)
        const began = now()
        yield* Effect.forEach(
          Array.from({ length: CONNECTIONS }),
          () => Effect.flatMap(connect(process.port), (socket) => receiveAll(socket, EACH, digest)),
          { concurrency: "unbounded", discard: true }
        )
        const seconds = (now() - began) / 1000
        manys.push({ cpu: (cpuSeconds(process.pid) - cpu) / (CONNECTIONS * EACH / GiB), mbps: CONNECTIONS * EACH / 1e6 / seconds })
      }))
    }
    const medianMany = [...manys].sort((a, b) => a.cpu - b.cpu)[Math.floor(manys.length / 2)]!
    figures.manyCpuPerGiB = medianMany.cpu
    figures.manyMBps = medianMany.mbps

    // 1-byte round trips, then the same connection left idle
    yield* Effect.scoped(Effect.gen(function*() {
      const process = yield* start(client, simulator, yield* echo)
      const socket = yield* connect(process.port)
      const one = Buffer.from([42])
      const roundTrip = Effect.async<number>((resume) => {
        const sent = now()
        socket.once("data", () => resume(Effect.succeed(now() - sent)))
        socket.write(one)
      })
      for (let i = 0; i < 200; i++) yield* roundTrip
      const times: Array<number> = []
      for (let i = 0; i < ROUND_TRIPS; i++) times.push(yield* roundTrip)
      figures.rttP50 = percentile(times, 0.5)
      figures.rttP99 = percentile(times, 0.99)
      // steady idle: what the round trips left (V8's idle-time collections) settles first
      yield* Effect.sleep(SETTLE_SECONDS * 1000)
      const cpu = cpuSeconds(process.pid)
      yield* Effect.sleep(IDLE_SECONDS * 1000)
      figures.idleCpuPercent = (cpuSeconds(process.pid) - cpu) / IDLE_SECONDS * 100
      figures.idleRss = memory(process.pid).rss
      figures.idleAnonymous = memory(process.pid).anonymous
      socket.destroy()
    }))
    return figures as Figures
  }).pipe(Effect.scoped)

const fixed = (digits: number) => (value: number) => Number.isFinite(value) ? value.toFixed(digits) : "n/a"

/** The rows: ours, with the relay as the ceiling, and AWS's client beside them when it ran. */
const rows = (ours: Figures, ceiling: Figures, aws: Figures | undefined): Array<Row> => {
  const row = (
    name: string,
    pick: (figures: Figures) => number,
    format: (value: number) => string,
    unit: string
  ): Row => {
    const value = pick(ours)
    const theirs = aws === undefined ? 0 : pick(aws)
    const against = aws === undefined
      ? ""
      : `; AWS's client ${format(theirs)} ${unit}${theirs > 0 && value > 0 ? ` (${(value / theirs).toFixed(2)}x)` : ""}`
    const bound = pick(ceiling)
    return {
      group: "Client process",
      name,
      value: `${format(value)} ${unit}${against}`,
      ceiling: `${format(bound)} ${unit}`,
      ...(bound > 0 && value > 0 ? { ratio: value / bound } : {})
    }
  }
  const ack = (name: string, pick: (figures: Figures) => number): Row => ({
    group: "Client process",
    name,
    value: `${fixed(0)(pick(ours))} ms${aws === undefined ? "" : `; AWS's client ${fixed(0)(pick(aws))} ms`}`
  })
  return [
    row("start to listening (median of 5)", (f) => f.startMillis, fixed(0), "ms"),
    row("256 MiB download: CPU per GiB (median of 3)", (f) => f.downloadCpuPerGiB, fixed(2), "s"),
    row("256 MiB download: throughput (median of 3)", (f) => f.downloadMBps, fixed(1), "MB/s"),
    row("256 MiB download: peak RSS (highest of 3)", (f) => f.downloadPeakRss, fixed(0), "MiB"),
    row("256 MiB download: own (anonymous) RSS at the end", (f) => f.downloadAnonymous, fixed(0), "MiB"),
    row("256 MiB download: RSS at 64 MiB / at the end", (f) => f.downloadRssEnd - f.downloadRssQuarter, fixed(0), "MiB growth"),
    row(`${CONNECTIONS} x 4 MiB: CPU per GiB (median of 3)`, (f) => f.manyCpuPerGiB, fixed(2), "s"),
    row(`${CONNECTIONS} x 4 MiB: throughput (median of 3)`, (f) => f.manyMBps, fixed(1), "MB/s"),
    row("1-byte round trip p50", (f) => f.rttP50, fixed(2), "ms"),
    row("1-byte round trip p99", (f) => f.rttP99, fixed(2), "ms"),
    row(`idle ${IDLE_SECONDS} s, one connection open: CPU`, (f) => f.idleCpuPercent, fixed(2), "%"),
    row("idle, one connection open: RSS", (f) => f.idleRss, fixed(0), "MiB"),
    row("idle, one connection open: own (anonymous) RSS", (f) => f.idleAnonymous, fixed(0), "MiB"),
    ack("send-to-ack seen by the agent at 1000 msg/s: p50", (f) => f.pacedAckP50),
    ack("send-to-ack seen by the agent at 1000 msg/s: p99", (f) => f.pacedAckP99),
    ack("send-to-ack seen by the agent, unpaced download: p50", (f) => f.ackP50),
    ack("send-to-ack seen by the agent, unpaced download: p99", (f) => f.ackP99)
  ]
}

const describe = (name: string, figures: Figures) =>
  console.log(
    `${name.padEnd(14)} start ${fixed(0)(figures.startMillis)} ms | download ${fixed(2)(figures.downloadCpuPerGiB)} s/GiB ` +
      `${fixed(1)(figures.downloadMBps)} MB/s peak ${fixed(0)(figures.downloadPeakRss)} MiB ` +
      `(rss ${fixed(0)(figures.downloadRssQuarter)} -> ${fixed(0)(figures.downloadRssEnd)}, own ${fixed(0)(figures.downloadAnonymous)}) | ` +
      `${CONNECTIONS}x4MiB ${fixed(2)(figures.manyCpuPerGiB)} s/GiB ${fixed(1)(figures.manyMBps)} MB/s | ` +
      `rtt ${fixed(2)(figures.rttP50)}/${fixed(2)(figures.rttP99)} ms | idle ${fixed(2)(figures.idleCpuPercent)}% ` +
      `${fixed(0)(figures.idleRss)} MiB (own ${fixed(0)(figures.idleAnonymous)}) | ack paced ${fixed(0)(figures.pacedAckP50)}/` +
      `${fixed(0)(figures.pacedAckP99)} ms, unpaced ${fixed(0)(figures.ackP50)}/${fixed(0)(figures.ackP99)}/${fixed(0)(figures.ackMax)} ms`
  )

export const run = async (): Promise<Array<Row>> => {
  if (!Fs.existsSync(Path.join(root, "dist", "bin", "sessionManagerPlugin.js"))) {
    throw new Error("bench/client.ts runs the built client: run `npm run build` first")
  }
  const awsBinary = process.env["SSM_BENCH_AWS_PLUGIN"]
  const only = process.env["SSM_BENCH_ONLY_OURS"] !== undefined
  const pluginDir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "ssm-bench-plugin-"))
  const ourClient = ours(pluginDir)
  const clients = [ourClient, ...(only ? [] : [relay]), ...(awsBinary === undefined || only ? [] : [aws(awsBinary)])]
  const results = new Map<Client, Figures>()
  for (const client of clients) {
    const figures = await Effect.runPromise(measureClient(client, []))
    describe(client.name, figures)
    results.set(client, figures)
  }
  Fs.rmSync(pluginDir, { recursive: true, force: true })
  if (only) return []
  return rows(results.get(ourClient)!, results.get(relay)!, awsBinary === undefined ? undefined : results.get(clients[2]!))
}

if (import.meta.url === Url.pathToFileURL(process.argv[1] ?? "").href) {
  const { printTable } = await import("./harness.js")
  printTable(await run())
}
