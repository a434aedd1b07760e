/**
 * `osctl update`: install an update on nodes and follow it (progress per node on stderr, one line
 * per phase and per tenth of the download, so it reads the same in a terminal and in a CI log),
 * and show where each node's update stands.
 */
import { Console, Effect, Option, Stream } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import type { NodeApi } from "@keelos/api"
import type { Version } from "@keelos/domain"
import { minuteUtc, table } from "../Output.ts"
import * as Remote from "../Remote.ts"
import { osctl } from "./root.ts"

const megabytes = (bytes: number) => `${(bytes / 1_000_000).toFixed(1)} MB`

/** A line for a progress event, or undefined when it adds nothing to the last one printed. */
export const progressLine = (node: string, progress: NodeApi.UpdateProgress, last: { phase?: string; tenth?: number }) => {
  const tenth = progress.totalBytes === null || progress.totalBytes === 0 ? 0 : Math.floor((progress.bytes / progress.totalBytes) * 10)
  if (progress.phase === last.phase && tenth === last.tenth) return undefined
  last.phase = progress.phase
  last.tenth = tenth
  const version = progress.version === null ? "" : ` ${progress.version}`
  if (progress.phase !== "downloading" || progress.totalBytes === null) return `${node}: ${progress.phase}${version}`
  const saved = progress.bytesSaved === undefined ? "" : ` through a delta, ${megabytes(progress.bytesSaved)} not downloaded`
  return `${node}: ${progress.bytesSaved === undefined ? "downloading" : "patching"}${version} ${tenth * 10}% (${megabytes(progress.bytes)} of ${megabytes(progress.totalBytes)})${saved}`
}

const install = Command.make(
  "install",
  {
    source: Argument.String("source").pipe(Argument.withDescription("a channel's latest.json URL, a release in a registry (oci://registry/repository:tag), or an image URL with --sha256")),
    sha256: Flag.String("sha256").pipe(Flag.withDescription("The image's SHA-256 (required for an image URL)"), Flag.optional),
    version: Flag.String("image-version").pipe(Flag.withDescription("The version a direct image holds, for the rollback gate"), Flag.optional),
    force: Flag.Boolean("force").pipe(Flag.withDescription("Allow a downgrade, a reinstall or a version that was rolled back"), Flag.withDefault(false)),
    noReboot: Flag.Boolean("no-reboot").pipe(Flag.withDescription("Stage and activate, but leave the reboot to the operator"), Flag.withDefault(false)),
    healthTimeout: Flag.Int("health-check-timeout").pipe(Flag.withDescription("Seconds the trial boot has to pass its health checks before it is rolled back"), Flag.optional)
  },
  (o) =>
    Effect.gen(function*() {
      const { output } = yield* osctl
      if (Option.isSome(o.healthTimeout) && (o.healthTimeout.value < 1 || o.healthTimeout.value > 86_400)) {
        return yield* Effect.fail(new Remote.UsageError({ reason: "--health-check-timeout is seconds between 1 and 86400" }))
      }
      const request = {
        source: o.source,
        force: o.force,
        reboot: !o.noReboot,
        ...(Option.isSome(o.sha256) ? { sha256: o.sha256.value } : {}),
        ...(Option.isSome(o.version) ? { version: o.version.value as Version.Version } : {}),
        ...(Option.isSome(o.healthTimeout) ? { healthTimeoutMillis: o.healthTimeout.value * 1000 } : {})
      }
      const { outcomes } = yield* Remote.onNodes((client, node) => {
        const last: { phase?: string; tenth?: number } = {}
        return client.InstallUpdate(request).pipe(
          Stream.tap((progress) => {
            if (output !== "text") return Console.log(JSON.stringify({ node, ...progress }))
            const line = progressLine(node, progress, last)
            return line === undefined ? Effect.void : Console.error(line)
          }),
          Stream.runLast,
          Effect.map((final) => Option.getOrNull(final))
        )
      })
      yield* Remote.report("text", outcomes, (final) =>
        final === null
          ? "no progress reported"
          : final.phase === "activated"
          ? `${final.version ?? "the image"} is on trial in the inactive slot${request.reboot ? "; the node reboots into it and keeps it if its health checks pass" : "; reboot the node to try it"}`
          : `ended in ${final.phase}`)
    })
).pipe(Command.withDescription(
  "Install an update into the inactive slot and boot it on trial (role os:admin)\n\n" +
    "Example: osctl update install https://updates.example.com/stable/amd64/latest.json\n" +
    "         osctl update install oci://registry.example.com/keelos/os:0.2.0\n" +
    "         osctl update install https://host/os-0.2.0.img --sha256 3f…e1 --health-check-timeout 300"
))

const stateText = (s: NodeApi.NodeStatus) => {
  const u = s.update
  if (u === null) return "no update engine on this node"
  const versions = u.toVersion === null && u.fromVersion === null ? "" : ` ${u.fromVersion ?? "?"} -> ${u.toVersion ?? "?"}`
  return [
    `phase        ${u.phase}${versions}${u.targetSlot === null ? "" : ` (slot ${u.targetSlot})`}`,
    `attempt      ${u.attempt}`,
    ...(u.lastError === null ? [] : [`last error   ${u.lastError}`]),
    ...(u.download === null ? [] : [`resumable    ${megabytes(u.download.syncedBytes)} of ${megabytes(u.download.sizeBytes)} written`]),
    `rolled back  ${u.rolledBack.join(", ") || "none"}`,
    ...(s.updateCheck === null ? [] : [`last check   ${minuteUtc(s.updateCheck.atMillis)} (${s.updateCheck.mode}): ${s.updateCheck.message}`]),
    "",
    table(["SLOT", "ROLE", "VERSION"], s.slots.map((slot) => [slot.slot, `${slot.role}${slot.booted ? ", booted" : ""}`, slot.version ?? "-"]))
  ].join("\n")
}

const status = Command.make("status", {}, () =>
  Effect.gen(function*() {
    const { output, outcomes } = yield* Remote.onNodes((c) => c.GetStatus(), { timeoutSeconds: 15 })
    yield* Remote.report(output, outcomes, stateText)
  })).pipe(Command.withDescription("Where each node's update stands: phase, versions, slots, last error"))

export const update = Command.make("update").pipe(
  Command.withDescription("Install updates and follow them"),
  Command.withSubcommands([install, status])
)
