// Bundles the page's script for browsers with esbuild, from this repository's TypeScript sources: the `browser`
// platform (so `#sha256` and `#aesgcm` resolve to their @noble files), and no Node module anywhere (esbuild
// refuses `node:` imports on this platform; `nodeImports` double-checks the result).
import * as esbuild from "esbuild"
import * as Path from "node:path"
import * as Url from "node:url"

const here = Path.dirname(Url.fileURLToPath(import.meta.url))

/** The repository's root. */
export const root = Path.resolve(here, "..", "..")

export interface BundleOptions {
  /** default the page's script, `client.ts` */
  readonly entry?: string | undefined
  readonly minify?: boolean | undefined
  /** modules left out of the bundle (`@xterm/*`, to measure the library alone) */
  readonly external?: ReadonlyArray<string> | undefined
}

export interface Bundle {
  readonly js: string
  /** the files that went in, from esbuild's metafile */
  readonly inputs: ReadonlyArray<string>
}

export const bundle = async (options: BundleOptions = {}): Promise<Bundle> => {
  const result = await esbuild.build({
    entryPoints: [options.entry ?? Path.join(here, "client.ts")],
    bundle: true,
    write: false,
    format: "esm",
    platform: "browser",
    target: "es2022",
    // this repository's sources, as the tests run them; a user of the published package leaves this out
    conditions: ["ssm-session-manager-source"],
    minify: options.minify ?? true,
    // the AWS SDK is loaded only where an SsmApi made on it calls AWS, which a page never does (its SsmApi is
    // BrowserSession's, over its own server): the dynamic import stays in the bundle, never run
    external: ["@aws-sdk/*", ...(options.external ?? [])],
    metafile: true,
    logLevel: "warning"
  })
  return {
    js: result.outputFiles[0]!.text,
    inputs: Object.keys(result.metafile.inputs)
  }
}

/** The Node modules a bundle imports (none expected): `node:` specifiers and well-known builtins. */
export const nodeImports = (js: string): ReadonlyArray<string> =>
  [...js.matchAll(/(?:from|import|require)\s*\(?\s*["'`]((?:node:)?(?:fs|net|http|https|os|path|crypto|child_process|stream|url|tls|zlib)(?:\/[\w/]+)?|node:[\w/]+)["'`]/g)]
    .map((match) => match[1]!)
