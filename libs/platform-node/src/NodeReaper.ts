/**
 * Reaps orphaned zombies without stealing the exits of Node's own children (boot.md G9): scan
 * /proc for zombies whose parent is this process, skip the pids Node or the fast spawner started, and waitpid each
 * remaining one by pid with WNOHANG. Works as PID 1, or as a child subreaper for host tests.
 */
import * as fs from "node:fs"
import { Effect, Layer } from "effect"
import { Reaper } from "@keelos/platform"
import { libc } from "./internal/libc.ts"
import * as PosixSpawn from "./internal/posixSpawn.ts"

const WNOHANG = 1
const PR_SET_CHILD_SUBREAPER = 36

/** Parses `/proc/<pid>/stat`: the comm field may contain spaces and parentheses. */
export const parseStat = (text: string): { readonly pid: number; readonly state: string; readonly ppid: number } | undefined => {
  const close = text.lastIndexOf(")")
  if (close === -1) return undefined
  const [state, ppid] = text.slice(close + 2).split(" ")
  const pid = Number(text.slice(0, text.indexOf(" ")))
  if (state === undefined || ppid === undefined || !Number.isInteger(pid)) return undefined
  return { pid, state, ppid: Number(ppid) }
}

/** Makes this process adopt orphaned descendants, as PID 1 does. */
export const becomeSubreaper = (): boolean => libc().prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) === 0

export const make: Reaper.Reaper["Service"] = {
  scan: (own) =>
    Effect.try({
      try: () => {
        const zombies: Array<number> = []
        const self = process.pid
        for (const entry of fs.readdirSync("/proc")) {
          if (!/^\d+$/.test(entry)) continue
          const pid = Number(entry)
          // The fast spawner's children are waited for by it, even before the supervisor knows their pids.
          if (own.has(pid) || PosixSpawn.running.has(pid)) continue
          let stat: ReturnType<typeof parseStat>
          try {
            stat = parseStat(fs.readFileSync(`/proc/${entry}/stat`, "utf8"))
          } catch {
            continue // exited meanwhile
          }
          if (stat !== undefined && stat.state === "Z" && stat.ppid === self) zombies.push(pid)
        }
        return zombies
      },
      catch: (error) => new Reaper.ReaperError({ operation: "scan", reason: "Io", detail: (error as Error).message })
    }),
  reap: (pid) =>
    Effect.sync(() => {
      const status = [0]
      return libc().waitpid(pid, status, WNOHANG) === pid ? { pid, status: status[0] ?? 0 } : undefined
    })
}

export const layer: Layer.Layer<Reaper.Reaper> = Layer.succeed(Reaper.Reaper)(make)
