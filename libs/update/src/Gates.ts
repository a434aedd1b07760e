/**
 * The gates a verified release passes before a byte is downloaded (DESIGN §4): the channel and the
 * architecture the operator asked for, the oldest version it may be installed from, no downgrade
 * or reinstall and no version that was rolled back unless forced. Pure: the caller supplies what
 * the node knows.
 */
import { Result } from "effect"
import { type ReleaseMetadata, Version } from "@keelos/domain"
import * as UpdateError from "./UpdateError.ts"

export interface NodeView {
  readonly version: Version.Version
  readonly arch: ReleaseMetadata.Architecture
  readonly rolledBack: ReadonlyArray<Version.Version>
}

export interface Expected {
  /** The channel the operator asked for (from the URL path), if it names one. */
  readonly channel: string | null
  readonly force: boolean
}

/** `…/{channel}/{arch}/latest.json` names a channel; other layouts do not. */
export const channelOf = (metadataUrl: URL): string | null => {
  const parts = metadataUrl.pathname.split("/").filter((part) => part.length > 0)
  return parts.length >= 3 && parts.at(-1) === "latest.json" ? parts.at(-3)! : null
}

const refuse = (detail: string) => Result.fail(UpdateError.make("check", "Refused", detail))

export const check = (
  metadata: ReleaseMetadata.ReleaseMetadata,
  node: NodeView,
  expected: Expected
): Result.Result<ReleaseMetadata.ReleaseMetadata, UpdateError.UpdateError> => {
  if (metadata.arch !== node.arch) return refuse(`the release is built for ${metadata.arch}; this node is ${node.arch}`)
  if (expected.channel !== null && metadata.channel !== expected.channel) {
    return refuse(`the metadata is for channel ${metadata.channel}, but it was served as channel ${expected.channel}`)
  }
  if (Version.compare(node.version, metadata.min_compatible_version) < 0) {
    return refuse(`${metadata.version} installs only from ${metadata.min_compatible_version} or later; this node runs ${node.version}: update to ${metadata.min_compatible_version} first`)
  }
  if (expected.force) return Result.succeed(metadata)
  const order = Version.compare(metadata.version, node.version)
  if (order === 0) return refuse(`this node already runs ${node.version} (use --force to reinstall)`)
  if (order < 0) return refuse(`${metadata.version} is older than the running ${node.version}: a downgrade needs --force`)
  if (node.rolledBack.includes(metadata.version)) {
    return refuse(`${metadata.version} was rolled back on this node before; install it again only with --force`)
  }
  return Result.succeed(metadata)
}
