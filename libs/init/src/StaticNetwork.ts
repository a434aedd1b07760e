/**
 * Early boot's part of the network: the machine config's bonds and VLANs made, its links up with
 * their MTU, static addresses and default routes, and the static DNS servers in resolv.conf, before any service starts, so the
 * agent is reachable. DHCP and later changes belong to the NetworkManager keel-init runs next.
 */
import { Effect, FileSystem } from "effect"
import { NodeFiles } from "@keelos/domain"
import { NetworkConfig, Resolver, StaticConfig } from "@keelos/network"

export const networkFile = NodeFiles.networkFile

/** Where the resolver configuration goes: tmpfs, since the root is read-only (/etc/resolv.conf links here). */
export const resolvConf = NodeFiles.resolvConf

export const load = NetworkConfig.load

/** Apply `config`; returns one line per interface saying what it has now, and one for DNS. */
export const apply = (config: NetworkConfig.NetworkConfig) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const lines: Array<string> = [...yield* StaticConfig.createVirtual(config)]
    for (const link of config.interfaces) lines.push(yield* StaticConfig.apply(link))
    const servers = config.nameservers ?? []
    if (servers.length > 0) {
      const failed = (e: { readonly message: string }) => new NetworkConfig.NetworkConfigError({ file: resolvConf, reason: e.message })
      yield* Effect.mapError(fs.makeDirectory("/run/keel", { recursive: true }), failed)
      yield* Effect.mapError(fs.writeFileString(resolvConf, Resolver.render(new Map([["static", NetworkConfig.resolverEntry(config)]]))), failed)
      lines.push(`dns ${servers.join(" ")}`)
    }
    return lines
  })
