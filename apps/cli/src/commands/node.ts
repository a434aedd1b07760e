/**
 * The node API from the command line: status, services, logs, power, audit, and the operations
 * whose engines have not landed on nodes yet (they report "not available" from the node itself).
 */
import { X509Certificate } from "node:crypto"
import { Clock, Console, Duration, Effect, FileSystem, Option, Schedule, Schema, Stream } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { InitControl, type NodeApi } from "@keelos/api"
import { minuteUtc, table } from "../Output.ts"
import * as OsctlConfig from "../OsctlConfig.ts"
import * as Remote from "../Remote.ts"
import { osctl } from "./root.ts"

const expiryWarningDays = 30

const uptime = (seconds: number) => Duration.format(Duration.seconds(Math.floor(seconds)))

const serviceTable = (services: ReadonlyArray<InitControl.ServiceStatus>) =>
  table(
    ["SERVICE", "STATE", "HEALTH", "PID", "RESTARTS", "LAST EXIT"],
    services.filter((s) => s.kind === "service").map((s) => [
      s.name,
      s.state,
      s.health,
      s.pid === null ? "-" : String(s.pid),
      String(s.restarts),
      s.lastExit === null ? "-" : s.lastExit.reason
    ])
  )

const statusText = (s: NodeApi.NodeStatus) => {
  const slot = (x: NodeApi.SlotStatus) => `${x.slot} ${x.role}${x.booted ? ", booted" : ""}${x.version === null ? "" : `, ${x.version}`}`
  const days = s.certificate.daysLeft
  return [
    `node         ${s.hostname}  KeelOS ${s.version}`,
    `slots        ${s.slots.map(slot).join("  |  ")}`,
    `uptime       ${uptime(s.uptimeSeconds)}`,
    ...(s.maintenance === null ? [] : [`MAINTENANCE  slot ${s.maintenance.split(" ")[0]} came up unstable ${s.maintenance.split(" ")[1] ?? "?"} boots in a row: only the agent runs; roll back (osctl rollback trigger) or update`]),
    `update       ${s.update === null ? "no update engine on this node" : `${s.update.phase}${s.update.toVersion === null ? "" : ` (${s.update.fromVersion ?? "?"} -> ${s.update.toVersion})`}${s.update.lastError === null ? "" : `: ${s.update.lastError}`}`}`,
    `certificate  ${s.certificate.commonName}, ${days} days left${days < expiryWarningDays ? "  WARNING: rotate it soon" : ""}`,
    `update keys  ${s.updateKeys.length === 0 ? "none: this node accepts no update" : s.updateKeys.map((k) => `${k.id}${k.development ? " (DEVELOPMENT key: for local builds only, never production)" : ""}`).join(", ")}`,
    `you          ${s.caller.commonName} (${s.caller.role})`,
    "",
    serviceTable(s.services)
  ].join("\n")
}

/** A warning line when the client certificate of the context expires within the warning period. */
const clientExpiryWarning = Effect.gen(function*() {
  const { context } = yield* Remote.target
  const now = yield* Clock.currentTimeMillis
  const certificate = new X509Certificate(context.cert)
  const days = Math.floor((Date.parse(certificate.validTo) - now) / 86_400_000)
  return days < expiryWarningDays ? `WARNING: your client certificate expires in ${days} days (${certificate.validTo}): issue a new one with osctl gen cert` : undefined
})

const status = Command.make("status", {}, () =>
  Effect.gen(function*() {
    const { output, outcomes } = yield* Remote.onNodes((c) => c.GetStatus(), { timeoutSeconds: 15 })
    yield* Remote.report(output, outcomes, statusText)
    const warning = yield* clientExpiryWarning
    if (warning !== undefined) yield* Console.error(warning)
  })).pipe(Command.withDescription("Show a node's version, slots, boot state, certificate and services\n\nExample: osctl status -n 10.0.0.5"))

const whoami = Command.make("whoami", {}, () =>
  Effect.gen(function*() {
    const { output, outcomes } = yield* Remote.onNodes((c) => c.WhoAmI(), { timeoutSeconds: 15 })
    yield* Remote.report(output, outcomes, (c) => `${c.commonName} (${c.role})`)
  })).pipe(Command.withDescription("Show who the node thinks you are: your certificate's name and role"))

const list = Command.make("list", {}, () =>
  Effect.gen(function*() {
    const { output, outcomes } = yield* Remote.onNodes((c) => c.ListServices(), { timeoutSeconds: 15 })
    yield* Remote.report(output, outcomes, serviceTable)
  })).pipe(Command.withDescription("List the services init supervises"))

const restart = Command.make("restart", { service: Argument.String("service") }, ({ service }) =>
  Effect.gen(function*() {
    const { output, outcomes } = yield* Remote.onNodes((c) => Effect.as(c.RestartService({ service }), { service, restarted: true }), { timeoutSeconds: 30 })
    yield* Remote.report(output, outcomes, () => `${service} restarted`)
  })).pipe(Command.withDescription("Restart a service (role os:operator)\n\nExample: osctl service restart containerd"))

const kill = Command.make(
  "kill",
  {
    service: Argument.String("service"),
    signal: Flag.Literals("signal", InitControl.ServiceSignal.literals).pipe(Flag.withDescription("The signal to send"), Flag.withDefault("SIGKILL"))
  },
  ({ service, signal }) =>
    Effect.gen(function*() {
      const { output, outcomes } = yield* Remote.onNodes((c) => c.SignalService({ service, signal }), { timeoutSeconds: 30 })
      yield* Remote.report(output, outcomes, (r) => (r.delivered ? `${signal} sent to ${service}; init restarts it by its policy` : `${service} has no process to signal`))
    })
).pipe(Command.withDescription("Send a signal to a service, SIGKILL by default (role os:admin)\n\nExample: osctl service kill containerd"))

const service = Command.make("service").pipe(Command.withDescription("Services supervised by init"), Command.withSubcommands([list, restart, kill]))

/** `10m`, `2h`, `30s`, `1d` ago, or an ISO 8601 time; undefined when it is neither. */
export const parseSince = (text: string, nowMillis: number): number | undefined => {
  const relative = /^(\d+)([smhd])$/.exec(text)
  if (relative !== null) return nowMillis - Number(relative[1]) * { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[relative[2] as "s" | "m" | "h" | "d"]
  const absolute = Date.parse(text)
  return Number.isNaN(absolute) ? undefined : absolute
}

export class SinceError extends Schema.TaggedError<SinceError>()("SinceError", { value: Schema.String }) {
  override get message(): string {
    return `--since ${JSON.stringify(this.value)}: give a duration ago (30s, 10m, 2h, 1d) or a time (2026-11-30T12:00:00Z)`
  }
}

const logs = Command.make(
  "logs",
  {
    service: Argument.String("service").pipe(Argument.withDescription("a service, or kernel for the kernel's log")),
    follow: Flag.Boolean("follow").pipe(Flag.withAlias("f"), Flag.withDescription("Keep printing new lines"), Flag.withDefault(false)),
    tail: Flag.Int("tail").pipe(Flag.withDescription("How many past lines (at most 10000)"), Flag.withDefault(100)),
    since: Flag.String("since").pipe(Flag.withDescription("Only lines from then on: 10m, 2h, or a time"), Flag.optional)
  },
  ({ follow, service, since, tail }) =>
    Effect.gen(function*() {
      const { output } = yield* osctl
      const now = yield* Clock.currentTimeMillis
      const sinceMillis = Option.isSome(since) ? parseSince(since.value, now) : undefined
      if (Option.isSome(since) && sinceMillis === undefined) return yield* new SinceError({ value: since.value })
      const { outcomes } = yield* Remote.onNodes((c) =>
        c.StreamLogs({ service, tail, follow, ...(sinceMillis === undefined ? {} : { sinceMillis }) }).pipe(
          Stream.runForEach((line): Effect.Effect<void> => Console.log(output === "text" ? line.line : JSON.stringify(line)))
        ))
      const failed = outcomes.filter((o) => "error" in o)
      yield* Remote.report("text", failed, () => "")
    })
).pipe(Command.withDescription("Print a service's output or the kernel's log; -f to follow\n\nExample: osctl logs containerd -f --tail 20\n         osctl logs kernel --since 10m"))

const power = (name: "reboot" | "shutdown") =>
  Command.make(name, { reason: Flag.String("reason").pipe(Flag.withDescription("Why; recorded by init and in the audit log")) }, ({ reason }) =>
    Effect.gen(function*() {
      const { output, outcomes } = yield* Remote.onNodes((c) => (name === "reboot" ? c.Reboot({ reason }) : c.Shutdown({ reason })), { timeoutSeconds: 15 })
      yield* Remote.report(output, outcomes, (r) => (r.accepted ? `${name} accepted: services stop, then the node ${name === "reboot" ? "reboots" : "powers off"}` : `${name} not accepted`))
    })).pipe(Command.withDescription(`${name === "reboot" ? "Reboot" : "Power off"} a node in order (role os:operator)\n\nExample: osctl ${name} --reason "kernel update"`))

const audit = Command.make("audit", { tail: Flag.Int("tail").pipe(Flag.withDefault(50)) }, ({ tail }) =>
  Effect.gen(function*() {
    const { output, outcomes } = yield* Remote.onNodes((c) => c.GetAuditLog({ tail }), { timeoutSeconds: 15 })
    yield* Remote.report(output, outcomes, (entries) =>
      table(
        ["TIME", "WHO", "ROLE", "OPERATION", "RESULT", "MS"],
        entries.map((e) => [String(e.atMillis), e.commonName, e.role, e.operation, e.result, String(e.durationMillis)])
      ))
  })).pipe(Command.withDescription("Show the node's audit log: every API call, allowed or refused (role os:admin)"))

const health = Command.make("health", {}, () =>
  Effect.gen(function*() {
    const { output, outcomes } = yield* Remote.onNodes((c) => c.GetHealth(), { timeoutSeconds: 30 })
    yield* Remote.report(output, outcomes, (h) =>
      [
        `${h.healthy ? "healthy" : "UNHEALTHY"}${h.gate === null ? "" : `  (last health gate: ${h.gate.verdict} at ${new Date(h.gate.atMillis).toISOString()})`}`,
        ...(h.gate === null || h.gate.verdict === "passed" ? [] : h.gate.checks.filter((c) => c.required && !c.ok).map((c) => `  the gate's last round failed ${c.name}: ${c.detail ?? "-"}`)),
        "",
        table(["CHECK", "REQUIRED", "RESULT", "DETAIL"], h.checks.map((c) => [c.name, c.required ? "yes" : "no", c.ok ? "ok" : "FAIL", c.detail ?? "-"]))
      ].join("\n"))
    const unhealthy = outcomes.some((o) => "result" in o && !o.result.healthy)
    if (unhealthy) yield* Effect.sync(() => void (process.exitCode = Math.max(Number(process.exitCode ?? 0), 1)))
  })).pipe(Command.withDescription("Run the node's health checks now (the ones a trial boot must pass); exit 1 when a required one fails"))

const history = Command.make("history", {}, () =>
  Effect.gen(function*() {
    const { output, outcomes } = yield* Remote.onNodes((c) => c.GetRollbackHistory(), { timeoutSeconds: 15 })
    yield* Remote.report(output, outcomes, (entries) =>
      entries.length === 0
        ? "no installs or rollbacks yet"
        : table(
          ["TIME", "EVENT", "FROM", "TO", "BY", "REASON"],
          entries.map((e) => [new Date(e.atMillis).toISOString(), e.kind, e.fromVersion ?? "-", e.toVersion ?? "-", e.actor, e.reason])
        ))
  })).pipe(Command.withDescription("Show installs, successes, failures and rollbacks, oldest first"))

const trigger = Command.make("trigger", { reason: Flag.String("reason") }, ({ reason }) =>
  Effect.gen(function*() {
    const { output, outcomes } = yield* Remote.onNodes((c) => c.TriggerRollback({ reason }), { timeoutSeconds: 30 })
    yield* Remote.report(output, outcomes, (r) => `rolling back to slot ${r.slot} (${r.version ?? "unknown version"}): the node reboots into it`)
  })).pipe(Command.withDescription("Make the other slot the last known good one and reboot into it; it must hold an image this node verified or booted (role os:admin)\n\nExample: osctl rollback trigger --reason \"kubelet crash loop after 0.2.0\""))

const rollback = Command.make("rollback").pipe(Command.withDescription("Rollback to the other slot, and its history"), Command.withSubcommands([history, trigger]))

const rotate = Command.make(
  "rotate",
  {
    cert: Flag.String("cert").pipe(Flag.withDescription("The node's new certificate (PEM file), issued by the cluster CA")),
    key: Flag.String("key").pipe(Flag.withDescription("Its private key (PEM file)"))
  },
  (o) =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const read = (file: string) => Effect.mapError(fs.readFileString(file), (e) => new OsctlConfig.ConfigError({ path: file, reason: e.message }))
      const certificate = yield* read(o.cert)
      const key = yield* read(o.key)
      const { output, outcomes } = yield* Remote.onNodes((c) => c.RotateCertificate({ certificate, key }), { timeoutSeconds: 30 })
      yield* Remote.report(output, outcomes, (r) => `the node now serves ${r.commonName}, valid until ${new Date(r.notAfterMillis).toISOString()}`)
    })
).pipe(Command.withDescription("Replace the agent's certificate while it runs (role os:admin)\n\nExample: osctl gen node-cert --ip 10.0.0.5 --name node-1 --ca-dir pki --out new && osctl cert rotate --cert new/node-1.crt --key new/node-1.key"))

const networkStatus = Command.make("status", {}, () =>
  Effect.gen(function*() {
    const { output, outcomes } = yield* Remote.onNodes((c) => c.GetNetworkStatus(), { timeoutSeconds: 15 })
    yield* Remote.report(output, outcomes, (s) =>
      [
        table(
          ["LINK", "KIND", "STATE", "MTU", "MAC", "ADDRESSES"],
          s.links.map((l) => [
            l.name,
            `${l.kind ?? "-"}${l.master === null ? "" : ` (port of ${l.master})`}`,
            `${l.up ? "up" : "down"} (${l.operstate})`,
            String(l.mtu),
            l.mac,
            l.addresses.join(" ") || "-"
          ])
        ),
        "",
        table(["ROUTE", "VIA", "DEV"], s.routes.map((r) => [r.destination, r.gateway ?? "-", r.link ?? "-"])),
        "",
        `nameservers  ${s.nameservers.join(" ") || "none"}`,
        ...(s.dhcp === undefined ? [] : [
          "",
          table(
            ["DHCP", "STATE", "ADDRESS", "SERVER", "LEASE", "SINCE"],
            s.dhcp.map((l) => [l.link, l.state, l.address, l.server, `${l.leaseSeconds} s`, minuteUtc(l.atMillis)])
          )
        ])
      ].join("\n"))
  })).pipe(Command.withDescription("Links, addresses, routes and DHCP leases as the node has them"))

const networkConfig = Command.make("config", {}, () =>
  Effect.gen(function*() {
    const { output, outcomes } = yield* Remote.onNodes((c) => c.GetNetworkConfig(), { timeoutSeconds: 15 })
    yield* Remote.report(output, outcomes, (c) =>
      c.interfaces.length === 0
        ? "no network configured"
        : table(
          ["INTERFACE", "DHCP", "SLAAC", "ADDRESSES", "GATEWAYS", "MTU"],
          c.interfaces.map((i) => [
            i.name,
            i.dhcp4 === true ? "yes" : "no",
            i.slaac === undefined ? "default" : i.slaac ? "yes" : "no",
            (i.addresses ?? []).join(" ") || "-",
            [i.gateway, i.gateway6].filter((g) => g !== undefined).join(" ") || "-",
            i.mtu === undefined ? "-" : String(i.mtu)
          ])
        ))
  })).pipe(Command.withDescription("The node's network configuration (machine config)"))

const networkApply = Command.make(
  "apply",
  {
    file: Argument.String("file").pipe(Argument.withDescription("the network configuration, JSON or YAML (as osctl network config -o json shows it)")),
    mode: Flag.Literals("mode", ["try", "apply"]).pipe(
      Flag.withDescription("try: put back unless osctl still reaches the node over the new network and confirms it; apply: for good, at once"),
      Flag.withDefault("try")
    ),
    timeout: Flag.Int("timeout").pipe(Flag.withDescription("Seconds a try has to be confirmed before the node puts the previous configuration back (5 to 3600)"), Flag.withDefault(60)),
    noConfirm: Flag.Boolean("no-confirm").pipe(Flag.withDescription("Leave a try unconfirmed (confirm later with osctl network confirm, or let it lapse)"), Flag.withDefault(false))
  },
  (o) =>
    Effect.gen(function*() {
      if (o.timeout < 5 || o.timeout > 3600) return yield* Effect.fail(new Remote.UsageError({ reason: "--timeout is seconds between 5 and 3600" }))
      const fs = yield* FileSystem.FileSystem
      const text = yield* Effect.mapError(fs.readFileString(o.file), (e) => new Remote.UsageError({ reason: `cannot read ${o.file}: ${e.message}` }))
      const { Yaml } = yield* Effect.promise(() => import("@keelos/provision"))
      const parsed = yield* Effect.mapError(Yaml.parse(o.file, text), (e) => new Remote.UsageError({ reason: e.message }))
      const config = JSON.stringify(parsed)
      const confirmWithin = o.mode === "try" && !o.noConfirm
      const { output, outcomes } = yield* Remote.onNodes((client) =>
        Effect.gen(function*() {
          const planned = yield* client.ConfigureNetwork({ config, mode: o.mode, timeoutSeconds: o.timeout })
          if (!confirmWithin) return { ...planned, confirmed: false }
          // Confirmed only through the new network: every attempt is a call of its own, retried while
          // the change is still being made or the node does not answer, until shortly before the revert.
          yield* client.ConfirmNetwork().pipe(
            Effect.timeout("5 seconds"),
            Effect.retry(Schedule.spaced("2 seconds")),
            Effect.timeout(`${o.timeout - 2} seconds`),
            Effect.mapError(() =>
              new Remote.UsageError({
                reason: `the node did not confirm its new network within ${o.timeout} s; it puts the previous configuration back at ${minuteUtc(planned.revertAtMillis)}`
              })
            )
          )
          return { ...planned, confirmed: true }
        }), { timeoutSeconds: o.timeout + 30 })
      yield* Remote.report(output, outcomes, (r) =>
        [
          ...(r.changes.length === 0 ? ["no changes"] : r.changes),
          o.mode === "apply"
            ? "applied and saved"
            : r.confirmed
            ? "confirmed over the new network and saved"
            : `on trial: confirm with osctl network confirm before ${minuteUtc(r.revertAtMillis)}, or it is put back`
        ].join("\n"))
    })
).pipe(Command.withDescription(
  "Change the node's network live (role os:admin). By default a try: the node puts the previous configuration back unless osctl still reaches it over the new one and confirms\n\nExample: osctl network apply network.yaml --mode try --timeout 60"
))

const networkConfirm = Command.make("confirm", {}, () =>
  Effect.gen(function*() {
    const { output, outcomes } = yield* Remote.onNodes((c) => c.ConfirmNetwork(), { timeoutSeconds: 15 })
    yield* Remote.report(output, outcomes, () => "the network configuration on trial is kept and saved")
  })).pipe(Command.withDescription("Keep the network configuration on trial (role os:admin)"))

const network = Command.make("network").pipe(
  Command.withDescription("The node's network"),
  Command.withSubcommands([networkStatus, networkConfig, networkApply, networkConfirm])
)

const cert = Command.make("cert").pipe(Command.withDescription("The node's own certificate"), Command.withSubcommands([rotate]))

export const nodeCommands = [status, whoami, service, logs, power("reboot"), power("shutdown"), audit, health, rollback, cert, network] as const
