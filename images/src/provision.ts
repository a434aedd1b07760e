/**
 * Pre-provisioning a disk image's data partition from the host, for local nodes (`npm start`) and
 * the VM tests: the node's PKI (/var/lib/keel/pki) or a one-time bootstrap token, and its
 * network (/var/lib/keel/config),
 * in an ext4 filesystem labelled KEELOS_DATA made by mke2fs -d, leaving the partition's last MiB
 * to keel-init's format marker as keel-init itself does. keel-init finds a filesystem and mounts
 * it; it never formats a partition that holds one. (Provisioning a node on real hardware goes
 * through a NoCloud seed or InitBootstrap: issues #4 and #7.)
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Schema } from "effect"
import { NetworkConfig } from "@keelos/network"

export interface Provisioning {
  /** The node's PKI; or, for first trust through the API (osctl bootstrap), a one-time token instead. */
  readonly pki?: { readonly ca: string; readonly cert: string; readonly key: string }
  readonly bootstrapToken?: string
  /** The machine config's network, as keel-init reads it (checked against its schema before it is written). */
  readonly network?: NetworkConfig.NetworkConfig
}

/** QEMU user networking, static: the guest is 10.0.2.15/24 behind 10.0.2.2, with QEMU's DNS at 10.0.2.3. */
export const qemuUserNetwork = { interfaces: [{ name: "eth0", addresses: ["10.0.2.15/24"], gateway: "10.0.2.2" }], nameservers: ["10.0.2.3"] }

/** QEMU user networking through its DHCP server, which leases the guest the same 10.0.2.15 for a day. */
export const qemuUserDhcp = { interfaces: [{ name: "eth0", dhcp4: true }] }

const dataPartition = 5
const markerBytes = 1 << 20

const partition = (disk: string, n: number) => {
  const info = execFileSync("sgdisk", ["-i", String(n), disk], { encoding: "utf8" })
  const first = Number(/First sector: (\d+)/.exec(info)![1])
  const last = Number(/Last sector: (\d+)/.exec(info)![1])
  return { offset: first * 512, size: (last - first + 1) * 512 }
}

/** Writes a provisioned data filesystem into partition 5 of the raw disk image `disk`. */
export const provisionDisk = (disk: string, provisioning: Provisioning) => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "keel-provision-"))
  try {
    const seed = path.join(work, "seed")
    const pki = path.join(seed, "pki")
    fs.mkdirSync(pki, { recursive: true, mode: 0o700 })
    fs.mkdirSync(path.join(seed, "config"), { recursive: true })
    if (provisioning.pki !== undefined) {
      fs.writeFileSync(path.join(pki, "ca.crt"), provisioning.pki.ca)
      fs.writeFileSync(path.join(pki, "node.crt"), provisioning.pki.cert)
      fs.writeFileSync(path.join(pki, "node.key"), provisioning.pki.key, { mode: 0o600 })
    }
    if (provisioning.bootstrapToken !== undefined) {
      fs.writeFileSync(path.join(seed, "config", "bootstrap-token"), `${provisioning.bootstrapToken}\n`, { mode: 0o600 })
    }
    if (provisioning.network !== undefined) {
      Schema.decodeUnknownSync(NetworkConfig.NetworkConfig, NetworkConfig.strict)(provisioning.network)
      fs.writeFileSync(path.join(seed, "config", "network.json"), JSON.stringify(provisioning.network, null, 2) + "\n")
    }
    const { offset, size } = partition(disk, dataPartition)
    const image = path.join(work, "data.img")
    const blocks = Math.floor((size - markerBytes) / 4096)
    execFileSync("truncate", ["-s", String(size), image])
    execFileSync("mke2fs", ["-q", "-F", "-t", "ext4", "-b", "4096", "-L", "KEELOS_DATA", "-E", "root_owner=0:0", "-d", seed, image, String(blocks)])
    execFileSync("dd", [`if=${image}`, `of=${disk}`, "bs=1M", `seek=${offset}`, "oflag=seek_bytes", "conv=notrunc,sparse", "status=none"])
  } finally {
    fs.rmSync(work, { recursive: true, force: true })
  }
}
