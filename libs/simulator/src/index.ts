/** @keelos/simulator: whole-node simulation over platform-sim. */
export * as Simulator from "./Simulator.ts"
export * from "./Scenario.ts"
export { byName, scenarios } from "./scenarios/index.ts"
