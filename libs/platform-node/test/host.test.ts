/**
 * The real layers against the real kernel. Anything that would touch the host runs in its own
 * namespace (unshare): reboot(2) as PID 1 of a PID namespace, mount(2) in a mount namespace,
 * sethostname(2) in a UTS namespace.
 */
import { execFileSync, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { Effect, Exit, Layer, Stream } from "effect"
import { BootControl, EnvBlock } from "@keelos/boot"
import { BlockDevice, FilesystemSignature, KernelLog } from "@keelos/platform"
import * as NodeBlockDevices from "../src/NodeBlockDevices.ts"
import * as NodeBootEnvBlock from "../src/NodeBootEnvBlock.ts"
import * as NodeKernel from "../src/NodeKernel.ts"
import * as NodeKernelLog from "../src/NodeKernelLog.ts"
import { libc } from "../src/internal/libc.ts"
import { parseMounts } from "../src/NodeMounts.ts"
import { parseStat } from "../src/NodeReaper.ts"

const fixture = (name: string) => path.join(import.meta.dirname, "fixtures", name)
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), "keel-node-"))
const unshare = (flags: ReadonlyArray<string>, script: string, ...args: Array<string>) =>
  spawnSync("unshare", [...flags, process.execPath, fixture(script), ...args], { encoding: "utf8", timeout: 30_000 })
const lastJson = (stdout: string) => JSON.parse(stdout.trim().split("\n").pop()!)

describe("NodeBootEnvBlock with BootControl", () => {
  const grub = (file: string, ...args: Array<string>) => spawnSync("grub-editenv", [file, ...args], { encoding: "utf8" })

  it("rewrites a grub-editenv block in place, readable by grub-editenv", async () => {
    const file = path.join(tmp(), "grubenv")
    expect(grub(file, "create").status).toBe(0)
    expect(grub(file, "set", "KEEL_ACTIVE=A", "other=kept").status).toBe(0)
    const inode = fs.statSync(file).ino
    const env = await Effect.runPromise(
      Effect.flatMap(BootControl.BootControl, (c) => c.activate("B")).pipe(
        Effect.provide(BootControl.BootControl.layer.pipe(Layer.provide(NodeBootEnvBlock.layer(file))))
      )
    )
    expect(env).toMatchObject({ active: "A", next: "B", tries: 3 })
    expect(grub(file, "list").stdout).toBe("KEEL_ACTIVE=A\nother=kept\nKEEL_NEXT=B\nKEEL_TRIES=3\n")
    expect(fs.statSync(file).ino).toBe(inode)
    expect(fs.statSync(file).size).toBe(EnvBlock.blockSize)
  })

  it("refuses a missing or wrong-size file with a typed error", async () => {
    const dir = tmp()
    const missing = await Effect.runPromise(Effect.flip(NodeBootEnvBlock.make(path.join(dir, "none")).read))
    expect(missing).toMatchObject({ _tag: "BootEnvBlockError", reason: "NotFound" })
    fs.writeFileSync(path.join(dir, "short"), "# GRUB Environment Block\n")
    const short = await Effect.runPromise(Effect.flip(NodeBootEnvBlock.make(path.join(dir, "short")).read))
    expect(short).toMatchObject({ reason: "WrongSize" })
    const write = await Effect.runPromise(Effect.flip(NodeBootEnvBlock.make(path.join(dir, "short")).write(EnvBlock.create())))
    expect(write).toMatchObject({ reason: "WrongSize" })
    expect(fs.statSync(path.join(dir, "short")).size).toBe(25)
  })
})

describe("NodeBlockDevices", () => {
  it("writes, syncs and reads back a partition image, and refuses out-of-range access", async () => {
    const file = path.join(tmp(), "slot-b.img")
    fs.writeFileSync(file, Buffer.alloc(1 << 20))
    const data = new Uint8Array(300_000).map((_, i) => (i * 7) & 0xff)
    const program = Effect.scoped(Effect.gen(function*() {
      const device = yield* (yield* BlockDevice.BlockDevices).open("KEELOS_ROOT_B")
      yield* device.write(4096, data)
      yield* device.sync
      const back = yield* device.read(4096, data.length)
      const beyond = yield* Effect.flip(device.write(device.sizeBytes - 10, new Uint8Array(20)))
      return { size: device.sizeBytes, same: Buffer.from(back).equals(Buffer.from(data)), beyond: beyond.reason }
    }))
    const result = await Effect.runPromise(program.pipe(Effect.provide(NodeBlockDevices.layerFromPaths({ KEELOS_ROOT_B: file }))))
    expect(result).toEqual({ size: 1 << 20, same: true, beyond: "OutOfRange" })
    expect(fs.readFileSync(file).subarray(4096, 4096 + data.length).equals(Buffer.from(data))).toBe(true)
    const unknown = await Effect.runPromiseExit(Effect.scoped(Effect.flatMap(BlockDevice.BlockDevices, (d) => d.open("KEELOS_DATA"))).pipe(
      Effect.provide(NodeBlockDevices.layerFromPaths({ KEELOS_ROOT_B: file }))
    ))
    expect(Exit.isFailure(unknown)).toBe(true)
  })

  it("drops a synced range from the page cache (fincore reads the residency back)", async () => {
    // On a disk filesystem: tmpfs pages are the storage itself and cannot be dropped.
    const file = path.join(fs.mkdtempSync("/var/tmp/keel-node-"), "slot")
    fs.writeFileSync(file, Buffer.alloc(4 << 20, 7))
    const resident = () => Number(execFileSync("fincore", ["--bytes", "--noheadings", "--output", "RES", file], { encoding: "utf8" }).trim())
    await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const device = yield* (yield* BlockDevice.BlockDevices).open("KEELOS_ROOT_B")
      yield* device.write(0, new Uint8Array(4 << 20).fill(9))
      yield* device.sync
      yield* device.read(0, 4 << 20)
      expect(resident()).toBe(4 << 20)
      yield* device.dropCache(0, 2 << 20)
      expect(resident()).toBe(2 << 20)
    })).pipe(Effect.provide(NodeBlockDevices.layerFromPaths({ KEELOS_ROOT_B: file }))))
    fs.rmSync(path.dirname(file), { recursive: true, force: true })
  })

  it("finds a partition by GPT label in sysfs", async () => {
    const sysfs = tmp()
    for (const [name, label, sectors] of [["vda", undefined, 100], ["vda3", "KEELOS_ROOT_A", 8], ["vda4", "KEELOS_ROOT_B", 16]] as const) {
      fs.mkdirSync(path.join(sysfs, name))
      fs.writeFileSync(path.join(sysfs, name, "uevent"), `MAJOR=254\nDEVNAME=${name}\nDEVTYPE=partition\n${label ? `PARTNAME=${label}\n` : ""}`)
      fs.writeFileSync(path.join(sysfs, name, "size"), `${sectors}\n`)
    }
    expect(await NodeBlockDevices.findByLabel("KEELOS_ROOT_B", sysfs)).toEqual({ device: "/dev/vda4", sizeBytes: 16 * 512 })
    expect(await NodeBlockDevices.findByLabel("KEELOS_DATA", sysfs)).toBeUndefined()
  })
})

describe("syscalls through koffi, each in its own namespace", () => {
  it("reboot(2) as PID 1 ends the PID namespace with SIGHUP; poweroff with SIGINT", () => {
    const reboot = unshare(["--pid", "--fork", "--mount-proc"], "reboot-in-pid-namespace.ts", "reboot")
    expect(reboot.stdout).toContain("pid 1 calling reboot")
    expect(reboot.stdout).not.toContain("still running")
    expect(reboot.signal ?? reboot.status).toSatisfy((s: unknown) => s === "SIGHUP" || s === 129)
    const poweroff = unshare(["--pid", "--fork", "--mount-proc"], "reboot-in-pid-namespace.ts", "poweroff")
    expect(poweroff.signal ?? poweroff.status).toSatisfy((s: unknown) => s === "SIGINT" || s === 130)
  })

  it("mounts and unmounts a tmpfs, and maps a failing mount to a typed reason", () => {
    const target = tmp()
    const result = unshare(["--mount", "--propagation", "private"], "mount-in-namespace.ts", target)
    expect(result.stderr).toBe("")
    expect(lastJson(result.stdout)).toMatchObject({
      mounted: { source: "keeltest", target, fstype: "tmpfs" },
      failedReason: "NotFound",
      unmounted: true,
      probeGone: true
    })
  })

  it("sets the hostname", () => {
    const result = unshare(["--uts"], "hostname-in-namespace.ts")
    expect(lastJson(result.stdout)).toEqual({ hostname: "keel-node-7", tooLong: "Invalid" })
    expect(os.hostname()).not.toBe("keel-node-7")
  })

  it("brings loopback up in a fresh network namespace, and names a missing link", () => {
    const result = unshare(["--net"], "loopback-in-namespace.ts")
    expect(lastJson(result.stdout)).toEqual({ before: "error ENETUNREACH", after: "ping", missing: "NotFound" })
  })

  it("adds and removes addresses, routes and links over rtnetlink, as iproute2 reads them back", () => {
    const result = unshare(["--net"], "netlink-in-namespace.ts")
    expect(result.stderr).toBe("")
    expect(lastJson(result.stdout)).toEqual({
      // v0 has no IPv6 address: without a carrier (v1 is down) the kernel makes no link-local one.
      ours: ["10.9.8.7/24", "192.168.50.1/16"],
      addresses: ["10.9.8.7/24", "192.168.50.1/16"],
      routes: ["default via 10.9.8.1 proto static", "172.16.0.0/12 via 10.9.8.254 proto static"],
      listed: ["lo - down 65536", "v0 veth up 1500", "v1 veth down 1500"],
      ourRoutes: ["0.0.0.0/0 via 10.9.8.1 dev v0", "172.16.0.0/12 via 10.9.8.254 dev v0"],
      // v1 is down and has no address: the kernel refuses a gateway it cannot reach.
      errors: ["addAddress:NotFound", "addAddress:Invalid", "addRoute:Io"],
      afterRemoval: { addresses: ["10.9.8.7"], routes: ["default", "10.9.8.0/24"] },
      // Deleting one end of a veth pair deletes both.
      remaining: ["lo"]
    })
  })

  it("reaps an orphaned grandchild without stealing the exit of Node's own child", () => {
    const result = spawnSync(process.execPath, [fixture("reap-orphans.ts")], { encoding: "utf8", timeout: 30_000 })
    const out = lastJson(result.stdout)
    expect(out.shellExit).toBe(7)
    expect(out.reaped).toEqual([{ pid: out.orphan, status: 0 }])
    expect(out.again).toEqual([])
  })
})

describe("NodeKernel.prefetch", () => {
  /** Bytes of `file` in the page cache (fincore, util-linux). */
  const resident = (file: string) => Number(execFileSync("fincore", ["--bytes", "--noheadings", "--output", "RES", file], { encoding: "utf8" }).trim())

  it("reads a file into the page cache, off the event loop; a missing file is NotFound", async () => {
    // On the repository's disk, not /tmp: a tmpfs cannot drop what it holds.
    const results = path.join(import.meta.dirname, "..", "..", "..", "results")
    fs.mkdirSync(results, { recursive: true })
    const dir = fs.mkdtempSync(path.join(results, "prefetch-"))
    const file = path.join(dir, "blob")
    const size = 8 << 20
    fs.writeFileSync(file, Buffer.alloc(size, 7))
    const fd = fs.openSync(file, "r")
    fs.fsyncSync(fd)
    expect(libc().posixFadvise(fd, 0, 0, 4)).toBe(0) // POSIX_FADV_DONTNEED: out of the cache
    fs.closeSync(fd)
    expect(resident(file)).toBeLessThan(size / 2)
    await Effect.runPromise(NodeKernel.make().prefetch(file))
    expect(resident(file)).toBe(size)
    const missing = await Effect.runPromiseExit(NodeKernel.make().prefetch(path.join(dir, "missing")))
    expect(Exit.isFailure(missing) && JSON.stringify(missing.cause)).toContain("NotFound")
    fs.rmSync(dir, { recursive: true, force: true })
  })
})

describe("filesystem signatures of real tools' output", () => {
  const image = (make: ReadonlyArray<string> | undefined, size = 4 << 20) => {
    const file = path.join(tmp(), "part.img")
    fs.writeFileSync(file, Buffer.alloc(size))
    if (make !== undefined) {
      const result = spawnSync(make[0]!, [...make.slice(1), file], { encoding: "utf8" })
      if (result.status !== 0) throw new Error(`${make.join(" ")}: ${result.stderr}`)
    }
    const fd = fs.openSync(file, "r")
    const bytes = Buffer.alloc(FilesystemSignature.probeBytes)
    fs.readSync(fd, bytes, 0, bytes.length, 0)
    fs.closeSync(fd)
    return FilesystemSignature.detect(bytes)
  }
  it.each([
    [undefined, "empty"],
    [["mkfs.ext4", "-q", "-F", "-L", "KEELOS_DATA"], "ext"],
    [["mkfs.vfat"], "vfat"],
    [["mkswap"], "swap"]
  ] as const)("%s is %s", (make, expected) => {
    expect(image(make)).toBe(expected)
  })
  it("calls anything else unknown, never empty", () => {
    const bytes = new Uint8Array(FilesystemSignature.probeBytes)
    bytes[100_000] = 1
    expect(FilesystemSignature.detect(bytes)).toBe("unknown")
  })
})

describe("parsers", () => {
  it("reads /proc/<pid>/stat with a hostile comm", () => {
    expect(parseStat("1234 (a) b (Z c) Z 1 1234 1234 0")).toEqual({ pid: 1234, state: "Z", ppid: 1 })
  })
  it("reads /proc/self/mounts with escaped spaces", () => {
    expect(parseMounts("/dev/vda4 /var/lib/keel ext4 rw,relatime 0 0\nnone /run/a\\040b tmpfs rw 0 0\n")).toEqual([
      { source: "/dev/vda4", target: "/var/lib/keel", fstype: "ext4", options: ["rw", "relatime"] },
      { source: "none", target: "/run/a b", fstype: "tmpfs", options: ["rw"] }
    ])
  })
})

describe("NodeKernelLog", () => {
  it("dumps the ring buffer in order, and follows a record written now", async () => {
    const log = NodeKernelLog.make()
    const dump = await Effect.runPromise(Stream.runCollect(log.records({ follow: false })))
    expect(dump.length).toBeGreaterThan(0)
    expect(dump.every((r, i) => i === 0 || r.sequence > dump[i - 1]!.sequence)).toBe(true)
    const marker = `keelos-kmsg-test-${process.pid}-${dump.length}`
    const found = Effect.runPromise(
      log.records({ follow: true }).pipe(Stream.filter((r) => r.message.includes(marker)), Stream.take(1), Stream.runCollect, Effect.timeout("10 seconds"))
    )
    await new Promise((r) => setTimeout(r, 300))
    fs.writeFileSync("/dev/kmsg", `<5>${marker}\n`)
    const [record] = await found
    expect(record).toMatchObject({ level: 5, message: expect.stringContaining(marker) })
  })

  it("parses the kmsg format and its escapes", () => {
    expect(KernelLog.parse("6,1234,5678901,-;virtio_net virtio0 eth0: renamed\\x20x\n SUBSYSTEM=net")).toEqual({
      sequence: 1234, level: 6, facility: 0, sinceBootMicros: 5678901, message: "virtio_net virtio0 eth0: renamed x"
    })
    expect(KernelLog.parse("garbage")).toBeUndefined()
  })
})
