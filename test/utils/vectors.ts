import * as Fs from "node:fs"
import * as Path from "node:path"
import * as Url from "node:url"

/** A frame produced by AWS's own serializer, with the fields it was built from. */
export interface ValidVector {
  readonly name: string
  readonly note?: string
  readonly messageType: string
  readonly schemaVersion: number
  readonly createdDate: number
  readonly sequenceNumber: number
  readonly flags: number
  readonly messageId: string
  readonly payloadType: number
  readonly payloadHex: string
  readonly hex: string
}

/** A valid frame with one field broken. */
export interface InvalidVector {
  readonly name: string
  readonly hex: string
  readonly reason: string
}

const here = Path.dirname(Url.fileURLToPath(import.meta.url))

export const vectors: {
  readonly valid: ReadonlyArray<ValidVector>
  readonly invalid: ReadonlyArray<InvalidVector>
} = JSON.parse(Fs.readFileSync(Path.join(here, "..", "fixtures", "agent-messages.json"), "utf8"))

export const fromHex = (hex: string): Uint8Array => new Uint8Array(Buffer.from(hex.replace(/\s+/g, ""), "hex"))
export const toHex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex")
