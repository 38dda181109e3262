/**
 * A SOCKS5 client's handshake as a state machine over the bytes it has sent: the greeting (answered with the
 * method chosen), then the request; and the checks a request must pass before its destination is looked up.
 * Pure functions, apart from `readHandshake`, which runs the machine over a connection.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Net from "node:net"
import type * as NodeNetTransport from "../../NodeNetTransport.js"
import { concat } from "../protocol/bytes.js"
import {
  Command,
  formatDestination,
  isHostName,
  NO_ACCEPTABLE_METHODS,
  NO_AUTHENTICATION,
  parseGreeting,
  parseRequest,
  Reply,
  replyBytes,
  type Request
} from "./socksWire.js"
import { Rejection, SocksError, silentRejection } from "./socksError.js"

/** A request and what the client sent after it (its first data, kept for the destination). @internal */
export interface HandshakeRequest extends Request {
  readonly rest: Uint8Array
}

/** Where a client's handshake is, and the bytes received and not yet parsed. @internal */
export interface HandshakeState {
  phase: "Greeting" | "Request"
  buffer: Uint8Array
}

/** @internal */
export const initialHandshake = (): HandshakeState => ({ phase: "Greeting", buffer: new Uint8Array(0) })

/**
 * What the handshake needs next:
 * - `More`: more bytes from the client;
 * - `Answer`: the greeting is complete, these bytes (the method chosen) go to the client, and the request follows;
 * - `Request`: the request is complete;
 * - a `Rejection`: the reply to send (if any) and why.
 *
 * @internal
 */
export type HandshakeStep =
  | { readonly _tag: "More" }
  | { readonly _tag: "Answer"; readonly bytes: Uint8Array }
  | { readonly _tag: "Request"; readonly request: HandshakeRequest }
  | Rejection

const more = { _tag: "More" } as const

/** Appends what the client sent. @internal */
export const receive = (state: HandshakeState, bytes: Iterable<Uint8Array>): void => {
  state.buffer = concat([state.buffer, ...bytes])
}

/** Parses what it can of the buffer, moving from the greeting to the request. @internal */
export const advance = (state: HandshakeState): HandshakeStep => {
  if (state.phase === "Greeting") {
    const parsed = parseGreeting(state.buffer)
    if (parsed._tag === "Incomplete") return more
    if (parsed._tag === "Invalid") {
      return new Rejection({ reply: parsed.reply, error: new SocksError({ reason: "Handshake", detail: parsed.detail }) })
    }
    if (!parsed.value.noAuthentication) {
      return new Rejection({
        reply: NO_ACCEPTABLE_METHODS,
        error: new SocksError({
          reason: "Handshake",
          detail: "the client offers no acceptable authentication method (only \"no authentication\" is served)"
        })
      })
    }
    state.buffer = state.buffer.subarray(parsed.consumed)
    state.phase = "Request"
    return { _tag: "Answer", bytes: NO_AUTHENTICATION }
  }
  const parsed = parseRequest(state.buffer)
  if (parsed._tag === "Incomplete") return more
  if (parsed._tag === "Invalid") {
    return new Rejection({ reply: parsed.reply, error: new SocksError({ reason: "Handshake", detail: parsed.detail }) })
  }
  state.buffer = state.buffer.subarray(parsed.consumed)
  return { _tag: "Request", request: { ...parsed.value, rest: state.buffer } }
}

/** A rejection that names the destination and sends a reply code. @internal */
export const rejectWith = (
  destination: string,
  code: number,
  reason: SocksError["reason"],
  detail: string,
  cause?: unknown
): Rejection =>
  new Rejection({
    reply: replyBytes(code),
    destination,
    error: new SocksError(cause === undefined ? { reason, detail } : { reason, detail, cause })
  })

/** What is wrong with a complete request before its destination is looked up: only CONNECT to a host and a port. @internal */
export const checkRequest = (request: Request): Rejection | undefined => {
  const name = formatDestination(request.host, request.port)
  if (request.command !== Command.Connect) {
    const what = request.command === Command.Bind
      ? "BIND"
      : request.command === Command.UdpAssociate
      ? "UDP ASSOCIATE"
      : `command ${request.command}`
    return rejectWith(name, Reply.CommandNotSupported, "Handshake", `${what} is not supported (CONNECT is)`)
  }
  if (!Net.isIP(request.host) && !isHostName(request.host)) {
    return rejectWith(name, Reply.HostUnreachable, "Handshake", `${JSON.stringify(request.host)} is not a host name`)
  }
  if (request.port === 0) return rejectWith(name, Reply.HostUnreachable, "Handshake", "port 0")
  return undefined
}

/**
 * Reads the greeting and the request, answering the greeting; fails with the rejection to send. Bounded in bytes
 * by the parsers (a greeting is at most 257 bytes, a request 262), in time by the caller.
 *
 * @internal
 */
export const readHandshake = (
  transport: NodeNetTransport.NetTransport,
  write: (bytes: Uint8Array) => Effect.Effect<void, SocksError>
): Effect.Effect<HandshakeRequest, Rejection> =>
  Effect.gen(function*() {
    const state = initialHandshake()
    const pull = Effect.mapError(transport.pull, () => silentRejection("Handshake", "the client closed during the handshake"))
    while (true) {
      const step = advance(state)
      switch (step._tag) {
        case "More":
          receive(state, yield* pull)
          break
        case "Answer":
          yield* Effect.mapError(write(step.bytes), (error) => new Rejection({ reply: undefined, error }))
          break
        case "Request":
          return step.request
        case "Rejection":
          return yield* step
      }
    }
  })
