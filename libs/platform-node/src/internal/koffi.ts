/**
 * koffi, the FFI that libc.ts and posixSpawn.ts bind through, loaded as its prebuilt binding
 * directly. koffi's own entry first works out the C library by reading Node's ELF headers in
 * JavaScript and wraps the binding in deprecation shims; at boot, on a node without a JIT for its
 * PID 1, that took 0.25 s of keel-init's early boot under TCG. The binding is the same object.
 * Another layout (musl, another architecture without its glibc build) falls back to koffi's entry.
 */
import { createRequire } from "node:module"

const require = createRequire(import.meta.url)

type Koffi = typeof import("koffi")

let loaded: Koffi | undefined

export const koffi = (): Koffi => {
  if (loaded !== undefined) return loaded
  // A computed name, so that bundlers leave the binding where the image installs it.
  const binding = `@koromix/koffi-${process.platform}-${process.arch}/${process.platform}_${process.arch}/koffi.node`
  try {
    loaded = require(binding) as Koffi
  } catch {
    loaded = require("koffi") as Koffi
  }
  return loaded
}
