/** The media types of the OCI image and distribution specifications the client reads and writes. */

export const imageManifest = "application/vnd.oci.image.manifest.v1+json"
export const imageIndex = "application/vnd.oci.image.index.v1+json"
export const dockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
export const dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
/** The empty config of an artifact: the two bytes `{}`. */
export const empty = "application/vnd.oci.empty.v1+json"

export const isIndex = (mediaType: string) => mediaType === imageIndex || mediaType === dockerManifestList
export const isManifest = (mediaType: string) => mediaType === imageManifest || mediaType === dockerManifest
