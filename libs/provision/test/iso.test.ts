// The ISO 9660 label reader against images made by Debian's genisoimage, as cloud-localds makes
// NoCloud seeds (`-volid cidata -joliet -rock`).
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { FatImage, IsoVolume } from "../src/index.ts"

const iso = (label: string) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "keel-iso-"))
  fs.mkdirSync(path.join(dir, "seed"))
  fs.writeFileSync(path.join(dir, "seed", "meta-data"), "instance-id: iso-1\n")
  execFileSync("genisoimage", ["-quiet", "-output", path.join(dir, "seed.iso"), "-volid", label, "-joliet", "-rock", path.join(dir, "seed")])
  return new Uint8Array(fs.readFileSync(path.join(dir, "seed.iso")))
}

describe("IsoVolume.labelOf", () => {
  it("reads the volume identifier of a real ISO 9660 image", () => {
    expect(IsoVolume.labelOf(iso("cidata").subarray(0, IsoVolume.headBytes))).toBe("cidata")
    expect(IsoVolume.labelOf(iso("OTHER_VOLUME"))).toBe("OTHER_VOLUME")
  })

  it("says a FAT volume, a short read or zeros are not ISO 9660", () => {
    const fat = FatImage.make("CIDATA", [{ name: "meta-data", content: new TextEncoder().encode("instance-id: x\n") }])
    expect(IsoVolume.labelOf(fat)).toBeUndefined()
    expect(IsoVolume.labelOf(iso("cidata").subarray(0, 16 * 2048 + 40))).toBeUndefined()
    expect(IsoVolume.labelOf(new Uint8Array(IsoVolume.headBytes))).toBeUndefined()
    expect(FatImage.labelOf(iso("cidata"))).toBeUndefined()
  })
})
