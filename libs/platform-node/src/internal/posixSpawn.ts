/**
 * posix_spawn(3) and what it needs, bound through koffi: glibc starts the child with
 * clone(CLONE_VM | CLONE_VFORK), so nothing of the parent's memory is copied, where Node's
 * child_process forks the whole process first. Plus pipe2 and a non-blocking waitpid for the
 * children started this way, and the set of their pids, which the reaper leaves alone.
 */
import { koffi as loadKoffi } from "./koffi.ts"

const POSIX_SPAWN_SETSIGDEF = 0x04
const POSIX_SPAWN_SETSIGMASK = 0x08
const POSIX_SPAWN_SETSID = 0x80
const O_RDONLY = 0
const O_WRONLY = 1
const O_CLOEXEC = 0o2000000
/** Larger than glibc's posix_spawnattr_t (336 bytes), posix_spawn_file_actions_t (80) and sigset_t (128). */
const opaqueBytes = 512

interface Bindings {
  readonly posixSpawn: (pid: Array<number>, path: string, actions: Buffer, attr: Buffer, argv: Array<string | null>, envp: Array<string | null>) => number
  readonly actionsInit: (actions: Buffer) => number
  readonly actionsDestroy: (actions: Buffer) => number
  readonly actionsDup2: (actions: Buffer, fd: number, newFd: number) => number
  readonly actionsOpen: (actions: Buffer, fd: number, path: string, flags: number, mode: number) => number
  readonly attrInit: (attr: Buffer) => number
  readonly attrDestroy: (attr: Buffer) => number
  readonly attrSetFlags: (attr: Buffer, flags: number) => number
  readonly attrSetSigMask: (attr: Buffer, set: Buffer) => number
  readonly attrSetSigDefault: (attr: Buffer, set: Buffer) => number
  readonly sigEmptySet: (set: Buffer) => number
  readonly sigFillSet: (set: Buffer) => number
  readonly pipe2: (fds: Buffer, flags: number) => number
  readonly close: (fd: number) => number
  readonly waitpid: (pid: number, status: Array<number>, options: number) => number
  readonly errno: () => number
}

let bound: Bindings | undefined

const bindings = (): Bindings => {
  if (bound !== undefined) return bound
  const koffi = loadKoffi()
  const lib = koffi.load("libc.so.6")
  bound = {
    posixSpawn: lib.func("int posix_spawn(_Out_ int *pid, const char *path, void *actions, void *attr, const char **argv, const char **envp)"),
    actionsInit: lib.func("int posix_spawn_file_actions_init(void *actions)"),
    actionsDestroy: lib.func("int posix_spawn_file_actions_destroy(void *actions)"),
    actionsDup2: lib.func("int posix_spawn_file_actions_adddup2(void *actions, int fd, int newfd)"),
    actionsOpen: lib.func("int posix_spawn_file_actions_addopen(void *actions, int fd, const char *path, int flags, unsigned int mode)"),
    attrInit: lib.func("int posix_spawnattr_init(void *attr)"),
    attrDestroy: lib.func("int posix_spawnattr_destroy(void *attr)"),
    attrSetFlags: lib.func("int posix_spawnattr_setflags(void *attr, short flags)"),
    attrSetSigMask: lib.func("int posix_spawnattr_setsigmask(void *attr, void *set)"),
    attrSetSigDefault: lib.func("int posix_spawnattr_setsigdefault(void *attr, void *set)"),
    sigEmptySet: lib.func("int sigemptyset(void *set)"),
    sigFillSet: lib.func("int sigfillset(void *set)"),
    pipe2: lib.func("int pipe2(void *fds, int flags)"),
    close: lib.func("int close(int fd)"),
    waitpid: lib.func("int waitpid(int pid, _Out_ int *status, int options)"),
    errno: () => koffi.errno()
  }
  return bound
}

/** Whether koffi and these functions load here (a machine without koffi's binary uses Node's spawner). */
export const available = (): boolean => {
  try {
    bindings()
    return true
  } catch {
    return false
  }
}

/** Pids started here and not yet waited for: the reaper must not take their exits. */
export const running = new Set<number>()

export type Output = "pipe" | "inherit" | "ignore"

export interface Spawned {
  readonly pid: number
  /** Read ends of the output pipes (close-on-exec), when piped. */
  readonly stdout: number | null
  readonly stderr: number | null
}

/** A pipe whose both ends are close-on-exec; the child's end is dup2'd onto its fd. */
const pipe = (b: Bindings): [number, number] => {
  const fds = Buffer.alloc(8)
  if (b.pipe2(fds, O_CLOEXEC) !== 0) throw new Error(`pipe2 failed (errno ${b.errno()})`)
  return [fds.readInt32LE(0), fds.readInt32LE(4)]
}

/**
 * Starts `path` (absolute) with `argv` and exactly `env`, stdin from /dev/null, in a new session
 * (its own process group, as Node's `detached`), every signal at its default and none blocked.
 * Returns the errno as `error` when the exec fails (ENOENT, EACCES, ...).
 */
export const spawn = (path: string, argv: ReadonlyArray<string>, env: ReadonlyArray<string>, stdout: Output, stderr: Output): Spawned | { readonly error: number } => {
  const b = bindings()
  const actions = Buffer.alloc(opaqueBytes)
  const attr = Buffer.alloc(opaqueBytes)
  const set = Buffer.alloc(opaqueBytes)
  const opened: Array<number> = []
  const outputs: Array<number | null> = []
  b.actionsInit(actions)
  b.attrInit(attr)
  try {
    b.actionsOpen(actions, 0, "/dev/null", O_RDONLY, 0)
    for (const [fd, mode] of [[1, stdout], [2, stderr]] as const) {
      if (mode === "pipe") {
        const [read, write] = pipe(b)
        opened.push(read, write)
        b.actionsDup2(actions, write, fd)
        outputs.push(read)
      } else {
        if (mode === "ignore") b.actionsOpen(actions, fd, "/dev/null", O_WRONLY, 0)
        outputs.push(null)
      }
    }
    b.sigEmptySet(set)
    b.attrSetSigMask(attr, set)
    b.sigFillSet(set)
    b.attrSetSigDefault(attr, set)
    b.attrSetFlags(attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSID)
    const pid = [0]
    const code = b.posixSpawn(pid, path, actions, attr, [...argv, null], [...env, null])
    // The child has its copies (or never started): the parent keeps only the read ends.
    for (let i = 1; i < opened.length; i += 2) b.close(opened[i]!)
    if (code !== 0) {
      for (let i = 0; i < opened.length; i += 2) b.close(opened[i]!)
      return { error: code }
    }
    running.add(pid[0]!)
    return { pid: pid[0]!, stdout: outputs[0] ?? null, stderr: outputs[1] ?? null }
  } catch (error) {
    for (const fd of opened) b.close(fd)
    throw error
  } finally {
    b.actionsDestroy(actions)
    b.attrDestroy(attr)
  }
}

/** How a child ended: its exit code, the signal that killed it, or neither when another waiter took it. */
export type Ended = { readonly code: number; readonly signal: null } | { readonly code: null; readonly signal: number } | { readonly code: null; readonly signal: null }

const ECHILD = 10

/** Waits for `pid` without blocking: its end, or undefined while it runs. */
export const poll = (pid: number): Ended | undefined => {
  const b = bindings()
  const status = [0]
  const got = b.waitpid(pid, status, 1)
  if (got === -1 && b.errno() === ECHILD) {
    running.delete(pid)
    return { code: null, signal: null }
  }
  if (got !== pid) return undefined
  running.delete(pid)
  const s = status[0]!
  const signal = s & 0x7f
  return signal === 0 ? { code: (s >> 8) & 0xff, signal: null } : { code: null, signal }
}

