/**
 * The SOCKS5 wire format (RFC 1928) as plain functions over bytes: the greeting, the request, the replies.
 *
 * @internal
 */
/** @internal */
export const Reply = {
  Succeeded: 0x00,
  GeneralFailure: 0x01,
  NotAllowed: 0x02,
  NetworkUnreachable: 0x03,
  HostUnreachable: 0x04,
  ConnectionRefused: 0x05,
  TtlExpired: 0x06,
  CommandNotSupported: 0x07,
  AddressTypeNotSupported: 0x08
} as const

/** The version byte of every SOCKS5 message. @internal */
export const VERSION = 0x05
/** What a SOCKS4 client sends as its version byte. */
const SOCKS4_VERSION = 0x04

/** The authentication methods (section 3): the only one served, and the answer when a client offers none of it. @internal */
export const Method = {
  NoAuthentication: 0x00,
  NoAcceptable: 0xff
} as const

/** The commands of a request (section 4): only CONNECT is served. @internal */
export const Command = {
  Connect: 0x01,
  Bind: 0x02,
  UdpAssociate: 0x03
} as const

/** The address types of a request (section 5). @internal */
export const AddressType = {
  IPv4: 0x01,
  DomainName: 0x03,
  IPv6: 0x04
} as const

/** A reply with an unspecified bound address (0.0.0.0:0): what the proxy binds on the instance is not known. @internal */
export const replyBytes = (code: number): Uint8Array =>
  new Uint8Array([VERSION, code, 0x00, AddressType.IPv4, 0, 0, 0, 0, 0, 0])

/** @internal */
export const NO_ACCEPTABLE_METHODS = new Uint8Array([VERSION, Method.NoAcceptable])
/** @internal */
export const NO_AUTHENTICATION = new Uint8Array([VERSION, Method.NoAuthentication])
/** what a SOCKS4 server answers to a request it rejects (VN 0, CD 91), so a SOCKS4 client says so */
const SOCKS4_REJECTED = new Uint8Array([0x00, 0x5b, 0, 0, 0, 0, 0, 0])

/** The longest greeting (VER, NMETHODS, 255 methods) and request (a 255-byte domain name). @internal */
export const MAX_GREETING = 2 + 255
/** @internal */
export const MAX_REQUEST = 4 + 1 + 255 + 2

/** @internal */
export type Parsed<A> =
  | { readonly _tag: "Incomplete" }
  | { readonly _tag: "Done"; readonly value: A; readonly consumed: number }
  | { readonly _tag: "Invalid"; readonly reply: Uint8Array | undefined; readonly detail: string }

const incomplete = { _tag: "Incomplete" } as const

/** The method-selection message: whether the client offers "no authentication required". @internal */
export const parseGreeting = (buffer: Uint8Array): Parsed<{ readonly noAuthentication: boolean }> => {
  if (buffer.length < 1) return incomplete
  const version = buffer[0]!
  if (version === SOCKS4_VERSION) return { _tag: "Invalid", reply: SOCKS4_REJECTED, detail: "a SOCKS4 client (only SOCKS5 is served)" }
  if (version !== VERSION) return { _tag: "Invalid", reply: undefined, detail: `not SOCKS5 (version byte ${version})` }
  if (buffer.length < 2) return incomplete
  const count = buffer[1]!
  if (buffer.length < 2 + count) return incomplete
  const methods = buffer.subarray(2, 2 + count)
  return { _tag: "Done", value: { noAuthentication: methods.includes(Method.NoAuthentication) }, consumed: 2 + count }
}

/** @internal */
export interface Request {
  readonly command: number
  readonly host: string
  readonly port: number
}

/** The request (VER, CMD, RSV, ATYP, DST.ADDR, DST.PORT). @internal */
export const parseRequest = (buffer: Uint8Array): Parsed<Request> => {
  if (buffer.length < 1) return incomplete
  if (buffer[0] !== VERSION) {
    return {
      _tag: "Invalid",
      reply: replyBytes(Reply.GeneralFailure),
      detail: `a request of version ${buffer[0]} (only SOCKS5 is served)`
    }
  }
  if (buffer.length < 4) return incomplete
  const command = buffer[1]!
  const addressType = buffer[3]!
  let addressLength: number
  let start = 4
  if (addressType === AddressType.IPv4) addressLength = 4
  else if (addressType === AddressType.IPv6) addressLength = 16
  else if (addressType === AddressType.DomainName) {
    if (buffer.length < 5) return incomplete
    addressLength = buffer[4]!
    start = 5
  } else {
    return {
      _tag: "Invalid",
      reply: replyBytes(Reply.AddressTypeNotSupported),
      detail: `address type ${addressType} is not supported (IPv4, domain name and IPv6 are)`
    }
  }
  const end = start + addressLength + 2
  if (buffer.length < end) return incomplete
  const address = buffer.subarray(start, start + addressLength)
  const host = addressType === AddressType.IPv4
    ? Array.from(address).join(".")
    : addressType === AddressType.IPv6
    ? formatIpv6(address)
    : String.fromCharCode(...address)
  const port = (buffer[end - 2]! << 8) | buffer[end - 1]!
  return { _tag: "Done", value: { command, host, port }, consumed: end }
}

/** 16 bytes as an IPv6 address in its canonical text form (RFC 5952: the longest run of zero groups as `::`). */
const formatIpv6 = (bytes: Uint8Array): string => {
  const groups: Array<number> = []
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!)
  let bestStart = -1
  let bestLength = 1
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++
      continue
    }
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > bestLength) {
      bestStart = i
      bestLength = j - i
    }
    i = j
  }
  const hex = groups.map((group) => group.toString(16))
  if (bestStart === -1) return hex.join(":")
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLength).join(":")}`
}

/** A host name the document can carry: letters, digits, dots, hyphens and underscores, at most 253 characters. */
export const isHostName = (host: string): boolean => host.length > 0 && host.length <= 253 && /^[A-Za-z0-9._-]+$/.test(host)

/** `host:port`, with an IPv6 address in brackets. @internal */
export const formatDestination = (host: string, port: number): string =>
  host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`
