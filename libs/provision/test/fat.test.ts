/** The FAT writer checked by the real tools: fsck.vfat finds nothing wrong, mtools reads the files back by name. */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { FatImage } from "../src/index.ts"

describe("FAT seed volume", () => {
  it("is a clean FAT12 volume labelled CIDATA whose files read back by their long names", () => {
    const big = "x".repeat(3000) + "\n"
    const files = [
      { name: "meta-data", content: new TextEncoder().encode("instance-id: i-1\n") },
      { name: "network-config", content: new TextEncoder().encode("version: 2\n") },
      { name: "user-data", content: new TextEncoder().encode(`#cloud-config\n# ${big}`) },
      { name: "empty", content: new Uint8Array(0) }
    ]
    const image = FatImage.make("CIDATA", files)
    expect(FatImage.labelOf(image)).toBe("CIDATA")
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "keel-fat-")), "seed.img")
    fs.writeFileSync(file, image)
    const check = execFileSync("fsck.vfat", ["-n", file], { encoding: "utf8" })
    expect(check).not.toMatch(/differ|invalid|bad|Free cluster summary wrong/i)
    expect(execFileSync("mlabel", ["-i", file, "-s", "::"], { encoding: "utf8" })).toContain("CIDATA")
    for (const f of files) expect(execFileSync("mtype", ["-i", file, `::${f.name}`], { encoding: "utf8" })).toBe(new TextDecoder().decode(f.content))
    expect(FatImage.labelOf(new Uint8Array(512))).toBeUndefined()
  })
})
