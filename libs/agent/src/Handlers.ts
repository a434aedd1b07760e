/**
 * The node API's handlers: status from the boot environment, the kernel and init; service control
 * and logs through init's control socket; power through init's orderly shutdown path. Engines that
 * have not landed yet (update, schedule, rollback, network, certificate rotation, health gate)
 * answer `NotAvailable`; none of them pretends.
 */
import { Clock, Effect, FileSystem, Stream } from "effect"
import { NodeApi } from "@keelos/api"
import { BootControl } from "@keelos/boot"
import { Slot } from "@keelos/domain"
import { Audit } from "./Audit.ts"
import { InitClient, nodeFailure } from "./InitClient.ts"
import { NodeIdentity } from "./NodeIdentity.ts"

const dayMillis = 24 * 3600_000

const notYet = (operation: string, engine: string) =>
  Effect.fail(new NodeApi.NotAvailable({ operation, reason: `this build has no ${engine} yet` }))

export const layer = NodeApi.NodeApi.toLayer(Effect.gen(function*() {
  const init = yield* InitClient
  const boot = yield* BootControl.BootControl
  const identity = yield* NodeIdentity
  const audit = yield* Audit
  const fs = yield* FileSystem.FileSystem

  const readTrimmed = (file: string) => fs.readFileString(file).pipe(Effect.map((text) => text.trim()), Effect.option)

  const bootEnv = (operation: string) =>
    Effect.mapError(boot.read, (error) => new NodeApi.NodeFailure({ operation, reason: `boot environment: ${error.message}` }))

  const power = (operation: string, action: "reboot" | "poweroff", reason: string) =>
    Effect.gen(function*() {
      const caller = yield* NodeApi.CurrentCaller
      return yield* init.Power({ action, reason: `${reason} (asked by ${caller.commonName})` }).pipe(nodeFailure(operation))
    })

  return NodeApi.NodeApi.of({
    WhoAmI: () => NodeApi.CurrentCaller,
    GetStatus: () =>
      Effect.gen(function*() {
        const env = yield* bootEnv("GetStatus")
        const services = yield* init.ListServices().pipe(nodeFailure("GetStatus"))
        const uptime = yield* readTrimmed("/proc/uptime")
        const hostname = yield* readTrimmed("/proc/sys/kernel/hostname")
        const now = yield* Clock.currentTimeMillis
        const slots = Slot.slots.map((slot) => ({
          slot,
          role: slot === env.active ? "good" as const : slot === env.next ? "trial" as const : "inactive" as const,
          booted: slot === env.booted,
          version: slot === env.booted ? identity.version : null
        }))
        return {
          version: identity.version,
          hostname: hostname._tag === "Some" ? hostname.value : "unknown",
          bootedSlot: env.booted,
          slots,
          bootEnv: env,
          uptimeSeconds: uptime._tag === "Some" ? Number.parseFloat(uptime.value.split(" ")[0] ?? "0") : 0,
          update: null,
          services,
          certificate: {
            commonName: identity.certificate.commonName,
            notAfterMillis: identity.certificate.notAfterMillis,
            daysLeft: Math.floor((identity.certificate.notAfterMillis - now) / dayMillis)
          },
          caller: yield* NodeApi.CurrentCaller
        }
      }),
    GetHealth: () => notYet("GetHealth", "health gate"),
    Reboot: ({ reason }) => power("Reboot", "reboot", reason),
    Shutdown: ({ reason }) => power("Shutdown", "poweroff", reason),
    ListServices: () => init.ListServices().pipe(nodeFailure("ListServices")),
    RestartService: ({ service }) => init.RestartService({ service }).pipe(nodeFailure("RestartService")),
    StreamLogs: ({ service, tail, follow }) =>
      init.ServiceLogs({ service, tail, follow }).pipe(
        Stream.catchIf(
          (error) => error._tag === "RpcClientError",
          (error) => Stream.fail(new NodeApi.NodeFailure({ operation: "StreamLogs", reason: `init control socket: ${error.message}` }))
        )
      ),
    GetAuditLog: ({ tail }) => audit.tail(tail),
    InstallUpdate: () => Stream.fail(new NodeApi.NotAvailable({ operation: "InstallUpdate", reason: "this build has no update engine yet" })),
    GetUpdateSchedule: () => notYet("GetUpdateSchedule", "update scheduler"),
    ScheduleUpdate: () => notYet("ScheduleUpdate", "update scheduler"),
    CancelScheduledUpdate: () => notYet("CancelScheduledUpdate", "update scheduler"),
    TriggerRollback: () => notYet("TriggerRollback", "update engine"),
    GetRollbackHistory: () => notYet("GetRollbackHistory", "update engine"),
    RotateCertificate: () => notYet("RotateCertificate", "certificate rotation"),
    GetNetworkConfig: () => notYet("GetNetworkConfig", "network configuration"),
    GetNetworkStatus: () => notYet("GetNetworkStatus", "network configuration"),
    ConfigureNetwork: () => notYet("ConfigureNetwork", "network configuration")
  })
}))
