/**
 * Supervision specifications: the Schema-typed configuration shipped in the image that tells
 * keel-init what to supervise and how (DESIGN §2). OTP child specs (restart type, shutdown grace,
 * strategy and intensity per group) plus what OTP lacks: dependencies, readiness and backoff.
 *
 * A group is a nested supervisor: when it exceeds its restart intensity it fails, and its parent
 * treats that as the group's abnormal exit. The root group exceeding its intensity is a boot failure.
 */
import { Schema } from "effect"

/** Lowercase, up to 32 characters; `kernel` is taken by the kernel's log in the node API. */
export const ServiceName = Schema.String.check(Schema.isPattern(/^(?!kernel$)[a-z][a-z0-9-]{0,31}$/)).pipe(
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
  Schema.TaggedStruct("TcpConnect", { host: Schema.String, port: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 65535 })) }),
  Schema.TaggedStruct("HttpGet", { url: Schema.String, expectStatus: Schema.Int }),
  /**
   * Ready once the service, since this start, has printed a line (stdout or stderr) containing one of
   * these: a service that listens before it can answer says when it can (keel-agent's "serving" line).
   */
  Schema.TaggedStruct("LogLine", { containing: Schema.Array(Schema.String.check(Schema.isMinLength(1))).check(Schema.isMinLength(1)) })
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

export const ServiceSpec = Schema.Struct({
  kind: Schema.Literal("service"),
  name: ServiceName,
  command: Schema.String.check(Schema.isPattern(/^\//)),
  args: Schema.Array(Schema.String),
  env: Schema.Record(Schema.String, Schema.String),
  restart: RestartType,
  /** Grace period between SIGTERM and SIGKILL on shutdown. */
  shutdownGraceMillis: Millis,
  /** Siblings that must be ready before this one starts. */
  dependsOn: Schema.Array(ServiceName),
  readiness: Readiness,
  /** How long readiness may take before the start counts as a failure. */
  readyTimeoutMillis: Millis,
  backoff: Backoff,
  /** Skip the service when its command is not in the image (kubelet is optional). */
  optional: Schema.Boolean
})
export type ServiceSpec = typeof ServiceSpec.Type

export interface GroupSpec {
  readonly kind: "group"
  readonly name: ServiceName
  /** How the parent restarts this group when it fails. */
  readonly restart: RestartType
  readonly strategy: Strategy
  /** Restart intensity: more than `maxRestarts` within `periodMillis` fails the group. */
  readonly maxRestarts: number
  readonly periodMillis: number
  readonly dependsOn: ReadonlyArray<ServiceName>
  readonly backoff: Backoff
  /** Children in start order; shutdown goes in reverse. */
  readonly children: ReadonlyArray<ChildSpec>
}

export type ChildSpec = ServiceSpec | GroupSpec

export const GroupSpec: Schema.Codec<GroupSpec, GroupSpecEncoded> = Schema.Struct({
  kind: Schema.Literal("group"),
  name: ServiceName,
  restart: RestartType,
  strategy: Strategy,
  maxRestarts: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)),
  periodMillis: Millis,
  dependsOn: Schema.Array(ServiceName),
  backoff: Backoff,
  children: Schema.Array(Schema.suspend((): Schema.Codec<ChildSpec, ChildSpecEncoded> => ChildSpec))
})

export interface GroupSpecEncoded {
  readonly kind: "group"
  readonly name: string
  readonly restart: RestartType
  readonly strategy: Strategy
  readonly maxRestarts: number
  readonly periodMillis: number
  readonly dependsOn: ReadonlyArray<string>
  readonly backoff: Backoff
  readonly children: ReadonlyArray<ChildSpecEncoded>
}
export type ChildSpecEncoded = typeof ServiceSpec.Encoded | GroupSpecEncoded

export const ChildSpec: Schema.Codec<ChildSpec, ChildSpecEncoded> = Schema.Union([ServiceSpec, GroupSpec])
