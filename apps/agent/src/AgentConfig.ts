/** keel-agent's configuration file (`/etc/keel/agent.json` in the image): where it listens and where its PKI, init and boot environment are. */
import { Schema } from "effect"
import { NodeApi } from "@keelos/api"
import { Audit, HealthChecks } from "@keelos/agent"
import { NodeFiles, ReleaseMetadata } from "@keelos/domain"
import { ChannelWatch, Hooks } from "@keelos/update"

export const configPath = "/etc/keel/agent.json"

export const AgentConfig = Schema.Struct({
  listen: Schema.Struct({ host: Schema.String, port: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 65535 })) }),
  /** PEM files: the cluster CA clients must be signed by, and this node's certificate and key. */
  tls: Schema.Struct({ caFile: Schema.String, certFile: Schema.String, keyFile: Schema.String }),
  initSocket: Schema.String,
  envBlock: Schema.String,
  audit: Audit.AuditConfig,
  /** First trust: the one-time token from the provisioning config, used while there is no CA file. */
  bootstrap: Schema.optional(Schema.Struct({ tokenFile: Schema.String })),
  /** Prometheus text on GET /metrics, plain HTTP; absent: no metrics server. */
  metrics: Schema.optional(Schema.Struct({ host: Schema.String, port: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 65535 })) })),
  /** The update engine; absent: update, rollback and health operations answer NotAvailable. */
  update: Schema.optional(Schema.Struct({
    /** state.json and history.json live here (on the data partition). */
    stateDir: Schema.String,
    /** VERSION_ID of this file is the running version. */
    osRelease: Schema.String,
    arch: ReleaseMetadata.Architecture,
    trustedKeysFile: Schema.String,
    health: Schema.Struct({
      intervalMillis: Schema.Int.check(Schema.isGreaterThan(0)),
      stabilityMillis: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)),
      timeoutMillis: Schema.Int.check(Schema.isGreaterThan(0))
    }),
    /** HTTP checks this node adds to the built-in ones. */
    checks: Schema.Array(HealthChecks.HttpCheck),
    /** The root slots as files instead of GPT partitions (host tests). */
    slotFiles: Schema.optional(Schema.Struct({ A: Schema.String, B: Schema.String })),
    /** Pre- and post-update hooks; absent: none. */
    hooks: Schema.optional(Hooks.HooksConfig),
    /** The periodic channel check (off, check only, install in a window); absent: off. */
    watch: Schema.optional(ChannelWatch.WatchConfig),
    /** How OCI registries (and HTTPS update servers) are reached; absent: system CAs, anonymous, signed only. */
    registries: Schema.optional(Schema.Struct({
      /** PEM certificates trusted beside the system's; a missing file adds none. */
      caFile: Schema.String,
      /** `{"registry:port": {"username": …, "password": …}}`, read at each install; a missing file means anonymous. */
      credentialsFile: Schema.String,
      /** Accept artifacts without a trusted signature: development registries only. */
      allowUnsigned: Schema.Boolean
    }))
  }))
})
export type AgentConfig = typeof AgentConfig.Type

export const nodeDefaults: AgentConfig = {
  listen: { host: "0.0.0.0", port: NodeApi.defaultPort },
  tls: { caFile: NodeFiles.caFile, certFile: NodeFiles.certFile, keyFile: NodeFiles.keyFile },
  initSocket: "/run/keel/init.sock",
  envBlock: "/run/keel/esp/EFI/keel/grubenv",
  audit: { file: "/var/lib/keel/audit/audit.log", maxBytes: 4 * 1024 * 1024, keep: 3, memoryEntries: 2000 },
  bootstrap: { tokenFile: NodeFiles.bootstrapTokenFile },
  metrics: { host: "0.0.0.0", port: 9100 },
  update: {
    stateDir: "/var/lib/keel/update",
    osRelease: "/etc/os-release",
    arch: "amd64",
    trustedKeysFile: NodeFiles.trustedKeysFile,
    health: { intervalMillis: 5_000, stabilityMillis: 30_000, timeoutMillis: 300_000 },
    checks: [],
    // Executables an operator drops on the data partition (none at first); no webhooks by default.
    hooks: { webhooks: [], dir: "/var/lib/keel/hooks.d", timeoutMillis: 300_000 },
    // On the data partition: an operator (or provisioning) adds a private CA and credentials there.
    registries: { caFile: "/var/lib/keel/registries/ca.pem", credentialsFile: "/var/lib/keel/registries/credentials.json", allowUnsigned: false }
  }
}
