/**
 * Simulated network links with the kernel's rules that matter to KeelOS: an unknown link is
 * NotFound, an address or route already there is success, and a route's gateway must be inside a
 * subnet of an address on a link that is up (otherwise the kernel answers ENETUNREACH).
 */
import { Effect, Layer } from "effect"
import { Ipv6, Links } from "@keelos/platform"

export interface LinkState {
  up: boolean
  kind?: string
  master?: string | null
  mtu?: number
  autoconf6?: boolean
  readonly addresses: Array<string>
}

export interface SimLinks {
  readonly links: Map<string, LinkState>
  readonly routes: Array<Links.Route>
  readonly layer: Layer.Layer<Links.Links>
}

const toNumber = (address: string) => address.split(".").reduce((n, part) => n * 256 + Number(part), 0)

const contains = (cidr: string, address: string) => {
  const [network, prefix] = cidr.split("/")
  const bits = Number(prefix)
  const mask = bits === 0 ? 0 : 2 ** 32 - 2 ** (32 - bits)
  const masked = (n: number) => Math.floor(n / 2 ** (32 - bits)) * 2 ** (32 - bits) & mask
  return bits === 0 || masked(toNumber(network!)) === masked(toNumber(address))
}

const isCidr = (text: string) =>
  Ipv6.isCidr(text) ||
  (/^(\d{1,3}\.){3}\d{1,3}\/\d{1,2}$/.test(text) && text.split("/")[0]!.split(".").every((p) => Number(p) <= 255) && Number(text.split("/")[1]) <= 32)

export const make = (names: ReadonlyArray<string>): SimLinks => {
  const links = new Map<string, LinkState>(names.map((name) => [name, { up: false, addresses: [] }]))
  const routes: Array<Links.Route> = []
  const find = (operation: Links.LinkError["operation"], name: string) => {
    const link = links.get(name)
    return link === undefined
      ? Effect.fail(new Links.LinkError({ operation, link: name, reason: "NotFound", detail: "SIOCGIFINDEX: ENODEV" }))
      : Effect.succeed(link)
  }
  const service: Links.Links["Service"] = {
    up: (name) => Effect.map(find("up", name), (link) => void (link.up = true)),
    down: (name) => Effect.map(find("down", name), (link) => void (link.up = false)),
    create: (virtual) =>
      Effect.gen(function*() {
        if (virtual.kind === "vlan") yield* find("create", virtual.parent)
        if (!links.has(virtual.name)) links.set(virtual.name, { up: false, kind: virtual.kind, addresses: [] })
      }),
    remove: (name) =>
      Effect.sync(() => {
        links.delete(name)
        for (const link of links.values()) if (link.master === name) link.master = null
      }),
    setMaster: (name, master) =>
      Effect.gen(function*() {
        const link = yield* find("setMaster", name)
        if (master !== null) {
          const bond = yield* find("setMaster", master)
          if (bond.kind !== "bond") return yield* new Links.LinkError({ operation: "setMaster", link: name, reason: "Invalid", detail: `${master} is not a bond` })
          if (link.up) return yield* new Links.LinkError({ operation: "setMaster", link: name, reason: "NotPermitted", detail: "rtnetlink: EPERM (a port cannot be enslaved while up)" })
        }
        link.master = master
      }),
    setMtu: (name, mtu) => Effect.map(find("setMtu", name), (link) => void (link.mtu = mtu)),
    setIpv6Autoconf: (name, enabled) => Effect.map(find("setIpv6Autoconf", name), (link) => void (link.autoconf6 = enabled)),
    addAddress: (name, address) =>
      Effect.flatMap(find("addAddress", name), (link) => {
        if (!isCidr(address)) return Effect.fail(new Links.LinkError({ operation: "addAddress", link: name, reason: "Invalid", detail: address }))
        if (!link.addresses.includes(address)) link.addresses.push(address)
        return Effect.void
      }),
    removeAddress: (name, address) =>
      Effect.map(find("removeAddress", name), (link) => {
        const at = link.addresses.indexOf(address)
        if (at >= 0) link.addresses.splice(at, 1)
      }),
    removeRoute: (route) =>
      Effect.sync(() => {
        const at = routes.findIndex((r) => r.destination === route.destination && r.gateway === route.gateway && r.link === route.link)
        if (at >= 0) routes.splice(at, 1)
      }),
    addRoute: (route) =>
      Effect.flatMap(find("addRoute", route.link), (link) => {
        // An IPv6 gateway is usually the router's link-local address, on-link by definition.
        const reachable = link.up && (route.gateway.includes(":") || link.addresses.some((cidr) => !cidr.includes(":") && contains(cidr, route.gateway)))
        if (!reachable) return Effect.fail(new Links.LinkError({ operation: "addRoute", link: route.link, reason: "Io", detail: "rtnetlink: ENETUNREACH" }))
        if (!routes.some((r) => r.destination === route.destination && r.gateway === route.gateway && r.link === route.link)) routes.push(route)
        return Effect.void
      }),
    addresses: (name) => Effect.map(find("addresses", name), (link) => [...link.addresses]),
    list: Effect.sync(() => [...links].map(([name, link]) => ({ name, kind: link.kind ?? null, master: link.master ?? null, up: link.up, operstate: link.up ? "up" : "down", mtu: link.mtu ?? (name === "lo" ? 65536 : 1500), mac: "52:54:00:12:34:56" }))),
    routes: Effect.sync(() => routes.map((r) => ({ destination: r.destination, gateway: r.gateway, link: r.link })))
  }
  return { links, routes, layer: Layer.succeed(Links.Links)(service) }
}
