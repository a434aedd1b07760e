/**
 * Scenarios "updates" and "updates-clean": the production update engine (libs/update) on the
 * simulated node. A channel on the simulated network offers a sequence of signed releases; some are
 * good, some fail their health checks, some have a kernel that never reaches userspace. Each boot
 * the node runs what the firmware booted: a kernel that panics reboots at once; otherwise the
 * engine reconciles (health gate on a trial boot, with checks that may flap or hang), then installs
 * whatever the channel offers (on some nodes through a delta from the factory image: a BSDIFF40
 * patch, or a content delta the engine rebuilds a SquashFS image from), and reboots
 * into it. "updates" adds every fault: power cuts at any
 * hardware operation, torn and lost writes, dropped, truncated, corrupted and slow downloads, the
 * agent crashing mid-way and restarting in the same boot, and the clock stepping forward or back.
 *
 * Invariants, from the hardware and the catalogue alone:
 * - the firmware always boots a slot holding a complete image from the catalogue;
 * - the last known good slot never holds a partial image, one that fails its checks or one that
 *   cannot boot;
 * - a trial gets at most 3 consecutive boots;
 * - state.json and history.json always decode, and the history only grows (within its bound);
 * - a version that was rolled back is never installed again (nothing here forces);
 * - without faults ("updates-clean"), every offered release is concluded (success for a good one,
 *   rollback for a bad one) within 4 boots of being offered, and a release offered with a delta
 *   from the running image is installed through it.
 */
import { generateKeyPairSync } from "node:crypto"
import { Clock, Duration, Effect, Layer, Result, Schema, Stream } from "effect"
import { TestClock } from "effect/testing"
import { BootControl, type BootDecision } from "@keelos/boot"
import { ReleaseMetadata, Slot, UpdateState, type Version } from "@keelos/domain"
import { Power } from "@keelos/platform"
import { SimBootEnv, type SimHardware, SimNetwork } from "@keelos/platform-sim"
import { Bsdiff, TreeDelta } from "@keelos/delta"
import { imageOf } from "@keelos/squashfs/testing"
import { Release, Signing } from "@keelos/release"
import { type HealthGate, UpdateEngine } from "@keelos/update"
import type { Scenario, ScenarioRun, Violation } from "../Scenario.ts"
import * as Durable from "./Durable.ts"

const slotBytes = 64 * 1024
const statePath = "/var/lib/keel/update/state.json"
const historyPath = "/var/lib/keel/update/history.json"
const host = "updates.sim"
const channelUrl = `http://${host}/stable/amd64/latest.json`
const releaseCount = 4
const epoch = Date.UTC(2026, 10, 30)

type Quality = "good" | "unhealthy" | "unbootable"

interface Image {
  readonly version: Version.Version
  readonly quality: Quality
  readonly bytes: Uint8Array
  readonly sha256: string
  /** A patch from the factory image (0.1.0), offered beside the image. */
  readonly delta?: Uint8Array
  readonly deltaFormat?: ReleaseMetadata.DeltaFormat
}

/** The release signing key of every simulated channel: one per process is enough. */
const signingKey = (() => {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519")
  const pub = publicKey.export({ type: "spki", format: "pem" }).toString()
  return { privateKey: privateKey.export({ type: "pkcs8", format: "pem" }).toString(), trusted: { id: Signing.keyId(pub), development: true, publicKey: pub } }
})()

const channelFiles = (image: Image, factory: Image) => {
  const deltaName = `delta-${factory.version}.${image.deltaFormat === "tree" ? "keeltd" : "bsdiff"}`
  const deltas = image.delta === undefined ? [] : [{
    ...(image.deltaFormat === "tree" ? { format: "tree" } : {}),
    from_version: factory.version, from_sha256: factory.sha256, from_size: factory.bytes.length,
    url: deltaName, size: image.delta.length, sha256: Durable.sha256(image.delta)
  }]
  const metadata = Schema.decodeUnknownSync(ReleaseMetadata.ReleaseMetadata)({
    schema: 1, version: image.version, channel: "stable", arch: "amd64", min_compatible_version: "0.1.0",
    release_date: "2026-11-30T00:00:00Z", expires: "2027-11-30T00:00:00Z", release_notes: image.quality,
    image: { url: `os-${image.version}.img`, size: image.bytes.length, sha256: image.sha256 }, deltas,
    signing_key: { id: signingKey.trusted.id, development: true }
  })
  const document = Release.encode(metadata)
  return new Map<string, Uint8Array>([
    ["/stable/amd64/latest.json", document],
    ["/stable/amd64/latest.json.sig", Signing.sign(document, signingKey.privateKey)],
    [`/stable/amd64/os-${image.version}.img`, image.bytes],
    ...(image.delta === undefined ? [] : [[`/stable/amd64/${deltaName}`, image.delta] as const])
  ])
}

const History = Schema.Struct({ entries: Schema.Array(UpdateState.HistoryEntry) })

/** A release made from `base`: three spans replaced, as a small update changes a few files. */
const evolve = (base: Uint8Array, hardware: SimHardware): Uint8Array => {
  const bytes = base.slice()
  for (let span = 0; span < 3; span++) {
    const length = 256 + hardware.prng.int(2048)
    bytes.set(hardware.prng.bytes(length), hardware.prng.int(bytes.length - length))
  }
  return bytes
}

/** A small root (a binary, a module under a versioned directory, a version file) as files. */
const rootFiles = (hardware: SimHardware) =>
  new Map([
    ["usr/bin/node", hardware.prng.bytes(12_000)],
    ["usr/lib/modules/6.1.0-55/virtio.ko", hardware.prng.bytes(6_000)],
    ["etc/os-release", hardware.prng.bytes(40)]
  ])

/** The next release of a root: the binary patched in a few spans, the module directory renamed. */
const evolveRoot = (files: ReadonlyMap<string, Uint8Array>, hardware: SimHardware) =>
  new Map([
    ["usr/bin/node", evolve(files.get("usr/bin/node")!, hardware)],
    ["usr/lib/modules/6.1.0-56/virtio.ko", files.get("usr/lib/modules/6.1.0-55/virtio.ko")!],
    ["etc/os-release", hardware.prng.bytes(40)]
  ])

/** A root as the SquashFS image our writer makes, padded to the slot's size. */
const rootImage = (files: ReadonlyMap<string, Uint8Array>) => {
  const bytes = new Uint8Array(slotBytes)
  bytes.set(imageOf(files))
  return bytes
}

const contentDelta = (from: Uint8Array, to: Uint8Array) => {
  const identity = { from: { sha256: Durable.sha256(from), size: from.length }, to: { sha256: Durable.sha256(to), size: to.length } }
  return Effect.runSync(TreeDelta.generate(TreeDelta.memory(from), TreeDelta.memory(to), identity, { level: 3 })).delta
}

const makeRun = (faults: boolean) => (): ScenarioRun => {
  let hardware: SimHardware
  let catalogue: ReadonlyArray<Image> = []
  /** The release the channel offers now, and the boots since it was first offered. */
  let offered = 0
  let bootsOffered = 0
  let boots = 0
  let trial = { slot: null as Slot.Slot | null, content: "", boots: 0 }
  let lastHistory: ReadonlyArray<UpdateState.HistoryEntry> = []

  const byHash = (hash: string) => catalogue.find((image) => image.sha256 === hash)
  const slotHash = (slot: Slot.Slot) => Durable.partitionDigest(hardware, Slot.rootLabel(slot), slotBytes)

  const offer = (index: number) => {
    offered = index
    bootsOffered = 0
    const files = index < catalogue.length ? channelFiles(catalogue[index]!, catalogue[0]!) : new Map<string, Uint8Array>()
    hardware.network.serve(host, (request) =>
      Effect.sync(() => {
        const body = files.get(request.url.pathname)
        if (body === undefined) return { status: 404 }
        const start = Number(/^bytes=(\d+)-$/.exec(SimNetwork.header(request, "range") ?? "")?.[1] ?? 0)
        return start > 0
          ? { status: 206, headers: { "content-range": `bytes ${start}-${body.length - 1}/${body.length}` }, body: body.subarray(start) }
          : { status: 200, body }
      }))
  }

  /** The node's software for one boot of `slot`. */
  const software = (slot: Slot.Slot, bootNumber: number) =>
    Effect.gen(function*() {
      yield* TestClock.setTime(epoch + bootNumber * 3_600_000)
      const power = yield* Power.Power
      const image = byHash(slotHash(slot))
      // Unknown content is the firmware booting garbage: the invariant reports it; this boot just panics.
      if (image === undefined || image.quality === "unbootable") return yield* power.switchOff("reboot")
      const flaky = faults ? hardware.prng.chance(0.3) : false
      const hangs = faults && hardware.prng.chance(0.05)
      const check: HealthGate.Check = {
        name: "node",
        required: true,
        timeoutMillis: 2_000,
        run: hangs
          ? Effect.never
          : Effect.suspend(() =>
            image.quality === "unhealthy" ? Effect.fail("the release is unhealthy") : flaky && hardware.prng.chance(0.2) ? Effect.fail("flapping") : Effect.void
          )
      }
      const engine = UpdateEngine.layer({
        paths: { state: statePath, history: historyPath },
        runningVersion: image.version,
        arch: "amd64",
        trustedKeys: Effect.succeed([signingKey.trusted]),
        health: { intervalMillis: 1_000, stabilityMillis: 5_000, timeoutMillis: 60_000 },
        checks: Effect.succeed([check]),
        reboot: () => Effect.orDie(Effect.andThen(power.sync, power.switchOff("reboot"))),
        writer: { bufferBytes: 8 * 1024, syncEveryBytes: 16 * 1024, retryBaseMillis: 200, maxStalledAttempts: 4 }
      }).pipe(Layer.provide(BootControl.BootControl.layer))
      const agent = Effect.gen(function*() {
        const e = yield* UpdateEngine
        yield* Effect.ignore(e.reconcile)
        yield* e.install({ source: channelUrl, force: false, reboot: true, actor: "sim" }).pipe(Stream.runDrain, Effect.ignore)
      }).pipe(Effect.provide(engine))
      if (faults && hardware.prng.chance(0.15)) {
        // The agent process dies at a random moment (the kernel keeps its unsynced writes) and init
        // starts it again in the same boot; a clock that jumps (an NTP step) comes with it at times.
        const crashAfter = hardware.prng.int(30_000)
        yield* Effect.ignore(Effect.timeout(agent, Duration.millis(crashAfter)))
        hardware.trace.record(`agent crashed after ${crashAfter} ms`)
        if (hardware.prng.chance(0.5)) {
          const jump = (hardware.prng.int(2) === 0 ? -1 : 1) * hardware.prng.int(6 * 3_600_000)
          yield* TestClock.adjust(Math.max(0, jump))
          if (jump < 0) yield* TestClock.setTime(Math.max(0, (yield* Clock.currentTimeMillis) + jump))
          hardware.trace.record(`clock jumped ${Math.round(jump / 1000)} s`)
        }
      }
      yield* agent
      yield* power.sync
      return yield* power.switchOff("poweroff")
    })

  return {
    install: (h) => {
      hardware = h
      // On some nodes (15 %) the first release is the factory image changed a little, offered with
      // a delta from it (applied under the same faults as a download): half of them a BSDIFF40
      // patch of raw bytes, half a content delta between two SquashFS roots.
      const withDelta = h.prng.chance(0.15)
      const format: ReleaseMetadata.DeltaFormat = withDelta && h.prng.chance(0.5) ? "tree" : "bsdiff"
      const root = format === "tree" ? rootFiles(h) : undefined
      const factory: Image = { version: "0.1.0" as Version.Version, quality: "good", bytes: root ? rootImage(root) : h.prng.bytes(slotBytes), sha256: "" }
      const releases: Array<Image> = [{ ...factory, sha256: Durable.sha256(factory.bytes) }]
      for (let i = 0; i < releaseCount; i++) {
        const roll = h.prng.int(10)
        const bytes = i === 0 && withDelta ? (root ? rootImage(evolveRoot(root, h)) : evolve(factory.bytes, h)) : h.prng.bytes(slotBytes)
        const delta = i === 0 && withDelta ? (root ? contentDelta(factory.bytes, bytes) : Bsdiff.diff(factory.bytes, bytes)) : undefined
        releases.push({
          version: `0.${i + 2}.0` as Version.Version,
          quality: roll < 6 ? "good" : roll < 9 ? "unhealthy" : "unbootable",
          bytes,
          sha256: Durable.sha256(bytes),
          ...(delta === undefined ? {} : { delta, deltaFormat: format })
        })
      }
      catalogue = releases
      h.disk.writeThrough("KEELOS_ROOT_A", 0, factory.bytes)
      SimBootEnv.install(h.disk, "A")
      if (faults && h.prng.chance(0.7)) {
        h.network.setFaults({ drop: 0.05, truncate: 0.15, corrupt: 0.03, maxLatencyMillis: 3_000 })
      }
      offer(1)
    },

    afterPowerOn: (_, decision: BootDecision.Decision) => {
      boots++
      bootsOffered++
      const violations: Array<Violation> = []
      const booted = slotHash(decision.boot)
      if (byHash(booted) === undefined) {
        violations.push({ invariant: "the firmware boots a complete image", detail: `slot ${decision.boot} holds ${booted.slice(0, 12)}, no image of the catalogue` })
      }
      if (decision.trial && decision.rule.then.boot === "next") {
        trial = trial.slot === decision.boot && trial.content === booted ? { ...trial, boots: trial.boots + 1 } : { slot: decision.boot, content: booted, boots: 1 }
        if (trial.boots > 3) violations.push({ invariant: "a trial gets at most 3 boots", detail: `boot ${trial.boots} of slot ${decision.boot}` })
      } else {
        trial = { slot: null, content: "", boots: 0 }
        const good = byHash(booted)
        if (good !== undefined && good.quality !== "good") {
          violations.push({ invariant: "the last known good slot holds a good image", detail: `slot ${decision.boot} is booted as last known good with ${good.version} (${good.quality})` })
        }
      }
      return violations
    },

    boot: (decision) => software(decision.boot, boots),

    afterPowerOff: () => {
      const violations: Array<Violation> = []
      const state = Durable.decode(hardware, statePath, UpdateState.UpdateState)
      if (Result.isFailure(state)) violations.push({ invariant: "state.json always decodes", detail: state.failure })
      const history = Durable.decode(hardware, historyPath, History)
      if (Result.isFailure(history)) {
        violations.push({ invariant: "history.json always decodes", detail: history.failure })
        return violations
      }
      const entries = history.success?.entries ?? []
      const kept = lastHistory.slice(Math.max(0, lastHistory.length + (entries.length - lastHistory.length) - UpdateState.historyLimit))
      if (entries.length < lastHistory.length || kept.some((entry, i) => entries[i]?.atMillis !== entry.atMillis || entries[i]?.kind !== entry.kind)) {
        violations.push({ invariant: "the history only grows", detail: `had ${lastHistory.length} entries, now ${entries.length}` })
      }
      lastHistory = entries
      const rolledBack = new Set<string>()
      for (const entry of entries) {
        if ((entry.kind === "rollback" || entry.kind === "manual_rollback") && entry.fromVersion !== null) rolledBack.add(entry.fromVersion)
        if (entry.kind === "install" && entry.toVersion !== null && rolledBack.has(entry.toVersion)) {
          violations.push({ invariant: "a rolled-back version is not installed again", detail: `${entry.toVersion} installed after its rollback` })
        }
      }
      // The channel moves on once the offered release is concluded either way.
      const current = catalogue[offered]
      if (current !== undefined) {
        const concluded = entries.some((e) => e.toVersion === current.version && e.kind === "success") ||
          entries.some((e) => e.fromVersion === current.version && e.kind === "rollback")
        if (concluded) offer(offered + 1)
        else if (!faults && bootsOffered > 4) {
          violations.push({ invariant: "without faults an offered release concludes within 4 boots", detail: `${current.version} (${current.quality}) offered ${bootsOffered} boots ago` })
        }
      }
      const patched = catalogue[1]
      const patch = patched?.delta
      if (!faults && patched !== undefined && patch !== undefined && entries.some((e) => e.kind === "install" && e.toVersion === patched.version)) {
        if (!entries.some((e) => e.kind === "install" && e.toVersion === patched.version && e.reason.startsWith(`produced from 0.1.0 by a ${patch.length}-byte delta`))) {
          violations.push({ invariant: "without faults a delta applies", detail: `${patched.version} was installed without its delta` })
        }
      }
      const wrong = entries.find((e) => e.kind === "success" && catalogue.find((image) => image.version === e.toVersion)?.quality !== "good")
      if (wrong !== undefined) violations.push({ invariant: "only good releases succeed", detail: `${wrong.toVersion} succeeded; last entries: ${JSON.stringify(entries.slice(-6).map((e) => [e.kind, e.fromVersion, e.toVersion, e.reason.slice(0, 80), e.actor]))}` })
      return violations
    }
  }
}

export const updates: Scenario = {
  name: "updates",
  description: "the production update engine through releases good, unhealthy and unbootable, under every fault",
  operationsPerBoot: 80,
  slotBytes,
  boots: 16,
  tickMillis: 500,
  make: makeRun(true)
}

export const updatesClean: Scenario = {
  name: "updates-clean",
  description: "the production update engine without faults: every release concludes",
  operationsPerBoot: 80,
  slotBytes,
  powerCutRate: 0,
  boots: 16,
  tickMillis: 500,
  make: makeRun(false)
}
