/** @keelos/store: crash-safe persistence on the data partition. */
export * as AtomicFile from "./AtomicFile.ts"
export * as JsonFile from "./JsonFile.ts"
export * as Journal from "./Journal.ts"
export * as RotatingFile from "./RotatingFile.ts"
export { StoreError } from "./StoreError.ts"
