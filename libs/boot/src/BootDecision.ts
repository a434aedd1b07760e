/**
 * The boot-counter decision of DESIGN §3, written once as data.
 *
 * The rows below are the only statement of what the bootloader does at power-on. `GrubConfig`
 * compiles them into GRUB script for the real firmware, and `decide` interprets them for the
 * simulated firmware; a test runs the generated script in `grub-emu` over every case and checks
 * that both choose the same slot and leave byte-identical environment blocks.
 *
 * GRUB script has no arithmetic, so the counter is a chain of literal matches: a trial slot with
 * 3, 2 or 1 boots left is booted and the count written down; a count of 0 or anything unexpected
 * means the trial is over: the trial is cleared and the last known good slot boots. A bad image
 * therefore gets at most three boots, without any software on the node being involved.
 */
import { Result } from "effect"
import { BootEnv, Slot } from "@keelos/domain"
import * as EnvBlock from "./EnvBlock.ts"

/** What a row matches: whether a trial is pending (KEEL_NEXT names a slot) and the tries value. */
export interface Condition {
  readonly trial: boolean
  /** Exact value of KEEL_TRIES, or "*" for any value (including none). */
  readonly tries: string
}

/** What a row does: the slot to boot and the new trial state. */
export interface Action {
  readonly boot: "next" | "active"
  /** New KEEL_TRIES, or null to remove it. */
  readonly tries: string | null
  /** Whether KEEL_NEXT is removed (the trial is over). */
  readonly clearNext: boolean
  readonly why: string
}

export interface Rule {
  readonly when: Condition
  readonly then: Action
}

/** The slot booted when KEEL_ACTIVE is missing or not a slot: the factory slot. */
export const defaultActive: Slot.Slot = "A"

/** First matching row wins. */
export const rules: ReadonlyArray<Rule> = [
  { when: { trial: true, tries: "3" }, then: { boot: "next", tries: "2", clearNext: false, why: "trial boot 1 of 3" } },
  { when: { trial: true, tries: "2" }, then: { boot: "next", tries: "1", clearNext: false, why: "trial boot 2 of 3" } },
  { when: { trial: true, tries: "1" }, then: { boot: "next", tries: "0", clearNext: false, why: "trial boot 3 of 3" } },
  { when: { trial: true, tries: "*" }, then: { boot: "active", tries: null, clearNext: true, why: "trial out of tries: fall back" } },
  { when: { trial: false, tries: "*" }, then: { boot: "active", tries: null, clearNext: true, why: "no trial: boot the last known good slot" } }
]

/** Variables GRUB loads (its load_env whitelist) and, but for KEEL_ACTIVE, saves, in this order. */
export const loaded = [BootEnv.BootVariable.active, BootEnv.BootVariable.next, BootEnv.BootVariable.tries, BootEnv.BootVariable.booted] as const
export const saved = [BootEnv.BootVariable.next, BootEnv.BootVariable.tries, BootEnv.BootVariable.booted] as const

export interface Decision {
  readonly boot: Slot.Slot
  readonly trial: boolean
  readonly rule: Rule
  /** save_env's edits, in order: a value sets, undefined removes. */
  readonly writes: ReadonlyArray<readonly [string, string | undefined]>
}

const isSlot = (value: string | undefined): value is Slot.Slot => value === "A" || value === "B"

const matches = (condition: Condition, trial: boolean, tries: string | undefined): boolean =>
  condition.trial === trial && (condition.tries === "*" || condition.tries === tries)

/** Interprets the rows over the variables GRUB would load from the block. */
export const decide = (variables: EnvBlock.Variables): Decision => {
  const state = new Map<string, string>()
  for (const name of loaded) {
    const value = EnvBlock.get(variables, name)
    if (value !== undefined) state.set(name, value)
  }
  const activeValue = state.get(BootEnv.BootVariable.active)
  const active = isSlot(activeValue) ? activeValue : defaultActive
  const next = state.get(BootEnv.BootVariable.next)
  const trial = isSlot(next)
  const tries = state.get(BootEnv.BootVariable.tries)
  const rule = rules.find((r) => matches(r.when, trial, tries))
  if (rule === undefined) throw new Error("BootDecision.rules must end with catch-all rows")
  const boot = rule.then.boot === "next" && isSlot(next) ? next : active
  if (rule.then.clearNext) state.delete(BootEnv.BootVariable.next)
  if (rule.then.tries === null) state.delete(BootEnv.BootVariable.tries)
  else state.set(BootEnv.BootVariable.tries, rule.then.tries)
  state.set(BootEnv.BootVariable.booted, boot)
  return { boot, trial, rule, writes: saved.map((name) => [name, state.get(name)] as const) }
}

/** What the simulated firmware does at power-on: decide, then save_env in place. */
export const boot = (block: Uint8Array): Result.Result<{ readonly decision: Decision; readonly block: Uint8Array }, EnvBlock.EnvBlockError> =>
  Result.flatMap(EnvBlock.decode(block), (variables) => {
    const decision = decide(variables)
    return Result.map(EnvBlock.update(block, decision.writes), (next) => ({ decision, block: next }))
  })
