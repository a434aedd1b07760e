/** osctl end to end: the bundled binary against real grubenv files. */
import { execFileSync, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { beforeAll, describe, expect, it } from "vitest"

const root = path.resolve(import.meta.dirname, "..")
const bundle = path.join(root, "dist", "osctl.js")
const osctl = (...args: Array<string>) => spawnSync(process.execPath, [bundle, ...args], { encoding: "utf8", timeout: 30_000 })

describe("osctl bootenv", () => {
  beforeAll(() => {
    execFileSync("npm", ["run", "build", "--silent"], { cwd: root, stdio: "ignore" })
  })

  it("explains a block on trial, as text and as JSON", () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "osctl-")), "grubenv")
    execFileSync("grub-editenv", [file, "create"])
    execFileSync("grub-editenv", [file, "set", "KEEL_ACTIVE=A", "KEEL_NEXT=B", "KEEL_TRIES=1"])
    const text = osctl("bootenv", "show", file)
    expect(text.status).toBe(0)
    expect(text.stdout).toContain("on trial         B (1 boots left)")
    expect(text.stdout).toContain("next boot        B: trial boot 3 of 3")
    const json = osctl("bootenv", "show", file, "-o", "json")
    expect(JSON.parse(json.stdout)).toMatchObject({ active: "A", next: "B", tries: 1, nextBoot: { slot: "B", trial: true } })
  })

  it("reports a corrupt block in one line, without a stack trace", () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "osctl-")), "grubenv")
    fs.writeFileSync(file, Buffer.alloc(1024, 0x41))
    const result = osctl("bootenv", "show", file)
    expect(result.status).toBe(1)
    expect(result.stderr.trim().split("\n")).toHaveLength(1)
    expect(result.stderr).toContain("BadSignature")
    expect(result.stderr).not.toMatch(/\bat .*\.(ts|js):\d+/)
    const missing = osctl("bootenv", "show", "/nonexistent/grubenv")
    expect(missing.status).toBe(1)
    expect(missing.stderr).toContain("NotFound")
  })

  it("refuses bad flags with usage and exit code 2", () => {
    const result = osctl("bootenv", "show", "x", "--output", "xml")
    expect(result.status).toBe(2)
  })

  it("prints the generated grub.cfg", () => {
    const result = osctl("bootenv", "grub-cfg")
    expect(result.stdout).toContain("function keel_choose {")
  })
})

describe("osctl image provision", () => {
  it("writes a NoCloud seed the node can read, warns about what it will not apply, and refuses a bad document with its line", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "osctl-seed-"))
    fs.writeFileSync(path.join(dir, "node.yaml"), [
      "meta-data:", "  instance-id: node-1", "  local-hostname: node-1",
      "network-config:", "  version: 2", "  ethernets:", "    eth0:", "      addresses: [10.0.2.15/24]", "      gateway4: 10.0.2.2",
      "user-data:", "  packages: [htop]", "  keelos:", "    bootstrap_token: 0123456789abcdef0123456789abcdef"
    ].join("\n"))
    const seed = path.join(dir, "seed.img")
    const result = osctl("image", "provision", "--config", path.join(dir, "node.yaml"), "--out", seed)
    expect(result.status).toBe(0)
    expect(result.stderr.trim()).toBe("warning: user-data, line 2: packages: KeelOS has no package manager; ignored")
    expect(execFileSync("mlabel", ["-i", seed, "-s", "::"], { encoding: "utf8" })).toContain("CIDATA")
    expect(execFileSync("mtype", ["-i", seed, "::meta-data"], { encoding: "utf8" })).toBe("instance-id: node-1\nlocal-hostname: node-1\n")
    expect(execFileSync("mtype", ["-i", seed, "::user-data"], { encoding: "utf8" })).toContain("bootstrap_token: 0123456789abcdef0123456789abcdef")
    fs.writeFileSync(path.join(dir, "bad.yaml"), "meta-data:\n  instance-id: n\nnetwork-config:\n  version: 2\n  ethernets:\n    eth0:\n      addresses: [10.0.2.300/24]\n")
    const bad = osctl("image", "provision", "--config", path.join(dir, "bad.yaml"), "--out", path.join(dir, "bad.img"))
    expect([bad.status, bad.stderr.trim()]).toEqual([1, "error: network-config, line 4: \"10.0.2.300/24\" is not an IPv4 address with a prefix length"])
    expect(fs.existsSync(path.join(dir, "bad.img"))).toBe(false)
  })
})

describe("osctl update progress lines", () => {
  it("say how far a download is, and on a delta install how much was not downloaded", async () => {
    const { progressLine } = await import("../src/commands/update.ts")
    const mb = 1024 * 1024
    expect(progressLine("n1", { phase: "downloading", bytes: 5 * mb, totalBytes: 10 * mb, version: "0.2.0" }, {})).toBe("n1: downloading 0.2.0 50% (5.2 MB of 10.5 MB)")
    expect(progressLine("n1", { phase: "downloading", bytes: 10 * mb, totalBytes: 10 * mb, version: "0.2.0", bytesSaved: 9 * mb }, {}))
      .toBe("n1: patching 0.2.0 100% (10.5 MB of 10.5 MB) through a delta, 9.4 MB not downloaded")
    const last = {}
    expect(progressLine("n1", { phase: "staged", bytes: 0, totalBytes: null, version: "0.2.0" }, last)).toBe("n1: staged 0.2.0")
    expect(progressLine("n1", { phase: "staged", bytes: 0, totalBytes: null, version: "0.2.0" }, last)).toBeUndefined()
  })
})

describe("osctl cluster (what it refuses before starting anything)", () => {
  const state = () => fs.mkdtempSync(path.join(os.tmpdir(), "osctl-clusters-"))
  const oneLine = (result: ReturnType<typeof osctl>) => {
    expect(result.stderr.trim().split("\n")).toHaveLength(1)
    expect(result.stderr).not.toMatch(/\bat .*\.(ts|js):\d+/)
    return result.stderr.trim()
  }

  it("refuses a bad count, name, subnet or port with exit code 2 and leaves nothing behind", () => {
    const dir = state()
    const cases: Array<[Array<string>, RegExp]> = [
      [["--nodes", "three"], /--nodes "three": on cluster create, how many nodes to make/],
      [["--nodes", "40"], /--nodes 40: between 1 and 32/],
      [["--name", "My_Lab"], /name "My_Lab": lowercase letters/],
      [["--subnet", "10.5.0.0/29", "--nodes", "3"], /--subnet 10.5.0.0\/29 has 6 addresses; 3 nodes need 13/],
      [["--base-port", "22"], /--base-port 22/]
    ]
    for (const [flags, reason] of cases) {
      const result = osctl("cluster", "create", "--state", dir, "--disk", "/nonexistent/disk.qcow2", ...flags)
      expect(result.status, flags.join(" ")).toBe(2)
      expect(oneLine(result)).toMatch(reason)
    }
    expect(fs.readdirSync(dir)).toEqual([])
  })

  it("names a missing disk image, and an image that is not a disk", () => {
    const dir = state()
    const missing = osctl("cluster", "create", "--state", dir, "--disk", "/nonexistent/disk.qcow2", "--firmware", "bios")
    expect(missing.status).toBe(1)
    expect(oneLine(missing)).toBe("error: cluster create: --disk /nonexistent/disk.qcow2: no such file (the image build writes .keelos/images/VERSION/disk.qcow2; npm start builds it)")
    const notes = path.join(dir, "notes.txt")
    fs.writeFileSync(notes, "not a disk\n".repeat(1000))
    const text = osctl("cluster", "create", "--state", dir, "--disk", notes, "--firmware", "bios")
    expect(text.status).toBe(1)
    expect(oneLine(text)).toBe(`error: cluster create: --disk ${notes}: no GPT partition table; give the image build's disk.qcow2 or disk.raw`)
    const broken = path.join(dir, "broken.qcow2")
    fs.writeFileSync(broken, Buffer.concat([Buffer.from("QFI\xfb", "latin1"), Buffer.alloc(4092, 0xff)]))
    const corrupt = osctl("cluster", "create", "--state", dir, "--disk", broken, "--firmware", "bios")
    expect(corrupt.status).toBe(1)
    expect(oneLine(corrupt)).toMatch(/^error: cluster create: --disk .*broken\.qcow2: not a disk image qemu-img can read \(exit 1: qemu-img: .*\)$/)
    expect(fs.readdirSync(dir).sort()).toEqual(["broken.qcow2", "notes.txt"])
  })

  it("shows no clusters in an empty state directory, and names a cluster that does not exist", () => {
    const dir = state()
    const empty = osctl("cluster", "show", "--state", dir)
    expect(empty.status).toBe(0)
    expect(empty.stdout.trim()).toBe(`no clusters in ${dir} (osctl cluster create makes one)`)
    expect(JSON.parse(osctl("cluster", "show", "--state", dir, "-o", "json").stdout)).toEqual([])
    const absent = osctl("cluster", "destroy", "--state", dir, "--name", "nope")
    expect(absent.status).toBe(1)
    expect(oneLine(absent)).toBe(`error: cluster load: no cluster nope in ${dir} (osctl cluster show lists them)`)
  })
})
