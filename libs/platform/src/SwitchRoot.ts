/**
 * Leaving the initramfs (DESIGN §3, for kernels booted without KeelOS's stage 1): make a mounted
 * root the process's `/`, freeing the initramfs's memory, then replace the process with the
 * program that runs from it, keeping its pid (1). What switch_root(8) and execve(2) do.
 */
import { Context, Effect, Schema } from "effect"

export class SwitchRootError extends Schema.TaggedError<SwitchRootError>()("SwitchRootError", {
  operation: Schema.Literals(["switch", "exec"]),
  target: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    return `${this.operation} ${this.target}: ${this.detail}`
  }
}

export interface Switched {
  /** Files and directories of the initramfs removed before the switch (their memory is freed). */
  readonly removed: number
}

export class SwitchRoot extends Context.Service<SwitchRoot, {
  /**
   * Makes `newRoot` (a mount point holding everything the rest of boot needs, with /dev, /proc
   * and /sys already moved into it) the root: removes the initramfs's own files (never crossing
   * into another filesystem), moves `newRoot` over `/`, chroots into it.
   */
  readonly switchTo: (newRoot: string) => Effect.Effect<Switched, SwitchRootError>
  /** execve(2): replaces this process with `command`; returns only by failing. */
  readonly exec: (command: string, args: ReadonlyArray<string>, env: Readonly<Record<string, string>>) => Effect.Effect<never, SwitchRootError>
}>()("@keelos/platform/SwitchRoot") {}
