/** `npm run vm-test`: the QEMU suites of vm-tests/ (issue #5). */
import { missing } from "./missing.ts"

missing("npm run vm-test: there are no VM suites yet: they need the bootable image of issue #5.", [])
