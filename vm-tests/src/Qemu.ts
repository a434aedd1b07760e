/**
 * The QEMU harness of the VM tests (issue #5). QEMU runs under TCG unless kvm_intel or kvm_amd is
 * loaded (the /dev/kvm of these machines is a paravirtual hypervisor stock kernels cannot use,
 * boot.md section 0); never skipped silently. The serial console is captured to a file under the
 * results folder and parsed into timestamped lines; markers are awaited with their own timeouts;
 * QMP does power cuts (`quit`) and resets. Each VM writes to a qcow2 overlay of the disk image.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as path from "node:path"

export const accelerator = (): "kvm" | "tcg" =>
  fs.existsSync("/sys/module/kvm_intel") || fs.existsSync("/sys/module/kvm_amd") ? "kvm" : "tcg"

/** How the VM starts: QEMU's direct kernel boot, or firmware (OVMF or SeaBIOS) booting the disk's GRUB. */
export type Boot =
  | { readonly _tag: "Direct"; readonly kernel: string; readonly initrd: string; readonly append: string }
  | { readonly _tag: "Uefi" }
  | { readonly _tag: "Bios" }

export const ovmf = "/usr/share/ovmf/OVMF.fd"

export interface VmOptions {
  readonly name: string
  readonly resultsDir: string
  /** A disk image the VM may write (an overlay, or a copy). */
  readonly disk: string
  readonly boot: Boot
  readonly memoryMb?: number
  /** Virtual CPUs (default 1; under TCG each runs on a host thread of its own). */
  readonly cpus?: number
  /**
   * Run QEMU in a process group of its own, so a Ctrl-C at the terminal reaches only the program
   * that started it (npm start powers the node off in order; QEMU would quit at once). That program
   * must then end QEMU itself.
   */
  readonly ownProcessGroup?: boolean
  /** More disks, read-only (a NoCloud seed volume): vdb, vdc, ... in this order. */
  readonly extraDisks?: ReadonlyArray<string>
  /** TCP ports forwarded from the host's loopback to the guest (QEMU user networking, guest 10.0.2.15). */
  readonly forwards?: ReadonlyArray<{ readonly host: number; readonly guest: number }>
  /** Let the guest reboot inside this QEMU process (default: QEMU exits when the guest reboots). */
  readonly rebootable?: boolean
  /**
   * Network cards on the user network (default 1): eth0 is nic0 with MAC 52:54:00:12:34:56, eth1
   * nic1 with ...:57, all on one emulated hub, so any of them reaches QEMU's DHCP server and the
   * forwarded ports (a bond can fail over between them).
   */
  readonly nics?: number
}

/** A TCP port on the host's loopback that nothing listens on now. */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = net.createServer()
    server.on("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
  })

export interface SerialLine {
  readonly atMs: number
  readonly text: string
}

/** mtools' view of the partition that starts at `offset` bytes into a raw disk image. */
export const partitionImage = (disk: string, offset: number) => `${disk}@@${offset}`

/** Byte offset of GPT partition `n` of a raw disk image. */
export const partitionOffset = (disk: string, n: number) =>
  Number(/First sector: (\d+)/.exec(execFileSync("sgdisk", ["-i", String(n), disk], { encoding: "utf8" }))![1]) * 512

/** A sparse copy of a raw disk, for tests that edit the ESP from the host. */
export const rawCopy = (base: string, file: string) => {
  fs.mkdirSync(path.dirname(file), { recursive: true })
  execFileSync("cp", ["--sparse=always", base, file])
  return file
}

const strip = (line: string) => line.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "").replace(/\r/g, "")

/** A copy-on-write overlay of `base` that tests can boot, cut and boot again. */
export const overlay = (base: string, file: string) => {
  fs.mkdirSync(path.dirname(file), { recursive: true })
  fs.rmSync(file, { force: true })
  execFileSync("qemu-img", ["create", "-q", "-f", "qcow2", "-b", path.resolve(base), "-F", "raw", file])
  return file
}

export class Vm {
  readonly lines: Array<SerialLine> = []
  readonly started = performance.now()
  private readonly process: ChildProcess
  private readonly qmpPath: string
  private readonly waiters = new Set<() => void>()
  readonly exited: Promise<number | null>
  private pending = ""

  constructor(options: VmOptions) {
    fs.mkdirSync(options.resultsDir, { recursive: true })
    this.qmpPath = path.join(options.resultsDir, `${options.name}.qmp`)
    fs.rmSync(this.qmpPath, { force: true })
    const log = fs.createWriteStream(path.join(options.resultsDir, `${options.name}.serial.log`))
    const args = [
      "-accel", accelerator(), "-cpu", accelerator() === "kvm" ? "host" : "max", "-m", String(options.memoryMb ?? 1024), "-smp", String(options.cpus ?? 1),
      "-nodefaults", "-no-user-config", "-display", "none", "-serial", "stdio", ...(options.rebootable === true ? [] : ["-no-reboot"]),
      ...(options.boot._tag === "Direct"
        ? ["-kernel", options.boot.kernel, "-initrd", options.boot.initrd, "-append", options.boot.append]
        : options.boot._tag === "Uefi" ? ["-bios", ovmf] : []),
      "-drive", `file=${options.disk},if=virtio,format=${options.disk.endsWith(".qcow2") ? "qcow2" : "raw"}`,
      ...(options.extraDisks ?? []).flatMap((disk) => ["-drive", `file=${disk},if=virtio,format=raw,readonly=on`]),
      "-qmp", `unix:${this.qmpPath},server=on,wait=off`,
      ...(options.forwards === undefined ? [] : (options.nics ?? 1) === 1
        ? [
          "-netdev", `user,id=n0,${options.forwards.map((f) => `hostfwd=tcp:127.0.0.1:${f.host}-:${f.guest}`).join(",")}`,
          "-device", "virtio-net-pci,netdev=n0"
        ]
        : [
          "-netdev", `user,id=n0,${options.forwards.map((f) => `hostfwd=tcp:127.0.0.1:${f.host}-:${f.guest}`).join(",")}`,
          "-netdev", "hubport,id=hub-user,hubid=0,netdev=n0",
          ...Array.from({ length: options.nics! }, (_, i) => [
            "-netdev", `hubport,id=port${i},hubid=0`,
            "-device", `virtio-net-pci,netdev=port${i},id=nic${i},mac=52:54:00:12:34:${(0x56 + i).toString(16)}`
          ]).flat()
        ])
    ]
    this.process = spawn("qemu-system-x86_64", args, { stdio: ["ignore", "pipe", "pipe"], detached: options.ownProcessGroup === true })
    const onData = (chunk: Buffer) => {
      log.write(chunk)
      this.pending += chunk.toString("utf8")
      const parts = this.pending.split("\n")
      this.pending = parts.pop() ?? ""
      for (const part of parts) this.lines.push({ atMs: performance.now() - this.started, text: strip(part) })
      for (const wake of this.waiters) wake()
    }
    this.process.stdout!.on("data", onData)
    this.process.stderr!.on("data", onData)
    this.exited = new Promise((resolve) => this.process.on("exit", (code) => {
      log.end()
      for (const wake of this.waiters) wake()
      resolve(code)
    }))
  }

  /** A position in the console, for `waitFor` to look only at what comes after it. */
  mark(): number {
    return this.lines.length
  }

  /** The first serial line matching `pattern` (after line `from`); fails with the end of the console on timeout or exit. */
  waitFor(pattern: RegExp, timeoutMs: number, from = 0): Promise<SerialLine> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.lines.find((l, i) => i >= from && pattern.test(l.text))
        if (found !== undefined) return done(() => resolve(found))
        if (this.process.exitCode !== null) return done(() => reject(new Error(`VM exited before ${pattern}:\n${this.tail()}`)))
      }
      const timer = setTimeout(() => done(() => reject(new Error(`no ${pattern} within ${timeoutMs} ms:\n${this.tail()}`))), timeoutMs)
      const done = (finish: () => void) => {
        clearTimeout(timer)
        this.waiters.delete(check)
        finish()
      }
      this.waiters.add(check)
      check()
    })
  }

  tail(n = 25): string {
    return this.lines.slice(-n).map((l) => l.text).join("\n")
  }

  /** Sends one QMP command (after the capabilities handshake). */
  async qmp(command: string, args?: Record<string, unknown>): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const socket = net.connect(this.qmpPath)
      let stage = 0
      socket.on("data", (data) => {
        for (const line of data.toString("utf8").split("\n").filter((l) => l.trim().length > 0)) {
          const message = JSON.parse(line) as { QMP?: unknown; return?: unknown; error?: { desc: string } }
          if (message.error) return reject(new Error(`QMP ${command}: ${message.error.desc}`))
          if (stage === 0 && message.QMP) {
            stage = 1
            socket.write(JSON.stringify({ execute: "qmp_capabilities" }) + "\n")
          } else if (stage === 1 && message.return !== undefined) {
            stage = 2
            socket.write(JSON.stringify({ execute: command, ...(args === undefined ? {} : { arguments: args }) }) + "\n")
            if (command === "quit") setTimeout(() => (socket.destroy(), resolve()), 100)
          } else if (stage === 2 && message.return !== undefined) {
            socket.destroy()
            resolve()
          }
        }
      })
      socket.on("error", (error) => (stage >= 2 && command === "quit" ? resolve() : reject(error)))
    })
  }

  /** Pulls the plug: QMP quit, no orderly shutdown of the guest. */
  async powerCut(): Promise<void> {
    await this.qmp("quit")
    await this.exited
  }

  kill(): void {
    if (this.process.exitCode === null) this.process.kill("SIGKILL")
  }
}
