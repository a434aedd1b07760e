/** `osctl config`: contexts (nodes and credentials) in the osctl config file. Keys are never printed. */
import { X509Certificate } from "node:crypto"
import { Effect, FileSystem, Option } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import * as OsctlConfig from "../OsctlConfig.ts"
import { print, table } from "../Output.ts"
import * as Remote from "../Remote.ts"
import { osctl } from "./root.ts"

const configFile = Effect.map(osctl, (flags) => OsctlConfig.defaultPath(Option.getOrUndefined(flags.osconfig), process.env))

const readPem = (file: string) =>
  Effect.flatMap(FileSystem.FileSystem, (fs) =>
    Effect.mapError(fs.readFileString(file), (e) => new OsctlConfig.ConfigError({ path: file, reason: e.message })))

const add = Command.make(
  "add",
  {
    name: Argument.String("name"),
    ca: Flag.String("ca").pipe(Flag.withDescription("Cluster CA certificate file")),
    cert: Flag.String("cert").pipe(Flag.withDescription("Client certificate file")),
    key: Flag.String("key").pipe(Flag.withDescription("Client key file"))
  },
  (o) =>
    Effect.gen(function*() {
      const file = yield* configFile
      const flags = yield* osctl
      const context: OsctlConfig.Context = {
        nodes: Option.match(flags.nodes, { onNone: () => [], onSome: (list) => list.split(",").map((n) => n.trim()).filter((n) => n.length > 0) }),
        ca: yield* readPem(o.ca),
        cert: yield* readPem(o.cert),
        key: yield* readPem(o.key)
      }
      yield* Remote.checkCredentials(o.name, context)
      const config = yield* OsctlConfig.load(file)
      yield* OsctlConfig.save(file, { currentContext: config.currentContext ?? o.name, contexts: { ...config.contexts, [o.name]: context } })
      const { output } = yield* osctl
      yield* print(output, { context: o.name, file }, () => `context ${o.name} saved in ${file}`)
    })
).pipe(Command.withDescription("Add or replace a context\n\nThe context's nodes are the ones given with -n.\n\nExample: osctl config add lab -n 10.0.0.5 --ca pki/ca.crt --cert pki/alice.crt --key pki/alice.key"))

const use = Command.make("use", { name: Argument.String("name") }, ({ name }) =>
  Effect.gen(function*() {
    const file = yield* configFile
    const config = yield* OsctlConfig.load(file)
    yield* OsctlConfig.select(config, file, name)
    yield* OsctlConfig.save(file, { ...config, currentContext: name })
    const { output } = yield* osctl
    yield* print(output, { currentContext: name }, () => `using context ${name}`)
  })).pipe(Command.withDescription("Make a context the current one"))

const remove = Command.make("remove", { name: Argument.String("name") }, ({ name }) =>
  Effect.gen(function*() {
    const file = yield* configFile
    const config = yield* OsctlConfig.load(file)
    yield* OsctlConfig.select(config, file, name)
    const contexts = Object.fromEntries(Object.entries(config.contexts).filter(([n]) => n !== name))
    yield* OsctlConfig.save(file, { currentContext: config.currentContext === name ? null : config.currentContext, contexts })
    const { output } = yield* osctl
    yield* print(output, { removed: name }, () => `context ${name} removed`)
  })).pipe(Command.withDescription("Remove a context"))

const show = Command.make("show", {}, () =>
  Effect.gen(function*() {
    const file = yield* configFile
    const config = yield* OsctlConfig.load(file)
    const contexts = Object.entries(config.contexts).map(([name, c]) => {
      const cert = new X509Certificate(c.cert)
      return { name, current: name === config.currentContext, nodes: c.nodes, subject: cert.subject.replace(/\n/g, ", "), validTo: cert.validTo }
    })
    const { output } = yield* osctl
    yield* print(output, { file, currentContext: config.currentContext, contexts }, () =>
      table(["", "CONTEXT", "NODES", "CLIENT CERTIFICATE", "EXPIRES"], contexts.map((c) => [c.current ? "*" : "", c.name, c.nodes.join(","), c.subject, c.validTo])))
  })).pipe(Command.withDescription("List the contexts (keys are never shown)"))

export const config = Command.make("config").pipe(Command.withDescription("Manage osctl contexts"), Command.withSubcommands([add, use, remove, show]))
