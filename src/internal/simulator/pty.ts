/**
 * The simulator's pseudo-terminal, as the agent's creack/pty makes one (`agent/session/shell/shell_unix.go`
 * StartCommandExecutor: `pty.Start(cmd)`): a small Perl program (perl-base is Essential in Debian, so always
 * there; no native module needed) opens `/dev/ptmx`, starts the command in a new session with the terminal as its
 * stdin, stdout, stderr and controlling terminal, and copies both ways in two processes, each with blocking
 * writes, as the agent's input handler and its write pump are separate goroutines. One process copies our stdin
 * to the master (blocking while the terminal's input queue is full), the main one copies the master to our stdout
 * until reading it fails (every holder of the terminal has closed it: the agent's writePump ends there too), then
 * exits with the command's status (128 + n for a signal).
 *
 * util-linux `script`, used before, copies both directions in one thread with blocking writes, so a command that
 * writes a lot while we write a lot deadlocks.
 *
 * @internal
 */
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Path from "node:path"

/**
 * The Perl program; its arguments (after `--`) are the program's path (looked up on the PATH unless it holds a
 * `/`) and then the command's argv, its name first. The ioctls are Linux's TIOCSPTLCK (unlockpt) and TIOCGPTN
 * (ptsname).
 *
 * @internal
 */
export const PTY_SCRIPT = `use strict; use POSIX ();
my $path = shift @ARGV;
sysopen(my $m, "/dev/ptmx", POSIX::O_RDWR() | POSIX::O_NOCTTY()) or die "pty: /dev/ptmx: $!\\n";
my $z = pack("i", 0); ioctl($m, 0x40045431, $z) or die "pty: unlockpt: $!\\n";
my $n = pack("i", 0); ioctl($m, 0x80045430, $n) or die "pty: ptsname: $!\\n";
my $pts = "/dev/pts/" . unpack("i", $n);
my $child = fork // die "pty: fork: $!\\n";
if ($child == 0) {
  POSIX::setsid(); close $m;
  sysopen(my $s, $pts, POSIX::O_RDWR()) or do { print STDERR "pty: $pts: $!\\n"; POSIX::_exit(127) };
  POSIX::dup2(fileno($s), $_) for 0, 1, 2; close $s if fileno($s) > 2;
  exec { $path } @ARGV or do { print STDERR "pty: exec $path: $!\\n"; POSIX::_exit(127) };
}
my $writer = fork // die "pty: fork: $!\\n";
if ($writer == 0) {
  while (1) {
    my $r = sysread(STDIN, my $b, 65536); last unless $r;
    my $o = 0;
    while ($o < $r) { my $w = syswrite($m, $b, $r - $o, $o); POSIX::_exit(0) unless defined $w; $o += $w }
  }
  POSIX::_exit(0);
}
while (1) {
  my $r = sysread($m, my $b, 65536); last unless $r;
  my $o = 0;
  while ($o < $r) { my $w = syswrite(STDOUT, $b, $r - $o, $o); last unless defined $w; $o += $w }
}
kill "KILL", $writer; waitpid($writer, 0); waitpid($child, 0);
exit(($? & 127) ? 128 + ($? & 127) : $? >> 8);
`

/** `perl` on this process's PATH (the command's own PATH may lack it: a test's PATH of busybox applets) */
const perl = (): string => {
  for (const dir of (process.env["PATH"] ?? "/usr/bin:/bin").split(":")) {
    if (dir === "") continue
    const candidate = Path.join(dir, "perl")
    try {
      Fs.accessSync(candidate, Fs.constants.X_OK)
      return candidate
    } catch {
      // not here
    }
  }
  return "perl"
}

/**
 * The program and arguments that run `command` (`path`, by default its name looked up on `env`'s PATH, with the
 * argv `command`, as Go's exec.Cmd runs Path with Args) on a new pseudo-terminal: give them to `process.ts`
 * `spawn` with stdin piped.
 *
 * @internal
 */
export const ptyCommand = (
  command: readonly [string, ...Array<string>],
  path: string = command[0]
): { readonly program: string; readonly args: Array<string> } => ({
  program: perl(),
  args: ["-e", PTY_SCRIPT, "--", path, ...command]
})

/**
 * The pty helper's command (its child with a `/dev/pts/` stdin: the helper's other child, the input copier, has
 * a pipe) and its terminal device, once it exists.
 *
 * @internal
 */
export const commandOf = (helperPid: number): { readonly pid: number; readonly device: string } | undefined => {
  for (const entry of Fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = Fs.readFileSync(`/proc/${entry}/stat`, "utf8")
      const parent = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1])
      if (parent === helperPid) {
        const device = Fs.readlinkSync(`/proc/${entry}/fd/0`)
        if (device.startsWith("/dev/pts/")) return { pid: Number(entry), device }
      }
    } catch {
      // a process that ended while we looked
    }
  }
  return undefined
}

/** `stty -F <device> rows <rows> cols <cols>`: the pty's window size (the command gets SIGWINCH). @internal */
export const resize = (device: string, cols: number, rows: number, done: () => void): void => {
  ChildProcess.execFile("stty", ["-F", device, "rows", String(rows), "cols", String(cols)], () => done())
}
