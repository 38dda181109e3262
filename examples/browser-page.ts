import type { Terminal } from "@xterm/xterm"
import { Effect, Queue, Stream } from "effect"
import * as BrowserSession from "ssm-session-manager/BrowserSession"
import * as Shell from "ssm-session-manager/Shell"

// In a web page (bundled for browsers): a shell on an xterm.js terminal. The page holds no AWS credentials: its
// own server answers POST /api/session (BrowserSession.makeHandler) with the sessions it starts for the page.
export const shellOn = (terminal: Terminal, target: string) =>
  Effect.gen(function*() {
    const shell = yield* Shell.start({ target, size: { cols: terminal.cols, rows: terminal.rows } })
    const keys = yield* Queue.unbounded<Uint8Array>()
    const typed = terminal.onData((data) => Queue.unsafeOffer(keys, new TextEncoder().encode(data)))
    const resized = terminal.onResize((size) => Effect.runFork(shell.resize(size)))
    yield* Effect.addFinalizer(() => Effect.sync(() => (typed.dispose(), resized.dispose())))
    yield* Effect.forkScoped(Stream.run(Stream.fromQueue(keys), shell.input))
    yield* Stream.runForEach(shell.output, (bytes) => Effect.sync(() => terminal.write(bytes)))
    return yield* shell.closed // how it ended, to show the user
  }).pipe(Effect.scoped, Effect.provide(BrowserSession.layer({ url: "/api/session" })))
