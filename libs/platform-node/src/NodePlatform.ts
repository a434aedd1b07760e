/**
 * Every real platform layer of a node in one: Effect's Node services for a daemon (FileSystem, Path, ...), a
 * ChildProcessSpawner that starts services without forking, an HTTP client, socket probes, power, mounts, links and DHCP sockets,
 * kernel, reaper and block devices by label. The boot environment block needs its path and is provided separately.
 */
import { Layer } from "effect"
import * as NodeBlockDevices from "./NodeBlockDevices.ts"
import * as NodeKernel from "./NodeKernel.ts"
import * as NodeControlSocket from "./NodeControlSocket.ts"
import * as NodeDaemonServices from "./NodeDaemonServices.ts"
import * as NodeDhcpSockets from "./NodeDhcpSockets.ts"
import * as NodeFastSpawner from "./NodeFastSpawner.ts"
import * as NodeLinks from "./NodeLinks.ts"
import * as NodeMounts from "./NodeMounts.ts"
import * as NodePlainHttpClient from "./NodePlainHttpClient.ts"
import * as NodePower from "./NodePower.ts"
import * as NodeReaper from "./NodeReaper.ts"
import * as NodeSignals from "./NodeSignals.ts"
import * as NodeSockets from "./NodeSockets.ts"
import * as NodeVolumes from "./NodeVolumes.ts"
import * as NodeWatchdog from "./NodeWatchdog.ts"

export const layer = Layer.mergeAll(
  NodeDaemonServices.layer,
  // Services start through posix_spawn rather than a fork of PID 1 (the rest through Node's spawner).
  Layer.provide(NodeFastSpawner.layer, NodeDaemonServices.layer),
  // node:http, not undici: readiness checks need little, and PID 1 starts faster without 1.2 MB of undici.
  NodePlainHttpClient.layer,
  NodeSockets.layer,
  NodeSignals.layer,
  NodeWatchdog.layer(),
  NodePower.layer,
  NodeMounts.layer,
  NodeLinks.layer,
  NodeDhcpSockets.layer,
  NodeControlSocket.layer,
  NodeKernel.layer(),
  NodeReaper.layer,
  NodeBlockDevices.layer,
  NodeVolumes.layer
)
