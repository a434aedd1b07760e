/**
 * `npm run bench -- supervisor` (issue #3): crash-to-respawn latency of the supervisor against a
 * baseline in the same run: a shell `while` loop running the same child (`sh -c 'exit 1'`), each
 * side timing the interval between consecutive starts over the same number of cycles. Also the
 * supervising process's steady-state RSS, the process running with keel-init's Node flags. Last
 * line: one JSON object.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { initNodeEnv, initNodeFlags } from "../../images/src/build.ts"
import * as AppBuild from "../../tools/build/src/appBuild.ts"

const cycles = Number(process.env["KEEL_BENCH_CYCLES"] ?? 1000)
const percentile = (values: ReadonlyArray<number>, p: number) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
}

// Baseline: bash's $EPOCHREALTIME is a builtin, so timing costs no extra process.
const script = `i=0; while [ $i -le ${cycles} ]; do echo $EPOCHREALTIME; /bin/sh -c 'exit 1'; i=$((i+1)); done`
const stamps = execFileSync("bash", ["-c", script], { encoding: "utf8", maxBuffer: 64 << 20 }).trim().split("\n").map((s) => Number(s) * 1000)
const baseline = stamps.slice(1).map((t, i) => t - stamps[i]!)

// Measured as it ships: one esbuild bundle, like keel-init in the image.
// Inside the repository, so the bundle finds koffi (for posix_spawn) as keel-init finds it in the image.
const work = path.join(import.meta.dirname, "..", "..", "results", "bench-supervisor")
fs.rmSync(work, { recursive: true, force: true })
fs.mkdirSync(work, { recursive: true })
const child = path.join(work, "supervisor-child.js")
// With the options keel-init's own build gives keel-bundle (the built-ins it loads on first use).
const { options } = AppBuild.bundleArgs(path.join(import.meta.dirname, "..", "..", "apps", "init"))
execFileSync(process.execPath, [path.join(import.meta.dirname, "..", "..", "tools", "build", "src", "bundle.ts"), path.join(import.meta.dirname, "supervisor-child.ts"), child, ...options], { stdio: "ignore" })
// With the flags and environment keel-init runs with in the image.
const output = execFileSync(process.execPath, ["--expose-gc", ...initNodeFlags, child, String(cycles)], { encoding: "utf8", maxBuffer: 64 << 20, env: initNodeEnv })
const ours = JSON.parse(output.trim().split("\n").pop()!) as { intervals: Array<number>; settlingRss: number; rss: number }

const round = (n: number, digits = 3) => Number(n.toFixed(digits))
const figures = {
  cycles,
  baseline_p50_ms: round(percentile(baseline, 50)),
  baseline_p99_ms: round(percentile(baseline, 99)),
  respawn_p50_ms: round(percentile(ours.intervals, 50)),
  respawn_p99_ms: round(percentile(ours.intervals, 99)),
  respawn_p99_ratio: round(percentile(ours.intervals, 99) / percentile(baseline, 99), 2),
  init_rss_mb: round(ours.rss / (1 << 20), 1),
  settling_rss_mb: round(ours.settlingRss / (1 << 20), 1)
}
console.log(`baseline (shell while loop): p50 ${figures.baseline_p50_ms} ms, p99 ${figures.baseline_p99_ms} ms`)
console.log(`supervisor:                  p50 ${figures.respawn_p50_ms} ms, p99 ${figures.respawn_p99_ms} ms`)
console.log(`supervising process RSS with three services: ${figures.settling_rss_mb} MB 3.5 s after the loop, ${figures.init_rss_mb} MB settled (target: under 60)`)
console.log(JSON.stringify({ respawn_p99_ratio: figures.respawn_p99_ratio, init_rss_mb: figures.init_rss_mb }))
