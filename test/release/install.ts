/**
 * The package as a user gets it: the checkout built and packed (`npm pack`), the tarball installed with its peers
 * (`effect`, `@effect/platform` at the versions the project develops against) into an empty project with
 * `--omit=dev`, from npm's cache where it can.
 */
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { root } from "../utils/cli.js"

/** An installed copy of the package. */
export interface Installed {
  /** the empty project the tarball went into */
  readonly project: string
  readonly tarball: string
  /** `node_modules/.bin/ssm-session-manager` */
  readonly bin: string
  /** the version in the package's package.json */
  readonly version: string
  /** a directory for the run's files (removed by `remove`) */
  readonly scratch: string
  readonly remove: () => void
}

const run = (command: string, args: ReadonlyArray<string>, cwd: string) => {
  const result = ChildProcess.spawnSync(command, args, { cwd, encoding: "utf8", env: { ...process.env, npm_config_loglevel: "error" } })
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(" ")} (in ${cwd}) exited ${result.status}:\n${result.stdout}\n${result.stderr}`)
  }
  return result.stdout
}

/**
 * Builds (unless `SSM_RELEASE_SKIP_BUILD` is set: CI has just built), packs and installs. `npm` is the one on
 * the PATH, whatever Node runs it.
 */
export const packAndInstall = (): Installed => {
  const manifest = JSON.parse(Fs.readFileSync(Path.join(root, "package.json"), "utf8")) as {
    readonly version: string
    readonly devDependencies: Readonly<Record<string, string>>
    readonly peerDependencies: Readonly<Record<string, string>>
  }
  const scratch = Fs.mkdtempSync(Path.join(Os.tmpdir(), "ssm-release-"))
  try {
    if (process.env["SSM_RELEASE_SKIP_BUILD"] === undefined) run("npm", ["run", "build"], root)
    // the scripts (prepare: the build) have run above, or in CI just before
    const packed = JSON.parse(run("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", scratch], root)) as ReadonlyArray<{
      readonly filename: string
    }>
    const tarball = Path.join(scratch, Path.basename(packed[0]!.filename))
    const project = Path.join(scratch, "project")
    Fs.mkdirSync(project)
    Fs.writeFileSync(Path.join(project, "package.json"), JSON.stringify({ name: "release-test", version: "1.0.0", private: true }))
    const peers = Object.keys(manifest.peerDependencies).map((name) => `${name}@${manifest.devDependencies[name]}`)
    run("npm", [
      "install",
      "--omit=dev",
      "--prefer-offline",
      "--no-audit",
      "--no-fund",
      "--no-package-lock",
      tarball,
      ...peers
    ], project)
    return {
      project,
      tarball,
      bin: Path.join(project, "node_modules", ".bin", "ssm-session-manager"),
      version: manifest.version,
      scratch,
      remove: () => Fs.rmSync(scratch, { recursive: true, force: true })
    }
  } catch (error) {
    Fs.rmSync(scratch, { recursive: true, force: true })
    throw error
  }
}
