/**
 * The exit code of a command run on a terminal over an InteractiveCommands session that reports none (ECS Exec:
 * the agent in ContainerMode execs the command on a pty and never sends an exit code).
 *
 * The script side (`script`): an outer `sh` runs the command line with `sh -c`, having set `trap : INT QUIT` so
 * that it outlives a child killed by Ctrl-C (and reports 130), then prints the marker to the pty: an OSC sequence
 * (`ESC ] ssm-exit;<nonce>;<code> BEL`), which a terminal that sees it ignores, pure ASCII, so the agent's output
 * path (`processStdoutData`) passes it as it is, and it flushes any bytes the agent held back. The nonce is the
 * session's own (`makeNonce`): output that holds another session's marker, or one made up, passes through as it
 * is and never stands for this command's exit code (a wrapper killed before its marker is `NoExitCode`).
 *
 * The client side (`make`): a pure, incremental filter over the output bytes, split anywhere, that passes every
 * byte but the session's markers through as it is, holding back at most a marker's length of a possible marker
 * cut across chunks, and keeps the exit code of the last marker seen.
 *
 * @internal
 */
import { append, concat } from "../protocol/bytes.js"
import { shellQuote } from "./remoteCommand.js"

/** `ESC ] ssm-exit;`, then the nonce and `;` @internal */
export const MARKER_PREFIX = "\u001b]ssm-exit;"

/** The nonce's length: 16 lowercase hex digits (64 random bits). @internal */
export const NONCE_LENGTH = 16

/** A session's nonce. @internal */
export const makeNonce = (): string =>
  Array.from(globalThis.crypto.getRandomValues(new Uint8Array(NONCE_LENGTH / 2)), (byte) => byte.toString(16).padStart(2, "0"))
    .join("")

/** The bytes a marker with `nonce` starts with. @internal */
export const prefixOf = (nonce: string): Uint8Array => Uint8Array.from(`${MARKER_PREFIX}${nonce};`, (c) => c.charCodeAt(0) & 0xff)

/** BEL, the end of the OSC @internal */
export const MARKER_END = "\u0007"

/** the most digits of an exit code (`$?` is 0 to 255) */
const MAX_DIGITS = 3

const ESC = 0x1b
const BEL = 0x07
const ZERO = 0x30
const NINE = 0x39

/** The longest marker, in bytes: at most this many minus one are ever held back. @internal */
export const MAX_MARKER_LENGTH = MARKER_PREFIX.length + NONCE_LENGTH + 1 + MAX_DIGITS + 1

/** The marker for an exit code, as the script prints it. @internal */
export const marker = (nonce: string, code: number): string => `${MARKER_PREFIX}${nonce};${code}${MARKER_END}`

/**
 * The script an outer `sh` runs (`sh -c '<script>'`): `commandLine` run by an inner `sh -c`, then the marker with
 * its exit status.
 *
 * @internal
 */
export const script = (commandLine: string, nonce: string): string =>
  `trap : INT QUIT; sh -c ${shellQuote(commandLine)}; printf '\\033]ssm-exit;${nonce.replace(/[^0-9a-f]/g, "")};%d\\007' "$?"`

/** What matching at an ESC found */
type Match =
  | { readonly _tag: "No" }
  | { readonly _tag: "Partial" }
  | { readonly _tag: "Marker"; readonly length: number; readonly code: number }

const NO: Match = { _tag: "No" }
const PARTIAL: Match = { _tag: "Partial" }

/** a marker at `at` (where an ESC is), or a prefix of one cut by the end of `bytes` */
const matchAt = (prefix: Uint8Array, bytes: Uint8Array, at: number): Match => {
  let i = 0
  for (; i < prefix.length; i++) {
    if (at + i >= bytes.length) return PARTIAL
    if (bytes[at + i] !== prefix[i]) return NO
  }
  let code = 0
  let digits = 0
  for (;; i++) {
    if (at + i >= bytes.length) return PARTIAL
    const byte = bytes[at + i]!
    if (byte === BEL) return digits === 0 ? NO : { _tag: "Marker", length: i + 1, code }
    if (byte < ZERO || byte > NINE || digits === MAX_DIGITS) return NO
    code = code * 10 + byte - ZERO
    digits++
  }
}

/** @internal */
export interface Step {
  /** the bytes to pass on, markers taken out */
  readonly output: Uint8Array
  /** the code of the last marker in this step's bytes, if any */
  readonly exitCode: number | undefined
}

/** @internal */
export interface Filter {
  /** the next output chunk */
  readonly push: (chunk: Uint8Array) => Step
  /** the end of the output: the bytes held back, which were no marker */
  readonly end: () => Uint8Array
  /** the code of the last marker seen so far */
  readonly exitCode: () => number | undefined
}

const EMPTY = new Uint8Array(0)

/**
 * One step of the filter, pure: the marker's prefix (with its nonce), the bytes held from the previous step, and a
 * chunk.
 *
 * @internal
 */
export const step = (prefix: Uint8Array, held: Uint8Array, chunk: Uint8Array): Step & { readonly held: Uint8Array } => {
  const bytes = append(held, chunk)
  // the common case: no ESC at all, the chunk passes as it is
  if (bytes.indexOf(ESC) === -1) return { output: bytes, exitCode: undefined, held: EMPTY }
  const parts: Array<Uint8Array> = []
  let exitCode: number | undefined
  let from = 0
  let at = bytes.indexOf(ESC)
  while (at !== -1) {
    const match = matchAt(prefix, bytes, at)
    if (match._tag === "Partial") {
      parts.push(bytes.subarray(from, at))
      return { output: join(parts), exitCode, held: bytes.slice(at) }
    }
    if (match._tag === "Marker") {
      parts.push(bytes.subarray(from, at))
      exitCode = match.code
      from = at + match.length
      at = bytes.indexOf(ESC, from)
    } else {
      at = bytes.indexOf(ESC, at + 1)
    }
  }
  parts.push(bytes.subarray(from))
  return { output: join(parts), exitCode, held: EMPTY }
}

/** the parts as one array (the one non-empty part itself) */
const join = (parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  const nonEmpty = parts.filter((part) => part.length > 0)
  return nonEmpty.length === 0 ? EMPTY : concat(nonEmpty)
}

/**
 * A filter of the markers with `nonce`, with its state (the bytes held back, the last code seen).
 *
 * @internal
 */
export const make = (nonce: string): Filter => {
  const prefix = prefixOf(nonce)
  let held: Uint8Array = EMPTY
  let last: number | undefined
  return {
    push: (chunk) => {
      const next = step(prefix, held, chunk)
      held = next.held
      if (next.exitCode !== undefined) last = next.exitCode
      return { output: next.output, exitCode: next.exitCode }
    },
    end: () => {
      const rest = held
      held = EMPTY
      return rest
    },
    exitCode: () => last
  }
}
