/**
 * `shlex.ts`, the port of google/shlex `Split` the simulated agent splits commands with (NonInteractiveCommands,
 * and every command in ContainerMode: ECS Exec): a table of inputs with what the Go original (the agent's vendored
 * `vendor/github.com/google/shlex/shlex.go`, run with Go) answers, hand-picked and random; and the rules as
 * properties, among them the quoting a client uses to pass any word through it (`'…'` with `'` as `'\''`).
 */
import { assert, describe, it } from "@effect/vitest"
import { Either, FastCheck as fc } from "effect"
import * as Shlex from "../src/internal/simulator/shlex.js"

/**
 * [input, words, error?] as Go's `shlex.Split` gives them: the words before the error when there is one. Made by
 * a Go program over the agent's vendored shlex.go (seed 26 for the random inputs over `ab \t\n'"\#é\r`).
 */
const GO_CASES: ReadonlyArray<readonly [string, ReadonlyArray<string>, string?]> = [
  ["", []],
  ["   ", []],
  ["echo hi", ["echo", "hi"]],
  ["one \"two three\" four", ["one", "two three", "four"]],
  ["a'b c'd", ["ab cd"]],
  ["a\\ b", ["a b"]],
  ["\"a\\\"b\"", ["a\"b"]],
  ["\"a\\b\"", ["ab"]],
  ["'a\\b'", ["a\\b"]],
  ["a#b #c", ["a#b"]],
  ["#only", []],
  ["a #c\nb", ["a", "b"]],
  ["a #c\rb", ["a"]],
  ["''", [""]],
  ["\"\"", [""]],
  ["'' \"\"", ["", ""]],
  ["a''b", ["ab"]],
  ["\\", [], "EOF found after escape character"],
  ["a\\", [], "EOF found after escape character"],
  ["\"a", [], "EOF found when expecting closing quote"],
  ["'a", [], "EOF found when expecting closing quote"],
  ["\"a\\", [], "EOF found after escape character"],
  ["tab\tsep\nnl\rcr", ["tab", "sep", "nl", "cr"]],
  ["\\#x", ["#x"]],
  ["\"#x\"", ["#x"]],
  ["x\\\ny", ["x\ny"]],
  ["\u00e9 \ud83d\ude00 \"\u00fc\"", ["\u00e9", "\ud83d\ude00", "\u00fc"]],
  ["a\u0000b", ["a\u0000b"]],
  ["printf '[%s]' 'a b' \"c'd\" e\\ f \";\" '$HOME'", ["printf", "[%s]", "a b", "c'd", "e f", ";", "$HOME"]],
  ["sh -c 'echo '\\''quoted'\\'''", ["sh", "-c", "echo 'quoted'"]],
  ["  lead trail  ", ["lead", "trail"]],
  ["\"\\\\\"", ["\\"]],
  ["'\\''", [], "EOF found when expecting closing quote"],
  ["\\'", ["'"]],
  ["\\\"", ["\""]],
  ["\"'\"", ["'"]],
  ["'\"'", ["\""]],
  ["#\n#\nx", ["x"]],
  ["\ra\u00e9\\a", ["a\u00e9a"]],
  [" ", []],
  ["", []],
  ["'\\' 'b\"a\u00e9#\n", ["\\"], "EOF found when expecting closing quote"],
  ["\\\"\u00e9", ["\"\u00e9"]],
  ["a\n\u00e9a\r", ["a", "\u00e9a"]],
  ["bb\r\\a", ["bb", "a"]],
  ["", []],
  ["\"a", [], "EOF found when expecting closing quote"],
  ["\"'\n\n", [], "EOF found when expecting closing quote"],
  ["", []],
  ["# \n\t'\"\u00e9a\\", [], "EOF found when expecting closing quote"],
  ["  ", []],
  ["b\u00e9#\na#", ["b\u00e9#", "a#"]],
  ["\n\"", [], "EOF found when expecting closing quote"],
  ["\\ba\r", ["ba"]],
  ["'##b\"", [], "EOF found when expecting closing quote"],
  ["\u00e9", ["\u00e9"]],
  ["\nbab\"\rab\t \\", [], "EOF found after escape character"],
  ["\"\\\r\u00e9b", [], "EOF found when expecting closing quote"],
  ["\n\n'a", [], "EOF found when expecting closing quote"],
  [" ab\t\"\\\\'#", ["ab"], "EOF found when expecting closing quote"],
  ["\"\r\t\u00e9'\t\n\"\u00e9\"", [], "EOF found when expecting closing quote"],
  ["\n'", [], "EOF found when expecting closing quote"],
  ["\ra\r  ", ["a"]],
  ["\taa  \ta'\\", ["aa"], "EOF found when expecting closing quote"],
  ["", []],
  ["\"\"", [""]],
  ["a\tb", ["a", "b"]],
  ["\t'\r\u00e9b\u00e9\\ b", [], "EOF found when expecting closing quote"],
  ["\\a'\"\n\u00e9\u00e9 \r\nb", [], "EOF found when expecting closing quote"],
  ["", []],
  ["\r\r# \n'\"\u00e9", [], "EOF found when expecting closing quote"],
  ["\u00e9#\u00e9\u00e9", ["\u00e9#\u00e9\u00e9"]],
  ["\ra", ["a"]],
  ["\r\"\"a", ["a"]],
  ["'\r\"a\t\"'\u00e9\r\t", ["\r\"a\t\"\u00e9"]],
  [" \\'\\ a", ["' a"]],
  ["", []],
  ["b\t\u00e9\n\u00e9 \r' b\u00e9", ["b", "\u00e9", "\u00e9"], "EOF found when expecting closing quote"],
  ["\tb\u00e9\r\n'\ta", ["b\u00e9"], "EOF found when expecting closing quote"],
  ["\ra#", ["a#"]],
  ["a'  ", [], "EOF found when expecting closing quote"],
  ["#\u00e9\r\\\u00e9\u00e9", []],
  [" '\n\"\n", [], "EOF found when expecting closing quote"],
  [" \t", []],
  ["\u00e9'b#\n\r#\\a", [], "EOF found when expecting closing quote"],
  ["\r  a\t#'# ", ["a"]],
  ["\t\na\r\r' ", ["a"], "EOF found when expecting closing quote"],
  [" \t\u00e9#\u00e9 \\\n\u00e9", ["\u00e9#\u00e9", "\n\u00e9"]],
  ["\r'\u00e9\\ '", ["\u00e9\\ "]],
  ["'\r", [], "EOF found when expecting closing quote"],
  ["", []],
  ["\t\r\na\\\u00e9", ["a\u00e9"]],
  ["\t'\r'\\ba\r", ["\rba"]],
  ["\t\n\ta\\a'", [], "EOF found when expecting closing quote"],
  ["a #\u00e9", ["a"]],
  ["'\r#\\", [], "EOF found when expecting closing quote"],
  ["' \"\" ", [], "EOF found when expecting closing quote"],
  ["#bb\r\n\t", []],
]

/** how a client quotes one word for shlex (and for sh): single quotes, `'` as `'\''` */
const singleQuoted = (word: string) => `'${word.replaceAll("'", `'\\''`)}'`

/** in double quotes, `"` and `\` escaped */
const doubleQuoted = (word: string) => `"${word.replace(/["\\]/g, "\\$&")}"`

/** every code point after a backslash */
const backslashed = (word: string) => Array.from(word, (rune) => `\\${rune}`).join("")

/** words without lone surrogates (the agent's JSON makes those U+FFFD) */
const word = fc.string({ unit: "grapheme", maxLength: 12 })
const words = fc.array(word, { maxLength: 6 })
const blanks = fc.array(fc.constantFrom(" ", "\t", "\n", "\r"), { minLength: 1, maxLength: 3 }).map((b) => b.join(""))

describe("shlex.split, as the agent's google/shlex", () => {
  it("answers as the Go original for every input of the table", () => {
    for (const [input, expected, error] of GO_CASES) {
      assert.deepStrictEqual(Shlex.splitWords(input), { words: expected, ...(error === undefined ? {} : { error }) }, JSON.stringify(input))
      const split = Shlex.split(input)
      assert.deepStrictEqual(split, error === undefined ? Either.right([...expected]) : Either.left(error))
    }
  })

  it("the agent's errors: an unclosed quote, a trailing backslash", () => {
    assert.deepStrictEqual(Shlex.split("echo 'unclosed"), Either.left("EOF found when expecting closing quote"))
    assert.deepStrictEqual(Shlex.split(`echo "unclosed`), Either.left("EOF found when expecting closing quote"))
    assert.deepStrictEqual(Shlex.split("echo \\"), Either.left("EOF found after escape character"))
    assert.deepStrictEqual(Shlex.split(`echo "a\\`), Either.left("EOF found after escape character"))
    assert.deepStrictEqual(Shlex.splitWords("a b 'c"), { words: ["a", "b"], error: "EOF found when expecting closing quote" })
  })

  it("a lone surrogate reads as U+FFFD, as Go's JSON decodes it", () => {
    assert.deepStrictEqual(Shlex.split("a\uD800b"), Either.right(["a\uFFFDb"]))
  })

  it.prop("single-quoted words, `'` as `'\\''`, come back as they were, whatever the blanks", [words, blanks], ([list, gap]) => {
    assert.deepStrictEqual(Shlex.split(list.map(singleQuoted).join(gap)), Either.right(list))
  })

  it.prop("double-quoted words with `\"` and `\\` escaped come back as they were", [words, blanks], ([list, gap]) => {
    assert.deepStrictEqual(Shlex.split(list.map(doubleQuoted).join(gap)), Either.right(list))
  })

  it.prop("non-empty words with every rune escaped by a backslash come back as they were", [
    fc.array(word.filter((w) => w !== ""), { maxLength: 6 }),
    blanks
  ], ([list, gap]) => {
    assert.deepStrictEqual(Shlex.split(list.map(backslashed).join(gap)), Either.right(list))
  })

  it.prop("plain words (no blank, quote or backslash, `#` not first) split on any run of blanks", [
    fc.array(word.filter((w) => w !== "" && !/[\s'"\\]/.test(w) && !w.startsWith("#")), { maxLength: 6 }),
    blanks,
    blanks
  ], ([list, gap, edge]) => {
    assert.deepStrictEqual(Shlex.split(edge + list.join(gap) + edge), Either.right(list))
  })

  it.prop("`#` at a word's start comments out the line, up to `\\n` only", [words, fc.string({ maxLength: 10 })], ([list, comment]) => {
    const quoted = list.map(singleQuoted).join(" ")
    const text = comment.replace(/\n/g, "")
    assert.deepStrictEqual(Shlex.split(`${quoted} #${text}`), Either.right(list))
    assert.deepStrictEqual(Shlex.split(`#${text}\n${quoted}`), Either.right(list))
  })

  it.prop("never throws: words, or one of the two errors", [fc.string({ unit: "grapheme", maxLength: 30 })], ([input]) => {
    const result = Shlex.split(input)
    if (Either.isLeft(result)) {
      assert.include(["EOF found when expecting closing quote", "EOF found after escape character"], result.left)
    }
  })
})
