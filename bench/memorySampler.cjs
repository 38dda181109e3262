/**
 * Loaded into our client with `--require` by bench/client.ts under `SSM_BENCH_BREAKDOWN`: every 50 ms, appends a
 * JSON line to the file `SSM_BENCH_SAMPLES` names, with the wall clock (`Date.now()`, so that the bench can cut
 * the samples at its workloads' bounds), `process.memoryUsage()` and the sizes of V8's old, new, code and large
 * object spaces (KiB), and the collections since the previous line from a PerformanceObserver on "gc" entries:
 * minor ones (scavenges, and V8's minor mark-sweep), major ones (mark-compact), the others (incremental marking
 * steps, weak callbacks), their milliseconds and the longest pause. Its timer is unref'd: it never keeps the
 * process alive.
 */
"use strict"
const Fs = require("node:fs")
const V8 = require("node:v8")
const { PerformanceObserver, constants } = require("node:perf_hooks")

const file = process.env.SSM_BENCH_SAMPLES
if (file) {
  delete process.env.SSM_BENCH_SAMPLES
  const fd = Fs.openSync(file, "a")
  const fresh = () => ({ minor: 0, major: 0, other: 0, minorMs: 0, majorMs: 0, otherMs: 0, maxMs: 0 })
  let gc = fresh()
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = entry.detail?.kind
      if (kind === constants.NODE_PERFORMANCE_GC_MINOR || kind === constants.NODE_PERFORMANCE_GC_MINOR_MARK_SWEEP) {
        gc.minor++
        gc.minorMs += entry.duration
      } else if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) {
        gc.major++
        gc.majorMs += entry.duration
      } else {
        gc.other++
        gc.otherMs += entry.duration
      }
      gc.maxMs = Math.max(gc.maxMs, entry.duration)
    }
  }).observe({ entryTypes: ["gc"] })
  const kib = (bytes) => Math.round(bytes / 1024)
  setInterval(() => {
    const memory = process.memoryUsage()
    const spaces = {}
    for (const space of V8.getHeapSpaceStatistics()) spaces[space.space_name] = space.space_size
    Fs.writeSync(fd, JSON.stringify({
      pid: process.pid,
      wall: Date.now(),
      rss: kib(memory.rss),
      heapTotal: kib(memory.heapTotal),
      heapUsed: kib(memory.heapUsed),
      external: kib(memory.external),
      arrayBuffers: kib(memory.arrayBuffers),
      oldSpace: kib(spaces.old_space ?? 0),
      newSpace: kib(spaces.new_space ?? 0),
      codeSpace: kib(spaces.code_space ?? 0),
      largeObjectSpace: kib((spaces.large_object_space ?? 0) + (spaces.new_large_object_space ?? 0)),
      gc
    }) + "\n")
    gc = fresh()
  }, 50).unref()
}
