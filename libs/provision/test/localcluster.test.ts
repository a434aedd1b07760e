/** The plan of a local cluster: what each node gets, what the options may not ask for, and the seed each node reads. */
import { describe, expect, it } from "vitest"
import { Cause, Effect, Exit, Option } from "effect"
import { LocalCluster, NoCloud } from "../src/index.ts"

const options: LocalCluster.Options = {
  name: "lab",
  nodes: 3,
  stateDir: "/var/tmp/clusters/",
  firmware: "uefi",
  memoryMb: 1024,
  basePort: 50100,
  subnet: "10.5.0.0/24"
}

const plan = (overrides: Partial<LocalCluster.Options> = {}) => {
  const exit = Effect.runSyncExit(LocalCluster.plan({ ...options, ...overrides }))
  if (!Exit.isSuccess(exit)) throw new Error(String(exit.cause))
  return exit.value
}
const refusal = (overrides: Partial<LocalCluster.Options>) => {
  const exit = Effect.runSyncExit(LocalCluster.plan({ ...options, ...overrides }))
  if (Exit.isSuccess(exit)) throw new Error("expected a refusal")
  return Option.getOrThrow(Cause.findErrorOption(exit.cause)).message
}
const host: LocalCluster.Host = { accelerator: "tcg", ovmf: "/usr/share/ovmf/OVMF.fd", agentPort: 50051 }

describe("LocalCluster.plan", () => {
  it("gives each node its name, forwarded port, private address, MAC and files in the cluster's directory", () => {
    const cluster = plan()
    expect(cluster).toMatchObject({ name: "lab", dir: "/var/tmp/clusters/lab", subnet: "10.5.0.0/24", multicast: { group: "230.0.0.1", port: 50100 } })
    expect(cluster.nodes.map((n) => [n.name, n.apiPort, n.privateAddress, n.privateMac])).toEqual([
      ["lab-1", 50100, "10.5.0.11/24", "52:54:c3:b4:00:01"],
      ["lab-2", 50101, "10.5.0.12/24", "52:54:c3:b4:00:02"],
      ["lab-3", 50102, "10.5.0.13/24", "52:54:c3:b4:00:03"]
    ])
    expect(cluster.nodes[1]).toMatchObject({ disk: "/var/tmp/clusters/lab/lab-2.qcow2", seed: "/var/tmp/clusters/lab/lab-2.seed.img", pidFile: "/var/tmp/clusters/lab/lab-2.pid" })
  })

  it("takes the network of an address given with host bits, and other prefixes", () => {
    expect(plan({ subnet: "192.168.77.200/28", nodes: 4 }).nodes.map((n) => n.privateAddress)).toEqual(["192.168.77.203/28", "192.168.77.204/28", "192.168.77.205/28", "192.168.77.206/28"])
    expect(plan({ subnet: "10.9.1.0/16", nodes: 1 }).nodes[0]!.privateAddress).toBe("10.9.0.11/16")
  })

  it("gives two clusters on different ports different MACs and private networks", () => {
    const a = plan()
    const b = plan({ name: "other", basePort: 50200 })
    expect(a.multicast.port).not.toBe(b.multicast.port)
    expect(a.nodes.map((n) => n.privateMac)).not.toContain(b.nodes[0]!.privateMac)
  })

  it("refuses options that cannot make a cluster, saying which", () => {
    expect(refusal({ name: "Lab" })).toMatch(/^cluster create: name "Lab": lowercase letters/)
    expect(refusal({ name: "a/b" })).toMatch(/name "a\/b"/)
    expect(refusal({ nodes: 0 })).toBe("cluster create: --nodes 0: between 1 and 32")
    expect(refusal({ nodes: 33 })).toBe("cluster create: --nodes 33: between 1 and 32")
    expect(refusal({ memoryMb: 256 })).toMatch(/--memory 256/)
    expect(refusal({ basePort: 80 })).toMatch(/--base-port 80/)
    expect(refusal({ basePort: 65534 })).toMatch(/65534\.\.65536 must lie in 1024\.\.65535/)
    expect(refusal({ subnet: "10.5.0.0" })).toMatch(/--subnet "10.5.0.0": an IPv4 network with its prefix/)
    expect(refusal({ subnet: "10.5.0.300/24" })).toMatch(/--subnet/)
    expect(refusal({ subnet: "10.5.0.0/28", nodes: 5 })).toBe("cluster create: --subnet 10.5.0.0/28 has 14 addresses; 5 nodes need 15 (a /24 takes 32)")
  })
})

describe("LocalCluster.seedOf", () => {
  it("is a seed the node accepts: its name, eth0 by DHCP, eth1 static on the private network, its PKI", async () => {
    const node = plan().nodes[1]!
    const pem = (kind: string, body: string) => `-----BEGIN ${kind}-----\n${body}\n-----END ${kind}-----\n`
    const pki = { ca: pem("CERTIFICATE", "Y2E="), cert: pem("CERTIFICATE", "bm9kZQ=="), key: pem("PRIVATE KEY", "a2V5") }
    const exit = await Effect.runPromiseExit(NoCloud.parseSeed(LocalCluster.seedOf(node, pki)))
    if (!Exit.isSuccess(exit)) throw new Error(String(exit.cause))
    expect(exit.value.warnings).toEqual([])
    expect(exit.value.config).toMatchObject({
      instanceId: "lab-2",
      hostname: "lab-2",
      pki,
      network: {
        interfaces: [
          { name: "eth0", dhcp4: true, addresses: [] },
          { name: "eth1", dhcp4: false, addresses: ["10.5.0.12/24"] }
        ]
      }
    })
  })
})

describe("LocalCluster.qemuArgs", () => {
  it("runs the node in the background on its disk and seed, its API forwarded, its second card on the cluster's multicast network", () => {
    const cluster = plan()
    const args = LocalCluster.qemuArgs(cluster, cluster.nodes[2]!, host).join(" ")
    expect(args).toContain("-bios /usr/share/ovmf/OVMF.fd")
    expect(args).toContain("-drive file=/var/tmp/clusters/lab/lab-3.qcow2,if=virtio,format=qcow2 -drive file=/var/tmp/clusters/lab/lab-3.seed.img,if=virtio,format=raw,readonly=on")
    expect(args).toContain("-netdev user,id=user,hostfwd=tcp:127.0.0.1:50102-:50051 -device virtio-net-pci,netdev=user,mac=52:54:00:12:34:56")
    expect(args).toContain("-netdev socket,id=private,mcast=230.0.0.1:50100,localaddr=127.0.0.1 -device virtio-net-pci,netdev=private,mac=52:54:c3:b4:00:03")
    expect(args).toContain("-pidfile /var/tmp/clusters/lab/lab-3.pid -daemonize")
    expect(args).not.toContain("-no-reboot")
    expect(LocalCluster.qemuArgs(plan({ firmware: "bios" }), cluster.nodes[0]!, { ...host, accelerator: "kvm" }).join(" ")).toMatch(/^-name lab-1 -accel kvm -cpu host -m 1024 -nodefaults -no-user-config -display none -drive/)
  })
})
