/** @keelos/provision: first-boot provisioning from a NoCloud seed. */
export * as NoCloud from "./NoCloud.ts"
export { ProvisionError } from "./Yaml.ts"
export * as FatImage from "./FatImage.ts"
export * as IsoVolume from "./IsoVolume.ts"
export * as Yaml from "./Yaml.ts"
export * as LocalCluster from "./LocalCluster.ts"
