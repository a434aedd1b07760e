/**
 * @keelos/platform-sim: deterministic twins of the platform layers. One seed drives every fault.
 */
export * as Durability from "./Durability.ts"
export { NodeHalted, PowerLost, PowerSupply } from "./Power.ts"
export { Prng } from "./Prng.ts"
export * as SimBootEnv from "./SimBootEnv.ts"
export { SimDisk } from "./SimDisk.ts"
export { SimFileSystem } from "./SimFileSystem.ts"
export { SimHardware } from "./SimHardware.ts"
export * as SimDhcpSockets from "./SimDhcpSockets.ts"
export * as SimLinks from "./SimLinks.ts"
export * as SimNetwork from "./SimNetwork.ts"
export * as SimVolumes from "./SimVolumes.ts"
export * as SimProcesses from "./SimProcesses.ts"
export type { HardwareOptions, PlatformMutation } from "./SimHardware.ts"
export { Trace } from "./Trace.ts"
