/**
 * How much room a filesystem has left (statfs(2)): the update engine refuses to start an install
 * on a data partition too full to keep its state, history and logs.
 */
import { Context, type Effect, Schema } from "effect"

export class DiskSpaceError extends Schema.TaggedError<DiskSpaceError>()("DiskSpaceError", {
  path: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    return `statfs ${this.path}: ${this.detail}`
  }
}

export interface Space {
  /** Bytes an unprivileged writer may still use. */
  readonly availableBytes: number
  readonly totalBytes: number
}

export class DiskSpace extends Context.Service<DiskSpace, {
  readonly of: (path: string) => Effect.Effect<Space, DiskSpaceError>
}>()("@keelos/platform/DiskSpace") {}
