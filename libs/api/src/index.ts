/** @keelos/api: RPC contracts shared by servers and clients. */
export * as BootstrapApi from "./BootstrapApi.ts"
export * as InitControl from "./InitControl.ts"
export * as NodeApi from "./NodeApi.ts"
export * as NodeApiClient from "./NodeApiClient.ts"
