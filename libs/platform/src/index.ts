/**
 * @keelos/platform: contracts for every side effect of a node (DESIGN §5). Time and randomness
 * are Effect's own `Clock` and `Random`; files and processes are Effect's `FileSystem` and
 * `ChildProcessSpawner`.
 */
export * as BlockDevice from "./BlockDevice.ts"
export * as BootEnvBlock from "./BootEnvBlock.ts"
export * as ControlSocket from "./ControlSocket.ts"
export * as DhcpSockets from "./DhcpSockets.ts"
export * as DiskSpace from "./DiskSpace.ts"
export * as FilesystemSignature from "./FilesystemSignature.ts"
export * as HttpDownload from "./HttpDownload.ts"
export * as Ipv6 from "./Ipv6.ts"
export * as Kernel from "./Kernel.ts"
export * as KernelLog from "./KernelLog.ts"
export * as Links from "./Links.ts"
export * as ModulesDep from "./ModulesDep.ts"
export * as Mounts from "./Mounts.ts"
export * as Power from "./Power.ts"
export * as Reaper from "./Reaper.ts"
export * as Signals from "./Signals.ts"
export * as Sockets from "./Sockets.ts"
export * as SwitchRoot from "./SwitchRoot.ts"
export * as TlsCredentials from "./TlsCredentials.ts"
export * as TlsPeer from "./TlsPeer.ts"
export * as Volumes from "./Volumes.ts"
export * as Watchdog from "./Watchdog.ts"
