/**
 * The rules of the house (docs/ARCHITECTURE.md) that a machine can check: file and function sizes, which layer
 * may import what, the one reach under `ws`, the agent's role kept out of the client's engine, and the
 * architecture document naming only paths that exist.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Fs from "node:fs"
import * as Path from "node:path"
import ts from "typescript"
import { root } from "./utils/cli.js"

const MAX_FILE_LINES = 400
const MAX_FUNCTION_LINES = 150

const walk = (dir: string): Array<string> =>
  Fs.readdirSync(Path.join(root, dir), { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? walk(Path.posix.join(dir, entry.name))
      : entry.name.endsWith(".ts")
      ? [Path.posix.join(dir, entry.name)]
      : []
  )

const sources = walk("src")
const read = (file: string) => Fs.readFileSync(Path.join(root, file), "utf8")
const lineCount = (text: string) => text.split("\n").length - (text.endsWith("\n") ? 1 : 0)

/** Every function-like node with a body and its length in lines, with a name for the message. */
const functionLengths = (file: string): Array<{ readonly name: string; readonly line: number; readonly lines: number }> => {
  const source = ts.createSourceFile(file, read(file), ts.ScriptTarget.Latest, true)
  const found: Array<{ name: string; line: number; lines: number }> = []
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) && "body" in node && node.body !== undefined) {
      const start = source.getLineAndCharacterOfPosition(node.getStart()).line + 1
      const end = source.getLineAndCharacterOfPosition(node.getEnd()).line + 1
      const parent = node.parent
      const name = node.name?.getText() ??
        (ts.isVariableDeclaration(parent) ? parent.name.getText() : ts.isCallExpression(parent) ? parent.expression.getText() : "?")
      found.push({ name: name.slice(0, 40), line: start, lines: end - start + 1 })
    }
    ts.forEachChild(node, visit)
  }
  visit(source)
  return found
}

/** The module specifiers a file imports or re-exports. */
const importsOf = (file: string): Array<string> =>
  [...read(file).matchAll(/(?:from|import)\s*\(?\s*["']([^"']+)["']/g)].map((match) => match[1]!)

describe("House", () => {
  it("no source file is over 400 lines", () => {
    const long = sources.map((file) => ({ file, lines: lineCount(read(file)) })).filter(({ lines }) => lines > MAX_FILE_LINES)
    assert.deepStrictEqual(long, [])
  })

  it("no function is over 150 lines", () => {
    const long = sources.flatMap((file) =>
      functionLengths(file).filter(({ lines }) => lines > MAX_FUNCTION_LINES).map((fn) => `${file}:${fn.line} ${fn.name} (${fn.lines})`)
    )
    assert.deepStrictEqual(long, [])
  })

  it("the core imports nothing from node:", () => {
    const core = sources.filter((file) =>
      /^src\/internal\/(protocol|channel|smux)\//.test(file) ||
      ["src/AgentMessage.ts", "src/AgentPayload.ts", "src/Session.ts", "src/Smux.ts"].includes(file)
    )
    assert.isAbove(core.length, 10)
    const offending = core.flatMap((file) => importsOf(file).filter((spec) => spec.startsWith("node:")).map((spec) => `${file}: ${spec}`))
    assert.deepStrictEqual(offending, [])
  })

  it("the CLI imports no internals", () => {
    const cli = sources.filter((file) => file.startsWith("src/cli/"))
    assert.isAbove(cli.length, 5)
    const offending = cli.flatMap((file) => importsOf(file).filter((spec) => spec.includes("/internal/")).map((spec) => `${file}: ${spec}`))
    assert.deepStrictEqual(offending, [])
  })

  it("only wsConnection reaches under ws", () => {
    const offending = sources.filter((file) => !file.endsWith("/wsConnection.ts") && /\b_socket\b/.test(read(file)))
    assert.deepStrictEqual(offending, [])
  })

  it("the client's engine and Session know nothing of the agent's role or of SsmApi", () => {
    const channel = sources.filter((file) => file.startsWith("src/internal/channel/"))
    assert.isAbove(channel.length, 3)
    const offending = channel.flatMap((file) => {
      const text = read(file)
      return [
        ...(/sender\s*[:=]+\s*"agent"|ackBeforeRecord|AGENT_BUFFER_CAPACITY|AGENT_RESEND_TICK/.test(text) ? [`${file}: the agent's sender`] : []),
        ...(importsOf(file).some((spec) => /ssmApi|SsmApi/.test(spec)) ? [`${file}: imports SsmApi`] : []),
        ...(/GenericTag[^(]*\(\s*["'][^"']*(SsmApi|KmsApi)/.test(text) ? [`${file}: another module's tag declared by string`] : [])
      ]
    })
    assert.deepStrictEqual(offending, [])
  })

  it("the architecture document names only paths that exist", () => {
    const doc = read("docs/ARCHITECTURE.md")
    const named = [...doc.matchAll(/`((?:[a-z]+\/)+[A-Za-z.]+\.(?:ts|md))`/g)].map((match) => match[1]!)
    assert.isAbove(named.length, 10)
    const missing = named.filter((name) =>
      ![name, `src/${name}`, `src/internal/${name}`].some((candidate) => Fs.existsSync(Path.join(root, candidate)))
    )
    assert.deepStrictEqual(missing, [])
  })
})
