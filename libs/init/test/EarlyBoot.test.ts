import { assert, describe, it } from "@effect/vitest"
import { Clock, Console, Effect, Fiber, FileSystem, Layer } from "effect"
import { TestClock } from "effect/testing"
import { Kernel, Mounts } from "@keelos/platform"
import { SimDhcpSockets, SimHardware, SimLinks, SimVolumes } from "@keelos/platform-sim"
import * as ScriptedServer from "@keelos/network/testing"
import { FatImage } from "@keelos/provision"
import { EarlyBoot } from "../src/index.ts"

const config = { hostname: "node-1", modules: ["virtio_net", "missing_mod"], mkfs: "/sbin/mkfs.ext4" }

const harness = (
  dataContent?: Uint8Array,
  volumes: Record<string, Uint8Array> = {},
  options: {
    readonly cmdline?: ReadonlyArray<string>
    readonly dhcp?: ReturnType<typeof SimDhcpSockets.make>["layer"]
    /** How long loading one module takes (simulated time). */
    readonly moduleMillis?: number
  } = {}
) => {
  const hw = new SimHardware({ seed: 1, dataBytes: 4 << 20 })
  if (dataContent !== undefined) hw.disk.writeThrough("KEELOS_DATA", 0, dataContent)
  const mkfsRuns: Array<ReadonlyArray<string>> = []
  hw.processes.install("/sbin/mkfs.ext4", ({ args }) => {
    mkfsRuns.push(args)
    return { exitAfterMillis: 0, exitCode: 0 }
  })
  const mounted: Array<Mounts.MountRequest> = []
  /** Each mount's target and when it was made (simulated milliseconds). */
  const mountedAt: Array<readonly [string, number]> = []
  const calls: Array<string> = []
  const links = SimLinks.make(["lo", "eth0"])
  const layer = Layer.mergeAll(
    hw.layer(),
    Layer.succeed(Mounts.Mounts)({
      // stage 1 moved /dev, /proc, /sys and /run into the new root
      list: Effect.succeed(["/", "/dev", "/proc", "/sys", "/run"].map((target) => ({ source: "x", target, fstype: "x", options: [] }))),
      mount: (request) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) =>
          Effect.sync(() => {
            mounted.push(request)
            mountedAt.push([request.target, now])
          })),
      unmount: () => Effect.void
    }),
    Layer.succeed(Kernel.Kernel)({
      cmdline: Effect.succeed(options.cmdline ?? []),
      loadModule: (name) =>
        name === "missing_mod"
          ? Effect.fail(new Kernel.KernelError({ operation: "loadModule", target: name, reason: "NotFound", detail: "not in modules.dep" }))
          : name === "broken_mod"
          ? Effect.die(new Error("the FFI could not be loaded"))
          : Effect.andThen(Effect.sleep(options.moduleMillis ?? 0), Effect.sync(() => void calls.push(`module ${name}`))),
      setHostname: (name) => Effect.sync(() => void calls.push(`hostname ${name}`)),
      // Reading ahead takes 10 s, and a missing file fails.
      prefetch: (file) =>
        file === "/missing"
          ? Effect.fail(new Kernel.KernelError({ operation: "prefetch", target: file, reason: "NotFound", detail: "no such file" }))
          : Effect.andThen(Effect.sleep(10_000), Effect.sync(() => void calls.push(`prefetched ${file}`)))
    }),
    links.layer,
    options.dhcp ?? SimDhcpSockets.make().layer,
    SimVolumes.layer(volumes)
  )
  return { hw, layer, mounted, mountedAt, calls, mkfsRuns, links }
}

const ext4 = () => {
  const ext = new Uint8Array(2048)
  ext[1080] = 0x53
  ext[1081] = 0xef
  return ext
}

describe("early boot", () => {
  it.effect("mounts what stage 1 did not, loads modules, brings up loopback, names the node, formats an empty data partition", () =>
    Effect.gen(function*() {
      const h = harness()
      const { serviceModules: _, ...report } = yield* EarlyBoot.run(config).pipe(Effect.provide(h.layer))
      assert.deepStrictEqual(report, { mounted: ["/dev/pts", "/tmp", "/sys/fs/cgroup"], modulesFailed: ["missing_mod"], data: "formatted", esp: "mounted", network: "not configured", networkConfig: undefined, hostnameConfigured: false, seed: "none", boots: 1 })
      assert.sameMembers(h.calls, ["module virtio_net", "hostname node-1"])
      assert.deepStrictEqual(h.links.links.get("lo"), { up: true, addresses: [] })
      // the filesystem leaves the partition's last MiB to the format marker
      assert.deepStrictEqual(h.mkfsRuns, [["-q", "-F", "-b", "4096", "-L", "KEELOS_DATA", "/dev/disk/by-partlabel/KEELOS_DATA", String((h.hw.disk.sizeOf("KEELOS_DATA") - (1 << 20)) / 4096)]])
      const tail = h.hw.disk.read("KEELOS_DATA", h.hw.disk.sizeOf("KEELOS_DATA") - (1 << 20), 64)
      assert.isTrue(tail.every((b) => b === 0), "the marker is cleared after mkfs")
      assert.deepStrictEqual(h.mounted.map((m) => [m.target, m.fstype]), [
        ["/dev/pts", "devpts"], ["/tmp", "tmpfs"], ["/sys/fs/cgroup", "cgroup2"], ["/var/lib/keel", "ext4"], ["/run/keel/esp", "vfat"]
      ])
    }))

  it.effect("says in its closing line how long early boot took and where the time went", () =>
    Effect.gen(function*() {
      const h = harness(ext4(), {}, { moduleMillis: 250 })
      const lines: Array<string> = []
      const console: Console.Console = { ...globalThis.console, log: (...args) => void lines.push(args.join(" ")) }
      const fiber = yield* EarlyBoot.run({ ...config, modules: ["virtio_net", "softdog", "overlay"] }).pipe(
        Effect.provide(h.layer),
        Effect.provideService(Console.Console, console),
        Effect.forkChild
      )
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(fiber)
      const done = lines.find((line) => line.startsWith("keel-init: early boot done:"))
      assert.match(
        done ?? "",
        /; in 0\.75 s: mounts 0\.00 s, data partition 0\.00 s, boot count 0\.00 s, waiting for vfat 0\.00 s, ESP 0\.00 s, the rest of the modules 0\.75 s, seed 0\.00 s, network 0\.00 s \(3 modules in 0\.75 s alongside\)$/
      )
    }))

  it.effect("mounts the data partition while the modules load; the ESP waits for vfat and its code pages, the steps after it for every module", () =>
    Effect.gen(function*() {
      const h = harness(ext4(), {}, { moduleMillis: 250 })
      const fiber = yield* EarlyBoot.run({ ...config, modules: ["nls_cp437", "nls_ascii", "vfat", "virtio_net", "missing_mod"] }).pipe(Effect.provide(h.layer), Effect.forkChild)
      yield* TestClock.adjust("2 seconds")
      const report = yield* Fiber.join(fiber)
      assert.deepStrictEqual(h.mountedAt.filter(([target]) => target.startsWith("/var") || target.startsWith("/run/keel")), [["/var/lib/keel", 0], ["/run/keel/esp", 750]])
      assert.deepStrictEqual(report.modulesFailed, ["missing_mod"])
      assert.deepStrictEqual(h.calls.filter((c) => c.startsWith("module")), ["module nls_cp437", "module nls_ascii", "module vfat", "module virtio_net"])
    }))

  it.effect("leaves the service modules loading after the others: early boot ends without them, serviceModules waits for them", () =>
    Effect.gen(function*() {
      const h = harness(ext4(), {}, { moduleMillis: 250 })
      const lines: Array<string> = []
      const console: Console.Console = { ...globalThis.console, log: (...args) => void lines.push(args.join(" ")) }
      const run = EarlyBoot.run({ ...config, modules: ["virtio_net"], serviceModules: { modules: ["softdog", "missing_mod", "overlay"], notNeededBy: ["keel-agent"] } }).pipe(
        Effect.provide(h.layer),
        Effect.provideService(Console.Console, console)
      )
      const booting = yield* Effect.forkChild(run)
      yield* TestClock.adjust(250)
      const report = yield* Fiber.join(booting)
      assert.deepStrictEqual(report.modulesFailed, [])
      assert.deepStrictEqual(h.calls.filter((c) => c.startsWith("module")), ["module virtio_net"])
      const loaded = yield* Effect.forkChild(report.serviceModules)
      yield* TestClock.adjust(250)
      assert.isUndefined(loaded.pollUnsafe(), "overlay is still loading")
      yield* TestClock.adjust(250)
      yield* Fiber.join(loaded)
      assert.deepStrictEqual(h.calls.filter((c) => c.startsWith("module")), ["module virtio_net", "module softdog", "module overlay"])
      assert.include(lines, "keel-init: service modules: 2 of 3 loaded in 0.50 s alongside the first services")
      assert.isTrue(lines.some((line) => line.startsWith("keel-init: module missing_mod:")))
    }))

  it.effect("reads the prefetched files ahead without waiting for them, and says which could not be", () =>
    Effect.gen(function*() {
      const h = harness(ext4())
      const lines: Array<string> = []
      const console: Console.Console = { ...globalThis.console, log: (...args) => void lines.push(args.join(" ")) }
      const report = yield* EarlyBoot.run({ ...config, prefetch: ["/usr/lib/keel/keel-agent.blob", "/missing"] }).pipe(
        Effect.provide(h.layer),
        Effect.provideService(Console.Console, console)
      )
      assert.strictEqual(report.data, "mounted")
      assert.deepStrictEqual(h.calls.filter((c) => c.startsWith("prefetched")), [])
      yield* TestClock.adjust("10 seconds")
      assert.deepStrictEqual(h.calls.filter((c) => c.startsWith("prefetched")), ["prefetched /usr/lib/keel/keel-agent.blob"])
      assert.include(lines, "keel-init: prefetch /missing: NotFound: no such file")
    }))

  it.effect("a module whose loading dies is a failed module, not a boot that waits for it forever", () =>
    Effect.gen(function*() {
      const h = harness(ext4())
      const lines: Array<string> = []
      const console: Console.Console = { ...globalThis.console, log: (...args) => void lines.push(args.join(" ")) }
      const report = yield* EarlyBoot.run({ ...config, modules: ["broken_mod", "vfat"] }).pipe(Effect.provide(h.layer), Effect.provideService(Console.Console, console))
      assert.deepStrictEqual(report.modulesFailed, ["broken_mod"])
      assert.strictEqual(report.esp, "mounted")
      assert.include(lines, "keel-init: module broken_mod: the FFI could not be loaded")
    }))

  it.effect("mounts an existing ext4 data filesystem without formatting it", () =>
    Effect.gen(function*() {
      const ext = new Uint8Array(2048)
      ext[1080] = 0x53
      ext[1081] = 0xef
      const h = harness(ext)
      const report = yield* EarlyBoot.run(config).pipe(Effect.provide(h.layer))
      assert.strictEqual(report.data, "mounted")
      assert.deepStrictEqual(h.mkfsRuns, [])
      // the boot count lives on the data partition and goes up by one per boot
      assert.strictEqual(report.boots, 1)
      assert.strictEqual((yield* EarlyBoot.run(config).pipe(Effect.provide(h.layer))).boots, 2)
      assert.deepStrictEqual(h.mounted.slice(-2).map((m) => [m.target, m.fstype]), [["/var/lib/keel", "ext4"], ["/run/keel/esp", "vfat"]])
    }))

  it.effect("applies the static network on the data partition: link up, addresses, default route", () =>
    Effect.gen(function*() {
      const h = harness(ext4())
      const network = { interfaces: [{ name: "eth0", addresses: ["10.0.2.15/24"], gateway: "10.0.2.2" }] }
      const report = yield* Effect.gen(function*() {
        const fs = yield* FileSystem.FileSystem
        yield* fs.makeDirectory("/var/lib/keel/config", { recursive: true })
        yield* fs.writeFileString("/var/lib/keel/config/network.json", JSON.stringify(network))
        return yield* EarlyBoot.run(config)
      }).pipe(Effect.provide(h.layer))
      assert.strictEqual(report.network, "configured")
      assert.deepStrictEqual(h.links.links.get("eth0"), { up: true, addresses: ["10.0.2.15/24"] })
      assert.deepStrictEqual(h.links.routes, [{ destination: "0.0.0.0/0", gateway: "10.0.2.2", link: "eth0" }])
    }))

  it.effect("boots on when the network configuration is invalid or names a link that never appears", () =>
    Effect.gen(function*() {
      for (const [content, expected] of [
        ["{\"interfaces\": [{\"name\": \"eth0\", \"addresses\": [\"10.0.2.300/24\"]}]}", "failed"],
        ["{\"interfaces\": [{\"name\": \"eth9\", \"addresses\": [\"10.0.2.15/24\"]}]}", "failed"],
        ["{\"interfaces\": [{\"name\": \"eth0\", \"addresses\": [\"10.0.2.15/24\"], \"gateway\": \"10.1.0.1\"}]}", "failed"]
      ] as const) {
        const h = harness(ext4())
        const fiber = yield* Effect.gen(function*() {
          const fs = yield* FileSystem.FileSystem
          yield* fs.makeDirectory("/var/lib/keel/config", { recursive: true })
          yield* fs.writeFileString("/var/lib/keel/config/network.json", content)
          return yield* EarlyBoot.run(config)
        }).pipe(Effect.provide(h.layer), Effect.forkChild)
        yield* TestClock.adjust("10 seconds")
        const report = yield* Fiber.join(fiber)
        assert.strictEqual(report.network, expected)
        assert.strictEqual(report.data, "mounted")
      }
    }))

  it.effect("applies a NoCloud seed once: PKI, network and hostname on the data partition, then the network up", () =>
    Effect.gen(function*() {
      const files = {
        "meta-data": "instance-id: node-7\nlocal-hostname: node-7\n",
        "network-config": "version: 2\nethernets:\n  eth0:\n    dhcp4: true\n    addresses: [10.0.2.15/24]\n    gateway4: 10.0.2.2\n    nameservers:\n      addresses: [10.0.2.3]\n",
        "user-data": "#cloud-config\npackages: [htop]\nkeelos:\n  bootstrap_token: 0123456789abcdef0123456789abcdef\n"
      }
      const volume = FatImage.make("CIDATA", Object.entries(files).map(([name, text]) => ({ name, content: new TextEncoder().encode(text) })))
      const h = harness(ext4(), { "/dev/vdb": volume, "/dev/vda1": new Uint8Array(512) })
      const boot = Effect.gen(function*() {
        const fs = yield* FileSystem.FileSystem
        // The simulated mount records the request; the files a real vfat mount would show are put in place.
        yield* fs.makeDirectory("/run/keel/seed", { recursive: true })
        for (const [name, text] of Object.entries(files)) yield* fs.writeFileString(`/run/keel/seed/${name}`, text)
        const report = yield* EarlyBoot.run(config)
        const read = (file: string) => fs.readFileString(file).pipe(Effect.orElseSucceed(() => "absent"))
        return {
          report,
          token: yield* read("/var/lib/keel/config/bootstrap-token"),
          instance: yield* read("/var/lib/keel/config/instance-id"),
          network: yield* read("/var/lib/keel/config/network.json"),
          resolv: yield* read("/run/keel/resolv.conf")
        }
      }).pipe(Effect.provide(h.layer))
      const first = yield* boot
      assert.strictEqual(first.report.seed, "applied")
      assert.strictEqual(first.report.network, "configured")
      assert.strictEqual(first.token, "0123456789abcdef0123456789abcdef\n")
      assert.strictEqual(first.instance, "node-7\n")
      assert.deepStrictEqual(JSON.parse(first.network), { interfaces: [{ name: "eth0", dhcp4: true, addresses: ["10.0.2.15/24"], gateway: "10.0.2.2" }], nameservers: ["10.0.2.3"] })
      assert.deepStrictEqual(first.report.networkConfig, JSON.parse(first.network))
      assert.strictEqual(first.resolv, "# Written by keel-init from the machine config and DHCP leases.\nnameserver 10.0.2.3\n")
      assert.deepStrictEqual(h.links.links.get("eth0"), { up: true, addresses: ["10.0.2.15/24"] })
      assert.isTrue(h.calls.includes("hostname node-7"))
      assert.deepStrictEqual(h.mounted.find((m) => m.target === "/run/keel/seed"), { source: "/dev/vdb", target: "/run/keel/seed", fstype: "vfat", readOnly: true, flags: ["nosuid", "nodev", "noexec"] })
      assert.strictEqual((yield* boot).report.seed, "already applied")
    }))

  it.effect("takes a seed from an ISO 9660 volume labelled cidata (cloud-localds), mounted as iso9660", () =>
    Effect.gen(function*() {
      // The primary volume descriptor as genisoimage writes it (ECMA-119 §8.4): sector 16, type 1, CD001, version 1, volume id.
      const volume = new Uint8Array(40 * 2048)
      volume.set([1, ...new TextEncoder().encode("CD001"), 1], 16 * 2048)
      volume.set(new TextEncoder().encode("cidata".padEnd(32, " ")), 16 * 2048 + 40)
      const h = harness(ext4(), { "/dev/vda1": new Uint8Array(512), "/dev/sr0": volume })
      const report = yield* Effect.gen(function*() {
        const fs = yield* FileSystem.FileSystem
        yield* fs.makeDirectory("/run/keel/seed", { recursive: true })
        yield* fs.writeFileString("/run/keel/seed/meta-data", "instance-id: iso-1\nlocal-hostname: from-iso\n")
        return yield* EarlyBoot.run(config)
      }).pipe(Effect.provide(h.layer))
      assert.strictEqual(report.seed, "applied")
      assert.deepStrictEqual(h.mounted.find((m) => m.target === "/run/keel/seed"), { source: "/dev/sr0", target: "/run/keel/seed", fstype: "iso9660", readOnly: true, flags: ["nosuid", "nodev", "noexec"] })
      assert.isTrue(h.calls.includes("hostname from-iso"))
    }))

  it.effect("takes the meta-data from ds=nocloud on the kernel command line", () =>
    Effect.gen(function*() {
      const h = harness(ext4(), {}, { cmdline: ["console=ttyS0", "ds=nocloud;i=cmd-1;h=from-cmdline"] })
      const result = yield* Effect.gen(function*() {
        const report = yield* EarlyBoot.run(config)
        const fs = yield* FileSystem.FileSystem
        return { report, instance: yield* fs.readFileString("/var/lib/keel/config/instance-id") }
      }).pipe(Effect.provide(h.layer))
      assert.strictEqual(result.report.seed, "applied")
      assert.strictEqual(result.instance, "cmd-1\n")
      assert.isTrue(h.calls.includes("hostname from-cmdline"))
    }))

  it.effect("fetches a seed from ds=nocloud;s=http://… over a DHCP lease taken for the moment, then releases it", () =>
    Effect.gen(function*() {
      const server = ScriptedServer.make()
      const h = harness(ext4(), {}, { cmdline: ["ds=nocloud;s=http://10.0.2.2:8000/seeds/node-9/"], dhcp: server.layer })
      const requested: Array<string> = []
      const documents: Record<string, string> = {
        "meta-data": "instance-id: node-9\nlocal-hostname: node-9\n",
        "network-config": "version: 2\nethernets:\n  eth0:\n    addresses: [10.0.2.50/24]\n    gateway4: 10.0.2.2\n",
        "user-data": "#cloud-config\nkeelos:\n  bootstrap_token: 0123456789abcdef0123456789abcdef\n  update:\n    source: https://updates.example/stable/latest.json\n"
      }
      h.hw.network.serve("10.0.2.2:8000", (request) =>
        Effect.sync(() => {
          requested.push(request.url.pathname)
          const name = request.url.pathname.replace("/seeds/node-9/", "")
          const text = documents[name]
          return text === undefined ? { status: 404 } : { status: 200, body: new TextEncoder().encode(text) }
        }))
      const result = yield* Effect.gen(function*() {
        const report = yield* EarlyBoot.run(config)
        const fs = yield* FileSystem.FileSystem
        return { report, network: yield* fs.readFileString("/var/lib/keel/config/network.json"), update: yield* fs.readFileString("/var/lib/keel/config/update.json") }
      }).pipe(Effect.provide(h.layer))
      assert.strictEqual(result.report.seed, "applied")
      assert.deepStrictEqual(JSON.parse(result.update), { mode: "check", source: "https://updates.example/stable/latest.json", intervalMillis: 21_600_000, jitterMillis: 1_800_000, window: null })
      assert.deepStrictEqual(requested, ["/seeds/node-9/meta-data", "/seeds/node-9/network-config", "/seeds/node-9/user-data"])
      assert.deepStrictEqual(JSON.parse(result.network).interfaces, [{ name: "eth0", addresses: ["10.0.2.50/24"], gateway: "10.0.2.2" }])
      // The moment's lease was released and its address removed; the seed's static address is what the link has.
      assert.strictEqual(server.seen.at(-1)!.type, "RELEASE")
      assert.deepStrictEqual(h.links.links.get("eth0")!.addresses, ["10.0.2.50/24"])
      assert.isTrue(h.calls.includes("hostname node-9"))
    }))

  it.effect("boots on past a seed it cannot read, with the reason", () =>
    Effect.gen(function*() {
      const volume = FatImage.make("CIDATA", [{ name: "meta-data", content: new TextEncoder().encode("no-instance: here\n") }])
      const h = harness(ext4(), { "/dev/vdb": volume })
      const report = yield* Effect.gen(function*() {
        const fs = yield* FileSystem.FileSystem
        yield* fs.makeDirectory("/run/keel/seed", { recursive: true })
        yield* fs.writeFileString("/run/keel/seed/meta-data", "no-instance: here\n")
        return yield* EarlyBoot.run(config)
      }).pipe(Effect.provide(h.layer))
      assert.strictEqual(report.seed, "failed")
      assert.strictEqual(report.data, "mounted")
    }))

  it.effect("formats again when an earlier format was interrupted, whatever mkfs left behind", () =>
    Effect.gen(function*() {
      const h = harness(new Uint8Array(4096).fill(7))
      const size = h.hw.disk.sizeOf("KEELOS_DATA")
      h.hw.disk.writeThrough("KEELOS_DATA", size - (1 << 20), new TextEncoder().encode("KEELOS-FORMAT-IN-PROGRESS\n"))
      const report = yield* EarlyBoot.run(config).pipe(Effect.provide(h.layer))
      assert.strictEqual(report.data, "formatted")
      assert.strictEqual(h.mkfsRuns.length, 1)
    }))

  it.effect("a power cut during mkfs leaves the marker, so the next boot formats again", () =>
    Effect.gen(function*() {
      const h = harness()
      h.hw.processes.install("/sbin/mkfs.ext4", ({ args }) => {
        h.mkfsRuns.push(args)
        return {} // mkfs never finishes: the power goes first
      })
      const fiber = yield* Effect.forkChild(EarlyBoot.run(config).pipe(Effect.provide(h.layer)))
      for (let i = 0; i < 50; i++) yield* Effect.yieldNow
      assert.strictEqual(h.mkfsRuns.length, 1)
      yield* Fiber.interrupt(fiber)
      h.hw.crash()
      h.hw.powerOn()
      // mkfs had written part of a filesystem at the start of the partition before the cut
      const partialExt = new Uint8Array(2048)
      partialExt[1080] = 0x53
      partialExt[1081] = 0xef
      h.hw.disk.writeThrough("KEELOS_DATA", 0, partialExt)
      h.hw.processes.install("/sbin/mkfs.ext4", ({ args }) => {
        h.mkfsRuns.push(args)
        return { exitAfterMillis: 0 }
      })
      const report = yield* EarlyBoot.run(config).pipe(Effect.provide(h.layer))
      assert.strictEqual(report.data, "formatted")
      assert.strictEqual(h.mkfsRuns.length, 2)
    }))

  it.effect("refuses to format a data partition that holds anything, and says what to do", () =>
    Effect.gen(function*() {
      const garbage = new Uint8Array(4096).fill(7)
      const h = harness(garbage)
      const error = yield* Effect.flip(EarlyBoot.run(config).pipe(Effect.provide(h.layer)))
      assert.strictEqual(error._tag, "EarlyBootError")
      assert.strictEqual(error.step, "data")
      assert.include(error.message, "holds data of an unknown format, not ext4")
      assert.include(error.message, "Wipe it on purpose")
      assert.deepStrictEqual(h.mkfsRuns, [])
      assert.isFalse(h.mounted.some((m) => m.target === "/var/lib/keel"))
    }))
})
