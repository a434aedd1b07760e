/**
 * Network links, as much as early boot needs: bring a link up (loopback). The network issue (#4)
 * grows this into rtnetlink: addresses, routes, MTU, link state.
 */
import { Context, Effect, Schema } from "effect"

export class LinkError extends Schema.TaggedError<LinkError>()("LinkError", {
  operation: Schema.Literals(["up"]),
  link: Schema.String,
  reason: Schema.Literals(["NotFound", "NotPermitted", "Io"]),
  detail: Schema.String
}) {
  override get message(): string {
    return `${this.operation} ${this.link}: ${this.reason}: ${this.detail}`
  }
}

export class Links extends Context.Service<Links, {
  readonly up: (name: string) => Effect.Effect<void, LinkError>
}>()("@keelos/platform/Links") {}
