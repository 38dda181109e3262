/**
 * `exec -i` as a real process: our stdin becomes the remote command's, byte for byte, through the in-process
 * simulator (`--simulator`) and through the AWS SDK against `simulate` in another process; the exit code, stderr
 * apart and Ctrl-C as with `exec`; and `exec` without `-i` saying once that piped input is not sent.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import type * as ChildProcess from "node:child_process"
import * as Http from "node:http"
import { FIRST_INTERRUPT_LINE, INPUT_NOT_SENT_LINE } from "../src/cli/exec.js"
import * as RemoteCommand from "../src/RemoteCommand.js"
import { pseudoRandomBytes, sha256Hex } from "./utils/bytes.js"
import { collectOutput, exitCode, spawnCli, waitForOutput } from "./utils/cli.js"
import { pollUntil } from "./utils/poll.js"

/** Writes `data` to the child's stdin and ends it. */
const feed = (child: ChildProcess.ChildProcess, data: Uint8Array) => child.stdin!.end(Buffer.from(data))

/** The child's stdout as bytes, to its end. */
const stdoutBytes = (child: ChildProcess.ChildProcess) => {
  const chunks: Array<Buffer> = []
  child.stdout!.on("data", (data: Buffer) => chunks.push(data))
  return () => new Uint8Array(Buffer.concat(chunks))
}

/** `simulate` in another process for the scope: its endpoint and credentials from the line on its stderr. */
const simulateProcess = Effect.gen(function*() {
  const child = yield* spawnCli("main", ["simulate", "--sessions", "0", "--target", "i-0123456789abcdef0"])
  let stderr = ""
  child.stderr!.on("data", (data: Buffer) => stderr += data.toString())
  const exported = (yield* pollUntil(
    Effect.sync(() =>
      /^export AWS_ACCESS_KEY_ID=(\S+) AWS_SECRET_ACCESS_KEY=(\S+) AWS_ENDPOINT_URL_SSM=(http:\/\/127\.0\.0\.1:\d+)/m
        .exec(stderr)
    ),
    (found) => found !== null,
    { every: "20 millis", times: 1500, what: `the credentials on stderr: ${stderr}` }
  ))!
  return {
    endpoint: exported[3]!,
    env: { AWS_ACCESS_KEY_ID: exported[1]!, AWS_SECRET_ACCESS_KEY: exported[2]! }
  }
})

describe("exec -i", () => {
  it.scopedLive("--simulator: 8 MiB piped into sha256sum, the hash matches, exit 0", () =>
    Effect.gen(function*() {
      const data = pseudoRandomBytes(8 * 1024 * 1024, 251)
      const child = yield* spawnCli("main", ["exec", "-i", "--simulator", "--", "sha256sum"], { stdin: "pipe" })
      const stdout = stdoutBytes(child)
      const output = collectOutput(child)
      feed(child, data)
      assert.strictEqual(yield* exitCode(child), 0, output.stderr())
      assert.strictEqual(new TextDecoder().decode(stdout()).split(" ")[0], sha256Hex(data))
      assert.notInclude(output.stderr(), INPUT_NOT_SENT_LINE)
    }), 180_000)

  it.scopedLive("through the AWS SDK (simulate in another process): 8 MiB piped into sha256sum, the hash matches", () =>
    Effect.gen(function*() {
      const { endpoint, env } = yield* simulateProcess
      const data = pseudoRandomBytes(8 * 1024 * 1024, 252)
      const child = yield* spawnCli("main", [
        "exec",
        "--interactive",
        "--target",
        "i-0123456789abcdef0",
        "--region",
        "us-east-1",
        "--endpoint",
        endpoint,
        "--",
        "sha256sum"
      ], { stdin: "pipe", env })
      const stdout = stdoutBytes(child)
      const output = collectOutput(child)
      feed(child, data)
      assert.strictEqual(yield* exitCode(child), 0, output.stderr())
      assert.strictEqual(new TextDecoder().decode(stdout()).split(" ")[0], sha256Hex(data))
    }), 180_000)

  it.scopedLive("stdin byte for byte to stdout, stderr apart, the exit code", () =>
    Effect.gen(function*() {
      const all = Uint8Array.from({ length: 256 }, (_, i) => i)
      const data = new Uint8Array([...all, 0xef, 0xbf, 0xbd, ...pseudoRandomBytes(100_000, 9), 0xe2, 0x82])
      const child = yield* spawnCli("main", ["exec", "-i", "--simulator", "--", "cat; echo err >&2; exit 5"], {
        stdin: "pipe"
      })
      const stdout = stdoutBytes(child)
      const output = collectOutput(child)
      feed(child, data)
      assert.strictEqual(yield* exitCode(child), 5, output.stderr())
      assert.deepStrictEqual(stdout(), data)
      assert.include(output.stderr(), "err\n")
    }), 120_000)

  it.scopedLive("the first Ctrl-C reaches the command as SIGINT (exit 130), said on stderr", () =>
    Effect.gen(function*() {
      // stdin stays open: the command does not read it
      const child = yield* spawnCli("main", ["exec", "-i", "--simulator", "--", "echo started; exec sleep 60"], {
        stdin: "pipe"
      })
      const output = collectOutput(child)
      yield* waitForOutput(child, /started\n/)
      child.kill("SIGINT")
      assert.strictEqual(yield* exitCode(child), 130, output.stderr())
      assert.include(output.stderr(), FIRST_INTERRUPT_LINE)
    }), 120_000)
})

describe("exec without -i", () => {
  it.scopedLive("piped input: one stderr line says it is not sent and names exec -i; none from /dev/null", () =>
    Effect.gen(function*() {
      const piped = yield* spawnCli("main", ["exec", "--simulator", "--", "cat; echo done"], { stdin: "pipe" })
      const pipedOutput = collectOutput(piped)
      feed(piped, new TextEncoder().encode("lost\n"))
      assert.strictEqual(yield* exitCode(piped), 0, pipedOutput.stderr())
      assert.strictEqual(pipedOutput.stdout(), "done\n")
      assert.strictEqual(pipedOutput.stderr().split(INPUT_NOT_SENT_LINE).length - 1, 1)
      assert.include(INPUT_NOT_SENT_LINE, "exec -i")
      const quiet = yield* spawnCli("main", ["exec", "--simulator", "--", "echo done"])
      const quietOutput = collectOutput(quiet)
      assert.strictEqual(yield* exitCode(quiet), 0)
      assert.notInclude(quietOutput.stderr(), INPUT_NOT_SENT_LINE)
    }), 120_000)
})

describe("create-document", () => {
  /** An SSM endpoint that answers CreateDocument (created, or DocumentAlreadyExists for `existing`), recording them. */
  const documentEndpoint = (existing: ReadonlyArray<string>) =>
    Effect.acquireRelease(
      Effect.async<{ readonly url: string; readonly server: Http.Server; readonly requests: Array<Record<string, unknown>> }>(
        (resume) => {
          const requests: Array<Record<string, unknown>> = []
          const server = Http.createServer((request, response) => {
            let raw = ""
            request.on("data", (chunk) => raw += chunk)
            request.on("end", () => {
              response.setHeader("content-type", "application/x-amz-json-1.1")
              const body = JSON.parse(raw) as Record<string, unknown>
              requests.push(body)
              if (existing.includes(String(body["Name"]))) {
                response.statusCode = 400
                return response.end(JSON.stringify({ __type: "DocumentAlreadyExists", message: "exists" }))
              }
              return response.end(JSON.stringify({ DocumentDescription: { Name: body["Name"], Status: "Creating" } }))
            })
          })
          server.listen(0, "127.0.0.1", () =>
            resume(Effect.succeed({
              url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
              server,
              requests
            })))
        }
      ),
      ({ server }) => Effect.sync(() => server.close())
    )

  const createDocuments = (endpoint: string, args: ReadonlyArray<string> = []) =>
    Effect.gen(function*() {
      const child = yield* spawnCli("main", ["create-document", "--region", "us-east-1", "--endpoint", endpoint, ...args], {
        env: { AWS_ACCESS_KEY_ID: "AKIDTEST", AWS_SECRET_ACCESS_KEY: "secret" }
      })
      const output = collectOutput(child)
      return { code: yield* exitCode(child), stdout: output.stdout(), stderr: output.stderr() }
    })

  it.scopedLive("creates exec's and exec -i's documents, each said on its own line", () =>
    Effect.gen(function*() {
      const endpoint = yield* documentEndpoint([RemoteCommand.DOCUMENT_NAME])
      const result = yield* createDocuments(endpoint.url)
      assert.strictEqual(result.code, 0, result.stderr)
      assert.deepStrictEqual(result.stdout.trimEnd().split("\n"), [
        `the Session document ${RemoteCommand.DOCUMENT_NAME} exists already (left as it is)`,
        `created the Session document ${RemoteCommand.INTERACTIVE_DOCUMENT_NAME}: exec -i can run commands with input now`
      ])
      assert.deepStrictEqual(endpoint.requests.map((request) => request["Name"]), [
        RemoteCommand.DOCUMENT_NAME,
        RemoteCommand.INTERACTIVE_DOCUMENT_NAME
      ])
      assert.deepStrictEqual(JSON.parse(String(endpoint.requests[1]!["Content"])), RemoteCommand.INTERACTIVE_DOCUMENT_CONTENT)
      assert.strictEqual(endpoint.requests[1]!["DocumentType"], "Session")
    }), 60_000)

  it.scopedLive("--name and --interactive-name name the two documents", () =>
    Effect.gen(function*() {
      const endpoint = yield* documentEndpoint([])
      const result = yield* createDocuments(endpoint.url, ["--name", "MyExec", "--interactive-name", "MyExecInput"])
      assert.strictEqual(result.code, 0, result.stderr)
      assert.deepStrictEqual(endpoint.requests.map((request) => request["Name"]), ["MyExec", "MyExecInput"])
      assert.deepStrictEqual(JSON.parse(String(endpoint.requests[0]!["Content"])), RemoteCommand.DOCUMENT_CONTENT)
    }), 60_000)
})
