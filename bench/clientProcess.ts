/**
 * The processes bench/client.ts measures and what they talk to: our client as a user installs it (this package
 * packed and installed from its tarball into an empty project, `test/release/install.ts`, then its
 * `install-plugin`), AWS's client, the raw relay; the destination servers on 127.0.0.1; and the figures of a
 * process read from /proc.
 */
import { Effect, Redacted } from "effect"
import * as ChildProcess from "node:child_process"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Path from "node:path"
import * as Url from "node:url"
import * as AgentSimulator from "../src/AgentSimulator.js"
import { nodeFlags } from "../src/cli/installPlugin.js"
import { packAndInstall } from "../test/release/install.js"
import { homeEnvironment, sdkEnvironment } from "../test/release/processes.js"
import { credentialsEnvironment, sdkCredentials } from "../test/utils/aws.js"
import { BREAKDOWN, SAMPLER } from "./clientBreakdown.js"
import { server } from "./portForwarding.js"

const root = Path.resolve(Path.dirname(Url.fileURLToPath(import.meta.url)), "..")
/** sizes in bytes */
export const MiB = 1024 * 1024
export const GiB = 1024 * MiB
const CLOCK_TICKS = Number(ChildProcess.execFileSync("getconf", ["CLK_TCK"]).toString().trim()) || 100
/** the benchmark's clock, in ms */
export const now = () => performance.now()

/** the value at fraction `p` of the sorted values */
export const percentile = (values: ReadonlyArray<number>, p: number): number => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? Number.NaN
}

/** CPU seconds (user + system) a process has used so far. */
export const cpuSeconds = (pid: number): number => {
  const stat = Fs.readFileSync(`/proc/${pid}/stat`, "utf8")
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS
}

/**
 * Current and peak resident set size of a process, in MiB, and the part of the current one that is the process's
 * own (anonymous memory: heaps, buffers), not pages of its executable and libraries that other processes share.
 */
export const memory = (pid: number): { readonly rss: number; readonly peak: number; readonly anonymous: number } => {
  const status = Fs.readFileSync(`/proc/${pid}/status`, "utf8")
  const kib = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, "m").exec(status)?.[1] ?? 0)
  return { rss: kib("VmRSS") / 1024, peak: kib("VmHWM") / 1024, anonymous: kib("RssAnon") / 1024 }
}

// ---------------------------------------------------------------------------------------------------------------
// the clients

/** The managed node the simulator knows, reached at 127.0.0.1: ssh-proxy's target. */
export const INSTANCE = "i-0123456789abcdef0"
export const INSTANCES: ReadonlyArray<AgentSimulator.SimulatedInstance> = [
  { instanceId: INSTANCE, tags: { Name: "bench-1" }, computerName: "bench-1", ipAddress: "127.0.0.1" }
]

type CommandLine = readonly [string, ReadonlyArray<string>]

export interface Client {
  readonly name: string
  readonly env?: Record<string, string>
  /** the command line for a port session to `destination` listening on `local` */
  readonly command: (
    response: AgentSimulator.StartSessionResponse,
    endpoint: string,
    destination: number,
    local: number
  ) => CommandLine
  /** `ssh-proxy` to `port` on `INSTANCE`, with its environment for `simulator`; a client without one has none */
  readonly sshProxy?: (
    simulator: AgentSimulator.AgentSimulator,
    port: number
  ) => { readonly line: CommandLine; readonly env: Record<string, string> }
  /** under `SSM_BENCH_BREAKDOWN`, the directory of the samples files of its processes (one a process) */
  readonly samples?: string
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

/**
 * Ours as a user installs it: the package packed and installed into an empty project (once a bench run; the
 * build is `npm run bench`'s own, so `SSM_RELEASE_SKIP_BUILD`), and `node_modules/.bin/ssm-session-manager
 * install-plugin` run on this Node, whose `session-manager-plugin` script execs Node: its process is the one
 * measured. With extra Node flags (`SSM_BENCH_NODE_OPTIONS`, the sampler of `SSM_BENCH_BREAKDOWN`; not all are
 * allowed in NODE_OPTIONS), Node runs the installed plugin entry as the script would. `remove` deletes it all.
 */
export const installOurs = (): { readonly client: Client; readonly remove: () => void } => {
  if (!Fs.existsSync(Path.join(root, "dist", "bin", "sessionManagerPlugin.js"))) {
    throw new Error("bench/client.ts packs the built package: run `npm run build` first")
  }
  process.env["SSM_RELEASE_SKIP_BUILD"] ??= "1"
  const installed = packAndInstall()
  try {
    // the Node running the bench first on the PATH (the bins' `#!/usr/bin/env node`), a home and cache of the run
    const env = homeEnvironment(process.execPath, installed.scratch)
    const dir = Path.join(installed.scratch, "plugin")
    ChildProcess.execFileSync(installed.bin, ["install-plugin", "--dir", dir], { env: { ...process.env, ...env }, stdio: "pipe" })
    const script = Path.join(dir, "session-manager-plugin")
    const entry = Path.join(installed.project, "node_modules", "ssm-session-manager", "dist", "bin", "sessionManagerPlugin.js")
    const extra = [
      ...(process.env["SSM_BENCH_NODE_OPTIONS"] ?? "").split(" ").filter((option) => option !== ""),
      ...(BREAKDOWN ? ["--require", SAMPLER] : [])
    ]
    // asked once: `nodeFlags()` runs `node --v8-options`, which a start must not pay
    const flags = extra.length === 0 ? [] : nodeFlags()
    const samples = BREAKDOWN ? Path.join(installed.scratch, "samples") : undefined
    if (samples !== undefined) Fs.mkdirSync(samples)
    const client: Client = {
      name: "this library",
      env,
      command: (response, endpoint, destination, local) =>
        extra.length === 0
          ? [script, pluginArguments(response, endpoint, destination, local)]
          : [process.execPath, [...flags, ...extra, entry, ...pluginArguments(response, endpoint, destination, local)]],
      sshProxy: (simulator, port) => ({
        line: [installed.bin, ["ssh-proxy", "--target", INSTANCE, "--port", String(port)]],
        // as test/release/harness.ts runs the bins: the simulator as every endpoint, no shared AWS config
        env: sdkEnvironment(env, sdkCredentials(simulator), simulator.endpoint)
      }),
      ...(samples === undefined ? {} : { samples })
    }
    return { client, remove: installed.remove }
  } catch (error) {
    installed.remove()
    throw error
  }
}

/** AWS's client, the binary `SSM_BENCH_AWS_PLUGIN` names, run as the AWS CLI runs it. */
export const aws = (binary: string): Client => ({
  name: "AWS's client",
  command: (response, endpoint, destination, local) => [binary, pluginArguments(response, endpoint, destination, local)]
})

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

/** the raw ceiling: a plain Node TCP relay process (`RELAY`) */
export const relay: Client = {
  name: "raw relay",
  command: (_response, _endpoint, destination, local) => [
    process.execPath,
    ["--input-type=module", "-e", RELAY, String(local), String(destination)]
  ]
}

// ---------------------------------------------------------------------------------------------------------------
// the destination side: servers on 127.0.0.1

/** A block of pseudo-random bytes, repeated to make up transfers. */
const pattern = Crypto.randomBytes(MiB)

export const expectedDigest = (size: number): string => {
  const hash = Crypto.createHash("sha256")
  for (let left = size; left > 0; left -= pattern.length) hash.update(pattern.subarray(0, Math.min(left, pattern.length)))
  return hash.digest("hex")
}

/** Each connection gets `size` bytes of the pattern, then an end. */
export const source = (size: number) =>
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

/** an echo server on 127.0.0.1 for the scope: its port */
export const echo = server((socket) => socket.pipe(socket))

const freePort = Effect.async<number>((resume) => {
  const probe = Net.createServer()
  probe.listen(0, "127.0.0.1", () => {
    const port = (probe.address() as Net.AddressInfo).port
    probe.close(() => resume(Effect.succeed(port)))
  })
})

// ---------------------------------------------------------------------------------------------------------------
// client processes

let samplesFiles = 0

/**
 * A process for the scope, its output kept; at the end SIGINT (so that a profile asked for through
 * SSM_BENCH_NODE_OPTIONS is written), SIGKILL 3 s later. A sampled process lives 60 ms more first, for the
 * sample after its last workload.
 */
const launch = (name: string, [command, args]: CommandLine, env: Record<string, string>, stdin: "pipe" | "ignore", sampled: boolean) =>
  Effect.gen(function*() {
    const child = yield* Effect.acquireRelease(
      Effect.sync(() => ChildProcess.spawn(command, args, { env: { ...process.env, ...env }, stdio: [stdin, "pipe", "pipe"] })),
      (child) =>
        Effect.async<void>((resume) => {
          if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
          const kill = setTimeout(() => child.kill("SIGKILL"), 3000)
          child.once("exit", () => {
            clearTimeout(kill)
            resume(Effect.void)
          })
          child.kill("SIGINT")
        }).pipe(Effect.delay(sampled ? 60 : 0))
    )
    let stderr = ""
    let stdout = ""
    child.stderr!.on("data", (data: Buffer) => (stderr += data.toString()))
    child.stdout!.on("data", (data: Buffer) => (stdout = (stdout + data.toString()).slice(-2000)))
    // a client that dies under a workload says why
    child.once("exit", (code, signal) => {
      if (!child.killed) console.error(`${name} exited (${code ?? signal}): ${stderr.slice(-2000)}${stdout}`)
    })
    const exited = Effect.async<never, Error>((resume) =>
      void child.once("exit", (code) => resume(Effect.fail(new Error(`${name} exited (${code}): ${stderr}`))))
    )
    return { child, stderr: () => stderr, exited }
  })

/** A client process for the scope, started on a new session to `destination`; resolves once it listens. */
export const start = (
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
    const samples = client.samples === undefined ? undefined : Path.join(client.samples, `${samplesFiles++}.jsonl`)
    const line = client.command(response, simulator.endpoint, destination, local)
    const started = now()
    const { child, exited, stderr } = yield* launch(client.name, line, {
      ...client.env,
      // the simulator's credentials: its API (the plugin's ResumeSession, TerminateSession) answers no other
      ...credentialsEnvironment(simulator),
      ...(samples === undefined ? {} : { SSM_BENCH_SAMPLES: samples })
    }, "ignore", samples !== undefined)
    const listening = Effect.async<void>((resume) => {
      let output = ""
      child.stdout!.on("data", (data: Buffer) => {
        output += data.toString()
        if (output.includes("Waiting for connections")) resume(Effect.void)
      })
    })
    yield* Effect.raceFirst(listening, exited)
    return { pid: child.pid!, port: local, startMillis: now() - started, stderr, samples }
  })

/**
 * `ssh-proxy` to the `echo` port started for the scope, a byte written to its stdin at once: the milliseconds
 * from spawning it to that byte's coming back on its stdout (through the session and the echo server).
 */
export const sshProxyFirstByte = (client: Client, simulator: AgentSimulator.AgentSimulator, echoPort: number) =>
  Effect.gen(function*() {
    const { env, line } = client.sshProxy!(simulator, echoPort)
    const started = now()
    const { child, exited } = yield* launch(`${client.name} ssh-proxy`, line, env, "pipe", false)
    child.stdin!.write(Buffer.from([42]))
    const echoed = Effect.async<number>((resume) => void child.stdout!.once("data", () => resume(Effect.succeed(now() - started))))
    return yield* Effect.raceFirst(echoed, exited)
  }).pipe(Effect.scoped)

/** a TCP connection to 127.0.0.1:`port` */
export const connect = (port: number) =>
  Effect.async<Net.Socket, Error>((resume) => {
    const socket = Net.connect({ port, host: "127.0.0.1", noDelay: true }, () => resume(Effect.succeed(socket)))
    socket.once("error", (error) => resume(Effect.fail(error)))
  })

/** Reads a connection to its end; fails unless exactly `size` bytes with the pattern's digest arrived. */
export const receiveAll = (socket: Net.Socket, size: number, digest: string, onProgress?: (received: number) => void) =>
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
