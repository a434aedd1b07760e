import { describe, expect, it } from "vitest"
import { loadOrder, moduleName, parse } from "../src/ModulesDep.ts"

const dep = `kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko
kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_legacy_dev.ko kernel/drivers/virtio/virtio_pci_modern_dev.ko kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko
kernel/drivers/virtio/virtio_ring.ko: kernel/drivers/virtio/virtio.ko
kernel/drivers/virtio/virtio.ko:
kernel/drivers/virtio/virtio_pci_legacy_dev.ko:
kernel/drivers/virtio/virtio_pci_modern_dev.ko:
kernel/fs/squashfs/squashfs.ko:
kernel/drivers/char/hw_random/virtio-rng.ko.xz: kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko
`

describe("ModulesDep", () => {
  const index = parse(dep)
  it("names modules like the kernel does", () => {
    expect(moduleName("kernel/drivers/char/hw_random/virtio-rng.ko.xz")).toBe("virtio_rng")
  })
  it("orders dependencies before the module, each once", () => {
    expect(loadOrder(index, "virtio_pci")).toEqual(["virtio_pci_legacy_dev", "virtio_pci_modern_dev", "virtio", "virtio_ring", "virtio_pci"])
    expect(loadOrder(index, "virtio-rng")).toEqual(["virtio", "virtio_ring", "virtio_rng"])
    expect(loadOrder(index, "squashfs")).toEqual(["squashfs"])
  })
  it("returns undefined for a module that is not there", () => {
    expect(loadOrder(index, "zfs")).toBeUndefined()
  })
})
