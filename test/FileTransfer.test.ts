/**
 * FileTransfer and NodeFileTransfer: the pure parts (frames, ranges, the download reader, the scripts' error
 * lines), then copies through the simulator, whose "instance" is this machine.
 */
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Either, Stream } from "effect"
import * as ChildProcess from "node:child_process"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as AgentSimulator from "../src/AgentSimulator.js"
import * as FileTransfer from "../src/FileTransfer.js"
import * as Frames from "../src/internal/transfer/frames.js"
import * as Scripts from "../src/internal/transfer/scripts.js"
import * as NodeFileTransfer from "../src/NodeFileTransfer.js"

const layer = (options: AgentSimulator.SimulatorOptions = {}) => AgentSimulator.layerAll({ messagesPerSecond: 0, ...options })
const fast = { target: "i-simulated", session: { messagesPerSecond: 0 } } as const
const sha = (bytes: Uint8Array) => Crypto.createHash("sha256").update(bytes).digest("hex")
const made: Array<string> = []
const tempDir = () => {
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "ssm-cp-test-"))
  made.push(dir)
  return dir
}
afterAll(() => {
  for (const dir of made) Fs.rmSync(dir, { recursive: true, force: true })
})
const random = (length: number) => new Uint8Array(Crypto.randomBytes(length))
const concat = (parts: ReadonlyArray<Uint8Array>) => new Uint8Array(Buffer.concat(parts))
/** every byte value, a literal U+FFFD, and an unfinished UTF-8 sequence at the end (no trailing newline) */
const awkward = () => {
  const bytes = new Uint8Array(300_000)
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 31 + (i >> 9)) % 256
  bytes.set([0xef, 0xbf, 0xbd], 1000)
  bytes.set([0xe2, 0x82], bytes.length - 2)
  return bytes
}
/** a directory of busybox applets: what a minimal image has, `without` some */
const applets = (without: ReadonlyArray<string> = []) => {
  const dir = tempDir()
  const names = ["sh", "stty", "mkfifo", "mktemp", "dd", "od", "tr", "grep", "wc", "cat", "rm", "base64", "sha256sum",
    "stat", "mv", "chmod", "mkdir", "tar", "kill", "printf", "sleep"]
  for (const name of names) if (!without.includes(name)) Fs.symlinkSync("/bin/busybox", Path.join(dir, name))
  return dir
}
const hasBusybox = Fs.existsSync("/bin/busybox")

describe("FileTransfer frames", () => {
  it("plans ranges aligned to 64 KiB that cover the file", () => {
    assert.deepStrictEqual(Frames.planRanges(0, 4), [{ offset: 0, length: 0 }])
    assert.deepStrictEqual(Frames.planRanges(1000, 4), [{ offset: 0, length: 1000 }])
    for (const [size, k] of [[64 * 1024 * 1024, 4], [5 * 65536 + 7, 4], [65537, 3], [10 * 65536, 3]] as const) {
      const ranges = Frames.planRanges(size, k)
      assert.isAtMost(ranges.length, k)
      let next = 0
      for (const range of ranges) {
        assert.strictEqual(range.offset, next)
        assert.strictEqual(range.offset % 65536, 0)
        assert.isAbove(range.length, 0)
        next += range.length
      }
      assert.strictEqual(next, size)
    }
    assert.strictEqual(Frames.planRanges(64 * 1024 * 1024, 4).length, 4)
  })

  it("frames any stream into full 65528-byte frames whose data is the stream", () => {
    const bytes = random(300_000)
    const framer = new Frames.Framer()
    const frames = [...framer.push(bytes.subarray(0, 7)), ...framer.push(bytes.subarray(7, 200_000)), ...framer.push(bytes.subarray(200_000)), ...framer.flush()]
    const data: Array<Uint8Array> = []
    for (const frame of frames) {
      const header = new TextDecoder().decode(frame.subarray(0, 8))
      assert.match(header, /^D\d{6}\n$/)
      assert.strictEqual(Number(header.slice(1, 7)), frame.length - 8)
      data.push(frame.subarray(8))
    }
    assert.deepStrictEqual(frames.slice(0, -1).map((frame) => frame.length), Array(frames.length - 1).fill(65528))
    assert.deepStrictEqual(concat(data), bytes)
    assert.deepStrictEqual(new Frames.Framer().flush(), [])
  })

  it("reads a download's output split anywhere, and refuses what does not read", () => {
    const body = awkward().subarray(0, 5000)
    const output = concat([new TextEncoder().encode(`${body.length} 640\n`), body, new TextEncoder().encode(`${sha(body)}\n`)])
    for (const step of [1, 3, 1024, output.length]) {
      const reader = new Frames.DownloadReader({ header: true }, true)
      const events: Array<Frames.DownloadEvent> = []
      for (let at = 0; at < output.length; at += step) {
        const result = reader.push(output.subarray(at, at + step))
        assert.strictEqual(result._tag, "Ok")
        if (result._tag === "Ok") events.push(...result.events)
      }
      assert.isTrue(reader.complete)
      assert.deepStrictEqual(events[0], { _tag: "Header", size: body.length, mode: 0o640 })
      assert.deepStrictEqual(events.at(-1), { _tag: "Hash", sha256: sha(body) })
      assert.deepStrictEqual(concat(events.flatMap((event) => event._tag === "Bytes" ? [event.bytes] : [])), body)
    }
    const short = new Frames.DownloadReader({ header: true }, true)
    short.push(output.subarray(0, 100))
    assert.isFalse(short.complete)
    assert.strictEqual(new Frames.DownloadReader({ header: true }, true).push(new TextEncoder().encode("x y\n"))._tag, "Malformed")
    assert.strictEqual(new Frames.DownloadReader({ header: true }, true).push(new Uint8Array(200).fill(49))._tag, "Malformed")
    assert.strictEqual(new Frames.DownloadReader({ length: 2 }, false).push(new Uint8Array(3))._tag, "Malformed")
  })

  it("reads the scripts' error lines and quotes paths for sh", () => {
    assert.deepStrictEqual(Scripts.remoteError("noise\nssm-cp: NotFound: no such file /x on the instance\n"), {
      reason: "NotFound",
      detail: "no such file /x on the instance"
    })
    assert.isUndefined(Scripts.remoteError("cp: something else\n"))
    const path = "it's a \"file\" $HOME `x`\n"
    assert.strictEqual(ChildProcess.execFileSync("sh", ["-c", `printf %s ${Scripts.quote(path)}`]).toString(), path)
  })
})

describe("FileTransfer through the simulator", () => {
  it.live("uploads and downloads every byte value, a U+FFFD and a file ending in E2 82, mode kept", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      const bytes = awkward()
      const result = yield* FileTransfer.upload({
        ...fast,
        remotePath: Path.join(dir, "up.bin"),
        input: Stream.fromIterable([bytes.subarray(0, 100_000), bytes.subarray(100_000)]),
        mode: 0o640
      })
      assert.strictEqual(result.sha256, sha(bytes))
      assert.deepStrictEqual(new Uint8Array(Fs.readFileSync(Path.join(dir, "up.bin"))), bytes)
      assert.strictEqual(Fs.statSync(Path.join(dir, "up.bin")).mode & 0o777, 0o640)
      assert.deepStrictEqual(Fs.readdirSync(dir), ["up.bin"])
      const items = Chunk.toReadonlyArray(
        yield* Stream.runCollect(FileTransfer.download({ ...fast, remotePath: Path.join(dir, "up.bin") }))
      )
      // the same through the Sink
      const sunk = yield* Stream.run(
        Stream.fromIterable([bytes.subarray(0, 5), bytes.subarray(5)]),
        FileTransfer.uploadSink({ ...fast, remotePath: Path.join(dir, "sunk.bin") })
      )
      assert.strictEqual(sunk.sha256, sha(bytes))
      assert.deepStrictEqual(new Uint8Array(Fs.readFileSync(Path.join(dir, "sunk.bin"))), bytes)
      Fs.rmSync(Path.join(dir, "sunk.bin"))
      assert.deepStrictEqual(items[0], { _tag: "Header", size: bytes.length, mode: 0o640 })
      assert.deepStrictEqual(items.at(-1), { _tag: "Verified", sha256: sha(bytes) })
      assert.deepStrictEqual(concat(items.flatMap((item) => item._tag === "Bytes" ? [item.bytes] : [])), bytes)
    }).pipe(Effect.provide(layer())), 60_000)

  it.live("copies an empty file and a one-line file without a newline both ways (NodeFileTransfer)", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      for (const [name, content] of [["empty", ""], ["line", "no newline"]] as const) {
        Fs.writeFileSync(Path.join(dir, name), content, { mode: 0o600 })
        Fs.mkdirSync(Path.join(dir, `remote-${name}`))
        yield* NodeFileTransfer.upload({ ...fast, localPath: Path.join(dir, name), remotePath: Path.join(dir, `remote-${name}`) })
        const remote = Path.join(dir, `remote-${name}`, name)
        assert.strictEqual(Fs.readFileSync(remote, "utf8"), content)
        assert.strictEqual(Fs.statSync(remote).mode & 0o777, 0o600)
        const back = yield* NodeFileTransfer.download({ ...fast, remotePath: remote, localPath: Path.join(dir, `${name}.back`) })
        assert.strictEqual(back.localPath, Path.join(dir, `${name}.back`))
        assert.strictEqual(Fs.readFileSync(back.localPath, "utf8"), content)
        assert.strictEqual(Fs.statSync(back.localPath).mode & 0o777, 0o600)
      }
      assert.deepStrictEqual(Fs.readdirSync(dir).filter((name) => name.includes("ssm-cp")), [])
    }).pipe(Effect.provide(layer())), 60_000)

  it.live("-r: a 2,000-file tree both ways, scp's way (into an existing directory), modes kept", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      const tree = Path.join(dir, "tree")
      for (let i = 0; i < 2000; i++) {
        const sub = Path.join(tree, `d${i % 20}`)
        Fs.mkdirSync(sub, { recursive: true })
        Fs.writeFileSync(Path.join(sub, `f${i}`), i % 7 === 0 ? "" : `file ${i}\n${"x".repeat(i % 300)}`)
      }
      Fs.chmodSync(Path.join(tree, "d3", "f3"), 0o700)
      Fs.mkdirSync(Path.join(dir, "remote"))
      const up = yield* NodeFileTransfer.upload({ ...fast, localPath: tree, remotePath: Path.join(dir, "remote"), recursive: true })
      assert.strictEqual(up.remotePath, Path.join(dir, "remote", "tree"))
      const listing = (root: string) =>
        (Fs.readdirSync(root, { recursive: true }) as Array<string>).sort().map((name) => {
          const path = Path.join(root, name)
          const stat = Fs.statSync(path)
          return `${name} ${stat.mode & 0o777} ${stat.isFile() ? sha(Fs.readFileSync(path)) : "dir"}`
        })
      const expected = listing(tree)
      assert.strictEqual(expected.length, 2020)
      assert.deepStrictEqual(listing(Path.join(dir, "remote", "tree")), expected)
      const back = yield* NodeFileTransfer.download({ ...fast, remotePath: Path.join(dir, "remote", "tree"), localPath: Path.join(dir, "back"), recursive: true })
      assert.strictEqual(back.localPath, Path.join(dir, "back"))
      assert.deepStrictEqual(listing(Path.join(dir, "back")), expected)
      assert.deepStrictEqual(Fs.readdirSync(dir).sort(), ["back", "remote", "tree"])
      assert.deepStrictEqual(Fs.readdirSync(Path.join(dir, "remote")), ["tree"])
      // without -r, a directory is refused
      const refused = yield* Effect.either(NodeFileTransfer.upload({ ...fast, localPath: tree, remotePath: Path.join(dir, "x") }))
      assert.isTrue(Either.isLeft(refused) && FileTransfer.isFileTransferError(refused.left) && refused.left.reason === "NotAFile")
      Fs.rmSync(dir, { recursive: true, force: true })
    }).pipe(Effect.provide(layer())), 180_000)

  it.live("errors: a missing source, a missing remote directory, a directory without -r", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      Fs.writeFileSync(Path.join(dir, "a"), "a")
      const reason = <R>(effect: Effect.Effect<unknown, unknown, R>) =>
        Effect.map(Effect.either(effect), (result) =>
          Either.isLeft(result) && FileTransfer.isFileTransferError(result.left) ? result.left.reason : "none")
      assert.strictEqual(yield* reason(NodeFileTransfer.download({ ...fast, remotePath: Path.join(dir, "nope"), localPath: Path.join(dir, "b") })), "NotFound")
      assert.strictEqual(yield* reason(NodeFileTransfer.upload({ ...fast, localPath: Path.join(dir, "nope"), remotePath: Path.join(dir, "b") })), "NotFound")
      assert.strictEqual(yield* reason(NodeFileTransfer.upload({ ...fast, localPath: Path.join(dir, "a"), remotePath: Path.join(dir, "no", "b") })), "NotFound")
      assert.strictEqual(yield* reason(NodeFileTransfer.download({ ...fast, remotePath: dir, localPath: Path.join(dir, "b") })), "NotAFile")
      assert.deepStrictEqual(Fs.readdirSync(dir), ["a"])
    }).pipe(Effect.provide(layer())), 120_000)

  it.live.skipIf(!hasBusybox)("a remote without sha256sum (busybox applets only): MissingTools, naming it", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      Fs.writeFileSync(Path.join(dir, "a"), "a")
      const result = yield* Effect.either(NodeFileTransfer.upload({ ...fast, localPath: Path.join(dir, "a"), remotePath: Path.join(dir, "b") }))
      assert.isTrue(Either.isLeft(result) && FileTransfer.isFileTransferError(result.left))
      if (Either.isLeft(result) && FileTransfer.isFileTransferError(result.left)) {
        assert.strictEqual(result.left.reason, "MissingTools")
        assert.include(result.left.detail, "sha256sum is missing")
      }
      assert.deepStrictEqual(Fs.readdirSync(dir), ["a"])
    }).pipe(Effect.provide(layer({ remoteProcess: { environment: { PATH: applets(["sha256sum"]) } } }))), 60_000)

  it.live.skipIf(!hasBusybox)("busybox alone (ash, its dd, tar, stat): a copy both ways, -r too", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      const bytes = awkward()
      Fs.writeFileSync(Path.join(dir, "a"), bytes, { mode: 0o640 })
      Fs.mkdirSync(Path.join(dir, "t", "s"), { recursive: true })
      Fs.writeFileSync(Path.join(dir, "t", "s", "f"), "f")
      yield* NodeFileTransfer.upload({ ...fast, localPath: Path.join(dir, "a"), remotePath: Path.join(dir, "b"), sessions: 2 })
      assert.deepStrictEqual(new Uint8Array(Fs.readFileSync(Path.join(dir, "b"))), bytes)
      yield* NodeFileTransfer.download({ ...fast, remotePath: Path.join(dir, "b"), localPath: Path.join(dir, "c"), sessions: 2 })
      assert.deepStrictEqual(new Uint8Array(Fs.readFileSync(Path.join(dir, "c"))), bytes)
      assert.strictEqual(Fs.statSync(Path.join(dir, "c")).mode & 0o777, 0o640)
      yield* NodeFileTransfer.upload({ ...fast, localPath: Path.join(dir, "t"), remotePath: Path.join(dir, "u"), recursive: true })
      assert.strictEqual(Fs.readFileSync(Path.join(dir, "u", "s", "f"), "utf8"), "f")
    }).pipe(Effect.provide(layer({ remoteProcess: { environment: { PATH: applets() } } }))), 120_000)

  it.live("a session lost for good mid-copy: an error, and no file under the final name nor a temp, either way", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      Fs.writeFileSync(Path.join(dir, "src"), random(3 * 1024 * 1024))
      const up = yield* Effect.either(NodeFileTransfer.upload({ ...fast, localPath: Path.join(dir, "src"), remotePath: Path.join(dir, "up") }))
      assert.isTrue(Either.isLeft(up) && FileTransfer.isFileTransferError(up.left) && up.left.reason === "Session")
      const down = yield* Effect.either(NodeFileTransfer.download({ ...fast, remotePath: Path.join(dir, "src"), localPath: Path.join(dir, "down") }))
      assert.isTrue(Either.isLeft(down) && FileTransfer.isFileTransferError(down.left) && down.left.reason === "Session")
      // the remote script's temp goes with its hangup: poll briefly for it
      const deadline = Date.now() + 10_000
      while (Fs.readdirSync(dir).length > 1 && Date.now() < deadline) yield* Effect.sleep("50 millis")
      assert.deepStrictEqual(Fs.readdirSync(dir), ["src"])
    }).pipe(Effect.provide(layer({ faults: { closeAfterMessages: 400 } }))), 120_000)

  it.live("64 MiB of random bytes each way; 8 MiB with 4 sessions each way", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      const bytes = random(64 * 1024 * 1024)
      Fs.writeFileSync(Path.join(dir, "big"), bytes, { mode: 0o751 })
      for (const sessions of [1, 4]) {
        if (sessions === 4) Fs.truncateSync(Path.join(dir, "big"), 8 * 1024 * 1024)
        const bytes = new Uint8Array(Fs.readFileSync(Path.join(dir, "big")))
        const remote = Path.join(dir, `remote-${sessions}`)
        const up = yield* NodeFileTransfer.upload({ ...fast, localPath: Path.join(dir, "big"), remotePath: remote, sessions })
        assert.strictEqual(up.sha256, sha(bytes))
        assert.strictEqual(sha(Fs.readFileSync(remote)), sha(bytes))
        assert.strictEqual(Fs.statSync(remote).mode & 0o777, 0o751)
        const back = Path.join(dir, `back-${sessions}`)
        const down = yield* NodeFileTransfer.download({ ...fast, remotePath: remote, localPath: back, sessions })
        assert.strictEqual(down.sha256, sha(bytes))
        assert.strictEqual(sha(Fs.readFileSync(back)), sha(bytes))
        assert.strictEqual(Fs.statSync(back).mode & 0o777, 0o751)
      }
      assert.deepStrictEqual(Fs.readdirSync(dir).filter((name) => name.includes("ssm-cp")), [])
      Fs.rmSync(dir, { recursive: true, force: true })
    }).pipe(Effect.provide(layer())), 900_000)
})
