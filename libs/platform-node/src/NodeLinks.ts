/**
 * Links through the kernel's own interfaces, no `ip` binary: SIOCGIFFLAGS/SIOCSIFFLAGS to bring a
 * link up or down (boot.md experiment 1) and SIOCSIFMTU for its MTU, and rtnetlink (AF_NETLINK,
 * NETLINK_ROUTE) messages built here byte by byte: RTM_NEWLINK and RTM_DELLINK for VLANs, bonds
 * and their ports (IFLA_LINKINFO, IFLA_MASTER); for addresses and routes RTM_NEWADDR and
 * RTM_DELADDR (with IFA_CACHEINFO lifetimes for leases), RTM_NEWROUTE and RTM_DELROUTE, and
 * RTM_GETADDR, RTM_GETLINK and RTM_GETROUTE dumps to read back what the kernel has. Every request
 * asks for an acknowledgement and reads the errno in it (internal/rtnetlink).
 */
import * as fs from "node:fs"
import { Array as Arr, Effect, Layer, Order } from "effect"
import { Links } from "@keelos/platform"
import { Errno, libc } from "./internal/libc.ts"
import {
  AF_INET,
  AF_INET6,
  attribute,
  exchange,
  failure,
  formatAddress,
  ifreq,
  IFNAMSIZ,
  ignoreAbsent,
  ignoreExists,
  invalid,
  linkIndex,
  message,
  nested,
  nextSequence,
  NLA_F_NESTED,
  NLM_F_ACK,
  NLM_F_CREATE,
  NLM_F_DUMP,
  NLM_F_EXCL,
  NLM_F_REPLACE,
  NLM_F_REQUEST,
  parseAddress,
  parseCidr,
  SOCK_DGRAM,
  u16,
  u32,
  withSocket
} from "./internal/rtnetlink.ts"

const SIOCGIFFLAGS = 0x8913
const SIOCSIFFLAGS = 0x8914
const SIOCSIFMTU = 0x8922
const IFF_UP = 0x1
const RTM_NEWADDR = 20
const RTM_DELADDR = 21
const RTM_GETADDR = 22
const RTM_NEWROUTE = 24
const RTM_DELROUTE = 25
const RTM_GETROUTE = 26
const IFA_ADDRESS = 1
const IFA_LOCAL = 2
const IFA_BROADCAST = 4
const IFA_CACHEINFO = 6
const RTA_DST = 1
const RTA_OIF = 4
const RTA_GATEWAY = 5
const RTA_PRIORITY = 6
const RT_TABLE_MAIN = 254
const RTPROT_STATIC = 4
const RTPROT_DHCP = 16
/** INFINITY_LIFE_TIME: an address that never expires. */
const forever = 0xffffffff
const RT_SCOPE_UNIVERSE = 0
const RTN_UNICAST = 1

const broadcastOf = (address: Buffer, prefix: number): Buffer | undefined => {
  if (address.length !== 4 || prefix >= 31) return undefined
  const host = prefix === 0 ? 0xffffffff : (2 ** (32 - prefix)) - 1
  const value = (address.readUInt32BE(0) | host) >>> 0
  const buffer = Buffer.alloc(4)
  buffer.writeUInt32BE(value, 0)
  return buffer
}

const ifaddrmsgOf = (family: number, prefix: number, index: number) => {
  const ifaddrmsg = Buffer.alloc(8)
  ifaddrmsg.writeUInt8(family, 0)
  ifaddrmsg.writeUInt8(prefix, 1)
  ifaddrmsg.writeUInt8(RT_SCOPE_UNIVERSE, 3)
  ifaddrmsg.writeUInt32LE(index, 4)
  return ifaddrmsg
}

const cacheinfo = (lifetime: Links.Lifetime) => {
  const buffer = Buffer.alloc(16)
  const seconds = (n: number) => Math.max(0, Math.min(forever - 1, Math.floor(n)))
  buffer.writeUInt32LE(seconds(lifetime.preferredSeconds), 0)
  buffer.writeUInt32LE(seconds(lifetime.validSeconds), 4)
  return buffer
}

const routeRequest = (operation: "addRoute" | "removeRoute", route: Links.Route) =>
  Effect.gen(function*() {
    const destination = parseCidr(route.destination)
    const gateway = parseAddress(route.gateway)
    if (destination === undefined || gateway === undefined || gateway.family !== destination.family) {
      return yield* invalid(operation, route.link, `route ${route.destination} via ${route.gateway}: not an address and gateway of one family`)
    }
    const index = yield* linkIndex(operation, route.link)
    const protocol = route.protocol === "dhcp" ? RTPROT_DHCP : RTPROT_STATIC
    const rtmsg = Buffer.from([destination.family, destination.prefix, 0, 0, RT_TABLE_MAIN, protocol, RT_SCOPE_UNIVERSE, RTN_UNICAST, 0, 0, 0, 0])
    const sequence = nextSequence()
    const flags = operation === "addRoute" ? NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL : NLM_F_REQUEST | NLM_F_ACK
    const request = message(operation === "addRoute" ? RTM_NEWROUTE : RTM_DELROUTE, flags, sequence, [
      rtmsg,
      ...(destination.prefix > 0 ? [attribute(RTA_DST, destination.address)] : []),
      attribute(RTA_GATEWAY, gateway.bytes),
      attribute(RTA_OIF, u32(index)),
      ...(route.metric === undefined || route.metric === 0 ? [] : [attribute(RTA_PRIORITY, u32(route.metric))])
    ])
    return yield* exchange(operation, route.link, request, sequence)
  })

const RTM_NEWLINK = 16
const RTM_GETLINK = 18
const IFLA_ADDRESS = 1
const IFLA_IFNAME = 3
const IFLA_MTU = 4
const IFLA_OPERSTATE = 16
const IFLA_LINK = 5
const IFLA_MASTER = 10
const IFLA_LINKINFO = 18
const IFLA_INFO_KIND = 1
const IFLA_INFO_DATA = 2
const IFLA_VLAN_ID = 1
const IFLA_BOND_MODE = 1
const IFLA_BOND_MIIMON = 3
const RTM_DELLINK = 17
const bondModes: ReadonlyArray<Links.BondMode> = ["balance-rr", "active-backup", "balance-xor", "broadcast", "802.3ad", "balance-tlb", "balance-alb"]
const operstates = ["unknown", "notpresent", "down", "lowerlayerdown", "testing", "dormant", "up"]

/** Every link, from an RTM_GETLINK dump (the links of this network namespace, whatever sysfs shows). */
const linkDump = Effect.gen(function*() {
  const ifinfomsg = Buffer.alloc(16)
  const sequence = nextSequence()
  const replies = yield* exchange("list", "*", message(RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, sequence, [ifinfomsg]), sequence)
  const found: Array<Omit<Links.LinkInfo, "master"> & { readonly index: number; readonly masterIndex: number }> = []
  for (const reply of replies) {
    if (reply.type !== RTM_NEWLINK) continue
    const index = reply.body.readInt32LE(4)
    const flags = reply.body.readUInt32LE(8)
    let name = ""
    let mtu = 0
    let mac = ""
    let operstate = "unknown"
    let kind: string | null = null
    let masterIndex = 0
    for (let offset = 16; offset + 4 <= reply.body.length;) {
      const length = reply.body.readUInt16LE(offset)
      const type = reply.body.readUInt16LE(offset + 2)
      if (length < 4) break
      const data = reply.body.subarray(offset + 4, offset + length)
      if (type === IFLA_IFNAME) name = data.toString("utf8").replace(/\0.*$/, "")
      if (type === IFLA_MTU && data.length >= 4) mtu = data.readUInt32LE(0)
      if (type === IFLA_ADDRESS) mac = [...data].map((b) => b.toString(16).padStart(2, "0")).join(":")
      if (type === IFLA_OPERSTATE && data.length >= 1) operstate = operstates[data.readUInt8(0)] ?? "unknown"
      if (type === IFLA_MASTER && data.length >= 4) masterIndex = data.readUInt32LE(0)
      if ((type & ~NLA_F_NESTED) === IFLA_LINKINFO) {
        for (let inner = 0; inner + 4 <= data.length;) {
          const innerLength = data.readUInt16LE(inner)
          if (innerLength < 4) break
          if ((data.readUInt16LE(inner + 2) & ~NLA_F_NESTED) === IFLA_INFO_KIND) kind = data.subarray(inner + 4, inner + innerLength).toString("utf8").replace(/\0.*$/, "")
          inner += (innerLength + 3) & ~3
        }
      }
      offset += (length + 3) & ~3
    }
    found.push({ index, name, kind, masterIndex, up: (flags & IFF_UP) !== 0, operstate, mtu, mac })
  }
  const names = new Map(found.map((l) => [l.index, l.name]))
  // By name in code-unit order: localeCompare would build an ICU collator first (0.2 s at boot under TCG).
  return Arr.sort(
    found.map(({ masterIndex, ...link }) => ({ ...link, master: names.get(masterIndex) ?? null })),
    Order.mapInput(Order.String, (link: Links.LinkInfo) => link.name)
  )
})

const list: Links.Links["Service"]["list"] = Effect.map(linkDump, (links) => links.map(({ index: _, ...link }) => link))

const routesOf = (family: number) =>
  Effect.gen(function*() {
    const rtmsg = Buffer.alloc(12)
    rtmsg.writeUInt8(family, 0)
    const sequence = nextSequence()
    const replies = yield* exchange("routes", "*", message(RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP, sequence, [rtmsg]), sequence)
    const names = new Map((yield* linkDump).map((l) => [l.index, l.name]))
    const found: Array<Links.RouteInfo> = []
    for (const reply of replies) {
      if (reply.type !== RTM_NEWROUTE || reply.body.readUInt8(4) !== RT_TABLE_MAIN || reply.body.readUInt8(0) !== family) continue
      // Only unicast routes: IPv6 lists local, multicast and anycast ones in the main table too.
      if (reply.body.readUInt8(7) !== RTN_UNICAST) continue
      const prefix = reply.body.readUInt8(1)
      let destination = family === AF_INET6 ? "::" : "0.0.0.0"
      let gateway: string | null = null
      let link: string | null = null
      for (let offset = 12; offset + 4 <= reply.body.length;) {
        const length = reply.body.readUInt16LE(offset)
        const type = reply.body.readUInt16LE(offset + 2)
        if (length < 4) break
        const data = reply.body.subarray(offset + 4, offset + length)
        if (type === RTA_DST) destination = formatAddress(family, data)
        if (type === RTA_GATEWAY) gateway = formatAddress(family, data)
        if (type === RTA_OIF && data.length === 4) link = names.get(data.readUInt32LE(0)) ?? null
        offset += (length + 3) & ~3
      }
      found.push({ destination: `${destination}/${prefix}`, gateway, link })
    }
    return found
  })

const routes: Links.Links["Service"]["routes"] = Effect.map(Effect.all([routesOf(AF_INET), routesOf(AF_INET6)]), ([v4, v6]) => [...v4, ...v6])

const setUp = (operation: "up" | "down", name: string) =>
  Buffer.byteLength(name) >= IFNAMSIZ
    ? Effect.fail(failure(operation, name, Errno.ENODEV, "name too long"))
    : withSocket(operation, name, AF_INET, SOCK_DGRAM, 0, (fd) =>
      Effect.suspend(() => {
        const c = libc()
        const request = ifreq(name)
        if (c.ioctl(fd, SIOCGIFFLAGS, request) !== 0) return Effect.fail(failure(operation, name, c.errno(), "SIOCGIFFLAGS"))
        const flags = request.readUInt16LE(IFNAMSIZ)
        request.writeUInt16LE(operation === "up" ? flags | IFF_UP : flags & ~IFF_UP, IFNAMSIZ)
        if (c.ioctl(fd, SIOCSIFFLAGS, request) !== 0) return Effect.fail(failure(operation, name, c.errno(), "SIOCSIFFLAGS"))
        return Effect.void
      }))

const ifinfomsgOf = (index: number) => {
  const ifinfomsg = Buffer.alloc(16)
  ifinfomsg.writeInt32LE(index, 4)
  return ifinfomsg
}

const validName = (operation: Links.LinkError["operation"], name: string) =>
  /^[a-zA-Z0-9_.-]{1,15}$/.test(name) ? Effect.void : Effect.fail(invalid(operation, name, "a link name is 1 to 15 letters, digits, '.', '-' or '_'"))

export const make: Links.Links["Service"] = {
  up: (name) => setUp("up", name),
  down: (name) => setUp("down", name),

  create: (link) =>
    Effect.gen(function*() {
      yield* validName("create", link.name)
      const sequence = nextSequence()
      const info = link.kind === "vlan"
        ? [attribute(IFLA_INFO_KIND, Buffer.from("vlan")), nested(IFLA_INFO_DATA, [attribute(IFLA_VLAN_ID, u16(link.id))])]
        : [
          attribute(IFLA_INFO_KIND, Buffer.from("bond")),
          nested(IFLA_INFO_DATA, [attribute(IFLA_BOND_MODE, Buffer.from([bondModes.indexOf(link.mode)])), attribute(IFLA_BOND_MIIMON, u32(link.miimonMillis))])
        ]
      if (link.kind === "vlan" && (!Number.isInteger(link.id) || link.id < 1 || link.id > 4094)) return yield* invalid("create", link.name, `VLAN id ${link.id} is not between 1 and 4094`)
      const parent = link.kind === "vlan" ? [attribute(IFLA_LINK, u32(yield* linkIndex("create", link.parent)))] : []
      const request = message(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, sequence, [
        ifinfomsgOf(0),
        attribute(IFLA_IFNAME, Buffer.from(`${link.name}\0`)),
        ...parent,
        nested(IFLA_LINKINFO, info)
      ])
      yield* ignoreExists(exchange("create", link.name, request, sequence))
    }),

  remove: (name) =>
    Effect.gen(function*() {
      const index = yield* linkIndex("remove", name).pipe(Effect.catchIf((e) => e.reason === "NotFound", () => Effect.succeed(-1)))
      if (index < 0) return
      const sequence = nextSequence()
      yield* exchange("remove", name, message(RTM_DELLINK, NLM_F_REQUEST | NLM_F_ACK, sequence, [ifinfomsgOf(index)]), sequence)
    }),

  setMaster: (name, master) =>
    Effect.gen(function*() {
      const index = yield* linkIndex("setMaster", name)
      const masterIndex = master === null ? 0 : yield* linkIndex("setMaster", master)
      const sequence = nextSequence()
      yield* exchange("setMaster", name, message(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, sequence, [ifinfomsgOf(index), attribute(IFLA_MASTER, u32(masterIndex))]), sequence)
    }),

  setIpv6Autoconf: (name, enabled) =>
    Effect.try({
      try: () => {
        if (!/^[a-zA-Z0-9_.-]{1,15}$/.test(name)) throw Object.assign(new Error("not a link name"), { code: "EINVAL" })
        // accept_ra 1: take router advertisements (as a host, not a router); autoconf: make addresses from their prefixes.
        for (const knob of ["accept_ra", "autoconf"]) fs.writeFileSync(`/proc/sys/net/ipv6/conf/${name}/${knob}`, enabled ? "1" : "0")
      },
      catch: (error) => {
        const code = (error as { code?: string }).code
        return new Links.LinkError({
          operation: "setIpv6Autoconf",
          link: name,
          reason: code === "ENOENT" ? "NotFound" : code === "EACCES" || code === "EPERM" || code === "EROFS" ? "NotPermitted" : code === "EINVAL" ? "Invalid" : "Io",
          detail: `/proc/sys/net/ipv6/conf/${name}: ${code ?? String(error)}`
        })
      }
    }),

  setMtu: (name, mtu) =>
    !Number.isInteger(mtu) || mtu < 68 || mtu > 65535
      ? Effect.fail(invalid("setMtu", name, `MTU ${mtu} is not between 68 and 65535`))
      : Buffer.byteLength(name) >= IFNAMSIZ
      ? Effect.fail(failure("setMtu", name, Errno.ENODEV, "name too long"))
      : withSocket("setMtu", name, AF_INET, SOCK_DGRAM, 0, (fd) =>
        Effect.suspend(() => {
          const request = ifreq(name)
          request.writeInt32LE(mtu, IFNAMSIZ)
          return libc().ioctl(fd, SIOCSIFMTU, request) === 0 ? Effect.void : Effect.fail(failure("setMtu", name, libc().errno(), "SIOCSIFMTU"))
        })),

  addAddress: (name, cidr, lifetime) =>
    Effect.gen(function*() {
      const parsed = parseCidr(cidr)
      if (parsed === undefined) return yield* invalid("addAddress", name, `${JSON.stringify(cidr)} is not an IP address with a prefix length`)
      const index = yield* linkIndex("addAddress", name)
      const broadcast = broadcastOf(parsed.address, parsed.prefix)
      const sequence = nextSequence()
      // A lease replaces what is there (a renewal extends the lifetime); a static address is added once.
      const flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | (lifetime === undefined ? NLM_F_EXCL : NLM_F_REPLACE)
      const request = message(RTM_NEWADDR, flags, sequence, [
        ifaddrmsgOf(parsed.family, parsed.prefix, index),
        attribute(IFA_LOCAL, parsed.address),
        attribute(IFA_ADDRESS, parsed.address),
        ...(broadcast === undefined ? [] : [attribute(IFA_BROADCAST, broadcast)]),
        ...(lifetime === undefined ? [] : [attribute(IFA_CACHEINFO, cacheinfo(lifetime))])
      ])
      yield* ignoreExists(exchange("addAddress", name, request, sequence))
    }),

  removeAddress: (name, cidr) =>
    Effect.gen(function*() {
      const parsed = parseCidr(cidr)
      if (parsed === undefined) return yield* invalid("removeAddress", name, `${JSON.stringify(cidr)} is not an IP address with a prefix length`)
      const index = yield* linkIndex("removeAddress", name)
      const sequence = nextSequence()
      const request = message(RTM_DELADDR, NLM_F_REQUEST | NLM_F_ACK, sequence, [ifaddrmsgOf(parsed.family, parsed.prefix, index), attribute(IFA_LOCAL, parsed.address)])
      yield* ignoreAbsent(exchange("removeAddress", name, request, sequence))
    }),

  addRoute: (route) => Effect.asVoid(ignoreExists(routeRequest("addRoute", route))),
  removeRoute: (route) => Effect.asVoid(ignoreAbsent(routeRequest("removeRoute", route))),

  list,
  routes,
  addresses: (name) =>
    Effect.gen(function*() {
      const index = yield* linkIndex("addresses", name)
      // AF_UNSPEC: both families in one dump.
      const ifaddrmsg = Buffer.alloc(8)
      const sequence = nextSequence()
      const replies = yield* exchange("addresses", name, message(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, sequence, [ifaddrmsg]), sequence)
      const v4: Array<string> = []
      const v6: Array<string> = []
      for (const reply of replies) {
        if (reply.type !== RTM_NEWADDR || reply.body.readUInt32LE(4) !== index) continue
        const family = reply.body.readUInt8(0)
        const prefix = reply.body.readUInt8(1)
        // IPv4 names the address in IFA_LOCAL (IFA_ADDRESS is the peer on point-to-point links); IPv6 only in IFA_ADDRESS.
        const wanted = family === AF_INET ? IFA_LOCAL : family === AF_INET6 ? IFA_ADDRESS : -1
        for (let offset = 8; offset + 4 <= reply.body.length;) {
          const length = reply.body.readUInt16LE(offset)
          const type = reply.body.readUInt16LE(offset + 2)
          if (length < 4) break
          if (type === wanted && length === 4 + (family === AF_INET ? 4 : 16)) {
            const text = `${formatAddress(family, reply.body.subarray(offset + 4, offset + length))}/${prefix}`
            ;(family === AF_INET ? v4 : v6).push(text)
          }
          offset += (length + 3) & ~3
        }
      }
      const found = [...v4, ...v6]
      return found
    })
}

export const layer: Layer.Layer<Links.Links> = Layer.succeed(Links.Links)(make)
