/** The typed failures of supervision. */
import { Schema } from "effect"

/** A group restarted its children more than its intensity allows: it gives up and escalates. */
export class IntensityExceeded extends Schema.TaggedError<IntensityExceeded>()("IntensityExceeded", {
  group: Schema.String,
  child: Schema.String,
  restarts: Schema.Int,
  periodMillis: Schema.Int
}) {
  override get message(): string {
    return `group ${this.group} gave up: ${this.restarts} restarts within ${this.periodMillis} ms, last of ${this.child}`
  }
}

export class UnknownChild extends Schema.TaggedError<UnknownChild>()("UnknownChild", {
  name: Schema.String
}) {
  override get message(): string {
    return `no service or group named ${this.name}`
  }
}

/** The specification cannot be supervised: duplicate names, unknown or cyclic dependencies. */
export class InvalidTree extends Schema.TaggedError<InvalidTree>()("InvalidTree", {
  reason: Schema.String
}) {
  override get message(): string {
    return `invalid supervision tree: ${this.reason}`
  }
}
