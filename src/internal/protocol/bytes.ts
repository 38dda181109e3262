/**
 * Byte helpers for hot paths: a slab allocator for small frames and concatenation without spreading.
 *
 * @internal
 */

const SLAB_SIZE = 64 * 1024
const MAX_POOLED = 4 * 1024

let slab = new ArrayBuffer(SLAB_SIZE)
let slabOffset = 0

/**
 * Returns `length` bytes, carved from a shared 64 KiB slab when small (as Node's Buffer pool does): a fresh
 * `Uint8Array` of about 1 KiB costs more than hashing it. The contents are not zeroed: callers overwrite them.
 * @internal
 */
export const allocate = (length: number): Uint8Array => {
  if (length > MAX_POOLED) return new Uint8Array(length)
  if (slabOffset + length > SLAB_SIZE) {
    slab = new ArrayBuffer(SLAB_SIZE)
    slabOffset = 0
  }
  const bytes = new Uint8Array(slab, slabOffset, length)
  // keep every view 8-byte aligned
  slabOffset = (slabOffset + length + 7) & ~7
  return bytes
}

/**
 * Concatenates byte arrays into one new array.
 * @internal
 */
export const concat = (parts: ReadonlyArray<Uint8Array>, totalLength?: number): Uint8Array => {
  if (parts.length === 1) return parts[0]!
  let length = totalLength ?? 0
  if (totalLength === undefined) for (const part of parts) length += part.length
  const out = new Uint8Array(length)
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.length
  }
  return out
}

/**
 * `a` then `b`: the other one itself when one is empty (no copy), else one new array.
 * @internal
 */
export const append = (a: Uint8Array, b: Uint8Array): Uint8Array =>
  a.length === 0 ? b : b.length === 0 ? a : concat([a, b], a.length + b.length)
