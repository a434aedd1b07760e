/**
 * The libc and raw syscalls KeelOS needs, bound through koffi (boot.md G5). Loaded lazily so that
 * importing platform-node on a machine without koffi's prebuilt binary fails only when a syscall
 * is really made.
 */
import { koffi as loadKoffi } from "./koffi.ts"

export interface Libc {
  readonly mount: (source: string | null, target: string, fstype: string | null, flags: number, data: string | null) => number
  readonly umount2: (target: string, flags: number) => number
  readonly chroot: (path: string) => number
  readonly reboot: (cmd: number) => number
  readonly sync: () => void
  readonly tcdrain: (fd: number) => number
  readonly sethostname: (name: string, length: number) => number
  readonly waitpid: (pid: number, status: Array<number>, options: number) => number
  readonly prctl: (option: number, arg2: number, arg3: number, arg4: number, arg5: number) => number
  readonly finitModule: (fd: number, params: string, flags: number) => number
  /**
   * finit_module(2) on one of koffi's worker threads, so the event loop runs on while the kernel
   * loads the module; resolves to 0 or -1. The errno of a failed call stays on that thread.
   */
  readonly finitModuleOffThread: (fd: number, params: string, flags: number) => Promise<number>
  /**
   * readahead(2) on one of koffi's worker threads: the kernel reads (and a SquashFS decompresses)
   * the range into the page cache there while the event loop runs on; resolves to 0 or -1.
   */
  readonly readaheadOffThread: (fd: number, offset: number, count: number) => Promise<number>
  readonly socket: (domain: number, type: number, protocol: number) => number
  readonly ioctl: (fd: number, request: number, arg: Buffer) => number
  readonly close: (fd: number) => number
  readonly bind: (fd: number, address: Buffer, length: number) => number
  readonly send: (fd: number, buffer: Buffer, length: number, flags: number) => number
  readonly recv: (fd: number, buffer: Buffer, length: number, flags: number) => number
  readonly setsockopt: (fd: number, level: number, name: number, value: Buffer, length: number) => number
  readonly errno: () => number
  /** Returns the error number itself (0 on success), not -1 and errno. */
  readonly posixFadvise: (fd: number, offset: number, length: number, advice: number) => number
}

let bound: Libc | undefined

/** Syscall numbers of finit_module(2), which glibc 2.36 does not wrap. */
const finitModuleNumber: Record<string, number> = { x64: 313, arm64: 273 }

export const libc = (): Libc => {
  if (bound !== undefined) return bound
  const koffi = loadKoffi()
  const lib = koffi.load("libc.so.6")
  const syscall = lib.func("long syscall(long number, int fd, const char *params, int flags)")
  const number = finitModuleNumber[process.arch]
  const readahead = lib.func("long readahead(int fd, long offset, size_t count)")
  bound = {
    mount: lib.func("int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data)"),
    umount2: lib.func("int umount2(const char *target, int flags)"),
    chroot: lib.func("int chroot(const char *path)"),
    reboot: lib.func("int reboot(int cmd)"),
    sync: lib.func("void sync(void)"),
    tcdrain: lib.func("int tcdrain(int fd)"),
    sethostname: lib.func("int sethostname(const char *name, size_t len)"),
    waitpid: lib.func("int waitpid(int pid, _Out_ int *status, int options)"),
    prctl: lib.func("int prctl(int option, unsigned long arg2, unsigned long arg3, unsigned long arg4, unsigned long arg5)"),
    finitModule: (fd, params, flags) => {
      if (number === undefined) throw new Error(`finit_module: unsupported architecture ${process.arch}`)
      return Number(syscall(number, fd, params, flags))
    },
    finitModuleOffThread: (fd, params, flags) =>
      new Promise((resolve, reject) => {
        if (number === undefined) return reject(new Error(`finit_module: unsupported architecture ${process.arch}`))
        syscall.async(number, fd, params, flags, (error: unknown, result: number | bigint) => (error ? reject(error) : resolve(Number(result))))
      }),
    readaheadOffThread: (fd, offset, count) =>
      new Promise((resolve, reject) => {
        readahead.async(fd, offset, count, (error: unknown, result: number | bigint) => (error ? reject(error) : resolve(Number(result))))
      }),
    socket: lib.func("int socket(int domain, int type, int protocol)"),
    ioctl: lib.func("int ioctl(int fd, unsigned long request, void *arg)"),
    close: lib.func("int close(int fd)"),
    bind: lib.func("int bind(int fd, const void *addr, int len)"),
    send: lib.func("long send(int fd, const void *buf, size_t len, int flags)"),
    recv: lib.func("long recv(int fd, void *buf, size_t len, int flags)"),
    setsockopt: lib.func("int setsockopt(int fd, int level, int optname, const void *optval, int optlen)"),
    errno: () => koffi.errno(),
    posixFadvise: lib.func("int posix_fadvise(int fd, long offset, long len, int advice)")
  }
  return bound
}

/** errno values KeelOS tells apart. */
export const Errno = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  ECHILD: 10,
  EACCES: 13,
  EBUSY: 16,
  EEXIST: 17,
  ENODEV: 19,
  ENXIO: 6,
  EINVAL: 22,
  ENOSPC: 28,
  EOPNOTSUPP: 95,
  EADDRNOTAVAIL: 99
} as const

export const errnoName = (errno: number): string =>
  Object.entries(Errno).find(([, value]) => value === errno)?.[0] ?? `errno ${errno}`
