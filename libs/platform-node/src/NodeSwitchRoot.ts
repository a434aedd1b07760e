/**
 * switch_root(8) and execve(2) for keel-init as the initramfs /init: the initramfs's files are
 * removed first (the kernel's rootfs keeps their memory otherwise, and Node alone is over 100 MB),
 * staying on the rootfs's own device so nothing mounted is touched; then the new root is moved
 * over `/` (mount MS_MOVE), chrooted into, and Node's process.execve runs the next program as the
 * same pid.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect, Layer } from "effect"
import { SwitchRoot } from "@keelos/platform"
import { errnoName, libc } from "./internal/libc.ts"
import { MS } from "./NodeMounts.ts"

/** statfs f_type of the kernel's rootfs: ramfs, or tmpfs when the kernel mounts it so. */
const rootfsTypes = new Set([0x858458f6, 0x01021994])

/** Removes `entry` and below when on `device`; a directory on another device (a mount point) is left. */
const removeTree = (entry: string, device: number): number => {
  const stat = fs.lstatSync(entry, { throwIfNoEntry: false })
  if (stat === undefined || stat.dev !== device) return 0
  let removed = 0
  if (stat.isDirectory()) {
    for (const name of fs.readdirSync(entry)) removed += removeTree(path.join(entry, name), device)
    try {
      fs.rmdirSync(entry)
      removed++
    } catch {
      // Not empty: something under it is mounted.
    }
    return removed
  }
  fs.unlinkSync(entry)
  return removed + 1
}

export const make: SwitchRoot.SwitchRoot["Service"] = {
  switchTo: (newRoot) =>
    Effect.try({
      try: () => {
        const target = path.resolve(newRoot)
        // Never anywhere else: this deletes every file of the current root.
        const rootType = fs.statfsSync("/").type
        if (!rootfsTypes.has(rootType)) throw new Error(`/ is not an initramfs (filesystem type 0x${rootType.toString(16)}): refusing to empty it`)
        const rootDevice = fs.statSync("/").dev
        if (fs.statSync(target).dev === rootDevice) throw new Error(`${target} is not a mount point`)
        let removed = 0
        for (const name of fs.readdirSync("/")) {
          const entry = path.join("/", name)
          if (entry !== target) removed += removeTree(entry, rootDevice)
        }
        const c = libc()
        process.chdir(target)
        if (c.mount(".", "/", null, MS.move, null) !== 0) throw new Error(`mount --move ${target} /: ${errnoName(c.errno())}`)
        if (c.chroot(".") !== 0) throw new Error(`chroot: ${errnoName(c.errno())}`)
        process.chdir("/")
        return { removed }
      },
      catch: (error) => new SwitchRoot.SwitchRootError({ operation: "switch", target: newRoot, detail: (error as Error).message })
    }),
  exec: (command, args, env) =>
    Effect.try({
      try: () => {
        const execve = process.execve
        if (execve === undefined) throw new Error("this Node has no process.execve (Node 23.11 or later on POSIX)")
        execve(command, [command, ...args], { ...env })
        throw new Error("execve returned")
      },
      catch: (error) => new SwitchRoot.SwitchRootError({ operation: "exec", target: command, detail: (error as Error).message })
    })
}

export const layer: Layer.Layer<SwitchRoot.SwitchRoot> = Layer.succeed(SwitchRoot.SwitchRoot)(make)
