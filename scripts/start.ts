/**
 * `npm start`: builds the image if its inputs changed and boots a local KeelOS node in QEMU through
 * UEFI (OVMF) and GRUB, with a data disk kept between runs (.keelos/node/disk.qcow2, an overlay of
 * the built disk). The console is shown here.
 *
 * Not yet: the agent API over mutual TLS (issue #7) and the network (issue #4), so osctl cannot
 * reach the node, and no orderly shutdown channel from the host: Ctrl-C pulls the plug (the data
 * partition is ext4 with a journal, and the boot suite proves it survives that).
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { ensureImage } from "../images/src/build.ts"
import { accelerator, overlay, Vm } from "../vm-tests/src/Qemu.ts"

const root = path.resolve(import.meta.dirname, "..")
const nodeDir = path.join(root, ".keelos", "node")
console.log("keelos: checking the image (built only when its inputs changed) ...")
const image = ensureImage()
console.log(`keelos: image ${image.rebuilt ? "built" : "up to date"} in ${path.relative(root, image.dir)}`)
const disk = path.join(nodeDir, "disk.qcow2")
const stamp = path.join(nodeDir, "base")
if (!fs.existsSync(disk) || !fs.existsSync(stamp) || fs.readFileSync(stamp, "utf8") !== fs.readFileSync(path.join(image.dir, ".inputs"), "utf8")) {
  // A new image means a new node: its data disk starts empty (first boot formats it).
  overlay(image.disk, disk)
  fs.writeFileSync(stamp, fs.readFileSync(path.join(image.dir, ".inputs")))
  console.log(`keelos: new node disk ${path.relative(root, disk)}`)
} else {
  console.log(`keelos: reusing the node disk ${path.relative(root, disk)} (its data partition persists)`)
}
console.log(`keelos: booting under ${accelerator().toUpperCase()}; Ctrl-C powers the VM off (no orderly shutdown channel yet)`)
const vm = new Vm({
  name: "node",
  resultsDir: nodeDir,
  disk,
  // The real boot path: UEFI firmware, GRUB with the boot-counter grub.cfg, stage 1, keel-init.
  boot: { _tag: "Uefi" }
})
let shown = 0
const show = setInterval(() => {
  for (; shown < vm.lines.length; shown++) console.log(vm.lines[shown]!.text)
}, 100)
vm.waitFor(/keel-init: supervising/, 120_000).then(
  (line) => console.log(`keelos: keel-init is up after ${(line.atMs / 1000).toFixed(1)} s. osctl cannot reach it yet: the agent API lands with issue #7.`),
  (error: Error) => console.error(`keelos: the node did not come up: ${error.message.split("\n")[0]} (console in ${path.relative(root, nodeDir)}/node.serial.log)`)
)
process.on("SIGINT", () => {
  console.log("\nkeelos: powering the VM off")
  vm.powerCut().finally(() => process.exit(0))
})
vm.exited.then((code) => {
  clearInterval(show)
  for (; shown < vm.lines.length; shown++) console.log(vm.lines[shown]!.text)
  console.log(`keelos: QEMU exited (${code})`)
  process.exit(code === 0 ? 0 : 1)
})
