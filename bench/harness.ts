/**
 * A tiny benchmark harness: warm up, run a few timed rounds, report the median.
 */

export interface Rate {
  readonly name: string
  /** operations per second */
  readonly opsPerSecond: number
  /** payload MB/s (10^6 bytes), when a byte count per operation is given */
  readonly mbPerSecond?: number
}

const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]!
}

/** Runs `body(iterations)` for about `seconds`, `rounds` times after a warm-up, and reports the median rate. */
export const measure = (
  name: string,
  body: (iterations: number) => void,
  options: { readonly bytesPerOp?: number; readonly rounds?: number; readonly seconds?: number } = {}
): Rate => {
  const seconds = options.seconds ?? 0.5
  let iterations = 1000
  // calibrate and warm up
  for (;;) {
    const start = performance.now()
    body(iterations)
    const elapsed = (performance.now() - start) / 1000
    if (elapsed > seconds / 4) {
      iterations = Math.max(1, Math.round(iterations * seconds / elapsed))
      break
    }
    iterations *= 4
  }
  const rates: Array<number> = []
  for (let round = 0; round < (options.rounds ?? 5); round++) {
    const start = performance.now()
    body(iterations)
    rates.push(iterations / ((performance.now() - start) / 1000))
  }
  const opsPerSecond = median(rates)
  return options.bytesPerOp === undefined
    ? { name, opsPerSecond }
    : { name, opsPerSecond, mbPerSecond: (opsPerSecond * options.bytesPerOp) / 1e6 }
}

export const formatRate = (rate: Rate): string =>
  `${rate.name.padEnd(44)} ${Math.round(rate.opsPerSecond).toLocaleString("en-US").padStart(12)} ops/s` +
  (rate.mbPerSecond === undefined ? "" : `  ${rate.mbPerSecond.toFixed(1).padStart(8)} MB/s`)

/** One row of the README table. */
export interface Row {
  readonly group: string
  readonly name: string
  readonly value: string
  readonly ceiling?: string
  readonly ratio?: number
}

export const printTable = (rows: ReadonlyArray<Row>): void => {
  console.log("\n| group | measurement | figure | raw ceiling (same run) | ratio |")
  console.log("|---|---|---:|---:|---:|")
  for (const row of rows) {
    console.log(
      `| ${row.group} | ${row.name} | ${row.value} | ${row.ceiling ?? ""} | ${
        row.ratio === undefined ? "" : `${row.ratio.toFixed(2)}x`
      } |`
    )
  }
}
