/**
 * `npm run bench:install`: what a library user installs and pays at start. Packs this package, installs the
 * tarball with its peers into an empty project (`npm install --omit=dev`, from the registry), and reports the
 * installed size (the files' apparent size, `du -sb`, and the disk they take, `du -sk`: every file takes whole
 * blocks, so thousands of small files take more than they hold), the package count, the bins, install scripts,
 * and the time to import the barrel and to answer `--version` (median of 7 runs each). Not part of
 * `npm run bench`: it needs the npm registry.
 */
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Url from "node:url"

const root = Path.resolve(Path.dirname(Url.fileURLToPath(import.meta.url)), "..")
const run = (command: string, cwd: string) => ChildProcess.execSync(command, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] })

const median = (values: Array<number>) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)]!
const timeNode = (args: Array<string>, cwd: string) => {
  const samples: Array<number> = []
  for (let i = 0; i < 7; i++) {
    const start = performance.now()
    ChildProcess.execFileSync(process.execPath, args, { cwd, stdio: "ignore" })
    samples.push(performance.now() - start)
  }
  return median(samples)
}

const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "ssm-install-"))
try {
  const tarball = Path.join(dir, run(`npm pack --silent --pack-destination ${dir}`, root).trim().split("\n").pop()!)
  const project = Path.join(dir, "project")
  Fs.mkdirSync(project)
  Fs.writeFileSync(Path.join(project, "package.json"), JSON.stringify({ name: "user", version: "1.0.0", type: "module" }))
  const pkg = JSON.parse(Fs.readFileSync(Path.join(root, "package.json"), "utf8"))
  const peers = Object.entries(pkg.peerDependencies as Record<string, string>).map(([name, range]) => `${name}@${range}`)
  run(`npm install --omit=dev --no-audit --no-fund ${tarball} ${peers.join(" ")}`, project)
  const modules = Path.join(project, "node_modules")
  const bytes = Number(run(`du -sb ${modules}`, project).split("\t")[0])
  const diskBytes = Number(run(`du -sk ${modules}`, project).split("\t")[0]) * 1024
  const packages = run("npm ls --all --parseable --omit=dev", project).trim().split("\n").length - 1
  const bins = Fs.existsSync(Path.join(modules, ".bin")) ? Fs.readdirSync(Path.join(modules, ".bin")) : []
  const effects = run("npm ls --all --parseable effect", project).trim().split("\n").filter((line) => line.endsWith("/effect"))
  const scripts = run("npm query ':attr(scripts, [install]), :attr(scripts, [postinstall]), :attr(scripts, [preinstall])'", project)
  const withScripts = (JSON.parse(scripts) as Array<{ name: string }>).map((entry) => entry.name)
  const importMs = timeNode(["--input-type=module", "-e", "await import('ssm-session-manager')"], project)
  const baselineMs = timeNode(["-e", ""], project)
  // the bin as package.json names it (the bundle and its launcher), and the plugin entry install-plugin runs
  const cli = Path.join(modules, "ssm-session-manager", pkg.bin["ssm-session-manager"] as string)
  const versionMs = timeNode([cli, "--version"], project)
  const pluginMs = timeNode([Path.join(Path.dirname(cli), "sessionManagerPlugin.js"), "--version"], project)
  const files = Number(run(`find ${modules} -type f | wc -l`, project).trim())
  console.log(
    `installed: ${(bytes / 1e6).toFixed(1)} MB of files (apparent size, du -sb), ${(diskBytes / 1e6).toFixed(1)} MB on disk ` +
      `(du -sk) in ${files} files, ${packages} packages; copies of effect: ${effects.length}`
  )
  console.log(`bins: ${bins.join(", ")}`)
  console.log(`packages with install scripts: ${withScripts.length === 0 ? "none" : withScripts.join(", ")}`)
  console.log(`import the barrel: ${importMs.toFixed(0)} ms (node alone: ${baselineMs.toFixed(0)} ms)`)
  console.log(`ssm-session-manager --version: ${versionMs.toFixed(0)} ms; the plugin's --version: ${pluginMs.toFixed(0)} ms`)
} finally {
  Fs.rmSync(dir, { recursive: true, force: true })
}
