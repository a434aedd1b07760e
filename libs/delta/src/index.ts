/** @keelos/delta: delta updates (issue #9). */
export * as Bspatch from "./Bspatch.ts"
export { Bzip2Decoder, Bzip2Error } from "./Bzip2.ts"
