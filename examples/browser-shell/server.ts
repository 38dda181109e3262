// The page's server: serves the page and its script, and answers the page's session calls (POST /api/session)
// through the server's SsmApi, AWS's or the simulator's, for the one target it offers. On 127.0.0.1 only.
//
// Who may use it: whoever holds the secret in the URL it prints (as Jupyter does). Opening that URL trades the
// secret for an HttpOnly, SameSite=Strict cookie and redirects to the clean URL; every request without the cookie
// (or the secret) is answered 403 and nothing else, so another local user who can reach the port gets nothing, and
// another site's page cannot start sessions (it has no cookie, and its calls carry its own Origin).
import * as Effect from "effect/Effect"
import * as Runtime from "effect/Runtime"
import type * as Scope from "effect/Scope"
import * as Crypto from "node:crypto"
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
  /** the URL to open, with the secret (`?token=…`): for the server's own user only */
  readonly url: string
  /** `http://127.0.0.1:PORT`, without the secret */
  readonly origin: string
  readonly port: number
  /** the secret in `url` */
  readonly token: string
  /** the name of the cookie the secret is traded for (one per port: cookies do not tell ports apart) */
  readonly cookieName: string
}

/** the largest request body the server reads */
export const MAX_BODY = 64 * 1024

const escapeHtml = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;" })[c]!)

/** equal strings, in a time that does not depend on where they differ (digests: equal lengths) */
const sameSecret = (given: string, secret: string) =>
  Crypto.timingSafeEqual(
    Crypto.createHash("sha256").update(given).digest(),
    Crypto.createHash("sha256").update(secret).digest()
  )

/** the value of cookie `name` in a Cookie header, if any */
const cookieValue = (header: string | undefined, name: string): string | undefined => {
  if (header === undefined) return undefined
  for (const part of header.split(";")) {
    const eq = part.indexOf("=")
    if (eq !== -1 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim()
  }
  return undefined
}

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

/**
 * The request's body, or undefined when it is larger than MAX_BODY: then what it has is dropped and nothing more
 * is kept (the rest is discarded until the answer closes the connection).
 */
const readBody = (request: Http.IncomingMessage) =>
  new Promise<string | undefined>((resolve, reject) => {
    let size = 0
    const chunks: Array<Buffer> = []
    const onData = (chunk: Buffer) => {
      size += chunk.length
      if (size > MAX_BODY) {
        request.off("data", onData)
        chunks.length = 0
        resolve(undefined)
      } else chunks.push(chunk)
    }
    request.on("data", onData)
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
    // the secret in the printed URL, and the one in the cookie it is traded for
    const token = Crypto.randomBytes(32).toString("base64url")
    const cookieSecret = Crypto.randomBytes(32).toString("base64url")

    // set once listening, before any request is answered
    let origin = ""
    let host = ""
    let cookieName = ""
    const headers = {
      "cache-control": "no-store",
      "x-content-type-options": "nosniff",
      "referrer-policy": "no-referrer",
      // the session's WebSocket goes to the service (wss://ssmmessages.<region>.amazonaws.com) or the simulator
      "content-security-policy": "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; " +
        "connect-src 'self' wss://*.amazonaws.com ws://127.0.0.1:*; frame-ancestors 'none'"
    }
    const send = (
      response: Http.ServerResponse,
      status: number,
      type: string,
      body: string,
      extra: Record<string, string> = {}
    ) => {
      if (response.headersSent) return void response.end()
      response.writeHead(status, { ...headers, "content-type": type, ...extra })
      response.end(body)
    }
    const refuse = (response: Http.ServerResponse, status: number, type: string, message: string, extra: Record<string, string> = {}) =>
      send(response, status, "application/json", JSON.stringify({ __type: type, message }), extra)
    // an answer sent before the body was read: the connection closes after it (the rest of the body is not read)
    const closing = { connection: "close" }

    const answer = (request: Http.IncomingMessage, response: Http.ServerResponse): void => {
      // origin-form paths, and absolute-form URLs (their path only): anything unparsable is a 400
      let url: URL
      try {
        url = new URL(request.url ?? "/", origin)
      } catch {
        return refuse(response, 400, "InvalidParameters", "bad request target", closing)
      }
      // a name other than 127.0.0.1:PORT (DNS rebinding) is not this server
      if (request.headers.host !== host) return refuse(response, 403, "AccessDenied", "wrong Host", closing)

      // the printed URL's secret: traded for the cookie, then the clean URL
      const given = url.searchParams.get("token")
      if (given !== null) {
        if (request.method !== "GET" || !sameSecret(given, token)) {
          return refuse(response, 403, "AccessDenied", "open the URL the demo printed", closing)
        }
        return send(response, 303, "text/plain", "", {
          location: url.pathname,
          "set-cookie": `${cookieName}=${cookieSecret}; HttpOnly; SameSite=Strict; Path=/`
        })
      }
      // every other request: the cookie, or 403 and nothing else
      const cookie = cookieValue(request.headers.cookie, cookieName)
      if (cookie === undefined || !sameSecret(cookie, cookieSecret)) {
        return refuse(response, 403, "AccessDenied", "open the URL the demo printed", closing)
      }

      const path = url.pathname
      if (request.method === "GET" && path === "/") return send(response, 200, "text/html; charset=utf-8", page)
      if (request.method === "GET" && path === "/client.js") return send(response, 200, "text/javascript", script)
      if (request.method === "GET" && path === "/xterm.css") return send(response, 200, "text/css", css)
      if (request.method === "POST" && path === "/api/session") {
        // same-origin calls only (a second check: another site's page has no cookie for this one)
        if (request.headers.origin !== origin) return refuse(response, 403, "AccessDenied", "cross-origin call", closing)
        const length = request.headers["content-length"]
        if (length !== undefined && !(Number(length) <= MAX_BODY)) {
          return refuse(response, 413, "InvalidParameters", `bodies are at most ${MAX_BODY} bytes`, closing)
        }
        readBody(request).then(
          (text) => {
            if (text === undefined) {
              return refuse(response, 413, "InvalidParameters", `bodies are at most ${MAX_BODY} bytes`, closing)
            }
            let body: unknown
            try {
              body = JSON.parse(text)
            } catch {
              return refuse(response, 400, "InvalidParameters", "not JSON")
            }
            // a real server would pass its user on as the handler's context
            return run(handle(body)).then(
              (answer) => send(response, answer.status, "application/json", JSON.stringify(answer.body)),
              () => refuse(response, 500, "Other", "internal error")
            )
          },
          () => response.destroy()
        )
        return
      }
      send(response, 404, "text/plain", "not found")
    }
    const server = Http.createServer((request, response) => {
      try {
        answer(request, response)
      } catch {
        // no request ends the server
        refuse(response, 500, "Other", "internal error", closing)
      }
    })
    // an `Expect: 100-continue` body too large is refused before the client sends it
    server.on("checkContinue", (request: Http.IncomingMessage, response: Http.ServerResponse) => {
      const length = request.headers["content-length"]
      if (length !== undefined && !(Number(length) <= MAX_BODY)) {
        return refuse(response, 413, "InvalidParameters", `bodies are at most ${MAX_BODY} bytes`, closing)
      }
      response.writeContinue()
      server.emit("request", request, response)
    })
    const port = yield* Effect.acquireRelease(
      Effect.async<number>((resume) => {
        server.listen(options.port ?? 0, "127.0.0.1", () => {
          const port = (server.address() as Net.AddressInfo).port
          host = `127.0.0.1:${port}`
          origin = `http://${host}`
          cookieName = `browser-shell-${port}`
          resume(Effect.succeed(port))
        })
      }),
      () =>
        Effect.async<void>((resume) => {
          server.closeAllConnections()
          server.close(() => resume(Effect.void))
        })
    )
    return { url: `${origin}/?token=${token}`, origin, port, token, cookieName }
  })
