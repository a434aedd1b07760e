export * as Pki from "./Pki.ts"
