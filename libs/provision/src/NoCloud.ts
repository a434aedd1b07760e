/**
 * A cloud-init NoCloud seed read into a KeelOS machine config: `meta-data` (instance-id, hostname),
 * `network-config` version 1 or 2 (netplan), and `user-data` as `#cloud-config` whose `keelos:`
 * section carries the node's PKI or its one-time bootstrap token. Everything KeelOS reads is
 * checked; everything it does not apply (users, packages, commands, bridges, DHCPv6, ...) is a
 * warning that names it, never a silent ignore; an invalid document is refused with its line.
 */
import { Cause, Effect, Schema } from "effect"
import { Ipv4, NetworkConfig } from "@keelos/network"
import { Links } from "@keelos/platform"
import * as FatImage from "./FatImage.ts"
import { lineOf, parse, ProvisionError } from "./Yaml.ts"

export const InterfaceConfig = Schema.Struct({
  name: Schema.String,
  dhcp4: Schema.Boolean,
  /** SLAAC on (`accept-ra: true`, v1 `ipv6_slaac`) or off (`accept-ra: false`); absent: the kernel's default. */
  slaac: Schema.optional(Schema.Boolean),
  addresses: Schema.Array(Schema.Union([Links.Ipv4Cidr, Links.Ipv6Cidr])),
  gateway: Schema.optional(Links.Ipv4Address),
  gateway6: Schema.optional(Links.Ipv6Address),
  mtu: Schema.optional(Schema.Number),
  nameservers: Schema.Array(Schema.String)
})
export type InterfaceConfig = typeof InterfaceConfig.Type

export const VlanConfig = Schema.Struct({ name: Schema.String, link: Schema.String, id: Schema.Number })
export type VlanConfig = typeof VlanConfig.Type

export const BondConfig = Schema.Struct({
  name: Schema.String,
  mode: Links.BondMode,
  links: Schema.Array(Schema.String),
  miimonMillis: Schema.optional(Schema.Number)
})
export type BondConfig = typeof BondConfig.Type

/** The periodic channel check the agent runs (its `update.watch`), from `keelos.update`. */
export const UpdateWatch = Schema.Struct({
  mode: Schema.Literals(["off", "check", "install"]),
  source: Schema.String,
  intervalMillis: Schema.Int,
  jitterMillis: Schema.Int,
  window: Schema.NullOr(Schema.String)
})
export type UpdateWatch = typeof UpdateWatch.Type

export const MachineConfig = Schema.Struct({
  instanceId: Schema.String,
  hostname: Schema.NullOr(Schema.String),
  network: Schema.Struct({ interfaces: Schema.Array(InterfaceConfig), vlans: Schema.Array(VlanConfig), bonds: Schema.Array(BondConfig) }),
  pki: Schema.NullOr(Schema.Struct({ ca: Schema.String, cert: Schema.String, key: Schema.String })),
  bootstrapToken: Schema.NullOr(Schema.String),
  /** `keelos.network` in user-data: the node's network as KeelOS writes it, taken over network-config. */
  machineNetwork: Schema.NullOr(NetworkConfig.NetworkConfig),
  /** `keelos.update` in user-data: the channel the node watches, and whether it installs in a window. */
  update: Schema.NullOr(UpdateWatch)
})
export type MachineConfig = typeof MachineConfig.Type

export interface Seed {
  readonly metaData: string
  readonly networkConfig?: string
  readonly userData?: string
}

/** The seed as a NoCloud volume: FAT, labelled CIDATA, a file per document given. */
export const volume = (seed: Seed): Uint8Array => {
  const encode = (text: string) => new TextEncoder().encode(text)
  return FatImage.make("CIDATA", [
    { name: "meta-data", content: encode(seed.metaData) },
    ...(seed.networkConfig === undefined ? [] : [{ name: "network-config", content: encode(seed.networkConfig) }]),
    ...(seed.userData === undefined ? [] : [{ name: "user-data", content: encode(seed.userData) }])
  ])
}

export interface Parsed {
  readonly config: MachineConfig
  readonly warnings: ReadonlyArray<string>
}

type Json = Record<string, unknown>

const isRecord = (value: unknown): value is Json => typeof value === "object" && value !== null && !Array.isArray(value)

/** Reads one document's values, failing with the line of the offending key. */
const reader = (document: string, text: string, warnings: Array<string>) => {
  const fail = (path: ReadonlyArray<string | number>, reason: string) => new ProvisionError({ document, line: lineOf(text, path), reason })
  const warn = (path: ReadonlyArray<string | number>, what: string) => {
    const line = lineOf(text, path)
    warnings.push(`${document}${line === null ? "" : `, line ${line}`}: ${what}`)
  }
  const record = (value: unknown, path: ReadonlyArray<string | number>) =>
    isRecord(value) ? Effect.succeed(value) : Effect.fail(fail(path, `${path.join(".") || "the document"} must be a mapping`))
  const list = (value: unknown, path: ReadonlyArray<string | number>) =>
    value === undefined ? Effect.succeed([] as ReadonlyArray<unknown>) : Array.isArray(value) ? Effect.succeed(value as ReadonlyArray<unknown>) : Effect.fail(fail(path, `${path.join(".")} must be a list`))
  const string = (value: unknown, path: ReadonlyArray<string | number>) =>
    typeof value === "string" && value.length > 0 ? Effect.succeed(value) : Effect.fail(fail(path, `${path.join(".")} must be a non-empty string`))
  const unknownKeys = (value: Json, known: ReadonlyArray<string>, path: ReadonlyArray<string | number>, what = "not used by KeelOS") => {
    for (const key of Object.keys(value)) if (!known.includes(key)) warn([...path, key], `${[...path, key].join(".")}: ${what}; ignored`)
  }
  return { fail, warn, record, list, string, unknownKeys }
}

const cidr = Schema.is(Links.Ipv4Cidr)
const cidr6 = Schema.is(Links.Ipv6Cidr)
const ipv4 = Schema.is(Links.Ipv4Address)
const ipv6 = Schema.is(Links.Ipv6Address)

type Link = {
  name: string
  dhcp4: boolean
  slaac?: boolean
  addresses: Array<string>
  gateway?: string
  gateway6?: string
  mtu?: number
  nameservers: Array<string>
}

/** An MTU as cloud-init writes it (a number, or a string of digits); undefined when absent. */
const mtuOf = (value: unknown, r: ReturnType<typeof reader>, path: ReadonlyArray<string | number>) =>
  Effect.gen(function*() {
    if (value === undefined) return undefined
    const mtu = typeof value === "number" ? value : typeof value === "string" && /^\d+$/.test(value) ? Number(value) : Number.NaN
    if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) return yield* r.fail(path, `${JSON.stringify(value)} is not an MTU (68 to 65535)`)
    return mtu
  })

/** 255.255.255.0 → 24; undefined for what is not a contiguous IPv4 netmask. */
const prefixOf = (netmask: string): number | undefined => (ipv4(netmask) ? Ipv4.prefixOfMask(netmask) : undefined)

const metaData = (text: string, warnings: Array<string>) =>
  Effect.gen(function*() {
    const r = reader("meta-data", text, warnings)
    const doc = yield* r.record(yield* parse("meta-data", text), [])
    r.unknownKeys(doc, ["instance-id", "local-hostname", "hostname"], [])
    const instanceId = yield* r.string(doc["instance-id"], ["instance-id"])
    const name = doc["local-hostname"] ?? doc["hostname"]
    const hostname = name === undefined ? null : yield* r.string(name, [doc["local-hostname"] === undefined ? "hostname" : "local-hostname"])
    if (hostname !== null && !/^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$/.test(hostname)) {
      return yield* r.fail([doc["local-hostname"] === undefined ? "hostname" : "local-hostname"], `${JSON.stringify(hostname)} is not a hostname`)
    }
    return { instanceId, hostname }
  })

export interface NetworkDocument {
  readonly interfaces: ReadonlyArray<InterfaceConfig>
  readonly vlans: ReadonlyArray<VlanConfig>
  readonly bonds: ReadonlyArray<BondConfig>
}

const bondMode = Schema.is(Links.BondMode)

/** A bond's mode and monitoring interval, checked; `path` points at the mode's key for errors. */
const bondOf = (name: string, links: ReadonlyArray<string>, mode: unknown, miimon: unknown, r: ReturnType<typeof reader>, path: ReadonlyArray<string | number>) =>
  Effect.gen(function*() {
    const chosen = mode ?? "balance-rr"
    if (!bondMode(chosen)) return yield* r.fail(path, `bond mode ${JSON.stringify(chosen)}: KeelOS makes ${Links.BondMode.literals.join(", ")} bonds`)
    if (links.length === 0) return yield* r.fail(path, `bond ${name} has no interfaces`)
    const interval = miimon === undefined ? undefined : Number(miimon)
    if (interval !== undefined && (!Number.isInteger(interval) || interval < 0 || interval > 60_000)) return yield* r.fail(path, `${JSON.stringify(miimon)} is not a link monitoring interval in milliseconds`)
    return { name, mode: chosen, links, ...(interval === undefined ? {} : { miimonMillis: interval }) } satisfies BondConfig
  })

const vlanId = (value: unknown, r: ReturnType<typeof reader>, path: ReadonlyArray<string | number>) => {
  const id = Number(value)
  return Number.isInteger(id) && id >= 1 && id <= 4094 ? Effect.succeed(id) : Effect.fail(r.fail(path, `${JSON.stringify(value)} is not a VLAN id (1 to 4094)`))
}

/** Version 1's subnets of one link (physical, vlan or bond) into `link`. */
const subnetsV1 = (entry: Json, link: Link, r: ReturnType<typeof reader>, path: ReadonlyArray<string | number>) =>
  Effect.gen(function*() {
    for (const [j, rawSubnet] of (yield* r.list(entry["subnets"], [...path, "subnets"])).entries()) {
      const at = [...path, "subnets", j]
      const subnet = yield* r.record(rawSubnet, at)
      const type = subnet["type"]
      if (type === "dhcp" || type === "dhcp4") {
        link.dhcp4 = true
      } else if (type === "ipv6_slaac") {
        link.slaac = true
      } else if (type === "static" || type === "static6") {
        r.unknownKeys(subnet, ["type", "address", "netmask", "gateway", "dns_nameservers"], at)
        const address = yield* r.string(subnet["address"], [...at, "address"])
        const v6 = address.includes(":")
        const prefix = subnet["netmask"] === undefined ? undefined : v6 ? Number(subnet["netmask"]) : prefixOf(String(subnet["netmask"]))
        const full = address.includes("/") ? address : prefix === undefined ? undefined : `${address}/${prefix}`
        if (full === undefined || !(v6 ? cidr6(full) : cidr(full))) {
          return yield* r.fail([...at, "address"], `${JSON.stringify(address)} is not an ${v6 ? "IPv6" : "IPv4"} address with a prefix length or netmask`)
        }
        link.addresses.push(full)
        if (subnet["gateway"] !== undefined) {
          const gateway = yield* r.string(subnet["gateway"], [...at, "gateway"])
          if (!(v6 ? ipv6(gateway) : ipv4(gateway))) return yield* r.fail([...at, "gateway"], `${JSON.stringify(gateway)} is not an ${v6 ? "IPv6" : "IPv4"} address`)
          if (v6) link.gateway6 = gateway
          else link.gateway = gateway
        }
        for (const server of yield* r.list(subnet["dns_nameservers"], [...at, "dns_nameservers"])) link.nameservers.push(yield* r.string(server, [...at, "dns_nameservers"]))
      } else {
        r.warn([...at, "type"], `subnet type ${String(type)} (DHCPv6) is not supported yet; ignored`)
      }
    }
  })

const networkV1 = (doc: Json, r: ReturnType<typeof reader>, base: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    r.unknownKeys(doc, ["version", "config"], base)
    const interfaces: Array<InterfaceConfig> = []
    const vlans: Array<VlanConfig> = []
    const bonds: Array<BondConfig> = []
    const servers: Array<string> = []
    const entries = yield* r.list(doc["config"], [...base, "config"])
    for (const [i, raw] of entries.entries()) {
      const path = [...base, "config", i]
      const entry = yield* r.record(raw, path)
      const type = entry["type"]
      if (type === "nameserver") {
        for (const address of yield* r.list(entry["address"], [...path, "address"])) servers.push(yield* r.string(address, [...path, "address"]))
        continue
      }
      if (type !== "physical" && type !== "vlan" && type !== "bond") {
        r.warn([...path, "type"], `${String(type)} interfaces (bridges, routes) are not supported yet; ignored`)
        continue
      }
      const extra = type === "vlan" ? ["vlan_link", "vlan_id"] : type === "bond" ? ["bond_interfaces", "params"] : []
      r.unknownKeys(entry, ["type", "name", "subnets", "mac_address", "mtu", ...extra], path)
      if (entry["mac_address"] !== undefined) r.warn([...path, "mac_address"], `${[...path, "mac_address"].join(".")}: matching by MAC is not supported yet; the interface is taken by its name`)
      const name = yield* r.string(entry["name"], [...path, "name"])
      if (type === "vlan") {
        vlans.push({ name, link: yield* r.string(entry["vlan_link"], [...path, "vlan_link"]), id: yield* vlanId(entry["vlan_id"], r, [...path, "vlan_id"]) })
      }
      if (type === "bond") {
        const ports = yield* Effect.forEach(yield* r.list(entry["bond_interfaces"], [...path, "bond_interfaces"]), (p) => r.string(p, [...path, "bond_interfaces"]))
        const params = entry["params"] === undefined ? {} : yield* r.record(entry["params"], [...path, "params"])
        r.unknownKeys(params, ["bond-mode", "bond-miimon"], [...path, "params"])
        bonds.push(yield* bondOf(name, ports, params["bond-mode"], params["bond-miimon"], r, [...path, entry["params"] === undefined ? "bond_interfaces" : "params"]))
      }
      const link: Link = { name, dhcp4: false, addresses: [], nameservers: [] }
      const mtu = yield* mtuOf(entry["mtu"], r, [...path, "mtu"])
      if (mtu !== undefined) link.mtu = mtu
      yield* subnetsV1(entry, link, r, path)
      interfaces.push(link)
    }
    return { interfaces: interfaces.map((link) => ({ ...link, nameservers: [...link.nameservers, ...servers] })), vlans, bonds }
  })

/** Version 2's settings of one link (an ethernet, a VLAN or a bond). */
const linkV2 = (name: string, eth: Json, r: ReturnType<typeof reader>, path: ReadonlyArray<string | number>, extra: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    r.unknownKeys(eth, ["dhcp4", "dhcp6", "accept-ra", "addresses", "gateway4", "gateway6", "routes", "nameservers", "match", "set-name", "mtu", ...extra], path)
    if (eth["match"] !== undefined) r.warn([...path, "match"], `${[...path, "match"].join(".")}: matching by MAC or driver is not supported yet; the interface is taken by its name ${name}`)
    const yes = (value: unknown) => value === true || value === "true" || value === "yes"
    const no = (value: unknown) => value === false || value === "false" || value === "no"
    const link: Link = {
      name: typeof eth["set-name"] === "string" ? eth["set-name"] : name,
      dhcp4: yes(eth["dhcp4"]),
      addresses: [],
      nameservers: []
    }
    if (yes(eth["dhcp6"])) r.warn([...path, "dhcp6"], `${[...path, "dhcp6"].join(".")}: DHCPv6 is not supported yet (SLAAC is, with accept-ra); ignored`)
    if (yes(eth["accept-ra"])) link.slaac = true
    else if (no(eth["accept-ra"])) link.slaac = false
    const mtu = yield* mtuOf(eth["mtu"], r, [...path, "mtu"])
    if (mtu !== undefined) link.mtu = mtu
    for (const address of yield* r.list(eth["addresses"], [...path, "addresses"])) {
      const text = yield* r.string(address, [...path, "addresses"])
      const v6 = text.includes(":")
      if (!(v6 ? cidr6(text) : cidr(text))) return yield* r.fail([...path, "addresses"], `${JSON.stringify(text)} is not an ${v6 ? "IPv6" : "IPv4"} address with a prefix length`)
      link.addresses.push(text)
    }
    if (eth["gateway4"] !== undefined) {
      const gateway = yield* r.string(eth["gateway4"], [...path, "gateway4"])
      if (!ipv4(gateway)) return yield* r.fail([...path, "gateway4"], `${JSON.stringify(gateway)} is not an IPv4 address`)
      link.gateway = gateway
    }
    if (eth["gateway6"] !== undefined) {
      const gateway = yield* r.string(eth["gateway6"], [...path, "gateway6"])
      if (!ipv6(gateway)) return yield* r.fail([...path, "gateway6"], `${JSON.stringify(gateway)} is not an IPv6 address`)
      link.gateway6 = gateway
    }
    for (const [i, rawRoute] of (yield* r.list(eth["routes"], [...path, "routes"])).entries()) {
      const route = yield* r.record(rawRoute, [...path, "routes", i])
      const to = route["to"]
      const via = route["via"]
      if ((to === "default" || to === "0.0.0.0/0") && typeof via === "string" && ipv4(via)) link.gateway = via
      else if ((to === "default" || to === "::/0") && typeof via === "string" && ipv6(via)) link.gateway6 = via
      else r.warn([...path, "routes", i], `route to ${String(to)}: only default routes are supported yet; ignored`)
    }
    if (eth["nameservers"] !== undefined) {
      const ns = yield* r.record(eth["nameservers"], [...path, "nameservers"])
      for (const server of yield* r.list(ns["addresses"], [...path, "nameservers", "addresses"])) link.nameservers.push(yield* r.string(server, [...path, "nameservers", "addresses"]))
      if (ns["search"] !== undefined) r.warn([...path, "nameservers", "search"], "DNS search domains are not supported yet; ignored")
    }
    return link
  })

const networkV2 = (doc: Json, r: ReturnType<typeof reader>, base: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    for (const key of Object.keys(doc)) {
      if (key === "version" || key === "ethernets" || key === "vlans" || key === "bonds") continue
      r.warn([...base, key], `${key} (bridges, wifis, renderer, ...) are not supported yet; ignored`)
    }
    const section = (key: string) => (doc[key] === undefined ? Effect.succeed({} as Json) : r.record(doc[key], [...base, key]))
    const interfaces: Array<InterfaceConfig> = []
    const vlans: Array<VlanConfig> = []
    const bonds: Array<BondConfig> = []
    for (const [name, raw] of Object.entries(yield* section("ethernets"))) {
      const path = [...base, "ethernets", name]
      interfaces.push(yield* linkV2(name, yield* r.record(raw ?? {}, path), r, path, []))
    }
    for (const [name, raw] of Object.entries(yield* section("bonds"))) {
      const path = [...base, "bonds", name]
      const bond = yield* r.record(raw ?? {}, path)
      const ports = yield* Effect.forEach(yield* r.list(bond["interfaces"], [...path, "interfaces"]), (p) => r.string(p, [...path, "interfaces"]))
      const parameters = bond["parameters"] === undefined ? {} : yield* r.record(bond["parameters"], [...path, "parameters"])
      r.unknownKeys(parameters, ["mode", "mii-monitor-interval"], [...path, "parameters"])
      bonds.push(yield* bondOf(name, ports, parameters["mode"], parameters["mii-monitor-interval"], r, [...path, bond["parameters"] === undefined ? "interfaces" : "parameters"]))
      interfaces.push(yield* linkV2(name, bond, r, path, ["interfaces", "parameters"]))
    }
    for (const [name, raw] of Object.entries(yield* section("vlans"))) {
      const path = [...base, "vlans", name]
      const vlan = yield* r.record(raw ?? {}, path)
      vlans.push({ name, link: yield* r.string(vlan["link"], [...path, "link"]), id: yield* vlanId(vlan["id"], r, [...path, "id"]) })
      interfaces.push(yield* linkV2(name, vlan, r, path, ["id", "link"]))
    }
    return { interfaces, vlans, bonds }
  })

const networkConfig = (text: string, warnings: Array<string>) =>
  Effect.gen(function*() {
    const r = reader("network-config", text, warnings)
    let doc = yield* r.record(yield* parse("network-config", text), [])
    let base: ReadonlyArray<string> = []
    if (doc["network"] !== undefined) {
      doc = yield* r.record(doc["network"], ["network"])
      base = ["network"]
    }
    const version = doc["version"]
    if (version === 1) return yield* networkV1(doc, r, base)
    if (version === 2) return yield* networkV2(doc, r, base)
    return yield* r.fail([...base, "version"], `version ${JSON.stringify(version)}: KeelOS reads network-config version 1 and 2`)
  })

const cloudConfigKeysWithoutMeaning: Record<string, string> = {
  users: "KeelOS has no user accounts",
  ssh_authorized_keys: "KeelOS has no SSH",
  packages: "KeelOS has no package manager",
  runcmd: "KeelOS runs no commands",
  bootcmd: "KeelOS runs no commands",
  write_files: "KeelOS writes no files from user-data",
  password: "KeelOS has no passwords",
  chpasswd: "KeelOS has no passwords"
}

const userData = (text: string, warnings: Array<string>) =>
  Effect.gen(function*() {
    if (!text.startsWith("#cloud-config")) {
      return yield* new ProvisionError({ document: "user-data", line: 1, reason: "KeelOS reads user-data in the #cloud-config format only (the first line must be #cloud-config)" })
    }
    const r = reader("user-data", text, warnings)
    const parsed = yield* parse("user-data", text)
    const doc = parsed === null ? {} : yield* r.record(parsed, [])
    for (const key of Object.keys(doc)) {
      if (key === "keelos" || key === "hostname") continue
      r.warn([key], `${key}: ${cloudConfigKeysWithoutMeaning[key] ?? "not used by KeelOS"}; ignored`)
    }
    const keelos = doc["keelos"] === undefined ? {} : yield* r.record(doc["keelos"], ["keelos"])
    r.unknownKeys(keelos, ["pki", "bootstrap_token", "network", "update"], ["keelos"])
    let pki: MachineConfig["pki"] = null
    if (keelos["pki"] !== undefined) {
      const p = yield* r.record(keelos["pki"], ["keelos", "pki"])
      r.unknownKeys(p, ["ca", "certificate", "key"], ["keelos", "pki"])
      const pem = (key: string, kind: string) =>
        Effect.flatMap(r.string(p[key], ["keelos", "pki", key]), (value) =>
          value.includes(`-----BEGIN ${kind}`) ? Effect.succeed(value) : Effect.fail(r.fail(["keelos", "pki", key], `keelos.pki.${key} must be a PEM ${kind.toLowerCase()}`)))
      pki = { ca: yield* pem("ca", "CERTIFICATE"), cert: yield* pem("certificate", "CERTIFICATE"), key: yield* pem("key", "PRIVATE KEY") }
    }
    let bootstrapToken: string | null = null
    if (keelos["bootstrap_token"] !== undefined) {
      bootstrapToken = yield* r.string(keelos["bootstrap_token"], ["keelos", "bootstrap_token"])
      if (!/^[0-9a-f]{32,128}$/.test(bootstrapToken)) return yield* r.fail(["keelos", "bootstrap_token"], "a bootstrap token is 32 to 128 lowercase hex digits (osctl gen token)")
    }
    if (pki !== null && bootstrapToken !== null) r.warn(["keelos", "bootstrap_token"], "keelos.bootstrap_token is not used when keelos.pki is given; ignored")
    const hostname = doc["hostname"] === undefined ? null : yield* r.string(doc["hostname"], ["hostname"])
    let machineNetwork: NetworkConfig.NetworkConfig | null = null
    if (keelos["network"] !== undefined) {
      const decoded = Schema.decodeUnknownExit(NetworkConfig.NetworkConfig, NetworkConfig.strict)(keelos["network"])
      if (decoded._tag === "Failure") {
        return yield* r.fail(["keelos", "network"], `keelos.network is not a KeelOS network configuration: ${String(Cause.squash(decoded.cause)).replace(/\s*\n\s*/g, "; ")}`)
      }
      machineNetwork = decoded.value
    }
    let update: UpdateWatch | null = null
    if (keelos["update"] !== undefined) {
      const path = ["keelos", "update"]
      const u = yield* r.record(keelos["update"], path)
      r.unknownKeys(u, ["source", "mode", "window", "interval_minutes", "jitter_minutes"], path)
      const source = yield* r.string(u["source"], [...path, "source"])
      if (!/^(https?|oci|oci\+http):\/\/./.test(source)) return yield* r.fail([...path, "source"], `${JSON.stringify(source)} is not a channel's latest.json (http, https) or a release in a registry (oci://)`)
      const mode = u["mode"] ?? "check"
      if (mode !== "off" && mode !== "check" && mode !== "install") return yield* r.fail([...path, "mode"], `mode ${JSON.stringify(mode)}: off, check or install`)
      const minutes = (key: string, fallback: number, least: number) =>
        Effect.gen(function*() {
          const value = u[key] ?? fallback
          if (typeof value !== "number" || !Number.isInteger(value) || value < least) return yield* r.fail([...path, key], `${key} must be a whole number of minutes, at least ${least}`)
          return value * 60_000
        })
      const window = u["window"] === undefined ? null : yield* r.string(u["window"], [...path, "window"])
      if (mode === "install" && window === null) return yield* r.fail([...path, "mode"], "install mode needs a maintenance window (keelos.update.window, e.g. \"Sat 02:00-04:00 UTC\")")
      update = { mode, source, intervalMillis: yield* minutes("interval_minutes", 360, 1), jitterMillis: yield* minutes("jitter_minutes", 30, 0), window }
    }
    return { pki, bootstrapToken: pki === null ? bootstrapToken : null, hostname, machineNetwork, update }
  })

/** The machine config a seed describes, and what in it KeelOS does not apply. */
export const parseSeed = (seed: Seed): Effect.Effect<Parsed, ProvisionError> =>
  Effect.gen(function*() {
    const warnings: Array<string> = []
    const meta = yield* metaData(seed.metaData, warnings)
    const network = seed.networkConfig === undefined ? { interfaces: [], vlans: [], bonds: [] } : yield* networkConfig(seed.networkConfig, warnings)
    const user = seed.userData === undefined ? { pki: null, bootstrapToken: null, hostname: null, machineNetwork: null, update: null } : yield* userData(seed.userData, warnings)
    if (user.machineNetwork !== null && seed.networkConfig !== undefined) warnings.push("network-config: keelos.network in user-data is taken instead; network-config ignored")
    if (user.pki === null && user.bootstrapToken === null) warnings.push("user-data: no keelos.pki and no keelos.bootstrap_token: the node's API stays unreachable until it is provisioned")
    return {
      config: {
        instanceId: meta.instanceId,
        hostname: meta.hostname ?? user.hostname,
        network,
        pki: user.pki,
        bootstrapToken: user.bootstrapToken,
        machineNetwork: user.machineNetwork,
        update: user.update
      },
      warnings
    }
  })

/** What `ds=nocloud` on the kernel command line says: documents to fetch from `seedFrom`, meta-data given inline. */
export interface CommandLineSeed {
  readonly seedFrom?: string
  readonly instanceId?: string
  readonly hostname?: string
}

/**
 * `ds=nocloud;s=http://10.0.2.2:8000/` or `ds=nocloud;i=node-7;h=node-7` (also `nocloud-net`, and
 * the long keys seedfrom, instance-id, local-hostname), as cloud-init reads it; undefined without
 * one. A source other than file://, http:// and https:// is refused.
 */
export const parseCommandLine = (words: ReadonlyArray<string>): Effect.Effect<CommandLineSeed | undefined, ProvisionError> =>
  Effect.gen(function*() {
    const word = [...words].reverse().find((w) => /^ds=nocloud(-net)?(;|$)/.test(w))
    if (word === undefined) return undefined
    const fail = (reason: string) => new ProvisionError({ document: "kernel command line", line: null, reason })
    const seed: { seedFrom?: string; instanceId?: string; hostname?: string } = {}
    for (const part of word.split(";").slice(1)) {
      const eq = part.indexOf("=")
      const key = eq < 0 ? part : part.slice(0, eq)
      const value = eq < 0 ? "" : part.slice(eq + 1)
      if (key === "s" || key === "seedfrom") seed.seedFrom = value
      else if (key === "i" || key === "instance-id") seed.instanceId = value
      else if (key === "h" || key === "local-hostname") seed.hostname = value
      else return yield* fail(`${word}: unknown key ${JSON.stringify(key)} (KeelOS reads s, i and h)`)
    }
    if (seed.seedFrom !== undefined && !/^(file|https?):\/\/./.test(seed.seedFrom)) {
      return yield* fail(`${word}: the seed must come from a file://, http:// or https:// address`)
    }
    if (seed.seedFrom === undefined && seed.instanceId === undefined) return yield* fail(`${word}: needs s= (where the seed is) or i= (the instance id)`)
    return seed
  })
