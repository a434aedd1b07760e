/**
 * Turns any failure into one line a person can act on: what failed, why, and what to do. No stack
 * traces; the exit code says the class of failure.
 */
import { Cause } from "effect"
import * as Remote from "./Remote.ts"

export interface Reported {
  readonly line: string
  readonly exitCode: number
}

const hints: Record<string, string> = {
  ConfigError: "see osctl config --help",
  CredentialsError: "fix the context with osctl config add",
  EnvBlockError: "the file is not a valid GRUB environment block; check it with grub-editenv FILE list",
  BootEnvBlockError: "check the path; the block must be exactly 1024 bytes"
}

/** Bad input the parser could not catch: the same exit code as a parse error. */
const usageErrors = new Set(["UsageError", "SinceError"])

export const report = (cause: Cause.Cause<unknown>): Reported => {
  const error = Cause.squash(cause)
  if (typeof error === "object" && error !== null && "_tag" in error) {
    const tag = String((error as { _tag: unknown })._tag)
    if (tag === "RpcClientError" || tag === "TimeoutError") {
      const failure = Remote.classify(error)
      return { line: `error: ${failure.message}`, exitCode: Remote.exitCodes[failure.kind] }
    }
    const message = (error as { message?: unknown }).message
    const hint = hints[tag]
    return { line: `error: ${String(message || tag)}${hint ? ` (${hint})` : ""}`, exitCode: usageErrors.has(tag) ? 2 : 1 }
  }
  return { line: `internal error: ${error instanceof Error ? error.message : String(error)}`, exitCode: 70 }
}
