/**
 * The node API: the one RpcGroup keel-agent serves over HTTPS with mutual TLS (ndjson, so streams
 * stream) and osctl calls. Every operation names the least role that may call it (`minimumRole`);
 * the agent's authorization middleware enforces it from the verified client certificate only.
 * Operations whose engine has not landed on this node fail with `NotAvailable`, never with canned
 * data.
 */
import { Context, Schema } from "effect"
import { Rpc, RpcGroup, RpcMiddleware } from "effect/rpc"
import { BootEnv, Slot, UpdateState, Version } from "@keelos/domain"
import { LogLine, PowerAction, ServiceSignal, ServiceStatus, UnknownService } from "./InitControl.ts"

export const defaultPort = 50051

/** The name under which StreamLogs serves the kernel's log; no service may take it. */
export const kernelLogName = "kernel"

/** Roles, from the client certificate's Organization (Talos naming), most powerful first. */
export const Role = Schema.Literals(["os:admin", "os:operator", "os:reader"])
export type Role = typeof Role.Type
export const roles: ReadonlyArray<Role> = ["os:admin", "os:operator", "os:reader"]

const rank: Record<Role, number> = { "os:admin": 3, "os:operator": 2, "os:reader": 1 }

/** Whether `role` may call an operation that needs `minimum`. */
export const allows = (role: Role, minimum: Role): boolean => rank[role] >= rank[minimum]

/** Who is calling, as the TLS stack verified it. */
export const Caller = Schema.Struct({
  commonName: Schema.String,
  role: Role,
  serial: Schema.String,
  notAfterMillis: Schema.Number
})
export type Caller = typeof Caller.Type

export class CurrentCaller extends Context.Service<CurrentCaller, Caller>()("@keelos/api/CurrentCaller") {}

// ---------------------------------------------------------------------------
// Errors every client understands
// ---------------------------------------------------------------------------

export class Unauthorized extends Schema.TaggedError<Unauthorized>()("Unauthorized", {
  operation: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `${this.operation} refused: ${this.reason}`
  }
}

export class NotAvailable extends Schema.TaggedError<NotAvailable>()("NotAvailable", {
  operation: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `${this.operation} is not available on this node: ${this.reason}`
  }
}

/** The node tried and failed; `reason` says why in one line. */
export class NodeFailure extends Schema.TaggedError<NodeFailure>()("NodeFailure", {
  operation: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `${this.operation} failed on the node: ${this.reason}`
  }
}

/** Authenticates every call from the verified peer certificate and checks its role. */
export class Authorization extends RpcMiddleware.Service<Authorization, { provides: CurrentCaller }>()(
  "@keelos/api/Authorization",
  { error: Unauthorized }
) {}

/** The least role an operation needs; every operation in the group sets it. */
export const MinimumRole = Context.Reference<Role>("@keelos/api/MinimumRole", { defaultValue: () => "os:admin" })

// ---------------------------------------------------------------------------
// Shapes
// ---------------------------------------------------------------------------

export const SlotStatus = Schema.Struct({
  slot: Slot.Slot,
  /** good: last known good; trial: on trial; inactive: neither. */
  role: Schema.Literals(["good", "trial", "inactive"]),
  booted: Schema.Boolean,
  /** Known for the booted slot; for the other once the update engine records what it wrote. */
  version: Schema.NullOr(Schema.String)
})
export type SlotStatus = typeof SlotStatus.Type

export const CertificateStatus = Schema.Struct({
  commonName: Schema.String,
  notAfterMillis: Schema.Number,
  daysLeft: Schema.Number
})

export const NodeStatus = Schema.Struct({
  version: Schema.String,
  hostname: Schema.String,
  bootedSlot: Schema.NullOr(Slot.Slot),
  slots: Schema.Array(SlotStatus),
  bootEnv: BootEnv.BootEnv,
  uptimeSeconds: Schema.Number,
  /** Null until the update engine runs on this node. */
  update: Schema.NullOr(UpdateState.UpdateState),
  /** The periodic channel check's last result; null when it is off or has not run yet. */
  updateCheck: Schema.NullOr(UpdateState.UpdateCheck),
  /** Why the node runs in maintenance mode (only the agent), or null. */
  maintenance: Schema.NullOr(Schema.String),
  services: Schema.Array(ServiceStatus),
  certificate: CertificateStatus,
  /** The keys this node accepts updates from; `development` ones are for local builds only. */
  updateKeys: Schema.Array(Schema.Struct({ id: Schema.String, development: Schema.Boolean })),
  caller: Caller
})
export type NodeStatus = typeof NodeStatus.Type

export const AuditEntry = Schema.Struct({
  atMillis: Schema.Number,
  commonName: Schema.String,
  role: Schema.String,
  operation: Schema.String,
  arguments: Schema.String,
  result: Schema.String,
  durationMillis: Schema.Number
})
export type AuditEntry = typeof AuditEntry.Type

const reason = Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(512))
const serviceName = { service: Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(64)) }
const tail = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 10_000 }))

/** The network in the node's machine config (/var/lib/keel/config/network.json). */
export const NetworkConfig = Schema.Struct({
  interfaces: Schema.Array(Schema.Struct({
    name: Schema.String,
    dhcp4: Schema.optional(Schema.Boolean),
    slaac: Schema.optional(Schema.Boolean),
    addresses: Schema.optional(Schema.Array(Schema.String)),
    gateway: Schema.optional(Schema.String),
    gateway6: Schema.optional(Schema.String),
    mtu: Schema.optional(Schema.Number)
  })),
  vlans: Schema.optional(Schema.Array(Schema.Struct({ name: Schema.String, link: Schema.String, id: Schema.Number }))),
  bonds: Schema.optional(Schema.Array(Schema.Struct({
    name: Schema.String,
    mode: Schema.String,
    links: Schema.Array(Schema.String),
    miimonMillis: Schema.optional(Schema.Number)
  }))),
  nameservers: Schema.optional(Schema.Array(Schema.String))
})
export type NetworkConfig = typeof NetworkConfig.Type

/** A DHCP link's lease as keel-init's client last recorded it. */
export const DhcpLease = Schema.Struct({
  link: Schema.String,
  state: Schema.Literals(["bound", "expired", "refused", "released"]),
  address: Schema.String,
  server: Schema.String,
  routers: Schema.Array(Schema.String),
  nameservers: Schema.Array(Schema.String),
  leaseSeconds: Schema.Number,
  atMillis: Schema.Number
})
export type DhcpLease = typeof DhcpLease.Type

/** What the kernel has now, read over rtnetlink. */
export const NetworkStatus = Schema.Struct({
  links: Schema.Array(Schema.Struct({
    name: Schema.String,
    kind: Schema.NullOr(Schema.String),
    master: Schema.NullOr(Schema.String),
    up: Schema.Boolean,
    operstate: Schema.String,
    mtu: Schema.Number,
    mac: Schema.String,
    addresses: Schema.Array(Schema.String)
  })),
  routes: Schema.Array(Schema.Struct({ destination: Schema.String, gateway: Schema.NullOr(Schema.String), link: Schema.NullOr(Schema.String) })),
  nameservers: Schema.Array(Schema.String),
  /** Each DHCP link's lease as keel-init's client last recorded it. */
  dhcp: Schema.optionalKey(Schema.Array(DhcpLease))
})
export type NetworkStatus = typeof NetworkStatus.Type

export const UpdateProgress = Schema.Struct({
  phase: UpdateState.UpdatePhase,
  bytes: Schema.Number,
  totalBytes: Schema.NullOr(Schema.Number),
  /** The version being installed, once the release is known. */
  version: Schema.NullOr(Schema.String),
  /** On a delta install: bytes not downloaded thanks to the delta. */
  bytesSaved: Schema.optionalKey(Schema.Number)
})
export type UpdateProgress = typeof UpdateProgress.Type

export const HealthCheckResult = Schema.Struct({
  name: Schema.String,
  required: Schema.Boolean,
  ok: Schema.Boolean,
  detail: Schema.NullOr(Schema.String),
  atMillis: Schema.Number
})

/** The checks run now, and the last health gate since the agent started (null if none ran). */
export const HealthReport = Schema.Struct({
  healthy: Schema.Boolean,
  checks: Schema.Array(HealthCheckResult),
  gate: Schema.NullOr(Schema.Struct({
    verdict: Schema.Literals(["passed", "failed", "running"]),
    atMillis: Schema.Number,
    /** The gate's last round, check by check. */
    checks: Schema.Array(HealthCheckResult)
  }))
})
export type HealthReport = typeof HealthReport.Type

const sha256Hex = Schema.String.check(Schema.isPattern(/^[0-9a-fA-F]{64}$/))

/** An update scheduled into a maintenance window, as the node keeps it. */
export const ScheduledUpdate = Schema.Struct({
  id: Schema.String,
  source: Schema.String,
  sha256: Schema.NullOr(Schema.String),
  window: Schema.String,
  healthTimeoutMillis: Schema.NullOr(Schema.Number),
  autoRollback: Schema.Boolean,
  createdBy: Schema.String,
  createdAtMillis: Schema.Number,
  state: Schema.Literals(["pending", "running", "done", "failed", "cancelled"]),
  nextStartMillis: Schema.NullOr(Schema.Number),
  lastMessage: Schema.NullOr(Schema.String)
})
export type ScheduledUpdate = typeof ScheduledUpdate.Type

// ---------------------------------------------------------------------------
// The group
// ---------------------------------------------------------------------------

const failures = Schema.Union([NotAvailable, NodeFailure])

export class NodeApi extends RpcGroup.make(
  Rpc.make("WhoAmI", { success: Caller }).annotate(MinimumRole, "os:reader"),
  Rpc.make("GetStatus", { success: NodeStatus, error: NodeFailure }).annotate(MinimumRole, "os:reader"),
  Rpc.make("GetHealth", { success: HealthReport, error: failures }).annotate(MinimumRole, "os:reader"),
  Rpc.make("Reboot", { payload: { reason }, success: Schema.Struct({ accepted: Schema.Boolean }), error: NodeFailure }).annotate(MinimumRole, "os:operator"),
  Rpc.make("Shutdown", { payload: { reason }, success: Schema.Struct({ accepted: Schema.Boolean }), error: NodeFailure }).annotate(MinimumRole, "os:operator"),
  Rpc.make("ListServices", { success: Schema.Array(ServiceStatus), error: NodeFailure }).annotate(MinimumRole, "os:reader"),
  Rpc.make("RestartService", { payload: serviceName, error: Schema.Union([UnknownService, NodeFailure]) }).annotate(MinimumRole, "os:operator"),
  /** Send a signal to a service (SIGKILL a wedged one: init restarts it by its policy). */
  Rpc.make("SignalService", {
    payload: { ...serviceName, signal: ServiceSignal },
    success: Schema.Struct({ delivered: Schema.Boolean }),
    error: Schema.Union([UnknownService, NodeFailure])
  }).annotate(MinimumRole, "os:admin"),
  /** A service's output, or the kernel's log as the service `kernel`: the last `tail` lines (at or after `sinceMillis`), then new ones while `follow`. */
  Rpc.make("StreamLogs", {
    payload: { ...serviceName, tail, follow: Schema.Boolean, sinceMillis: Schema.optional(Schema.Number) },
    success: LogLine,
    error: Schema.Union([UnknownService, NodeFailure]),
    stream: true
  }).annotate(MinimumRole, "os:reader"),
  Rpc.make("GetAuditLog", { payload: { tail }, success: Schema.Array(AuditEntry), error: NodeFailure }).annotate(MinimumRole, "os:admin"),
  /** Install into the inactive slot and put it on trial: from a channel's latest.json, or an image URL with its digest. */
  Rpc.make("InstallUpdate", {
    payload: {
      source: Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(2048)),
      sha256: Schema.optional(sha256Hex),
      version: Schema.optional(Version.Version),
      force: Schema.Boolean,
      /** Reboot into the trial slot once it is activated. */
      reboot: Schema.Boolean,
      /** How long the trial boot may take to become healthy before it is rolled back. */
      healthTimeoutMillis: Schema.optional(Schema.Int.check(Schema.isBetween({ minimum: 1_000, maximum: 86_400_000 })))
    },
    success: UpdateProgress,
    error: failures,
    stream: true
  }).annotate(MinimumRole, "os:admin"),
  Rpc.make("GetUpdateSchedule", { success: Schema.Array(ScheduledUpdate), error: failures }).annotate(MinimumRole, "os:reader"),
  /** Install in a maintenance window ("Sat 02:00-04:00 UTC"); abandoned if the window closes before activation. */
  Rpc.make("ScheduleUpdate", {
    payload: {
      source: Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(2048)),
      sha256: Schema.optional(sha256Hex),
      window: Schema.String.check(Schema.isMaxLength(128)),
      autoRollback: Schema.optional(Schema.Boolean),
      healthTimeoutMillis: Schema.optional(Schema.Int.check(Schema.isBetween({ minimum: 1_000, maximum: 86_400_000 })))
    },
    success: ScheduledUpdate,
    error: failures
  }).annotate(MinimumRole, "os:admin"),
  Rpc.make("CancelScheduledUpdate", { payload: { id: Schema.String.check(Schema.isMaxLength(64)) }, success: ScheduledUpdate, error: failures }).annotate(MinimumRole, "os:admin"),
  Rpc.make("TriggerRollback", {
    payload: { reason },
    success: Schema.Struct({ slot: Slot.Slot, version: Schema.NullOr(Schema.String) }),
    error: failures
  }).annotate(MinimumRole, "os:admin"),
  Rpc.make("GetRollbackHistory", { success: Schema.Array(UpdateState.HistoryEntry), error: failures }).annotate(MinimumRole, "os:reader"),
  /** Replace the agent's certificate and key while it runs (issued by the cluster CA, e.g. with osctl gen node-cert). */
  Rpc.make("RotateCertificate", {
    payload: { certificate: Schema.String.check(Schema.isMaxLength(65536)), key: Schema.String.check(Schema.isMaxLength(65536)) },
    success: Schema.Struct({ commonName: Schema.String, notAfterMillis: Schema.Number }),
    error: NodeFailure
  }).annotate(MinimumRole, "os:admin"),
  Rpc.make("GetNetworkConfig", { success: NetworkConfig, error: failures }).annotate(MinimumRole, "os:reader"),
  Rpc.make("GetNetworkStatus", { success: NetworkStatus, error: failures }).annotate(MinimumRole, "os:reader"),
  /**
   * A new network configuration (the machine config's JSON), applied live a second after the
   * answer. `try` puts the previous one back after `timeoutSeconds` unless ConfirmNetwork comes
   * first (which only a client that still reaches the node can send); `apply` saves it at once.
   */
  Rpc.make("ConfigureNetwork", {
    payload: {
      config: Schema.String.check(Schema.isMaxLength(65_536)),
      mode: Schema.Literals(["apply", "try"]),
      timeoutSeconds: Schema.Int.check(Schema.isBetween({ minimum: 5, maximum: 3600 }))
    },
    success: Schema.Struct({ changes: Schema.Array(Schema.String), revertAtMillis: Schema.NullOr(Schema.Number) }),
    error: failures
  }).annotate(MinimumRole, "os:admin"),
  /** Keep the network configuration on trial, and save it. */
  Rpc.make("ConfirmNetwork", { error: failures }).annotate(MinimumRole, "os:admin")
).middleware(Authorization) {}

/** The operation → least role table, read off the group (a test walks all of it). */
export const permissions: ReadonlyMap<string, Role> = new Map(
  [...NodeApi.requests.values()].map((rpc) => [rpc._tag, Context.get(rpc.annotations, MinimumRole)])
)

export type { PowerAction }
