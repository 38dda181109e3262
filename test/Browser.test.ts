/**
 * The browser shell (examples/browser-shell) in a real Chromium, Debian's, driven by playwright-core: the page's
 * own server answers StartSession through the agent simulator, and the page opens its sessions with the
 * browser's WebSocket. Nothing but 127.0.0.1 is contacted (the browser resolves no other host).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as Fs from "node:fs"
import * as Path from "node:path"
import type { Browser, Page } from "playwright-core"
import { chromium } from "playwright-core"
import { bundle, nodeImports, root } from "../examples/browser-shell/bundle.js"
import { serve } from "../examples/browser-shell/server.js"
import * as AgentSimulator from "../src/AgentSimulator.js"
import * as KmsApi from "../src/KmsApi.js"
import * as NodeSession from "../src/NodeSession.js"
import * as BrowserSession from "../src/BrowserSession.js"
import * as RemoteCommand from "../src/RemoteCommand.js"
import * as SsmApi from "../src/SsmApi.js"

const executablePath = process.env["CHROMIUM_PATH"] ?? "/usr/bin/chromium"
const haveChromium = Fs.existsSync(executablePath)
const inCi = process.env["CI"] !== undefined && process.env["CI"] !== "" && process.env["CI"] !== "false"
// reports/ (not committed) unless asked: SSM_SCREENSHOT=docs/browser-shell.png renews the README's picture
const screenshot = Path.resolve(root, process.env["SSM_SCREENSHOT"] ?? Path.join("reports", "browser-shell.png"))

if (!haveChromium && !inCi) {
  console.warn(
    `test/Browser.test.ts skipped: no Chromium at ${executablePath} (apt-get install chromium, or set CHROMIUM_PATH)`
  )
}

const simulatedAws = AgentSimulator.layerSsmApi().pipe(Layer.provideMerge(AgentSimulator.layer()))

const launch = Effect.acquireRelease(
  Effect.promise(() =>
    chromium.launch({
      executablePath,
      headless: true,
      args: [
        // root (CI containers) cannot use Chromium's sandbox
        ...(process.getuid?.() === 0 ? ["--no-sandbox"] : []),
        // no host but 127.0.0.1 resolves: the test reaches nothing else, whatever the browser would fetch
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"
      ]
    })
  ),
  (browser: Browser) => Effect.promise(() => browser.close())
)

/** waits for `predicate(arg)` to hold in the page (no fixed sleeps) */
const until = <A>(page: Page, predicate: (arg: A) => unknown, arg: A, what: string, timeout = 15_000) =>
  Effect.tryPromise({
    // (playwright types the argument as its serialised form, which a generic A cannot be shown to equal)
    try: () => (page.waitForFunction as (f: typeof predicate, arg: A, options: object) => Promise<unknown>)
      .call(page, predicate, arg, { timeout, polling: 25 }),
    catch: (cause) => cause
  }).pipe(
    Effect.asVoid,
    // what the page showed instead
    Effect.catchAll((cause) =>
      Effect.flatMap(
        Effect.promise(() =>
          page.evaluate(() => `status: ${document.getElementById("status")!.textContent}\n${window.demo.text().trimEnd()}`)
        ),
        (shown) => Effect.fail(new Error(`never saw ${what}: ${String(cause)}\n${shown}`))
      )
    )
  )

/** waits for the terminal's text to match `pattern` */
const screen = (page: Page, pattern: RegExp, what = String(pattern)) =>
  until(page, ([source, flags]) => new RegExp(source, flags).test(window.demo.text()), [pattern.source, pattern.flags], what)
    .pipe(Effect.zipRight(Effect.promise(() => page.evaluate(() => window.demo.text()))))

/** keys to the terminal (focused first: the command panel may have the focus) */
const type = (page: Page, text: string) =>
  Effect.promise(async () => {
    await page.evaluate(() => window.demo.terminal.focus())
    await page.keyboard.type(text)
  })
const press = (page: Page, key: string) =>
  Effect.promise(async () => {
    await page.evaluate(() => window.demo.terminal.focus())
    await page.keyboard.press(key)
  })
const state = (page: Page) => Effect.promise(() => page.evaluate(() => document.getElementById("status")!.dataset["state"]))
const size = (page: Page) =>
  Effect.promise(() => page.evaluate(() => ({ cols: window.demo.terminal.cols, rows: window.demo.terminal.rows })))

/** the remote shell's prompt alone on the last line with text ("#" for root's sh, "$" for others) */
const prompt = /^[$#] ?\s*$(?![\s\S]*\S)/m

describe.skipIf(!haveChromium && !inCi)("the browser shell in Chromium", () => {
  it("Chromium is installed (CI installs Debian's chromium)", () => {
    assert.isTrue(haveChromium, `no Chromium at ${executablePath}: .ci/run installs Debian's chromium package`)
  })

  it.scopedLive("a shell: keystrokes, resize, Ctrl-C, a resume, its end and a reconnect; a command with its exit code", () =>
    Effect.gen(function*() {
      const { cookieName, origin, url } = yield* serve({ target: "i-simulated" })
      const browser = yield* launch
      // without the printed URL's secret: 403 and no page
      const stranger = yield* Effect.promise(() => browser.newPage())
      const refused = yield* Effect.promise(() => stranger.goto(`${origin}/`))
      assert.strictEqual(refused?.status(), 403)
      assert.notInclude(yield* Effect.promise(() => stranger.content()), "Instance shell")
      yield* Effect.promise(() => stranger.close())

      const page = yield* Effect.promise(() => browser.newPage({ viewport: { width: 1100, height: 720 } }))
      const errors: Array<string> = []
      page.on("pageerror", (error) => errors.push(error.message))
      // the printed URL: its secret becomes an HttpOnly, SameSite=Strict cookie, and the page its clean URL
      yield* Effect.promise(() => page.goto(url))
      assert.strictEqual(page.url(), `${origin}/`)
      const cookies = yield* Effect.promise(() => page.context().cookies(origin))
      assert.deepStrictEqual(cookies.map((c) => [c.name, c.httpOnly, c.sameSite]), [[cookieName, true, "Strict"]])
      assert.isFalse(yield* Effect.promise(() => page.evaluate(() => document.cookie.includes("browser-shell"))))

      yield* until(page, () => document.getElementById("status")!.dataset["state"] === "open", undefined, "the session open")
      yield* screen(page, prompt, "the prompt")

      // keystrokes in, output out: the remote shell computes the value, so it cannot be the local echo
      const a = 1000 + Math.floor(Math.random() * 9000)
      yield* type(page, `echo hello-$((${a} * 7))\n`)
      yield* screen(page, new RegExp(`^hello-${a * 7}$`, "m"))
      // each command after its prompt: keys typed ahead are echoed before the prompt, on its line
      yield* screen(page, prompt, "the prompt")

      // the size the page started with, then a smaller viewport: the terminal refits and the pty follows
      const before = yield* size(page)
      yield* type(page, "stty size; echo :o''ne\n")
      yield* screen(page, new RegExp(`^${before.rows} ${before.cols}\\n:one$`, "m"))
      yield* screen(page, prompt, "the prompt")
      yield* Effect.promise(() => page.setViewportSize({ width: 760, height: 560 }))
      yield* until(page, (b) => window.demo.terminal.cols < b.cols && window.demo.terminal.rows < b.rows, before, "a refit")
      const after = yield* size(page)
      yield* type(page, "stty size; echo :t''wo\n")
      yield* screen(page, new RegExp(`^${after.rows} ${after.cols}\\n:two$`, "m"))
      yield* screen(page, prompt, "the prompt")

      // Ctrl-C ends the foreground command, and the prompt comes back
      yield* type(page, "echo :sleep''ing; sleep 100\n")
      yield* screen(page, /^:sleeping$/m)
      yield* press(page, "Control+c")
      yield* screen(page, prompt, "the prompt after Ctrl-C")
      yield* type(page, "echo :after-$?\n")
      yield* screen(page, /^:after-130$/m)
      yield* screen(page, prompt, "the prompt")

      // a lost WebSocket: the session resumes on a new one (ResumeSession through the page's server)
      const simulator = yield* AgentSimulator.AgentSimulator
      const sessionId = yield* Effect.promise(() =>
        page.evaluate(() => document.getElementById("status")!.textContent!.replace(/^Connected: /, ""))
      )
      assert.isTrue(yield* simulator.dropConnection(sessionId, "abrupt"))
      yield* until(page, () => /resumed after/.test(document.getElementById("status")!.textContent!), undefined, "the resume")
      yield* type(page, "echo :re''sumed\n")
      yield* screen(page, /^:resumed$/m)
      yield* screen(page, prompt, "the prompt")
      assert.strictEqual((yield* simulator.sessionStats(sessionId))?.resumes, 1)

      // the command panel: stdout and stderr apart, and the exit code
      yield* Effect.promise(() => page.fill("#command", "echo out-1; echo err-1 >&2; exit 3"))
      yield* Effect.promise(() => page.click("#command-form button"))
      yield* until(page, () => document.getElementById("command-panel")!.dataset["state"] === "done", undefined, "the command's end")
      const command = yield* Effect.promise(() =>
        page.evaluate(() => ({
          stdout: document.getElementById("stdout")!.textContent,
          stderr: document.getElementById("stderr")!.textContent,
          exitCode: document.getElementById("exit-code")!.dataset["code"]
        }))
      )
      assert.deepStrictEqual(command, { stdout: "out-1\n", stderr: "err-1\n", exitCode: "3" })

      // the shell's end is shown; Reconnect starts a new session
      yield* type(page, "exit\n")
      yield* until(page, () => document.getElementById("status")!.dataset["state"] === "closed", undefined, "the end")
      assert.match((yield* Effect.promise(() => page.textContent("#status"))) ?? "", /^Session ended/)
      yield* Effect.promise(() => page.click("#reconnect"))
      yield* until(page, () => document.getElementById("status")!.dataset["state"] === "open", undefined, "a new session")
      yield* screen(page, prompt, "the new session's prompt")
      assert.strictEqual(yield* state(page), "open")

      // the picture in the README
      yield* Effect.promise(() => page.setViewportSize({ width: 980, height: 620 }))
      yield* until(page, (b) => window.demo.terminal.cols !== b.cols, after, "a refit")
      yield* type(page, "echo hello from the browser; stty size; uname -sm\n")
      yield* screen(page, /^hello from the browser$/m)
      yield* Effect.promise(() => page.fill("#command", "echo to stdout; echo to stderr >&2; exit 3"))
      yield* Effect.promise(() => page.click("#command-form button"))
      yield* until(page, () => document.getElementById("exit-code")!.dataset["code"] === "3", undefined, "the exit code")
      Fs.mkdirSync(Path.dirname(screenshot), { recursive: true })
      yield* Effect.promise(() => page.screenshot({ path: screenshot }))
      assert.deepStrictEqual(errors, [])
      // the browser and the server close before the simulator (which would otherwise drop the page's WebSocket)
    }).pipe(Effect.scoped, Effect.provide(simulatedAws)), 90_000)
})

describe("BrowserSession", () => {
  it.effect("the page's bundle has no Node module, and the @noble hashing and cipher", () =>
    Effect.gen(function*() {
      const { inputs, js } = yield* Effect.promise(() => bundle({ minify: false }))
      assert.deepStrictEqual(nodeImports(js), [])
      assert.isTrue(inputs.some((input) => input.endsWith("src/internal/crypto/sha256.web.ts")))
      assert.isFalse(inputs.some((input) => /\.node\.ts$|internal\/simulator\//.test(input)))
    }), 30_000)

  const handler = Effect.provide(
    BrowserSession.makeHandler({
      authorizeStart: (request) =>
        request.target === "i-allowed" ? Effect.succeed(request) : Effect.fail("not your instance")
    }),
    simulatedAws
  )

  it.scopedLive("the handler answers through the server's SsmApi, and refuses what it is not allowed", () =>
    Effect.gen(function*() {
      const handle = yield* handler
      const refused = yield* handle({ action: "StartSession", Target: "i-other" })
      assert.deepStrictEqual(refused, {
        status: 403,
        body: { __type: "AccessDenied", message: "StartSession: not your instance" }
      })
      assert.strictEqual((yield* handle({ action: "StartSession", Target: 7 })).status, 400)
      assert.strictEqual((yield* handle("nonsense")).status, 400)
      // resuming or terminating a session it did not start
      const foreign = yield* handle({ action: "ResumeSession", SessionId: "sim-someone-else" })
      assert.strictEqual(foreign.status, 403)

      const started = yield* handle({
        action: "StartSession",
        Target: "i-allowed",
        DocumentName: RemoteCommand.DOCUMENT_NAME,
        Parameters: { command: [RemoteCommand.shellCommand("exit 0")] }
      })
      assert.strictEqual(started.status, 200)
      const body = started.body as { SessionId: string; StreamUrl: string; TokenValue: string }
      assert.match(body.StreamUrl, /^ws:\/\/127\.0\.0\.1:\d+\//)
      assert.isString(body.TokenValue)
      const terminated = yield* handle({ action: "TerminateSession", SessionId: body.SessionId })
      assert.deepStrictEqual(terminated, { status: 200, body: { SessionId: body.SessionId } })
    }))

  it.effect("fromServer reads the server's answers back as SsmApi results and errors", () =>
    Effect.gen(function*() {
      const answers: Array<{ status: number; body: string }> = [
        { status: 200, body: JSON.stringify({ SessionId: "s-1", StreamUrl: "wss://example/s-1", TokenValue: "t" }) },
        { status: 200, body: JSON.stringify({ SessionId: "s-1", TokenValue: null }) },
        { status: 403, body: JSON.stringify({ __type: "AccessDenied", message: "StartSession: not your instance" }) },
        { status: 401, body: "<html>log in</html>" }
      ]
      const sent: Array<unknown> = []
      const api = BrowserSession.fromServer({
        url: "/api/session",
        headers: { "x-csrf": "c" },
        fetch: (_url, init) => {
          sent.push({ headers: init?.headers, body: JSON.parse(String(init?.body)) })
          const answer = answers.shift()!
          return Promise.resolve(new Response(answer.body, { status: answer.status }))
        }
      })
      const started = yield* api.startSession({ target: "i-1" })
      assert.strictEqual(started.sessionId, "s-1")
      assert.strictEqual(started.streamUrl, "wss://example/s-1")
      assert.strictEqual((yield* api.resumeSession("s-1"))._tag, "None")
      const denied = yield* Effect.flip(api.startSession({ target: "i-2" }))
      assert.isTrue(SsmApi.isSsmApiError(denied))
      assert.strictEqual(denied.reason, "AccessDenied")
      assert.strictEqual((yield* Effect.flip(api.terminateSession("s-1"))).reason, "AccessDenied")
      assert.deepStrictEqual(sent[0], {
        headers: { "x-csrf": "c", "content-type": "application/json" },
        body: { action: "StartSession", Target: "i-1" }
      })
      assert.deepStrictEqual((sent[3] as { body: unknown }).body, { action: "TerminateSession", SessionId: "s-1" })
    }))

  it.scopedLive("a KMS-encrypted session through the page's server: the data key from the server's KmsApi, for its own sessions only", () =>
    Effect.gen(function*() {
      const simulator = yield* AgentSimulator.make({ messagesPerSecond: 0, kmsKeyId: "alias/session-manager" })
      const server = Layer.merge(AgentSimulator.layerSsmApi(), AgentSimulator.layerKmsApi).pipe(
        Layer.provide(Layer.succeed(AgentSimulator.AgentSimulator, simulator))
      )
      const handle = yield* Effect.provide(
        BrowserSession.makeHandler({ authorizeStart: (request) => Effect.succeed(request) }),
        server
      )
      // the page's side, its fetch answered by the handler (the HTTP in between is the demo server's)
      const fetch: typeof globalThis.fetch = (_url, init) =>
        Effect.runPromise(handle(JSON.parse(String(init?.body)))).then((answer) =>
          new Response(JSON.stringify(answer.body), { status: answer.status }))
      const page = Layer.mergeAll(
        BrowserSession.layerSsmApi({ url: "/api/session", fetch }),
        BrowserSession.layerKmsApi({ url: "/api/session", fetch }),
        NodeSession.layerWebSocketConstructor
      )
      const result = yield* RemoteCommand.exec({ target: "i-1", command: "echo sealed; exit 4" }).pipe(Effect.provide(page))
      assert.strictEqual(new TextDecoder().decode(result.stdout), "sealed\n")
      assert.strictEqual(result.exitCode, 4)
      // the account asks for encryption: without the page's KmsApi the same command cannot run
      const unencrypted = yield* Effect.flip(RemoteCommand.exec({ target: "i-1", command: "true" }).pipe(
        Effect.provide(Layer.merge(BrowserSession.layerSsmApi({ url: "/api/session", fetch }), NodeSession.layerWebSocketConstructor))
      ))
      assert.strictEqual((unencrypted as { reason?: string }).reason, "EncryptionRequired")

      // a session it did not start, a bad request, and a server without KmsApi
      const request = (sessionId: string) => ({
        action: "GenerateDataKey",
        KeyId: "alias/session-manager",
        NumberOfBytes: 64,
        EncryptionContext: { "aws:ssm:SessionId": sessionId, "aws:ssm:TargetId": "i-1" }
      })
      assert.strictEqual((yield* handle(request("sim-someone-else"))).status, 403)
      assert.strictEqual((yield* handle({ ...request("x"), NumberOfBytes: 0 })).status, 400)
      const started = yield* handle({ action: "StartSession", Target: "i-1" })
      const sessionId = (started.body as { SessionId: string }).SessionId
      const noKms = yield* Effect.provide(
        BrowserSession.makeHandler({ authorizeStart: (request) => Effect.succeed(request) }),
        AgentSimulator.layerSsmApi().pipe(Layer.provide(Layer.succeed(AgentSimulator.AgentSimulator, simulator)))
      )
      const unstarted = yield* noKms(request(sessionId))
      assert.strictEqual(unstarted.status, 403)
      const key = yield* handle(request(sessionId))
      assert.strictEqual(key.status, 200)
      const { CiphertextBlob, Plaintext } = key.body as { Plaintext: string; CiphertextBlob: string }
      assert.strictEqual(Buffer.from(Plaintext, "base64").length, 64)
      assert.isAbove(Buffer.from(CiphertextBlob, "base64").length, 0)
      // and the page reads a refusal back as a typed KmsApiError
      const refused = yield* Effect.flip(BrowserSession.fromServerKms({ url: "/api/session", fetch }).generateDataKey({
        keyId: "alias/session-manager",
        numberOfBytes: 64,
        encryptionContext: { "aws:ssm:SessionId": "sim-someone-else" }
      }))
      assert.isTrue(KmsApi.isKmsApiError(refused))
      assert.strictEqual(refused.reason, "AccessDenied")
    }), 30_000)
})
