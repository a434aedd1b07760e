/** @keelos/release: signed release metadata. */
export * as Release from "./Release.ts"
export * as Signing from "./Signing.ts"
