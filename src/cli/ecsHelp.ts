/**
 * The `ecs` command group's help: its purpose, usage and examples, for `ecs --help` and `ecs <command> --help`.
 *
 * @since 0.5.0
 */
import type { CommandHelp } from "./help.js"

const bin = "ssm-session-manager"
const selector = "--cluster prod --service web"

const selection = "The container is chosen by --cluster (default: the default cluster), --task (an id or ARN) or " +
  "--service (its one running task; several are listed for you to pick one with --task), and --container (needed " +
  "when the task has several). The task must have been run with execute command enabled " +
  "(enableExecuteCommand) and the container's ExecuteCommandAgent be RUNNING. --simulator plays a cluster sim " +
  "whose service web has one task with one container, app."

/**
 * The `ecs` group's entries of `commandHelp`, keyed by their command lines (`ecs`, `ecs exec`, …).
 *
 * @since 0.5.0
 * @category help
 */
export const ecsHelp: Readonly<Record<string, CommandHelp>> = {
  ecs: {
    purpose: "ECS Exec: commands, shells, copies and tunnels into a task's container.",
    usage: `${bin} ecs <exec|shell|cp|forward|socks> (--task <id> | --service <name>) [--cluster <name>] [options]`,
    examples: [
      ["A shell in the one running task of service web:", `${bin} ecs shell ${selector}`],
      ["A command, its exit code as this one's:", `${bin} ecs exec ${selector} -- ls /app`],
      ["Try it here:", `${bin} ecs exec --simulator -- sh -c 'echo hi; exit 3'`],
      ["A file out of a container:", `${bin} ecs cp ${selector} app:/var/log/app.log ./app.log`],
      ["The container's port 8080 on local port 8080:", `${bin} ecs forward ${selector} -L 8080:8080`]
    ],
    note: `${selection} ${bin} ecs <command> --help shows each command's options.`
  },
  "ecs exec": {
    purpose: "Run a command in a task's container: its stdout, stderr and exit code become this one's.",
    usage: `${bin} ecs exec [-i] [-t] [--raw] (--task <id> | --service <name>) [options] -- <command>...`,
    examples: [
      ["A command in service web's task:", `${bin} ecs exec ${selector} -- ls -l /app`],
      ["Try it here: exits 3", `${bin} ecs exec --simulator -- sh -c 'echo hi; exit 3'`],
      ["With our stdin as its stdin (-i):", `${bin} ecs exec -i ${selector} -- sha256sum < backup.tar`],
      ["A program on a terminal (-t), such as top:", `${bin} ecs exec -t ${selector} --container app -- top`],
      ["In a container without sh, the command exactly as ECS runs it:", `${bin} ecs exec --raw --task 0123abcd -- /app/healthcheck`]
    ],
    note: "Without -t the command runs under sh -c in the container through a wrapper that keeps stdout and " +
      "stderr apart and reports the exit code (it needs sh, and coreutils or busybox); -i sends our stdin, its end " +
      "closing the command's. -t runs it on the container's terminal in this one (ssh's escapes: ~. after a line " +
      "end leaves at once, --escape none disables them), its exit code kept. --raw runs the command as ECS does, " +
      "without sh, and exits 0 when the session ends (no exit code). Ctrl-C: as with exec. " + selection
  },
  "ecs shell": {
    purpose: "An interactive shell in a task's container, in this terminal.",
    usage: `${bin} ecs shell (--task <id> | --service <name>) [--command <shell>] [options]`,
    examples: [
      ["sh in the one running task of service web:", `${bin} ecs shell ${selector}`],
      ["bash in a task's container sidecar:", `${bin} ecs shell --cluster prod --task 0123abcd --container sidecar --command /bin/bash`],
      ["Try it here:", `${bin} ecs shell --simulator`]
    ],
    note: "ssh's escapes: ~. after a line end ends the session at once (exit 255), ~? lists them, ~~ sends ~; " +
      "--escape sets another character or none. The exit code is the shell's. " + selection
  },
  "ecs cp": {
    purpose: "Copy files to or from a task's container, verified by SHA-256 on both ends.",
    usage: `${bin} ecs cp [-r] (--task <id> | --service <name>) [options] <source> <destination>`,
    examples: [
      ["A file out of container app:", `${bin} ecs cp ${selector} app:/var/log/app.log ./app.log`],
      ["A directory into the task's one container:", `${bin} ecs cp -r --cluster prod --task 0123abcd ./conf :/etc/app/`],
      ["Try it here:", `${bin} ecs cp --simulator ./notes.txt :/tmp/`]
    ],
    note: "The remote side is written :PATH (the container given by --container, or the task's one) or " +
      "CONTAINER:PATH, as docker cp does. As cp: written under a temporary name and renamed once verified; " +
      "Ctrl-C removes the partial copy on both ends. The container needs sh and coreutils or busybox. " + selection
  },
  "ecs forward": {
    purpose: "Forward local ports to ports of a task's container, or hosts it reaches.",
    usage: `${bin} ecs forward (--task <id> | --service <name>) (--remote-port <port> | -L <spec>...) [options]`,
    examples: [
      ["The container's port 8080 on local port 8080:", `${bin} ecs forward ${selector} -L 8080:8080`],
      ["A database the task reaches:", `${bin} ecs forward ${selector} -L 5432:db.internal:5432 --wait-remote`],
      ["Try it here, any free local port:", `${bin} ecs forward --simulator --remote-port 80 --ready-json -`]
    ],
    note: "As forward, through sessions to the container's ecs: target. " + selection
  },
  "ecs socks": {
    purpose: "A local SOCKS5 proxy into a task's network: each destination through its own session.",
    usage: `${bin} ecs socks (--task <id> | --service <name>) [--port 1080] [options]`,
    examples: [
      ["A proxy on 127.0.0.1:1080:", `${bin} ecs socks ${selector}`],
      ["Then, from another terminal:", "curl --socks5-hostname 127.0.0.1:1080 http://internal.example:8080/"]
    ],
    note: "As socks, through sessions to the container's ecs: target. " + selection
  }
}
