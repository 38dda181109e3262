/**
 * AWS Signature Version 4, as the simulator's HTTP API checks it: every call must be signed with the simulator's
 * secret (`verifySignature`), and secrets are compared in constant time (`sameSecret`).
 *
 * @internal
 */
import * as Either from "effect/Either"
import * as Crypto from "node:crypto"
import type { ApiFailure } from "./api.js"

/** How far a signed request's X-Amz-Date may be from now, as AWS allows. */
const SKEW_MILLIS = 15 * 60 * 1000

/** RFC 3986 escaping as SigV4 does it (`encodeURIComponent` plus `!'()*`). */
const escapeUri = (text: string) =>
  encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)

/** The canonical URI of a non-S3 request (segments normalised, then escaped once more), as the SDK signs it. */
const canonicalPath = (path: string) => {
  const segments: Array<string> = []
  for (const segment of path.split("/")) {
    if (segment === "" || segment === ".") continue
    if (segment === "..") segments.pop()
    else segments.push(segment)
  }
  const normalised = `${path.startsWith("/") ? "/" : ""}${segments.join("/")}${
    segments.length > 0 && path.endsWith("/") ? "/" : ""
  }`
  return escapeUri(normalised).replace(/%2F/g, "/")
}

/** The canonical query string; undefined when it does not decode. */
const canonicalQuery = (query: string): string | undefined => {
  const pairs: Array<string> = []
  for (const part of query.split("&")) {
    if (part === "") continue
    const equals = part.indexOf("=")
    const [key, value] = equals < 0 ? [part, ""] : [part.slice(0, equals), part.slice(equals + 1)]
    try {
      const name = decodeURIComponent(key)
      if (name.toLowerCase() === "x-amz-signature") continue
      pairs.push(`${escapeUri(name)}=${escapeUri(decodeURIComponent(value))}`)
    } catch {
      return undefined
    }
  }
  return pairs.sort().join("&")
}

const hmac = (key: Crypto.BinaryLike, text: string) => Crypto.createHmac("sha256", key).update(text, "utf8").digest()
const sha256Hex = (data: string | Uint8Array) => Crypto.createHash("sha256").update(data).digest("hex")

const AUTHORIZATION =
  /^AWS4-HMAC-SHA256 Credential=([^/,\s]+)\/(\d{8})\/([^/,\s]+)\/([^/,\s]+)\/aws4_request, ?SignedHeaders=([a-z0-9;_.-]+), ?Signature=([0-9a-f]{64})$/

/**
 * Checks a request's AWS Signature Version 4 (the Authorization header form; see the AWS docs "Create a canonical
 * request for Signature Version 4") against `secret`: the signature recomputed over the method, path, query,
 * signed headers (`host` and `x-amz-date` among them) and the hash of the body received, compared in constant
 * time, with X-Amz-Date within 15 minutes of `now`. The access key id it was signed under, or the failure to answer.
 *
 * @internal
 */
export const verifySignature = (
  request: {
    readonly method: string
    readonly url: string
    readonly headers: Readonly<Record<string, string | ReadonlyArray<string> | undefined>>
  },
  body: Uint8Array,
  secret: string,
  now: number
): Either.Either<string, ApiFailure> => {
  const unrecognized = Either.left<ApiFailure>({
    status: 403,
    name: "UnrecognizedClientException",
    message: "The security token included in the request is invalid."
  })
  const header = (name: string): string | undefined => {
    const value = request.headers[name]
    return value === undefined ? undefined : typeof value === "string" ? value : value.join(",")
  }
  const match = AUTHORIZATION.exec(header("authorization") ?? "")
  if (match === null) return unrecognized
  const [, accessKeyId, shortDate, region, service, signedHeaderList, signature] = match as unknown as [
    string,
    string,
    string,
    string,
    string,
    string,
    string
  ]
  const signedHeaders = signedHeaderList.split(";")
  const longDate = header("x-amz-date") ?? ""
  const dated = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(longDate)
  if (
    dated === null || !longDate.startsWith(shortDate) || !signedHeaders.includes("host") ||
    !signedHeaders.includes("x-amz-date") || signedHeaders.some((name, i) => i > 0 && signedHeaders[i - 1]! >= name)
  ) {
    return unrecognized
  }
  const signedAt = Date.UTC(+dated[1]!, +dated[2]! - 1, +dated[3]!, +dated[4]!, +dated[5]!, +dated[6]!)
  if (!(Math.abs(now - signedAt) <= SKEW_MILLIS)) {
    return Either.left({
      status: 403,
      name: "InvalidSignatureException",
      message: "Signature expired: the request's X-Amz-Date is more than 15 minutes from the simulator's time."
    })
  }
  const question = request.url.indexOf("?")
  const query = canonicalQuery(question < 0 ? "" : request.url.slice(question + 1))
  if (query === undefined) return unrecognized
  const canonicalHeaders = signedHeaders.map((name) =>
    `${name}:${(header(name) ?? "").replace(/[\r\n]/g, " ").replace(/[ \t]+/g, " ").replace(/^ | $/g, "")}\n`
  ).join("")
  const canonicalRequest = [
    request.method,
    canonicalPath(question < 0 ? request.url : request.url.slice(0, question)),
    query,
    canonicalHeaders,
    signedHeaderList,
    sha256Hex(body)
  ].join("\n")
  const scope = `${shortDate}/${region}/${service}/aws4_request`
  const stringToSign = `AWS4-HMAC-SHA256\n${longDate}\n${scope}\n${sha256Hex(canonicalRequest)}`
  const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, shortDate), region), service), "aws4_request")
  const expected = Crypto.createHmac("sha256", key).update(stringToSign, "utf8").digest()
  return Crypto.timingSafeEqual(expected, Buffer.from(signature, "hex"))
    ? Either.right(accessKeyId)
    : Either.left({
      status: 403,
      name: "InvalidSignatureException",
      message: "The request signature we calculated does not match the signature you provided."
    })
}

/** Whether two strings are equal, in time that does not depend on where they differ. @internal */
export const sameSecret = (a: string, b: string) =>
  Crypto.timingSafeEqual(Crypto.createHash("sha256").update(a).digest(), Crypto.createHash("sha256").update(b).digest())
