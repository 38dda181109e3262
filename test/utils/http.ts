import { Effect } from "effect"
import * as Crypto from "node:crypto"
import * as Http from "node:http"
import type * as Net from "node:net"

/** An HTTP server on 127.0.0.1 for the scope, answering each request with `handle`; its port. */
export const httpServer = (handle: (request: Http.IncomingMessage, response: Http.ServerResponse) => void) =>
  Effect.acquireRelease(
    Effect.async<Http.Server>((resume) => {
      const server = Http.createServer(handle)
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
    }),
    (server) =>
      Effect.sync(() => {
        server.closeAllConnections()
        server.close()
      })
  ).pipe(Effect.map((server) => (server.address() as Net.AddressInfo).port))

/** What a raw HTTP exchange gave: the status and body, or the connection's error. */
export interface HttpAnswer {
  readonly status: number
  readonly body: string
}

/**
 * One HTTP request to 127.0.0.1:`port`, signed with SigV4 (service ssm, us-east-1) when `secret` is given: written
 * here from the AWS docs, independent of the simulator's verifier (the SDK tests check both against AWS's signer).
 */
export const request = (
  port: number,
  options: {
    readonly method?: string
    readonly path?: string
    readonly headers?: Record<string, string>
    readonly body?: string | Uint8Array
    readonly sign?: { readonly accessKeyId: string; readonly secret: string; readonly date?: Date } | undefined
  }
) =>
  Effect.async<HttpAnswer, Error>((resume) => {
    const method = options.method ?? "POST"
    const path = options.path ?? "/"
    const body = typeof options.body === "string" ? Buffer.from(options.body) : Buffer.from(options.body ?? new Uint8Array())
    const headers: Record<string, string> = {
      host: `127.0.0.1:${port}`,
      "content-type": "application/x-amz-json-1.1",
      "content-length": String(body.length),
      ...options.headers
    }
    if (options.sign !== undefined) {
      const longDate = (options.sign.date ?? new Date()).toISOString().replace(/[-:]|\.\d{3}/g, "")
      const shortDate = longDate.slice(0, 8)
      headers["x-amz-date"] = longDate
      const names = Object.keys(headers).map((name) => name.toLowerCase()).filter((name) => name !== "content-length").sort()
      const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]))
      const canonical = [
        method,
        path,
        "",
        names.map((name) => `${name}:${lower[name]!.trim()}\n`).join(""),
        names.join(";"),
        Crypto.createHash("sha256").update(body).digest("hex")
      ].join("\n")
      const scope = `${shortDate}/us-east-1/ssm/aws4_request`
      const toSign = `AWS4-HMAC-SHA256\n${longDate}\n${scope}\n${Crypto.createHash("sha256").update(canonical).digest("hex")}`
      const hmac = (key: Crypto.BinaryLike, text: string) => Crypto.createHmac("sha256", key).update(text).digest()
      const key = hmac(hmac(hmac(hmac(`AWS4${options.sign.secret}`, shortDate), "us-east-1"), "ssm"), "aws4_request")
      headers["authorization"] = `AWS4-HMAC-SHA256 Credential=${options.sign.accessKeyId}/${scope}, SignedHeaders=${
        names.join(";")
      }, Signature=${Crypto.createHmac("sha256", key).update(toSign).digest("hex")}`
    }
    const outgoing = Http.request({ host: "127.0.0.1", port, method, path, headers, agent: false }, (response) => {
      const chunks: Array<Buffer> = []
      response.on("data", (chunk: Buffer) => chunks.push(chunk))
      response.on("end", () => resume(Effect.succeed({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString() })))
      response.on("error", (error) => resume(Effect.fail(error)))
    })
    outgoing.on("error", (error) => resume(Effect.fail(error)))
    outgoing.end(body)
  })
