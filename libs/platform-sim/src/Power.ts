/**
 * The simulated power supply. Every mutating operation of the simulated hardware calls `tick`;
 * when the planned cut point is reached the power goes off: that operation does not happen, and
 * it and every later one die with `PowerLost`, which ends the node's software like a real power
 * cut. The simulator then resolves the unsynced writes (Durability) and powers the node on again.
 */
import type { Trace } from "./Trace.ts"

/** The defect that ends the node's software when the power is cut. Never caught by node code. */
export class PowerLost extends Error {
  override readonly name = "PowerLost"
  readonly atOperation: number
  constructor(atOperation: number) {
    super(`power lost at hardware operation ${atOperation}`)
    this.atOperation = atOperation
  }
}

/** The defect that ends the node's software when it asks for a reboot or poweroff. */
export class NodeHalted extends Error {
  override readonly name = "NodeHalted"
  readonly action: "reboot" | "poweroff" | "halt"
  constructor(action: "reboot" | "poweroff" | "halt") {
    super(`node ${action}`)
    this.action = action
  }
}

export class PowerSupply {
  private operations = 0
  private cutAt: number | null = null
  private on = true

  private readonly trace: Trace

  constructor(trace: Trace) {
    this.trace = trace
  }

  get powered(): boolean {
    return this.on
  }

  /** Mutating operations performed since the hardware was created. */
  get operationCount(): number {
    return this.operations
  }

  /** Cuts the power when the `n`-th mutating operation from now is attempted (1 = the next one). */
  planCut(n: number): void {
    this.cutAt = this.operations + n
  }

  cancelCut(): void {
    this.cutAt = null
  }

  /** Called before every mutating operation; throws PowerLost when there is no power. */
  tick(what: string): void {
    if (!this.on) throw new PowerLost(this.operations)
    this.operations++
    if (this.cutAt !== null && this.operations >= this.cutAt) {
      this.on = false
      this.cutAt = null
      this.trace.record(`power cut before op ${this.operations}: ${what}`)
      throw new PowerLost(this.operations)
    }
  }

  powerOn(): void {
    this.on = true
  }

  /** An orderly power-off (reboot(2) after sync). */
  switchOff(): void {
    this.on = false
  }
}
