/**
 * Mount table changes for early boot and shutdown: mount(2), umount2(2) and the current table.
 */
import { Context, Effect, Schema } from "effect"

export class MountError extends Schema.TaggedError<MountError>()("MountError", {
  operation: Schema.Literals(["mount", "unmount", "list"]),
  target: Schema.String,
  reason: Schema.Literals(["NotFound", "Busy", "NotPermitted", "NoDevice", "Invalid", "Io"]),
  detail: Schema.String
}) {
  override get message(): string {
    return `${this.operation} ${this.target}: ${this.reason}: ${this.detail}`
  }
}

export interface MountRequest {
  readonly source: string
  readonly target: string
  readonly fstype: string
  readonly readOnly?: boolean
  readonly flags?: ReadonlyArray<"nosuid" | "nodev" | "noexec" | "bind" | "move" | "private" | "rec">
  readonly data?: string
}

export interface MountEntry {
  readonly source: string
  readonly target: string
  readonly fstype: string
  readonly options: ReadonlyArray<string>
}

export class Mounts extends Context.Service<Mounts, {
  readonly mount: (request: MountRequest) => Effect.Effect<void, MountError>
  readonly unmount: (target: string, options?: { readonly detach?: boolean }) => Effect.Effect<void, MountError>
  readonly list: Effect.Effect<ReadonlyArray<MountEntry>, MountError>
}>()("@keelos/platform/Mounts") {}
