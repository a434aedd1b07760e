/**
 * A local KeelOS cluster on one machine (`osctl cluster create`): N nodes in QEMU. Each node has two
 * network cards: eth0 on its own QEMU user network (DHCP from QEMU, the host reaching the agent
 * through a forwarded loopback port) and eth1 on one private network shared by the cluster (a QEMU
 * multicast socket on the host's loopback) with a static address. This module is the plan and
 * nothing else: names, ports, addresses, MACs, files, each node's NoCloud seed documents and QEMU's
 * arguments, all from the options, so the plan is checked before anything is started; osctl runs it.
 */
import { Effect, Schema } from "effect"
import { Ipv4 } from "@keelos/network"
import type { Seed } from "./NoCloud.ts"

export class ClusterError extends Schema.TaggedError<ClusterError>()("ClusterError", {
  operation: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `cluster ${this.operation}: ${this.reason}`
  }
}

export const Firmware = Schema.Literals(["uefi", "bios"])
export type Firmware = typeof Firmware.Type

export const NodePlan = Schema.Struct({
  /** `<cluster>-<n>`, also the node's hostname and the certificate's DNS name. */
  name: Schema.String,
  /** The host's loopback port QEMU forwards to the agent's port on eth0. */
  apiPort: Schema.Int,
  /** eth1's address on the private network, with its prefix. */
  privateAddress: Schema.String,
  /** eth1's MAC: distinct on the shared network. */
  privateMac: Schema.String,
  /** Files in the cluster's directory: the node's copy-on-write disk, seed volume, console, QEMU's pid and QMP socket. */
  disk: Schema.String,
  seed: Schema.String,
  console: Schema.String,
  pidFile: Schema.String,
  qmp: Schema.String
})
export type NodePlan = typeof NodePlan.Type

/** What `osctl cluster create` leaves in `<state>/<name>/cluster.json`, for show and destroy. */
export const ClusterState = Schema.Struct({
  name: Schema.String,
  dir: Schema.String,
  firmware: Firmware,
  memoryMb: Schema.Int,
  subnet: Schema.String,
  /** The private network: QEMU's multicast group and UDP port on the host's loopback. */
  multicast: Schema.Struct({ group: Schema.String, port: Schema.Int }),
  /** The copy of the disk image every node's disk is an overlay of. */
  baseDisk: Schema.String,
  nodes: Schema.Array(NodePlan)
})
export type ClusterState = typeof ClusterState.Type

export interface Options {
  readonly name: string
  readonly nodes: number
  /** Where the cluster's directory goes: `<stateDir>/<name>`. */
  readonly stateDir: string
  readonly firmware: Firmware
  readonly memoryMb: number
  /** Node n's API is forwarded from `basePort + n - 1`; the private network's UDP port is `basePort` too. */
  readonly basePort: number
  /** The private network, e.g. 10.5.0.0/24: node n gets the subnet's address 10 + n. */
  readonly subnet: string
}

export const maxNodes = 32
export const multicastGroup = "230.0.0.1"
const firstHost = 10

const fail = (reason: string) => Effect.fail(new ClusterError({ operation: "create", reason }))

const hex = (n: number) => n.toString(16).padStart(2, "0")

/** The plan of a new cluster, or the first reason the options cannot make one. */
export const plan = (options: Options): Effect.Effect<ClusterState, ClusterError> =>
  Effect.gen(function*() {
    if (!/^[a-z][a-z0-9-]{0,30}$/.test(options.name)) {
      return yield* fail(`name ${JSON.stringify(options.name)}: lowercase letters, digits and dashes, starting with a letter, at most 31`)
    }
    if (!Number.isInteger(options.nodes) || options.nodes < 1 || options.nodes > maxNodes) {
      return yield* fail(`--nodes ${options.nodes}: between 1 and ${maxNodes}`)
    }
    if (!Number.isInteger(options.memoryMb) || options.memoryMb < 512 || options.memoryMb > 65536) {
      return yield* fail(`--memory ${options.memoryMb}: between 512 and 65536 MiB (a node needs 512 MiB at least)`)
    }
    if (!Number.isInteger(options.basePort) || options.basePort < 1024 || options.basePort + options.nodes - 1 > 65535) {
      return yield* fail(`--base-port ${options.basePort}: the ports ${options.basePort}..${options.basePort + options.nodes - 1} must lie in 1024..65535`)
    }
    const match = /^(\d+\.\d+\.\d+\.\d+)\/(\d+)$/.exec(options.subnet)
    if (match === null || !Ipv4.isAddress(match[1]!) || Number(match[2]) > 30) {
      return yield* fail(`--subnet ${JSON.stringify(options.subnet)}: an IPv4 network with its prefix, e.g. 10.5.0.0/24`)
    }
    const prefix = Number(match[2])
    const network = Ipv4.toNumber(Ipv4.networkOf(match[1]!, prefix))
    const hosts = 2 ** (32 - prefix) - 2
    if (firstHost + options.nodes > hosts) {
      return yield* fail(`--subnet ${options.subnet} has ${hosts} addresses; ${options.nodes} nodes need ${firstHost + options.nodes} (a /24 takes ${maxNodes})`)
    }
    const dir = `${options.stateDir.replace(/\/+$/, "")}/${options.name}`
    const nodes = Array.from({ length: options.nodes }, (_, i): NodePlan => {
      const name = `${options.name}-${i + 1}`
      return {
        name,
        apiPort: options.basePort + i,
        privateAddress: `${Ipv4.fromNumber(network + firstHost + i + 1)}/${prefix}`,
        // Locally administered, the cluster's base port in the middle so two clusters differ.
        privateMac: `52:54:${hex(options.basePort >> 8)}:${hex(options.basePort & 255)}:00:${hex(i + 1)}`,
        disk: `${dir}/${name}.qcow2`,
        seed: `${dir}/${name}.seed.img`,
        console: `${dir}/${name}.console.log`,
        pidFile: `${dir}/${name}.pid`,
        qmp: `${dir}/${name}.qmp`
      }
    })
    return {
      name: options.name,
      dir,
      firmware: options.firmware,
      memoryMb: options.memoryMb,
      subnet: `${Ipv4.fromNumber(network)}/${prefix}`,
      multicast: { group: multicastGroup, port: options.basePort },
      baseDisk: `${dir}/base.qcow2`,
      nodes
    }
  })

/** The address of a node's eth1 without its prefix. */
export const privateIp = (node: NodePlan) => node.privateAddress.split("/")[0]!

/** The PEM a node's seed carries: the cluster CA, the node's certificate and key. */
export interface NodePki {
  readonly ca: string
  readonly cert: string
  readonly key: string
}

const yaml = (value: unknown) => `${JSON.stringify(value, null, 2)}\n` // JSON is YAML

/**
 * A node's NoCloud documents: its name, eth0 by DHCP from QEMU (10.0.2.15, the address the
 * forwarded port reaches), eth1 static on the private network, and its PKI.
 */
export const seedOf = (node: NodePlan, pki: NodePki): Seed => ({
  metaData: yaml({ "instance-id": node.name, "local-hostname": node.name }),
  networkConfig: yaml({
    version: 2,
    ethernets: {
      eth0: { dhcp4: true },
      eth1: { addresses: [node.privateAddress] }
    }
  }),
  userData: `#cloud-config\n${yaml({ keelos: { pki: { ca: pki.ca, certificate: pki.cert, key: pki.key } } })}`
})

export interface Host {
  readonly accelerator: "kvm" | "tcg"
  /** OVMF's firmware file, for UEFI. */
  readonly ovmf: string
  /** The port the agent listens on inside the node. */
  readonly agentPort: number
}

/**
 * QEMU's arguments for a node that runs in the background: daemonized with a pid file, console to
 * a file, QMP on a unix socket, rebooting in place (updates reboot the node).
 */
export const qemuArgs = (cluster: ClusterState, node: NodePlan, host: Host): ReadonlyArray<string> => [
  "-name", node.name,
  "-accel", host.accelerator, "-cpu", host.accelerator === "kvm" ? "host" : "max",
  "-m", String(cluster.memoryMb),
  "-nodefaults", "-no-user-config", "-display", "none",
  ...(cluster.firmware === "uefi" ? ["-bios", host.ovmf] : []),
  "-drive", `file=${node.disk},if=virtio,format=qcow2`,
  "-drive", `file=${node.seed},if=virtio,format=raw,readonly=on`,
  "-netdev", `user,id=user,hostfwd=tcp:127.0.0.1:${node.apiPort}-:${host.agentPort}`,
  "-device", "virtio-net-pci,netdev=user,mac=52:54:00:12:34:56",
  "-netdev", `socket,id=private,mcast=${cluster.multicast.group}:${cluster.multicast.port},localaddr=127.0.0.1`,
  "-device", `virtio-net-pci,netdev=private,mac=${node.privateMac}`,
  "-serial", `file:${node.console}`,
  "-qmp", `unix:${node.qmp},server=on,wait=off`,
  "-pidfile", node.pidFile,
  "-daemonize"
]
