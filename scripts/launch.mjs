/**
 * The command-line bins' launcher (copied to `dist/bin/launch.js`): runs a CommonJS bundle through V8's code
 * cache, so a start compiles nothing it compiled before (Node 20 has no `module.enableCompileCache`). The cache
 * lives in the user's own cache directory (`$XDG_CACHE_HOME` or `~/.cache`, `ssm-session-manager/`, mode 0700,
 * owned by the user: V8 checks a cache against the source's length, not its content, so a cache another user can
 * write would be code they choose); it is keyed by the bundle's digest and Node's version. Without a usable
 * directory, or with `NODE_DISABLE_COMPILE_CACHE` set, the bundle is compiled as usual.
 */
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import Module from "node:module"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Url from "node:url"
import * as Vm from "node:vm"

/** The cache directory, made if missing; undefined when it is not the user's alone. */
const cacheDirectory = () => {
  if (process.env["NODE_DISABLE_COMPILE_CACHE"] !== undefined || typeof process.getuid !== "function") return undefined
  const base = process.env["XDG_CACHE_HOME"] || Path.join(Os.homedir(), ".cache")
  const directory = Path.join(base, "ssm-session-manager")
  try {
    Fs.mkdirSync(directory, { recursive: true, mode: 0o700 })
    const stat = Fs.statSync(directory)
    return stat.uid === process.getuid() && (stat.mode & 0o022) === 0 ? directory : undefined
  } catch {
    return undefined
  }
}

/** Runs the CommonJS bundle `name` beside this file as the main program. */
export const run = (name) => {
  const file = Url.fileURLToPath(new URL(name, import.meta.url))
  const source = Fs.readFileSync(file, "utf8")
  const directory = cacheDirectory()
  const cacheFile = directory === undefined ? undefined : Path.join(
    directory,
    `${name}-${process.version}-${Crypto.createHash("sha256").update(source).digest("hex").slice(0, 32)}.cache`
  )
  let cachedData
  try {
    if (cacheFile !== undefined) cachedData = Fs.readFileSync(cacheFile)
  } catch {
    // not made yet
  }
  const script = new Vm.Script(Module.wrap(source), { filename: file, cachedData })
  const module = { exports: {}, filename: file, id: ".", loaded: false }
  script.runInThisContext().call(module.exports, module.exports, Module.createRequire(file), module, file, Path.dirname(file))
  if (cacheFile === undefined || (cachedData !== undefined && !script.cachedDataRejected)) return
  try {
    const temporary = `${cacheFile}.${process.pid}`
    Fs.writeFileSync(temporary, script.createCachedData(), { mode: 0o600 })
    Fs.renameSync(temporary, cacheFile)
    // caches of other builds or Node versions go
    for (const entry of Fs.readdirSync(directory)) {
      if (entry.startsWith(`${name}-`) && entry !== Path.basename(cacheFile)) Fs.rmSync(Path.join(directory, entry), { force: true })
    }
  } catch {
    // a read-only cache: compiled again next time
  }
}
