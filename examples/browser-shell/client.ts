// The page's script (bundled by bundle.ts for the browser): a terminal (xterm.js) on a Shell session, and a
// command runner on RemoteCommand.execStream. The page never calls AWS: BrowserSession.layer asks the page's own
// server (POST /api/session) for StartSession, ResumeSession and TerminateSession, and opens the session's
// WebSocket itself.
import { FitAddon } from "@xterm/addon-fit"
import { Terminal } from "@xterm/xterm"
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import * as BrowserSession from "ssm-session-manager/BrowserSession"
import * as RemoteCommand from "ssm-session-manager/RemoteCommand"
import type * as Session from "ssm-session-manager/Session"
import * as Shell from "ssm-session-manager/Shell"

const element = <E extends HTMLElement>(id: string): E => document.getElementById(id) as E

/** the target the server offers this page (it checks it again on every StartSession) */
const target = document.body.dataset["target"] ?? ""
const sessions = BrowserSession.layer({ url: "/api/session" })

// ---- the terminal

const terminal = new Terminal({
  cursorBlink: true,
  fontFamily: "ui-monospace, 'DejaVu Sans Mono', Menlo, monospace",
  fontSize: 14,
  lineHeight: 1.15,
  scrollback: 5000,
  theme: { background: "#101418" }
})
const fit = new FitAddon()
terminal.loadAddon(fit)
const container = element<HTMLDivElement>("terminal")
terminal.open(container)
fit.fit()
// the window, the layout or the panel's own resize handle: the container changes size, the terminal follows,
// and `onResize` (below) tells the remote pty
new ResizeObserver(() => fit.fit()).observe(container)

const status = element<HTMLSpanElement>("status")
const reconnect = element<HTMLButtonElement>("reconnect")
const disconnect = element<HTMLButtonElement>("disconnect")
const interrupt = element<HTMLButtonElement>("interrupt")

/** `data-state` on the status line: connecting, open, reconnecting, closed or failed (the tests wait on it) */
const show = (state: string, text: string) => {
  status.dataset["state"] = state
  status.textContent = text
  const running = state === "connecting" || state === "open" || state === "reconnecting"
  reconnect.disabled = running
  disconnect.disabled = !running
  interrupt.disabled = state !== "open"
}

const describe = (event: Session.ConnectionEvent) =>
  event._tag === "Reconnecting"
    ? show("reconnecting", `Reconnecting (attempt ${event.attempt}): ${event.cause}`)
    : show("open", `Connected (resumed after ${Math.round(Duration.toMillis(event.after))} ms)`)

const encoder = new TextEncoder()
let current: Shell.Shell | undefined

/** output waiting in xterm's parser beyond which the session stops reading (and so stops acknowledging) */
const HIGH_WATER = 256 * 1024

/** Writes to the terminal, waiting while xterm is far behind: a `yes` on the instance cannot fill the page. */
const writeOutput = (() => {
  let pending = 0
  let wake: (() => void) | undefined
  return (bytes: Uint8Array) =>
    Effect.async<void>((resume) => {
      pending += bytes.length
      terminal.write(bytes, () => {
        pending -= bytes.length
        if (pending < HIGH_WATER / 2 && wake !== undefined) {
          const w = wake
          wake = undefined
          w()
        }
      })
      if (pending < HIGH_WATER) resume(Effect.void)
      else wake = () => resume(Effect.void)
    })
})()

const runShell = Effect.gen(function*() {
  show("connecting", `Starting a session to ${target}…`)
  const shell = yield* Shell.start({ target, size: { cols: terminal.cols, rows: terminal.rows } })
  current = shell
  yield* Effect.addFinalizer(() => Effect.sync(() => current = undefined))
  show("open", `Connected: ${shell.session.sessionId}`)

  // keystrokes, in order, through one fiber; sizes, the latest only
  const input = yield* Queue.unbounded<Uint8Array>()
  const sizes = yield* Queue.sliding<Shell.TerminalSize>(1)
  const listeners = [
    terminal.onData((data) => Queue.unsafeOffer(input, encoder.encode(data))),
    // xterm's binary input (mouse reports in some modes): one byte per character
    terminal.onBinary((data) => Queue.unsafeOffer(input, Uint8Array.from(data, (c) => c.charCodeAt(0)))),
    terminal.onResize((size) => Queue.unsafeOffer(sizes, size))
  ]
  yield* Effect.addFinalizer(() => Effect.sync(() => listeners.forEach((listener) => listener.dispose())))
  yield* Effect.forkScoped(Stream.run(Stream.fromQueue(input), shell.input))
  yield* Effect.forkScoped(Effect.forever(Effect.flatMap(Queue.take(sizes), shell.resize)))
  // a size from before the listener: the container may have changed while the session started
  if (terminal.cols !== 0) Queue.unsafeOffer(sizes, { cols: terminal.cols, rows: terminal.rows })
  yield* Effect.forkScoped(Stream.runForEach(yield* shell.session.subscribe, (event) => Effect.sync(() => describe(event))))

  terminal.focus()
  yield* Stream.runForEach(shell.output, writeOutput)
  return yield* shell.closed
}).pipe(Effect.scoped, Effect.provide(sessions))

let shellFiber: Fiber.RuntimeFiber<string, unknown> | undefined

const startShell = () => {
  if (shellFiber !== undefined) return
  const fiber = Effect.runFork(runShell)
  shellFiber = fiber
  fiber.addObserver((exit) => {
    shellFiber = undefined
    if (Exit.isSuccess(exit)) {
      show("closed", `Session ended${exit.value.trim() === "" ? "" : `: ${exit.value.trim()}`}`)
    } else if (Cause.isInterruptedOnly(exit.cause)) {
      show("closed", "Disconnected")
    } else {
      const error = Cause.squash(exit.cause)
      show("failed", `Session failed: ${error instanceof Error ? error.message : String(error)}`)
    }
    terminal.write("\r\n\x1b[2m[" + status.textContent + "]\x1b[0m\r\n")
  })
}

reconnect.addEventListener("click", () => {
  terminal.write("\x1b[2J\x1b[H")
  startShell()
})
disconnect.addEventListener("click", () => {
  if (shellFiber !== undefined) Effect.runFork(Fiber.interrupt(shellFiber))
})
interrupt.addEventListener("click", () => {
  if (current !== undefined) Effect.runFork(Effect.ignore(current.signal("SIGINT")))
  terminal.focus()
})
// leaving the page: the session's scope closes (the TerminateSession flag; the server terminates it as well)
window.addEventListener("pagehide", () => {
  const sessionId = current?.session.sessionId
  if (sessionId !== undefined) {
    navigator.sendBeacon(
      "/api/session",
      new Blob([JSON.stringify({ action: "TerminateSession", SessionId: sessionId })], { type: "application/json" })
    )
  }
  if (shellFiber !== undefined) Effect.runFork(Fiber.interrupt(shellFiber))
})

// ---- the command runner

const form = element<HTMLFormElement>("command-form")
const commandInput = element<HTMLInputElement>("command")
const stdout = element<HTMLPreElement>("stdout")
const stderr = element<HTMLPreElement>("stderr")
const exitCode = element<HTMLSpanElement>("exit-code")
const commandPanel = element<HTMLElement>("command-panel")

const runCommand = (command: string) => {
  const out = new TextDecoder()
  const err = new TextDecoder()
  stdout.textContent = ""
  stderr.textContent = ""
  exitCode.textContent = "running…"
  commandPanel.dataset["state"] = "running"
  return RemoteCommand.execStream({ target, command }).pipe(
    Stream.runForEach((item) =>
      Effect.sync(() => {
        switch (item._tag) {
          case "Stdout":
            stdout.textContent += out.decode(item.bytes, { stream: true })
            break
          case "Stderr":
            stderr.textContent += err.decode(item.bytes, { stream: true })
            break
          case "Exit":
            exitCode.textContent = String(item.code)
            exitCode.dataset["code"] = String(item.code)
        }
      })
    ),
    Effect.provide(sessions),
    Effect.match({
      onSuccess: () => commandPanel.dataset["state"] = "done",
      onFailure: (error) => {
        exitCode.textContent = `failed: ${error.message}`
        commandPanel.dataset["state"] = "failed"
      }
    })
  )
}

form.addEventListener("submit", (event) => {
  event.preventDefault()
  if (commandPanel.dataset["state"] === "running") return
  delete exitCode.dataset["code"]
  Effect.runFork(runCommand(commandInput.value))
})

// ---- for tests and benchmarks: the terminal's text, and the terminal itself

declare global {
  interface Window {
    readonly demo: { readonly terminal: Terminal; readonly text: () => string }
  }
}
Object.assign(window, {
  demo: {
    terminal,
    text: () => {
      const buffer = terminal.buffer.active
      const lines: Array<string> = []
      for (let i = 0; i < buffer.length; i++) lines.push(buffer.getLine(i)?.translateToString(true) ?? "")
      return lines.join("\n")
    }
  }
})

startShell()
