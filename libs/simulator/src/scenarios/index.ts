/** Every scenario the simulator knows, by name. Later issues add theirs here. */
import type { Scenario } from "../Scenario.ts"
import { slotUpdates } from "./SlotUpdates.ts"
import { updates, updatesClean } from "./Updates.ts"

export const scenarios: ReadonlyArray<Scenario> = [slotUpdates, updates, updatesClean]

export const byName = (name: string): Scenario | undefined => scenarios.find((s) => s.name === name)
