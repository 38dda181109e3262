/**
 * The browser demo's server (examples/browser-shell) as its user runs it, `npm run browser-demo`, in a real process:
 * only the holder of the printed URL's secret gets the page and its session calls, another local user gets 403, no
 * request line, JSON or body ends the server, and bodies are bounded with 413. Nothing but 127.0.0.1 is contacted.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, FastCheck as fc, Layer } from "effect"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Http from "node:http"
import * as Net from "node:net"
import { root } from "../examples/browser-shell/bundle.js"
import { MAX_BODY, serve } from "../examples/browser-shell/server.js"
import * as AgentSimulator from "../src/AgentSimulator.js"
import * as RemoteCommand from "../src/RemoteCommand.js"
import * as SsmApi from "../src/SsmApi.js"
import { canRunAsOtherUser, runAsOtherUser } from "./utils/otherUser.js"

interface Answer {
  readonly status: number
  readonly headers: Http.IncomingHttpHeaders
  readonly body: string
}

/** one HTTP request to 127.0.0.1 (Node's client: it lets a caller set Origin by hand, as any local process can) */
const request = (
  port: number,
  options: { method?: string; path?: string; headers?: Record<string, string>; body?: string }
) =>
  Effect.async<Answer, Error>((resume) => {
    const req = Http.request(
      { host: "127.0.0.1", port, method: options.method ?? "GET", path: options.path ?? "/", headers: options.headers, agent: false },
      (res) => {
        const chunks: Array<Buffer> = []
        res.on("data", (chunk: Buffer) => chunks.push(chunk))
        res.on("end", () =>
          resume(Effect.succeed({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") })))
        res.on("error", (error) => resume(Effect.fail(error)))
      }
    )
    req.on("error", (error) => resume(Effect.fail(error)))
    req.end(options.body)
  })

/**
 * Raw bytes over TCP: what comes back until the server closes, or until `until` matches it (then this side closes).
 * Fails after `timeout` ms with neither.
 */
const raw = (port: number, chunks: ReadonlyArray<string | Buffer>, options: { end?: boolean; until?: RegExp; timeout?: number } = {}) =>
  new Promise<string>((resolve, reject) => {
    const socket = Net.connect({ host: "127.0.0.1", port })
    let received = ""
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error(`no answer and no close within ${options.timeout ?? 5000} ms; got ${JSON.stringify(received.slice(0, 200))}`))
    }, options.timeout ?? 5000)
    const done = () => {
      clearTimeout(timer)
      socket.destroy()
      resolve(received)
    }
    socket.on("data", (data) => {
      received += data.toString("latin1")
      if (options.until?.test(received)) done()
    })
    socket.on("close", done)
    // a reset after the answer (the server stops reading an oversized body) still counts what came before it
    socket.on("error", () => done())
    socket.on("connect", () => {
      for (const chunk of chunks) socket.write(chunk)
      if (options.end ?? true) socket.end()
    })
  })

const statusOf = (answer: string) => Number(/^HTTP\/1\.1 (\d{3}) /.exec(answer)?.[1] ?? NaN)

/** the demo as `npm run browser-demo` runs it: its printed URL, its pid, and its stop */
const startDemo = Effect.acquireRelease(
  Effect.async<{ child: ChildProcess.ChildProcess; url: URL; output: () => string }, Error>((resume) => {
    const child = ChildProcess.spawn(
      process.execPath,
      ["--conditions=ssm-session-manager-source", "--import", "tsx", "examples/browser-shell/main.ts"],
      { cwd: root, stdio: ["ignore", "pipe", "pipe"] }
    )
    let output = ""
    let settled = false
    const timer = setTimeout(() => {
      settled = true
      resume(Effect.fail(new Error(`the demo printed no URL within 30 s:\n${output}`)))
    }, 30_000)
    const read = (data: Buffer) => {
      output += data.toString("utf8")
      const found = /Open (http:\/\/127\.0\.0\.1:\d+\/\?token=[A-Za-z0-9_-]+) /.exec(output)
      if (found !== null && !settled) {
        settled = true
        clearTimeout(timer)
        resume(Effect.succeed({ child, url: new URL(found[1]!), output: () => output }))
      }
    }
    child.stdout.on("data", read)
    child.stderr.on("data", read)
    child.on("exit", (code, signal) => {
      if (!settled) {
        settled = true
        clearTimeout(timer)
        resume(Effect.fail(new Error(`the demo exited (${code ?? signal}) before printing its URL:\n${output}`)))
      }
    })
  }),
  ({ child }) =>
    Effect.async<void>((resume) => {
      if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
      child.once("exit", () => resume(Effect.void))
      child.kill("SIGTERM")
    })
)

/** the cookie the printed URL is traded for, as `name=value` */
const login = (url: URL) =>
  Effect.gen(function*() {
    const answer = yield* request(Number(url.port), { path: `/?token=${url.searchParams.get("token")}` })
    assert.strictEqual(answer.status, 303)
    assert.strictEqual(answer.headers.location, "/")
    const setCookie = answer.headers["set-cookie"]?.[0] ?? ""
    assert.match(setCookie, new RegExp(`^browser-shell-${url.port}=[A-Za-z0-9_-]{40,}; HttpOnly; SameSite=Strict; Path=/$`))
    return setCookie.split(";")[0]!
  })

const canSwitchUser = canRunAsOtherUser && Fs.existsSync("/usr/bin/curl")

/** curl as another local user (uid 65534): the body, then the HTTP status on a line of its own. */
const curlAsOtherUser = (args: ReadonlyArray<string>) =>
  runAsOtherUser("/usr/bin/curl", ["-sS", "-w", "\n%{http_code}", ...args])
if (!canSwitchUser) {
  console.warn("test/BrowserSecurity.test.ts: the other-user test is skipped: it needs root, setpriv and /usr/bin/curl")
}

describe("the browser demo's server as a process", () => {
  it.scopedLive("only the printed URL's holder gets the page and its session calls; another local user gets 403", () =>
    Effect.gen(function*() {
      const { child, url } = yield* startDemo
      const port = Number(url.port)
      const origin = `http://127.0.0.1:${port}`
      const token = url.searchParams.get("token")!
      assert.isAtLeast(token.length, 40)
      // the secret is on no other user's view of the process: not its argv, not its environment
      const cmdline = Fs.readFileSync(`/proc/${child.pid}/cmdline`, "utf8")
      assert.notInclude(cmdline, token)

      // no cookie: 403 and nothing else, for the page, its script and its session calls (Origin set by hand)
      for (const path of ["/", "/client.js", "/xterm.css", "/nothing"]) {
        const answer = yield* request(port, { path })
        assert.strictEqual(answer.status, 403, path)
        assert.notInclude(answer.body, "<html")
        assert.isUndefined(answer.headers["set-cookie"])
      }
      const start = JSON.stringify({ action: "StartSession", Target: "i-simulated" })
      const json = { "content-type": "application/json", origin }
      const denied = yield* request(port, { method: "POST", path: "/api/session", headers: json, body: start })
      assert.strictEqual(denied.status, 403)
      assert.notInclude(denied.body, "SessionId")
      // a wrong secret, a wrong cookie, a right secret on a POST: 403, and no cookie
      for (
        const attempt of [
          { path: `/?token=${token.slice(0, -1)}x` },
          { path: "/?token=" },
          { headers: { cookie: `browser-shell-${port}=${token}` } },
          { method: "POST", path: `/api/session?token=${token}`, headers: json, body: start }
        ]
      ) {
        const answer = yield* request(port, attempt)
        assert.strictEqual(answer.status, 403, JSON.stringify(attempt))
        assert.isUndefined(answer.headers["set-cookie"])
        assert.notInclude(answer.body, "SessionId")
      }

      // the secret: a cookie, then the page and a session
      const cookie = yield* login(url)
      const pageAnswer = yield* request(port, { headers: { cookie } })
      assert.strictEqual(pageAnswer.status, 200)
      assert.include(pageAnswer.body, "<title>Instance shell</title>")
      // the same cookie from another site's page (its Origin) or another name for the host (DNS rebinding): 403
      const foreign = yield* request(port, {
        method: "POST",
        path: "/api/session",
        headers: { ...json, cookie, origin: "http://evil.example" },
        body: start
      })
      assert.strictEqual(foreign.status, 403)
      const rebound = yield* request(port, { headers: { cookie, host: `rebound.example:${port}` } })
      assert.strictEqual(rebound.status, 403)
      const started = yield* request(port, {
        method: "POST",
        path: "/api/session",
        headers: { ...json, cookie },
        body: JSON.stringify({ action: "StartSession", Target: "i-simulated", DocumentName: RemoteCommand.DOCUMENT_NAME, Parameters: { command: [RemoteCommand.shellCommand("true")] } })
      })
      assert.strictEqual(started.status, 200, started.body)
      const sessionId = (JSON.parse(started.body) as { SessionId: string }).SessionId
      const ended = yield* request(port, {
        method: "POST",
        path: "/api/session",
        headers: { ...json, cookie },
        body: JSON.stringify({ action: "TerminateSession", SessionId: sessionId })
      })
      assert.strictEqual(ended.status, 200)

      // another local user, without the printed URL: nothing
      if (canSwitchUser) {
        for (const path of ["/", "/client.js"]) {
          const other = yield* curlAsOtherUser([`${origin}${path}`])
          assert.strictEqual(other.code, 0, other.stderr)
          const lines = other.stdout.trimEnd().split("\n")
          assert.strictEqual(lines.at(-1), "403", other.stdout)
          assert.notInclude(other.stdout, "<html")
        }
        const post = yield* curlAsOtherUser([
          "-H",
          `origin: ${origin}`,
          "-H",
          "content-type: application/json",
          "--data",
          start,
          `${origin}/api/session`
        ])
        assert.strictEqual(post.stdout.trimEnd().split("\n").at(-1), "403", post.stdout)
        assert.notInclude(post.stdout, "SessionId")
      }
      assert.isNull(child.exitCode)
    }), 60_000)

  it.scopedLive("no request line, request target, JSON or body ends it; oversized bodies get 413", () =>
    Effect.gen(function*() {
      const { child, output, url } = yield* startDemo
      const port = Number(url.port)
      const origin = `http://127.0.0.1:${port}`
      const cookie = yield* login(url)
      const alive = Effect.gen(function*() {
        const answer = yield* request(port, { headers: { cookie } })
        assert.strictEqual(answer.status, 200, `the server no longer serves:\n${output()}`)
      })

      // the request lines of the issue: an answer each, and the server still serves
      for (
        const target of ["http://[/", "http://[/?token=x", "http://127.0.0.1:1/", "/%", "/%E0%A4%A", "//", "*", "http://x:99999/"]
      ) {
        const answer = yield* Effect.promise(() =>
          raw(port, [`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nCookie: ${cookie}\r\nConnection: close\r\n\r\n`])
        )
        assert.include([400, 403, 404, 200], statusOf(answer), `${target}: ${answer.slice(0, 120)}`)
        yield* alive
      }
      // an absolute-form URL naming this server: its path
      const absolute = yield* Effect.promise(() =>
        raw(port, [`GET ${origin}/ HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nCookie: ${cookie}\r\nConnection: close\r\n\r\n`])
      )
      assert.strictEqual(statusOf(absolute), 200)

      // bodies: a Content-Length too large is refused before the body; one that grows too large, once it does
      const post = (extra: string) =>
        `POST /api/session HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nCookie: ${cookie}\r\nOrigin: ${origin}\r\n` +
        `Content-Type: application/json\r\n${extra}\r\n`
      const declared = yield* Effect.promise(() =>
        raw(port, [post(`Content-Length: ${40 * 1024 * 1024}\r\n`), Buffer.alloc(MAX_BODY + 1024, 0x20)], { end: false, until: /\r\n\r\n[\s\S]*\}/ })
      )
      assert.strictEqual(statusOf(declared), 413, declared)
      assert.match(declared, /\r\nconnection: close\r\n/i)
      const chunk = (data: Buffer) => Buffer.concat([Buffer.from(`${data.length.toString(16)}\r\n`), data, Buffer.from("\r\n")])
      const streamed = yield* Effect.promise(() =>
        raw(port, [post("Transfer-Encoding: chunked\r\n"), chunk(Buffer.alloc(40 * 1024, 0x20)), chunk(Buffer.alloc(40 * 1024, 0x20))], {
          end: false,
          until: /\r\n\r\n[\s\S]*\}/
        })
      )
      assert.strictEqual(statusOf(streamed), 413, streamed)
      const expecting = yield* Effect.promise(() =>
        raw(port, [post(`Content-Length: ${MAX_BODY + 1}\r\nExpect: 100-continue\r\n`)], { end: false, until: /\r\n\r\n[\s\S]*\}/ })
      )
      assert.strictEqual(statusOf(expecting), 413, expecting)
      assert.notInclude(expecting, "100 Continue")
      // a small one is let in, and answered
      const small = JSON.stringify({ action: "Nothing" })
      const continued = yield* Effect.promise(() =>
        raw(port, [post(`Content-Length: ${small.length}\r\nExpect: 100-continue\r\nConnection: close\r\n`), small])
      )
      assert.match(continued, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 400 /)
      assert.include(continued, "unknown action")
      // at the bound: read and answered
      const atBound = yield* request(port, {
        method: "POST",
        path: "/api/session",
        headers: { cookie, origin, "content-type": "application/json" },
        body: JSON.stringify({ action: "Nothing", pad: "x".repeat(MAX_BODY - 40) }).padEnd(MAX_BODY, " ")
      })
      assert.strictEqual(atBound.status, 400, atBound.body)
      yield* alive

      // garbage of any shape: request lines, headers and JSON bodies, with and without the cookie
      const json = fc.oneof(
        fc.jsonValue().map((value) => JSON.stringify(value)),
        fc.record({
          action: fc.constantFrom("StartSession", "ResumeSession", "TerminateSession", "GenerateDataKey", "x", "__proto__"),
          Target: fc.oneof(fc.jsonValue(), fc.constant("i-other")),
          SessionId: fc.jsonValue(),
          DocumentName: fc.jsonValue(),
          Parameters: fc.jsonValue(),
          KeyId: fc.jsonValue(),
          NumberOfBytes: fc.jsonValue(),
          EncryptionContext: fc.jsonValue()
        }, { requiredKeys: ["action"] }).map((value) => JSON.stringify(value)),
        fc.string({ maxLength: 200 })
      )
      const target = fc.oneof(
        fc.constantFrom("/", "/api/session", "http://[/", "/%", "*", `${origin}/api/session`),
        fc.webUrl(),
        fc.string({ maxLength: 80 }).filter((text) => !/[\s]/.test(text)),
        fc.array(fc.constantFrom("/", "%", "E0", "A4", "?", "token=", "#", "[", "]", "..", "\u00e9", "%00"), { maxLength: 12 })
          .map((parts) => parts.join(""))
      )
      const message = fc.record({
        method: fc.constantFrom("GET", "POST", "PUT", "HEAD", "OPTIONS", "G\u00c9T", ""),
        target,
        version: fc.constantFrom("HTTP/1.1", "HTTP/1.0", "HTTP/9", ""),
        withCookie: fc.boolean(),
        origin: fc.constantFrom(origin, "null", "http://evil.example", undefined),
        headers: fc.array(fc.tuple(fc.string({ maxLength: 20 }), fc.string({ maxLength: 40 })), { maxLength: 3 }),
        body: json
      })
      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(message, async (m) => {
            const lines = [
              `${m.method} ${m.target} ${m.version}`,
              `Host: 127.0.0.1:${port}`,
              ...(m.withCookie ? [`Cookie: ${cookie}`] : []),
              ...(m.origin === undefined ? [] : [`Origin: ${m.origin}`]),
              ...m.headers.map(([name, value]) => `${name}: ${value}`),
              `Content-Length: ${Buffer.byteLength(m.body)}`,
              "Connection: close"
            ]
            const answer = await raw(port, [`${lines.join("\r\n")}\r\n\r\n`, m.body])
            // an answer, or a close (Node's parser refuses some lines outright): never a dead server
            if (answer !== "") assert.match(answer, /^HTTP\/1\.[01] \d{3} /)
            assert.isNull(child.exitCode, output())
            const after = await Effect.runPromise(request(port, { headers: { cookie } }))
            assert.strictEqual(after.status, 200)
          }),
          { numRuns: 150 }
        )
      )
      // the API's answers to garbage are JSON errors, never a success
      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(json, async (body) => {
            const answer = await Effect.runPromise(request(port, {
              method: "POST",
              path: "/api/session",
              headers: { cookie, origin, "content-type": "application/json" },
              body
            }))
            assert.include([400, 403, 404, 501, 502], answer.status, body)
            assert.isString((JSON.parse(answer.body) as { __type: unknown }).__type)
          }),
          { numRuns: 150 }
        )
      )
      yield* alive
      assert.isNull(child.exitCode)
    }), 120_000)
})

describe("the browser demo's server in this process", () => {
  // the server's SsmApi, counting the sessions it is asked to start
  let starts = 0
  const counted = Layer.effect(
    SsmApi.SsmApi,
    Effect.map(SsmApi.SsmApi, (api): SsmApi.SsmApi => ({
      ...api,
      startSession: (request) => Effect.suspend(() => {
        starts += 1
        return api.startSession(request)
      })
    }))
  ).pipe(Layer.provideMerge(AgentSimulator.layerSsmApi()), Layer.provide(AgentSimulator.layer()))

  it.scopedLive("a session call without the cookie starts no session; with it, one", () =>
    Effect.gen(function*() {
      const served = yield* serve({ target: "i-simulated" })
      const body = JSON.stringify({ action: "StartSession", Target: "i-simulated", DocumentName: RemoteCommand.DOCUMENT_NAME, Parameters: { command: [RemoteCommand.shellCommand("true")] } })
      const headers = { origin: served.origin, "content-type": "application/json" }
      starts = 0
      for (
        const cookie of [undefined, `${served.cookieName}=`, `${served.cookieName}=${served.token}`, `other=${served.token}`]
      ) {
        const answer = yield* request(served.port, {
          method: "POST",
          path: "/api/session",
          headers: cookie === undefined ? headers : { ...headers, cookie },
          body
        })
        assert.strictEqual(answer.status, 403, String(cookie))
      }
      assert.strictEqual(starts, 0)
      const cookie = yield* login(new URL(served.url))
      const answer = yield* request(served.port, { method: "POST", path: "/api/session", headers: { ...headers, cookie }, body })
      assert.strictEqual(answer.status, 200, answer.body)
      assert.strictEqual(starts, 1)
      // two servers, two secrets
      const other = yield* serve({ target: "i-simulated" })
      assert.notStrictEqual(other.token, served.token)
      assert.notStrictEqual(other.cookieName, served.cookieName)
      const crossed = yield* request(other.port, { headers: { cookie: cookie.replace(served.cookieName, other.cookieName) } })
      assert.strictEqual(crossed.status, 403)
    }).pipe(Effect.provide(counted)), 30_000)
})
