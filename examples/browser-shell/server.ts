// The page's server: serves the page and its script, and answers the page's session calls (POST /api/session)
// through the server's SsmApi, AWS's or the simulator's, for the one target it offers. On 127.0.0.1 only.
import * as Effect from "effect/Effect"
import * as Runtime from "effect/Runtime"
import type * as Scope from "effect/Scope"
import * as Fs from "node:fs"
import * as Http from "node:http"
import type * as Net from "node:net"
import * as Path from "node:path"
import * as Url from "node:url"
import * as BrowserSession from "ssm-session-manager/BrowserSession"
import * as RemoteCommand from "ssm-session-manager/RemoteCommand"
import type * as SsmApi from "ssm-session-manager/SsmApi"
import { bundle, root } from "./bundle.js"

const here = Path.dirname(Url.fileURLToPath(import.meta.url))

export interface ServeOptions {
  /** the instance the page's shell and commands go to: the only target the server starts sessions for */
  readonly target: string
  /** default 0: any free port */
  readonly port?: number | undefined
}

export interface Served {
  readonly url: string
  readonly port: number
}

/** the largest request body the server reads */
const MAX_BODY = 64 * 1024

const escapeHtml = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;" })[c]!)

/**
 * What the page may start: a shell (the account's default shell document) or a command of `RemoteCommand`'s
 * document, on `target` only. A real server decides from its user's rights here.
 */
const authorizeStart = (target: string) => (request: SsmApi.StartSessionRequest) => {
  if (request.target !== target) return Effect.fail(`this page may open sessions to ${target} only`)
  if (request.documentName === undefined && request.parameters === undefined) {
    return Effect.succeed({ target, reason: "browser-shell" })
  }
  const names = Object.keys(request.parameters ?? {})
  if (request.documentName === RemoteCommand.DOCUMENT_NAME && names.length === 1 && names[0] === "command") {
    return Effect.succeed({ ...request, target, reason: "browser-shell command" })
  }
  return Effect.fail(`this page may start a shell, or a command of ${RemoteCommand.DOCUMENT_NAME}`)
}

const readBody = (request: Http.IncomingMessage) =>
  new Promise<string>((resolve, reject) => {
    let size = 0
    const chunks: Array<Buffer> = []
    request.on("data", (chunk: Buffer) => {
      size += chunk.length
      if (size > MAX_BODY) {
        reject(new Error("too large"))
        request.destroy()
      } else chunks.push(chunk)
    })
    request.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")))
    request.on("error", reject)
  })

/** Starts the server on 127.0.0.1; it stops with the scope. */
export const serve = (options: ServeOptions): Effect.Effect<Served, never, SsmApi.SsmApi | Scope.Scope> =>
  Effect.gen(function*() {
    const script = (yield* Effect.promise(() => bundle())).js
    const css = Fs.readFileSync(Path.join(root, "node_modules", "@xterm", "xterm", "css", "xterm.css"), "utf8")
    const page = Fs.readFileSync(Path.join(here, "index.html"), "utf8").replaceAll("{{TARGET}}", escapeHtml(options.target))
    const handle = yield* BrowserSession.makeHandler({ authorizeStart: authorizeStart(options.target) })
    const run = Runtime.runPromise(yield* Effect.runtime<never>())

    let origin = ""
    const headers = {
      "cache-control": "no-store",
      "x-content-type-options": "nosniff",
      // the session's WebSocket goes to the service (wss://ssmmessages.<region>.amazonaws.com) or the simulator
      "content-security-policy": "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; " +
        "connect-src 'self' wss://*.amazonaws.com ws://127.0.0.1:*; frame-ancestors 'none'"
    }
    const send = (response: Http.ServerResponse, status: number, type: string, body: string) => {
      response.writeHead(status, { ...headers, "content-type": type })
      response.end(body)
    }
    const server = Http.createServer((request, response) => {
      const path = new URL(request.url ?? "/", origin).pathname
      if (request.method === "GET" && path === "/") return send(response, 200, "text/html; charset=utf-8", page)
      if (request.method === "GET" && path === "/client.js") return send(response, 200, "text/javascript", script)
      if (request.method === "GET" && path === "/xterm.css") return send(response, 200, "text/css", css)
      if (request.method === "POST" && path === "/api/session") {
        // same-origin calls only: another site's page cannot start sessions with this page's cookies
        if (request.headers.origin !== origin) {
          return send(response, 403, "application/json", JSON.stringify({ __type: "AccessDenied", message: "cross-origin call" }))
        }
        readBody(request).then((text) => {
          let body: unknown
          try {
            body = JSON.parse(text)
          } catch {
            return send(response, 400, "application/json", JSON.stringify({ __type: "InvalidParameters", message: "not JSON" }))
          }
          // a real server authenticates its user here and passes it on as the handler's context
          return run(handle(body)).then((answer) => send(response, answer.status, "application/json", JSON.stringify(answer.body)))
        }, () => send(response, 413, "application/json", JSON.stringify({ __type: "InvalidParameters", message: "too large" })))
        return
      }
      send(response, 404, "text/plain", "not found")
    })
    const port = yield* Effect.acquireRelease(
      Effect.async<number>((resume) => {
        server.listen(options.port ?? 0, "127.0.0.1", () => resume(Effect.succeed((server.address() as Net.AddressInfo).port)))
      }),
      () =>
        Effect.async<void>((resume) => {
          server.closeAllConnections()
          server.close(() => resume(Effect.void))
        })
    )
    origin = `http://127.0.0.1:${port}`
    return { url: `${origin}/`, port }
  })
