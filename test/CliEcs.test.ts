/**
 * The CLI for ECS Exec as real processes through the real AWS SDK against a simulator over HTTP (in this process,
 * its endpoint given to the CLI in the environment): the endpoints the SDK reads by itself, the drop-in plugin as
 * `aws ecs execute-command` runs it, the `ecs` command group, and ssh's `~.` in a terminal.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Http from "node:http"
import type * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import * as AgentSimulator from "../src/AgentSimulator.js"
import * as EcsApi from "../src/EcsApi.js"
import * as EcsExec from "../src/EcsExec.js"
import { escapeLine } from "../src/cli/terminal.js"
import { pseudoRandomBytes, sha256Hex } from "./utils/bytes.js"
import { collectOutput, exitCode, root, spawnCli, waitForOutput } from "./utils/cli.js"
import { tmuxSession } from "./utils/tmux.js"

const cli = `node --conditions=ssm-session-manager-source --import tsx ${Path.join(root, "src", "cli", "main.ts")}`

/** A directory for the scope, removed after. */
const tempDirectory = Effect.acquireRelease(
  Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "ssm-cli-ecs-"))),
  (directory) => Effect.sync(() => Fs.rmSync(directory, { recursive: true, force: true }))
)

/**
 * The environment of a CLI that reaches the simulator only through what the SDK reads by itself: no endpoint
 * variables of the test's own environment, no shared files but the ones given.
 */
const isolatedEnv = (directory: string, env: Record<string, string>): Record<string, string> => {
  const cleared: Record<string, string> = {}
  for (const name of Object.keys(process.env)) {
    if (/^AWS_/.test(name) || name === "SSM_ENDPOINT") cleared[name] = ""
  }
  // spawnCli merges over process.env: an empty value is unset for the SDK's chains
  return {
    ...cleared,
    AWS_CONFIG_FILE: Path.join(directory, "config"),
    AWS_SHARED_CREDENTIALS_FILE: Path.join(directory, "credentials"),
    AWS_EC2_METADATA_DISABLED: "true",
    ...env
  }
}

/** A CLI run to its end: exit code, stdout and stderr. */
const run = (bin: "main" | "sessionManagerPlugin", args: ReadonlyArray<string>, env: Record<string, string>) =>
  Effect.gen(function*() {
    const child = yield* spawnCli(bin, args, { env })
    const output = collectOutput(child)
    const code = yield* exitCode(child)
    yield* closed(child)
    return { code, stdout: output.stdout(), stderr: output.stderr() }
  })

/** Resolves once the child's output streams are closed. */
const closed = (child: ChildProcess.ChildProcess) =>
  Effect.async<void>((resume) => {
    if (child.stdout!.closed && child.stderr!.closed) return resume(Effect.void)
    child.once("close", () => resume(Effect.void))
  })

describe("CLI endpoints: what the SDK reads when no --endpoint is given", () => {
  it.scopedLive("AWS_ENDPOINT_URL alone", () =>
    Effect.gen(function*() {
      const directory = yield* tempDirectory
      const simulator = yield* AgentSimulator.make({ messagesPerSecond: 0 })
      Fs.writeFileSync(Path.join(directory, "config"), "")
      const result = yield* run("main", ["exec", "--target", "i-0123456789abcdef0", "--", "echo", "through AWS_ENDPOINT_URL"], isolatedEnv(directory, {
        AWS_ENDPOINT_URL: simulator.endpoint,
        AWS_REGION: "us-east-1",
        AWS_ACCESS_KEY_ID: simulator.credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: Redacted.value(simulator.credentials.secretAccessKey)
      }))
      assert.strictEqual(result.code, 0, result.stderr)
      assert.strictEqual(result.stdout, "through AWS_ENDPOINT_URL\n")
    }), 60_000)

  it.scopedLive("a profile's endpoint_url in AWS_CONFIG_FILE", () =>
    Effect.gen(function*() {
      const directory = yield* tempDirectory
      const simulator = yield* AgentSimulator.make({ messagesPerSecond: 0 })
      Fs.writeFileSync(
        Path.join(directory, "config"),
        [
          "[profile sim]",
          "region = eu-west-1",
          `endpoint_url = ${simulator.endpoint}`,
          `aws_access_key_id = ${simulator.credentials.accessKeyId}`,
          `aws_secret_access_key = ${Redacted.value(simulator.credentials.secretAccessKey)}`,
          ""
        ].join("\n")
      )
      const result = yield* run(
        "main",
        ["exec", "--profile", "sim", "--target", "i-0123456789abcdef0", "--", "echo", "through endpoint_url"],
        isolatedEnv(directory, {})
      )
      assert.strictEqual(result.code, 0, result.stderr)
      assert.strictEqual(result.stdout, "through endpoint_url\n")
    }), 60_000)
})

describe("CLI plugin: sessions as aws ecs execute-command passes them", () => {
  it.scopedLive("a session object with lowercase keys (sessionId, tokenValue, streamUrl)", () =>
    Effect.gen(function*() {
      const directory = yield* tempDirectory
      const simulator = yield* AgentSimulator.make({ messagesPerSecond: 0 })
      const response = yield* simulator.startSession(AgentSimulator.documentSpec({
        target: "i-0123456789abcdef0",
        documentName: "AWS-StartInteractiveCommand",
        parameters: { command: ["echo lowercase keys"] }
      }))
      const session = JSON.stringify({
        sessionId: response.SessionId,
        streamUrl: response.StreamUrl,
        tokenValue: Redacted.value(response.TokenValue)
      })
      const result = yield* run("sessionManagerPlugin", [
        "AWS_SSM_START_SESSION_RESPONSE",
        "us-east-1",
        "StartSession",
        "",
        JSON.stringify({ Target: "ecs:sim_0123456789abcdef0123456789abcdef_0123456789abcdef0123456789abcdef-1234567890" }),
        simulator.endpoint
      ], isolatedEnv(directory, {
        AWS_SSM_START_SESSION_RESPONSE: session,
        AWS_ACCESS_KEY_ID: simulator.credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: Redacted.value(simulator.credentials.secretAccessKey)
      }))
      assert.strictEqual(result.code, 0, result.stderr)
      assert.include(result.stdout, "lowercase keys", result.stderr)
    }), 60_000)
})

/**
 * `args` run by the CLI in a fresh tmux window, with its exit status written to a file in `directory` and
 * SHELL-ENDED said after it; the environment given on its command line.
 */
const inTerminal = (directory: string, args: string, env: Record<string, string> = {}) =>
  Effect.gen(function*() {
    const tmux = yield* tmuxSession
    const assignments = Object.entries(env).map(([name, value]) => `${name}=${value}`).join(" ")
    yield* tmux.sendKeys(
      `cd ${root} && env ${assignments} ${cli} ${args}; echo "status $?" > ${Path.join(directory, "status")}; ` +
        "echo SHELL-''ENDED",
      "Enter"
    )
    const status = () => Fs.readFileSync(Path.join(directory, "status"), "utf8").trim()
    return { tmux, status }
  })

describe("CLI escapes (ssh's ~. ~? ~~) in a terminal", () => {
  it.scopedLive("~? lists them, ~. in a line is typed, ~. after a line end leaves with 255", () =>
    Effect.gen(function*() {
      const directory = yield* tempDirectory
      const { status, tmux } = yield* inTerminal(directory, "shell --simulator")
      yield* tmux.waitFor(/^[$#] ?$/m)
      yield* tmux.sendKeys("-l", "echo :a~.b~~c")
      yield* tmux.sendKeys("Enter")
      yield* tmux.waitFor(/^:a~\.b~~c$/m)
      yield* tmux.sendKeys("-l", "~?")
      yield* tmux.waitFor(/~\.   - terminate the session/)
      yield* tmux.sendKeys("-l", "~~")
      yield* tmux.sendKeys("-l", "x")
      yield* tmux.sendKeys("Enter")
      // the shell was sent one ~ then x: a command ~x it does not know
      yield* tmux.waitFor(/~x: .*not found/)
      yield* tmux.sendKeys("-l", "~.")
      const pane = yield* tmux.waitFor(/SHELL-ENDED\s*\n/)
      assert.match(pane, new RegExp(escapeLine("[\\w-]+").replaceAll(".", "\\.")))
      assert.strictEqual(status(), "status 255")
    }), 60_000)

  /** a bin's environment for the simulator over its HTTP API: no shared config, the one AWS_ENDPOINT_URL */
  const sdkEnvironment = (simulator: AgentSimulator.AgentSimulator) => ({
    AWS_CONFIG_FILE: "/dev/null",
    AWS_SHARED_CREDENTIALS_FILE: "/dev/null",
    AWS_ENDPOINT_URL: simulator.endpoint,
    AWS_REGION: "us-east-1",
    AWS_ACCESS_KEY_ID: simulator.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: Redacted.value(simulator.credentials.secretAccessKey)
  })

  it.scopedLive("~. ends a hung shell within a second (everything to the agent dropped)", () =>
    Effect.gen(function*() {
      const directory = yield* tempDirectory
      const simulator = yield* AgentSimulator.make({ messagesPerSecond: 0, faults: { toAgent: { drop: 1 } } })
      const { status, tmux } = yield* inTerminal(directory, "shell --target i-0123456789abcdef0", sdkEnvironment(simulator))
      yield* tmux.waitFor(/^[$#] ?$/m)
      // typed, never answered: the agent gets nothing
      yield* tmux.sendKeys("-l", "echo :never")
      yield* tmux.sendKeys("Enter")
      const started = Date.now()
      yield* tmux.sendKeys("-l", "~.")
      const pane = yield* tmux.waitFor(/SHELL-ENDED\s*\n/)
      const elapsed = Date.now() - started
      assert.isBelow(elapsed, 1_500)
      assert.notInclude(pane, ":never")
      assert.strictEqual(status(), "status 255")
    }), 60_000)

  it.scopedLive("~. ends a shell at once while it is resuming, a key typed before it (its write waiting)", () =>
    Effect.gen(function*() {
      const directory = yield* tempDirectory
      // the WebSocket dropped once, a few seconds in, and every ResumeSession refused: the session stays resuming
      // (for up to 5 minutes) and what is typed waits to be sent
      const simulator = yield* AgentSimulator.make({
        messagesPerSecond: 0,
        faults: { dropConnection: { everyMillis: 2_000, times: 1, close: "abrupt" }, refuseResumes: 100_000 }
      })
      const { status, tmux } = yield* inTerminal(directory, "shell --target i-0123456789abcdef0", sdkEnvironment(simulator))
      // (not the prompt: the line saying so may have overwritten it)
      yield* tmux.waitFor(/resuming the session/)
      // a key and Enter (to see whether the shell is alive), which cannot be sent before the session is back
      yield* tmux.sendKeys("-l", "x")
      yield* tmux.sendKeys("Enter")
      const started = Date.now()
      yield* tmux.sendKeys("-l", "~.")
      const pane = yield* tmux.waitFor(/SHELL-ENDED\s*\n/)
      assert.isBelow(Date.now() - started, 1_500)
      assert.match(pane, new RegExp(escapeLine("[\\w-]+").replaceAll(".", "\\.")))
      assert.strictEqual(status(), "status 255")
    }), 60_000)
})

const id = (n: number) => n.toString(16).padStart(32, "0")

/** An ECS world with one of each case, for the SDK against a simulator in this process. */
const world: AgentSimulator.SimulatorOptions["ecs"] = {
  clusters: [
    {
      name: "prod",
      tasks: [
        { taskId: id(1), service: "web", containers: [{ name: "app" }] },
        { taskId: id(2), service: "web", containers: [{ name: "app" }] },
        { taskId: id(3), service: "api", containers: [{ name: "app" }, { name: "sidecar" }] },
        { taskId: id(4), service: "stuck", containers: [{ name: "app", execAgent: "STOPPED" }] },
        { taskId: id(5), service: "noexec", enableExecuteCommand: false, containers: [{ name: "app" }] },
        { taskId: id(6), service: "nosh", containers: [{ name: "app", environment: { PATH: "/nonexistent" } }] }
      ]
    },
    { name: "locked", denyExecuteCommand: true, tasks: [{ taskId: id(7), service: "web", containers: [{ name: "app" }] }] },
    { name: "secret", kmsKeyId: "alias/ecs-exec", tasks: [{ taskId: id(8), service: "web", containers: [{ name: "app" }] }] }
  ]
}

/** A simulator playing `world`, and the environment a CLI reaches it with through the SDK (AWS_ENDPOINT_URL). */
const sdkSimulator = (options: AgentSimulator.SimulatorOptions = {}) =>
  Effect.gen(function*() {
    const directory = yield* tempDirectory
    Fs.writeFileSync(Path.join(directory, "config"), "")
    const simulator = yield* AgentSimulator.make({ messagesPerSecond: 0, ecs: world, ...options })
    const env = isolatedEnv(directory, {
      AWS_ENDPOINT_URL: simulator.endpoint,
      AWS_REGION: "us-east-1",
      AWS_ACCESS_KEY_ID: simulator.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: Redacted.value(simulator.credentials.secretAccessKey)
    })
    return { simulator, env, directory }
  })

/** stderr's lines, without the ones a slow start adds */
const errorLines = (stderr: string) =>
  stderr.split("\n").filter((line) => line !== "" && !/^(Starting a session|Opening the data channel)/.test(line))

describe("CLI ecs exec", () => {
  it.scopedLive("--simulator: the exit codes 0, 3 and 130 (framed, -t), stdout and stderr apart", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [ReadonlyArray<string>, number]> = [
        [["ecs", "exec", "--simulator", "--", "sh", "-c", "echo out; echo err >&2"], 0],
        [["ecs", "exec", "--simulator", "--", "exit 3"], 3],
        [["ecs", "exec", "--simulator", "--", "kill -INT $$"], 130],
        [["ecs", "exec", "-t", "--simulator", "--", "echo out"], 0],
        [["ecs", "exec", "-t", "--simulator", "--", "exit 3"], 3],
        [["ecs", "exec", "-t", "--simulator", "--", "kill -INT $$"], 130]
      ]
      const results = yield* Effect.forEach(cases, ([args]) => run("main", args, {}), { concurrency: 3 })
      for (const [i, result] of results.entries()) {
        assert.strictEqual(result.code, cases[i]![1], `${cases[i]![0].join(" ")}: ${result.stderr}`)
      }
      assert.strictEqual(results[0]!.stdout, "out\n")
      assert.deepStrictEqual(errorLines(results[0]!.stderr), ["err"])
      // on the terminal the pty's line ends, without the marker
      assert.strictEqual(results[3]!.stdout, "out\r\n")
    }), 120_000)

  it.scopedLive("-t with piped stdin: no escapes (as ssh), ~. after a line end is sent as typed", () =>
    Effect.gen(function*() {
      const child = yield* spawnCli("main", ["ecs", "exec", "-t", "--simulator", "--", "echo go; head -n 3; exit 4"], { stdin: "pipe" })
      const output = collectOutput(child)
      yield* waitForOutput(child, /go/)
      child.stdin!.end("a\n~.\nb\n")
      assert.strictEqual(yield* exitCode(child), 4, output.stderr())
      yield* closed(child)
      assert.match(output.stdout(), /^~\.\r?$/m)
      assert.notInclude(output.stderr(), "closed by escape")
    }), 60_000)

  it.scopedLive("-i: 1 MiB of stdin into sha256sum", () =>
    Effect.gen(function*() {
      const data = pseudoRandomBytes(1024 * 1024, 26)
      const child = yield* spawnCli("main", ["ecs", "exec", "-i", "--simulator", "--", "sha256sum"], { stdin: "pipe" })
      const output = collectOutput(child)
      child.stdin!.end(Buffer.from(data))
      assert.strictEqual(yield* exitCode(child), 0, output.stderr())
      yield* closed(child)
      assert.strictEqual(output.stdout().split(" ")[0], sha256Hex(data))
    }), 120_000)

  it.scopedLive("through the SDK: a service's one task; several listed; each error one stderr line, exit 1", () =>
    Effect.gen(function*() {
      const { env } = yield* sdkSimulator()
      const ok = yield* run("main", ["ecs", "exec", "--cluster", "prod", "--task", id(2), "--", "echo", "task 2"], env)
      assert.strictEqual(ok.code, 0, ok.stderr)
      assert.strictEqual(ok.stdout, "task 2\n")
      const container = yield* run(
        "main",
        ["ecs", "exec", "--cluster", "prod", "--service", "api", "--container", "sidecar", "--", "echo", "sidecar"],
        env
      )
      assert.strictEqual(container.code, 0, container.stderr)
      assert.strictEqual(container.stdout, "sidecar\n")
      const failures: ReadonlyArray<readonly [ReadonlyArray<string>, RegExp]> = [
        [["--cluster", "prod", "--service", "web"], new RegExp(`AmbiguousTask: .*${id(1)}.*${id(2)}`)],
        [["--cluster", "nope", "--service", "web"], /ClusterNotFound: .*--cluster/],
        [["--cluster", "prod", "--service", "nope"], /ServiceNotFound: /],
        [["--cluster", "prod", "--task", id(99)], /TaskNotFound: /],
        [["--cluster", "prod", "--service", "api"], /AmbiguousContainer: .*app.*sidecar/],
        [["--cluster", "prod", "--service", "api", "--container", "nope"], /ContainerNotFound: /],
        [["--cluster", "prod", "--service", "stuck"], /AgentNotRunning: .*enableExecuteCommand/],
        [["--cluster", "prod", "--service", "noexec"], /(AgentNotRunning|TargetNotConnected): .*enableExecuteCommand/],
        [["--cluster", "locked", "--service", "web"], /AccessDenied: .*ecs:ExecuteCommand/],
        [["--cluster", "prod", "--service", "web", "--task", id(1)], /give --task or --service, not both/]
      ]
      const results = yield* Effect.forEach(
        failures,
        ([args]) => run("main", ["ecs", "exec", ...args, "--", "true"], env),
        { concurrency: 4 }
      )
      for (const [i, result] of results.entries()) {
        const [args, pattern] = failures[i]!
        assert.strictEqual(result.code, 1, `${args.join(" ")}: ${result.stderr}`)
        const lines = errorLines(result.stderr)
        assert.strictEqual(lines.length, 1, `${args.join(" ")}: ${result.stderr}`)
        assert.match(lines[0]!, /^ssm-session-manager: /)
        assert.match(lines[0]!, pattern, args.join(" "))
      }
    }), 180_000)

  it.scopedLive("a container without sh: one stderr line naming --raw, which runs the command", () =>
    Effect.gen(function*() {
      const { env } = yield* sdkSimulator()
      const framed = yield* run("main", ["ecs", "exec", "--cluster", "prod", "--service", "nosh", "--", "true"], env)
      assert.strictEqual(framed.code, 1, framed.stderr)
      const lines = errorLines(framed.stderr)
      assert.strictEqual(lines.length, 1, framed.stderr)
      assert.include(lines[0]!, "ecs exec --raw")
      const raw = yield* run(
        "main",
        ["ecs", "exec", "--raw", "--cluster", "prod", "--service", "nosh", "--", process.execPath, "-e", "console.log('raw ' + 6 * 7)"],
        env
      )
      assert.strictEqual(raw.code, 0, raw.stderr)
      assert.include(raw.stdout, "raw 42")
      // a raw command that prints nothing ends the session before it is ready: a normal end, as ECS's client has it
      const silent = yield* run("main", ["ecs", "exec", "--raw", "--cluster", "prod", "--service", "nosh", "--", process.execPath, "-e", "0"], env)
      assert.strictEqual(silent.code, 0, silent.stderr)
      assert.strictEqual(errorLines(silent.stderr).length, 0, silent.stderr)
      // one the agent cannot start: its reason in one line, exit 1
      const missing = yield* run("main", ["ecs", "exec", "--raw", "--cluster", "prod", "--service", "nosh", "--", "/no/such/program"], env)
      assert.strictEqual(missing.code, 1, missing.stderr)
      assert.deepStrictEqual(errorLines(missing.stderr), [
        "ssm-session-manager: the session was closed: Unable to start command: Failed to start pty: fork/exec /no/such/program: no such file or directory"
      ])
    }), 120_000)

  it.scopedLive("a cluster with a KMS key: the session is encrypted (said as AWS's client says it)", () =>
    Effect.gen(function*() {
      const { env } = yield* sdkSimulator()
      const result = yield* run("main", ["ecs", "exec", "-t", "--cluster", "secret", "--service", "web", "--", "echo", "sealed"], env)
      assert.strictEqual(result.code, 0, result.stderr)
      assert.include(result.stdout, "This session is encrypted using AWS KMS.")
      assert.include(result.stdout, "sealed\r\n")
      const framed = yield* run("main", ["ecs", "exec", "--cluster", "secret", "--service", "web", "--", "echo", "sealed"], env)
      assert.strictEqual(framed.code, 0, framed.stderr)
      assert.strictEqual(framed.stdout, "sealed\n")
    }), 120_000)
})

describe("CLI ecs cp, forward, shell and help", () => {
  it.scopedLive("ecs cp: 4 MiB into the container and back, byte for byte (:PATH and CONTAINER:PATH)", () =>
    Effect.gen(function*() {
      const directory = yield* tempDirectory
      // the library's copy carries 16 MiB (EcsExec.test.ts); here the bins, their arguments and their exits
      const data = pseudoRandomBytes(4 * 1024 * 1024, 2026)
      const local = Path.join(directory, "up.bin")
      const remote = Path.join(directory, "remote.bin")
      const back = Path.join(directory, "back.bin")
      Fs.writeFileSync(local, data)
      const up = yield* run("main", ["ecs", "cp", "--simulator", local, `:${remote}`], {})
      assert.strictEqual(up.code, 0, up.stderr)
      assert.strictEqual(sha256Hex(Fs.readFileSync(remote)), sha256Hex(data))
      const down = yield* run("main", ["ecs", "cp", "--simulator", `app:${remote}`, back], {})
      assert.strictEqual(down.code, 0, down.stderr)
      assert.strictEqual(sha256Hex(Fs.readFileSync(back)), sha256Hex(data))
      const both = yield* run("main", ["ecs", "cp", "--simulator", local, back], {})
      assert.strictEqual(both.code, 1)
      assert.match(both.stderr, /must be \[CONTAINER\]:PATH/)
    }), 180_000)

  it.scopedLive("ecs forward and ecs socks: the task's HTTP port on a local port (the ecs: target), through the SDK", () =>
    Effect.gen(function*() {
      const { env } = yield* sdkSimulator()
      const server = yield* Effect.acquireRelease(
        Effect.async<Http.Server>((resume) => {
          const server = Http.createServer((request, response) => response.end(`from the task: ${request.url}`))
          server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
        }),
        (server) => Effect.sync(() => server.close())
      )
      const port = (server.address() as Net.AddressInfo).port
      const child = yield* spawnCli(
        "main",
        ["ecs", "forward", "--cluster", "prod", "--task", id(1), "--remote-port", String(port), "--ready-json", "-"],
        { env }
      )
      const output = collectOutput(child)
      const [line] = yield* waitForOutput(child, /^\{.*\}\n/)
      const ready = JSON.parse(line) as { mappings: ReadonlyArray<{ local: string; target: string }> }
      assert.match(ready.mappings[0]!.target, new RegExp(`^ecs:prod_${id(1)}_`))
      const body = yield* Effect.promise(() => fetch(`http://${ready.mappings[0]!.local}/hello`).then((response) => response.text()))
      assert.strictEqual(body, "from the task: /hello")
      child.kill("SIGINT")
      assert.strictEqual(yield* exitCode(child), 0, output.stderr())
      // and ecs socks: a destination reached from the task
      const proxy = yield* spawnCli("main", ["ecs", "socks", "--cluster", "prod", "--task", id(1), "--port", "0"], { env })
      const [, proxyPort] = yield* waitForOutput(proxy, new RegExp(`SOCKS5 proxy listening on 127\\.0\\.0\\.1:(\\d+) for target ecs:prod_${id(1)}_`))
      const proxied = yield* Effect.async<string, Error>((resume) => {
        const curl = ChildProcess.execFile(
          "curl",
          ["--silent", "--show-error", "--max-time", "20", "--socks5-hostname", `127.0.0.1:${proxyPort}`, `http://127.0.0.1:${port}/socks`],
          (error, stdout, stderr) => resume(error ? Effect.fail(new Error(`curl failed: ${error.message} ${stderr}`)) : Effect.succeed(stdout))
        )
        return Effect.sync(() => curl.kill())
      })
      assert.strictEqual(proxied, "from the task: /socks")
    }), 120_000)

  it.scopedLive("ecs shell: ~. ends it at once (255); --escape none sends ~.; the shell's exit code is ours", () =>
    Effect.gen(function*() {
      // (a hung session's ~. is tested with shell above: an ECS session with everything to the agent dropped
      // never finishes its handshake, before which the keyboard is not read)
      const directory = yield* tempDirectory
      const escaped = yield* inTerminal(directory, "ecs shell --simulator --command sh")
      yield* escaped.tmux.waitFor(/^[$#] ?$/m)
      yield* escaped.tmux.sendKeys("-l", "sleep 30")
      yield* escaped.tmux.sendKeys("Enter")
      const started = Date.now()
      yield* escaped.tmux.sendKeys("-l", "~.")
      const pane = yield* escaped.tmux.waitFor(/SHELL-ENDED\s*\n/)
      assert.isBelow(Date.now() - started, 1_500)
      assert.match(pane, /Connection to ecs-execute-command-\w+ closed by escape\./)
      assert.strictEqual(escaped.status(), "status 255")
      const other = yield* tempDirectory
      const shell = yield* inTerminal(other, "ecs shell --simulator --escape none --command sh")
      yield* shell.tmux.waitFor(/^[$#] ?$/m)
      yield* shell.tmux.sendKeys("-l", "~.")
      yield* shell.tmux.sendKeys("Enter")
      yield* shell.tmux.waitFor(/~\.: .*not found/)
      yield* shell.tmux.sendKeys("exit 7", "Enter")
      yield* shell.tmux.waitFor(/SHELL-ENDED\s*\n/)
      assert.strictEqual(shell.status(), "status 7")
    }), 90_000)

  it.scopedLive("ecs --help, ecs exec --help and help ecs shell: purpose, examples, options", () =>
    Effect.gen(function*() {
      const cases = [["ecs", "--help"], ["ecs", "exec", "--help"], ["help", "ecs", "shell"], ["ecs", "cp", "-h"]]
      const results = yield* Effect.forEach(cases, (args) => run("main", args, {}), { concurrency: 4 })
      for (const [i, result] of results.entries()) {
        assert.strictEqual(result.code, 0, result.stderr)
        const lines = result.stdout.trimEnd().split("\n")
        assert.match(lines[0]!, /^[A-Z].*\.$/)
        assert.strictEqual(lines[2], "Examples:")
        const command = cases[i]!.filter((arg) => arg !== "help" && !arg.startsWith("-")).join(" ")
        assert.isTrue(lines.some((line) => line.startsWith(`    ssm-session-manager ${command} `)), `${command}\n${result.stdout}`)
        for (const line of lines) assert.isAtMost(line.length, 100, line)
      }
      assert.include(results[1]!.stdout, "-t, --tty")
      assert.include(results[1]!.stdout, "--raw")
      assert.include(results[1]!.stdout, "--service text")
      assert.include(results[2]!.stdout, "--escape text")
      const top = yield* run("main", ["--help"], {})
      assert.match(top.stdout, /^ {2}ecs {15}ECS Exec: /m)
      assert.notInclude(top.stdout, "  ecs exec ")
    }), 60_000)
})

describe("CLI plugin: as aws ecs execute-command runs it", () => {
  it.scopedLive("a real ExecuteCommand response (lowercase keys) and the ecs: target; a command silent at first; one that cannot start", () =>
    Effect.gen(function*() {
      const { env, simulator } = yield* sdkSimulator()
      const layer = EcsApi.layer({
        endpoint: simulator.endpoint,
        region: "us-east-1",
        credentials: {
          accessKeyId: simulator.credentials.accessKeyId,
          secretAccessKey: Redacted.value(simulator.credentials.secretAccessKey)
        }
      })
      const plugin = (command: string) =>
        Effect.gen(function*() {
          const { response, target } = yield* Effect.gen(function*() {
            const target = yield* EcsExec.resolve({ cluster: "prod", task: id(1) })
            const api = yield* EcsApi.EcsApi
            const response = yield* api.executeCommand({ cluster: "prod", task: id(1), container: "app", command })
            return { response, target }
          }).pipe(Effect.provide(layer))
          // botocore's parsed response, as the AWS CLI dumps it
          const session = JSON.stringify({
            sessionId: response.session.sessionId,
            streamUrl: response.session.streamUrl,
            tokenValue: Redacted.value(response.session.tokenValue)
          })
          const result = yield* run("sessionManagerPlugin", [
            session,
            "us-east-1",
            "StartSession",
            "",
            JSON.stringify({ Target: target.target }),
            simulator.endpoint
          ], env)
          return { result, sessionId: response.session.sessionId }
        })
      const echoed = yield* plugin("echo from-ecs-exec")
      assert.strictEqual(echoed.result.code, 0, echoed.result.stderr)
      assert.include(echoed.result.stdout, "from-ecs-exec")
      assert.include(echoed.result.stdout, `Exiting session with sessionId: ${echoed.sessionId}.`)
      // silent for its first 4 s (no handshake without KMS, no output): ready after the silence, not a Handshake
      // failure at 30 s
      const late = yield* plugin("sh -c 'sleep 4; echo late-output'")
      assert.strictEqual(late.result.code, 0, late.result.stderr)
      assert.include(late.result.stdout, "late-output")
      // a program the agent cannot start: its reason, as AWS's client prints it
      const missing = yield* plugin("/no/such/program")
      assert.strictEqual(missing.result.code, 0, missing.result.stderr)
      assert.include(
        missing.result.stdout,
        `SessionId: ${missing.sessionId} : Unable to start command: Failed to start pty: fork/exec /no/such/program: no such file or directory`
      )
    }), 90_000)
})
