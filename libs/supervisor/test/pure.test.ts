import { describe, expect, it } from "vitest"
import * as Backoff from "../src/Backoff.ts"
import * as RestartIntensity from "../src/RestartIntensity.ts"
import { Ring } from "../src/Ring.ts"
import * as Strategy from "../src/Strategy.ts"

describe("RestartIntensity", () => {
  it("escalates on the restart that makes more than maxRestarts within the period", () => {
    let window: ReadonlyArray<number> = []
    const verdicts = [0, 1000, 2000, 3000].map((t) => {
      const v = RestartIntensity.record(window, t, 3, 5000)
      window = v.window
      return v.exceeded
    })
    expect(verdicts).toEqual([false, false, false, true])
  })
  it("forgets restarts that slid out of the window", () => {
    const v = RestartIntensity.record([0, 1000, 2000], 6500, 3, 5000)
    expect(v).toEqual({ window: [2000, 6500], exceeded: false })
    expect(RestartIntensity.record([0, 1000, 2000], 4999, 3, 5000).exceeded).toBe(true)
    expect(RestartIntensity.record([0, 1000, 2000], 5000, 3, 5000).exceeded).toBe(false)
  })
})

describe("Backoff", () => {
  const backoff = { initialMillis: 100, maxMillis: 1000, resetAfterMillis: 10_000 }
  it("doubles up to the cap", () => {
    expect([1, 2, 3, 4, 5, 6, 50].map((n) => Backoff.delayMillis(n, backoff))).toEqual([100, 200, 400, 800, 1000, 1000, 1000])
  })
  it("starts again after a stable run", () => {
    expect(Backoff.consecutiveAfter(4, 9_999, backoff)).toBe(5)
    expect(Backoff.consecutiveAfter(4, 10_000, backoff)).toBe(1)
  })
})

describe("Strategy", () => {
  const order = ["containerd", "kubelet", "agent"]
  it("restarts the child alone, everyone, or the child and those started after it", () => {
    expect(Strategy.affected("one_for_one", order, "kubelet")).toEqual(["kubelet"])
    expect(Strategy.affected("one_for_all", order, "kubelet")).toEqual(order)
    expect(Strategy.affected("rest_for_one", order, "kubelet")).toEqual(["kubelet", "agent"])
    expect(Strategy.affected("rest_for_one", order, "containerd")).toEqual(order)
  })
})

describe("Ring", () => {
  it("keeps the newest entries and counts what it dropped", () => {
    const ring = new Ring<number>(3)
    for (const n of [1, 2, 3, 4, 5]) ring.push(n)
    expect(ring.toArray()).toEqual([3, 4, 5])
    expect(ring.droppedCount).toBe(2)
  })
})
