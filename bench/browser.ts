/**
 * The browser shell (examples/browser-shell): the gzip size of this library's browser bundle (Session, Shell,
 * RemoteCommand and BrowserSession, xterm.js excluded), and the keystroke-to-echo latency in Chromium through
 * the simulator: from a key entering xterm.js (`onData`, as a typed key does) to its echo parsed onto the
 * terminal's screen, over the page's Shell session, the browser's WebSocket, the simulated agent (at its own pace,
 * 1000 messages a second) and the remote pty.
 *
 * `node --conditions=ssm-session-manager-source --import tsx bench/browser.ts` (needs /usr/bin/chromium, or
 * CHROMIUM_PATH).
 */
import { Effect, Layer } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Url from "node:url"
import * as Zlib from "node:zlib"
import { chromium } from "playwright-core"
import { bundle } from "../examples/browser-shell/bundle.js"
import { serve } from "../examples/browser-shell/server.js"
import * as AgentSimulator from "../src/AgentSimulator.js"
import type { Row } from "./harness.js"

const executablePath = process.env["CHROMIUM_PATH"] ?? "/usr/bin/chromium"
const KEYSTROKES = 300
const WARMUP = 30

const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`
const gzip = (text: string) => Zlib.gzipSync(text, { level: 9 }).length

/** Sizes, minified: the library alone (every export of its browser modules), and the page's script with and without xterm.js. */
const sizes = Effect.promise(async () => {
  const directory = Fs.mkdtempSync(Path.join(Os.tmpdir(), "ssm-browser-bench-"))
  try {
    const root = Path.resolve(Path.dirname(Url.fileURLToPath(import.meta.url)), "..")
    const entry = Path.join(directory, "library.ts")
    Fs.writeFileSync(
      entry,
      ["Session", "Shell", "RemoteCommand", "BrowserSession"]
        .map((name) => `export * as ${name} from ${JSON.stringify(Path.join(root, "src", `${name}.ts`))}`)
        .join("\n")
    )
    const library = (await bundle({ entry })).js
    const page = (await bundle({ external: ["@xterm/*"] })).js
    const whole = (await bundle()).js
    return { library, page, whole }
  } finally {
    Fs.rmSync(directory, { recursive: true, force: true })
  }
})

const percentile = (sorted: ReadonlyArray<number>, q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))]!

/** Keystroke to echo on screen in the page, `count` times, after `warmup` unmeasured ones. */
const latency = Effect.gen(function*() {
  const { url } = yield* serve({ target: "i-simulated" })
  const browser = yield* Effect.acquireRelease(
    Effect.promise(() =>
      chromium.launch({
        executablePath,
        headless: true,
        args: [...(process.getuid?.() === 0 ? ["--no-sandbox"] : []), "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]
      })
    ),
    (browser) => Effect.promise(() => browser.close())
  )
  const page = yield* Effect.promise(() => browser.newPage({ viewport: { width: 1100, height: 720 } }))
  // tsx compiles this file keeping function names, through a helper the page does not have
  yield* Effect.promise(() => page.addInitScript("globalThis.__name = (f) => f"))
  yield* Effect.promise(() => page.goto(url))
  yield* Effect.promise(() =>
    page.waitForFunction(() => /^[$#] ?\s*$(?![\s\S]*\S)/m.test(window.demo.text()), undefined, { timeout: 20_000 })
  )
  return yield* Effect.promise(() =>
    page.evaluate(async ({ count, warmup }) => {
      const terminal = window.demo.terminal
      const line = () => {
        const buffer = terminal.buffer.active
        return buffer.getLine(buffer.cursorY + buffer.baseY)?.translateToString(true) ?? ""
      }
      /** types `key` and resolves once the cursor's line satisfies `shown` (fails after 10 s, saying what it saw) */
      const type = (key: string, shown: (text: string) => boolean) =>
        new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => {
            listener.dispose()
            reject(new Error(`after ${JSON.stringify(key)} the line stayed ${JSON.stringify(line())}`))
          }, 10_000)
          const listener = terminal.onWriteParsed(() => {
            if (!shown(line())) return
            clearTimeout(timer)
            listener.dispose()
            resolve()
          })
          terminal.input(key, true)
        })
      const samples: Array<number> = []
      let typed = ""
      for (let i = 0; i < warmup + count; i++) {
        // a comment line, so that Enter runs nothing; a new line every 40 keys, after its prompt (a key typed
        // ahead is echoed by the pty before the shell prints its prompt)
        if (typed.length >= 40 || typed === "") {
          if (typed !== "") await type("\r", (text) => /^[$#] ?$/.test(text))
          typed = "#"
          await type("#", (text) => /^[$#] #$/.test(text))
        }
        typed += String.fromCharCode(97 + (i % 26))
        const start = performance.now()
        await type(typed.at(-1)!, (text) => text.endsWith(typed))
        if (i >= warmup) samples.push(performance.now() - start)
      }
      terminal.input("\r", true)
      return samples
    }, { count: KEYSTROKES, warmup: WARMUP })
  )
}).pipe(Effect.scoped, Effect.provide(AgentSimulator.layerSsmApi().pipe(Layer.provide(AgentSimulator.layer()))))

export const run = (): Promise<ReadonlyArray<Row>> =>
  Effect.runPromise(Effect.gen(function*() {
    const rows: Array<Row> = []
    const { library, page, whole } = yield* sizes
    const measured = [
      ["library bundle (Session, Shell, RemoteCommand, BrowserSession), gzip", library],
      ["page script without xterm.js, gzip", page],
      ["page script with xterm.js, gzip", whole]
    ] as const
    for (const [name, js] of measured) {
      console.log(`${name.padEnd(72)} ${kb(gzip(js)).padStart(9)} (${kb(js.length)} minified)`)
      rows.push({ group: "Browser", name, value: kb(gzip(js)) })
    }
    if (!Fs.existsSync(executablePath)) {
      console.log(`keystroke-to-echo latency: skipped, no Chromium at ${executablePath}`)
      return rows
    }
    const samples = [...(yield* latency)].sort((a, b) => a - b)
    const p50 = percentile(samples, 0.5)
    const p99 = percentile(samples, 0.99)
    console.log(
      `keystroke to echo in Chromium through the simulator (${samples.length} keys)`.padEnd(72) +
        ` p50 ${p50.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms, max ${samples.at(-1)!.toFixed(2)} ms`
    )
    rows.push({ group: "Browser", name: "keystroke to echo in Chromium, p50", value: `${p50.toFixed(2)} ms` })
    rows.push({ group: "Browser", name: "keystroke to echo in Chromium, p99", value: `${p99.toFixed(2)} ms` })
    return rows
  }))

if (process.argv[1] !== undefined && Path.resolve(process.argv[1]) === Url.fileURLToPath(import.meta.url)) {
  console.log(`Node ${process.version}, ${process.platform}/${process.arch}, ${Os.cpus().length} CPUs\n`)
  await run()
}
