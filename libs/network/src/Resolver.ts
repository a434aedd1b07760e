/**
 * The node's resolv.conf, kept from several sources (the static machine config, each link's DHCP
 * lease): a lease that comes or goes rewrites the file with every source's servers in a stable
 * order, static first, without duplicates and at most three (glibc reads no more). Written to a
 * temporary file and renamed, so a reader never sees half a file.
 */
import { Effect, FileSystem, Order, Path, Ref, Semaphore } from "effect"

export interface Entry {
  readonly nameservers: ReadonlyArray<string>
  readonly search: ReadonlyArray<string>
}

/** glibc's MAXNS. */
const maxServers = 3

export const render = (entries: ReadonlyMap<string, Entry>): string => {
  const sources = [...entries.keys()].sort((a, b) => (a === "static" ? -1 : b === "static" ? 1 : Order.String(a, b)))
  const servers = [...new Set(sources.flatMap((s) => entries.get(s)!.nameservers))].slice(0, maxServers)
  const search = [...new Set(sources.flatMap((s) => entries.get(s)!.search))]
  return [
    "# Written by keel-init from the machine config and DHCP leases.",
    ...servers.map((server) => `nameserver ${server}`),
    ...(search.length > 0 ? [`search ${search.join(" ")}`] : [])
  ].join("\n") + "\n"
}

export interface Resolver {
  /** Set (or with no servers and no search domains, drop) one source's entry and rewrite the file. */
  readonly set: (source: string, entry: Entry) => Effect.Effect<void, { readonly message: string }>
}

export const make = (file: string, initial: ReadonlyMap<string, Entry> = new Map()) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const entries = yield* Ref.make<ReadonlyMap<string, Entry>>(initial)
    const lock = yield* Semaphore.make(1)
    const write = (text: string) =>
      Effect.gen(function*() {
        const tmp = `${file}.tmp`
        yield* fs.makeDirectory(path.dirname(file), { recursive: true })
        yield* fs.writeFileString(tmp, text, { mode: 0o644 })
        yield* fs.rename(tmp, file)
      })
    const resolver: Resolver = {
      set: (source, entry) =>
        Semaphore.withPermit(lock, Effect.gen(function*() {
          const next = new Map(yield* Ref.get(entries))
          if (entry.nameservers.length === 0 && entry.search.length === 0) next.delete(source)
          else next.set(source, entry)
          yield* Ref.set(entries, next)
          yield* write(render(next))
        }))
    }
    return resolver
  })
