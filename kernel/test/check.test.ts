import * as fs from "node:fs"
import { describe, expect, it } from "vitest"
import { pinnedKernelConfig } from "../../images/src/build.ts"
import { check, fragmentPath } from "../src/check.ts"

const fragment = fs.readFileSync(fragmentPath, "utf8")

describe("kernel config check", () => {
  it("finds every option KeelOS needs in the pinned Debian kernel", () => {
    expect(check(fragment, fs.readFileSync(pinnedKernelConfig(), "utf8"))).toEqual([])
  })

  it("names what is missing, unset, or a module where built-in is required", () => {
    const config = "CONFIG_MODULES=y\nCONFIG_EXT4_FS=m\n# CONFIG_OVERLAY_FS is not set\n"
    const problems = check("CONFIG_MODULES=y\nCONFIG_EXT4_FS=y\nCONFIG_OVERLAY_FS=m\nCONFIG_VETH=m\n", config)
    expect(problems).toEqual([
      { option: "CONFIG_EXT4_FS", required: "y", found: "m" },
      { option: "CONFIG_OVERLAY_FS", required: "m", found: "n" },
      { option: "CONFIG_VETH", required: "m", found: "absent" }
    ])
  })
})
