/**
 * The node's metrics in the Prometheus text format (version 0.0.4), rendered from NodeFacts: OS
 * version and booted slot, boot count, trial boots left, update phase (every phase always present,
 * 1 for the current), update attempts and rolled-back versions, the health gate's last checks,
 * service state and restarts, certificate expiry, uptime. Without the update engine
 * `keelos_update_engine_available` is 0 and the phase is idle.
 */
import { InitControl } from "@keelos/api"
import { UpdateState } from "@keelos/domain"
import type { Facts } from "./NodeFacts.ts"

/** What the update engine adds, when the node has one. */
export interface UpdateFacts {
  readonly state: UpdateState.UpdateState
  readonly gate: { readonly verdict: string; readonly checks: ReadonlyArray<{ readonly name: string; readonly ok: boolean }> } | null
}

export const contentType = "text/plain; version=0.0.4; charset=utf-8"

const escape = (value: string) => value.replace(/\\/g, "\\\\").replace(/"/g, "\\\"").replace(/\n/g, "\\n")

const labels = (pairs: Record<string, string>) => {
  const entries = Object.entries(pairs)
  return entries.length === 0 ? "" : `{${entries.map(([k, v]) => `${k}="${escape(v)}"`).join(",")}}`
}

interface Family {
  readonly name: string
  readonly help: string
  readonly type: "gauge" | "counter"
  readonly samples: ReadonlyArray<readonly [Record<string, string>, number]>
}

const renderFamily = (family: Family) =>
  [
    `# HELP ${family.name} ${family.help}`,
    `# TYPE ${family.name} ${family.type}`,
    ...family.samples.map(([l, value]) => `${family.name}${labels(l)} ${Number.isFinite(value) ? value : 0}`)
  ].join("\n")

export const render = (facts: Facts, update: UpdateFacts | null = null): string => {
  const booted = facts.bootEnv.booted
  const services = facts.services.filter((s) => s.kind === "service")
  const families: Array<Family> = [
    { name: "keelos_os_info", help: "The running KeelOS version and the slot it booted from.", type: "gauge", samples: [[{ version: facts.version, slot: booted ?? "unknown" }, 1]] },
    ...(facts.boots === null ? [] : [{ name: "keelos_boots_total", help: "Boots of this node, counted on its data partition.", type: "counter" as const, samples: [[{}, facts.boots]] as const }]),
    {
      name: "keelos_booted_slot",
      help: "1 for the slot this boot came from.",
      type: "gauge",
      samples: facts.slots.map((s) => [{ slot: s.slot }, s.booted ? 1 : 0] as const)
    },
    {
      name: "keelos_slot_good",
      help: "1 for the last known good slot.",
      type: "gauge",
      samples: facts.slots.map((s) => [{ slot: s.slot }, s.role === "good" ? 1 : 0] as const)
    },
    { name: "keelos_trial_boots_left", help: "Boots left for the slot on trial (0 when none is on trial).", type: "gauge", samples: [[{}, facts.bootEnv.next === null ? 0 : facts.bootEnv.tries]] },
    { name: "keelos_update_engine_available", help: "1 when this node runs the update engine.", type: "gauge", samples: [[{}, update === null ? 0 : 1]] },
    {
      name: "keelos_update_phase",
      help: "The update phase: 1 for the current one, 0 for every other.",
      type: "gauge",
      samples: UpdateState.UpdatePhase.literals.map((phase) => [{ phase }, phase === (update?.state.phase ?? "idle") ? 1 : 0] as const)
    },
    ...(update === null ? [] : [
      { name: "keelos_update_attempts_total", help: "Update installs started on this node.", type: "counter" as const, samples: [[{}, update.state.attempt]] as const },
      { name: "keelos_update_rolled_back_versions", help: "Versions this node rolled back and will not install again without force.", type: "gauge" as const, samples: [[{}, update.state.rolledBack.length]] as const },
      ...(update.gate === null ? [] : [{
        name: "keelos_health_check_ok",
        help: "The health gate's last round: 1 for a check that passed, 0 for one that failed.",
        type: "gauge" as const,
        samples: update.gate.checks.map((c) => [{ check: c.name }, c.ok ? 1 : 0] as const)
      }])
    ]),
    {
      name: "keelos_service_state",
      help: "Each supervised service's state: 1 for the current one.",
      type: "gauge",
      samples: services.flatMap((s) => InitControl.ChildState.literals.map((state) => [{ service: s.name, state }, s.state === state ? 1 : 0] as const))
    },
    {
      name: "keelos_service_restarts_total",
      help: "Restarts of each supervised service since boot.",
      type: "counter",
      samples: services.map((s) => [{ service: s.name }, s.restarts] as const)
    },
    {
      name: "keelos_certificate_expiry_timestamp_seconds",
      help: "When the agent's certificate expires (Unix time).",
      type: "gauge",
      samples: [[{ common_name: facts.certificate.commonName }, Math.floor(facts.certificate.notAfterMillis / 1000)]]
    },
    { name: "keelos_uptime_seconds", help: "Seconds since the kernel started.", type: "gauge", samples: [[{}, facts.uptimeSeconds]] }
  ]
  return families.map(renderFamily).join("\n") + "\n"
}
