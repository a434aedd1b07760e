/** mount(2), umount2(2) and /proc/self/mounts. */
import * as fs from "node:fs"
import { Effect, Layer } from "effect"
import { Mounts } from "@keelos/platform"
import { Errno, errnoName, libc } from "./internal/libc.ts"

/** mount(2) flags. */
export const MS = { rdonly: 1, nosuid: 2, nodev: 4, noexec: 8, bind: 4096, move: 8192, rec: 16384, private: 1 << 18 } as const
const MNT_DETACH = 2

const reasonOf = (errno: number): Mounts.MountError["reason"] =>
  errno === Errno.ENOENT ? "NotFound"
  : errno === Errno.EBUSY ? "Busy"
  : errno === Errno.EPERM || errno === Errno.EACCES ? "NotPermitted"
  : errno === Errno.ENODEV ? "NoDevice"
  : errno === Errno.EINVAL ? "Invalid"
  : "Io"

const unescape = (field: string) => field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)))

/** Parses /proc/self/mounts. */
export const parseMounts = (text: string): ReadonlyArray<Mounts.MountEntry> =>
  text.split("\n").filter((l) => l.length > 0).map((line) => {
    const [source = "", target = "", fstype = "", options = ""] = line.split(" ")
    return { source: unescape(source), target: unescape(target), fstype, options: options.split(",") }
  })

export const make: Mounts.Mounts["Service"] = {
  mount: (request) =>
    Effect.suspend(() => {
      let flags = request.readOnly ? MS.rdonly : 0
      for (const flag of request.flags ?? []) flags |= MS[flag]
      const c = libc()
      const result = c.mount(request.source, request.target, request.fstype, flags, request.data ?? null)
      if (result === 0) return Effect.void
      const errno = c.errno()
      return Effect.fail(new Mounts.MountError({ operation: "mount", target: request.target, reason: reasonOf(errno), detail: `mount ${request.fstype} ${request.source}: ${errnoName(errno)}` }))
    }),
  unmount: (target, options) =>
    Effect.suspend(() => {
      const c = libc()
      if (c.umount2(target, options?.detach ? MNT_DETACH : 0) === 0) return Effect.void
      const errno = c.errno()
      return Effect.fail(new Mounts.MountError({ operation: "unmount", target, reason: reasonOf(errno), detail: `umount2: ${errnoName(errno)}` }))
    }),
  list: Effect.try({
    try: () => parseMounts(fs.readFileSync("/proc/self/mounts", "utf8")),
    catch: (error) => new Mounts.MountError({ operation: "list", target: "/proc/self/mounts", reason: "Io", detail: (error as Error).message })
  })
}

export const layer: Layer.Layer<Mounts.Mounts> = Layer.succeed(Mounts.Mounts)(make)
