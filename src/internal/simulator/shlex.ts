/**
 * google/shlex `Split` (`vendor/github.com/google/shlex/shlex.go` in aws/amazon-ssm-agent), ported state for state:
 * how the agent splits a NonInteractiveCommands command, and any command in ContainerMode (ECS Exec), into the
 * program and its arguments (`session/shell/shell_unix.go` StartCommandExecutor). Its rules, from the tokenizer's
 * states:
 * - blanks are the four runes ` \t\r\n`; any other rune (NUL included) is part of a word;
 * - `"…"` quotes with escapes: `\` in it takes the next rune literally, whatever it is (`"\a"` is `a`);
 * - `'…'` quotes without escapes;
 * - a bare `\` takes the next rune literally (`\` newline is a newline in the word);
 * - `#` at the start of a token (not inside a word: `a#b` is one word) comments out the rest of the line, up to
 *   `\n` only;
 * - quotes join with what touches them (`a"b c"'d'` is `ab cd`), and `''` or `""` alone is an empty word;
 * - input that ends after `\` is "EOF found after escape character", inside quotes "EOF found when expecting closing
 *   quote": `Split` returns the words before it and the error (the word being read is lost).
 *
 * Go reads the string rune by rune (`bufio.Reader.ReadRune`); the agent's string comes from JSON, where a lone
 * UTF-16 surrogate decodes to U+FFFD, so a lone surrogate here is read as U+FFFD too.
 *
 * @internal
 */
import * as Either from "effect/Either"

type RuneClass = "unknown" | "space" | "escapingQuote" | "nonEscapingQuote" | "escape" | "comment" | "eof"

type State = "start" | "inWord" | "escaping" | "escapingQuoted" | "quotingEscaping" | "quoting" | "comment"

/** newDefaultClassifier: spaceRunes, escapingQuoteRunes, nonEscapingQuoteRunes, escapeRunes, commentRunes */
const classify = (rune: string | undefined): RuneClass => {
  switch (rune) {
    case undefined:
      return "eof"
    case " ":
    case "\t":
    case "\r":
    case "\n":
      return "space"
    case "\"":
      return "escapingQuote"
    case "'":
      return "nonEscapingQuote"
    case "\\":
      return "escape"
    case "#":
      return "comment"
    default:
      return "unknown"
  }
}

/** A token (`Token`): a word or a comment, or the error that ended the input. */
interface Scanned {
  readonly type: "word" | "comment" | "eof"
  readonly value: string
  readonly error?: string | undefined
}

/** The input as Go's ReadRune gives it: code points, a lone surrogate as U+FFFD. */
const runesOf = (input: string): Array<string> =>
  Array.from(input, (rune) => /^[\uD800-\uDFFF]$/.test(rune) ? "\uFFFD" : rune)

/** `Tokenizer.scanStream`: the next token from `runes` at `position.at`, which it moves past what it read. */
const scan = (runes: ReadonlyArray<string>, position: { at: number }): Scanned => {
  let state: State = "start"
  let type: "word" | "comment" = "word"
  let value = ""
  const token = (error?: string): Scanned => ({ type, value, error })
  while (true) {
    const rune = runes[position.at]
    if (rune !== undefined) position.at++
    const kind = classify(rune)
    switch (state) {
      case "start":
        switch (kind) {
          case "eof":
            return { type: "eof", value: "" }
          case "space":
            break
          case "escapingQuote":
            state = "quotingEscaping"
            break
          case "nonEscapingQuote":
            state = "quoting"
            break
          case "escape":
            state = "escaping"
            break
          case "comment":
            type = "comment"
            state = "comment"
            break
          default:
            value += rune
            state = "inWord"
        }
        break
      case "inWord":
        switch (kind) {
          case "eof":
          case "space":
            return token()
          case "escapingQuote":
            state = "quotingEscaping"
            break
          case "nonEscapingQuote":
            state = "quoting"
            break
          case "escape":
            state = "escaping"
            break
          default:
            value += rune
        }
        break
      case "escaping":
        if (kind === "eof") return token("EOF found after escape character")
        state = "inWord"
        value += rune
        break
      case "escapingQuoted":
        if (kind === "eof") return token("EOF found after escape character")
        state = "quotingEscaping"
        value += rune
        break
      case "quotingEscaping":
        if (kind === "eof") return token("EOF found when expecting closing quote")
        if (kind === "escapingQuote") state = "inWord"
        else if (kind === "escape") state = "escapingQuoted"
        else value += rune
        break
      case "quoting":
        if (kind === "eof") return token("EOF found when expecting closing quote")
        if (kind === "nonEscapingQuote") state = "inWord"
        else value += rune
        break
      case "comment":
        if (kind === "eof") return token()
        if (rune === "\n") return token()
        value += rune
        break
    }
  }
}

/**
 * `shlex.Split`: the words, or the error and the words read before it.
 *
 * @internal
 */
export const splitWords = (
  input: string
): { readonly words: ReadonlyArray<string>; readonly error?: string | undefined } => {
  const runes = runesOf(input)
  const position = { at: 0 }
  const words: Array<string> = []
  while (true) {
    // Lexer.Next: comments skipped
    const next = scan(runes, position)
    if (next.error !== undefined) return { words, error: next.error }
    if (next.type === "eof") return { words }
    if (next.type === "word") words.push(next.value)
  }
}

/**
 * `shlex.Split` as the agent uses it: the words, or the error's text.
 *
 * @internal
 */
export const split = (input: string): Either.Either<Array<string>, string> => {
  const result = splitWords(input)
  return result.error === undefined ? Either.right([...result.words]) : Either.left(result.error)
}
