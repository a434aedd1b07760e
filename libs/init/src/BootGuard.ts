/**
 * Boot-loop protection. GRUB's counter protects a slot on trial; nothing protects the last known
 * good slot when it, too, stops coming up (a service that crash-loops until supervision gives up
 * and reboots, again and again). keel-init counts the boots of a slot that never became stable (all
 * services running for a while) in `init/unstable-boots.json`; from the `maxUnstableBoots`-th in a
 * row it boots that slot in maintenance mode: only the services that let an operator in (the
 * agent), so the node can be inspected, rolled back or updated instead of looping. Booting another
 * slot (an update, a rollback) starts a fresh count.
 */
import { Clock, Duration, Effect, Schema } from "effect"
import { NodeFiles, type ServiceSpec, Slot } from "@keelos/domain"
import { Kernel } from "@keelos/platform"
import { JsonFile } from "@keelos/store"

export const BootGuardConfig = Schema.Struct({
  /** Unstable boots in a row of one slot before it boots in maintenance mode. */
  maxUnstableBoots: Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)),
  /** A boot is stable once every service has been running this long. */
  stableAfterMillis: Schema.Int.check(Schema.isGreaterThanOrEqualTo(1_000)),
  /** The services maintenance mode keeps. */
  maintenanceServices: Schema.Array(Schema.String)
})
export type BootGuardConfig = typeof BootGuardConfig.Type

export const file = `${Slot.dataMountPoint}/init/unstable-boots.json`
/** Present (tmpfs) while the node runs in maintenance mode, for the agent to report. */
export const maintenanceFlag = NodeFiles.maintenanceFlag

const Record = Schema.Struct({ slot: Schema.String, unstable: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)) })

export interface Decision {
  readonly slot: string
  /** Unstable boots of this slot before this one. */
  readonly unstableBefore: number
  readonly maintenance: boolean
}

/** The slot GRUB booted, from `keel.slot=` on the kernel command line ("?" when absent). */
const bootedSlot = Effect.flatMap(Kernel.Kernel, (kernel) => kernel.cmdline).pipe(
  Effect.map((words) => Kernel.parseCmdline(words).get("keel.slot") ?? "?"),
  Effect.orElseSucceed(() => "?")
)

/**
 * Counts this boot as unstable until `markStable` says otherwise, and decides whether it is a
 * maintenance boot. Written and synced before any service starts, so a boot that dies early counts.
 */
export const begin = Effect.fn("BootGuard.begin")(function*(config: BootGuardConfig) {
  const store = yield* JsonFile.make(Record, file, { slot: "", unstable: 0 })
  const slot = yield* bootedSlot
  const before = yield* store.get
  const unstableBefore = before.slot === slot ? before.unstable : 0
  yield* store.set({ slot, unstable: unstableBefore + 1 })
  const decision: Decision = { slot, unstableBefore, maintenance: unstableBefore >= config.maxUnstableBoots }
  return {
    decision,
    /** This boot came up stable: the count starts again (not in maintenance mode, which stays until another slot boots). */
    markStable: decision.maintenance ? Effect.void : store.set({ slot, unstable: 0 })
  }
})

/** The tree maintenance mode runs: only the named services, with dependencies on the others dropped. */
export const maintenanceTree = (tree: ServiceSpec.GroupSpec, keep: ReadonlyArray<string>): ServiceSpec.GroupSpec => {
  const prune = (group: ServiceSpec.GroupSpec): ServiceSpec.GroupSpec | undefined => {
    const children = group.children.flatMap((child): Array<ServiceSpec.ChildSpec> => {
      if (child.kind === "group") {
        const pruned = prune(child)
        return pruned === undefined ? [] : [pruned]
      }
      return keep.includes(child.name) ? [child] : []
    })
    if (children.length === 0) return undefined
    const names = new Set(children.map((c) => c.name))
    return { ...group, children: children.map((c) => ({ ...c, dependsOn: c.dependsOn.filter((d) => names.has(d)) })) }
  }
  return prune(tree) ?? { ...tree, children: [] }
}

/** Waits until `allRunning` has held for `stableAfterMillis` without a break, checking every second. */
export const awaitStable = <E, R>(allRunning: Effect.Effect<boolean, E, R>, stableAfterMillis: number) =>
  Effect.gen(function*() {
    let since: number | null = null
    while (true) {
      const now = yield* Clock.currentTimeMillis
      if (yield* Effect.orElseSucceed(allRunning, () => false)) {
        since ??= now
        if (now - since >= stableAfterMillis) return
      } else {
        since = null
      }
      yield* Effect.sleep(Duration.seconds(1))
    }
  })
