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
 */
import * as Fs from "node:fs"
import Module from "node:module"
import * as Os from "node:os"
import * as Path from "node:path"

/** The cache directory, made if missing; undefined when it is not the user's alone. */
const cacheDirectory = () => {
  if (process.env["NODE_DISABLE_COMPILE_CACHE"] !== undefined || typeof process.getuid !== "function") return undefined
  const base = process.env["XDG_CACHE_HOME"] || Path.join(Os.homedir(), ".cache")
  const directory = Path.join(base, "ssm-session-manager")
  try {
    Fs.mkdirSync(directory, { recursive: true, mode: 0o700 })
    const stat = Fs.lstatSync(directory)
    return stat.isDirectory() && stat.uid === process.getuid() && (stat.mode & 0o077) === 0 ? directory : undefined
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
