/**
 * The update engine (DESIGN §3, §4): installs an image into the inactive slot and puts it on trial;
 * on the trial boot runs the health gate and either makes the slot the last known good one or
 * rolls back; notices when the firmware rolled back on its own; rolls back by hand to a slot that
 * holds a verified image. Every phase change is persisted before the step it announces, so a power
 * cut at any point leaves a state the next boot can finish or report; every install, success,
 * rollback and failure goes into the history with who asked and why.
 *
 * An install runs in a fiber owned by the engine, not by the caller: a client that disconnects
 * does not abort a half-written slot. The caller follows its progress through a sliding queue.
 */
import { type Cause, Clock, Context, Duration, Effect, Layer, Queue, Ref, Stream } from "effect"
import type { FileSystem, Path } from "effect"
import type { HttpClient } from "effect/http"
import { BootControl } from "@keelos/boot"
import { BootEnv, type ReleaseMetadata, Slot, UpdateState, type Version } from "@keelos/domain"
import { BlockDevice, DiskSpace, type HttpDownload } from "@keelos/platform"
import type { Signing } from "@keelos/release"
import * as Channel from "./Channel.ts"
import * as HealthGate from "./HealthGate.ts"
import type * as Hooks from "./Hooks.ts"
import type * as Gates from "./Gates.ts"
import * as DeltaInstall from "./DeltaInstall.ts"
import * as RegistrySource from "./RegistrySource.ts"
import * as SlotWriter from "./SlotWriter.ts"
import * as Source from "./Source.ts"
import * as UpdateError from "./UpdateError.ts"
import * as UpdateStore from "./UpdateStore.ts"

export interface Config {
  readonly paths: UpdateStore.Paths
  /** The version this node runs (from the image). */
  readonly runningVersion: Version.Version
  readonly arch: ReleaseMetadata.Architecture
  readonly trustedKeys: Effect.Effect<ReadonlyArray<Signing.TrustedKey>>
  readonly health: HealthGate.Options
  /** The checks of the health gate; evaluated when the gate runs. */
  readonly checks: Effect.Effect<ReadonlyArray<HealthGate.Check>>
  /** Reboots the node (through init on a real node). */
  readonly reboot: (reason: string) => Effect.Effect<void, UpdateError.UpdateError>
  /** Pre- and post-update hooks (Hooks.make); none when absent. */
  readonly hooks?: Hooks.Runner
  /** Bytes the data partition must have free before an install starts (16 MiB by default). */
  readonly minDataFreeBytes?: number
  /** Credentials and signature policy for OCI registries; anonymous and signed-only when absent. */
  readonly registries?: RegistrySource.Access
  readonly writer?: Partial<Pick<SlotWriter.Options, "bufferBytes" | "syncEveryBytes" | "retryBaseMillis" | "maxStalledAttempts"> & Pick<DeltaInstall.Options, "reclaim">>
  /** Blocks a content-delta rebuild compresses at once on the thread pool (1 unless told). */
  readonly deltaParallelBlocks?: number
}

export interface InstallRequest extends Source.Request {
  readonly force: boolean
  /** Reboot into the trial slot once it is activated. */
  readonly reboot: boolean
  /** Who asked: a certificate CN or "schedule". */
  readonly actor: string
  /** The health gate's timeout for this update's trial boot, instead of the node's default. */
  readonly healthTimeoutMillis?: number | undefined
  /** When set (a maintenance window's end), the install is abandoned if it is not activated by then. */
  readonly deadlineMillis?: number | undefined
}

export interface Progress {
  readonly phase: UpdateState.UpdatePhase
  readonly bytes: number
  readonly totalBytes: number | null
  readonly version: string | null
  /** On a delta install: the bytes not downloaded (image size minus patch size). */
  readonly bytesSaved?: number
}

/** A release the gates would let this node install. */
export interface Available {
  readonly version: Version.Version | null
  readonly sizeBytes: number
}

/** What the engine did when the agent started. */
export type Reconciled =
  | { readonly _tag: "Nothing" }
  | { readonly _tag: "Promoted"; readonly version: string | null }
  | { readonly _tag: "RolledBack"; readonly version: string | null; readonly reason: string }
  | { readonly _tag: "FirmwareRolledBack"; readonly version: string | null }
  | { readonly _tag: "Interrupted"; readonly phase: UpdateState.UpdatePhase }

export interface LastHealth {
  readonly verdict: "passed" | "failed" | "running"
  readonly results: ReadonlyArray<HealthGate.CheckResult>
  readonly atMillis: number
}

type Requirements =
  | BootControl.BootControl
  | BlockDevice.BlockDevices
  | DiskSpace.DiskSpace
  | HttpClient.HttpClient
  | HttpDownload.HttpDownload
  | FileSystem.FileSystem
  | Path.Path

/** Progress events a caller of `install` keeps at most; older ones are dropped first. */
const progressQueueBound = 64

/** Progress is published at most once per this many bytes (and at every phase change). */
const progressStepBytes = 4 << 20

const rememberRolledBack = (list: ReadonlyArray<Version.Version>, version: Version.Version | null) =>
  version === null || list.includes(version) ? list : [...list, version].slice(-UpdateState.rolledBackLimit)

const bootError = (operation: UpdateError.UpdateOperation) => (error: BootControl.BootControlError) =>
  UpdateError.make(operation, error._tag === "BootStateError" ? "InvalidState" : "Io", error.message)

export class UpdateEngine extends Context.Service<UpdateEngine, {
  readonly state: Effect.Effect<UpdateState.UpdateState, UpdateError.UpdateError>
  readonly history: Effect.Effect<ReadonlyArray<UpdateState.HistoryEntry>, UpdateError.UpdateError>
  /** Starts an install and follows it; fails `Busy` when one is running. */
  readonly install: (request: InstallRequest) => Stream.Stream<Progress, UpdateError.UpdateError>
  /** Finishes what the last boot left: verifies a trial, records a firmware rollback or an interruption. */
  readonly reconcile: Effect.Effect<Reconciled, UpdateError.UpdateError>
  /** Makes the other slot the last known good one and reboots into it. */
  readonly rollback: (reason: string, actor: string) => Effect.Effect<{ readonly slot: Slot.Slot; readonly version: string | null }, UpdateError.UpdateError>
  /** The last health gate's results, if it ran since the agent started. */
  readonly lastHealth: Effect.Effect<LastHealth | null>
  /** What installing `source` now would install, through every gate, without downloading the image. */
  readonly check: (source: string) => Effect.Effect<Available, UpdateError.UpdateError>
}>()("@keelos/update/UpdateEngine") {
  static readonly make = (config: Config) =>
    Effect.gen(function*() {
      const boot = yield* BootControl.BootControl
      const devices = yield* BlockDevice.BlockDevices
      const store = yield* UpdateStore.make(config.paths)
      const services = yield* Effect.context<Requirements>()
      // Installs run in the engine's own scope: a caller that goes away does not stop them, and an
      // engine that stops (the agent exits) takes them down with it, as a process would.
      const engineScope = yield* Effect.scope
      const busy = yield* Ref.make(false)
      const health = yield* Ref.make<LastHealth | null>(null)
      const running = config.runningVersion

      const fail = (error: UpdateError.UpdateError, actor: string) =>
        Effect.gen(function*() {
          const state = yield* store.update((s) => ({ ...s, phase: "failed", lastError: error.message }))
          yield* store.record({ kind: "failure", fromVersion: state.fromVersion, toVersion: state.toVersion, reason: error.message, actor })
        })

      /** One install, start to activation; `emit` publishes progress. */
      const installJob = (request: InstallRequest, emit: (progress: Progress) => Effect.Effect<void>) =>
        Effect.gen(function*() {
          const source = yield* Source.parse(request)
          const env = yield* Effect.mapError(boot.read, bootError("check"))
          if (env.onTrial) {
            return yield* UpdateError.make("check", "InvalidState", `slot ${env.next} is on trial; wait for its health gate before installing again`)
          }
          const target = Slot.other(env.active)
          const before = yield* store.get
          const node = { version: running, arch: config.arch, rolledBack: before.rolledBack }
          // A trial armed whose reboot has not come (an agent that restarted before it, or
          // --no-reboot): the same image again only asks for that reboot; another one supersedes
          // it, but only once it is known, so a failed check leaves the armed trial as it was.
          let resolved: (SlotWriter.Target & { readonly version: Version.Version | null; readonly deltas?: ReadonlyArray<DeltaInstall.Candidate> }) | null = null
          if (env.next !== null && env.tries > 0) {
            resolved = yield* resolveSource(source, request, node, before.rolledBack)
            const armed = before.slots[env.next]
            if (before.phase === "activated" && armed !== null && armed.sha256 === resolved.sha256) {
              yield* emit({ phase: "activated", bytes: resolved.sizeBytes, totalBytes: resolved.sizeBytes, version: resolved.version })
              return request.reboot ? `update to ${resolved.version ?? resolved.sha256.slice(0, 12)}: trial boot of slot ${env.next} (asked by ${request.actor})` : null
            }
            yield* Effect.mapError(boot.cancelTrial, bootError("write"))
            yield* Effect.log(`the armed trial of ${before.toVersion ?? "an update"} in slot ${env.next} is superseded by ${resolved.version ?? "an image"}`)
          }
          const now = yield* Clock.currentTimeMillis
          yield* store.update((s) => ({
            ...s,
            phase: "checking",
            attempt: s.attempt + 1,
            fromVersion: running,
            toVersion: null,
            targetSlot: target,
            lastError: null,
            startedAtMillis: now,
            healthTimeoutMillis: request.healthTimeoutMillis ?? null
          }))
          yield* emit({ phase: "checking", bytes: 0, totalBytes: null, version: null })

          const image = resolved ?? (yield* resolveSource(source, request, node, before.rolledBack))

          yield* preflight
          if (config.hooks !== undefined) {
            const atMillis = yield* Clock.currentTimeMillis
            yield* config.hooks({ event: "pre-update", fromVersion: running, toVersion: image.version, outcome: null, source: request.source, actor: request.actor, atMillis }).pipe(
              Effect.mapError((reason) => UpdateError.make("check", "HookFailed", `pre-update hook: ${reason}; the update is aborted`))
            )
          }
          const pending = before.download
          const resumeFrom = pending !== null && pending.url === image.url.href && pending.sha256 === image.sha256 && pending.slot === target
            ? pending.syncedBytes
            : 0
          yield* store.update((s) => ({
            ...s,
            phase: "downloading",
            toVersion: image.version,
            slots: { ...s.slots, [target]: null },
            download: { url: image.url.href, sha256: image.sha256, sizeBytes: image.sizeBytes, slot: target, syncedBytes: resumeFrom }
          }))
          yield* store.record({ kind: "install", fromVersion: running, toVersion: image.version, reason: `install from ${request.source}${resumeFrom > 0 ? ` (resumed at byte ${resumeFrom})` : ""}`, actor: request.actor })
          yield* emit({ phase: "downloading", bytes: resumeFrom, totalBytes: image.sizeBytes, version: image.version })

          let published = resumeFrom
          const windowClosed = UpdateError.make("write", "WindowClosed", "the maintenance window closed before the update was activated; it resumes in the next window")
          const beforeDeadline = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
            request.deadlineMillis === undefined
              ? effect
              : Effect.flatMap(Clock.currentTimeMillis, (now) =>
                now >= request.deadlineMillis!
                  ? Effect.fail(windowClosed)
                  : Effect.timeoutOrElse(effect, { duration: Duration.millis(request.deadlineMillis! - now), orElse: () => Effect.fail(windowClosed) }))
          yield* beforeDeadline(Effect.scoped(Effect.gen(function*() {
            const device = yield* Effect.mapError(devices.open(Slot.rootLabel(target)), (error) => UpdateError.make("write", "Io", error.message))
            const delta = resumeFrom === 0 ? DeltaInstall.choose(image.deltas ?? [], running, image.sizeBytes) : null
            if (delta !== null && (yield* installDelta(delta, env.active, device, image, request, emit))) return
            yield* SlotWriter.write(device, image, {
              ...config.writer,
              resumeFrom,
              onProgress: (bytes) => {
                if (bytes - published < progressStepBytes && bytes !== image.sizeBytes) return Effect.void
                published = bytes
                return emit({ phase: "downloading", bytes, totalBytes: image.sizeBytes, version: image.version })
              },
              onSynced: (syncedBytes) =>
                Effect.asVoid(store.update((s) => ({ ...s, download: s.download === null ? null : { ...s.download, syncedBytes } })))
            }).pipe(Effect.tapError((error) =>
              // Bytes that failed their digest are worth nothing to a resume.
              error.reason === "Integrity" ? Effect.asVoid(store.update((s) => ({ ...s, download: null }))) : Effect.void
            ))
          })))

          const verifiedAt = yield* Clock.currentTimeMillis
          yield* store.update((s) => ({
            ...s,
            phase: "staged",
            download: null,
            slots: { ...s.slots, [target]: { version: image.version, sha256: image.sha256, sizeBytes: image.sizeBytes, verifiedAtMillis: verifiedAt } }
          }))
          yield* emit({ phase: "staged", bytes: image.sizeBytes, totalBytes: image.sizeBytes, version: image.version })
          yield* beforeDeadline(Effect.void)
          yield* Effect.mapError(boot.activate(target), bootError("activate"))
          yield* store.update((s) => ({ ...s, phase: "activated" }))
          yield* emit({ phase: "activated", bytes: image.sizeBytes, totalBytes: image.sizeBytes, version: image.version })
          return request.reboot ? `update to ${image.version ?? image.sha256.slice(0, 12)}: trial boot of slot ${target} (asked by ${request.actor})` : null
        }).pipe(
          // A refusal before the install started (a trial on its way) leaves the state as it was.
          Effect.tapError((error) => error.operation === "check" && error.reason === "InvalidState" ? Effect.void : Effect.ignore(fail(error, request.actor)))
        )

      const minFree = config.minDataFreeBytes ?? 16 * 1024 * 1024
      const dataDir = config.paths.state.slice(0, Math.max(1, config.paths.state.lastIndexOf("/")))
      /** The data partition must have room for the state, history and logs an update writes. */
      const preflight = Effect.gen(function*() {
        const space = yield* Effect.mapError((yield* DiskSpace.DiskSpace).of(dataDir), (error) => UpdateError.make("check", "Io", error.message))
        if (space.availableBytes < minFree) {
          const mb = (n: number) => `${(n / 1048576).toFixed(1)} MB`
          return yield* UpdateError.make("check", "NoSpace", `the data partition (${dataDir}) has ${mb(space.availableBytes)} free; an update needs ${mb(minFree)} for its state, history and logs: free space there and try again`)
        }
      })

      /**
       * Produces the image through a delta; true when the slot holds it, false (recorded in the
       * state and history) when the engine must download the full image instead.
       */
      const installDelta = (
        delta: DeltaInstall.Candidate,
        activeSlot: Slot.Slot,
        device: BlockDevice.BlockDevice,
        image: { readonly sha256: string; readonly sizeBytes: number; readonly version: Version.Version | null },
        request: InstallRequest,
        emit: (progress: Progress) => Effect.Effect<void>
      ) => {
        const bytesSaved = image.sizeBytes - delta.ref.size
        let published = 0
        return Effect.scoped(Effect.gen(function*() {
          const active = yield* Effect.mapError(devices.open(Slot.rootLabel(activeSlot)), (error) => UpdateError.make("write", "Io", error.message))
          yield* DeltaInstall.install(delta, active, device, image, {
            patchFile: `${dataDir}/delta.patch`,
            ...(config.writer?.syncEveryBytes === undefined ? {} : { syncEveryBytes: config.writer.syncEveryBytes }),
            ...(config.writer?.reclaim === undefined ? {} : { reclaim: config.writer.reclaim }),
            ...(config.deltaParallelBlocks === undefined ? {} : { parallelBlocks: config.deltaParallelBlocks }),
            onProgress: (bytes) => {
              if (bytes - published < progressStepBytes && bytes !== image.sizeBytes) return Effect.void
              published = bytes
              return emit({ phase: "downloading", bytes, totalBytes: image.sizeBytes, version: image.version, bytesSaved })
            }
          })
          yield* store.record({ kind: "install", fromVersion: running, toVersion: image.version, reason: `produced from ${running} by a ${delta.ref.size}-byte delta (${bytesSaved} bytes not downloaded)`, actor: request.actor })
          return true
        })).pipe(Effect.catch((error: UpdateError.UpdateError) =>
          Effect.gen(function*() {
            const reason = `the delta from ${running} was not used: ${error.message}; installing the full image instead`
            yield* Effect.logWarning(reason)
            yield* store.update((s) => ({ ...s, lastError: reason }))
            yield* store.record({ kind: "failure", fromVersion: running, toVersion: image.version, reason, actor: request.actor })
            yield* emit({ phase: "downloading", bytes: 0, totalBytes: image.sizeBytes, version: image.version })
            return false
          })
        ))
      }

      /** What the source names: the image to stream, its digest, size and version. */
      const resolveSource = (source: Source.Source, request: InstallRequest, node: Gates.NodeView, rolledBack: ReadonlyArray<Version.Version>) =>
        Effect.gen(function*() {
          switch (source._tag) {
            case "Channel": {
              const { imageUrl, metadata } = yield* Channel.resolve(source.metadataUrl, source.signatureUrl, yield* config.trustedKeys, node, request.force)
              const deltas = metadata.deltas.flatMap((ref) => URL.canParse(ref.url, source.metadataUrl.href) ? [{ ref, url: new URL(ref.url, source.metadataUrl) }] : [])
              return { url: imageUrl, sha256: metadata.image.sha256 as string, sizeBytes: metadata.image.size, version: metadata.version as Version.Version | null, deltas }
            }
            case "Registry":
              return yield* RegistrySource.resolve(source.reference, config.registries ?? RegistrySource.anonymous, yield* config.trustedKeys, node, request.force)
            case "Image": {
              if (source.version !== null && !request.force && rolledBack.includes(source.version)) {
                return yield* UpdateError.make("check", "Refused", `${source.version} was rolled back on this node before; install it again only with --force`)
              }
              const head = yield* sizeOf(source.url)
              return { url: source.url, sha256: source.sha256, sizeBytes: head, version: source.version }
            }
          }
        })

      const check = (sourceText: string) =>
        Effect.gen(function*() {
          const source = yield* Source.parse({ source: sourceText })
          const state = yield* store.get
          const image = yield* resolveSource(source, { source: sourceText, force: false, reboot: false, actor: "check" }, { version: running, arch: config.arch, rolledBack: state.rolledBack }, state.rolledBack)
          return { version: image.version, sizeBytes: image.sizeBytes } satisfies Available
        }).pipe(Effect.provideContext(services))

      /** Time for the caller to hear the end of the install before the node goes down. */
      const rebootGraceMillis = 2_000

      const sizeOf = (url: URL) => Channel.contentLength(url)

      const install = (request: InstallRequest): Stream.Stream<Progress, UpdateError.UpdateError> =>
        Stream.unwrap(Effect.gen(function*() {
          const claimed = yield* Ref.modify(busy, (b) => [!b, true] as const)
          if (!claimed) return Stream.fail(UpdateError.make("check", "Busy", "an update is already running on this node"))
          const queue = yield* Queue.sliding<Progress, UpdateError.UpdateError | Cause.Done>(progressQueueBound)
          const job = installJob(request, (progress) => Effect.asVoid(Queue.offer(queue, progress))).pipe(
            Effect.provideContext(services),
            // Free the engine before the caller hears the end, so its next install is not Busy.
            Effect.ensuring(Ref.set(busy, false)),
            Effect.matchCauseEffect({
              // Once activated, a failed reboot leaves the trial armed for the next boot: not a failed install.
              onSuccess: (rebootReason) =>
                Effect.andThen(
                  Queue.end(queue),
                  rebootReason === null ? Effect.void : Effect.andThen(
                    Effect.sleep(rebootGraceMillis),
                    config.reboot(rebootReason).pipe(Effect.catch((error) => Effect.logError(`the trial slot is armed, but the reboot failed: ${error.message}`)))
                  )
                ),
              // Typed failures and defects alike reach the follower (a reboot or power loss is a defect).
              onFailure: (cause) => Queue.failCause(queue, cause)
            })
          )
          yield* Effect.forkIn(job, engineScope)
          return Stream.fromQueue(queue)
        }))

      /** Post-update hooks: a failure is recorded and logged; the outcome stands. */
      const postHooks = (state: UpdateState.UpdateState, outcome: "success" | "rolled_back") =>
        config.hooks === undefined ? Effect.void : Effect.gen(function*() {
          const atMillis = yield* Clock.currentTimeMillis
          yield* config.hooks!({ event: "post-update", fromVersion: state.fromVersion, toVersion: state.toVersion, outcome, source: null, actor: "agent", atMillis }).pipe(
            Effect.catch((reason) =>
              Effect.andThen(
                Effect.logWarning(`post-update hook: ${reason}`),
                Effect.ignore(store.record({ kind: "failure", fromVersion: state.fromVersion, toVersion: state.toVersion, reason: `post-update hook: ${reason}`, actor: "hooks" }))
              ))
          )
        })

      const runGate = (target: Slot.Slot, state: UpdateState.UpdateState) =>
        Effect.gen(function*() {
          yield* store.update((s) => ({ ...s, phase: "verifying" }))
          const checks = yield* config.checks
          const options = state.healthTimeoutMillis === null ? config.health : { ...config.health, timeoutMillis: state.healthTimeoutMillis }
          yield* Effect.log(`health gate: ${checks.length} checks (${checks.map((c) => c.name).join(", ")}), stable for ${options.stabilityMillis} ms within ${options.timeoutMillis} ms`)
          let failingBefore = ""
          const verdict = yield* HealthGate.run(checks, options, (results) =>
            Effect.gen(function*() {
              const atMillis = yield* Clock.currentTimeMillis
              yield* Ref.set<LastHealth | null>(health, { verdict: "running", results, atMillis })
              // Say when the set of failing checks changes, not every round.
              const failing = HealthGate.describeFailures(results)
              if (failing !== failingBefore) yield* Effect.log(failing === "" ? "health gate: every required check passes" : `health gate: failing: ${failing}`)
              failingBefore = failing
            }))
          yield* Effect.log(`health gate: ${verdict._tag === "Passed" ? "passed" : verdict.reason} after ${verdict.elapsedMillis} ms`)
          const atMillis = yield* Clock.currentTimeMillis
          yield* Ref.set<LastHealth | null>(health, { verdict: verdict._tag === "Passed" ? "passed" : "failed", results: verdict.results, atMillis })
          if (verdict._tag === "Passed") {
            yield* Effect.mapError(boot.markGood, bootError("health"))
            yield* store.update((s) => ({ ...s, phase: "success", lastError: null }))
            yield* store.record({ kind: "success", fromVersion: state.fromVersion, toVersion: state.toVersion, reason: `healthy for ${Math.round(config.health.stabilityMillis / 1000)} s on slot ${target}`, actor: "health-gate" })
            yield* postHooks(state, "success")
            return { _tag: "Promoted", version: state.toVersion } satisfies Reconciled
          }
          yield* Effect.mapError(boot.cancelTrial, bootError("rollback"))
          yield* store.update((s) => ({ ...s, phase: "rolled_back", lastError: verdict.reason, rolledBack: rememberRolledBack(s.rolledBack, s.toVersion) }))
          yield* store.record({ kind: "rollback", fromVersion: state.toVersion, toVersion: state.fromVersion, reason: verdict.reason, actor: "health-gate" })
          yield* postHooks(state, "rolled_back")
          yield* config.reboot(`rollback: ${state.toVersion ?? "the update"} failed its health gate: ${verdict.reason}`)
          return { _tag: "RolledBack", version: state.toVersion, reason: verdict.reason } satisfies Reconciled
        })

      const reconcile: Effect.Effect<Reconciled, UpdateError.UpdateError> = Effect.gen(function*() {
        const env = yield* Effect.mapError(boot.read, bootError("state"))
        const state = yield* store.get
        const target = state.targetSlot
        if (env.onTrial && target !== null && env.booted === target) return yield* runGate(target, state)
        if ((state.phase === "activated" || state.phase === "verifying") && target !== null) {
          if (env.next === target && env.tries > 0) return { _tag: "Nothing" } as const // activated, reboot still to come
          if (env.active === target && env.next === null) {
            // The slot was promoted but the success was not recorded before the power went.
            yield* store.update((s) => ({ ...s, phase: "success" }))
            yield* store.record({ kind: "success", fromVersion: state.fromVersion, toVersion: state.toVersion, reason: `slot ${target} is the last known good slot`, actor: "health-gate" })
            return { _tag: "Promoted", version: state.toVersion } as const
          }
          const reason = `slot ${target} did not come up healthy within its ${BootEnv.trialBoots} trial boots; the firmware booted slot ${env.booted ?? env.active}`
          yield* store.update((s) => ({ ...s, phase: "rolled_back", lastError: reason, rolledBack: rememberRolledBack(s.rolledBack, s.toVersion) }))
          yield* store.record({ kind: "rollback", fromVersion: state.toVersion, toVersion: state.fromVersion, reason, actor: "firmware" })
          yield* postHooks(state, "rolled_back")
          return { _tag: "FirmwareRolledBack", version: state.toVersion } as const
        }
        if (state.phase === "checking" || state.phase === "downloading" || state.phase === "staged") {
          const at = state.download === null ? "" : ` at byte ${state.download.syncedBytes} of ${state.download.sizeBytes}`
          const reason = `interrupted by a restart while ${state.phase}${at}; install again to resume`
          yield* store.update((s) => ({ ...s, phase: "failed", lastError: reason }))
          yield* store.record({ kind: "failure", fromVersion: state.fromVersion, toVersion: state.toVersion, reason, actor: "agent" })
          return { _tag: "Interrupted", phase: state.phase } as const
        }
        // A normal boot of the last known good slot: remember what it holds, for a later rollback to it.
        if (env.booted === env.active && state.slots[env.active]?.version !== running) {
          const now = yield* Clock.currentTimeMillis
          const known = state.slots[env.active]
          yield* store.update((s) => ({
            ...s,
            slots: { ...s.slots, [env.active]: known !== null && known.version === running ? known : { version: running, sha256: null, sizeBytes: null, verifiedAtMillis: now } }
          }))
        }
        return { _tag: "Nothing" } as const
      })

      const rollback = (reason: string, actor: string) =>
        Effect.gen(function*() {
          const env = yield* Effect.mapError(boot.read, bootError("rollback"))
          const state = yield* store.get
          if (env.onTrial && env.next !== null) {
            // Rolling back a trial: end it; the next boot is the last known good slot.
            yield* Effect.mapError(boot.cancelTrial, bootError("rollback"))
            yield* store.update((s) => ({ ...s, phase: "rolled_back", lastError: reason, rolledBack: rememberRolledBack(s.rolledBack, s.toVersion) }))
            yield* store.record({ kind: "manual_rollback", fromVersion: running, toVersion: state.fromVersion, reason, actor })
            yield* config.reboot(`manual rollback (asked by ${actor}): ${reason}`)
            return { slot: env.active, version: state.fromVersion }
          }
          const other = Slot.other(env.active)
          const held = state.slots[other]
          if (held === null) {
            return yield* UpdateError.make("rollback", "InvalidState", `slot ${other} holds no image this node verified or booted; nothing to roll back to`)
          }
          if (env.booted !== env.active) {
            return yield* UpdateError.make("rollback", "InvalidState", `the node runs slot ${env.booted ?? "unknown"}, not its last known good slot ${env.active}; reboot first`)
          }
          yield* Effect.mapError(boot.setActive(other), bootError("rollback"))
          yield* store.update((s) => ({ ...s, phase: "rolled_back", lastError: reason, rolledBack: rememberRolledBack(s.rolledBack, running) }))
          yield* store.record({ kind: "manual_rollback", fromVersion: running, toVersion: held.version, reason, actor })
          yield* config.reboot(`manual rollback to slot ${other} (${held.version ?? "unknown version"}) asked by ${actor}: ${reason}`)
          return { slot: other, version: held.version }
        })

      return UpdateEngine.of({
        state: store.get,
        history: store.history,
        install,
        reconcile,
        rollback,
        lastHealth: Ref.get(health),
        check
      })
    })

  static readonly layer = (config: Config) => Layer.effect(UpdateEngine, UpdateEngine.make(config))
}
