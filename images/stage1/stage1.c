/*
 * KeelOS stage 1: the initramfs /init (DESIGN section 3). The one piece of KeelOS not in
 * TypeScript, kept small enough to read at once. It loads the modules listed in /modules.order
 * (already in dependency order), mounts the root slot chosen by GRUB (keel.slot=A|B on the kernel
 * command line) read-only by its GPT label KEELOS_ROOT_<slot>, moves /dev /proc /sys into it,
 * switches root, and execs keel-init on Node as PID 1. Any failure prints one line and powers off:
 * a stage 1 that cannot find its root must not loop.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static void fail(const char *what) {
  fprintf(stderr, "KEEL-STAGE1 FATAL %s: %s\n", what, strerror(errno));
  sync();
  reboot(RB_POWER_OFF);
  for (;;) pause();
}

static void load_modules(void) {
  FILE *list = fopen("/modules.order", "r");
  char path[512];
  if (!list) return;
  while (fgets(path, sizeof path, list)) {
    path[strcspn(path, "\n")] = 0;
    if (!path[0]) continue;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail(path);
    if (syscall(SYS_finit_module, fd, "", 0) != 0 && errno != EEXIST) fail(path);
    close(fd);
  }
  fclose(list);
}

/* The slot from keel.slot= on the kernel command line; A when absent. */
static char chosen_slot(void) {
  char line[4096] = {0};
  int fd = open("/proc/cmdline", O_RDONLY);
  if (fd < 0) fail("/proc/cmdline");
  if (read(fd, line, sizeof line - 1) < 0) fail("read /proc/cmdline");
  close(fd);
  char *at = strstr(line, "keel.slot=");
  return at && (at[10] == 'A' || at[10] == 'B') ? at[10] : 'A';
}

/* Finds /dev/<name> of the partition whose PARTNAME is `label`; waits for late devices. */
static int find_partition(const char *label, char *device, size_t size) {
  char want[64], path[512], uevent[4096];
  snprintf(want, sizeof want, "PARTNAME=%s\n", label);
  for (int attempt = 0; attempt < 100; attempt++) {
    DIR *dir = opendir("/sys/class/block");
    if (!dir) fail("/sys/class/block");
    struct dirent *entry;
    while ((entry = readdir(dir))) {
      if (entry->d_name[0] == '.') continue;
      snprintf(path, sizeof path, "/sys/class/block/%s/uevent", entry->d_name);
      int fd = open(path, O_RDONLY);
      if (fd < 0) continue;
      ssize_t n = read(fd, uevent, sizeof uevent - 1);
      close(fd);
      if (n <= 0) continue;
      uevent[n] = 0;
      if (strstr(uevent, want)) {
        snprintf(device, size, "/dev/%s", entry->d_name);
        closedir(dir);
        return 0;
      }
    }
    closedir(dir);
    usleep(50000);
  }
  return -1;
}

int main(void) {
  mkdir("/dev", 0755);
  mkdir("/proc", 0555);
  mkdir("/sys", 0555);
  mkdir("/newroot", 0755);
  if (mount("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755") != 0 && errno != EBUSY) fail("mount /dev");
  if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0) fail("mount /proc");
  if (mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0) fail("mount /sys");
  load_modules();

  char label[32], device[300];
  snprintf(label, sizeof label, "KEELOS_ROOT_%c", chosen_slot());
  if (find_partition(label, device, sizeof device) != 0) {
    errno = ENOENT;
    fail(label);
  }
  if (mount(device, "/newroot", "squashfs", MS_RDONLY, NULL) != 0) fail("mount root slot");
  printf("KEEL-STAGE1 root %s from %s\n", label, device);
  fflush(stdout);

  if (mount("/dev", "/newroot/dev", NULL, MS_MOVE, NULL) != 0) fail("move /dev");
  if (mount("/proc", "/newroot/proc", NULL, MS_MOVE, NULL) != 0) fail("move /proc");
  if (mount("/sys", "/newroot/sys", NULL, MS_MOVE, NULL) != 0) fail("move /sys");
  if (chdir("/newroot") != 0) fail("chdir /newroot");
  if (mount(".", "/", NULL, MS_MOVE, NULL) != 0) fail("switch root");
  if (chroot(".") != 0) fail("chroot");
  if (chdir("/") != 0) fail("chdir /");
  /* --lite-mode: PID 1 idles and waits on I/O; V8 without its optimizing tiers keeps it near 70 MB
     resident instead of 125 (npm run bench -- supervisor). The malloc tunable returns what Node
     frees after start-up to the kernel. The startup snapshot holds keel-init with its modules
     already evaluated. Keep in step with initNodeFlags, initNodeEnv and stageOneConfig in
     images/src/build.ts. */
  char *const argv[] = {"keel-init", "--lite-mode", "--snapshot-blob", "/usr/lib/keel/keel-init.blob", NULL};
  char *const envp[] = {"PATH=/usr/bin:/usr/sbin", "GLIBC_TUNABLES=glibc.malloc.mmap_threshold=32768", NULL};
  execve("/usr/bin/node", argv, envp);
  fail("exec /usr/bin/node");
  return 1;
}
