/**
 * `npm start`: build the image if needed and boot a local KeelOS node in QEMU. The image build and
 * the VM harness come with issue #5; until then this says what exists and what does not.
 */
import { missing } from "./missing.ts"

missing("npm start: no bootable KeelOS image can be built yet (images/ and vm-tests/ land with issue #5).", [
  "What works today:",
  "  npm test                      every test: lint, types, units, grub-editenv and grub-emu cross-checks, simulation",
  "  npm run sim -- --seeds 100    the seeded whole-node simulation with power cuts",
  "  node apps/cli/src/main.ts bootenv show FILE   inspect a GRUB environment block"
])
