/**
 * The command-line bins' launcher (copied to `dist/bin/launch.js`): loads a CommonJS bundle through Node's own
 * module loader with Node's compile cache on (`module.enableCompileCache`, Node 22.1 and later), so a start
 * compiles nothing it compiled before, and everything the bundle loads later (`import()` of the AWS SDK) goes
 * through the same loader as in any Node program.
 *
 * The cache lives in the user's own cache directory (`$XDG_CACHE_HOME` or `~/.cache`, `ssm-session-manager/`,
 * mode 0700, owned by the user: a cache another user can write would be code they choose), not in Node's default
 * of the shared temporary directory. Node keeps one subdirectory per Node version and V8 flags, so alternating
 * versions keep their caches, and it checks each entry against the source's and the cache's own checksums,
 * recompiling (and rewriting) an entry that does not match. Without a usable directory, with
 * `NODE_DISABLE_COMPILE_CACHE` set, or on a Node without the compile cache, the bundle is compiled as usual.
 *
 * Before the cache is used, its contents are checked with `lstat` (one `readdir` of the directory and one of each
 * version subdirectory, a handful of entries): Node reads and writes entries by name and follows links, so
 * anything that is not a plain directory at the top (a link, a file) and not a plain file inside (a link, to
 * `/dev/zero` or to another file, a FIFO, a directory) is removed, as is any entry above `MAX_ENTRY` bytes; and
 * the whole cache is emptied when it holds more than `MAX_TOTAL` bytes (old Node versions' subdirectories pile up).
 */
import * as Fs from "node:fs"
import Module from "node:module"
import * as Os from "node:os"
import * as Path from "node:path"

/** The largest cache entry kept: the main bundle's is about 2 MiB. */
const MAX_ENTRY = 16 * 1024 * 1024
/** The most the cache may hold, over every Node version's subdirectory, before it is emptied. */
const MAX_TOTAL = 64 * 1024 * 1024

/**
 * Removes what Node must not read or write through in `directory` (links, anything not a directory at the top or
 * not a regular file inside, entries above `MAX_ENTRY`), and everything when the rest is above `MAX_TOTAL`.
 * Throws when something cannot be removed: the cache is then not used.
 */
const tidy = (directory) => {
  const uid = process.getuid()
  const subdirectories = []
  let total = 0
  for (const name of Fs.readdirSync(directory)) {
    const path = Path.join(directory, name)
    const stat = Fs.lstatSync(path)
    if (!stat.isDirectory()) {
      Fs.unlinkSync(path)
      continue
    }
    if (stat.uid !== uid || (stat.mode & 0o022) !== 0) {
      Fs.rmSync(path, { recursive: true, force: true })
      continue
    }
    subdirectories.push(path)
    for (const entry of Fs.readdirSync(path)) {
      const entryPath = Path.join(path, entry)
      const entryStat = Fs.lstatSync(entryPath)
      if (!entryStat.isFile() || entryStat.size > MAX_ENTRY) {
        // rmSync removes a link itself, never what it points to
        Fs.rmSync(entryPath, { recursive: true, force: true })
        continue
      }
      total += entryStat.size
    }
  }
  if (total > MAX_TOTAL) for (const path of subdirectories) Fs.rmSync(path, { recursive: true, force: true })
}

/** The cache directory, made if missing and tidied; undefined when it is not the user's alone. */
const cacheDirectory = () => {
  if (process.env["NODE_DISABLE_COMPILE_CACHE"] !== undefined || typeof process.getuid !== "function") return undefined
  const base = process.env["XDG_CACHE_HOME"] || Path.join(Os.homedir(), ".cache")
  const directory = Path.join(base, "ssm-session-manager")
  try {
    Fs.mkdirSync(directory, { recursive: true, mode: 0o700 })
    const stat = Fs.lstatSync(directory)
    if (!stat.isDirectory() || stat.uid !== process.getuid() || (stat.mode & 0o077) !== 0) return undefined
    tidy(directory)
    return directory
  } catch {
    return undefined
  }
}

/** Runs the CommonJS bundle `name` beside this file as the main program. */
export const run = (name) => {
  if (typeof Module.enableCompileCache === "function") {
    const directory = cacheDirectory()
    if (directory !== undefined) Module.enableCompileCache(directory)
  }
  Module.createRequire(import.meta.url)(`./${name}`)
}
