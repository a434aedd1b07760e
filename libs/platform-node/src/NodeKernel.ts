/**
 * The running kernel: /proc/cmdline, modules loaded with finit_module(2) in modules.dep order
 * (already loaded counts as success), sethostname(2), and readahead(2) for prefetching. A module
 * loads, and a file is read ahead, on a worker thread, so the event loop (early boot's other steps)
 * runs on while the kernel works.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect, Layer } from "effect"
import { Kernel, ModulesDep } from "@keelos/platform"
import { Errno, errnoName, libc } from "./internal/libc.ts"

const kernelError = (operation: Kernel.KernelError["operation"], target: string, errno: number | undefined, detail: string) =>
  new Kernel.KernelError({
    operation,
    target,
    reason: errno === Errno.ENOENT ? "NotFound" : errno === Errno.EPERM || errno === Errno.EACCES ? "NotPermitted" : errno === Errno.EINVAL ? "Invalid" : "Io",
    detail
  })

export interface KernelOptions {
  /** Defaults to /lib/modules/<release>. */
  readonly modulesDir?: string
}

export const make = (options: KernelOptions = {}): Kernel.Kernel["Service"] => {
  let index: ModulesDep.ModuleIndex | undefined
  const modulesDir = () => options.modulesDir ?? path.join("/lib/modules", fs.readFileSync("/proc/sys/kernel/osrelease", "utf8").trim())
  /** A module the kernel has (a dependency shared by several of the modules asked for), not loaded twice. */
  const loaded = (name: string) => fs.existsSync(path.join("/sys/module", name.replaceAll("-", "_")))
  const loadOne = (file: string, name: string, params: string) =>
    Effect.suspend(() => {
      if (loaded(name)) return Effect.void
      let fd: number
      try {
        fd = fs.openSync(file, "r")
      } catch (error) {
        return Effect.fail(kernelError("loadModule", name, Errno.ENOENT, (error as Error).message))
      }
      const c = libc()
      return Effect.tryPromise({
        try: () => c.finitModuleOffThread(fd, params, 0),
        catch: (error) => kernelError("loadModule", name, undefined, `finit_module: ${String(error)}`)
      }).pipe(
        Effect.flatMap((result) => {
          if (result === 0) return Effect.void
          // The worker thread's errno is not ours: ask again here to learn why (EEXIST: loaded meanwhile).
          const again = c.finitModule(fd, params, 0)
          const errno = c.errno()
          if (again === 0 || errno === Errno.EEXIST) return Effect.void
          return Effect.fail(kernelError("loadModule", name, errno, `finit_module: ${errnoName(errno)}`))
        }),
        Effect.ensuring(Effect.sync(() => fs.closeSync(fd)))
      )
    })
  return {
    cmdline: Effect.try({
      try: () => fs.readFileSync("/proc/cmdline", "utf8").trim().split(/\s+/).filter((w) => w.length > 0),
      catch: (error) => kernelError("cmdline", "/proc/cmdline", Errno.ENOENT, (error as Error).message)
    }),
    loadModule: (name, params = "") =>
      Effect.gen(function*() {
        const dir = yield* Effect.try({ try: modulesDir, catch: (e) => kernelError("loadModule", name, Errno.ENOENT, (e as Error).message) })
        if (index === undefined) {
          const text = yield* Effect.try({
            try: () => fs.readFileSync(path.join(dir, "modules.dep"), "utf8"),
            catch: (e) => kernelError("loadModule", name, Errno.ENOENT, (e as Error).message)
          })
          index = ModulesDep.parse(text)
        }
        const order = ModulesDep.loadOrder(index, name)
        if (order === undefined) return yield* kernelError("loadModule", name, Errno.ENOENT, "not in modules.dep")
        // The parameters are the named module's; its dependencies load with none.
        for (const module of order) yield* loadOne(path.join(dir, index.paths.get(module)!), module, module === name ? params : "")
      }),
    setHostname: (name) =>
      Effect.suspend(() => {
        const c = libc()
        const bytes = Buffer.byteLength(name)
        if (bytes === 0 || bytes > 64) return Effect.fail(kernelError("setHostname", name, Errno.EINVAL, "a hostname is 1 to 64 bytes"))
        return c.sethostname(name, bytes) === 0
          ? Effect.void
          : Effect.fail(kernelError("setHostname", name, c.errno(), `sethostname: ${errnoName(c.errno())}`))
      }),
    prefetch: (file) =>
      Effect.suspend(() => {
        let fd: number
        let size: number
        try {
          fd = fs.openSync(file, "r")
          size = fs.fstatSync(fd).size
        } catch (error) {
          return Effect.fail(kernelError("prefetch", file, Errno.ENOENT, (error as Error).message))
        }
        const c = libc()
        return Effect.tryPromise({
          try: () => c.readaheadOffThread(fd, 0, size),
          catch: (error) => kernelError("prefetch", file, undefined, `readahead: ${String(error)}`)
        }).pipe(
          Effect.flatMap((result) => result === 0 ? Effect.void : Effect.fail(kernelError("prefetch", file, undefined, "readahead failed"))),
          Effect.ensuring(Effect.sync(() => fs.closeSync(fd)))
        )
      })
  }
}

export const layer = (options?: KernelOptions): Layer.Layer<Kernel.Kernel> => Layer.succeed(Kernel.Kernel)(make(options))
