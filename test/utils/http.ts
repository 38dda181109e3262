import { Effect } from "effect"
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
