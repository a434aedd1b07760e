/** keel-agent's configuration file (`/etc/keel/agent.json` in the image): where it listens and where its PKI, init and boot environment are. */
import { Schema } from "effect"
import { NodeApi } from "@keelos/api"
import { Audit } from "@keelos/agent"
import { NodeFiles } from "@keelos/domain"

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
  metrics: Schema.optional(Schema.Struct({ host: Schema.String, port: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 65535 })) }))
})
export type AgentConfig = typeof AgentConfig.Type

export const nodeDefaults: AgentConfig = {
  listen: { host: "0.0.0.0", port: NodeApi.defaultPort },
  tls: { caFile: NodeFiles.caFile, certFile: NodeFiles.certFile, keyFile: NodeFiles.keyFile },
  initSocket: "/run/keel/init.sock",
  envBlock: "/run/keel/esp/EFI/keel/grubenv",
  audit: { file: "/var/lib/keel/audit/audit.log", maxBytes: 4 * 1024 * 1024, keep: 3, memoryEntries: 2000 },
  bootstrap: { tokenFile: NodeFiles.bootstrapTokenFile },
  metrics: { host: "0.0.0.0", port: 9100 }
}
