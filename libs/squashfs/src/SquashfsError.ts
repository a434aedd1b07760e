/** The one error of this library: what was being done, why it failed, and the detail a user reads. */
import { Schema } from "effect"

export class SquashfsError extends Schema.TaggedError<SquashfsError>()("SquashfsError", {
  operation: Schema.Literals(["write", "read"]),
  reason: Schema.Literals(["InvalidTree", "Malformed", "Unsupported", "Corrupt", "SizeMismatch", "TooLarge"]),
  detail: Schema.String
}) {
  override get message(): string {
    return `squashfs ${this.operation}: ${this.reason}: ${this.detail}`
  }
}

export const make = (operation: SquashfsError["operation"], reason: SquashfsError["reason"], detail: string) =>
  new SquashfsError({ operation, reason, detail })
