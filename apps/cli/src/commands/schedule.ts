/**
 * `osctl schedule`: updates that install themselves in a maintenance window (the node keeps them
 * across reboots; an install not activated when its window closes is abandoned and resumes in the
 * next opening).
 */
import { Effect, Option } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import type { NodeApi } from "@keelos/api"
import { minuteUtc, table } from "../Output.ts"
import * as Remote from "../Remote.ts"

const scheduleTable = (schedules: ReadonlyArray<NodeApi.ScheduledUpdate>) =>
  schedules.length === 0
    ? "no scheduled updates"
    : table(
      ["ID", "STATE", "WINDOW", "NEXT", "SOURCE", "BY", "LAST"],
      schedules.map((s) => [s.id, s.state, s.window, s.state === "pending" ? minuteUtc(s.nextStartMillis) : "-", s.source, s.createdBy, s.lastMessage ?? "-"])
    )

const add = Command.make(
  "update",
  {
    source: Flag.String("source").pipe(Flag.withDescription("A channel's latest.json URL, a release in a registry (oci://registry/repository:tag), or an image URL with --sha256")),
    sha256: Flag.String("sha256").pipe(Flag.withDescription("The image's SHA-256 (for an image URL)"), Flag.optional),
    window: Flag.String("window").pipe(Flag.withDescription(`When: DAYS HH:MM-HH:MM UTC, e.g. "Sat 02:00-04:00 UTC" or "daily 03:00-04:00 UTC"`)),
    autoRollback: Flag.Boolean("enable-auto-rollback").pipe(Flag.withDescription("Roll back when the health gate fails (KeelOS always does; recorded)"), Flag.withDefault(true)),
    healthTimeout: Flag.Int("health-check-timeout").pipe(Flag.withDescription("Seconds the trial boot has to pass its health checks"), Flag.optional)
  },
  (o) =>
    Effect.gen(function*() {
      if (Option.isSome(o.healthTimeout) && (o.healthTimeout.value < 1 || o.healthTimeout.value > 86_400)) {
        return yield* new Remote.UsageError({ reason: "--health-check-timeout is seconds between 1 and 86400" })
      }
      const { output, outcomes } = yield* Remote.onNodes((c) =>
        c.ScheduleUpdate({
          source: o.source,
          window: o.window,
          autoRollback: o.autoRollback,
          ...(Option.isSome(o.sha256) ? { sha256: o.sha256.value } : {}),
          ...(Option.isSome(o.healthTimeout) ? { healthTimeoutMillis: o.healthTimeout.value * 1000 } : {})
        }), { timeoutSeconds: 30 })
      yield* Remote.report(output, outcomes, (s) => `scheduled ${s.id}: ${s.source} in ${s.window}, next opening ${minuteUtc(s.nextStartMillis)}`)
    })
).pipe(Command.withDescription(
  "Schedule an update into a maintenance window (role os:admin)\n\n" +
    `Example: osctl schedule update --source https://updates.example.com/stable/amd64/latest.json --window "Sat 02:00-04:00 UTC" --health-check-timeout 300`
))

const list = Command.make("list", {}, () =>
  Effect.gen(function*() {
    const { output, outcomes } = yield* Remote.onNodes((c) => c.GetUpdateSchedule(), { timeoutSeconds: 15 })
    yield* Remote.report(output, outcomes, scheduleTable)
  })).pipe(Command.withDescription("The node's scheduled updates, pending and past"))

const cancel = Command.make("cancel", { id: Argument.String("id").pipe(Argument.withDescription("as osctl schedule list shows it")) }, ({ id }) =>
  Effect.gen(function*() {
    const { output, outcomes } = yield* Remote.onNodes((c) => c.CancelScheduledUpdate({ id }), { timeoutSeconds: 15 })
    yield* Remote.report(output, outcomes, (s) => `cancelled ${s.id} (${s.window})`)
  })).pipe(Command.withDescription("Cancel a pending scheduled update (role os:admin)"))

export const schedule = Command.make("schedule").pipe(
  Command.withDescription("Updates in maintenance windows"),
  Command.withSubcommands([add, list, cancel])
)
