/** @keelos/init: keel-init's program. */
export * as ControlServer from "./ControlServer.ts"
export * as EarlyBoot from "./EarlyBoot.ts"
export * as Init from "./Init.ts"
export * as InitConfig from "./InitConfig.ts"
export * as LogFiles from "./LogFiles.ts"
export * as OrphanReaper from "./OrphanReaper.ts"
export * as TrackedSpawner from "./TrackedSpawner.ts"
export * as WatchdogPetter from "./WatchdogPetter.ts"
