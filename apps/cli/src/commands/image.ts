/**
 * `osctl image provision`: a NoCloud seed volume (FAT, label CIDATA) for a node's first boot, from
 * one YAML file with its three documents (`meta-data`, `network-config`, `user-data`). The seed is
 * checked the way the node will read it: an invalid document is refused with its line, and
 * everything the node will not apply is listed as a warning. `--pki DIR --node NAME` puts the
 * cluster CA and the node's certificate and key (from osctl gen) into user-data's keelos section.
 */
import { Console, Effect, FileSystem, Path, Schema } from "effect"
import { Command, Flag } from "effect/cli"
import { print } from "../Output.ts"
import { osctl } from "./root.ts"

export class ProvisionFileError extends Schema.TaggedError<ProvisionFileError>()("ProvisionFileError", { path: Schema.String, reason: Schema.String }) {
  override get message(): string {
    return `${this.path}: ${this.reason}`
  }
}

const provision = Command.make(
  "provision",
  {
    config: Flag.String("config").pipe(Flag.withDescription("YAML with meta-data, network-config and user-data sections")),
    // Not --output: that is the output format everywhere in osctl.
    out: Flag.String("out").pipe(Flag.withDescription("The seed image to write (attach it as a disk or write it to a USB stick)")),
    pki: Flag.String("pki").pipe(Flag.withDescription("Directory with ca.crt and the node's certificate (osctl gen)"), Flag.optional),
    node: Flag.String("node").pipe(Flag.withDescription("The node certificate's name in --pki (NAME.crt, NAME.key)"), Flag.optional)
  },
  (o) =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const { NoCloud, Yaml } = yield* Effect.promise(() => import("@keelos/provision"))
      const fail = (file: string, reason: string) => new ProvisionFileError({ path: file, reason })
      const text = yield* Effect.mapError(fs.readFileString(o.config), (e) => fail(o.config, e.message))
      const parsed = yield* Effect.mapError(Yaml.parse(o.config, text), (e) => fail(o.config, e.message))
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return yield* fail(o.config, "must be a mapping with meta-data, network-config and user-data")
      const sections = parsed as Record<string, unknown>
      for (const key of Object.keys(sections)) {
        if (!["meta-data", "network-config", "user-data"].includes(key)) return yield* fail(o.config, `unknown section ${key}: use meta-data, network-config and user-data`)
      }
      const userData = { ...(sections["user-data"] as Record<string, unknown> | undefined ?? {}) }
      if (o.pki._tag === "Some") {
        const dir = o.pki.value
        if (o.node._tag === "None") return yield* fail(dir, "--pki needs --node NAME (the node certificate's name)")
        const read = (name: string) => Effect.mapError(fs.readFileString(path.join(dir, name)), (e) => fail(path.join(dir, name), e.message))
        userData["keelos"] = {
          ...(userData["keelos"] as Record<string, unknown> | undefined ?? {}),
          pki: { ca: yield* read("ca.crt"), certificate: yield* read(`${o.node.value}.crt`), key: yield* read(`${o.node.value}.key`) }
        }
      }
      const documents = {
        metaData: yield* Yaml.stringify(sections["meta-data"] ?? {}),
        ...(sections["network-config"] === undefined ? {} : { networkConfig: yield* Yaml.stringify(sections["network-config"]) }),
        userData: `#cloud-config\n${yield* Yaml.stringify(userData)}`
      }
      const { warnings } = yield* NoCloud.parseSeed(documents)
      for (const warning of warnings) yield* Console.error(`warning: ${warning}`)
      const image = NoCloud.volume(documents)
      yield* Effect.mapError(fs.writeFile(o.out, image, { mode: 0o600 }), (e) => fail(o.out, e.message))
      const { output } = yield* osctl
      yield* print(output, { output: o.out, bytes: image.length, warnings }, () =>
        `wrote ${o.out} (NoCloud seed, label CIDATA, ${warnings.length} warning${warnings.length === 1 ? "" : "s"}); attach it to the node as a disk for its first boot`)
    })
).pipe(Command.withDescription(
  "Write a NoCloud seed volume for a node's first boot\n\nExample: osctl image provision --config node-1.yaml --pki pki --node node-1 --out seed.img"
))

export const image = Command.make("image").pipe(Command.withDescription("Images for provisioning nodes"), Command.withSubcommands([provision]))
