/**
 * The client as its users install and run it: this package packed (`npm pack`) and installed from the tarball
 * into an empty project once a run (`test/release/install.ts`, without building again: `npm run bench` has just
 * built), then `node_modules/.bin/ssm-session-manager install-plugin --dir <dir>` run on this Node, and the
 * `session-manager-plugin` script it writes (Node under the script's flags running the installed
 * `dist/bin/sessionManagerPlugin.js`) measured in a process of its own, with the simulated agent in this one in
 * its fast mode (no pacing, the agent's own sender). Figures for the client process alone, read from /proc: start
 * to listening, and the installed `ssm-session-manager ssh-proxy` from its start to a first byte back through an
 * echo server (through the real AWS SDK: the simulator's HTTP API as the SSM endpoint, a managed node the
 * simulator knows at 127.0.0.1), CPU seconds per GiB (one 256 MiB download, 64 connections of 4 MiB), peak and
 * late RSS, idle CPU and RSS, the 1-byte round trip, and how soon the agent sees its messages acknowledged.
 * Every transfer is sha256-checked. The installed copy is removed at the end.
 *
 * The raw ceiling is a plain Node TCP relay process (no protocol, no agent): what moving the same bytes between
 * two sockets costs a Node process. With `SSM_BENCH_AWS_PLUGIN=/path/to/session-manager-plugin` AWS's client runs
 * the same workloads in the same run, alternating with ours (it has no ssh-proxy: n/a). `SSM_BENCH_IDLE_SECONDS`
 * (default 60) sets the idle measurement's length (after 10 s of settling); `SSM_BENCH_NODE_OPTIONS` adds flags to
 * our client's Node (`--cpu-prof`, say: Node then runs the installed plugin entry with the script's flags and
 * these), and `SSM_BENCH_SNAPSHOT` sends it SIGUSR2 a quarter into the download (for
 * `--heapsnapshot-signal=SIGUSR2`); `SSM_BENCH_ONLY_OURS` runs ours alone. `SSM_BENCH_BREAKDOWN=1` runs our
 * client with `bench/memorySampler.cjs` (`--require`, as `SSM_BENCH_NODE_OPTIONS` does) and prints, after the
 * main table, the memory and GC breakdown of the download, 64 x 4 MiB, round-trip and idle workloads
 * (`clientBreakdown.ts`); the sampler's timer then counts in our idle CPU. Linux only (/proc).
 */
import { Effect } from "effect"
import * as Url from "node:url"
import * as AgentSimulator from "../src/AgentSimulator.js"
import { BREAKDOWN, breakdownTable, emptyWindows, type Window, type Windows } from "./clientBreakdown.js"
import {
  aws,
  type Client,
  connect,
  cpuSeconds,
  echo,
  expectedDigest,
  GiB,
  INSTANCES,
  installOurs,
  memory,
  MiB,
  now,
  percentile,
  receiveAll,
  relay,
  source,
  sshProxyFirstByte,
  start
} from "./clientProcess.js"
import type { Row } from "./harness.js"

const IDLE_SECONDS = Number(process.env["SSM_BENCH_IDLE_SECONDS"] ?? 60)
const SETTLE_SECONDS = 10
const DOWNLOAD = 256 * MiB
const CONNECTIONS = 64
const EACH = 4 * MiB
const ROUND_TRIPS = 2000
const PACED = 4 * MiB
/** rounds of the two bulk workloads, each in a new process */
const ROUNDS = 3
/** starts of each kind */
const STARTS = 5

interface Figures {
  startMillis: number
  /** NaN for a client without ssh-proxy */
  sshProxyMillis: number
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

/** What every workload works with: the client, the unpaced simulator, the agent's ack times, the sample windows. */
interface Run {
  readonly client: Client
  readonly simulator: AgentSimulator.AgentSimulator
  readonly ackSamples: Array<number>
  readonly windows: Windows
}

/** Notes the window of a sampled process's workload. */
const note = (windows: Array<Window>, file: string | undefined, from: number) => {
  if (file !== undefined) windows.push({ file, from, to: Date.now() })
}

/** The plugin's start to listening, ssh-proxy's start to a first byte back: the medians of 5. */
const measureStarts = ({ client, simulator }: Run) =>
  Effect.gen(function*() {
    const starts: Array<number> = []
    const proxies: Array<number> = []
    for (let i = 0; i < STARTS; i++) {
      starts.push(yield* Effect.scoped(Effect.flatMap(echo, (port) => Effect.map(start(client, simulator, port), (c) => c.startMillis))))
    }
    if (client.sshProxy !== undefined) {
      for (let i = 0; i < STARTS; i++) {
        proxies.push(yield* Effect.scoped(Effect.flatMap(echo, (port) => sshProxyFirstByte(client, simulator, port))))
      }
    }
    return { startMillis: percentile(starts, 0.5), sshProxyMillis: percentile(proxies, 0.5) }
  })

/**
 * One 256 MiB download, three times (a new process each): CPU and throughput are the median round's, the peak
 * RSS the highest; the RSS a quarter in and at the end, the own RSS and the acknowledgement times are the last
 * round's.
 */
const measureDownloads = ({ client, simulator, ackSamples, windows }: Run) =>
  Effect.gen(function*() {
    const figures = {
      downloadRssQuarter: 0,
      downloadRssEnd: 0,
      downloadAnonymous: 0,
      ackP50: Number.NaN,
      ackP99: Number.NaN,
      ackMax: Number.NaN
    }
    const downloads: Array<{ readonly cpu: number; readonly mbps: number; readonly peak: number }> = []
    for (let round = 0; round < ROUNDS; round++) {
      yield* Effect.scoped(Effect.gen(function*() {
        const destination = yield* source(DOWNLOAD)
        const process = yield* start(client, simulator, destination)
        const digest = expectedDigest(DOWNLOAD)
        ackSamples.length = 0
        const cpu = cpuSeconds(process.pid)
        const began = now()
        const from = Date.now()
        let quarter = 0
        const socket = yield* connect(process.port)
        yield* Effect.tapError(receiveAll(socket, DOWNLOAD, digest, (received) => {
          if (quarter === 0 && received >= DOWNLOAD / 4) {
            quarter = memory(process.pid).rss
            if (globalThis.process.env["SSM_BENCH_SNAPSHOT"] !== undefined) globalThis.process.kill(process.pid, "SIGUSR2")
          }
        }), () => Effect.sync(() => console.error(`${client.name} said: ${process.stderr()}`)))
        const seconds = (now() - began) / 1000
        note(windows.download, process.samples, from)
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
    const median = [...downloads].sort((a, b) => a.cpu - b.cpu)[Math.floor(downloads.length / 2)]!
    return {
      ...figures,
      downloadCpuPerGiB: median.cpu,
      downloadMBps: median.mbps,
      downloadPeakRss: Math.max(...downloads.map((d) => d.peak))
    }
  })

/**
 * A download at the service's pace (the agent sends at most 1000 messages a second): how soon acks go out when
 * the agent is not itself the bottleneck, as it is in the unpaced download.
 */
const measurePaced = ({ client, ackSamples }: Run) =>
  Effect.scoped(Effect.gen(function*() {
    const paced = yield* AgentSimulator.make({
      messagesPerSecond: 1000,
      onAcknowledged: (millis) => ackSamples.push(millis)
    })
    const destination = yield* source(PACED)
    const process = yield* start(client, paced, destination)
    ackSamples.length = 0
    yield* receiveAll(yield* connect(process.port), PACED, expectedDigest(PACED))
    return { pacedAckP50: percentile(ackSamples, 0.5), pacedAckP99: percentile(ackSamples, 0.99) }
  }))

/** 64 connections of 4 MiB at once, three times: the median round's figures. */
const measureMany = ({ client, simulator, windows }: Run) =>
  Effect.gen(function*() {
    const manys: Array<{ readonly cpu: number; readonly mbps: number }> = []
    for (let round = 0; round < ROUNDS; round++) {
      yield* Effect.scoped(Effect.gen(function*() {
        const destination = yield* source(EACH)
        const process = yield* start(client, simulator, destination)
        const digest = expectedDigest(EACH)
        const cpu = cpuSeconds(process.pid)
        const began = now()
        const from = Date.now()
        yield* Effect.forEach(
          Array.from({ length: CONNECTIONS }),
          () => Effect.flatMap(connect(process.port), (socket) => receiveAll(socket, EACH, digest)),
          { concurrency: "unbounded", discard: true }
        )
        const seconds = (now() - began) / 1000
        note(windows.many, process.samples, from)
        manys.push({ cpu: (cpuSeconds(process.pid) - cpu) / (CONNECTIONS * EACH / GiB), mbps: CONNECTIONS * EACH / 1e6 / seconds })
      }))
    }
    const median = [...manys].sort((a, b) => a.cpu - b.cpu)[Math.floor(manys.length / 2)]!
    return { manyCpuPerGiB: median.cpu, manyMBps: median.mbps }
  })

/** 1-byte round trips, then the same connection left idle. */
const measureRoundTripsAndIdle = ({ client, simulator, windows }: Run) =>
  Effect.scoped(Effect.gen(function*() {
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
    const from = Date.now()
    for (let i = 0; i < ROUND_TRIPS; i++) times.push(yield* roundTrip)
    note(windows.roundTrip, process.samples, from)
    // steady idle: what the round trips left (V8's idle-time collections) settles first
    yield* Effect.sleep(SETTLE_SECONDS * 1000)
    const cpu = cpuSeconds(process.pid)
    const idleFrom = Date.now()
    yield* Effect.sleep(IDLE_SECONDS * 1000)
    note(windows.idle, process.samples, idleFrom)
    const figures = {
      rttP50: percentile(times, 0.5),
      rttP99: percentile(times, 0.99),
      idleCpuPercent: (cpuSeconds(process.pid) - cpu) / IDLE_SECONDS * 100,
      idleRss: memory(process.pid).rss,
      idleAnonymous: memory(process.pid).anonymous
    }
    socket.destroy()
    return figures
  }))

const measureClient = (client: Client, windows: Windows) =>
  Effect.gen(function*() {
    const ackSamples: Array<number> = []
    const simulator = yield* AgentSimulator.make({
      messagesPerSecond: 0,
      instances: INSTANCES,
      onAcknowledged: (millis) => ackSamples.push(millis)
    })
    const run: Run = { client, simulator, ackSamples, windows }
    const figures: Figures = {
      ...(yield* measureStarts(run)),
      ...(yield* measureDownloads(run)),
      ...(yield* measurePaced(run)),
      ...(yield* measureMany(run)),
      ...(yield* measureRoundTripsAndIdle(run))
    }
    return figures
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
    // n/a: a figure the client has no part for (AWS's client and the relay have no ssh-proxy)
    const show = (figure: number) => Number.isFinite(figure) ? `${format(figure)} ${unit}` : "n/a"
    const against = aws === undefined
      ? ""
      : `; AWS's client ${show(theirs)}${theirs > 0 && value > 0 ? ` (${(value / theirs).toFixed(2)}x)` : ""}`
    const bound = pick(ceiling)
    return {
      group: "Client process",
      name,
      value: `${show(value)}${against}`,
      ceiling: show(bound),
      ...(bound > 0 && value > 0 ? { ratio: value / bound } : {})
    }
  }
  const ack = (name: string, pick: (figures: Figures) => number): Row => ({
    group: "Client process",
    name,
    value: `${fixed(0)(pick(ours))} ms${aws === undefined ? "" : `; AWS's client ${fixed(0)(pick(aws))} ms`}`
  })
  return [
    row(`start to listening (median of ${STARTS})`, (f) => f.startMillis, fixed(0), "ms"),
    row(`ssh-proxy: start to first byte through (median of ${STARTS})`, (f) => f.sshProxyMillis, fixed(0), "ms"),
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

const withUnit = (figure: string, unit: string) => figure === "n/a" ? figure : `${figure} ${unit}`

const describe = (name: string, figures: Figures) =>
  console.log(
    `${name.padEnd(14)} start ${fixed(0)(figures.startMillis)} ms, ssh-proxy ${withUnit(fixed(0)(figures.sshProxyMillis), "ms")} | ` +
      `download ${fixed(2)(figures.downloadCpuPerGiB)} s/GiB ` +
      `${fixed(1)(figures.downloadMBps)} MB/s peak ${fixed(0)(figures.downloadPeakRss)} MiB ` +
      `(rss ${fixed(0)(figures.downloadRssQuarter)} -> ${fixed(0)(figures.downloadRssEnd)}, own ${fixed(0)(figures.downloadAnonymous)}) | ` +
      `${CONNECTIONS}x4MiB ${fixed(2)(figures.manyCpuPerGiB)} s/GiB ${fixed(1)(figures.manyMBps)} MB/s | ` +
      `rtt ${fixed(2)(figures.rttP50)}/${fixed(2)(figures.rttP99)} ms | idle ${fixed(2)(figures.idleCpuPercent)}% ` +
      `${fixed(0)(figures.idleRss)} MiB (own ${fixed(0)(figures.idleAnonymous)}) | ack paced ${fixed(0)(figures.pacedAckP50)}/` +
      `${fixed(0)(figures.pacedAckP99)} ms, unpaced ${fixed(0)(figures.ackP50)}/${fixed(0)(figures.ackP99)}/${fixed(0)(figures.ackMax)} ms`
  )

export const run = async (): Promise<Array<Row>> => {
  const awsBinary = process.env["SSM_BENCH_AWS_PLUGIN"]
  const only = process.env["SSM_BENCH_ONLY_OURS"] !== undefined
  const installed = installOurs()
  try {
    const ourClient = installed.client
    const clients = [ourClient, ...(only ? [] : [relay]), ...(awsBinary === undefined || only ? [] : [aws(awsBinary)])]
    const results = new Map<Client, Figures>()
    const windows = emptyWindows()
    for (const client of clients) {
      const figures = await Effect.runPromise(measureClient(client, windows))
      describe(client.name, figures)
      results.set(client, figures)
    }
    if (BREAKDOWN) {
      // read now (the samples go with the installed copy), printed after the run's table
      const table = breakdownTable(windows, {
        download: `${DOWNLOAD / MiB} MiB download`,
        many: `${CONNECTIONS} x ${EACH / MiB} MiB`,
        roundTrip: `${ROUND_TRIPS} 1-byte round trips`,
        idle: `idle ${IDLE_SECONDS} s`
      }, ROUND_TRIPS)
      process.once("beforeExit", () => console.log(`\n${table}`))
    }
    if (only) return []
    return rows(results.get(ourClient)!, results.get(relay)!, awsBinary === undefined ? undefined : results.get(clients[2]!))
  } finally {
    installed.remove()
  }
}

if (import.meta.url === Url.pathToFileURL(process.argv[1] ?? "").href) {
  const { printTable } = await import("./harness.js")
  printTable(await run())
}
