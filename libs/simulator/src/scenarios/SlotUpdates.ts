/**
 * Scenario "slot-updates": the disk and the boot environment under power cuts.
 *
 * Each boot, the node's software (production BootControl, JsonFile and Journal over the simulated
 * platform) resolves a pending trial (promote it when the simulated health check passes, cancel it
 * otherwise), then installs an image into the inactive slot (write, sync, read back, record, put on
 * trial), commits state, or reboots. The power may be cut at any hardware operation; unsynced writes
 * then land whole, torn or not at all.
 *
 * Invariants, checked by the runner between boots against a model built only from what the node
 * acknowledged:
 * - the firmware always reads a valid boot environment;
 * - the slot the firmware boots holds exactly the image that was verified for it (a partially
 *   written or unverified slot is never booted, let alone made the last known good);
 * - a slot on trial gets at most three boots;
 * - the persisted state decodes and is never older than the last acknowledged write;
 * - the history journal decodes and keeps every acknowledged entry within its bound.
 */
import { Context, Effect, Random, Result, Schema } from "effect"
import { BootEnv, Slot } from "@keelos/domain"
import { BlockDevice, Power } from "@keelos/platform"
import { BootControl, EnvBlock } from "@keelos/boot"
import { SimBootEnv, type SimHardware } from "@keelos/platform-sim"
import { JsonFile, Journal } from "@keelos/store"
import type { Scenario, ScenarioRun, Violation } from "../Scenario.ts"
import * as Durable from "./Durable.ts"

const slotBytes = 32 * 1024
const chunkBytes = 4096
const statePath = "/var/lib/keel/sim/slots.json"
const historyPath = "/var/lib/keel/sim/history.json"
const historyLimit = 8

/** A slot-sized image derived from one random draw (xorshift32 expansion: cheap and deterministic). */
const imageFrom = (seed: number): Uint8Array => {
  const words = new Uint32Array(slotBytes / 4)
  let x = seed >>> 0 || 0x9e3779b9
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    words[i] = x >>> 0
  }
  return new Uint8Array(words.buffer)
}

const SlotRecord = Schema.Struct({ image: Schema.NullOr(Schema.String) })
const NodeState = Schema.Struct({
  generation: Schema.Int,
  slots: Schema.Struct({ A: SlotRecord, B: SlotRecord })
})
type NodeState = typeof NodeState.Type
const HistoryEntry = Schema.Struct({ generation: Schema.Int, event: Schema.String })

/** What the node acknowledged, reported to the model as it happens. */
type Ack =
  | { readonly _tag: "StateWritten"; readonly generation: number }
  | { readonly _tag: "HistoryAppended"; readonly generation: number }
  /** The slot was written, synced and read back: it holds this image. */
  | { readonly _tag: "Verified"; readonly slot: Slot.Slot; readonly image: string }
  /** About to put the slot on trial (the write may or may not land). */
  | { readonly _tag: "Activating"; readonly slot: Slot.Slot }

class Probe extends Context.Service<Probe, { readonly ack: (ack: Ack) => Effect.Effect<void> }>()("@keelos/simulator/Probe") {}

const emptyState: NodeState = { generation: 0, slots: { A: { image: null }, B: { image: null } } }

/** The node's software for one boot. */
const nodeSoftware = Effect.gen(function*() {
  const control = yield* BootControl.BootControl
  const probe = yield* Probe
  const devices = yield* BlockDevice.BlockDevices
  const power = yield* Power.Power
  const state = yield* JsonFile.make(NodeState, statePath, emptyState)
  const history = yield* Journal.make(HistoryEntry, historyPath, historyLimit)

  const commit = (event: string, change: (s: NodeState) => NodeState = (s) => s) =>
    Effect.gen(function*() {
      const next = yield* state.update((s) => change({ ...s, generation: s.generation + 1 }))
      yield* probe.ack({ _tag: "StateWritten", generation: next.generation })
      yield* history.append({ generation: next.generation, event })
      yield* probe.ack({ _tag: "HistoryAppended", generation: next.generation })
    })

  const reboot = Effect.andThen(power.sync, power.switchOff("reboot"))

  const env = yield* control.read
  if (env.onTrial && env.next !== null) {
    const healthy = (yield* Random.next) < 0.7
    if (healthy) {
      yield* control.markGood
      yield* commit(`promoted ${env.next}`)
    } else {
      yield* control.cancelTrial
      yield* commit(`trial of ${env.next} failed`)
      return yield* reboot
    }
  }

  const actions = 1 + (yield* Random.nextIntBetween(0, 3))
  for (let i = 0; i < actions; i++) {
    const roll = yield* Random.next
    if (roll < 0.45) {
      const current = yield* control.read
      const target = Slot.other(current.active)
      const image = imageFrom(yield* Random.nextIntBetween(0, 0xffffffff))
      const hash = Durable.sha256(image)
      yield* Effect.scoped(Effect.gen(function*() {
        const device = yield* devices.open(Slot.rootLabel(target))
        for (let offset = 0; offset < slotBytes; offset += chunkBytes) {
          yield* device.write(offset, image.subarray(offset, offset + chunkBytes))
        }
        yield* device.sync
        const readBack = yield* device.read(0, slotBytes)
        if (Durable.sha256(readBack) !== hash) return yield* Effect.die(new Error(`read-back of slot ${target} does not verify`))
      }))
      yield* probe.ack({ _tag: "Verified", slot: target, image: hash })
      yield* commit(`installed ${hash.slice(0, 12)} into ${target}`, (s) => ({ ...s, slots: { ...s.slots, [target]: { image: hash } } }))
      yield* probe.ack({ _tag: "Activating", slot: target })
      yield* control.activate(target)
      return yield* reboot
    } else if (roll < 0.85) {
      yield* commit("heartbeat")
    } else {
      return yield* reboot
    }
  }
  return yield* reboot
})

/** The model: what must be true of the hardware, given what the node acknowledged. */
class Model {
  /** The image each slot was verified to hold; a slot is bootable only while it still holds it. */
  readonly images: Record<Slot.Slot, string | null> = { A: null, B: null }
  /** Trial boots of the current activation, counted from the firmware's decisions. */
  trialBoots = 0
  ackedGeneration = 0
  readonly ackedHistory: Array<number> = []
}

const slotContent = (hardware: SimHardware, slot: Slot.Slot) =>
  Durable.partitionDigest(hardware, Slot.rootLabel(slot), hardware.disk.sizeOf(Slot.rootLabel(slot)))

const makeRun = (): ScenarioRun => {
  const model = new Model()

  const ack = (a: Ack): Effect.Effect<void> =>
    Effect.sync(() => {
      switch (a._tag) {
        case "StateWritten":
          model.ackedGeneration = a.generation
          return
        case "HistoryAppended":
          model.ackedHistory.push(a.generation)
          return
        case "Verified":
          model.images[a.slot] = a.image
          return
        case "Activating":
          model.trialBoots = 0
          return
      }
    })

  return {
    install: (hardware) => {
      const factory = hardware.prng.bytes(hardware.disk.sizeOf("KEELOS_ROOT_A"))
      hardware.disk.writeThrough("KEELOS_ROOT_A", 0, factory)
      model.images.A = Durable.sha256(factory)
      SimBootEnv.install(hardware.disk, "A")
    },

    afterPowerOn: (hardware, decision) => {
      const violations: Array<Violation> = []
      const slot = decision.boot
      if (decision.trial && decision.rule.then.boot === "next") {
        model.trialBoots++
        if (model.trialBoots > BootEnv.trialBoots) {
          violations.push({ invariant: "a trial gets at most 3 boots", detail: `boot ${model.trialBoots} of slot ${slot}` })
        }
      }
      const content = slotContent(hardware, slot)
      if (model.images[slot] !== content) {
        violations.push({
          invariant: "a booted slot holds its verified image",
          detail: `slot ${slot} holds ${content.slice(0, 12)}, verified ${model.images[slot]?.slice(0, 12) ?? "nothing"}`
        })
      }
      return violations
    },

    boot: () => nodeSoftware.pipe(Effect.provide(BootControl.BootControl.layer), Effect.provideService(Probe, { ack })),

    afterPowerOff: (hardware) => {
      const violations: Array<Violation> = []
      const block = hardware.disk.read("EFI-SYSTEM", SimBootEnv.envOffset, EnvBlock.blockSize)
      const variables = EnvBlock.decode(block)
      if (Result.isFailure(variables)) {
        violations.push({ invariant: "the boot environment always decodes", detail: variables.failure.message })
      } else {
        const env = BootControl.toBootEnv(variables.success)
        for (const slot of [env.active, ...(env.next === null ? [] : [env.next])]) {
          if (model.images[slot] !== slotContent(hardware, slot)) {
            violations.push({
              invariant: "the last known good and trial slots hold their verified images",
              detail: `${slot === env.active ? "active" : "trial"} slot ${slot} does not hold its verified image`
            })
          }
        }
      }
      const state = Durable.decode(hardware, statePath, NodeState)
      if (Result.isFailure(state)) {
        violations.push({ invariant: "persisted state is never corrupt", detail: state.failure })
      } else {
        const generation = state.success?.generation ?? 0
        if (generation < model.ackedGeneration) {
          violations.push({
            invariant: "the last acknowledged state survives",
            detail: `durable generation ${generation}, acknowledged ${model.ackedGeneration}`
          })
        }
        if (state.success !== undefined) model.ackedGeneration = Math.max(model.ackedGeneration, generation)
      }
      const history = Durable.decode(hardware, historyPath, Schema.Struct({ entries: Schema.Array(HistoryEntry) }))
      if (Result.isFailure(history)) {
        violations.push({ invariant: "the history journal is never corrupt", detail: history.failure })
      } else {
        const kept = (history.success?.entries ?? []).map((e) => e.generation)
        // An acknowledged entry may only have been dropped to make room for `historyLimit` newer ones.
        const lost = model.ackedHistory.filter((g) => !kept.includes(g) && kept.filter((k) => k > g).length < historyLimit)
        if (lost.length > 0) {
          violations.push({ invariant: "acknowledged history entries survive", detail: `lost generations ${lost.join(",")}` })
        }
      }
      return violations
    }
  }
}

export const slotUpdates: Scenario = {
  name: "slot-updates",
  description: "installs into the inactive slot, trial boots, promotion and fallback under power cuts",
  operationsPerBoot: 30,
  slotBytes,
  make: makeRun
}
