/**
 * The real Go xtaci/smux (Debian's golang-github-xtaci-smux-dev 1.5.16, what AWS runs) as a test peer.
 * Built from test/interop/smuxpeer with Debian's Go in GOPATH mode; no network needed.
 */
import { Effect, FiberSet, Stream } from "effect"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Path from "node:path"
import * as Url from "node:url"
import * as NodeNetTransport from "../../src/NodeNetTransport.js"
import * as Smux from "../../src/Smux.js"

const root = Path.join(Path.dirname(Url.fileURLToPath(import.meta.url)), "..", "..")
const source = Path.join(root, "test", "interop", "smuxpeer")
export const peerBinary = Path.join(root, ".tmp", "smuxpeer")

/** Builds the Go peer; throws (so the tests fail, never skip) when Go or the smux package is missing. */
export const buildGoPeer = (): string => {
  Fs.mkdirSync(Path.dirname(peerBinary), { recursive: true })
  ChildProcess.execFileSync("go", ["build", "-o", peerBinary, "."], {
    cwd: source,
    env: {
      ...process.env,
      GO111MODULE: "off",
      GOPATH: "/usr/share/gocode",
      GOPROXY: "off",
      GOFLAGS: "",
      GOCACHE: Path.join(root, ".tmp", "gocache")
    },
    stdio: ["ignore", "inherit", "inherit"]
  })
  return peerBinary
}

/** Starts the Go echo server on 127.0.0.1 and returns its port; killed when the scope closes. */
export const goServer = (options: { readonly keepalive: boolean }) =>
  Effect.acquireRelease(
    Effect.async<{ readonly port: number; readonly process: ChildProcess.ChildProcess }, Error>((resume) => {
      const child = ChildProcess.spawn(peerBinary, ["-mode", "server", "-addr", "127.0.0.1:0", `-keepalive=${options.keepalive}`], {
        stdio: ["ignore", "pipe", "inherit"]
      })
      let output = ""
      child.stdout!.on("data", (data: Buffer) => {
        output += data.toString()
        const match = /LISTENING (\d+)/.exec(output)
        if (match) resume(Effect.succeed({ port: Number(match[1]), process: child }))
      })
      child.on("error", (error) => resume(Effect.fail(error)))
      return Effect.sync(() => child.kill("SIGKILL"))
    }),
    ({ process }) => Effect.sync(() => process.kill("SIGKILL"))
  )

/** Runs the Go client against `port` and returns its exit code and JSON summary. */
export const goClient = (options: {
  readonly port: number
  readonly streams: number
  readonly size: number
  readonly keepalive: boolean
  readonly idle?: string
}) =>
  Effect.async<{ readonly code: number | null; readonly summary: string }, Error>((resume) => {
    const child = ChildProcess.spawn(peerBinary, [
      "-mode",
      "client",
      "-addr",
      `127.0.0.1:${options.port}`,
      "-n",
      String(options.streams),
      "-size",
      String(options.size),
      `-keepalive=${options.keepalive}`,
      "-idle",
      options.idle ?? "0s"
    ], { stdio: ["ignore", "pipe", "inherit"] })
    let summary = ""
    child.stdout!.on("data", (data: Buffer) => (summary += data.toString()))
    child.on("error", (error) => resume(Effect.fail(error)))
    child.on("exit", (code) => resume(Effect.succeed({ code, summary: summary.trim() })))
    return Effect.sync(() => child.kill("SIGKILL"))
  })

/** A TCP listener on 127.0.0.1 whose every connection runs our Smux server echoing each stream. */
export const smuxEchoServer = (options: Omit<Smux.SmuxOptions, "role">) =>
  Effect.gen(function*() {
    const run = yield* FiberSet.makeRuntime<never>()
    const server = yield* Effect.acquireRelease(
      Effect.async<Net.Server, Error>((resume) => {
        const server = Net.createServer((socket) => {
          run(Effect.scoped(Effect.gen(function*() {
            const transport = yield* NodeNetTransport.fromNetSocket(socket)
            const smux = yield* Smux.make(transport, { ...options, role: "server" })
            yield* Effect.raceFirst(
              smux.serve((stream) => Stream.run(Smux.toStream(stream), stream.sink)),
              Effect.ignore(smux.await)
            )
          })))
        })
        server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
        server.on("error", (error) => resume(Effect.fail(error)))
      }),
      (server) => Effect.sync(() => server.close())
    )
    return (server.address() as Net.AddressInfo).port
  })

