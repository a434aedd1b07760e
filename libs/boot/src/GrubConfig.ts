/**
 * Compiles the decision rows of `BootDecision` into GRUB 2.06 script.
 *
 * `chooser()` is a function `keel_choose` that reads the block named by `$keel_env`, applies the
 * rows, saves the counter and leaves the slot to boot in `$keel_boot`. `bootConfig()` wraps it into
 * the grub.cfg the disk image embeds: find the ESP, choose, load kernel and initramfs from the
 * chosen slot's SquashFS, and if that slot cannot be loaded, spend its tries and reboot so the next
 * power-on falls back.
 */
import { BootEnv } from "@keelos/domain"
import * as BootDecision from "./BootDecision.ts"

const quote = (value: string) => `"${value.replace(/(["\\$])/g, "\\$1")}"`

const actionLines = (action: BootDecision.Action): Array<string> => [
  `    # ${action.why}`,
  action.boot === "next" ? `    set keel_boot="$${BootEnv.BootVariable.next}"` : `    set keel_boot="$keel_active"`,
  ...(action.clearNext ? [`    unset ${BootEnv.BootVariable.next}`] : []),
  action.tries === null ? `    unset ${BootEnv.BootVariable.tries}` : `    set ${BootEnv.BootVariable.tries}=${quote(action.tries)}`
]

/** The `keel_choose` GRUB function generated from `BootDecision.rules`. */
export const chooser = (): string => {
  const { active, next, tries, booted } = BootEnv.BootVariable
  const lines = [
    "# Generated from libs/boot/src/BootDecision.ts: edit the rules there, not this text.",
    "function keel_choose {",
    ...BootDecision.loaded.map((name) => `  unset ${name}`),
    `  load_env --file "$keel_env" ${BootDecision.loaded.join(" ")}`,
    `  if [ "$${active}" = "B" ]; then set keel_active=B; else set keel_active=${BootDecision.defaultActive}; fi`,
    `  if [ "$${next}" = "A" ]; then set keel_trial=1; elif [ "$${next}" = "B" ]; then set keel_trial=1; else set keel_trial=0; fi`,
    `  set keel_case="$keel_trial/$${tries}"`
  ]
  BootDecision.rules.forEach((rule, index) => {
    const keyword = index === 0 ? "if" : "elif"
    const test = rule.when.tries === "*"
      ? `[ "$keel_trial" = "${rule.when.trial ? 1 : 0}" ]`
      : `[ "$keel_case" = ${quote(`${rule.when.trial ? 1 : 0}/${rule.when.tries}`)} ]`
    lines.push(`  ${keyword} ${test}; then`, ...actionLines(rule.then))
  })
  lines.push(
    "  fi",
    `  set ${booted}="$keel_boot"`,
    `  save_env --file "$keel_env" ${BootDecision.saved.join(" ")}`,
    "}"
  )
  return lines.join("\n") + "\n"
}

export interface BootConfigOptions {
  /** GPT partition numbers of the root slots (GRUB 2.06 cannot search by partition label). */
  readonly partitions: { readonly A: number; readonly B: number }
  /** Path of the environment block on the ESP. */
  readonly envPath: string
  /** Kernel and initramfs paths inside a slot's SquashFS. */
  readonly kernel: string
  readonly initrd: string
  /** Extra kernel command line; `keel.slot=<slot>` is always added. */
  readonly cmdline: string
}

export const defaultBootConfig: BootConfigOptions = {
  partitions: { A: 3, B: 4 },
  envPath: "/EFI/keel/grubenv",
  kernel: "/boot/vmlinuz",
  initrd: "/boot/initrd",
  // cryptomgr.notests skips the kernel's crypto self-tests and the blacklist skips setting up kprobe
  // trace events (nothing on a node traces): 1.2 s of initcalls under TCG by initcall_debug, and
  // 0.4 s earlier to stage 1 over three direct kernel boots each way.
  cmdline: "console=ttyS0 panic=-1 quiet cryptomgr.notests initcall_blacklist=init_kprobe_trace"
}

/** The full grub.cfg embedded into the EFI and BIOS GRUB images. */
export const bootConfig = (options: BootConfigOptions = defaultBootConfig): string =>
  [
    "set timeout=0",
    "set pager=0",
    "insmod part_gpt",
    "insmod fat",
    "insmod squash4",
    "insmod lzopio",
    "insmod gzio",
    "insmod xzio",
    "insmod loadenv",
    "insmod regexp",
    "insmod test",
    "insmod echo",
    "insmod linux",
    "insmod reboot",
    "# On BIOS the console is VGA: mirror it to the first serial port, as OVMF does on UEFI.",
    `if [ "$grub_platform" = "pc" ]; then insmod serial; insmod terminal; serial --unit=0 --speed=115200; terminal_input serial console; terminal_output serial console; fi`,
    "",
    chooser(),
    `search --no-floppy --file --set=keel_esp ${options.envPath}`,
    `regexp --set=1:keel_disk '^([^,]+),' "$keel_esp"`,
    `set keel_env="($keel_esp)${options.envPath}"`,
    "keel_choose",
    `if [ "$keel_boot" = "B" ]; then set keel_part=gpt${options.partitions.B}; else set keel_part=gpt${options.partitions.A}; fi`,
    `echo "KEEL-GRUB boot=$keel_boot tries=$${BootEnv.BootVariable.tries}"`,
    `if linux "($keel_disk,$keel_part)${options.kernel}" ${options.cmdline} keel.slot=$keel_boot; then`,
    `  if initrd "($keel_disk,$keel_part)${options.initrd}"; then boot; fi`,
    "fi",
    "# The chosen slot cannot be loaded: spend its tries so the next power-on falls back.",
    `echo "KEEL-GRUB slot $keel_boot cannot be loaded"`,
    `set ${BootEnv.BootVariable.tries}=0`,
    `save_env --file "$keel_env" ${BootEnv.BootVariable.tries}`,
    "reboot",
    ""
  ].join("\n")
