/**
 * `--help`, as people read it: each command's purpose in one line, then examples to copy, a short usage line, and
 * its options with their own descriptions, wrapped to the terminal (100 columns at most). The options come from
 * the commands themselves (`@effect/cli`'s help for them), without its generic lines ("A user-defined piece of
 * text.", "This setting is optional."); `@effect/cli` would put a usage line of several hundred characters first
 * and no example.
 *
 * @since 0.2.0
 */
import type * as HelpDoc from "@effect/cli/HelpDoc"
import type * as Span from "@effect/cli/HelpDoc/Span"
import { ecsHelp } from "./ecsHelp.js"

/**
 * What a command's help says before its options.
 *
 * @since 0.2.0
 * @category models
 */
export interface CommandHelp {
  /** one line: what the command is for */
  readonly purpose: string
  /** the command line, short (the options follow) */
  readonly usage: string
  /** each example: what it does, then the command line */
  readonly examples: ReadonlyArray<readonly [what: string, commandLine: string]>
  /** a paragraph after the examples, if any */
  readonly note?: string
}

const bin = "ssm-session-manager"
const instance = "i-0123456789abcdef0"

/**
 * Every command's purpose, usage and examples, by name, in the order the top-level help lists them.
 *
 * @since 0.2.0
 * @category help
 */
export const commandHelp: Readonly<Record<string, CommandHelp>> = {
  forward: {
    purpose: "Forward local ports to ports on an instance, or on hosts it reaches.",
    usage: `${bin} forward --target <id|name> (--remote-port <port> | -L <spec>...) [options]`,
    examples: [
      ["Port 5432 of the instance on local port 5432:", `${bin} forward --target ${instance} --remote-port 5432 --local-port 5432`],
      [
        "A database the instance reaches and its web server, in the background once both answer:",
        `${bin} forward --target bastion -L 5432:db.internal:5432 -L 8080:localhost:80 --wait-remote --background`
      ],
      [
        "Any free local port, told to a script as one JSON line (the only thing on stdout):",
        `${bin} forward --target ${instance} --remote-port 80 --ready-json - | head -1`
      ]
    ],
    note: "stdout carries the --ready-json - line and nothing else; every other line goes to stderr. Ctrl-C ends " +
      "the session (exit 0)."
  },
  shell: {
    purpose: "An interactive shell on an instance, in this terminal.",
    usage: `${bin} shell --target <id|name> [options]`,
    examples: [
      ["A shell on an instance:", `${bin} shell --target ${instance}`],
      ["The node whose Name tag is web-1, with a profile and a region:", `${bin} shell --target web-1 --profile prod --region eu-west-1`],
      ["A shell on this machine, through the embedded agent simulator:", `${bin} shell --simulator`]
    ],
    note: "ssh's escapes: ~. after a line end ends the session at once (exit 255), ~? lists them, ~~ sends ~; " +
      "--escape sets another character (such as ^]) or none."
  },
  exec: {
    purpose: "Run a command on an instance: its stdout, stderr and exit code become this one's.",
    usage: `${bin} exec [-i] --target <id|name> [options] -- <command>...`,
    examples: [
      ["One command, its words as they are:", `${bin} exec --target ${instance} -- df -h /`],
      [
        "A shell command line as one argument, its output in two files:",
        `${bin} exec --target web-1 -- 'systemctl is-active nginx || exit 3' > out.txt 2> err.txt`
      ],
      ["Try it here: exits 3", `${bin} exec --simulator -- sh -c 'echo hi; exit 3'`],
      ["With our stdin as its stdin (-i), byte for byte:", `${bin} exec -i --target web-1 -- sha256sum < backup.tar`],
      ["Try it here:", `printf 'b\\na\\n' | ${bin} exec -i --simulator -- sort`]
    ],
    note: "stdout and stderr are the remote command's, byte for byte (what exec waits for is said only on a " +
      "terminal, or after a second's wait). Ctrl-C sends SIGINT to the remote command's process (the sh -c that " +
      "runs the command line, not what it started); a second Ctrl-C ends the session and exits 130. Without -i " +
      "the command gets no input (one stderr line says so when stdin is piped). With -i the command runs under " +
      "sh -c on a Linux instance with coreutils or busybox (document SSM-RunCommandWithStdin, made by " +
      "create-document), the end of our stdin closes its stdin, and Ctrl-C sends SIGINT to its process group."
  },
  cp: {
    purpose: "Copy files to or from an instance, verified by SHA-256 on both ends.",
    usage: `${bin} cp [-r] [--sessions <k>] [options] <source> <destination>`,
    examples: [
      ["A file into a directory on the instance:", `${bin} cp ./backup.tar.gz ${instance}:/var/tmp/`],
      ["A file from the node whose Name tag is web-1:", `${bin} cp web-1:/var/log/app.log ./app.log`],
      ["A directory:", `${bin} cp -r ./site web-1:/srv/`],
      ["A large file over 4 sessions at once (past the per-session cap):", `${bin} cp --sessions 4 ./disk.img ${instance}:/data/`],
      ["stdin to a file on the instance:", `pg_dump db | ${bin} cp - web-1:/var/tmp/db.sql`]
    ],
    note: "One side is target:path (a colon before any / marks a remote, as in scp), the other a local path or -. " +
      "A progress line on stderr when it is a terminal. A failed copy leaves no file under the final name: a " +
      "non-zero exit and one stderr line say why. Ctrl-C removes the partial copy on both ends (exit 130). Needs " +
      "the SSM-RunCommandWithStdin document (create-document) and a Linux instance with coreutils or busybox. " +
      "The copy is written under a temporary name and renamed only once verified."
  },
  "ssh-proxy": {
    purpose: "An SSH ProxyCommand: ssh's connection through a session, over stdin and stdout.",
    usage: `${bin} ssh-proxy --target <id|name> [--port 22] [options]`,
    examples: [
      ["ssh to an instance:", `ssh -o ProxyCommand='${bin} ssh-proxy --target %h --port %p' ec2-user@${instance}`],
      ["For every instance, in ~/.ssh/config:", `Host i-* mi-*\n    ProxyCommand ${bin} ssh-proxy --target %h --port %p`]
    ],
    note: "Silent on stderr unless starting the session takes over a second (ssh shows it on every connection)."
  },
  socks: {
    purpose: "A local SOCKS5 proxy: each destination reached from the instance, through its own session.",
    usage: `${bin} socks --target <id|name> [--port 1080] [options]`,
    examples: [
      ["A proxy on 127.0.0.1:1080 into the instance's network:", `${bin} socks --target bastion`],
      ["Then, from another terminal:", "curl --socks5-hostname 127.0.0.1:1080 http://internal.example:8080/"]
    ]
  },
  demo: {
    purpose: "Port forwarding through the embedded simulator to a demo HTTP server on this machine.",
    usage: `${bin} demo [--once] [options]`,
    examples: [
      ["Forward, make one request through the tunnel, and keep it open for curl:", `${bin} demo`],
      ["The same, ending after the first request:", `${bin} demo --once`]
    ]
  },
  plugin: {
    purpose: "Behave as AWS's session-manager-plugin, as the AWS CLI runs it.",
    usage: `${bin} plugin <response> <region> StartSession <profile> <request> <endpoint>`,
    examples: [
      ["Put it on the PATH as session-manager-plugin, then use the AWS CLI as usual:", `${bin} install-plugin`],
      ["", `aws ssm start-session --target ${instance}`],
      ["The ClientVersion it answers the AWS CLI with:", `${bin} plugin --version`],
      [
        "By hand, with a response from simulate: in the environment, never on the command line:",
        `AWS_SSM_START_SESSION_RESPONSE="$(head -n 1 session.json)" ${bin} plugin AWS_SSM_START_SESSION_RESPONSE ` +
          `us-east-1 StartSession "" '{"Target":"i-simulated"}' "$endpoint"`
      ]
    ],
    note: "<response> is StartSession's JSON response, or the name of an environment variable holding it " +
      "(AWS_SSM_START_SESSION_RESPONSE…), read and removed from the environment; <request> is the request's JSON. " +
      "Use the environment variable, as the AWS CLI does: a command line, and the session token in it, is readable " +
      "by every local user (/proc/PID/cmdline). The StreamUrl must be wss: (ws: only to a loopback host, for the " +
      "simulator)."
  },
  "install-plugin": {
    purpose: "Put a session-manager-plugin for the AWS CLI on the PATH.",
    usage: `${bin} install-plugin [--dir <dir>] [--force]`,
    examples: [
      ["Into ~/.local/bin:", `${bin} install-plugin`],
      ["Elsewhere, replacing AWS's plugin there:", `${bin} install-plugin --dir /usr/local/bin --force`]
    ],
    note: "It never writes through a symbolic link at <dir>/session-manager-plugin: it refuses, and with --force " +
      "replaces the link itself, leaving the file it points to as it is. The script is written under a random " +
      "temporary name (created exclusively) and renamed into place."
  },
  "create-document": {
    purpose: "Create the Session documents exec, exec -i and cp run, in an account and region.",
    usage: `${bin} create-document [--name <name>] [--interactive-name <name>] [options]`,
    examples: [
      ["Once per account and region:", `${bin} create-document --region eu-west-1`],
      [
        "Under other names, for exec --document and exec -i --document:",
        `${bin} create-document --name MyExec --interactive-name MyExecInput --profile prod`
      ]
    ]
  },
  simulate: {
    purpose: "The agent simulator alone: StartSession responses on stdout, for any client to connect to.",
    usage: `${bin} simulate [--document-name <name>] [--parameter key=value]... [options]`,
    examples: [
      ["A port session to this machine's port 5432:", `${bin} simulate --session-type Port --port-number 5432 > session.json`],
      [
        "A command session, as exec's document runs it:",
        `${bin} simulate --document-name SSM-RunShellCommandWithExitCode --parameter "command=sh -c 'exit 3'"`
      ],
      ["A shell, with 1% of frames dropped each way:", `${bin} simulate --drop 0.01 --seed 7`]
    ]
  },
  ...ecsHelp
}

/** the text of a span, without its styles */
const spanText = (span: Span.Span): string => {
  switch (span._tag) {
    case "Sequence":
      return spanText(span.left) + spanText(span.right)
    case "Text":
    case "URI":
      return span.value
    default:
      return spanText(span.value)
  }
}

/** the blocks of a document, in order */
const blocks = (doc: HelpDoc.HelpDoc): Array<HelpDoc.HelpDoc> =>
  doc._tag === "Sequence" ? [...blocks(doc.left), ...blocks(doc.right)] : doc._tag === "Empty" ? [] : [doc]

/** the paragraphs of an option's description */
const paragraphs = (doc: HelpDoc.HelpDoc): Array<string> =>
  blocks(doc).flatMap((block) =>
    block._tag === "Paragraph" ? [spanText(block.value)] : block._tag === "Enumeration" ? block.elements.flatMap(paragraphs) : []
  )

/** `@effect/cli`'s own sentences: the value's type (always first), and whether it is optional or repeated */
const describeOption = (all: ReadonlyArray<string>): string => {
  const [, ...rest] = all
  const notes: Array<string> = []
  const own: Array<string> = []
  for (const text of rest) {
    const defaults = /^This setting is optional\. Defaults to: (.*)$/.exec(text)
    if (defaults !== null) notes.push(`default: ${defaults[1]}`)
    else if (/^This setting is optional\.$/.test(text)) continue
    else if (/^This (option|argument) may be repeated zero or more times\.$/.test(text)) notes.push("repeatable")
    else if (/^This (option|argument) must be repeated at least 1 times\.$/.test(text)) notes.push("one or more")
    else own.push(text)
  }
  return [...own, ...(notes.length === 0 ? [] : [`(${notes.join("; ")})`])].join(" ")
}

/**
 * The options (and arguments) of a command's `@effect/cli` help: each one's name and value, and its own
 * description.
 *
 * @since 0.2.0
 * @category help
 */
export const optionsOf = (doc: HelpDoc.HelpDoc): Array<{
  readonly section: "ARGUMENTS" | "OPTIONS"
  readonly term: string
  readonly description: string
}> => {
  const entries: Array<{ readonly section: "ARGUMENTS" | "OPTIONS"; readonly term: string; readonly description: string }> = []
  let section = ""
  for (const block of blocks(doc)) {
    if (block._tag === "Header") section = spanText(block.value)
    if (block._tag !== "DescriptionList" || (section !== "OPTIONS" && section !== "ARGUMENTS")) continue
    for (const [span, description] of block.definitions) {
      // a repeated option is written `(-L, --local-forward text)...`
      const term = spanText(span).replace(/^\((.*)\)(\.\.\.)?$/, "$1").replace(/ 1\+$/, "...").replace(/\s+$/, "")
      entries.push({ section, term, description: describeOption(paragraphs(description)) })
    }
  }
  return entries
}

/** `text` in lines of at most `width` columns, each after `indent` spaces (long words are left whole) */
const wrap = (text: string, width: number, indent: number): Array<string> => {
  const lines: Array<string> = []
  let line = ""
  for (const word of text.split(/\s+/).filter((word) => word !== "")) {
    if (line !== "" && indent + line.length + 1 + word.length > width) {
      lines.push(line)
      line = word
    } else line = line === "" ? word : `${line} ${word}`
  }
  if (line !== "") lines.push(line)
  return lines.map((text) => `${" ".repeat(indent)}${text}`)
}

/** a command line's words, split at blanks outside quotes */
const shellWords = (line: string): Array<string> => {
  const words: Array<string> = []
  let word = ""
  let quote: string | undefined
  for (const char of line) {
    if (quote !== undefined) {
      if (char === quote) quote = undefined
      word += char
    } else if (char === "'" || char === "\"") {
      quote = char
      word += char
    } else if (char === " ") {
      if (word !== "") words.push(word)
      word = ""
    } else word += char
  }
  if (word !== "") words.push(word)
  return words
}

/** a command line over several lines, broken before an option or a pipe where it is too wide, continued with ` \` */
const wrapCommand = (commandLine: string, width: number, indent: number): Array<string> =>
  commandLine.split("\n").flatMap((physical) => {
    // an option and its value stay together, as a redirection and its file do
    const pieces: Array<string> = []
    let takesValue = false
    for (const word of shellWords(physical)) {
      const isOption = /^(-|\||>|2>)/.test(word)
      if (pieces.length > 0 && takesValue && !isOption) {
        pieces[pieces.length - 1] += ` ${word}`
        takesValue = false
      } else {
        pieces.push(word)
        takesValue = isOption && word !== "--"
      }
    }
    const lines: Array<string> = []
    let line = physical.match(/^\s*/)![0]
    for (const piece of pieces) {
      if (line.trim() !== "" && indent + line.length + 1 + piece.length + 2 > width) {
        lines.push(`${line} \\`)
        line = `    ${piece}`
      } else line = line.trim() === "" ? `${line}${piece}` : `${line} ${piece}`
    }
    lines.push(line)
    return lines.map((text) => `${" ".repeat(indent)}${text}`)
  })

/**
 * The width help is wrapped to: the terminal's, at most 100 columns (and at least 60); 100 off a terminal.
 *
 * @since 0.2.0
 * @category help
 */
export const helpWidth = (): number =>
  process.stdout.isTTY === true && process.stdout.columns > 0 ? Math.max(60, Math.min(100, process.stdout.columns)) : 100

/**
 * A command's help: purpose, examples, usage, options.
 *
 * @since 0.2.0
 * @category help
 */
export const renderCommandHelp = (help: CommandHelp, doc: HelpDoc.HelpDoc, width: number = helpWidth()): string => {
  const out: Array<string> = [...wrap(help.purpose, width, 0), "", "Examples:"]
  for (const [what, commandLine] of help.examples) {
    if (what !== "") out.push(...wrap(what, width, 2))
    out.push(...wrapCommand(commandLine, width, 4))
  }
  if (help.note !== undefined) out.push("", ...wrap(help.note, width, 0))
  out.push("", "Usage:", ...wrapCommand(help.usage, width, 2))
  const column = 26
  const entries = optionsOf(doc)
  for (const [section, title] of [["ARGUMENTS", "Arguments:"], ["OPTIONS", "Options:"]] as const) {
    const inSection = entries.filter((entry) => entry.section === section)
    if (inSection.length > 0) out.push("", title)
    for (const { description, term } of inSection) {
      const text = wrap(description, width, column)
      if (term.length + 2 < column - 1 && text.length > 0) {
        out.push(`  ${term.padEnd(column - 2)}${text[0]!.slice(column)}`, ...text.slice(1))
      } else out.push(`  ${term}`, ...text)
    }
  }
  out.push(...wrap("--log-level <level> (before or after the command) shows the library's logs on stderr; " +
    "--help shows this help.", width, 2))
  return `${out.join("\n")}\n`
}

/**
 * The top-level help: what the program is, its commands with their purposes, and a few examples.
 *
 * @since 0.2.0
 * @category help
 */
export const renderTopHelp = (version: string, width: number = helpWidth()): string => {
  const out: Array<string> = [
    ...wrap(`${bin} ${version}: AWS Session Manager sessions, without AWS's session-manager-plugin.`, width, 0),
    "",
    "Examples:"
  ]
  const examples: ReadonlyArray<readonly [string, string]> = [
    ["Forward local port 5432 to the instance's port 5432:", `${bin} forward --target ${instance} --remote-port 5432 --local-port 5432`],
    ["Run a command and take its exit code:", `${bin} exec --target ${instance} -- uptime`],
    ["A shell:", `${bin} shell --target ${instance}`],
    ["Everything works on this machine first, through the agent simulator:", `${bin} exec --simulator -- uname -a`]
  ]
  for (const [what, commandLine] of examples) out.push(...wrap(what, width, 2), ...wrapCommand(commandLine, width, 4))
  out.push("", "Commands:")
  for (const [name, help] of Object.entries(commandHelp).filter(([name]) => !name.includes(" "))) {
    const text = wrap(help.purpose, width, 20)
    out.push(`  ${name.padEnd(18)}${text[0]!.slice(20)}`, ...text.slice(1))
  }
  out.push("", ...wrap(`${bin} <command> --help shows a command's examples and options. ` +
    `Every command that reaches AWS takes --target, --region, --profile and --simulator.`, width, 0))
  return `${out.join("\n")}\n`
}

/**
 * What help the command line asks for, if any: the top level (no arguments, `--help`, `-h`, `help`), or a
 * command's (`<command> … --help`, `help <command>`); `--help` after `--` is the remote command's.
 *
 * @since 0.2.0
 * @category help
 */
export const helpRequest = (args: ReadonlyArray<string>): { readonly command: string | undefined } | undefined => {
  const end = args.indexOf("--")
  const options = end === -1 ? args : args.slice(0, end)
  if (args.length === 0) return { command: undefined }
  const [first, second, third] = options
  // a group's command (`ecs exec`) when the words name one, else the group's own help
  const known = (name = "", sub = "") => [`${name} ${sub}`, name].find((command) => command in commandHelp)
  if (first === "help") return { command: known(second, third) }
  if (!options.some((arg) => arg === "--help" || arg === "-h")) return undefined
  return { command: known(first, second) }
}
