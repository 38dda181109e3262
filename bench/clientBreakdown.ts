/**
 * bench/client.ts's memory breakdown (`SSM_BENCH_BREAKDOWN=1`): our client's processes run with
 * `bench/memorySampler.cjs`, each writing its samples (every 50 ms) to a file of its own; the workloads note the
 * wall-clock bounds of what they measure (`Window`), and this cuts the samples at those bounds: the peaks of
 * `process.memoryUsage()` and of V8's spaces, and the collections (minor, major, their milliseconds, the longest
 * pause) in the window. A peak is the highest 50 ms sample, so it can miss a spike between two samples (the
 * client's peak RSS from /proc, VmHWM, does not).
 */
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as Url from "node:url"

/** Whether this run samples our client's memory. */
export const BREAKDOWN = process.env["SSM_BENCH_BREAKDOWN"] !== undefined && process.env["SSM_BENCH_BREAKDOWN"] !== "0"

/** The sampler, for `--require`. */
export const SAMPLER = Path.join(Path.dirname(Url.fileURLToPath(import.meta.url)), "memorySampler.cjs")

/** One line of a samples file (sizes in KiB; `gc`: the collections since the previous line). */
interface Sample {
  readonly wall: number
  readonly rss: number
  readonly heapTotal: number
  readonly heapUsed: number
  readonly external: number
  readonly arrayBuffers: number
  readonly oldSpace: number
  readonly newSpace: number
  readonly codeSpace: number
  readonly largeObjectSpace: number
  readonly gc: {
    readonly minor: number
    readonly major: number
    readonly minorMs: number
    readonly majorMs: number
    readonly otherMs: number
    readonly maxMs: number
  }
}

/** What one process's samples file says between two instants (`Date.now()`). */
export interface Window {
  readonly file: string
  readonly from: number
  readonly to: number
}

const PEAKS = [
  ["rss", "RSS"],
  ["heapTotal", "V8 heap total"],
  ["heapUsed", "V8 heap used"],
  ["external", "external"],
  ["arrayBuffers", "of which ArrayBuffers"],
  ["oldSpace", "old space"],
  ["newSpace", "new space (young generation)"],
  ["codeSpace", "code space"],
  ["largeObjectSpace", "large object spaces (old and new)"]
] as const satisfies ReadonlyArray<readonly [keyof Sample, string]>

type Peak = typeof PEAKS[number][0]

/** A workload's figures, over its windows (one per round). */
export interface Breakdown {
  readonly rounds: number
  /** MiB, the highest of any round */
  readonly peaks: Readonly<Record<Peak, number>>
  /** per round (the mean of the rounds) */
  readonly minor: number
  readonly major: number
  readonly gcMs: number
  /** the longest of any round */
  readonly maxPauseMs: number
}

const read = (file: string): ReadonlyArray<Sample> =>
  Fs.existsSync(file)
    ? Fs.readFileSync(file, "utf8").split("\n").filter((line) => line !== "").map((line) => JSON.parse(line) as Sample)
    : []

/**
 * The samples of a window: those taken in it, and the first one after it (its collections happened partly in
 * the window; the process lives on a little after a workload for it, see `start`).
 */
const cut = (samples: ReadonlyArray<Sample>, window: Window): ReadonlyArray<Sample> =>
  samples.filter((sample, i) => sample.wall > window.from && (sample.wall <= window.to || (samples[i - 1]?.wall ?? 0) < window.to))

/** The breakdown of `windows` (rounds of one workload); none when no samples fell in them. */
export const summarise = (windows: ReadonlyArray<Window>): Breakdown | undefined => {
  const rounds = windows.map((window) => cut(read(window.file), window)).filter((samples) => samples.length > 0)
  if (rounds.length === 0) return undefined
  const all = rounds.flat()
  const sum = (pick: (sample: Sample) => number) => all.reduce((total, sample) => total + pick(sample), 0) / rounds.length
  const peaks = Object.fromEntries(PEAKS.map(([field]) => [field, Math.max(...all.map((sample) => sample[field])) / 1024]))
  return {
    rounds: rounds.length,
    peaks: peaks as Record<Peak, number>,
    minor: sum((sample) => sample.gc.minor),
    major: sum((sample) => sample.gc.major),
    gcMs: sum((sample) => sample.gc.minorMs + sample.gc.majorMs + sample.gc.otherMs),
    maxPauseMs: Math.max(...all.map((sample) => sample.gc.maxMs))
  }
}

/** The windows bench/client.ts notes for our client, by workload. */
export interface Windows {
  readonly download: Array<Window>
  readonly many: Array<Window>
  readonly roundTrip: Array<Window>
  readonly idle: Array<Window>
}

/** no windows yet, for each workload */
export const emptyWindows = (): Windows => ({ download: [], many: [], roundTrip: [], idle: [] })

/**
 * The breakdown as a markdown table: a column a workload, a row a figure; and, for the round trips, the
 * scavenges per 1000 of them.
 */
export const breakdownTable = (
  windows: Windows,
  names: { readonly download: string; readonly many: string; readonly roundTrip: string; readonly idle: string },
  roundTrips: number
): string => {
  const columns = (["download", "many", "roundTrip", "idle"] as const).map((key) => ({
    name: names[key],
    breakdown: summarise(windows[key])
  }))
  const cell = (pick: (breakdown: Breakdown) => number, digits: number) =>
    columns.map(({ breakdown }) => breakdown === undefined ? "n/a" : pick(breakdown).toFixed(digits))
  const line = (name: string, cells: ReadonlyArray<string>) => `| ${name} | ${cells.join(" | ")} |`
  const roundTrip = columns[2]!.breakdown
  return [
    line(
      "our client (sampled every 50 ms)",
      columns.map(({ breakdown, name }) => breakdown === undefined || breakdown.rounds === 1 ? name : `${name} (${breakdown.rounds} rounds)`)
    ),
    `|---|${columns.map(() => "---:").join("|")}|`,
    ...PEAKS.map(([field, label]) => line(`peak ${label}, MiB`, cell((breakdown) => breakdown.peaks[field], 1))),
    line("minor GCs (scavenges) per round", cell((breakdown) => breakdown.minor, 0)),
    line("major GCs (mark-compact) per round", cell((breakdown) => breakdown.major, 0)),
    line("GC time per round, ms", cell((breakdown) => breakdown.gcMs, 1)),
    line("longest GC pause, ms", cell((breakdown) => breakdown.maxPauseMs, 2)),
    line(
      "scavenges per 1000 round trips",
      columns.map((_, i) => i === 2 && roundTrip !== undefined ? (roundTrip.minor / roundTrips * 1000).toFixed(1) : "")
    )
  ].join("\n")
}
