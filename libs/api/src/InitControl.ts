/**
 * The control socket of keel-init (/run/keel/init.sock): Effect RPC, ndjson over a unix socket that
 * only root can open. keel-agent is its client: it lists and controls services, follows their
 * output and the supervision events, and asks for a reboot or poweroff with a recorded reason.
 */
import { Schema } from "effect"
import { Rpc, RpcGroup } from "effect/rpc"

export const socketPath = "/run/keel/init.sock"

export const ChildState = Schema.Literals(["waiting", "starting", "running", "backoff", "stopping", "stopped", "exited", "absent", "failed"])
export const Health = Schema.Literals(["unknown", "healthy", "unhealthy"])

export const ExitInfo = Schema.Struct({ code: Schema.NullOr(Schema.Int), reason: Schema.String, atMillis: Schema.Number })

export const ServiceStatus = Schema.Struct({
  name: Schema.String,
  kind: Schema.Literals(["service", "group"]),
  group: Schema.String,
  state: ChildState,
  health: Health,
  pid: Schema.NullOr(Schema.Int),
  restarts: Schema.Int,
  startedAtMillis: Schema.NullOr(Schema.Number),
  lastExit: Schema.NullOr(ExitInfo)
})
export type ServiceStatus = typeof ServiceStatus.Type

export const LogLine = Schema.Struct({
  service: Schema.String,
  atMillis: Schema.Number,
  stream: Schema.Literals(["stdout", "stderr"]),
  line: Schema.String
})
export type LogLine = typeof LogLine.Type

const at = { atMillis: Schema.Number, child: Schema.String }
export const SupervisorEvent = Schema.Union([
  Schema.TaggedStruct("Started", { ...at, pid: Schema.NullOr(Schema.Int) }),
  Schema.TaggedStruct("Ready", at),
  Schema.TaggedStruct("Exited", { ...at, code: Schema.NullOr(Schema.Int), reason: Schema.String }),
  Schema.TaggedStruct("Restarting", { ...at, delayMillis: Schema.Number }),
  Schema.TaggedStruct("Stopped", at),
  Schema.TaggedStruct("Absent", at),
  Schema.TaggedStruct("Escalated", { ...at, reason: Schema.String })
])
export type SupervisorEvent = typeof SupervisorEvent.Type

export class UnknownService extends Schema.TaggedError<UnknownService>()("UnknownService", { service: Schema.String }) {
  override get message(): string {
    return `no service named ${this.service}`
  }
}

/** The signals an operator may send to a service. */
export const ServiceSignal = Schema.Literals(["SIGTERM", "SIGKILL", "SIGINT", "SIGQUIT", "SIGHUP", "SIGUSR1", "SIGUSR2"])
export type ServiceSignal = typeof ServiceSignal.Type

export const PowerAction = Schema.Literals(["reboot", "poweroff"])
export type PowerAction = typeof PowerAction.Type

const byName = { service: Schema.String }

export class NetworkChangeFailed extends Schema.TaggedError<NetworkChangeFailed>()("NetworkChangeFailed", {
  operation: Schema.Literals(["apply", "confirm"]),
  reason: Schema.String
}) {
  override get message(): string {
    return `network ${this.operation}: ${this.reason}`
  }
}

/** keel-init in host mode (tests, development): the network is the host's, not keel-init's. */
export class NetworkNotManaged extends Schema.TaggedError<NetworkNotManaged>()("NetworkNotManaged", {}) {
  override get message(): string {
    return "keel-init runs in host mode: the network is the host's, not keel-init's"
  }
}

export const NetworkChangeMode = Schema.Literals(["apply", "try"])
export type NetworkChangeMode = typeof NetworkChangeMode.Type

export const NetworkChangePlanned = Schema.Struct({
  /** What changes, one line each ("eth0: add 10.0.2.99/24"). */
  changes: Schema.Array(Schema.String),
  /** When an unconfirmed try is put back; null when applied for good. */
  revertAtMillis: Schema.NullOr(Schema.Number)
})

export class InitControl extends RpcGroup.make(
  Rpc.make("ListServices", { success: Schema.Array(ServiceStatus) }),
  Rpc.make("StartService", { payload: byName, error: UnknownService }),
  Rpc.make("StopService", { payload: byName, error: UnknownService }),
  Rpc.make("RestartService", { payload: byName, error: UnknownService }),
  /** Send a signal to a service's process; the supervisor handles what follows (a killed service is restarted by its policy). */
  Rpc.make("SignalService", { payload: { ...byName, signal: ServiceSignal }, success: Schema.Struct({ delivered: Schema.Boolean }), error: UnknownService }),
  /** The last `tail` lines of a service's output, then new ones while `follow`. */
  Rpc.make("ServiceLogs", {
    payload: { service: Schema.String, tail: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 10_000 })), follow: Schema.Boolean },
    success: LogLine,
    error: UnknownService,
    stream: true
  }),
  /** Supervision events as they happen. */
  Rpc.make("Events", { success: SupervisorEvent, stream: true }),
  /** Orderly reboot or poweroff: stop services in reverse order, sync, unmount, reboot(2). */
  Rpc.make("Power", { payload: { action: PowerAction, reason: Schema.String }, success: Schema.Struct({ accepted: Schema.Boolean }) }),
  /**
   * A new network configuration (machine config JSON), applied a second after the answer. `try`:
   * put back after `timeoutMillis` unless confirmed; `apply`: saved at once.
   */
  Rpc.make("ApplyNetwork", {
    payload: { config: Schema.String, mode: NetworkChangeMode, timeoutMillis: Schema.Int.check(Schema.isBetween({ minimum: 1000, maximum: 3_600_000 })) },
    success: NetworkChangePlanned,
    error: Schema.Union([NetworkChangeFailed, NetworkNotManaged])
  }),
  /** Keep and save the network configuration on trial. */
  Rpc.make("ConfirmNetwork", { error: Schema.Union([NetworkChangeFailed, NetworkNotManaged]) })
) {}
