/*
 * The qemu side of vmm: the argv for KVM and TCG, the KVM probe's time bound,
 * the QMP client against a scripted fake server (events skipped, errors
 * carried) and against nobody, the event channel against a fake that sends
 * each kind of end, and real boots of the host's kernel under TCG with a
 * busybox initramfs: one controlled over QMP until qemu quits, one whose
 * guest reboots (reboot=k, the i8042 reset line) and one whose guest panics
 * (pvpanic), each of which ends qemu by itself, the events telling which.
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

#include "vmm/vmm_priv.h"
#include "vmm/vmm_test.h"

#define BOOT_MARKER "HEARTH-VMM-TEST-BOOTED"
#define BOOT_TIMEOUT_MS 90000
#define CONSOLE_MAX (4u << 20)

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
    assert_true(argv_find(argv, "-S") > 0); /* resumed by the driver once events are heard */
    assert_string_equal(argv_value(argv, "-action"), "panic=exit-failure");
    /* The reset line of reboot=k and the panic device. */
    bool i8042 = false, pvpanic = false;
    for (int i = 0; argv[i]; i++)
        if (strcmp(argv[i], "-device") == 0) {
            i8042 |= strcmp(argv[i + 1], "i8042") == 0;
            pvpanic |= strcmp(argv[i + 1], "pvpanic") == 0;
        }
    assert_true(i8042);
    assert_true(pvpanic);
    /* No events socket given: one QMP socket. */
    int q = argv_find(argv, "-qmp");
    assert_int_equal(argv_find(argv + q + 1, "-qmp"), -1);
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

    /* With an events socket: a second QMP monitor on it. */
    cfg.events_socket = "/run/hearth/ev,1.sock";
    error_init(&err);
    assert_int_equal(vmm_qemu_argv("qemu-system-x86_64", &cfg, true, &argv, &err), 0);
    int q = argv_find(argv, "-qmp");
    assert_true(q > 0);
    assert_string_equal(argv[q + 1], "unix:/run/hearth/q.sock,server=on,wait=off");
    int q2 = argv_find(argv + q + 1, "-qmp");
    assert_true(q2 > 0);
    assert_string_equal(argv[q + 1 + q2 + 1], "unix:/run/hearth/ev,,1.sock,server=on,wait=off");
    vmm_argv_free(argv);
    assert_string_equal(vmm_events_socket_name(VMM_QEMU), "qmp-events.sock");
    assert_null(vmm_events_socket_name(VMM_FIRECRACKER));
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
    int64_t t0 = time_now_ms();
    bool ok = vmm_kvm_usable(why, sizeof(why));
    int64_t took = time_now_ms() - t0;
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

/*
 * A fake QMP event source in a child: greets, answers qmp_capabilities,
 * then sends lines (each write split in two, as a socket may deliver them)
 * and closes.
 */
static pid_t fake_events_start(const char *path, const char *const *lines, size_t n) {
    int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(lfd >= 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    memcpy(addr.sun_path, path, strlen(path) + 1);
    unlink(path);
    assert_int_equal(bind(lfd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    assert_int_equal(listen(lfd, 1), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(20);
        int c = accept(lfd, NULL, NULL);
        if (c < 0)
            _exit(2);
        char line[1024];
        write_all(c, "{\"QMP\": {\"version\": {}, \"capabilities\": []}}\r\n");
        if (!read_line(c, line, sizeof(line)) || !strstr(line, "qmp_capabilities"))
            _exit(4);
        write_all(c, "{\"return\": {}}\r\n");
        for (size_t i = 0; i < n; i++) {
            size_t half = strlen(lines[i]) / 2;
            char first[1024];
            snprintf(first, sizeof(first), "%.*s", (int)half, lines[i]);
            write_all(c, first);
            struct timespec ts = {0, 20 * 1000000L};
            nanosleep(&ts, NULL);
            write_all(c, lines[i] + half);
        }
        close(c);
        _exit(0);
    }
    close(lfd);
    return pid;
}

/* Reads the fake's events to their end; what they told. */
static enum vmm_end events_end_of(const char *path, const char *const *lines, size_t n) {
    pid_t pid = fake_events_start(path, lines, n);
    struct vmm_events ev;
    struct error err;
    error_init(&err);
    if (vmm_qmp_events_open(path, 5000, &ev, &err) < 0)
        fail_msg("events open: %s", err.msg);
    assert_true(ev.fd >= 0);
    int64_t end = time_now_ms() + 10000;
    while (vmm_events_read(&ev) && time_now_ms() < end) {
        struct pollfd p = {ev.fd, POLLIN, 0};
        (void)poll(&p, 1, 500);
    }
    assert_int_equal(ev.fd, -1); /* closed at the channel's end */
    enum vmm_end got = ev.end;
    vmm_events_release(&ev);
    vmm_events_release(&ev); /* twice is fine */
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    return got;
}

#define EV(name, data)                                                                             \
    "{\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}, \"event\": \"" name "\"" data "}\r\n"

static void test_qmp_events(void **state) {
    (void)state;
    char dir[64], path[100];
    make_tmpdir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/ev.sock", dir);

    /* As QEMU 7.2 says them (seen with -no-reboot -action panic=exit-failure). */
    static const char *const reset[] = {
        EV("RESUME", ""),
        EV("SHUTDOWN", ", \"data\": {\"guest\": true, \"reason\": \"guest-reset\"}")};
    assert_int_equal(events_end_of(path, reset, ARRAY_SIZE(reset)), VMM_END_RESET);
    static const char *const panic[] = {
        EV("GUEST_PANICKED", ", \"data\": {\"action\": \"poweroff\"}"),
        EV("SHUTDOWN", ", \"data\": {\"guest\": true, \"reason\": \"guest-panic\"}")};
    assert_int_equal(events_end_of(path, panic, ARRAY_SIZE(panic)), VMM_END_PANIC);
    static const char *const off[] = {
        EV("SHUTDOWN", ", \"data\": {\"guest\": true, \"reason\": \"guest-shutdown\"}")};
    assert_int_equal(events_end_of(path, off, ARRAY_SIZE(off)), VMM_END_SHUTDOWN);
    static const char *const quit[] = {
        EV("POWERDOWN", ""),
        EV("SHUTDOWN", ", \"data\": {\"guest\": false, \"reason\": \"host-qmp-quit\"}")};
    assert_int_equal(events_end_of(path, quit, ARRAY_SIZE(quit)), VMM_END_HOST);
    /* A reset the host asked for ends nothing; garbage and other events are skipped. */
    static const char *const other[] = {
        EV("RESET", ", \"data\": {\"guest\": false, \"reason\": \"host-qmp-system-reset\"}"),
        "this is not json\r\n", EV("RTC_CHANGE", ", \"data\": {\"offset\": 0}")};
    assert_int_equal(events_end_of(path, other, ARRAY_SIZE(other)), VMM_END_NONE);
    /* The most telling end wins, whatever the order. */
    static const char *const mixed[] = {
        EV("SHUTDOWN", ", \"data\": {\"guest\": true, \"reason\": \"guest-panic\"}"),
        EV("SHUTDOWN", ", \"data\": {\"guest\": false, \"reason\": \"host-signal\"}")};
    assert_int_equal(events_end_of(path, mixed, ARRAY_SIZE(mixed)), VMM_END_PANIC);

    /* Firecracker has no events: a clean exit is its guest's reset, anything else says nothing. */
    struct vmm_launch fc = {.kind = VMM_FIRECRACKER};
    assert_int_equal(vmm_end_of(&fc, NULL, 0), VMM_END_RESET);
    assert_int_equal(vmm_end_of(&fc, NULL, 1 << 8), VMM_END_NONE);
    assert_int_equal(vmm_end_of(&fc, NULL, SIGKILL), VMM_END_NONE);
    struct vmm_events none = {.fd = -1};
    struct error err;
    error_init(&err);
    assert_int_equal(vmm_events_open(&fc, getpid(), 1000, &none, &err), 0);
    assert_int_equal(none.fd, -1);
    struct vmm_launch q = {.kind = VMM_QEMU};
    struct vmm_events told = {.fd = -1, .end = VMM_END_PANIC};
    assert_int_equal(vmm_end_of(&q, &told, 1 << 8), VMM_END_PANIC);
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
    int64_t t0 = time_now_ms();
    assert_int_equal(vmm_qmp_status(path, 300, &status, &err), -ETIMEDOUT);
    int64_t took = time_now_ms() - t0;
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

/* ---- real boots under TCG ---------------------------------------------------- */

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

/* Adds the host file src as name (a regular file) to the archive. */
static void cpio_add_file(FILE *f, const char *name, const char *src, unsigned ino) {
    struct strbuf sb = STRBUF_INIT;
    struct error err;
    error_init(&err);
    if (strbuf_read_file(&sb, src, 64u << 20, &err) < 0)
        fail_msg("%s", err.msg);
    cpio_add(f, name, 0100755, sb.buf, sb.len, ino);
    strbuf_release(&sb);
}

/*
 * An initramfs of busybox and /init: the marker, then action (a busybox
 * command line) or a long sleep. With modules, the kernel's pvpanic modules
 * of modules_dir are in /lib and loaded first.
 */
static void build_initramfs(const char *path, const char *busybox, const char *action,
                            const char *modules_dir) {
    char init[1024];
    snprintf(init, sizeof(init),
             "#!/bin/busybox sh\n"
             "/bin/busybox mkdir -p /proc\n"
             "/bin/busybox mount -t proc proc /proc\n"
             "%s"
             "/bin/busybox echo " BOOT_MARKER "\n"
             "%s\n"
             "exec /bin/busybox sleep 1000\n",
             modules_dir ? "/bin/busybox insmod /lib/pvpanic.ko\n"
                           "/bin/busybox insmod /lib/pvpanic-mmio.ko\n"
                         : "",
             action ? action : "");
    FILE *f = fopen(path, "we");
    assert_non_null(f);
    cpio_add(f, "bin", 040755, NULL, 0, 1);
    cpio_add_file(f, "bin/busybox", busybox, 2);
    cpio_add(f, "init", 0100755, init, strlen(init), 3);
    if (modules_dir) {
        char src[1024];
        cpio_add(f, "lib", 040755, NULL, 0, 4);
        snprintf(src, sizeof(src), "%s/kernel/drivers/misc/pvpanic/pvpanic.ko", modules_dir);
        cpio_add_file(f, "lib/pvpanic.ko", src, 5);
        snprintf(src, sizeof(src), "%s/kernel/drivers/misc/pvpanic/pvpanic-mmio.ko", modules_dir);
        cpio_add_file(f, "lib/pvpanic-mmio.ko", src, 6);
    }
    cpio_add(f, "TRAILER!!!", 0, NULL, 0, 0);
    assert_int_equal(fclose(f), 0);
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
    int64_t deadline = time_now_ms() + timeout_ms;
    for (;;) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid)
            return true;
        if (time_now_ms() >= deadline)
            return false;
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* A guest under TCG: qemu, its console, its event channel. */
struct qguest {
    char dir[64], sock[128];
    pid_t pid;
    int console; /* read end of qemu's stdout and stderr */
    struct strbuf out;
    struct vmm_events ev;
};

/*
 * Boots the newest /boot/vmlinuz-* with a busybox initramfs running action
 * after the marker (pvpanic: with the kernel's pvpanic modules loaded) and
 * cmdline, the way the driver does: qemu starts paused, the events socket
 * is connected, then cont. Fails when qemu, busybox or a kernel is missing.
 */
static void qguest_start(struct qguest *g, const char *action, bool pvpanic, const char *cmdline) {
    char qemu[4096];
    if (!find_on_path("qemu-system-x86_64", qemu, sizeof(qemu)))
        fail_msg("qemu-system-x86_64 not found: apt-get install qemu-system-x86 "
                 "(scripts/install-deps)");
    const char *busybox = "/bin/busybox";
    test_need_program(busybox, "busybox-static");
    glob_t gl;
    if (glob("/boot/vmlinuz-*", 0, NULL, &gl) != 0 || gl.gl_pathc == 0)
        fail_msg("no /boot/vmlinuz-*: apt-get install linux-image-amd64 (scripts/install-deps)");
    char kernel[512], modules[600];
    snprintf(kernel, sizeof(kernel), "%s", gl.gl_pathv[gl.gl_pathc - 1]);
    globfree(&gl);
    snprintf(modules, sizeof(modules), "/lib/modules/%s", kernel + strlen("/boot/vmlinuz-"));

    memset(g, 0, sizeof(*g));
    make_tmpdir(g->dir, sizeof(g->dir));
    char initrd[128], disk[128], events[128];
    snprintf(initrd, sizeof(initrd), "%s/initrd.cpio", g->dir);
    snprintf(disk, sizeof(disk), "%s/disk.img", g->dir);
    snprintf(g->sock, sizeof(g->sock), "%s/qmp.sock", g->dir);
    snprintf(events, sizeof(events), "%s/events.sock", g->dir);
    build_initramfs(initrd, busybox, action, pvpanic ? modules : NULL);
    int dfd = open(disk, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    assert_true(dfd >= 0);
    assert_int_equal(ftruncate(dfd, 64ll << 20), 0);
    close(dfd);

    struct vmm_config cfg = {
        .vm_id = "00000000deadbeef",
        .kernel = kernel,
        .initrd = initrd,
        .cmdline = cmdline,
        .disk = disk,
        .cpus = 1,
        .memory = 256ull << 20,
        .api_socket = g->sock,
        .events_socket = events,
    };
    char **argv = NULL;
    struct error err;
    error_init(&err);
    assert_int_equal(vmm_qemu_argv(qemu, &cfg, false, &argv, &err), 0);
    int pipefd[2];
    assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
    fflush(NULL);
    g->pid = fork();
    assert_true(g->pid >= 0);
    if (g->pid == 0) {
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(pipefd[1], 1) < 0 || dup2(pipefd[1], 2) < 0)
            _exit(127);
        execv(argv[0], argv);
        _exit(127);
    }
    close(pipefd[1]);
    vmm_argv_free(argv);
    g->console = pipefd[0];
    g->out = (struct strbuf)STRBUF_INIT;

    /* As the driver does: the event channel first, then the paused guest runs. */
    struct vmm_launch l = {.kind = VMM_QEMU, .binary = qemu, .cfg = cfg};
    int r = vmm_events_open(&l, g->pid, 30000, &g->ev, &err);
    if (r == 0)
        r = vmm_configure(&l, g->pid, 30000, &err);
    if (r < 0)
        print_message("qemu: %s\n", err.msg);
    assert_int_equal(r, 0);
    assert_true(g->ev.fd >= 0);
}

/* Whether the console so far holds needle (it may hold NUL bytes). */
static bool qguest_said(const struct qguest *g, const char *needle) {
    return g->out.buf && memmem(g->out.buf, g->out.len, needle, strlen(needle)) != NULL;
}

/* True when pid has ended (left for waitpid). */
static bool ended_unreaped(pid_t pid) {
    siginfo_t si;
    memset(&si, 0, sizeof(si));
    return waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid;
}

/* Reads console and events for up to timeout_ms, until needle shows (NULL: until qemu ends). */
static bool qguest_watch(struct qguest *g, const char *needle, int timeout_ms) {
    int64_t end = time_now_ms() + timeout_ms;
    bool console_open = true;
    while (time_now_ms() < end) {
        if (needle && qguest_said(g, needle))
            return true;
        if (!needle && !console_open && ended_unreaped(g->pid))
            return true;
        struct pollfd pfd[2] = {{console_open ? g->console : -1, POLLIN, 0}, {g->ev.fd, POLLIN, 0}};
        if (poll(pfd, 2, 200) <= 0)
            continue;
        if (pfd[0].revents) {
            char buf[4096];
            ssize_t n = read(g->console, buf, sizeof(buf));
            if (n <= 0)
                console_open = false;
            else if (g->out.len < CONSOLE_MAX)
                assert_int_equal(strbuf_add(&g->out, buf, (size_t)n), 0);
        }
        if (pfd[1].revents)
            vmm_events_read(&g->ev);
    }
    return false;
}

/* Ends what is left; the console's tail printed when show_console. */
static void qguest_release(struct qguest *g, bool show_console) {
    if (show_console && g->out.buf) {
        size_t tail = g->out.len > 3000 ? g->out.len - 3000 : 0;
        for (size_t i = tail; i < g->out.len; i++)
            if (g->out.buf[i] == '\0')
                g->out.buf[i] = ' ';
        printf("qemu console (tail):\n");
        fwrite(g->out.buf + tail, 1, g->out.len - tail, stdout);
        printf("\n");
    }
    int st;
    if (waitpid(g->pid, &st, WNOHANG) == 0) {
        kill(g->pid, SIGKILL);
        waitpid(g->pid, &st, 0);
    }
    close(g->console);
    vmm_events_release(&g->ev);
    strbuf_release(&g->out);
    rm_tree_flat(g->dir);
}

static void test_qemu_boot_tcg(void **state) {
    (void)state;
    struct qguest g;
    int64_t t0 = time_now_ms();
    qguest_start(&g, NULL, false, "console=ttyS0 panic=-1");
    if (!qguest_watch(&g, BOOT_MARKER, BOOT_TIMEOUT_MS)) {
        qguest_release(&g, true);
        fail_msg("the guest did not print %s within %d ms", BOOT_MARKER, BOOT_TIMEOUT_MS);
    }
    print_message("guest booted in %lld ms\n", (long long)(time_now_ms() - t0));

    char *status = NULL;
    struct error err;
    error_init(&err);
    int r = vmm_qmp_status(g.sock, 5000, &status, &err);
    if (r < 0)
        print_message("query-status: %s\n", err.msg);
    assert_int_equal(r, 0);
    assert_string_equal(status, "running");
    free(status);

    /* busybox has no acpid: the guest ignores the button, but qemu accepts it. */
    error_init(&err);
    r = vmm_qmp_powerdown(g.sock, 5000, &err);
    if (r < 0)
        print_message("system_powerdown: %s\n", err.msg);
    assert_int_equal(r, 0);
    status = NULL;
    error_init(&err);
    assert_int_equal(vmm_qmp_status(g.sock, 5000, &status, &err), 0);
    assert_string_equal(status, "running");
    free(status);

    error_init(&err);
    r = vmm_qmp_quit(g.sock, 5000, &err);
    if (r < 0)
        print_message("quit: %s\n", err.msg);
    assert_int_equal(r, 0);
    int st = 0;
    bool exited = wait_exit(g.pid, 5000, &st);
    (void)qguest_watch(&g, "no such text", 500); /* the rest of the events */
    enum vmm_end end = g.ev.end;
    qguest_release(&g, false);
    assert_true(exited);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_int_equal(end, VMM_END_HOST); /* SHUTDOWN host-qmp-quit */
}

/*
 * The guest reboots (busybox reboot -f, with Ignite's reboot=k): the i8042
 * pulls the reset line, -no-reboot makes that the end of qemu (status 0),
 * and the events say it was the guest's reset. Nobody asks qemu anything.
 */
static void test_qemu_guest_reboot_ends_qemu(void **state) {
    (void)state;
    struct qguest g;
    qguest_start(&g, "/bin/busybox reboot -f", false, "console=ttyS0 reboot=k panic=1");
    bool ended = qguest_watch(&g, NULL, BOOT_TIMEOUT_MS);
    int st = 0;
    bool reaped = ended && wait_exit(g.pid, 5000, &st);
    enum vmm_end end = g.ev.end;
    bool marker = qguest_said(&g, BOOT_MARKER);
    qguest_release(&g, !reaped || end != VMM_END_RESET);
    assert_true(marker);
    assert_true(reaped);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_int_equal(end, VMM_END_RESET);
}

/*
 * The guest panics (sysrq c) with the pvpanic modules loaded and no panic=
 * (the kernel would wait forever): qemu learns it on the pvpanic device and
 * exits with status 1 (-action panic=exit-failure); the events say panic.
 */
static void test_qemu_guest_panic_ends_qemu(void **state) {
    (void)state;
    struct qguest g;
    qguest_start(&g, "echo c > /proc/sysrq-trigger", true, "console=ttyS0 reboot=k");
    bool ended = qguest_watch(&g, NULL, BOOT_TIMEOUT_MS);
    int st = 0;
    bool reaped = ended && wait_exit(g.pid, 5000, &st);
    enum vmm_end end = g.ev.end;
    bool panicked = qguest_said(&g, "Kernel panic");
    qguest_release(&g, !reaped || end != VMM_END_PANIC);
    assert_true(panicked);
    assert_true(reaped);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 1);
    assert_int_equal(end, VMM_END_PANIC);
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
        cmocka_unit_test(test_qmp_events),
        cmocka_unit_test(test_qemu_boot_tcg),
        cmocka_unit_test(test_qemu_guest_reboot_ends_qemu),
        cmocka_unit_test(test_qemu_guest_panic_ends_qemu),
    };
    return cmocka_run_group_tests_name("vmm_qemu", tests, NULL, NULL);
}
