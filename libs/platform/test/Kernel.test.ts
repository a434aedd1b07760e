import { describe, expect, it } from "vitest"
import { parseCmdline } from "../src/Kernel.ts"

describe("parseCmdline", () => {
  it("splits key=value words, keeps the last and the value's own equals signs", () => {
    const parsed = parseCmdline(["console=ttyS0", "quiet", "keel.slot=A", "ds=nocloud;s=/x=y", "keel.slot=B"])
    expect(parsed.get("keel.slot")).toBe("B")
    expect(parsed.get("quiet")).toBe("")
    expect(parsed.get("ds")).toBe("nocloud;s=/x=y")
    expect(parsed.has("root")).toBe(false)
  })
})
