/** The one error of the store: which operation on which file, and why. */
import { Schema } from "effect"

export class StoreError extends Schema.TaggedError<StoreError>()("StoreError", {
  operation: Schema.Literals(["read", "write", "decode", "encode"]),
  path: Schema.String,
  reason: Schema.Literals(["Io", "Corrupt", "Invalid"]),
  detail: Schema.String
}) {
  override get message(): string {
    return `${this.operation} ${this.path}: ${this.reason}: ${this.detail}`
  }
}
