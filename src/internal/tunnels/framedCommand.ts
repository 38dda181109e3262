/**
 * Framed commands: a command with stdin, end of input, signals, separate stdout and stderr and an exit code, over
 * an InteractiveCommands session (what `exec -i` and `cp` run).
 *
 * The agent runs an InteractiveCommands document's `commands` as `sh -c <commands>` on a pseudo-terminal
 * (`agent/session/shell/shell_unix.go` StartCommandExecutor, creack/pty), writes our input to the pty unchanged
 * (`InputStreamMessageHandler`) and sends what it reads from the pty as Output, at most 1024 bytes a message after
 * a first wait of 1 s (`agent/session/shell/shell.go` writePump). A pty in its default (cooked) mode edits and
 * echoes input and turns `\n` into `\r\n` on output, and the agent's output path holds back trailing bytes that
 * are not complete UTF-8 (never sent when the output ends there) and sends a literal U+FFFD (EF BF BD) as its
 * first byte alone (`processStdoutData`). So the document runs `WRAPPER`, a POSIX sh script that:
 * 1. checks its tools (`TOOLS`) and says `\x1essm-framed-1 FAIL <what>` when one is missing;
 * 2. saves the pty's mode (`stty -g`), restores it on every exit (EXIT trap; HUP and TERM exit), and sets
 *    `stty raw -echo -iexten`: every input byte reaches it as it is, every output byte leaves as it is;
 * 3. says `\x1essm-framed-1 READY\n`; the client sends nothing before it;
 * 4. runs the command (`sh -c`, the `command` parameter base64-decoded) in the foreground, its stdin a FIFO that
 *    a reader fills from input frames, its stdout and stderr FIFOs that two framers turn into output frames (the
 *    reader's and the framers' own stderr go to /dev/null: nothing but frames may reach the pty; once a command
 *    stops reading, the reader's writes fail and it may read data as headers, until the wrapper kills it);
 * 5. says `\x1essm-framed-1 EXIT <code>\n` once the command has exited and both framers are done (a signal
 *    frame that comes meanwhile interrupts `wait`, which is then waited again: no frame comes after EXIT).
 *
 * Input frames (client to wrapper), each an 8-byte header `K` + 6 decimal digits + `\n`, read by `dd` (a shell's
 * `read` may take more than a line from a terminal):
 * - `D<n>` then n bytes (1 to 65536): stdin data;
 * - `C000000`: end of stdin (the FIFO is closed, the command reads end of file);
 * - `I000000`, `Q000000`: SIGINT, SIGQUIT to the command's process group, as a terminal's Ctrl-C and Ctrl-\ do
 *   (the wrapper's own background jobs ignore them, as a shell's background jobs do).
 *
 * Output frames (wrapper to client), a header line `K <n>\n` then n bytes, each written by one `write` so the two
 * framers never interleave:
 * - `O`, `E`: stdout, stderr bytes as they are (at most 65536);
 * - `o`, `e`: stdout, stderr bytes as `od -An -v -tx1` text, for a chunk that holds EF BF BD, which the agent
 *   would corrupt;
 * then the EXIT line. Its ASCII after the last chunk also flushes any bytes the agent held back.
 *
 * @internal
 */

/** The marker before the wrapper's own lines (RS, then the protocol's name). @internal */
export const MARKER = "\u001essm-framed-1"

/** The programs the wrapper needs (coreutils, grep; or busybox), besides `sh`, `kill` and `printf`. @internal */
export const TOOLS = ["stty", "mkfifo", "mktemp", "dd", "od", "tr", "grep", "wc", "cat", "rm", "base64"] as const

/**
 * A command whose first line is this gets the pty itself as fd 5, to write output frames of its own (`O <n>\\n`
 * then n bytes, n ≤ `MAX_DIRECT_FRAME`, each frame ONE write(2), which the tty keeps whole against the framers'
 * writes; o frames for chunks holding EF BF BD), in blocks larger than the generic framers' 64 KiB: `cp`'s
 * downloads, whose source is a file, so no latency is at stake. Its stdout must then stay unused (the two would
 * not keep their order).
 *
 * @internal
 */
export const DIRECT_LINE = "# ssm-framed: direct"

/** The largest raw output frame (a direct writer's block). @internal */
export const MAX_DIRECT_FRAME = 1024 * 1024

/** The document parameter that carries the command (base64). @internal */
export const COMMAND_PARAMETER = "command"

/**
 * The wrapper, with `{{ command }}` where the agent puts the parameter (base64 text, safe in single quotes).
 *
 * @internal
 */
export const WRAPPER = `P='ssm-framed-1'
DIRECT='${DIRECT_LINE}'
fail() { printf '\\036%s FAIL %s\\n' "$P" "$*"; exit 127; }
for t in ${TOOLS.join(" ")}; do
  command -v "$t" >/dev/null 2>&1 || fail "missing $t (exec -i and cp need ${TOOLS.join(", ")}: coreutils or busybox)"
done
c=$(printf '%s' '{{ command }}' | base64 -d) || fail "base64 -d failed"
s=$(stty -g) || fail "stty -g failed"
d=$(mktemp -d) || fail "mktemp -d failed"
trap 'stty "$s"; rm -rf "$d"' EXIT
trap 'exit 129' HUP
trap 'exit 143' TERM
trap ':' INT QUIT
mkfifo "$d/i" "$d/o" "$d/e" || fail "mkfifo failed"
b=$(printf '\\357\\277\\275')
stty raw -echo -iexten || fail "stty raw failed"
frames() {
  while :; do
    dd of="$d/$1c" bs=65536 count=1 2>/dev/null
    n=$(($(wc -c < "$d/$1c")))
    [ "$n" -gt 0 ] || break
    if tr '\\000' '\\001' < "$d/$1c" | LC_ALL=C grep -qF "$b"; then
      od -An -v -tx1 "$d/$1c" > "$d/$1h"
      { printf '%s %d\\n' "$2" $(($(wc -c < "$d/$1h"))); cat "$d/$1h"; } > "$d/$1f"
    else
      { printf '%s %d\\n' "$1" "$n"; cat "$d/$1c"; } > "$d/$1f"
    fi
    dd if="$d/$1f" bs=1048576 2>/dev/null
  done
}
reader() {
  exec 3> "$d/i"
  while h=$(dd bs=8 count=1 iflag=fullblock 2>/dev/null) && [ \${#h} -eq 7 ]; do
    n=$((1\${h#?} - 1000000))
    case $h in
      D*) dd bs=65536 count="$n" iflag=fullblock,count_bytes 2>/dev/null >&3 ;;
      C*) exec 3>&- ;;
      I*) kill -INT 0 ;;
      Q*) kill -QUIT 0 ;;
    esac
  done
}
frames O o < "$d/o" 2>/dev/null & fo=$!
frames E e < "$d/e" 2>/dev/null & fe=$!
exec 4<&0
reader <&4 2>/dev/null & r=$!
printf '\\036%s READY\\n' "$P"
case $c in
  "$DIRECT"*) sh -c "$c" 5>&1 4<&- < "$d/i" > "$d/o" 2> "$d/e" ;;
  *) sh -c "$c" 4<&- < "$d/i" > "$d/o" 2> "$d/e" ;;
esac
x=$?
for j in "$fo" "$fe"; do
  wait "$j"; while [ $? -gt 128 ]; do wait "$j"; done
done
kill "$r" 2>/dev/null
printf '\\036%s EXIT %d\\n' "$P" "$x"
`

/** @internal */
export const DOCUMENT_NAME = "SSM-RunCommandWithStdin"

/** what the `linux` key holds (macOS's dd and stty lack what the wrapper uses: no `macos` key) */
const linuxProperties = { commands: WRAPPER.replace("{{ command }}", `{{ ${COMMAND_PARAMETER} }}`), runAsElevated: false }

/** @internal */
export const DOCUMENT_CONTENT = {
  schemaVersion: "1.0",
  description: "Runs one command with stdin, separate stdout and stderr, and its exit code, framed over a raw pty " +
    "(ssm-session-manager exec -i and cp). Linux instances with coreutils or busybox.",
  sessionType: "InteractiveCommands",
  parameters: {
    [COMMAND_PARAMETER]: {
      type: "String",
      description: "the command line for sh -c, base64-encoded",
      allowedPattern: "^[A-Za-z0-9+/=]+$"
    }
  },
  properties: { linux: linuxProperties }
} as const

/** The parameter value for a command line. @internal */
export const encodeCommand = (command: string): string => {
  const bytes = new TextEncoder().encode(command)
  let binary = ""
  for (const byte of bytes) binary += String.fromCharCode(byte)
  return btoa(binary)
}

// ---------------------------------------------------------------------------------------------------------------
// input frames
// ---------------------------------------------------------------------------------------------------------------

/** The largest stdin chunk one `D` frame may carry (the reader's `dd` block). @internal */
export const MAX_INPUT_CHUNK = 65536

/**
 * The stdin bytes the client puts in one `D` frame: with its 8-byte header a full frame is 64 KiB, exactly 64 of
 * the session's 1024-byte messages (the service paces messages, not bytes).
 *
 * @internal
 */
export const FRAME_DATA = 65536 - 8

const encoder = new TextEncoder()
const header = (kind: "D" | "C" | "I" | "Q", length: number): Uint8Array =>
  encoder.encode(`${kind}${String(length).padStart(6, "0")}\n`)

/**
 * The frames that carry `pieces` (in order) as stdin: the pieces packed together, `FRAME_DATA` bytes a frame
 * (none for no bytes). One copy of each byte, into its frame.
 *
 * @internal
 */
export const framesOf = (pieces: Iterable<Uint8Array>): Array<Uint8Array> => {
  let total = 0
  for (const piece of pieces) total += piece.length
  const frames: Array<Uint8Array> = []
  let frame = new Uint8Array(0)
  let filled = 0
  for (const piece of pieces) {
    let offset = 0
    while (offset < piece.length) {
      if (filled === frame.length) {
        const size = Math.min(FRAME_DATA, total)
        total -= size
        frame = new Uint8Array(8 + size)
        frame.set(header("D", size))
        frames.push(frame)
        filled = 8
      }
      const take = Math.min(piece.length - offset, frame.length - filled)
      frame.set(take === piece.length ? piece : piece.subarray(offset, offset + take), filled)
      filled += take
      offset += take
    }
  }
  return frames
}

/** The frames that carry `bytes` as stdin (none for no bytes). @internal */
export const dataFrames = (bytes: Uint8Array): Array<Uint8Array> => framesOf([bytes])

/** End of stdin. @internal */
export const closeFrame: Uint8Array = header("C", 0)

/** A signal for the command's process group. @internal */
export const signalFrame = (signal: "SIGINT" | "SIGQUIT"): Uint8Array => header(signal === "SIGINT" ? "I" : "Q", 0)
