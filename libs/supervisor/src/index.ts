/** @keelos/supervisor: OTP supervision on Effect fibers. */
export * as Backoff from "./Backoff.ts"
export * as RestartIntensity from "./RestartIntensity.ts"
export { Ring } from "./Ring.ts"
export * as Strategy from "./Strategy.ts"
export * as Supervisor from "./Supervisor.ts"
export { IntensityExceeded, InvalidTree, UnknownChild } from "./SupervisorError.ts"
export { validate } from "./Validate.ts"
