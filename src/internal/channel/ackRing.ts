/**
 * The acknowledgements a channel wrote lately, kept as bytes in one ring allocated with the channel instead of one
 * frame object each: the latest `capacity` are written again when a new transport carries the channel on, and each
 * may be written once more a little after the first time (`repeatAckAfter`).
 *
 * Why bytes: at a download's pace V8 collects its young generation every few milliseconds, so a frame kept for the
 * 50 ms of its repeat, with the record of that repeat, outlived it and went to the old generation, holding the
 * 64 KiB slab its bytes were carved from, all of it garbage left for the next full collection. Kept this way, an
 * acknowledgement leaves nothing behind it: the frame written the first time dies young, and a frame written again
 * is a fresh copy of its entry (the transport may hold it until the network takes it; the ring's bytes are never
 * handed out). Measured on 128 MiB downloads through the plugin: about a third less V8 heap at the peak, a fifth
 * fewer young-generation collections, 4-11% less CPU (README, "Second round: what changed").
 *
 * Entries go in the order the acknowledgements were written, so the repeats fall due in that order too. An
 * entry about to be overwritten while its repeat is still due has that repeat written at once instead (only past
 * `capacity` acknowledgements within `repeatAckAfter`, 20,000 a second with the defaults, twenty times what the
 * service lets an agent send).
 *
 * @internal
 */
import { MAX_ACKNOWLEDGE_FRAME } from "../protocol/agentMessage.js"

/** @internal */
export interface AckRing {
  readonly capacity: number
  /** entry `i`'s bytes from `i * MAX_ACKNOWLEDGE_FRAME`, `lengths[i]` of them */
  readonly bytes: Uint8Array
  readonly lengths: Uint16Array
  readonly sequences: Float64Array
  /** when each entry's repeat is due, in the channel's ms; 0 when it has none (or it went) */
  readonly due: Float64Array
  /** the entry the next acknowledgement goes into */
  next: number
  /** entries in the ring, up to `capacity` */
  size: number
  /** no repeat is due before this entry */
  repeatHead: number
  /** entries whose repeat is still due */
  repeatsDue: number
}

/** An empty ring of `capacity` entries. @internal */
export const make = (capacity: number): AckRing => ({
  capacity,
  bytes: new Uint8Array(capacity * MAX_ACKNOWLEDGE_FRAME),
  lengths: new Uint16Array(capacity),
  sequences: new Float64Array(capacity),
  due: new Float64Array(capacity),
  next: 0,
  size: 0,
  repeatHead: 0,
  repeatsDue: 0
})

/** The entry `offset` places after `slot`, around the ring. */
const after = (ring: AckRing, slot: number, offset: number): number => (slot + offset) % ring.capacity

/**
 * Keeps a copy of `frame`, the acknowledgement of `sequence`, with its repeat due at `due` (0 for none), in the
 * oldest entry, whose own repeat must have gone (`lapped` says). A frame larger than `MAX_ACKNOWLEDGE_FRAME` is not
 * kept.
 * @internal
 */
export const keep = (ring: AckRing, frame: Uint8Array, sequence: number, due: number): void => {
  if (frame.length > MAX_ACKNOWLEDGE_FRAME) return
  const slot = ring.next
  // the oldest entry goes (its repeat should have gone with `lapped`; if not, it goes uncounted, never lost count
  // of), and the search for the next repeat starts at the one after it, now the oldest
  if (ring.size === ring.capacity) {
    repeated(ring, slot)
    if (ring.repeatHead === slot) ring.repeatHead = after(ring, slot, 1)
  }
  ring.bytes.set(frame, slot * MAX_ACKNOWLEDGE_FRAME)
  ring.lengths[slot] = frame.length
  ring.sequences[slot] = sequence
  ring.due[slot] = due
  if (due > 0 && ring.repeatsDue++ === 0) ring.repeatHead = slot
  ring.next = after(ring, slot, 1)
  if (ring.size < ring.capacity) ring.size++
}

/** The entry the next `keep` overwrites, when its repeat is still due. @internal */
export const lapped = (ring: AckRing): number | undefined =>
  ring.size === ring.capacity && ring.due[ring.next]! > 0 ? ring.next : undefined

/** A fresh copy of an entry's frame, for the transport. @internal */
export const frameAt = (ring: AckRing, slot: number): Uint8Array =>
  ring.bytes.slice(slot * MAX_ACKNOWLEDGE_FRAME, slot * MAX_ACKNOWLEDGE_FRAME + ring.lengths[slot]!)

/** The sequence number an entry acknowledges. @internal */
export const sequenceAt = (ring: AckRing, slot: number): number => ring.sequences[slot]!

/** Marks an entry's repeat as gone. @internal */
export const repeated = (ring: AckRing, slot: number): void => {
  if (ring.due[slot] === 0) return
  ring.due[slot] = 0
  ring.repeatsDue--
}

/**
 * The oldest entry whose repeat is still due, and when: undefined when none is. Skips the entries before it that
 * have none.
 * @internal
 */
export const nextRepeat = (ring: AckRing): number | undefined => {
  for (let step = 0; ring.repeatsDue > 0 && step < ring.capacity; step++) {
    if (ring.due[ring.repeatHead]! > 0) return ring.repeatHead
    ring.repeatHead = after(ring, ring.repeatHead, 1)
  }
  return undefined
}

/** The entries from the oldest to the latest, for writing them again. @internal */
export const slots = (ring: AckRing): Array<number> =>
  Array.from({ length: ring.size }, (_, i) => after(ring, ring.next, ring.capacity - ring.size + i))
