/** What the agent knows about itself: the OS version it belongs to and the certificate it serves. */
import { Context } from "effect"

export class NodeIdentity extends Context.Service<NodeIdentity, {
  readonly version: string
  readonly certificate: { readonly commonName: string; readonly notAfterMillis: number }
}>()("@keelos/agent/NodeIdentity") {}
