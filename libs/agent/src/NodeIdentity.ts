/** What the agent knows about itself: the OS version it belongs to and the certificate it serves. */
import { Context } from "effect"
import type { Pki } from "@keelos/pki"

export class NodeIdentity extends Context.Service<NodeIdentity, {
  readonly version: string
  readonly certificate: Pki.CertificateInfo
}>()("@keelos/agent/NodeIdentity") {}
