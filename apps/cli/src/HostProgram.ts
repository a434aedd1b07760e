/**
 * Running a program on the operator's machine (qemu-img, qemu-system-x86_64, kill) for the commands
 * that manage local nodes: its exit code and the tail of what it printed, so a failure can be
 * reported in one line with the program's own reason. A program that is not installed is its own
 * error, with the Debian package that has it.
 */
import { Effect, Schema, Stream } from "effect"
import { ChildProcess, ChildProcessSpawner } from "effect/process"

export class HostProgramError extends Schema.TaggedError<HostProgramError>()("HostProgramError", {
  program: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `${this.program}: ${this.reason}`
  }
}

export interface Finished {
  readonly exitCode: number
  /** stdout and stderr together, at most the last `outputLimit` characters. */
  readonly output: string
}

const outputLimit = 16 * 1024

/** Debian packages that hold the programs osctl runs, for the "not installed" message. */
const packages: Record<string, string> = {
  "qemu-system-x86_64": "qemu-system-x86",
  "qemu-img": "qemu-utils"
}

const collect = (stream: Stream.Stream<Uint8Array, unknown>) =>
  stream.pipe(
    Stream.decodeText(),
    Stream.runFold(() => "", (text: string, chunk: string) => (text + chunk).slice(-outputLimit)),
    Effect.orElseSucceed(() => "")
  )

/** Runs `program` to its end. */
export const run = (program: string, args: ReadonlyArray<string>): Effect.Effect<Finished, HostProgramError, ChildProcessSpawner.ChildProcessSpawner> =>
  Effect.scoped(Effect.gen(function*() {
    const handle = yield* ChildProcess.make(program, args, { stdin: "ignore", stdout: "pipe", stderr: "pipe" })
    const [out, err, exitCode] = yield* Effect.all([collect(handle.stdout), collect(handle.stderr), handle.exitCode], { concurrency: 3 })
    return { exitCode, output: `${out}${err}`.trim() }
  })).pipe(
    Effect.mapError((error) => {
      const missing = /ENOENT/.test(String(error.message)) || /ENOENT/.test(String((error as { cause?: unknown }).cause))
      return new HostProgramError({
        program,
        reason: missing
          ? `not installed${packages[program] === undefined ? "" : `: apt-get install ${packages[program]}`}`
          : error.message
      })
    })
  )

/** Runs `program` and fails with its last line of output unless it exits 0. */
export const runOk = (program: string, args: ReadonlyArray<string>) =>
  Effect.flatMap(run(program, args), (finished) =>
    finished.exitCode === 0
      ? Effect.succeed(finished.output)
      : Effect.fail(new HostProgramError({
        program,
        reason: `exit ${finished.exitCode}: ${finished.output.split("\n").filter((l) => l.trim().length > 0).at(-1) ?? "no output"}`
      })))
