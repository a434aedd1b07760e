/**
 * The firmware (UEFI with OVMF, BIOS with SeaBIOS) boots the disk's GRUB, whose grub.cfg is generated
 * from the boot-counter decision table. A slot on trial that cannot be loaded spends its tries, and the next power-on falls back to
 * the last known good slot with no software involved; the environment block GRUB leaves is read
 * back with grub-editenv.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { beforeAll, describe, expect, it } from "vitest"
import { image, resultsDir } from "../src/Image.ts"
import { partitionImage, partitionOffset, rawCopy, Vm } from "../src/Qemu.ts"

const results = resultsDir("grub")
let built: ReturnType<typeof image>
beforeAll(() => {
  built = image()
})

const env = (disk: string) => {
  const esp = partitionImage(disk, partitionOffset(disk, 1))
  const file = `${disk}.grubenv`
  return {
    read: () => {
      execFileSync("mcopy", ["-o", "-i", esp, "::/EFI/keel/grubenv", file])
      return execFileSync("grub-editenv", [file, "list"], { encoding: "utf8" })
    },
    set: (...assignments: Array<string>) => {
      execFileSync("mcopy", ["-o", "-i", esp, "::/EFI/keel/grubenv", file])
      execFileSync("grub-editenv", [file, "set", ...assignments])
      execFileSync("mcopy", ["-o", "-i", esp, file, "::/EFI/keel/grubenv"])
    }
  }
}

describe.each(["Uefi", "Bios"] as const)("%s firmware and GRUB", (firmware) => {
  it("boots slot A through GRUB, and falls back from a trial slot that cannot be loaded", async () => {
    const disk = rawCopy(built.disk, path.join(results, `${firmware}.raw`))
    const block = env(disk)
    expect(block.read()).toBe("KEEL_ACTIVE=A\n")
    block.set("KEEL_NEXT=B", "KEEL_TRIES=3")

    const trial = new Vm({ name: `${firmware}-trial`, resultsDir: results, disk, boot: { _tag: firmware } })
    try {
      await trial.waitFor(/KEEL-GRUB boot=B tries=2/, 90_000)
      await trial.waitFor(/KEEL-GRUB slot B cannot be loaded/, 30_000)
      expect(await trial.exited).toBe(0)
    } finally {
      trial.kill()
    }
    expect(block.read()).toBe("KEEL_ACTIVE=A\nKEEL_NEXT=B\nKEEL_TRIES=0\nKEEL_BOOTED=B\n")

    const fallback = new Vm({ name: `${firmware}-fallback`, resultsDir: results, disk, boot: { _tag: firmware } })
    try {
      await fallback.waitFor(/KEEL-GRUB boot=A tries=$/, 90_000)
      await fallback.waitFor(/KEEL-STAGE1 root KEELOS_ROOT_A/, 60_000)
      const ready = await fallback.waitFor(/keel-init: supervising/, 90_000)
      console.log(`${firmware} fallback boot: keel-init ready at ${(ready.atMs / 1000).toFixed(1)} s`)
      await fallback.powerCut()
    } finally {
      fallback.kill()
    }
    expect(block.read()).toBe("KEEL_ACTIVE=A\nKEEL_BOOTED=A\n")
    fs.rmSync(disk, { force: true })
  })
})
