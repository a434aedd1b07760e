/** The NoCloud parser against the shapes of the cloud-init documentation's examples, and broken documents. */
import { beforeAll, describe, expect, it } from "vitest"
import { Cause, Effect, Exit, Option } from "effect"
import { NoCloud, type ProvisionError, Yaml } from "../src/index.ts"

// The parser loads its YAML library on first use (asynchronously); load it once so these cases can run synchronously.
beforeAll(() => Effect.runPromise(Yaml.parse("warm-up", "")))

const run = (seed: NoCloud.Seed) => Effect.runSyncExit(NoCloud.parseSeed(seed))
const ok = (seed: NoCloud.Seed) => {
  const exit = run(seed)
  if (!Exit.isSuccess(exit)) throw new Error(String(exit.cause))
  return exit.value
}
const refusal = (seed: NoCloud.Seed): ProvisionError => {
  const exit = run(seed)
  if (Exit.isSuccess(exit)) throw new Error("expected a refusal")
  return Option.getOrThrow(Cause.findErrorOption(exit.cause))
}

const metaData = "instance-id: iid-local01\nlocal-hostname: cloudimg\n"
const token = "0123456789abcdef0123456789abcdef"

describe("meta-data", () => {
  it("reads the instance id and hostname (NoCloud documentation example)", () => {
    const { config } = ok({ metaData, userData: `#cloud-config\nkeelos:\n  bootstrap_token: ${token}\n` })
    expect(config).toMatchObject({ instanceId: "iid-local01", hostname: "cloudimg", bootstrapToken: token, pki: null })
  })

  it("refuses a missing instance id and broken YAML, naming the line", () => {
    expect(refusal({ metaData: "local-hostname: a\n" }).message).toBe("meta-data, line 1: instance-id must be a non-empty string")
    const broken = refusal({ metaData: "instance-id: x\nlocal-hostname: [a\n" })
    expect(broken.document).toBe("meta-data")
    expect(broken.line).toBe(3)
    expect(refusal({ metaData: "instance-id: x\nlocal-hostname: not_a_host!\n" }).message).toBe("meta-data, line 2: \"not_a_host!\" is not a hostname")
  })
})

describe("network-config", () => {
  it("reads version 1 (static with netmask, DHCP, global nameservers, a bond, a VLAN) and warns about bridges", () => {
    const networkConfig = [
      "version: 1",
      "config:",
      "  - type: physical",
      "    name: eth0",
      "    mac_address: '52:54:00:12:34:00'",
      "    subnets:",
      "      - type: static",
      "        address: 192.168.1.10",
      "        netmask: 255.255.255.0",
      "        gateway: 192.168.1.254",
      "  - type: physical",
      "    name: eth1",
      "    subnets:",
      "      - type: dhcp",
      "  - type: bond",
      "    name: bond0",
      "    bond_interfaces: [eth2, eth3]",
      "    params:",
      "      bond-mode: active-backup",
      "      bond-miimon: 100",
      "    subnets:",
      "      - type: dhcp4",
      "  - type: vlan",
      "    name: eth0.101",
      "    vlan_link: eth0",
      "    vlan_id: 101",
      "    subnets:",
      "      - type: static",
      "        address: 192.168.2.10/24",
      "  - type: bridge",
      "    name: br0",
      "  - type: nameserver",
      "    address: [192.168.1.1]"
    ].join("\n")
    const { config, warnings } = ok({ metaData, networkConfig })
    expect(config.network.interfaces).toEqual([
      { name: "eth0", dhcp4: false, addresses: ["192.168.1.10/24"], gateway: "192.168.1.254", nameservers: ["192.168.1.1"] },
      { name: "eth1", dhcp4: true, addresses: [], nameservers: ["192.168.1.1"] },
      { name: "bond0", dhcp4: true, addresses: [], nameservers: ["192.168.1.1"] },
      { name: "eth0.101", dhcp4: false, addresses: ["192.168.2.10/24"], nameservers: ["192.168.1.1"] }
    ])
    expect(config.network.bonds).toEqual([{ name: "bond0", mode: "active-backup", links: ["eth2", "eth3"], miimonMillis: 100 }])
    expect(config.network.vlans).toEqual([{ name: "eth0.101", link: "eth0", id: 101 }])
    expect(warnings).toContainEqual("network-config, line 30: bridge interfaces (bridges, routes) are not supported yet; ignored")
  })

  it("reads version 2 bonds and VLANs as netplan writes them, and refuses a bad mode or VLAN id with the line", () => {
    const networkConfig = [
      "version: 2",
      "ethernets:",
      "  eth0: {}",
      "  eth1: {}",
      "bonds:",
      "  bond0:",
      "    interfaces: [eth0, eth1]",
      "    parameters:",
      "      mode: 802.3ad",
      "      mii-monitor-interval: 100",
      "    dhcp4: true",
      "vlans:",
      "  vlan.10:",
      "    id: 10",
      "    link: bond0",
      "    addresses: [10.10.0.5/24]",
      "bridges:",
      "  br0: {}"
    ].join("\n")
    const { config, warnings } = ok({ metaData, networkConfig })
    expect(config.network.bonds).toEqual([{ name: "bond0", mode: "802.3ad", links: ["eth0", "eth1"], miimonMillis: 100 }])
    expect(config.network.vlans).toEqual([{ name: "vlan.10", link: "bond0", id: 10 }])
    expect(config.network.interfaces.map((i) => [i.name, i.dhcp4, i.addresses])).toEqual([
      ["eth0", false, []],
      ["eth1", false, []],
      ["bond0", true, []],
      ["vlan.10", false, ["10.10.0.5/24"]]
    ])
    expect(warnings).toContainEqual("network-config, line 17: bridges (bridges, wifis, renderer, ...) are not supported yet; ignored")
    const badMode = networkConfig.replace("mode: 802.3ad", "mode: fastest")
    expect(refusal({ metaData, networkConfig: badMode }).message).toMatch(/^network-config, line 8: bond mode "fastest": KeelOS makes balance-rr, active-backup/)
    expect(refusal({ metaData, networkConfig: networkConfig.replace("id: 10", "id: 5000") }).message).toBe("network-config, line 14: 5000 is not a VLAN id (1 to 4094)")
  })

  it("reads version 2 (netplan ethernets, under network: or not) and warns about what it does not apply", () => {
    const networkConfig = [
      "network:",
      "  version: 2",
      "  ethernets:",
      "    id0:",
      "      match:",
      "        macaddress: '00:11:22:33:44:55'",
      "      set-name: eth0",
      "      addresses: [10.0.2.15/24, 'fd00::5/64']",
      "      routes:",
      "        - to: default",
      "          via: 10.0.2.2",
      "      nameservers:",
      "        addresses: [10.0.2.3]",
      "    eth1:",
      "      dhcp4: true",
      "  bridges:",
      "    br0: {}"
    ].join("\n")
    const { config, warnings } = ok({ metaData, networkConfig })
    expect(config.network.interfaces).toEqual([
      { name: "eth0", dhcp4: false, addresses: ["10.0.2.15/24", "fd00::5/64"], gateway: "10.0.2.2", nameservers: ["10.0.2.3"] },
      { name: "eth1", dhcp4: true, addresses: [], nameservers: [] }
    ])
    expect(warnings.some((w) => w.includes("line 16: bridges"))).toBe(true)
    expect(warnings.some((w) => w.includes("matching by MAC or driver is not supported yet"))).toBe(true)
  })

  it("reads IPv6: static addresses and gateways, SLAAC on or off, MTU; warns about DHCPv6", () => {
    const v2 = [
      "version: 2",
      "ethernets:",
      "  eth0:",
      "    accept-ra: true",
      "    dhcp6: true",
      "    mtu: 9000",
      "    addresses: ['2001:db8::10/64']",
      "    routes:",
      "      - to: '::/0'",
      "        via: '2001:db8::1'",
      "  eth1:",
      "    accept-ra: false",
      "    gateway6: 'fe80::1'"
    ].join("\n")
    const parsed = ok({ metaData, networkConfig: v2 })
    expect(parsed.config.network.interfaces).toEqual([
      { name: "eth0", dhcp4: false, slaac: true, mtu: 9000, addresses: ["2001:db8::10/64"], gateway6: "2001:db8::1", nameservers: [] },
      { name: "eth1", dhcp4: false, slaac: false, addresses: [], gateway6: "fe80::1", nameservers: [] }
    ])
    expect(parsed.warnings).toContain("network-config, line 5: ethernets.eth0.dhcp6: DHCPv6 is not supported yet (SLAAC is, with accept-ra); ignored")
    expect(parsed.warnings.filter((w) => w.startsWith("network-config"))).toHaveLength(1)
    // Version 1, as in cloud-init's documentation: static6 and ipv6_slaac subnets.
    const v1 = [
      "version: 1",
      "config:",
      "  - type: physical",
      "    name: eth0",
      "    mtu: '1480'",
      "    subnets:",
      "      - type: static6",
      "        address: '2001:db8::20/64'",
      "        gateway: '2001:db8::1'",
      "      - type: ipv6_slaac",
      "      - type: dhcp6"
    ].join("\n")
    const one = ok({ metaData, networkConfig: v1 })
    expect(one.config.network.interfaces).toEqual([
      { name: "eth0", dhcp4: false, slaac: true, mtu: 1480, addresses: ["2001:db8::20/64"], gateway6: "2001:db8::1", nameservers: [] }
    ])
    expect(one.warnings.filter((w) => w.startsWith("network-config"))).toEqual(["network-config, line 11: subnet type dhcp6 (DHCPv6) is not supported yet; ignored"])
    expect(refusal({ metaData, networkConfig: "version: 2\nethernets:\n  eth0:\n    addresses: ['2001:db8::zz/64']\n" }).message)
      .toBe("network-config, line 4: \"2001:db8::zz/64\" is not an IPv6 address with a prefix length")
    expect(refusal({ metaData, networkConfig: "version: 2\nethernets:\n  eth0:\n    mtu: 20\n" }).message).toBe("network-config, line 4: 20 is not an MTU (68 to 65535)")
  })

  it("refuses a bad address, a bad gateway and an unknown version, with the line", () => {
    expect(refusal({ metaData, networkConfig: "version: 2\nethernets:\n  eth0:\n    addresses: [10.0.2.300/24]\n" }).message)
      .toBe("network-config, line 4: \"10.0.2.300/24\" is not an IPv4 address with a prefix length")
    expect(refusal({ metaData, networkConfig: "version: 2\nethernets:\n  eth0:\n    gateway4: nowhere\n" }).line).toBe(4)
    expect(refusal({ metaData, networkConfig: "version: 3\n" }).message).toBe("network-config, line 1: version 3: KeelOS reads network-config version 1 and 2")
  })
})

describe("user-data", () => {
  const pem = (kind: string) => `-----BEGIN ${kind}-----\\nAAAA\\n-----END ${kind}-----\\n`
  it("reads the keelos section and warns about every cloud-config key KeelOS has no meaning for", () => {
    const userData = [
      "#cloud-config",
      "hostname: from-user-data",
      "users:",
      "  - name: admin",
      "packages: [htop]",
      "runcmd:",
      "  - echo hi",
      "keelos:",
      `  pki:`,
      `    ca: "${pem("CERTIFICATE")}"`,
      `    certificate: "${pem("CERTIFICATE")}"`,
      `    key: "${pem("PRIVATE KEY")}"`,
      "  colour: blue"
    ].join("\n")
    const { config, warnings } = ok({ metaData: "instance-id: i-1\n", userData })
    expect(config.hostname).toBe("from-user-data")
    expect(config.pki?.key).toContain("BEGIN PRIVATE KEY")
    expect(warnings).toEqual([
      "user-data, line 3: users: KeelOS has no user accounts; ignored",
      "user-data, line 5: packages: KeelOS has no package manager; ignored",
      "user-data, line 6: runcmd: KeelOS runs no commands; ignored",
      "user-data, line 13: keelos.colour: not used by KeelOS; ignored"
    ])
  })

  it("refuses user-data that is not #cloud-config, a weak token, and a key that is not PEM", () => {
    expect(refusal({ metaData, userData: "#!/bin/sh\necho hi\n" }).message).toContain("#cloud-config format only")
    expect(refusal({ metaData, userData: "#cloud-config\nkeelos:\n  bootstrap_token: abc\n" }).message).toBe("user-data, line 3: a bootstrap token is 32 to 128 lowercase hex digits (osctl gen token)")
    expect(refusal({ metaData, userData: `#cloud-config\nkeelos:\n  pki:\n    ca: "${pem("CERTIFICATE")}"\n    certificate: "${pem("CERTIFICATE")}"\n    key: nope\n` }).line).toBe(6)
  })

  it("warns when a seed gives the node no way to be reached", () => {
    expect(ok({ metaData }).warnings).toContain("user-data: no keelos.pki and no keelos.bootstrap_token: the node's API stays unreachable until it is provisioned")
  })
})

describe("ds=nocloud on the kernel command line", () => {
  const parse = (words: ReadonlyArray<string>) => Effect.runSync(Effect.result(NoCloud.parseCommandLine(words)))
  it("reads the seed's address and inline meta-data as cloud-init does", () => {
    expect(parse(["console=ttyS0", "ds=nocloud;s=http://10.0.2.2:8000/seeds/node-9/"])).toMatchObject({ success: { seedFrom: "http://10.0.2.2:8000/seeds/node-9/" } })
    expect(parse(["ds=nocloud;i=iid-1;h=node-1"])).toMatchObject({ success: { instanceId: "iid-1", hostname: "node-1" } })
    expect(parse(["ds=nocloud-net;seedfrom=file:///seed/;local-hostname=n"])).toMatchObject({ success: { seedFrom: "file:///seed/", hostname: "n" } })
    expect(parse(["quiet", "root=/dev/vda"])).toMatchObject({ success: undefined })
  })

  it("refuses an unknown key, a source it cannot read and a seed with neither s= nor i=", () => {
    expect(parse(["ds=nocloud;x=1;i=a"])).toMatchObject({ failure: { reason: expect.stringContaining("unknown key \"x\"") } })
    expect(parse(["ds=nocloud;s=ftp://host/"])).toMatchObject({ failure: { reason: expect.stringContaining("file://, http:// or https://") } })
    expect(parse(["ds=nocloud;h=only-a-name"])).toMatchObject({ failure: { reason: expect.stringContaining("needs s=") } })
  })
})

describe("user-data keelos.network and keelos.update", () => {
  const metaData = "instance-id: i-9\n"
  it("takes the node's network as KeelOS writes it over network-config, and the channel the agent watches", () => {
    const userData = [
      "#cloud-config",
      "keelos:",
      "  network:",
      "    bonds: [{ name: bond0, mode: active-backup, links: [eth0, eth1] }]",
      "    interfaces: [{ name: bond0, dhcp4: true }]",
      "  update:",
      "    source: oci://registry.example:5000/keelos/os:stable",
      "    mode: install",
      "    window: Sat 02:00-04:00 UTC",
      "    interval_minutes: 60"
    ].join("\n")
    const { config, warnings } = Effect.runSync(NoCloud.parseSeed({ metaData, userData, networkConfig: "version: 2\nethernets:\n  eth0:\n    dhcp4: true\n" }))
    expect(config.machineNetwork).toEqual({ bonds: [{ name: "bond0", mode: "active-backup", links: ["eth0", "eth1"] }], interfaces: [{ name: "bond0", dhcp4: true }] })
    expect(config.update).toEqual({ mode: "install", source: "oci://registry.example:5000/keelos/os:stable", intervalMillis: 3_600_000, jitterMillis: 1_800_000, window: "Sat 02:00-04:00 UTC" })
    expect(warnings).toContain("network-config: keelos.network in user-data is taken instead; network-config ignored")
  })

  it("refuses a network KeelOS cannot apply, a source it cannot watch and install mode without a window, with the line", () => {
    const refuse = (lines: ReadonlyArray<string>) => {
      const exit = Effect.runSyncExit(NoCloud.parseSeed({ metaData, userData: ["#cloud-config", "keelos:", ...lines].join("\n") }))
      return Exit.isFailure(exit) ? (Cause.squash(exit.cause) as ProvisionError).message : "accepted"
    }
    expect(refuse(["  network:", "    interfaces: [{ name: eth0, addresses: [10.0.0.300/24] }]"])).toMatch(/^user-data, line 3: keelos.network is not a KeelOS network configuration: /)
    expect(refuse(["  update:", "    source: ftp://example/latest.json"])).toBe("user-data, line 4: \"ftp://example/latest.json\" is not a channel's latest.json (http, https) or a release in a registry (oci://)")
    expect(refuse(["  update:", "    source: https://example/latest.json", "    mode: install"])).toBe("user-data, line 5: install mode needs a maintenance window (keelos.update.window, e.g. \"Sat 02:00-04:00 UTC\")")
  })
})
