/**
 * Bundles the two command-line entry points (`ssm-session-manager` and the `session-manager-plugin` stand-in)
 * from the compiled `dist/cli` into `dist/bin`: one self-contained CommonJS file each (no shared chunk: the
 * plugin, which `ssh` may start for every connection, loads only what it uses), tree-shaken and minified, started
 * by a small launcher (`scripts/launch.mjs`) with Node's compile cache. A process then reads three files instead of
 * some 300 modules and compiles nothing twice: start-up falls from about 0.8 s to 0.2 s and the resident set
 * from about 98 to 60 MiB (bench/client.ts). The AWS SDK stays outside, loaded from node_modules (its CommonJS
 * build, through `require`) only when a call is made; the library's own modules (`dist/*.js`) are not bundled.
 */
import * as esbuild from "esbuild"
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as Url from "node:url"

const root = Path.resolve(Path.dirname(Url.fileURLToPath(import.meta.url)), "..")
const names = ["main", "sessionManagerPlugin"]

/**
 * ws requires zlib when it loads, for permessage-deflate, which our WebSocket turns off (`perMessageDeflate:
 * false`): in the bundles zlib is required on first use instead, which never comes (about 8 ms of every start).
 */
const lazyZlib = {
  name: "lazy-zlib",
  setup(build) {
    build.onLoad({ filter: /[\\/]ws[\\/]lib[\\/]permessage-deflate\.js$/ }, async (args) => {
      const source = await Fs.promises.readFile(args.path, "utf8")
      const eager = "const zlib = require('zlib');"
      if (!source.includes(eager)) throw new Error(`${args.path} no longer requires zlib as lazyZlib expects`)
      const lazy = "let loadedZlib;\nconst zlib = new Proxy({}, { get: (_, key) => (loadedZlib ??= require('zlib'))[key] });"
      return { contents: source.replace(eager, lazy), loader: "js", resolveDir: Path.dirname(args.path) }
    })
  }
}

/**
 * Writes the bundles and their launchers to `outdir`: from the compiled `dist/cli` by default, or from the
 * TypeScript sources (`fromSource`, for the tests: what they check is the code as it stands).
 */
export const bundle = async ({ outdir = Path.join(root, "dist", "bin"), fromSource = false } = {}) => {
  Fs.rmSync(outdir, { recursive: true, force: true })
  await esbuild.build({
    entryPoints: Object.fromEntries(
      names.map((name) => [name, Path.join(root, fromSource ? `src/cli/${name}.ts` : `dist/cli/${name}.js`)])
    ),
    outdir,
    outExtension: { ".js": ".cjs" },
    bundle: true,
    format: "cjs",
    platform: "node",
    target: "node20",
    conditions: fromSource ? ["ssm-session-manager-source"] : [],
    // SSM_BUNDLE_READABLE=1 keeps names and lines, for profiles
    minify: process.env["SSM_BUNDLE_READABLE"] === undefined,
    // no keepNames: it wraps every closure made at run time in a call that names it (3% of a download's CPU);
    // errors carry their names in their tags
    external: ["@aws-sdk/*", "bufferutil", "utf-8-validate"],
    // the modules that locate files beside themselves (install-plugin) see the bundle's own URL
    define: { "import.meta.url": "__bundleUrl" },
    banner: { js: "const __bundleUrl = require(\"node:url\").pathToFileURL(__filename).href;" },
    plugins: [lazyZlib],
    logLevel: "warning"
  })
  Fs.copyFileSync(Path.join(root, "scripts", "launch.mjs"), Path.join(outdir, "launch.js"))
  for (const name of names) {
    const file = Path.join(outdir, `${name}.cjs`)
    // a ws that requires zlib from another file, or under another name, would load it at start again
    const source = Fs.readFileSync(file, "utf8")
    const count = (pattern) => (source.match(pattern) ?? []).length
    const eager = count(/require\("zlib"\)/g) - count(/\?\?=\s*require\("zlib"\)/g)
    if (eager !== 0) throw new Error(`${file} requires zlib when it loads: lazyZlib no longer matches ws`)
    Fs.writeFileSync(
      file,
      source
        // the shebang line belongs to the launcher
        .replace(/^#!.*\n/, "")
        // the AWS SDK, loaded on first use, through require: its CommonJS build is one file a package, where its
        // ES modules are hundreds (about 100 ms less to load on Node 20 and 22)
        .replace(/\bimport\("(@aws-sdk\/[^"]+)"\)/g, (_, specifier) => `Promise.resolve().then(() => require("${specifier}"))`)
    )
    Fs.writeFileSync(
      Path.join(outdir, `${name}.js`),
      `#!/usr/bin/env node\nimport { run } from "./launch.js"\n\nrun("${name}.cjs")\n`,
      { mode: 0o755 }
    )
  }
}

if (process.argv[1] !== undefined && Path.resolve(process.argv[1]) === Url.fileURLToPath(import.meta.url)) await bundle()
