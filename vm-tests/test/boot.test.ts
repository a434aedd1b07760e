/**
 * Boots the built image in QEMU by direct kernel boot (GRUB on UEFI and BIOS is the grub suite):
 * stage 1 finds slot A by label, keel-init runs as PID 1, formats the empty data partition on the
 * first boot and mounts it on the next, even after a power cut. Without stage 1, keel-init is the
 * initramfs /init itself (initrd-node) and switches to the slot; an empty slot powers off.
 */
import * as path from "node:path"
import { beforeAll, describe, expect, it } from "vitest"
import { image, resultsDir } from "../src/Image.ts"
import { accelerator, overlay, Vm } from "../src/Qemu.ts"

const results = resultsDir("boot")
const append = "console=ttyS0 panic=-1 quiet keel.slot=A"
let built: ReturnType<typeof image>

beforeAll(() => {
  built = image()
})

const boot = (name: string, disk: string) =>
  new Vm({ name, resultsDir: results, disk, boot: { _tag: "Direct", kernel: built.kernel, initrd: built.initrd, append } })

describe(`KeelOS boots in QEMU (${accelerator()})`, () => {
  it("reaches keel-init, formats the data partition once, and keeps it across a power cut", async () => {
    const disk = overlay(built.disk, path.join(results, "disk.qcow2"))
    const first = boot("first", disk)
    try {
      const stage1 = await first.waitFor(/KEEL-STAGE1 root KEELOS_ROOT_A from \/dev\/vda3/, 60_000)
      await first.waitFor(/keel-init: first boot: creating the data filesystem on \/dev\/vda5/, 60_000)
      await first.waitFor(/keel-init: early boot done: \d+ filesystems mounted, data partition formatted/, 60_000)
      const ready = await first.waitFor(/keel-init: supervising \d+ children; control socket \/run\/keel\/init.sock/, 60_000)
      console.log(`first boot: stage 1 at ${(stage1.atMs / 1000).toFixed(1)} s, keel-init ready at ${(ready.atMs / 1000).toFixed(1)} s`)
      expect(first.lines.some((l) => /Kernel panic|FATAL|defect/.test(l.text))).toBe(false)
      await first.powerCut()
    } finally {
      first.kill()
    }
    const second = boot("second", disk)
    try {
      await second.waitFor(/keel-init: early boot done: \d+ filesystems mounted, data partition mounted/, 90_000)
      await second.waitFor(/keel-init: supervising/, 60_000)
      expect(second.lines.some((l) => /creating the data filesystem/.test(l.text))).toBe(false)
      await second.powerCut()
    } finally {
      second.kill()
    }
  })

  it("survives a power cut in the middle of the first boot's format: the next boot formats again, the one after mounts", async () => {
    const disk = overlay(built.disk, path.join(results, "cut-during-format.qcow2"))
    const first = boot("cut-first", disk)
    try {
      await first.waitFor(/keel-init: first boot: creating the data filesystem/, 60_000)
      await first.powerCut()
    } finally {
      first.kill()
    }
    const second = boot("cut-second", disk)
    try {
      const done = await second.waitFor(/keel-init: early boot done: .*data partition (formatted|mounted)/, 90_000)
      // Where the cut landed decides what this boot sees, and each case has one right answer: before the
      // marker reached the disk, an empty partition (format); between marker and the end of mkfs, the
      // marker (format again, whatever mkfs left); after, a finished filesystem (mount).
      const again = second.lines.some((l) => /first boot: creating the data filesystem on \/dev\/vda5/.test(l.text))
      const interrupted = second.lines.some((l) => /an earlier format of \/dev\/vda5 was interrupted; formatting it again/.test(l.text))
      console.log(`boot after the cut: ${interrupted ? "the marker was there: formatted again" : again ? "nothing had reached the disk: formatted" : "mkfs had finished: mounted"}`)
      expect(done.text.includes("formatted")).toBe(again || interrupted)
      await second.waitFor(/keel-init: supervising/, 60_000)
      await second.powerCut()
    } finally {
      second.kill()
    }
    const third = boot("cut-third", disk)
    try {
      await third.waitFor(/keel-init: early boot done: .*data partition mounted/, 90_000)
      await third.powerCut()
    } finally {
      third.kill()
    }
  })

  it("boots without stage 1: keel-init is the initramfs /init, switches to the slot and runs from it as the same PID 1", async () => {
    const disk = overlay(built.disk, path.join(results, "initramfs.qcow2"))
    const vm = new Vm({ name: "initramfs", resultsDir: results, disk, boot: { _tag: "Direct", kernel: built.kernel, initrd: built.initrdNode, append } })
    try {
      const first = await vm.waitFor(/^keel-init \S+ starting as pid 1$/, 120_000)
      await vm.waitFor(/keel-init: initramfs: root KEELOS_ROOT_A from \/dev\/vda3/, 60_000)
      const switched = await vm.waitFor(/keel-init: initramfs: switched root \((\d+) initramfs entries freed\); exec \/usr\/bin\/node (--\S+ )*--snapshot-blob \/usr\/lib\/keel\/keel-init\.blob/, 60_000)
      // Node, its libraries, the bundles, koffi and the modules: everything unpacked is gone.
      expect(Number(/\((\d+) initramfs/.exec(switched.text)![1])).toBeGreaterThan(100)
      const second = await vm.waitFor(/^keel-init \S+ starting as pid 1$/, 120_000, vm.lines.indexOf(switched) + 1)
      await vm.waitFor(/keel-init: early boot done: \d+ filesystems mounted, data partition formatted, ESP mounted/, 90_000)
      await vm.waitFor(/keel-init: supervising \d+ children/, 60_000)
      console.log(`initramfs /init: keel-init at ${(first.atMs / 1000).toFixed(1)} s, switched at ${(switched.atMs / 1000).toFixed(1)} s, keel-init from the slot at ${(second.atMs / 1000).toFixed(1)} s`)
      expect(vm.lines.some((l) => /KEEL-STAGE1|Kernel panic|FATAL|defect/.test(l.text))).toBe(false)
      await vm.powerCut()
    } finally {
      vm.kill()
    }
  })

  it("without stage 1, a slot that holds no root powers the machine off instead of looping", async () => {
    const disk = overlay(built.disk, path.join(results, "initramfs-empty-slot.qcow2"))
    // Slot B of a new disk is empty.
    const vm = new Vm({ name: "initramfs-empty-slot", resultsDir: results, disk, boot: { _tag: "Direct", kernel: built.kernel, initrd: built.initrdNode, append: "console=ttyS0 panic=-1 quiet keel.slot=B" }, rebootable: true })
    try {
      await vm.waitFor(/keel-init: FATAL initramfs, root: mount \/newroot: .*; powering off/, 120_000)
      expect(await vm.exited).toBe(0)
      expect(vm.lines.filter((l) => /^keel-init \S+ starting as pid 1$/.test(l.text))).toHaveLength(1)
    } finally {
      vm.kill()
    }
  })
})
