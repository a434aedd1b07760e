/**
 * keel-init's configuration, shipped in the image as /etc/keel/init.json. `node` mode is PID 1 on
 * a real node; `host` mode runs the same program as an ordinary process (a child subreaper), for
 * tests and development: no reboot(2), the process exits instead.
 */
import { Schema } from "effect"
import { ServiceSpec } from "@keelos/domain"
import { BootGuardConfig } from "./BootGuard.ts"
import { EarlyBootConfig } from "./EarlyBoot.ts"
import { LogFilesConfig } from "./LogFiles.ts"

export const InitConfig = Schema.Struct({
  mode: Schema.Literals(["node", "host"]),
  controlSocket: Schema.String,
  /** How often orphans are reaped besides on SIGCHLD. */
  reapIntervalMillis: Schema.Int.check(Schema.isGreaterThanOrEqualTo(100)),
  services: ServiceSpec.GroupSpec,
  /** Pet /dev/watchdog while the supervision tree answers; absent: no watchdog. */
  watchdog: Schema.optional(Schema.Struct({
    intervalMillis: Schema.Int.check(Schema.isGreaterThanOrEqualTo(100)),
    answerWithinMillis: Schema.Int.check(Schema.isGreaterThanOrEqualTo(100))
  })),
  /** Service output in rotated files (on a node, under /var/lib/keel/logs); absent: memory only. */
  logs: Schema.optional(LogFilesConfig),
  /** Early boot on a node; absent in host mode (the host is already up). */
  earlyBoot: Schema.optional(EarlyBootConfig),
  /** Boot-loop protection: maintenance mode after repeated unstable boots of one slot; absent: none. */
  bootGuard: Schema.optional(BootGuardConfig)
})
export type InitConfig = typeof InitConfig.Type

export const configPath = "/etc/keel/init.json"
