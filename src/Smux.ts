/**
 * smux v1, wire-compatible with xtaci/smux 1.5.x (what both ends of an AWS port-forwarding session run), as a
 * service yielding scoped streams. It runs over any ordered byte transport: an in-memory pair, a TCP socket, or
 * the output of a Session.
 *
 * Beyond xtaci/smux: the writer takes one frame per stream in turn (a bulk upload cannot starve a small
 * exchange on another stream), bad input ends the session with a typed error instead of a silent desync,
 * buffered bytes are bounded per stream and per session (a slow reader stops the session from pulling the
 * transport, it never drops data), and closing the session sends FIN for every open stream.
 *
 * @since 0.1.0
 */
import type * as Socket from "@effect/platform/Socket"
import type * as Cause from "effect/Cause"
import type * as Chunk from "effect/Chunk"
import type * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type * as Sink from "effect/Sink"
import type * as Stream from "effect/Stream"
import * as internal from "./internal/smux/smux.js"
import * as frame from "./internal/smux/smuxFrame.js"
import * as memory from "./internal/smux/smuxMemory.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = internal.TypeId as TypeId

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * @since 0.1.0
 * @category type ids
 */
export const ErrorTypeId: unique symbol = internal.ErrorTypeId as ErrorTypeId

/**
 * @since 0.1.0
 * @category type ids
 */
export type ErrorTypeId = typeof ErrorTypeId

// ---------------------------------------------------------------------------------------------------------------
// errors
// ---------------------------------------------------------------------------------------------------------------

/**
 * The one error of this module.
 *
 * @since 0.1.0
 * @category errors
 */
export interface SmuxError {
  readonly [ErrorTypeId]: ErrorTypeId
  readonly _tag: "SmuxError"
  readonly reason: SmuxError.Reason
  readonly detail: string
  readonly cause?: unknown
  readonly message: string
}

/**
 * @since 0.1.0
 * @category errors
 */
export declare namespace SmuxError {
  /**
   * - `Protocol`: a frame with a wrong version, an unknown command, or a length on SYN/FIN/NOP.
   * - `FrameTooLarge`: a PSH frame above `maxReceiveFrameSize`.
   * - `StreamClosed`: a write on a stream that was closed locally.
   * - `SessionClosed`: the session or its transport ended.
   * - `GoAway`: stream ids are exhausted.
   * - `Timeout`: keepalive is on and the peer sent nothing for a whole timeout period.
   * - `Transport`: reading or writing the transport failed (the cause is attached).
   *
   * @since 0.1.0
   * @category errors
   */
  export type Reason = "Protocol" | "FrameTooLarge" | "StreamClosed" | "SessionClosed" | "GoAway" | "Timeout" | "Transport"
}

/**
 * @since 0.1.0
 * @category errors
 */
export const SmuxError: new(args: {
  readonly reason: SmuxError.Reason
  readonly detail: string
  readonly cause?: unknown
}) => SmuxError & Cause.YieldableError = internal.SmuxError

/**
 * @since 0.1.0
 * @category refinements
 */
export const isSmuxError: (u: unknown) => u is SmuxError = internal.isSmuxError

// ---------------------------------------------------------------------------------------------------------------
// models
// ---------------------------------------------------------------------------------------------------------------

/**
 * An ordered, reliable byte transport: what smux runs over. `incoming` is pulled only as fast as the session's
 * receive budget allows, so a pull-based source gets backpressure.
 *
 * @since 0.1.0
 * @category models
 */
export interface Transport<E = unknown> {
  readonly incoming: Stream.Stream<Uint8Array, E>
  readonly write: (bytes: Uint8Array) => Effect.Effect<void, E>
}

/**
 * Options of a session. The defaults are xtaci/smux's `DefaultConfig()` (version 1, 32768-byte frames, 4 MiB
 * receive buffer), except keepalive, which is off as AWS runs it with current agents.
 *
 * @since 0.1.0
 * @category models
 */
export interface SmuxOptions {
  /** `client` opens odd stream ids from 3, `server` even ids from 2 (as Go). Both may open and accept. */
  readonly role: "client" | "server"
  /** send a NOP every `keepAliveInterval` and end the session after `keepAliveTimeout` of silence. Default false */
  readonly keepAlive?: boolean | undefined
  /** default 10 seconds */
  readonly keepAliveInterval?: Duration.DurationInput | undefined
  /** default 30 seconds */
  readonly keepAliveTimeout?: Duration.DurationInput | undefined
  /** the largest PSH payload this side sends, 1..65535. Default 32768 */
  readonly maxFrameSize?: number | undefined
  /** the largest PSH payload accepted; larger is a `FrameTooLarge` error. Default 65535 (any) */
  readonly maxReceiveFrameSize?: number | undefined
  /** bytes buffered for all streams before the session stops reading the transport. Default 4 MiB */
  readonly maxReceiveBuffer?: number | undefined
  /** bytes buffered for one stream before the session stops reading the transport. Default 4 MiB */
  readonly maxStreamBuffer?: number | undefined
  /** streams opened by the peer and not yet accepted before the session stops reading. Default 1024 */
  readonly acceptBacklog?: number | undefined
  /** the most bytes handed to the transport in one write. Default 64 KiB */
  readonly writeBatchSize?: number | undefined
}

/**
 * One stream of a session.
 *
 * @since 0.1.0
 * @category models
 */
export interface SmuxStream {
  readonly id: number
  /**
   * The bytes the peer sends, pull-style (as `Stream.toPull` gives them): the next chunk, failing with `None`
   * at the end (the peer's FIN). The one way to read a stream: `toStream` and `toSocket` adapt it. Reading is
   * what frees the receive budget: a stream nobody reads eventually stops the whole session (smux v1 has no
   * per-stream window). A copy loop over `pull` costs one fiber, far less than running a Stream when thousands
   * of streams are open.
   */
  readonly pull: Effect.Effect<Chunk.Chunk<Uint8Array>, Option.Option<SmuxError>>
  /** Sends bytes in frames of at most `maxFrameSize`; completes when they are handed to the transport. */
  readonly write: (bytes: Uint8Array) => Effect.Effect<void, SmuxError>
  /** `write` as a Sink. */
  readonly sink: Sink.Sink<void, Uint8Array, never, SmuxError>
  /**
   * Sends FIN and forgets the stream (smux 1.5 has no half-close): unread data is dropped and later data from
   * the peer is discarded. Idempotent; also run when the stream's scope closes.
   */
  readonly close: Effect.Effect<void>
}

/**
 * A running smux session.
 *
 * @since 0.1.0
 * @category models
 */
export interface Smux {
  readonly [TypeId]: TypeId
  readonly role: "client" | "server"
  /** Opens a stream; closing the scope (or interrupting its user) sends FIN and frees it. */
  readonly open: Effect.Effect<SmuxStream, SmuxError, Scope.Scope>
  /** Waits for the next stream opened by the peer; it is closed with the scope. */
  readonly accept: Effect.Effect<SmuxStream, SmuxError, Scope.Scope>
  /** The streams opened by the peer, unscoped: close each one, or they close with the session. */
  readonly accepted: Stream.Stream<SmuxStream, SmuxError>
  /** Runs `handler` in its own fiber for every stream the peer opens, closing the stream when it ends. */
  readonly serve: <_, E, R>(handler: (stream: SmuxStream) => Effect.Effect<_, E, R>) => Effect.Effect<never, SmuxError, R>
  /** Completes with the error that ended the session (`SessionClosed` when its scope closed). */
  readonly await: Effect.Effect<void, SmuxError>
  /** Streams currently open. */
  readonly streamCount: Effect.Effect<number>
  /** Receive tokens in use (buffered bytes plus a small per-frame charge). */
  readonly bufferedBytes: Effect.Effect<number>
}

/**
 * @since 0.1.0
 * @category tags
 */
export const Smux: Context.Tag<Smux, Smux> = internal.tag

/**
 * The transport of the session built by `layer`.
 *
 * @since 0.1.0
 * @category tags
 */
export const SmuxTransport: Context.Tag<Transport, Transport> = internal.transportTag

// ---------------------------------------------------------------------------------------------------------------
// constructors
// ---------------------------------------------------------------------------------------------------------------

/**
 * Starts a session over `transport`. It runs until its scope closes (FIN to every open stream) or it fails:
 * `await` tells which.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: <E>(transport: Transport<E>, options: SmuxOptions) => Effect.Effect<Smux, never, Scope.Scope> =
  internal.make

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: SmuxOptions): Layer.Layer<Smux, never, Transport> =>
  Layer.scoped(internal.tag, internal.makeFromContext(options))

/**
 * Two transports joined back to back in memory, each direction a bounded queue of `capacity` chunks (writes
 * suspend when it is full). With `chunkSize`, writes are cut into pieces of that size, as the SSM data channel
 * cuts smux bytes into 1024-byte messages.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemoryPair: (
  options?: { readonly capacity?: number | undefined; readonly chunkSize?: number | undefined }
) => Effect.Effect<readonly [Transport<never>, Transport<never>], never, Scope.Scope> = memory.makeMemoryPair

// ---------------------------------------------------------------------------------------------------------------
// conversions
// ---------------------------------------------------------------------------------------------------------------

/**
 * A stream's `pull` as a Stream of the bytes the peer sends, ending at its FIN. Run it once: it reads the
 * stream, it does not copy it.
 *
 * @since 0.3.0
 * @category conversions
 */
export const toStream: (stream: SmuxStream) => Stream.Stream<Uint8Array, SmuxError> = internal.toStream

/**
 * A stream as an `@effect/platform` `Socket`, so any Socket-based code can run over it. Writing a
 * `CloseEvent` closes the stream.
 *
 * @since 0.1.0
 * @category conversions
 */
export const toSocket: (stream: SmuxStream) => Socket.Socket = internal.toSocket

// ---------------------------------------------------------------------------------------------------------------
// frames
// ---------------------------------------------------------------------------------------------------------------

/**
 * Frame commands of smux v1 (UPD belongs to v2 and is refused here).
 *
 * @since 0.1.0
 * @category frames
 */
export const Command: { readonly SYN: 0; readonly FIN: 1; readonly PSH: 2; readonly NOP: 3; readonly UPD: 4 } =
  frame.Command

/**
 * One of the commands of `Command`.
 *
 * @since 0.3.0
 * @category frames
 */
export type Command = typeof Command[keyof typeof Command]

/**
 * One frame as bytes: `ver, cmd, length (u16 LE), sid (u32 LE)` and the payload.
 *
 * @since 0.1.0
 * @category frames
 */
export const encodeFrame: (cmd: Command, sid: number, payload?: Uint8Array) => Uint8Array = frame.encodeFrame
