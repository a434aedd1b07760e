/** @keelos/network: node networking (issue #4). */
export * as Dhcp4Client from "./Dhcp4Client.ts"
export * as Dhcp4Message from "./Dhcp4Message.ts"
export * as Ipv4 from "./Ipv4.ts"
export * as LeaseInstaller from "./LeaseInstaller.ts"
export * as NetworkConfig from "./NetworkConfig.ts"
export * as NetworkManager from "./NetworkManager.ts"
export * as Resolver from "./Resolver.ts"
export * as StaticConfig from "./StaticConfig.ts"
