/**
 * The remote side of a copy: small POSIX sh scripts, each run as a framed command (`RemoteCommand.startWithInput`),
 * whose stdin, stdout, stderr and exit code arrive exact. They use `sh`, `dd` (iflag=fullblock,count_bytes,
 * skip_bytes; oflag=seek_bytes; conv=notrunc), `sha256sum`, `stat -c`, `mv`, `chmod`, `rm`, `mkdir` and, for
 * directories, `tar`: coreutils or busybox.
 *
 * An upload's stdin is a sequence of chunk frames, each an 8-byte header read by `dd bs=8 count=1
 * iflag=fullblock` (a shell's `read` may take more than a line):
 * - `D` + 6 digits + `\n`, then that many bytes (1 to 65536): data, written at the script's running offset;
 * - `E000000\n`: the end of a range (a range session exits 0, keeping what it wrote);
 * - `H` + 6 digits + `\n`, then `<sha256> <mode> <size>\n`: the trailer, after which the first session checks the
 *   temp file and renames it into place;
 * - `A000000\n`: abandon (the temp is removed, exit non-zero).
 *
 * A script that fails says so in one stderr line `ssm-cp: <Reason>: <detail>` and exits non-zero; a temp file is
 * removed on every exit but a verified rename (EXIT trap; HUP, the pty's hangup when the session dies, INT and
 * TERM exit).
 *
 * @internal
 */
import { DIRECT_LINE } from "../tunnels/framedCommand.js"
import { shellQuote } from "../tunnels/remoteCommand.js"

/** A word for sh: single-quoted, each `'` written `'\''`. @internal */
export const quote: (word: string) => string = shellQuote

/** The prefix of the scripts' error lines. @internal */
export const ERROR_PREFIX = "ssm-cp: "

/** The tools every script checks for. @internal */
export const TOOLS = ["dd", "sha256sum", "stat", "mv", "chmod", "rm", "mkdir"] as const

const preamble = (tools: ReadonlyArray<string>) => `die() { c=$1; shift; printf 'ssm-cp: %s\\n' "$*" >&2; exit "$c"; }
for x in ${tools.join(" ")}; do
  command -v "$x" >/dev/null 2>&1 || die 127 "MissingTools: $x is missing on the instance (cp needs sh, ${
  [...TOOLS, "tar"].join(", ")
} (tar for -r): coreutils or busybox)"
done
`

/**
 * Where an upload lands: `$d` the final path (inside `dst` when it is a directory and a `base` name is known),
 * `$p` its directory, `$n` its name, `$t` the temp beside it.
 */
const destination = (remotePath: string, base: string, tag: string) => `d=${quote(remotePath)}
case $d in -*) d=./$d ;; esac
b=${quote(base)}
if [ -d "$d" ]; then
  [ -n "$b" ] || die 2 "NotAFile: $d is a directory"
  d="\${d%/}/$b"
fi
case $d in */*) p=\${d%/*} n=\${d##*/} ;; *) p=. n=$d ;; esac
[ -n "$p" ] || p=/
[ -n "$n" ] || die 2 "NotFound: $d names no file"
[ -d "$p" ] || die 2 "NotFound: no directory $p on the instance"
[ -d "$d" ] && die 2 "NotAFile: $d is a directory"
t="$p/.$n.ssm-cp-${tag}"
`

/** The role of one upload session. @internal */
export type UploadRole =
  | { readonly _tag: "Whole" }
  | { readonly _tag: "First" }
  | { readonly _tag: "Range"; readonly offset: number }

/**
 * An upload session's script: reads chunk frames into the temp beside the destination; the `Whole`/`First` one
 * then checks size and SHA-256 against the trailer, chmods, renames, and prints `<sha256> <final path>`.
 * `tar`: the received file is a tar stream, extracted into a temp directory whose one entry is renamed into place.
 *
 * @internal
 */
export const uploadScript = (options: {
  readonly remotePath: string
  /** the source's name, used when the destination is a directory ("" for stdin) */
  readonly base: string
  /** random, [0-9a-f] */
  readonly tag: string
  readonly role: UploadRole
  readonly tar?: boolean | undefined
}): string => {
  const range = options.role._tag === "Range"
  return `${preamble(options.tar === true ? [...TOOLS, "tar"] : TOOLS)}u=$(umask)
umask 077
${destination(options.remotePath, options.base, options.tag)}ok=
trap '[ -n "$ok" ] || rm -rf "$t" "$t.d"' EXIT
trap 'exit 129' HUP
trap 'exit 143' TERM
trap 'exit 130' INT
: >> "$t" || die 1 "Remote: cannot write $t"
o=${range ? (options.role as { readonly offset: number }).offset : 0}
while :; do
  h=$(dd bs=8 count=1 iflag=fullblock 2>/dev/null)
  case $h in
    D[0-9][0-9][0-9][0-9][0-9][0-9])
      k=$((1\${h#D} - 1000000))
      dd of="$t" bs=65536 count="$k" iflag=fullblock,count_bytes oflag=seek_bytes seek="$o" conv=notrunc 2>/dev/null ||
        die 1 "Remote: cannot write $t"
      o=$((o + k)) ;;
    E000000) ${range ? "ok=1; exit 0" : "die 4 \"Protocol: a range end in a whole-file session\""} ;;
    H[0-9][0-9][0-9][0-9][0-9][0-9]) k=$((1\${h#H} - 1000000)); x=$(dd bs="$k" count=1 iflag=fullblock 2>/dev/null); break ;;
    A000000) die 5 "Interrupted: the client abandoned the copy" ;;
    *) die 4 "Protocol: the client's input ended or was not a frame" ;;
  esac
done
set -- $x
[ $# -eq 3 ] || die 4 "Protocol: a malformed trailer"
z=$(stat -c %s "$t") || die 1 "Remote: stat failed"
[ "$z" = "$3" ] || die 6 "Integrity: the instance received $z bytes, the client sent $3"
s=$(sha256sum < "$t") || die 1 "Remote: sha256sum failed"
s=\${s%% *}
[ "$s" = "$1" ] || die 6 "Integrity: the file received has SHA-256 $s, the client sent $1"
m=$2
[ "$m" = - ] && m=$(printf '%o' $((0666 & ~0$u)))
${
    options.tar === true
      ? `mkdir "$t.d" || die 1 "Remote: mkdir failed"
(umask "$u" && tar -xf "$t" -C "$t.d") || die 1 "Remote: tar -x failed"
[ -d "$t.d/"${quote(options.base)} ] || die 4 "Protocol: the tar stream lacks its directory"
mv "$t.d/"${quote(options.base)} "$d" || die 1 "Remote: cannot rename into $d"`
      : `chmod "$m" "$t" || die 1 "Remote: chmod $m failed"
mv -f "$t" "$d" || die 1 "Remote: cannot rename to $d"`
  }
ok=1
rm -rf "$t" "$t.d"
printf '%s %s\\n' "$s" "$d"
`
}

/**
 * A download writes its output frames itself (`framedCommand.ts` `DIRECT_LINE`: the pty is its fd 5), in blocks
 * of up to 1 MiB read from the file, instead of through the wrapper's 64 KiB stdout framer: a block is checked
 * for EF BF BD (`tr` NUL away, then `grep -F`, which busybox's stops at a NUL), sent raw when it has none, or else
 * in 64 KiB pieces, raw or as `od` hex. Each frame goes out in one write (`dd` gathers header and bytes with
 * `iflag=fullblock`). `say` sends a line, `blocks OFFSET LENGTH` the file's bytes there; nothing is written to
 * stdout.
 */
const DIRECT_WRITER = `x=$(printf '\\357\\277\\275')
h=$(mktemp) || die 1 "Remote: mktemp failed"
trap 'rm -f "$h"' EXIT
trap 'exit 129' HUP
trap 'exit 143' TERM
trap 'exit 130' INT
say() { printf 'O %d\\n%s\\n' $((\${#1} + 1)) "$1" | dd bs=4096 iflag=fullblock 2>/dev/null >&5; }
piece() {
  { printf 'O %d\\n' "$2"; dd if="$f" bs=65536 iflag=skip_bytes,count_bytes skip="$1" count="$2" 2>/dev/null; } |
    dd bs=2097152 iflag=fullblock 2>/dev/null >&5
}
hexpiece() {
  dd if="$f" bs=65536 iflag=skip_bytes,count_bytes skip="$1" count="$2" 2>/dev/null | od -An -v -tx1 > "$h"
  { printf 'o %d\\n' $(($(wc -c < "$h"))); cat "$h"; } | dd bs=1048576 iflag=fullblock 2>/dev/null >&5
}
held() {
  dd if="$f" bs=65536 iflag=skip_bytes,count_bytes skip="$1" count="$2" 2>/dev/null | tr '\\000' '\\001' |
    LC_ALL=C grep -qF "$x"
}
blocks() {
  o=$1 l=$2
  while [ "$l" -gt 0 ]; do
    k=1048576; [ "$l" -lt "$k" ] && k=$l
    if held "$o" "$k"; then
      j=0
      while [ "$j" -lt "$k" ]; do
        q=65536; [ $((k - j)) -lt "$q" ] && q=$((k - j))
        if held $((o + j)) "$q"; then hexpiece $((o + j)) "$q"; else piece $((o + j)) "$q"; fi
        j=$((j + q))
      done
    else
      piece "$o" "$k"
    fi
    o=$((o + k)) l=$((l - k))
  done
}
`

/** The role of one download session. @internal */
export type DownloadRole =
  | { readonly _tag: "Whole" }
  | { readonly _tag: "First" }
  | { readonly _tag: "Range"; readonly offset: number; readonly length: number }

/**
 * A download session's script. `Whole`: prints `<size> <mode>\n`, the file's bytes, then its SHA-256 and `\n`.
 * `First`: the same header, then reads a range frame from stdin and prints that range, then the whole file's
 * SHA-256. `Range`: prints that range only. `tar`: the path is a directory, sent as a tar stream (no header size:
 * `- <mode>`; the stream's own SHA-256 follows, computed by `tee` into a FIFO is not portable, so the stream is
 * first written to a temp file).
 *
 * @internal
 */
export const downloadScript = (options: {
  readonly remotePath: string
  readonly role: DownloadRole
  readonly tag: string
  readonly tar?: boolean | undefined
}): string => {
  const role = options.role
  const check = options.tar === true
    ? `[ -d "$f" ] || die 2 "NotAFile: $f is not a directory"
umask 077
t=$(mktemp) || die 1 "Remote: mktemp failed"
trap 'rm -f "$t" "$h"' EXIT
trap 'exit 129' HUP
trap 'exit 143' TERM
trap 'exit 130' INT
case $f in */*) p=\${f%/*} n=\${f##*/} ;; *) p=. n=$f ;; esac
[ -n "$p" ] || p=/
tar -cf "$t" -C "$p" "./$n" || die 1 "Remote: tar failed"
a=$(stat -L -c %a "$f") || die 1 "Remote: stat failed"
z="$(stat -c %s "$t") $a"
f=$t
`
    : `[ -d "$f" ] && die 2 "NotAFile: $f is a directory (use -r)"
[ -f "$f" ] || die 2 "NotAFile: $f is not a regular file"
z=$(stat -L -c '%s %a' "$f") || die 1 "Remote: stat failed"
`
  const hash = `s=$(sha256sum < "$f") || die 1 "Remote: sha256sum failed"
say "\${s%% *}"
`
  const body = (offset: string, length: string) => `blocks ${offset} ${length}
`
  return `${DIRECT_LINE}
${preamble(options.tar === true ? [...TOOLS, "tar", "mktemp"] : TOOLS)}${DIRECT_WRITER}f=${quote(options.remotePath)}
while [ "$f" != / ] && [ "\${f%/}" != "$f" ]; do f=\${f%/}; done
case $f in -*) f=./$f ;; esac
[ -e "$f" ] || die 2 "NotFound: no such file or directory $f on the instance"
[ -r "$f" ] || die 2 "Remote: $f is not readable"
${check}${
    role._tag === "Whole"
      ? `say "$z"
set -- $z
${body("0", "\"$1\"")}${hash}`
      : role._tag === "First"
      ? `say "$z"
r=$(dd bs=32 count=1 iflag=fullblock 2>/dev/null)
case $r in R[0-9]*) ;; *) exit 0 ;; esac
r=\${r#R}
${body("$((1${r%???????????????} - 1000000000000000))", "$((1${r#???????????????} - 1000000000000000))")}${hash}`
      : body(String(role.offset), String(role.length))
  }`
}

/**
 * The reason and detail of a script's error line (`ssm-cp: <Reason>: <detail>`), the last one in `stderr`.
 *
 * @internal
 */
export const remoteError = (stderr: string): { readonly reason: string; readonly detail: string } | undefined => {
  const lines = stderr.split(/\r?\n/).filter((line) => line.startsWith(ERROR_PREFIX))
  const last = lines.at(-1)
  if (last === undefined) return undefined
  const match = /^ssm-cp: ([A-Za-z]+): (.*)$/.exec(last)
  return match === null ? undefined : { reason: match[1]!, detail: match[2]! }
}
