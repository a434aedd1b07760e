/**
 * The running kernel: command line, module loading (finit_module in modules.dep order), the
 * hostname, and reading files into the page cache ahead of their readers.
 */
import { Context, Effect, Schema } from "effect"

export class KernelError extends Schema.TaggedError<KernelError>()("KernelError", {
  operation: Schema.Literals(["cmdline", "loadModule", "setHostname", "prefetch"]),
  target: Schema.String,
  reason: Schema.Literals(["NotFound", "NotPermitted", "Invalid", "Io"]),
  detail: Schema.String
}) {
  override get message(): string {
    return `${this.operation} ${this.target}: ${this.reason}: ${this.detail}`
  }
}

export class Kernel extends Context.Service<Kernel, {
  /** `/proc/cmdline`, split into words. Words with a dot never reach init's argv (boot.md G4). */
  readonly cmdline: Effect.Effect<ReadonlyArray<string>, KernelError>
  /** Loads a module (with `params`, e.g. `max_bonds=0`) and its dependencies; already loaded is success. */
  readonly loadModule: (name: string, params?: string) => Effect.Effect<void, KernelError>
  readonly setHostname: (name: string) => Effect.Effect<void, KernelError>
  /**
   * Reads a file into the page cache off the calling thread, so whoever reads it next finds it there
   * (from the slot's SquashFS: already decompressed).
   */
  readonly prefetch: (file: string) => Effect.Effect<void, KernelError>
}>()("@keelos/platform/Kernel") {}

/** `key=value` words of a command line; later words win, bare words map to "". */
export const parseCmdline = (words: ReadonlyArray<string>): ReadonlyMap<string, string> => {
  const result = new Map<string, string>()
  for (const word of words) {
    const eq = word.indexOf("=")
    if (eq === -1) result.set(word, "")
    else result.set(word.slice(0, eq), word.slice(eq + 1))
  }
  return result
}
