/*
 * The qemu side of vmm: the argv for KVM and TCG, the KVM probe's time bound,
 * the QMP client against a scripted fake server (events skipped, errors
 * carried) and against nobody, and one real boot of the host's kernel under
 * TCG with a busybox initramfs, controlled over QMP until qemu quits.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmm/vmm.h"
#include "vmm/vmm_test.h"

#define BOOT_MARKER "HEARTH-VMM-TEST-BOOTED"
#define BOOT_TIMEOUT_MS 90000
#define CONSOLE_MAX (4u << 20)

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Index of the first argv element equal to s, or -1. */
static int argv_find(char **argv, const char *s) {
    for (int i = 0; argv[i]; i++)
        if (strcmp(argv[i], s) == 0)
            return i;
    return -1;
}

/* The value after option opt (asserting it is there). */
static const char *argv_value(char **argv, const char *opt) {
    int i = argv_find(argv, opt);
    assert_true(i >= 0);
    assert_non_null(argv[i + 1]);
    return argv[i + 1];
}

static bool host_has_constant_tsc(void) {
    FILE *f = fopen("/proc/cpuinfo", "re");
    if (!f)
        return false;
    char line[8192];
    bool found = false;
    while (!found && fgets(line, sizeof(line), f))
        if (strncmp(line, "flags", 5) == 0 && strstr(line, " constant_tsc"))
            found = true;
    fclose(f);
    return found;
}

static struct vmm_config base_config(void) {
    return (struct vmm_config){
        .vm_id = "0123456789abcdef",
        .kernel = "/boot/vmlinuz-test",
        .cmdline = "console=ttyS0 panic=-1",
        .disk = "/var/lib/hearth/disk,1.img",
        .cpus = 2,
        .memory = 256ull << 20,
        .api_socket = "/run/hearth/q.sock",
    };
}

static void test_argv_tcg_initrd(void **state) {
    (void)state;
    struct vmm_config cfg = base_config();
    cfg.initrd = "/boot/initrd-test";
    char **argv = NULL;
    struct error err;
    error_init(&err);
    assert_int_equal(vmm_qemu_argv("/usr/bin/qemu-system-x86_64", &cfg, false, &argv, &err), 0);
    assert_string_equal(argv[0], "/usr/bin/qemu-system-x86_64");
    const char *machine = argv_value(argv, "-M");
    assert_true(str_starts_with(machine, "microvm"));
    assert_non_null(strstr(machine, "acpi=on"));
    assert_null(strstr(machine, "pit=off"));
    assert_null(strstr(machine, "pic=off"));
    assert_string_equal(argv_value(argv, "-accel"), "tcg");
    assert_string_equal(argv_value(argv, "-cpu"), "max");
    assert_string_equal(argv_value(argv, "-smp"), "2");
    assert_string_equal(argv_value(argv, "-m"), "256M");
    assert_string_equal(argv_value(argv, "-kernel"), "/boot/vmlinuz-test");
    assert_string_equal(argv_value(argv, "-initrd"), "/boot/initrd-test");
    assert_string_equal(argv_value(argv, "-serial"), "stdio");
    assert_string_equal(argv_value(argv, "-nic"), "none");
    assert_int_equal(argv_find(argv, "-netdev"), -1);
    assert_true(argv_find(argv, "-nographic") > 0);
    assert_true(argv_find(argv, "-no-reboot") > 0);
    /* The comma in the disk path is doubled, QEMU's escape. */
    assert_string_equal(argv_value(argv, "-drive"),
                        "file=/var/lib/hearth/disk,,1.img,if=none,id=rootfs,format=raw");
    assert_string_equal(argv_value(argv, "-device"), "virtio-blk-device,drive=rootfs");
    assert_string_equal(argv_value(argv, "-qmp"), "unix:/run/hearth/q.sock,server=on,wait=off");
    const char *append = argv_value(argv, "-append");
    assert_true(str_starts_with(append, "console=ttyS0 panic=-1"));
    if (host_has_constant_tsc()) {
        const char *tsc = strstr(append, " tsc_early_khz=");
        assert_non_null(tsc);
        uint64_t khz = 0;
        assert_int_equal(parse_u64(tsc + strlen(" tsc_early_khz="), UINT64_MAX, &khz), 0);
        assert_true(khz > 0);
    } else {
        assert_string_equal(append, "console=ttyS0 panic=-1");
    }
    vmm_argv_free(argv);
}

static void test_argv_kvm_tap(void **state) {
    (void)state;
    struct vmm_config cfg = base_config();
    cfg.disk = "/dev/mapper/hearth-0123";
    cfg.disk_read_only = true;
    cfg.tap = "hearth0";
    cfg.mac = "02:00:0a:00:00:02";
    cfg.cpus = 1;
    cfg.memory = 1ull << 30;
    char **argv = NULL;
    struct error err;
    error_init(&err);
    assert_int_equal(vmm_qemu_argv("qemu-system-x86_64", &cfg, true, &argv, &err), 0);
    assert_string_equal(argv_value(argv, "-accel"), "kvm");
    assert_string_equal(argv_value(argv, "-cpu"), "host");
    assert_string_equal(argv_value(argv, "-smp"), "1");
    assert_string_equal(argv_value(argv, "-m"), "1024M");
    assert_int_equal(argv_find(argv, "-initrd"), -1);
    assert_int_equal(argv_find(argv, "-nic"), -1);
    /* No TSC hint under KVM: the command line is passed through as is. */
    assert_string_equal(argv_value(argv, "-append"), "console=ttyS0 panic=-1");
    assert_string_equal(argv_value(argv, "-drive"),
                        "file=/dev/mapper/hearth-0123,if=none,id=rootfs,format=raw,readonly=on");
    assert_string_equal(argv_value(argv, "-netdev"),
                        "tap,id=net0,ifname=hearth0,script=no,downscript=no");
    int dev = argv_find(argv, "-device");
    assert_true(dev > 0);
    assert_string_equal(argv[dev + 1], "virtio-blk-device,drive=rootfs");
    int dev2 = argv_find(argv + dev + 1, "-device");
    assert_true(dev2 > 0);
    assert_string_equal(argv[dev + 1 + dev2 + 1],
                        "virtio-net-device,netdev=net0,mac=02:00:0a:00:00:02");
    assert_string_equal(argv_value(argv, "-name"), "hearth-0123456789abcdef");
    vmm_argv_free(argv);
}

static void test_argv_rejects_bad_config(void **state) {
    (void)state;
    char **argv = NULL;
    struct error err;

    struct vmm_config cfg = base_config();
    cfg.cpus = 0;
    error_init(&err);
    assert_int_equal(vmm_qemu_argv("qemu", &cfg, false, &argv, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "vcpus"));

    cfg = base_config();
    cfg.memory = (256ull << 20) + 1;
    error_init(&err);
    assert_int_equal(vmm_qemu_argv("qemu", &cfg, false, &argv, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "memory"));

    cfg = base_config();
    cfg.tap = "tap0";
    error_init(&err);
    assert_int_equal(vmm_qemu_argv("qemu", &cfg, false, &argv, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "mac"));

    cfg = base_config();
    cfg.tap = "tap0,script=/evil";
    cfg.mac = "02:00:00:00:00:01";
    error_init(&err);
    assert_int_equal(vmm_qemu_argv("qemu", &cfg, false, &argv, &err), -EINVAL);

    cfg = base_config();
    cfg.disk = NULL;
    error_init(&err);
    assert_int_equal(vmm_qemu_argv("qemu", &cfg, false, &argv, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "disk"));
    assert_null(argv);
}

/* Every allocation failure while building the argv gives -ENOMEM and leaks nothing. */
static void test_argv_allocation_failures(void **state) {
    (void)state;
    struct vmm_config cfg = base_config();
    cfg.initrd = "/boot/initrd-test";
    cfg.tap = "tap0";
    cfg.mac = "02:00:00:00:00:01";
    int failures = 0;
    for (long n = 1; n < 1000; n++) {
        char **argv = NULL;
        struct error err;
        error_init(&err);
        util_alloc_fail_after(n);
        int r = vmm_qemu_argv("qemu-system-x86_64", &cfg, false, &argv, &err);
        util_alloc_fail_after(0);
        if (r == 0) {
            assert_non_null(argv);
            vmm_argv_free(argv);
            break;
        }
        assert_int_equal(r, -ENOMEM);
        assert_null(argv);
        failures++;
    }
    assert_true(failures > 10);
}

static void test_kvm_probe_is_bounded(void **state) {
    (void)state;
    char why[256];
    memset(why, 'x', sizeof(why));
    int64_t t0 = now_ms();
    bool ok = vmm_kvm_usable(why, sizeof(why));
    int64_t took = now_ms() - t0;
    print_message("kvm usable: %s%s%s (%lld ms)\n", ok ? "yes" : "no", ok ? "" : ": ",
                  ok ? "" : why, (long long)took);
    /* The probe's own bound is 2 s; this limit only catches a hang. */
    assert_true(took < 60000);
    assert_non_null(memchr(why, '\0', sizeof(why)));
    if (!ok)
        assert_true(strlen(why) > 0);
}

/* ---- QMP against a scripted fake and against nobody ------------------------ */

static void make_tmpdir(char *dir, size_t size) {
    snprintf(dir, size, "/tmp/hearth-vmm-qemu.XXXXXX");
    assert_non_null(mkdtemp(dir));
}

static void write_all(int fd, const char *s) {
    size_t len = strlen(s), off = 0;
    while (off < len) {
        ssize_t n = write(fd, s + off, len - off);
        if (n <= 0)
            _exit(3);
        off += (size_t)n;
    }
}

/* Reads one line from fd into line (the fake's side); false on EOF. */
static bool read_line(int fd, char *line, size_t size) {
    size_t n = 0;
    while (n + 1 < size) {
        char c;
        if (read(fd, &c, 1) != 1)
            return false;
        if (c == '\n')
            break;
        line[n++] = c;
    }
    line[n] = '\0';
    return true;
}

/*
 * A fake QMP server in a child: for each of `connections` clients, greets,
 * answers qmp_capabilities (after an event), then answers one command:
 * query-status with "running", system_powerdown with an error, quit by
 * closing the connection. With garbage set, it greets with a line that is
 * not JSON instead.
 */
static pid_t fake_qmp_start(const char *path, int connections, bool garbage) {
    int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(lfd >= 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    assert_true(strlen(path) < sizeof(addr.sun_path));
    memcpy(addr.sun_path, path, strlen(path) + 1);
    assert_int_equal(bind(lfd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    assert_int_equal(listen(lfd, 4), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(20);
        for (int i = 0; i < connections; i++) {
            int c = accept(lfd, NULL, NULL);
            if (c < 0)
                _exit(2);
            char line[1024];
            if (garbage) {
                write_all(c, "QEMU says hello\r\n");
                char drain[64];
                while (read(c, drain, sizeof(drain)) > 0)
                    ;
                close(c);
                continue;
            }
            write_all(c, "{\"QMP\": {\"version\": {}, \"capabilities\": []}}\r\n");
            if (!read_line(c, line, sizeof(line)) || !strstr(line, "qmp_capabilities"))
                _exit(4);
            write_all(c, "{\"event\": \"RTC_CHANGE\", \"data\": {\"offset\": 0}}\r\n"
                         "{\"return\": {}}\r\n");
            if (!read_line(c, line, sizeof(line)))
                _exit(5);
            if (strstr(line, "query-status"))
                write_all(c, "{\"return\": {\"status\": \"running\", \"running\": true}}\r\n");
            else if (strstr(line, "\"quit\""))
                ; /* close without an answer, as a quitting qemu may */
            else if (strstr(line, "system_powerdown"))
                write_all(c, "{\"error\": {\"class\": \"GenericError\", \"desc\": \"no "
                             "power button here\"}}\r\n");
            else
                _exit(6);
            close(c);
        }
        _exit(0);
    }
    close(lfd);
    return pid;
}

static void test_qmp_fake_server(void **state) {
    (void)state;
    char dir[64], path[100];
    make_tmpdir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/qmp.sock", dir);
    pid_t pid = fake_qmp_start(path, 3, false);

    struct error err;
    error_init(&err);
    char *status = NULL;
    assert_int_equal(vmm_qmp_status(path, 5000, &status, &err), 0);
    assert_string_equal(status, "running");
    free(status);

    error_init(&err);
    assert_int_equal(vmm_qmp_powerdown(path, 5000, &err), -EIO);
    assert_string_equal(err.msg, "qemu refused system_powerdown: no power button here");

    error_init(&err);
    assert_int_equal(vmm_qmp_quit(path, 5000, &err), 0);

    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    unlink(path);

    /* A server that is not QMP. */
    pid = fake_qmp_start(path, 1, true);
    error_init(&err);
    status = NULL;
    assert_int_equal(vmm_qmp_status(path, 5000, &status, &err), -EPROTO);
    assert_null(status);
    assert_non_null(strstr(err.msg, "qmp greeting: qemu sent malformed json"));
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    unlink(path);
    rmdir(dir);
}

static void test_qmp_nobody_listening(void **state) {
    (void)state;
    char dir[64], path[100];
    make_tmpdir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/qmp.sock", dir);

    /* No socket file at all: retried until the timeout. */
    struct error err;
    error_init(&err);
    char *status = NULL;
    int64_t t0 = now_ms();
    assert_int_equal(vmm_qmp_status(path, 300, &status, &err), -ETIMEDOUT);
    int64_t took = now_ms() - t0;
    /* It kept trying for the timeout; the upper limit only catches a hang. */
    assert_true(took >= 250 && took < 60000);
    assert_null(status);
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, "did not accept a connection"));

    /* A socket file that nobody listens on any more. */
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    assert_true(strlen(path) < sizeof(addr.sun_path));
    memcpy(addr.sun_path, path, strlen(path) + 1);
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    close(fd);
    error_init(&err);
    assert_int_equal(vmm_qmp_quit(path, 200, &err), -ETIMEDOUT);
    assert_non_null(strstr(err.msg, "did not accept a connection"));

    /* A listener that never greets: the read times out. */
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    unlink(path);
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    assert_int_equal(listen(fd, 1), 0);
    error_init(&err);
    assert_int_equal(vmm_qmp_powerdown(path, 200, &err), -ETIMEDOUT);
    assert_non_null(strstr(err.msg, "did not answer"));
    close(fd);

    unlink(path);
    rmdir(dir);
}

/* ---- a real boot under TCG -------------------------------------------------- */

/* Appends one newc cpio entry to f. */
static void cpio_add(FILE *f, const char *name, unsigned mode, const void *data, size_t size,
                     unsigned ino) {
    size_t namesize = strlen(name) + 1;
    assert_true(fprintf(f, "070701%08X%08X%08X%08X%08X%08X%08zX%08X%08X%08X%08X%08zX%08X", ino,
                        mode, 0u, 0u, 1u, 0u, size, 0u, 0u, 0u, 0u, namesize, 0u) == 110);
    assert_int_equal(fwrite(name, 1, namesize, f), namesize);
    static const char zeros[4] = {0};
    size_t pad = (4 - (110 + namesize) % 4) % 4;
    assert_int_equal(fwrite(zeros, 1, pad, f), pad);
    if (size) {
        assert_int_equal(fwrite(data, 1, size, f), size);
        pad = (4 - size % 4) % 4;
        assert_int_equal(fwrite(zeros, 1, pad, f), pad);
    }
}

static void build_initramfs(const char *path, const char *busybox) {
    struct strbuf bb = STRBUF_INIT;
    struct error err;
    error_init(&err);
    assert_int_equal(strbuf_read_file(&bb, busybox, 64u << 20, &err), 0);
    static const char init[] = "#!/bin/busybox sh\n"
                               "/bin/busybox echo " BOOT_MARKER "\n"
                               "exec /bin/busybox sleep 1000\n";
    FILE *f = fopen(path, "we");
    assert_non_null(f);
    cpio_add(f, "bin", 040755, NULL, 0, 1);
    cpio_add(f, "bin/busybox", 0100755, bb.buf, bb.len, 2);
    cpio_add(f, "init", 0100755, init, strlen(init), 3);
    cpio_add(f, "TRAILER!!!", 0, NULL, 0, 0);
    assert_int_equal(fclose(f), 0);
    strbuf_release(&bb);
}

/* The full path of prog on PATH into ret (size PATH_MAX), or false. */
static bool find_on_path(const char *prog, char *ret, size_t size) {
    const char *path = getenv("PATH");
    if (!path)
        path = "/usr/bin:/bin";
    while (*path) {
        const char *end = strchr(path, ':');
        size_t len = end ? (size_t)(end - path) : strlen(path);
        snprintf(ret, size, "%.*s/%s", (int)len, path, prog);
        if (len && access(ret, X_OK) == 0)
            return true;
        path += len + (end ? 1 : 0);
    }
    return false;
}

static void rm_tree_flat(const char *dir) {
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        char p[512];
        while ((e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
                snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
                unlink(p);
            }
        closedir(d);
    }
    rmdir(dir);
}

/* Waits for pid up to timeout_ms; true if it was reaped. */
static bool wait_exit(pid_t pid, int timeout_ms, int *status) {
    int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid)
            return true;
        if (now_ms() >= deadline)
            return false;
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static void test_qemu_boot_tcg(void **state) {
    (void)state;
    char qemu[4096];
    if (!find_on_path("qemu-system-x86_64", qemu, sizeof(qemu)))
        fail_msg("qemu-system-x86_64 not found: apt-get install qemu-system-x86 "
                 "(scripts/install-deps)");
    const char *busybox = "/bin/busybox";
    test_need_program(busybox, "busybox-static");
    glob_t g;
    if (glob("/boot/vmlinuz-*", 0, NULL, &g) != 0 || g.gl_pathc == 0)
        fail_msg("no /boot/vmlinuz-*: apt-get install linux-image-amd64 (scripts/install-deps)");
    char kernel[512];
    snprintf(kernel, sizeof(kernel), "%s", g.gl_pathv[g.gl_pathc - 1]);
    globfree(&g);

    char dir[64], initrd[128], disk[128], sock[128];
    make_tmpdir(dir, sizeof(dir));
    snprintf(initrd, sizeof(initrd), "%s/initrd.cpio", dir);
    snprintf(disk, sizeof(disk), "%s/disk.img", dir);
    snprintf(sock, sizeof(sock), "%s/qmp.sock", dir);
    build_initramfs(initrd, busybox);
    int dfd = open(disk, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    assert_true(dfd >= 0);
    assert_int_equal(ftruncate(dfd, 64ll << 20), 0);
    close(dfd);

    struct vmm_config cfg = {
        .vm_id = "00000000deadbeef",
        .kernel = kernel,
        .initrd = initrd,
        .cmdline = "console=ttyS0 panic=-1",
        .disk = disk,
        .cpus = 1,
        .memory = 256ull << 20,
        .api_socket = sock,
    };
    char **argv = NULL;
    struct error err;
    error_init(&err);
    assert_int_equal(vmm_qemu_argv(qemu, &cfg, false, &argv, &err), 0);

    int pipefd[2];
    assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
    int64_t t0 = now_ms();
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(pipefd[1], 1) < 0 || dup2(pipefd[1], 2) < 0)
            _exit(127);
        execv(argv[0], argv);
        _exit(127);
    }
    close(pipefd[1]);
    vmm_argv_free(argv);

    /* Read the console until the marker shows. */
    struct strbuf console = STRBUF_INIT;
    bool booted = false, eof = false;
    while (!booted && !eof && now_ms() - t0 < BOOT_TIMEOUT_MS) {
        struct pollfd pfd = {.fd = pipefd[0], .events = POLLIN};
        int r = poll(&pfd, 1, 500);
        if (r <= 0)
            continue;
        char buf[4096];
        ssize_t n = read(pipefd[0], buf, sizeof(buf));
        if (n <= 0) {
            eof = true;
            break;
        }
        if (console.len < CONSOLE_MAX)
            assert_int_equal(strbuf_add(&console, buf, (size_t)n), 0);
        booted = console.buf && memmem(console.buf, console.len, BOOT_MARKER "\r", 23) != NULL;
        if (!booted && console.buf)
            booted = memmem(console.buf, console.len, BOOT_MARKER "\n", 23) != NULL;
    }
    if (!booted) {
        kill(pid, SIGKILL);
        int st;
        waitpid(pid, &st, 0);
        size_t tail = console.len > 3000 ? console.len - 3000 : 0;
        print_message("qemu console (tail):\n%s\n", console.buf ? console.buf + tail : "");
        strbuf_release(&console);
        close(pipefd[0]);
        rm_tree_flat(dir);
        fail_msg("the guest did not print %s within %d ms", BOOT_MARKER, BOOT_TIMEOUT_MS);
    }
    print_message("guest booted in %lld ms\n", (long long)(now_ms() - t0));
    strbuf_release(&console);

    char *status = NULL;
    error_init(&err);
    int r = vmm_qmp_status(sock, 5000, &status, &err);
    if (r < 0)
        print_message("query-status: %s\n", err.msg);
    assert_int_equal(r, 0);
    assert_string_equal(status, "running");
    free(status);

    /* busybox has no acpid: the guest ignores the button, but qemu accepts it. */
    error_init(&err);
    r = vmm_qmp_powerdown(sock, 5000, &err);
    if (r < 0)
        print_message("system_powerdown: %s\n", err.msg);
    assert_int_equal(r, 0);
    status = NULL;
    error_init(&err);
    assert_int_equal(vmm_qmp_status(sock, 5000, &status, &err), 0);
    assert_string_equal(status, "running");
    free(status);

    error_init(&err);
    r = vmm_qmp_quit(sock, 5000, &err);
    if (r < 0)
        print_message("quit: %s\n", err.msg);
    assert_int_equal(r, 0);
    int st = 0;
    bool exited = wait_exit(pid, 5000, &st);
    if (!exited) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
    }
    close(pipefd[0]);
    rm_tree_flat(dir);
    assert_true(exited);
    assert_true(WIFEXITED(st));
}

int qemu_tests_run(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_argv_tcg_initrd),
        cmocka_unit_test(test_argv_kvm_tap),
        cmocka_unit_test(test_argv_rejects_bad_config),
        cmocka_unit_test(test_argv_allocation_failures),
        cmocka_unit_test(test_kvm_probe_is_bounded),
        cmocka_unit_test(test_qmp_fake_server),
        cmocka_unit_test(test_qmp_nobody_listening),
        cmocka_unit_test(test_qemu_boot_tcg),
    };
    return cmocka_run_group_tests_name("vmm_qemu", tests, NULL, NULL);
}
