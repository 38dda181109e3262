/**
 * The SOCKS5 wire format: requests of every address type parse back to what was encoded, whatever bytes come in
 * are parsed without throwing and within the length bounds, and IPv6 addresses take their canonical form.
 */
import { assert, describe, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import * as Net from "node:net"
import { MAX_GREETING, MAX_REQUEST, parseGreeting, parseRequest } from "../src/internal/node/socksWire.js"

const request = (command: number, addressType: number, address: Uint8Array, port: number) =>
  new Uint8Array([0x05, command, 0x00, addressType, ...(addressType === 0x03 ? [address.length] : []), ...address, port >> 8, port & 0xff])

describe("SOCKS5 wire", () => {
  it.prop("an IPv4 request parses to its dotted address and port, consuming exactly its bytes", [
    fc.uint8Array({ minLength: 4, maxLength: 4 }),
    fc.integer({ min: 0, max: 65535 }),
    fc.uint8Array({ maxLength: 8 })
  ], ([address, port, trailing]) => {
    const bytes = request(0x01, 0x01, address, port)
    const parsed = parseRequest(new Uint8Array([...bytes, ...trailing]))
    assert.deepStrictEqual(parsed, { _tag: "Done", value: { command: 1, host: Array.from(address).join("."), port }, consumed: bytes.length })
  })

  it.prop("an IPv6 request parses to the same 16 bytes, in the canonical text form Node writes (RFC 5952)", [
    fc.uint8Array({ minLength: 16, maxLength: 16 }).chain((bytes) =>
      // runs of zero groups, which the canonical form shortens
      fc.tuple(fc.constant(bytes), fc.integer({ min: 0, max: 7 }), fc.integer({ min: 0, max: 8 }))),
    fc.integer({ min: 1, max: 65535 })
  ], ([[random, from, length], port]) => {
    const bytes = random.slice()
    bytes.fill(0, from * 2, Math.min(16, (from + length) * 2))
    const parsed = parseRequest(request(0x01, 0x04, bytes, port))
    assert.strictEqual(parsed._tag, "Done")
    const host = (parsed as { value: { host: string } }).value.host
    const groups = Array.from({ length: 8 }, (_, i) => (bytes[2 * i]! << 8) | bytes[2 * i + 1]!)
    assert.isTrue(Net.isIPv6(host), host)
    assert.deepStrictEqual(expandIpv6(host), groups)
    // Node writes ::/96 and ::ffff:0:0/96 with a dotted IPv4 tail; RFC 5952 keeps hex for the former, and the
    // agent's Go dials either
    const embedsIpv4 = groups.slice(0, 5).every((group) => group === 0) && (groups[5] === 0 || groups[5] === 0xffff)
    if (!embedsIpv4) assert.strictEqual(host, new Net.SocketAddress({ address: host, family: "ipv6" }).address)
  })

  it.prop("a domain request parses to its name", [fc.domain(), fc.integer({ min: 1, max: 65535 })], ([domain, port]) => {
    const parsed = parseRequest(request(0x01, 0x03, new TextEncoder().encode(domain), port))
    assert.deepStrictEqual(parsed._tag === "Done" ? parsed.value : undefined, { command: 1, host: domain, port })
  })

  it.prop("any bytes: no throw, Done never past the bound, Incomplete only for fewer bytes than the bound", [
    fc.uint8Array({ maxLength: 300 })
  ], ([bytes]) => {
    for (const [parse, bound] of [[parseRequest, MAX_REQUEST], [parseGreeting, MAX_GREETING]] as const) {
      const parsed = parse(bytes)
      if (parsed._tag === "Done") assert.isAtMost(parsed.consumed, Math.min(bound, bytes.length))
      if (parsed._tag === "Incomplete") assert.isBelow(bytes.length, bound)
    }
  })

  it("greetings: no-authentication offered or not, SOCKS4 and garbage refused", () => {
    assert.deepStrictEqual(parseGreeting(new Uint8Array([5, 2, 2, 0])), { _tag: "Done", value: { noAuthentication: true }, consumed: 4 })
    assert.deepStrictEqual(parseGreeting(new Uint8Array([5, 1, 2])), { _tag: "Done", value: { noAuthentication: false }, consumed: 3 })
    assert.deepStrictEqual(parseGreeting(new Uint8Array([5, 3, 0])), { _tag: "Incomplete" })
    assert.strictEqual(parseGreeting(new Uint8Array([4, 1]))._tag, "Invalid")
    assert.deepStrictEqual(parseGreeting(new TextEncoder().encode("GET / HTTP/1.1")), {
      _tag: "Invalid",
      reply: undefined,
      detail: "not SOCKS5 (version byte 71)"
    })
  })
})

/** The eight 16-bit groups of an IPv6 address in any text form. */
const expandIpv6 = (text: string): Array<number> => {
  const [head, tail] = text.includes("::") ? text.split("::") as [string, string] : [text, undefined]
  const parse = (part: string) => part === "" ? [] : part.split(":").map((group) => parseInt(group, 16))
  const left = parse(head)
  const right = tail === undefined ? [] : parse(tail)
  return [...left, ...Array.from({ length: 8 - left.length - right.length }, () => 0), ...right]
}
