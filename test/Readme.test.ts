import { assert, describe, it } from "@effect/vitest"
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as Url from "node:url"

const root = Path.join(Path.dirname(Url.fileURLToPath(import.meta.url)), "..")
const readme = Fs.readFileSync(Path.join(root, "README.md"), "utf8")

describe("README", () => {
  const blocks = [...readme.matchAll(/<!-- example: (\S+) -->\n```ts\n([\s\S]*?)```/g)]

  it("has TypeScript examples, each marked with its file", () => {
    const unmarked = [...readme.matchAll(/```ts\n/g)].length
    assert.isAbove(blocks.length, 0)
    assert.strictEqual(unmarked, blocks.length)
  })

  it("shows whole programs against the simulator, port forwarding and a command, which test/Examples.test.ts runs", () => {
    const shown = blocks.map(([, file]) => file)
    for (const file of ["examples/simulator-port-forwarding.ts", "examples/simulator-exec.ts"]) assert.include(shown, file)
  })

  for (const [, file, code] of blocks) {
    it(`${file} is the README's example, so npm run check compiles it`, () => {
      assert.strictEqual(Fs.readFileSync(Path.join(root, file!), "utf8"), code)
    })
  }
})
