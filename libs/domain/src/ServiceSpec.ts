/**
 * Service specifications: the Schema-typed configuration shipped in the image that tells
 * keel-init what to supervise and how (DESIGN §2, OTP child specs plus readiness and backoff).
 */
import { Schema } from "effect"

export const ServiceName = Schema.String.check(Schema.isPattern(/^[a-z][a-z0-9-]{0,31}$/)).pipe(
  Schema.brand("ServiceName")
)
export type ServiceName = typeof ServiceName.Type

/** OTP restart types: always, only after an abnormal exit, never. */
export const RestartType = Schema.Literals(["permanent", "transient", "temporary"])
export type RestartType = typeof RestartType.Type

/** OTP strategies: what else restarts when one child does. */
export const Strategy = Schema.Literals(["one_for_one", "one_for_all", "rest_for_one"])
export type Strategy = typeof Strategy.Type

const Millis = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))

/** How the supervisor knows a started service is ready for its dependants. */
export const Readiness = Schema.Union([
  Schema.TaggedStruct("ProcessAlive", {}),
  Schema.TaggedStruct("UnixSocket", { path: Schema.String }),
  Schema.TaggedStruct("HttpGet", { url: Schema.String, expectStatus: Schema.Int })
])
export type Readiness = typeof Readiness.Type

export const Backoff = Schema.Struct({
  /** Delay before the first restart. */
  initialMillis: Millis,
  /** Cap of the exponential delay. */
  maxMillis: Millis,
  /** A service that ran this long is stable again: its next restart starts from `initialMillis`. */
  resetAfterMillis: Millis
})
export type Backoff = typeof Backoff.Type

export class ServiceSpec extends Schema.Class<ServiceSpec>("ServiceSpec")({
  name: ServiceName,
  command: Schema.String.check(Schema.isPattern(/^\//)),
  args: Schema.Array(Schema.String),
  env: Schema.Record(Schema.String, Schema.String),
  restart: RestartType,
  /** Grace period between SIGTERM and SIGKILL on shutdown. */
  shutdownGraceMillis: Millis,
  /** Services that must be ready before this one starts. */
  dependsOn: Schema.Array(ServiceName),
  readiness: Readiness,
  backoff: Backoff,
  /** Skip the service when its command is not in the image (kubelet is optional). */
  optional: Schema.Boolean
}) {}

export class SupervisorSpec extends Schema.Class<SupervisorSpec>("SupervisorSpec")({
  strategy: Strategy,
  /** Restart intensity: more than `maxRestarts` within `periodMillis` escalates. */
  maxRestarts: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)),
  periodMillis: Millis,
  services: Schema.Array(ServiceSpec)
}) {}
