/**
 * `npm run bench -- oci` (issue #6): pulling a 512 MiB release from a local registry (Debian's
 * docker-registry, plain HTTP on loopback) into a slot file the way a node does it (index,
 * signature, annotations, then the blob streamed with the SHA-256 on the way, periodic syncs and
 * a read-back), against `skopeo copy` of the same artifact into a local OCI layout in the same run
 * (which also verifies digests). `oci_pull_ratio` is skopeo's seconds divided by ours; RSS growth
 * is our process's peak over its idle size. Last line: one JSON object.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { startRegistry } from "@keelos/oci/testing"
import { publishOci } from "../../images/src/publish-oci.ts"
import { makeImage } from "./image.ts"

const sizeMb = Number(process.env["KEEL_BENCH_IMAGE_MB"] ?? 512)
const base = process.env["KEEL_BENCH_DIR"] ?? (fs.existsSync("/dev/shm") ? "/dev/shm" : os.tmpdir())
const work = fs.mkdtempSync(path.join(base, "keel-bench-oci-"))
const image = path.join(work, "os.img")
const slot = path.join(work, "slot")
const layout = path.join(work, "layout")
const trustedKeyFile = path.join(work, "trusted-key.json")

const { size } = makeImage(image, sizeMb)
fs.writeFileSync(slot, Buffer.alloc(0))
fs.truncateSync(slot, size + (64 << 20))
const registry = await startRegistry("http")

const round = (n: number, digits = 2) => Number(n.toFixed(digits))

try {
  const pushStarted = performance.now()
  const { key } = await publishOci({
    osImage: image, version: "1.0.0", to: `oci+http://${registry.host}/keelos/bench:1.0.0`, extraTags: [], channel: "stable", arch: "amd64",
    minCompatibleVersion: "0.0.1", expiresDays: 1, notes: "bench", nowMillis: Date.now()
  })
  const pushSeconds = (performance.now() - pushStarted) / 1000
  fs.writeFileSync(trustedKeyFile, JSON.stringify({ id: key.id, development: key.development, publicKey: key.publicKey }))

  const timeSkopeo = () => {
    fs.rmSync(layout, { recursive: true, force: true })
    const started = performance.now()
    execFileSync("skopeo", ["--insecure-policy", "copy", "--quiet", "--all", "--src-tls-verify=false", `docker://${registry.host}/keelos/bench:1.0.0`, `oci:${layout}:1.0.0`])
    return (performance.now() - started) / 1000
  }
  const timeOurs = () => {
    const child = path.join(import.meta.dirname, "install-child.ts")
    const output = execFileSync(process.execPath, [child, `oci+http://${registry.host}/keelos/bench:1.0.0`, slot], {
      encoding: "utf8",
      env: { ...process.env, KEEL_BENCH_TRUSTED_KEY: trustedKeyFile }
    })
    return JSON.parse(output.trim().split("\n").pop()!) as { seconds: number; rssGrowthMb: number }
  }

  // Alternate the sides and keep each one's best of two, so the page cache warms both alike.
  const skopeo = Math.min(timeSkopeo(), timeSkopeo())
  const runs = [timeOurs(), timeOurs()]
  const ours = runs.reduce((a, b) => (a.seconds <= b.seconds ? a : b))
  console.log(`artifact: ${sizeMb} MiB image in a local docker-registry (pushed by our client in ${round(pushSeconds)} s)`)
  console.log(`baseline (skopeo copy --all to an OCI layout):             ${round(skopeo)} s`)
  console.log(`node pull (resolve, verify, stream into a slot, read back): ${round(ours.seconds)} s, RSS growth ${round(ours.rssGrowthMb, 1)} MB`)
  console.log(JSON.stringify({ oci_pull_ratio: round(skopeo / ours.seconds), oci_pull_rss_growth_mb: round(Math.max(...runs.map((r) => r.rssGrowthMb)), 1) }))
} finally {
  await registry.stop()
  fs.rmSync(work, { recursive: true, force: true })
}
