/**
 * The node API's handlers: status from the node's facts (NodeFacts); service control
 * and logs through init's control socket; power through init's orderly shutdown path; rotation of
 * the agent's certificate. Engines that have not landed yet (update, schedule, rollback, network,
 * health gate)
 * answer `NotAvailable`; none of them pretends.
 */
import { Effect, Stream } from "effect"
import { NodeApi } from "@keelos/api"
import { Audit } from "./Audit.ts"
import { InitClient, nodeFailure } from "./InitClient.ts"
import { NodeCertificate } from "./NodeCertificate.ts"
import { NodeFacts } from "./NodeFacts.ts"

const notYet = (operation: string, engine: string) =>
  Effect.fail(new NodeApi.NotAvailable({ operation, reason: `this build has no ${engine} yet` }))

export const layer = NodeApi.NodeApi.toLayer(Effect.gen(function*() {
  const init = yield* InitClient
  const nodeFacts = yield* NodeFacts
  const nodeCertificate = yield* NodeCertificate
  const audit = yield* Audit

  const power = (operation: string, action: "reboot" | "poweroff", reason: string) =>
    Effect.gen(function*() {
      const caller = yield* NodeApi.CurrentCaller
      return yield* init.Power({ action, reason: `${reason} (asked by ${caller.commonName})` }).pipe(nodeFailure(operation))
    })

  return NodeApi.NodeApi.of({
    WhoAmI: () => NodeApi.CurrentCaller,
    GetStatus: () =>
      Effect.gen(function*() {
        const facts = yield* nodeFacts.gather("GetStatus")
        return {
          version: facts.version,
          hostname: facts.hostname,
          bootedSlot: facts.bootEnv.booted,
          slots: facts.slots,
          bootEnv: facts.bootEnv,
          uptimeSeconds: facts.uptimeSeconds,
          update: null,
          services: facts.services,
          certificate: facts.certificate,
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
    RotateCertificate: ({ certificate, key }) =>
      Effect.map(nodeCertificate.rotate({ cert: certificate, key }), (summary) => ({
        commonName: summary.commonName,
        notAfterMillis: summary.notAfterMillis
      })),
    GetNetworkConfig: () => notYet("GetNetworkConfig", "network configuration"),
    GetNetworkStatus: () => notYet("GetNetworkStatus", "network configuration"),
    ConfigureNetwork: () => notYet("ConfigureNetwork", "network configuration")
  })
}))
