/** Every scenario the simulator knows, by name. Later issues add theirs here. */
import type { Scenario } from "../Scenario.ts"
import { slotUpdates } from "./SlotUpdates.ts"

export const scenarios: ReadonlyArray<Scenario> = [slotUpdates]

export const byName = (name: string): Scenario | undefined => scenarios.find((s) => s.name === name)
