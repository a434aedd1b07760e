/**
 * `osctl cluster create|show|destroy`: a local cluster of KeelOS nodes in QEMU on this machine, for
 * trying KeelOS and for tests. `create` makes a cluster CA, a certificate per node and an admin
 * client certificate, one copy of the disk image with a copy-on-write disk per node, a NoCloud seed
 * per node (eth0 by DHCP behind a forwarded loopback port, eth1 static on the cluster's private
 * network), starts the nodes in the background, adds an osctl context naming every node, and waits
 * until each agent answers over mutual TLS. `destroy` powers the nodes off through the API (pulls
 * the plug on those that do not go) and removes everything `create` made.
 */
import { Clock, Console, Duration, Effect, FileSystem, Option, Schema } from "effect"
import { Command, Flag } from "effect/cli"
import { NodeApi } from "@keelos/api"
import type { LocalCluster as LocalClusterModule } from "@keelos/provision"
import * as HostProgram from "../HostProgram.ts"
import * as OsctlConfig from "../OsctlConfig.ts"
import { print, table } from "../Output.ts"
import * as Remote from "../Remote.ts"
import { osctl } from "./root.ts"

type ClusterState = LocalClusterModule.ClusterState
type NodePlan = LocalClusterModule.NodePlan

const provision = () => import("@keelos/provision")

class ClusterError extends Schema.TaggedError<ClusterError>()("ClusterError", { operation: Schema.String, reason: Schema.String }) {
  override get message(): string {
    return `cluster ${this.operation}: ${this.reason}`
  }
}

const stateDirFlag = Flag.String("state").pipe(Flag.withDescription("Where local clusters are kept (default ~/.keelos/clusters)"), Flag.optional)
const stateDirOf = (flag: Option.Option<string>) => Option.getOrElse(flag, () => `${process.env["HOME"] ?? "."}/.keelos/clusters`)
const nameFlag = Flag.String("name").pipe(Flag.withDescription("The cluster's name: its directory, its nodes' names and its osctl context"), Flag.withDefault("keelos"))

const ovmf = "/usr/share/ovmf/OVMF.fd"

/** Progress goes to stderr, so `-o json` leaves one document on stdout. */
const progress = (line: string) => Console.error(`cluster: ${line}`)

const pkiFiles = (cluster: ClusterState) => ({ ca: `${cluster.dir}/pki/ca.crt`, cert: `${cluster.dir}/pki/admin.crt`, key: `${cluster.dir}/pki/admin.key` })
const endpoint = (node: NodePlan) => `127.0.0.1:${node.apiPort}`

const loadState = (stateDir: string, name: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const { LocalCluster } = yield* Effect.promise(provision)
    const file = `${stateDir}/${name}/cluster.json`
    const text = yield* Effect.mapError(fs.readFileString(file), () =>
      new ClusterError({ operation: "load", reason: `no cluster ${name} in ${stateDir} (osctl cluster show lists them)` }))
    return yield* Effect.mapError(Schema.decodeUnknownEffect(Schema.fromJsonString(LocalCluster.ClusterState))(text), () =>
      new ClusterError({ operation: "load", reason: `${file} is not a cluster state file; remove ${stateDir}/${name} by hand` }))
  })

/** The admin credentials `create` wrote into the cluster's directory. */
const credentialsOf = (cluster: ClusterState) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const files = pkiFiles(cluster)
    const read = (file: string) => Effect.mapError(fs.readFileString(file), (e) => new ClusterError({ operation: "load", reason: `${file}: ${e.message}` }))
    return { nodes: cluster.nodes.map(endpoint), ca: yield* read(files.ca), cert: yield* read(files.cert), key: yield* read(files.key) } satisfies OsctlConfig.Context
  })

/** The QEMU process of a node, if it runs: its pid file names a process whose command line names that pid file. */
const processOf = (node: NodePlan) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const pid = Number((yield* Effect.orElseSucceed(fs.readFileString(node.pidFile), () => "")).trim())
    if (!Number.isInteger(pid) || pid <= 0) return null
    const commandLine = yield* Effect.orElseSucceed(fs.readFileString(`/proc/${pid}/cmdline`), () => "")
    return commandLine.split("\0").includes(node.pidFile) ? pid : null
  })

const consoleTail = (node: NodePlan, lines = 12) =>
  Effect.flatMap(FileSystem.FileSystem, (fs) =>
    Effect.map(Effect.orElseSucceed(fs.readFileString(node.console), () => ""), (text) =>
      text.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "").replace(/\r/g, "").split("\n").filter((l) => l.trim().length > 0).slice(-lines).join("\n")))

/** Waits until the node's agent answers WhoAmI over mutual TLS, its QEMU exits, or the deadline passes. */
const waitReady = (cluster: ClusterState, node: NodePlan, context: OsctlConfig.Context, deadlineMillis: number, startedMillis: number) =>
  Effect.gen(function*() {
    for (;;) {
      const outcome = yield* Remote.callNode(context, endpoint(node), (c) => c.WhoAmI(), { timeoutSeconds: 5 })
      const now = yield* Clock.currentTimeMillis
      if ("result" in outcome) return (now - startedMillis) / 1000
      if ((yield* processOf(node)) === null) {
        return yield* new ClusterError({ operation: "create", reason: `${node.name} stopped while booting; its console (${node.console}) ends:\n${yield* consoleTail(node)}` })
      }
      if (now > deadlineMillis) {
        return yield* new ClusterError({
          operation: "create",
          reason: `${node.name} did not answer within ${Math.round((deadlineMillis - startedMillis) / 1000)} s (last: ${outcome.error.message}); its console (${node.console}) ends:\n${yield* consoleTail(node)}`
        })
      }
      yield* Effect.sleep(Duration.seconds(1))
    }
  })

/** Stops a node: an orderly power-off through the API first unless `force`, then SIGTERM (QEMU quits), then SIGKILL. */
const stopNode = (node: NodePlan, context: OsctlConfig.Context | null, graceSeconds: number) =>
  Effect.gen(function*() {
    const pid = yield* processOf(node)
    if (pid === null) return "not running" as const
    const gone = (seconds: number) =>
      Effect.gen(function*() {
        for (let waited = 0; waited < seconds * 4; waited++) {
          if ((yield* processOf(node)) === null) return true
          yield* Effect.sleep(Duration.millis(250))
        }
        return (yield* processOf(node)) === null
      })
    if (context !== null) {
      const outcome = yield* Remote.callNode(context, endpoint(node), (c) => c.Shutdown({ reason: "osctl cluster destroy" }), { timeoutSeconds: 10 })
      if ("result" in outcome && (yield* gone(graceSeconds))) return "powered off" as const
    }
    yield* Effect.ignore(HostProgram.run("kill", ["-TERM", String(pid)]))
    if (yield* gone(5)) return "stopped" as const
    yield* Effect.ignore(HostProgram.run("kill", ["-KILL", String(pid)]))
    yield* gone(5)
    return "killed" as const
  })

/** Removes what `create` made: the nodes' processes, the cluster's directory and its osctl context. */
const teardown = (cluster: ClusterState, options: { readonly graceful: boolean; readonly graceSeconds: number; readonly configFile: string }) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const context = options.graceful ? yield* Effect.orElseSucceed(credentialsOf(cluster), () => null) : null
    const stopped = yield* Effect.forEach(cluster.nodes, (node) =>
      Effect.map(stopNode(node, context, options.graceSeconds), (how) => ({ node: node.name, how })), { concurrency: "unbounded" })
    yield* Effect.mapError(fs.remove(cluster.dir, { recursive: true, force: true }), (e) => new ClusterError({ operation: "destroy", reason: `${cluster.dir}: ${e.message}` }))
    const config = yield* OsctlConfig.load(options.configFile)
    const own = config.contexts[cluster.name]
    if (own !== undefined && own.nodes.join(",") === cluster.nodes.map(endpoint).join(",")) {
      const contexts = Object.fromEntries(Object.entries(config.contexts).filter(([name]) => name !== cluster.name))
      yield* OsctlConfig.save(options.configFile, { currentContext: config.currentContext === cluster.name ? null : config.currentContext, contexts })
    }
    return stopped
  })

/**
 * `--nodes N`: on `cluster create` the shared `--nodes` flag (the nodes other commands act on) is
 * the number of nodes to make.
 */
const nodeCount = Effect.flatMap(osctl, (flags) => {
  const given = Option.getOrElse(flags.nodes, () => "1")
  return /^\d+$/.test(given.trim())
    ? Effect.succeed(Number(given.trim()))
    : Effect.fail(new Remote.UsageError({ reason: `cluster create: --nodes ${JSON.stringify(given)}: on cluster create, how many nodes to make (e.g. --nodes 3)` }))
})

/** Whether a raw disk image starts with a GPT header (LBA 1 of 512-byte sectors): any file is "raw" to qemu-img. */
const hasGpt = (file: string) =>
  Effect.scoped(Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const handle = yield* fs.open(file, { flag: "r" })
    yield* handle.seek(512n, "start")
    const header = new Uint8Array(8)
    const read = yield* handle.read(header)
    return Number(read) === 8 && new TextDecoder().decode(header) === "EFI PART"
  })).pipe(Effect.orElseSucceed(() => false))

const configFileOf = Effect.map(osctl, (flags) => OsctlConfig.defaultPath(Option.getOrUndefined(flags.osconfig), process.env))

const create = Command.make(
  "create",
  {
    name: nameFlag,
    disk: Flag.String("disk").pipe(Flag.withDescription("The KeelOS disk image (disk.qcow2 or disk.raw of the image build: .keelos/images/VERSION/)")),
    state: stateDirFlag,
    firmware: Flag.Literals("firmware", ["uefi", "bios"]).pipe(Flag.withDescription("Boot through UEFI (OVMF) or BIOS (SeaBIOS)"), Flag.withDefault("uefi")),
    memory: Flag.Int("memory").pipe(Flag.withDescription("MiB of memory per node"), Flag.withDefault(1024)),
    basePort: Flag.Int("base-port").pipe(Flag.withDescription("Node n's API is forwarded from 127.0.0.1:(base-port + n - 1)"), Flag.withDefault(50100)),
    subnet: Flag.String("subnet").pipe(Flag.withDescription("The nodes' private network; node n gets its address 10 + n"), Flag.withDefault("10.5.0.0/24")),
    wait: Flag.Boolean("wait").pipe(Flag.withDescription("Wait until every agent answers (--no-wait: return once QEMU runs)"), Flag.withDefault(true)),
    timeout: Flag.Int("timeout").pipe(Flag.withDescription("Seconds to wait for the agents"), Flag.withDefault(600))
  },
  (o) =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const { output } = yield* osctl
      const configFile = yield* configFileOf
      const { LocalCluster, NoCloud } = yield* Effect.promise(provision)
      const { Pki } = yield* Effect.promise(() => import("@keelos/pki"))
      const fail = (reason: string) => new ClusterError({ operation: "create", reason })
      const count = yield* nodeCount
      const cluster = yield* LocalCluster.plan({
        name: o.name,
        nodes: count,
        stateDir: stateDirOf(o.state),
        firmware: o.firmware,
        memoryMb: o.memory,
        basePort: o.basePort,
        subnet: o.subnet
      }).pipe(Effect.mapError((e) => new Remote.UsageError({ reason: e.message })))
      if (yield* Effect.orElseSucceed(fs.exists(`${cluster.dir}/cluster.json`), () => false)) {
        return yield* fail(`a cluster named ${cluster.name} exists in ${cluster.dir}: osctl cluster destroy --name ${cluster.name} first`)
      }
      if (!(yield* Effect.orElseSucceed(fs.exists(o.disk), () => false))) {
        return yield* fail(`--disk ${o.disk}: no such file (the image build writes .keelos/images/VERSION/disk.qcow2; npm start builds it)`)
      }
      if (cluster.firmware === "uefi" && !(yield* Effect.orElseSucceed(fs.exists(ovmf), () => false))) {
        return yield* fail(`UEFI needs ${ovmf}: apt-get install ovmf, or use --firmware bios`)
      }
      yield* HostProgram.runOk("qemu-system-x86_64", ["--version"])
      const info = yield* HostProgram.runOk("qemu-img", ["info", "--output", "json", o.disk]).pipe(
        Effect.mapError((e) => fail(`--disk ${o.disk}: not a disk image qemu-img can read (${e.reason})`))
      )
      const format = (JSON.parse(info) as { format?: string }).format
      if (format !== "qcow2" && format !== "raw") return yield* fail(`--disk ${o.disk}: a ${format ?? "unknown"} image; give disk.qcow2 or disk.raw`)
      if (format === "raw" && !(yield* hasGpt(o.disk))) return yield* fail(`--disk ${o.disk}: no GPT partition table; give the image build's disk.qcow2 or disk.raw`)
      const kvm = (yield* Effect.orElseSucceed(fs.exists("/sys/module/kvm_intel"), () => false)) || (yield* Effect.orElseSucceed(fs.exists("/sys/module/kvm_amd"), () => false))
      const host = { accelerator: kvm ? "kvm" as const : "tcg" as const, ovmf, agentPort: NodeApi.defaultPort }

      const made = Effect.gen(function*() {
        const write = (file: string, content: string | Uint8Array, mode = 0o644) =>
          Effect.mapError(
            typeof content === "string" ? fs.writeFileString(file, content, { mode }) : fs.writeFile(file, content, { mode }),
            (e) => fail(`${file}: ${e.message}`)
          )
        yield* Effect.mapError(fs.makeDirectory(`${cluster.dir}/pki`, { recursive: true, mode: 0o700 }), (e) => fail(`${cluster.dir}: ${e.message}`))
        yield* write(`${cluster.dir}/cluster.json`, `${JSON.stringify(cluster, null, 2)}\n`)
        yield* progress(`copying ${o.disk} to ${cluster.baseDisk}`)
        yield* HostProgram.runOk("qemu-img", ["convert", "-q", "-f", format, "-O", "qcow2", o.disk, cluster.baseDisk])

        const ca = yield* Pki.makeCa({ name: `keelos cluster ${cluster.name}`, days: 3650 })
        const admin = yield* Pki.issue(ca, { usage: "client", commonName: `${cluster.name}-admin`, organization: "os:admin" }, 365)
        const files = pkiFiles(cluster)
        yield* write(files.ca, ca.cert)
        yield* write(`${cluster.dir}/pki/ca.key`, ca.key, 0o600)
        yield* write(files.cert, admin.cert)
        yield* write(files.key, admin.key, 0o600)

        for (const node of cluster.nodes) {
          const pair = yield* Pki.issue(ca, {
            usage: "server",
            commonName: node.name,
            dnsNames: [node.name, "localhost"],
            ipAddresses: ["127.0.0.1", "10.0.2.15", LocalCluster.privateIp(node)]
          }, 365)
          const seed = LocalCluster.seedOf(node, { ca: ca.cert, cert: pair.cert, key: pair.key })
          yield* NoCloud.parseSeed(seed) // the node reads it the same way: refuse here what it would refuse
          yield* write(node.seed, NoCloud.volume(seed), 0o600)
          yield* HostProgram.runOk("qemu-img", ["create", "-q", "-f", "qcow2", "-b", cluster.baseDisk, "-F", "qcow2", node.disk])
        }
        const context = yield* credentialsOf(cluster)
        const config = yield* OsctlConfig.load(configFile)
        yield* OsctlConfig.save(configFile, { currentContext: cluster.name, contexts: { ...config.contexts, [cluster.name]: context } })

        const started = yield* Clock.currentTimeMillis
        for (const node of cluster.nodes) {
          yield* Effect.mapError(HostProgram.runOk("qemu-system-x86_64", LocalCluster.qemuArgs(cluster, node, host)), (e) => fail(`starting ${node.name}: ${e.reason}`))
          yield* progress(`${node.name} started (${host.accelerator.toUpperCase()}, ${cluster.firmware.toUpperCase()}): API on ${endpoint(node)}, ${node.privateAddress} on the private network`)
        }
        if (o.wait) {
          yield* progress(`waiting for ${cluster.nodes.length === 1 ? "the agent" : `${cluster.nodes.length} agents`} (about 30 s a node under TCG)`)
          yield* Effect.forEach(cluster.nodes, (node) =>
            Effect.flatMap(waitReady(cluster, node, context, started + o.timeout * 1000, started), (seconds) =>
              progress(`${node.name} answers over mutual TLS after ${seconds.toFixed(1)} s`)), { concurrency: "unbounded", discard: true })
        }
      })
      // A cluster that could not be made completely is not left half made.
      yield* made.pipe(Effect.onError(() =>
        Effect.ignore(teardown(cluster, { graceful: false, graceSeconds: 0, configFile }).pipe(
          Effect.andThen(progress(`removed what was made of ${cluster.name}`))
        ))))

      const nodes = cluster.nodes.map((n) => ({ name: n.name, endpoint: endpoint(n), privateAddress: n.privateAddress, console: n.console }))
      yield* print(output, { name: cluster.name, dir: cluster.dir, context: cluster.name, configFile, ready: o.wait, nodes }, () =>
        [
          table(["NODE", "API", "PRIVATE ADDRESS", "CONSOLE"], nodes.map((n) => [n.name, n.endpoint, n.privateAddress, n.console])),
          "",
          `osctl context ${cluster.name} (current) in ${configFile} reaches every node:`,
          "    osctl status",
          `    osctl -n ${nodes[0]!.endpoint} logs keel-agent`,
          `    osctl cluster destroy --name ${cluster.name}${Option.isSome(o.state) ? ` --state ${o.state.value}` : ""}`
        ].join("\n"))
    })
).pipe(Command.withDescription(
  "Start a local cluster of KeelOS nodes in QEMU\n\n--nodes N (the shared flag) says how many nodes to make, 1 by default. Each node boots the disk image through UEFI or BIOS, is reachable from this machine on a forwarded port and from the other nodes on a private network, and gets its certificate from a new cluster CA.\n\nExample: osctl cluster create --nodes 3 --disk .keelos/images/0.1.0/disk.qcow2"
))

const nodeStates = (cluster: ClusterState) =>
  Effect.gen(function*() {
    const context = yield* Effect.orElseSucceed(credentialsOf(cluster), () => null)
    return yield* Effect.forEach(cluster.nodes, (node) =>
      Effect.gen(function*() {
        const pid = yield* processOf(node)
        const answers = pid !== null && context !== null && "result" in (yield* Remote.callNode(context, endpoint(node), (c) => c.WhoAmI(), { timeoutSeconds: 3 }))
        return { name: node.name, endpoint: endpoint(node), privateAddress: node.privateAddress, pid, state: pid === null ? "stopped" : answers ? "ready" : "starting" }
      }), { concurrency: "unbounded" })
  })

const show = Command.make("show", { name: Flag.String("name").pipe(Flag.withDescription("Only this cluster"), Flag.optional), state: stateDirFlag }, (o) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const { output } = yield* osctl
    const stateDir = stateDirOf(o.state)
    const names = Option.isSome(o.name)
      ? [o.name.value]
      : (yield* Effect.orElseSucceed(fs.readDirectory(stateDir), () => [] as Array<string>)).sort()
    const clusters: Array<{ name: string; dir: string; subnet: string; nodes: Effect.Success<ReturnType<typeof nodeStates>> }> = []
    for (const name of names) {
      const cluster = Option.isSome(o.name) ? yield* loadState(stateDir, name) : yield* Effect.orElseSucceed(loadState(stateDir, name), () => null)
      if (cluster !== null) clusters.push({ name: cluster.name, dir: cluster.dir, subnet: cluster.subnet, nodes: yield* nodeStates(cluster) })
    }
    yield* print(output, clusters, () =>
      clusters.length === 0
        ? `no clusters in ${stateDir} (osctl cluster create makes one)`
        : clusters.map((c) =>
          `cluster ${c.name} (${c.dir}, private network ${c.subnet})\n${
            table(["NODE", "STATE", "PID", "API", "PRIVATE ADDRESS"], c.nodes.map((n) => [n.name, n.state, n.pid === null ? "-" : String(n.pid), n.endpoint, n.privateAddress]))
          }`
        ).join("\n\n"))
  })).pipe(Command.withDescription("List local clusters and whether their nodes run and answer"))

const destroy = Command.make(
  "destroy",
  {
    name: nameFlag,
    state: stateDirFlag,
    force: Flag.Boolean("force").pipe(Flag.withDescription("Pull the plug instead of powering the nodes off in order"), Flag.withDefault(false)),
    grace: Flag.Int("grace").pipe(Flag.withDescription("Seconds a node may take to power off before the plug is pulled"), Flag.withDefault(60))
  },
  (o) =>
    Effect.gen(function*() {
      const { output } = yield* osctl
      const cluster = yield* loadState(stateDirOf(o.state), o.name)
      if (!o.force) yield* progress(`powering off ${cluster.nodes.length} node(s) through the API`)
      const stopped = yield* teardown(cluster, { graceful: !o.force, graceSeconds: o.grace, configFile: yield* configFileOf })
      yield* print(output, { destroyed: cluster.name, nodes: stopped }, () =>
        `${stopped.map((s) => `${s.node}: ${s.how}`).join("\n")}\ncluster ${cluster.name} destroyed (${cluster.dir} removed)`)
    })
).pipe(Command.withDescription("Power a local cluster's nodes off and remove its disks, PKI and osctl context"))

export const cluster = Command.make("cluster").pipe(
  Command.withDescription("Local clusters of KeelOS nodes in QEMU"),
  Command.withSubcommands([create, show, destroy])
)
