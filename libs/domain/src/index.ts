/** @keelos/domain: Schemas only. */
export * as BootCount from "./BootCount.ts"
export * as BootEnv from "./BootEnv.ts"
export * as Events from "./Events.ts"
export * as ReleaseMetadata from "./ReleaseMetadata.ts"
export * as ServiceSpec from "./ServiceSpec.ts"
export * as Slot from "./Slot.ts"
export * as UpdateState from "./UpdateState.ts"
export * as Version from "./Version.ts"
