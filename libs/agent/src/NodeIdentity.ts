/** What the agent knows about itself that never changes while it runs: the OS version it belongs to. */
import { Context } from "effect"

export class NodeIdentity extends Context.Service<NodeIdentity, {
  readonly version: string
}>()("@keelos/agent/NodeIdentity") {}
