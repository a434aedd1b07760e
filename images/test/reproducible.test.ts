/**
 * Building twice from the same inputs with the same SOURCE_DATE_EPOCH gives byte-identical
 * artifacts: the slot image, the kernel, both initramfs (stage 1 and keel-init as /init), GRUB, and the whole disk.
 */
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { build } from "../src/build.ts"

const digest = (file: string) => createHash("sha256").update(fs.readFileSync(file)).digest("hex")

describe("image build", () => {
  it("is reproducible", () => {
    const artifacts = ["os.img", "vmlinuz", "initrd", "initrd-node", "BOOTX64.EFI", "disk.raw"]
    const outputs = [1, 2].map((n) => {
      const output = fs.mkdtempSync(path.join(os.tmpdir(), `keel-repro-${n}-`))
      build({ version: "0.0.0-repro", sourceDateEpoch: 1_767_225_600, output })
      return output
    })
    const [first, second] = outputs.map((dir) => Object.fromEntries(artifacts.map((a) => [a, digest(path.join(dir, a))])))
    expect(second).toEqual(first)
    for (const dir of outputs) fs.rmSync(dir, { recursive: true, force: true })
  })
})
