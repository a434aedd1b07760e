/**
 * @keelos/platform-node: the real layers. The only package that may use node:* I/O, koffi and
 * @effect/platform-node (the determinism lint enforces it).
 */
export * as NodeBlockDevices from "./NodeBlockDevices.ts"
export * as NodeBootEnvBlock from "./NodeBootEnvBlock.ts"
export * as NodeConfigFile from "./NodeConfigFile.ts"
export * as NodeControlSocket from "./NodeControlSocket.ts"
export * as NodeDhcpSockets from "./NodeDhcpSockets.ts"
export * as NodeKernel from "./NodeKernel.ts"
export * as NodeLinks from "./NodeLinks.ts"
export * as NodeMounts from "./NodeMounts.ts"
export * as NodeMtlsClient from "./NodeMtlsClient.ts"
export * as NodeMtlsServer from "./NodeMtlsServer.ts"
export * as NodePlatform from "./NodePlatform.ts"
export * as NodePower from "./NodePower.ts"
export * as NodeReaper from "./NodeReaper.ts"
export * as NodeSignals from "./NodeSignals.ts"
export * as NodeSockets from "./NodeSockets.ts"
export * as NodeVolumes from "./NodeVolumes.ts"
export * as NodeWatchdog from "./NodeWatchdog.ts"
export { NodeRuntime, NodeServices, NodeSocket } from "@effect/platform-node"
