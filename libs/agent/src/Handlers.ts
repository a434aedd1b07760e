/**
 * The node API's handlers: status from the node's facts (NodeFacts); the kernel's log; service control
 * and logs through init's control socket; power through init's orderly shutdown path; rotation of
 * the agent's certificate; the network as configured and as the kernel has it; installs, rollbacks,
 * history and health through the update engine (when the node's configuration enables it).
 * Engines that have not landed yet (schedules, live network changes) answer `NotAvailable`; none
 * of them pretends.
 */
import { Clock, Effect, FileSystem, Option, Schema, Stream } from "effect"
import type { RpcClientError } from "effect/rpc"
import { type InitControl, NodeApi } from "@keelos/api"
import { NodeFiles } from "@keelos/domain"
import { KernelLog, Links } from "@keelos/platform"
import { ChannelWatch, HealthGate, UpdateEngine, type UpdateError, UpdateScheduler } from "@keelos/update"
import { Audit } from "./Audit.ts"
import { InitClient, nodeFailure } from "./InitClient.ts"
import { NodeCertificate } from "./NodeCertificate.ts"
import { NodeFacts } from "./NodeFacts.ts"
import { UpdateChecks } from "./UpdateChecks.ts"

const decodeNetworkConfig = Schema.decodeUnknownEffect(Schema.fromJsonString(NodeApi.NetworkConfig))
const decodeLease = Schema.decodeUnknownEffect(Schema.fromJsonString(NodeApi.DhcpLease))

/** keel-init's answers to a network change, as the node API's errors. */
const networkFailure = (operation: string) =>
<A, R>(effect: Effect.Effect<A, InitControl.NetworkChangeFailed | InitControl.NetworkNotManaged | RpcClientError.RpcClientError, R>) =>
  effect.pipe(
    nodeFailure(operation),
    Effect.catchTag("NetworkChangeFailed", (error) => Effect.fail(new NodeApi.NodeFailure({ operation, reason: error.reason }))),
    Effect.catchTag("NetworkNotManaged", (error) => Effect.fail(new NodeApi.NotAvailable({ operation, reason: error.message })))
  )

export const layer = NodeApi.NodeApi.toLayer(Effect.gen(function*() {
  const init = yield* InitClient
  const nodeFacts = yield* NodeFacts
  const nodeCertificate = yield* NodeCertificate
  const audit = yield* Audit
  const kernelLog = yield* KernelLog.KernelLog
  const links = yield* Links.Links
  const fs = yield* FileSystem.FileSystem
  const engine = yield* Effect.serviceOption(UpdateEngine)
  const updateChecks = yield* Effect.serviceOption(UpdateChecks)
  const scheduler = yield* Effect.serviceOption(UpdateScheduler)
  const watch = yield* Effect.serviceOption(ChannelWatch.ChannelWatch)
  const withScheduler = <A, E>(operation: string, f: (scheduler: UpdateScheduler["Service"]) => Effect.Effect<A, E>) =>
    Option.isSome(scheduler)
      ? f(scheduler.value)
      : Effect.fail<NodeApi.NotAvailable | E>(new NodeApi.NotAvailable({ operation, reason: "this node's agent configuration has no update section" }))

  /** The engine, or NotAvailable on a node whose configuration has no update section. */
  const withEngine = <A, E>(operation: string, f: (engine: UpdateEngine["Service"]) => Effect.Effect<A, E>) =>
    Option.isSome(engine)
      ? f(engine.value)
      : Effect.fail<NodeApi.NotAvailable | E>(new NodeApi.NotAvailable({ operation, reason: "this node's agent configuration has no update section" }))
  const updateFailure = (operation: string) => (error: UpdateError.UpdateError): NodeApi.NodeFailure | NodeApi.NotAvailable =>
    new NodeApi.NodeFailure({ operation, reason: error.message })

  const power = (operation: string, action: "reboot" | "poweroff", reason: string) =>
    Effect.gen(function*() {
      const caller = yield* NodeApi.CurrentCaller
      return yield* init.Power({ action, reason: `${reason} (asked by ${caller.commonName})` }).pipe(nodeFailure(operation))
    })

  /** The kernel's ring buffer (bounded by the kernel) as log lines with wall-clock times, then new records. */
  const kernelLines = (tail: number, follow: boolean, since: (line: InitControl.LogLine) => boolean) =>
    Stream.unwrap(Effect.gen(function*() {
      // The boot time from /proc/stat (whole seconds) is the same on every call, so a record's time is
      // too, and `since` from one call's times holds in the next; now minus uptime would drift by ms.
      const now = yield* Clock.currentTimeMillis
      const btime = yield* fs.readFileString("/proc/stat").pipe(
        Effect.map((text) => Number(/^btime (\d+)$/m.exec(text)?.[1] ?? Number.NaN)),
        Effect.orElseSucceed(() => Number.NaN)
      )
      const bootMillis = Number.isNaN(btime) ? now : btime * 1000
      const toLine = (record: KernelLog.KernelRecord): InitControl.LogLine => ({
        service: NodeApi.kernelLogName,
        atMillis: Math.round(bootMillis + record.sinceBootMicros / 1000),
        stream: "stdout",
        line: record.message
      })
      const past = yield* Stream.runCollect(kernelLog.records({ follow: false }))
      const last = past.at(-1)?.sequence ?? -1
      const kept = past.map(toLine).filter(since)
      const live = follow
        ? kernelLog.records({ follow: true }).pipe(Stream.filter((r) => r.sequence > last), Stream.map(toLine), Stream.filter(since))
        : Stream.empty
      return Stream.concat(Stream.fromIterable(kept.slice(Math.max(0, kept.length - tail))), live)
    })).pipe(Stream.mapError((error) => new NodeApi.NodeFailure({ operation: "StreamLogs", reason: error.message })))

  return NodeApi.NodeApi.of({
    WhoAmI: () => NodeApi.CurrentCaller,
    GetStatus: () =>
      Effect.gen(function*() {
        // The update state before the boot environment: the engine changes the environment first and
        // records the phase after, so read in this order a phase is never newer than the environment
        // shown with it (a status saying "success" with the slot still on trial, read the other way).
        const update = Option.isSome(engine) ? yield* Effect.orElseSucceed(engine.value.state, () => null) : null
        const facts = yield* nodeFacts.gather("GetStatus")
        return {
          version: facts.version,
          hostname: facts.hostname,
          bootedSlot: facts.bootEnv.booted,
          // The booted slot's version is the running one; the other's is what the engine wrote or booted there.
          slots: facts.slots.map((slot) => ({ ...slot, version: slot.version ?? update?.slots[slot.slot]?.version ?? null })),
          bootEnv: facts.bootEnv,
          uptimeSeconds: facts.uptimeSeconds,
          update,
          updateCheck: Option.isSome(watch) ? yield* Effect.orElseSucceed(watch.value.last, () => null) : null,
          maintenance: facts.maintenance,
          services: facts.services,
          certificate: facts.certificate,
          updateKeys: facts.updateKeys,
          caller: yield* NodeApi.CurrentCaller
        }
      }),
    GetHealth: () =>
      Effect.gen(function*() {
        if (Option.isNone(updateChecks)) return yield* new NodeApi.NotAvailable({ operation: "GetHealth", reason: "this node's agent configuration has no update section" })
        const checks = yield* HealthGate.runOnce(yield* updateChecks.value.checks)
        const last = Option.isSome(engine) ? yield* engine.value.lastHealth : null
        return {
          healthy: checks.every((c) => c.ok || !c.required),
          checks,
          gate: last === null ? null : { verdict: last.verdict, atMillis: last.atMillis, checks: last.results }
        }
      }),
    Reboot: ({ reason }) => power("Reboot", "reboot", reason),
    Shutdown: ({ reason }) => power("Shutdown", "poweroff", reason),
    ListServices: () => init.ListServices().pipe(nodeFailure("ListServices")),
    RestartService: ({ service }) => init.RestartService({ service }).pipe(nodeFailure("RestartService")),
    SignalService: ({ service, signal }) => init.SignalService({ service, signal }).pipe(nodeFailure("SignalService")),
    StreamLogs: ({ follow, service, sinceMillis, tail }) => {
      const since = (line: { readonly atMillis: number }) => sinceMillis === undefined || line.atMillis >= sinceMillis
      if (service === NodeApi.kernelLogName) return kernelLines(tail, follow, since)
      return Stream.unwrap(Effect.gen(function*() {
        // Ask init for enough past lines to fill `tail` after the since filter; init keeps a bounded buffer anyway.
        const lines = init.ServiceLogs({ service, tail: sinceMillis === undefined ? tail : 10_000, follow })
        return sinceMillis === undefined ? lines : lines.pipe(Stream.filter(since))
      })).pipe(
        Stream.catchIf(
          (error) => error._tag === "RpcClientError",
          (error) => Stream.fail(new NodeApi.NodeFailure({ operation: "StreamLogs", reason: `init control socket: ${error.message}` }))
        )
      )
    },
    GetAuditLog: ({ tail }) => audit.tail(tail),
    InstallUpdate: (request) =>
      Stream.unwrap(Effect.gen(function*() {
        const caller = yield* NodeApi.CurrentCaller
        return Option.isNone(engine)
          ? Stream.fail<NodeApi.NotAvailable | NodeApi.NodeFailure>(new NodeApi.NotAvailable({ operation: "InstallUpdate", reason: "this node's agent configuration has no update section" }))
          : engine.value.install({ ...request, actor: caller.commonName }).pipe(Stream.mapError(updateFailure("InstallUpdate")))
      })),
    GetUpdateSchedule: () => withScheduler("GetUpdateSchedule", (s) => Effect.mapError(s.list, updateFailure("GetUpdateSchedule"))),
    ScheduleUpdate: (request) =>
      Effect.flatMap(NodeApi.CurrentCaller, (caller) =>
        withScheduler("ScheduleUpdate", (s) =>
          Effect.mapError(
            s.add({ ...request, autoRollback: request.autoRollback ?? true, actor: caller.commonName }),
            updateFailure("ScheduleUpdate")
          ))),
    CancelScheduledUpdate: ({ id }) =>
      Effect.flatMap(NodeApi.CurrentCaller, (caller) =>
        withScheduler("CancelScheduledUpdate", (s) => Effect.mapError(s.cancel(id, caller.commonName), updateFailure("CancelScheduledUpdate")))),
    TriggerRollback: ({ reason }) =>
      Effect.flatMap(NodeApi.CurrentCaller, (caller) =>
        withEngine("TriggerRollback", (e) => Effect.mapError(e.rollback(reason, caller.commonName), updateFailure("TriggerRollback")))),
    GetRollbackHistory: () => withEngine("GetRollbackHistory", (e) => Effect.mapError(e.history, updateFailure("GetRollbackHistory"))),
    RotateCertificate: ({ certificate, key }) =>
      Effect.map(nodeCertificate.rotate({ cert: certificate, key }), (summary) => ({
        commonName: summary.commonName,
        notAfterMillis: summary.notAfterMillis
      })),
    GetNetworkConfig: () =>
      fs.readFileString(NodeFiles.networkFile).pipe(
        Effect.flatMap(decodeNetworkConfig),
        Effect.catchTag("PlatformError", (error) =>
          error.reason._tag === "NotFound" ? Effect.succeed({ interfaces: [] }) : Effect.fail(new NodeApi.NodeFailure({ operation: "GetNetworkConfig", reason: error.message }))),
        Effect.catchTag("SchemaError", (error) => Effect.fail(new NodeApi.NodeFailure({ operation: "GetNetworkConfig", reason: `${NodeFiles.networkFile}: ${error.message}` })))
      ),
    GetNetworkStatus: () =>
      Effect.gen(function*() {
        const failure = (error: { readonly message: string }) => new NodeApi.NodeFailure({ operation: "GetNetworkStatus", reason: error.message })
        const list = yield* Effect.mapError(links.list, failure)
        const withAddresses = yield* Effect.forEach(list, (link) =>
          Effect.map(Effect.orElseSucceed(links.addresses(link.name), () => []), (addresses) => ({ ...link, addresses })))
        const routes = yield* Effect.mapError(links.routes, failure)
        const resolv = yield* fs.readFileString("/etc/resolv.conf").pipe(Effect.orElseSucceed(() => ""))
        const nameservers = resolv.split("\n").flatMap((line) => /^nameserver\s+(\S+)/.exec(line)?.[1] ?? [])
        // A lease file being replaced or unreadable is left out, not an error: the links above are the truth.
        const leaseFiles = yield* fs.readDirectory(NodeFiles.dhcpLeaseDir).pipe(Effect.orElseSucceed(() => []))
        const dhcp = yield* Effect.forEach(leaseFiles.filter((f) => f.endsWith(".json")).sort(), (file) =>
          fs.readFileString(`${NodeFiles.dhcpLeaseDir}/${file}`).pipe(Effect.flatMap(decodeLease), Effect.option))
        const leases = dhcp.flatMap((lease) => (lease._tag === "Some" ? [lease.value] : []))
        return { links: withAddresses, routes, nameservers, ...(leases.length > 0 ? { dhcp: leases } : {}) }
      }),
    ConfigureNetwork: ({ config, mode, timeoutSeconds }) =>
      init.ApplyNetwork({ config, mode, timeoutMillis: timeoutSeconds * 1000 }).pipe(networkFailure("ConfigureNetwork")),
    ConfirmNetwork: () => init.ConfirmNetwork().pipe(networkFailure("ConfirmNetwork"))
  })
}))
