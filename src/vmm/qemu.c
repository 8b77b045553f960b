/*
 * qemu: the command line that runs one hearth VM in qemu-system-x86_64.
 *
 * The machine is `-M microvm` with ACPI (so that QMP system_powerdown
 * presses a power button the guest can see) and the RTC, and with the PIT
 * and PIC on: under TCG the kernel hangs without them. The root disk is a
 * virtio-mmio block device, the network a virtio-mmio NIC on a tap, on
 * passt's socket (-netdev stream, QEMU 7.2) or on QEMU's own user
 * networking (slirp, -netdev user with hostfwd= port maps), the serial
 * console is on stdio for the monitor process to log, and QMP listens on a
 * Unix socket. Under TCG the guest's TSC runs at the host's rate; calibrating
 * it against the emulated PIT fails on a busy host and the kernel then hangs
 * early, so the host's TSC frequency is passed as tsc_early_khz.
 *
 * A guest only shuts down on system_powerdown when it handles the ACPI power
 * button (systemd-logind, acpid); a bare busybox guest ignores it, and the
 * engine then quits QEMU after its grace period.
 *
 * A guest's reboot or panic ends QEMU, as it ends Firecracker: -no-reboot
 * turns a reset into a shutdown (SHUTDOWN event, reason guest-reset, exit
 * status 0), and -action panic=exit-failure a panic that the guest reports
 * on the pvpanic device (GUEST_PANICKED, reason guest-panic, status 1;
 * Debian's kernel needs its pvpanic-mmio module for that). microvm has no
 * keyboard controller, and a kernel told reboot=k (Ignite's default command
 * line) then falls back to jumping into the firmware, which on QEMU 7.2
 * sometimes hangs in the restarted kernel's setup code ("Probing EDD")
 * instead of resetting; the ISA i8042 gives it the reset line it pulls, as
 * Firecracker's i8042 does. QEMU starts paused (-S) so that the monitor
 * process connects to the events socket before the guest can end; the
 * driver's configure step resumes it (QMP cont).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vmm/vmm_priv.h"

#define QEMU_CMDLINE_MAX 2048 /* x86's COMMAND_LINE_SIZE */
#define QEMU_CPUS_MAX 256
#define QEMU_MIB (1024ull * 1024ull)
#define QEMU_MEMORY_MIN (16ull * QEMU_MIB)
#define QEMU_MEMORY_MAX (1024ull * 1024ull * QEMU_MIB) /* 1 TiB */
#define QEMU_PATH_MAX 4096
#define QEMU_TAP_NAME_MAX 15 /* IFNAMSIZ - 1 */
#define QEMU_CPUINFO_MAX (4u << 20)

/* Copies s with every ',' doubled: QEMU's option syntax escapes commas that way. */
static char *qemu_escape_commas(const char *s) {
    size_t len = strlen(s), commas = 0;
    for (size_t i = 0; i < len; i++)
        commas += s[i] == ',';
    char *out = xmalloc(len + commas + 1);
    if (!out)
        return NULL;
    size_t j = 0;
    for (size_t i = 0; i < len; i++) {
        out[j++] = s[i];
        if (s[i] == ',')
            out[j++] = ',';
    }
    out[j] = '\0';
    return out;
}

/*
 * The host's TSC frequency in kHz when the CPU has a constant TSC, from
 * /proc/cpuinfo's first "cpu MHz" line; 0 when unknown. -ENOMEM only.
 */
static int qemu_host_tsc_khz(uint64_t *ret) {
    _cleanup_strbuf_ struct strbuf sb = STRBUF_INIT;
    *ret = 0;
    int r = strbuf_read_file(&sb, "/proc/cpuinfo", QEMU_CPUINFO_MAX, NULL);
    if (r == -ENOMEM)
        return r;
    if (r < 0 || !sb.buf)
        return 0;
    bool constant = false;
    uint64_t khz = 0;
    for (char *line = sb.buf; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        if (str_starts_with(line, "flags")) {
            const char *p = strstr(line, " constant_tsc");
            if (p && (p[13] == ' ' || p[13] == '\0'))
                constant = true;
        } else if (khz == 0 && str_starts_with(line, "cpu MHz")) {
            const char *colon = strchr(line, ':');
            if (colon) {
                const char *p = colon + 1;
                while (*p == ' ' || *p == '\t')
                    p++;
                uint64_t whole = 0, frac = 0, scale = 1000;
                for (; *p >= '0' && *p <= '9' && whole < 10000000; p++)
                    whole = whole * 10 + (uint64_t)(*p - '0');
                if (*p == '.')
                    for (p++; *p >= '0' && *p <= '9' && scale > 1; p++) {
                        scale /= 10;
                        frac += (uint64_t)(*p - '0') * scale;
                    }
                khz = whole * 1000 + frac;
            }
        }
        line = nl ? nl + 1 : NULL;
    }
    *ret = constant ? khz : 0;
    return 0;
}

static bool qemu_mac_is_valid(const char *mac) {
    if (strlen(mac) != 17)
        return false;
    for (size_t i = 0; i < 17; i++) {
        char c = mac[i];
        bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        if (i % 3 == 2 ? c != ':' : !hex)
            return false;
    }
    return true;
}

static bool qemu_tap_is_valid(const char *tap) {
    size_t len = strlen(tap);
    if (len == 0 || len > QEMU_TAP_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = tap[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return false;
    }
    return true;
}

static int qemu_check_path(const char *what, const char *path, struct error *err) {
    if (!path || !*path)
        return error_set(err, -EINVAL, "qemu needs a %s path", what);
    if (strlen(path) > QEMU_PATH_MAX)
        return error_set(err, -ENAMETOOLONG, "the %s path is longer than %d bytes", what,
                         QEMU_PATH_MAX);
    return 0;
}

static int qemu_check_config(const char *binary, const struct vmm_config *cfg, struct error *err) {
    int r;
    if ((r = qemu_check_path("qemu binary", binary, err)) < 0 ||
        (r = qemu_check_path("kernel", cfg->kernel, err)) < 0 ||
        (r = qemu_check_path("disk", cfg->disk, err)) < 0 ||
        (r = qemu_check_path("qmp socket", cfg->api_socket, err)) < 0)
        return r;
    if (cfg->events_socket &&
        (r = qemu_check_path("qmp events socket", cfg->events_socket, err)) < 0)
        return r;
    if (cfg->initrd && (r = qemu_check_path("initrd", cfg->initrd, err)) < 0)
        return r;
    if (cfg->cpus < 1 || cfg->cpus > QEMU_CPUS_MAX)
        return error_set(err, -EINVAL, "qemu runs 1 to %d vcpus, not %llu", QEMU_CPUS_MAX,
                         (unsigned long long)cfg->cpus);
    if (cfg->memory < QEMU_MEMORY_MIN || cfg->memory > QEMU_MEMORY_MAX || cfg->memory % QEMU_MIB)
        return error_set(err, -EINVAL,
                         "memory must be a whole number of MiB from 16 MiB to 1 TiB, not %llu "
                         "bytes",
                         (unsigned long long)cfg->memory);
    if (cfg->cmdline && strlen(cfg->cmdline) > QEMU_CMDLINE_MAX)
        return error_set(err, -E2BIG, "the kernel command line is longer than %d bytes",
                         QEMU_CMDLINE_MAX);
    enum vmm_net net = vmm_config_net(cfg);
    switch (net) {
    case VMM_NET_NONE:
        break;
    case VMM_NET_TAP:
        if (!cfg->tap || !qemu_tap_is_valid(cfg->tap))
            return error_set(err, -EINVAL, "'%s' is not a valid tap device name",
                             cfg->tap ? cfg->tap : "");
        if (!cfg->mac || !qemu_mac_is_valid(cfg->mac))
            return error_set(err, -EINVAL, "tap '%s' needs a mac like 02:00:00:00:00:01, not '%s'",
                             cfg->tap, cfg->mac ? cfg->mac : "");
        break;
    case VMM_NET_PASST:
        if ((r = qemu_check_path("passt socket", cfg->passt_socket, err)) < 0)
            return r;
        /* fall through */
    case VMM_NET_SLIRP:
        if (!cfg->mac || !qemu_mac_is_valid(cfg->mac))
            return error_set(err, -EINVAL,
                             "the %s network needs a mac like 02:00:00:00:00:01, not '%s'",
                             vmm_net_name(net), cfg->mac ? cfg->mac : "");
        if ((r = vmm_user_net_check(cfg, net, err)) < 0)
            return r;
        break;
    default:
        return error_set(err, -EINVAL, "unknown network mode %d", (int)cfg->net);
    }
    if (cfg->vm_id && !id_is_valid(cfg->vm_id))
        return error_set(err, -EINVAL, "'%s' is not a vm id", cfg->vm_id);
    return 0;
}

/* The -netdev value of cfg's network; NULL for none. */
static int qemu_netdev(const struct vmm_config *cfg, char **ret, struct error *err) {
    *ret = NULL;
    switch (vmm_config_net(cfg)) {
    case VMM_NET_NONE:
        return 0;
    case VMM_NET_TAP:
        *ret = xasprintf("tap,id=net0,ifname=%s,script=no,downscript=no", cfg->tap);
        break;
    case VMM_NET_PASST: {
        _cleanup_free_ char *path = qemu_escape_commas(cfg->passt_socket);
        if (path)
            *ret = xasprintf("stream,id=net0,server=off,addr.type=unix,addr.path=%s", path);
        break;
    }
    case VMM_NET_SLIRP:
        return vmm_slirp_netdev(cfg, ret, err);
    }
    return *ret ? 0 : error_oom(err);
}

int vmm_qemu_argv(const char *binary, const struct vmm_config *cfg, bool kvm, char ***ret,
                  struct error *err) {
    int r = qemu_check_config(binary, cfg, err);
    if (r < 0)
        return r;

    /* The kernel command line, with the TSC frequency under TCG. */
    _cleanup_free_ char *append = NULL;
    const char *cmdline = cfg->cmdline ? cfg->cmdline : "";
    uint64_t khz = 0;
    if (!kvm && !strstr(cmdline, "tsc_early_khz=") && qemu_host_tsc_khz(&khz) < 0)
        return error_oom(err);
    if (khz)
        append = xasprintf("%s%stsc_early_khz=%llu", cmdline, *cmdline ? " " : "",
                           (unsigned long long)khz);
    else
        append = xstrdup(cmdline);
    if (!append)
        return error_oom(err);
    if (strlen(append) > QEMU_CMDLINE_MAX)
        return error_set(err, -E2BIG, "the kernel command line is longer than %d bytes",
                         QEMU_CMDLINE_MAX);

    _cleanup_free_ char *disk = qemu_escape_commas(cfg->disk);
    _cleanup_free_ char *sock = qemu_escape_commas(cfg->api_socket);
    _cleanup_free_ char *events =
        cfg->events_socket ? qemu_escape_commas(cfg->events_socket) : NULL;
    if (!disk || !sock || (cfg->events_socket && !events))
        return error_oom(err);
    _cleanup_free_ char *netdev = NULL;
    if ((r = qemu_netdev(cfg, &netdev, err)) < 0)
        return r;

    struct vmm_argv a = {0};
    vmm_argv_add(&a, binary);
    if (cfg->vm_id) {
        vmm_argv_add(&a, "-name");
        vmm_argv_push(&a, xasprintf("hearth-%s", cfg->vm_id));
    }
    vmm_argv_add(&a, "-S");
    vmm_argv_add(&a, "-M");
    vmm_argv_add(&a, "microvm,acpi=on,rtc=on,pit=on,pic=on");
    vmm_argv_add(&a, "-accel");
    vmm_argv_add(&a, kvm ? "kvm" : "tcg");
    vmm_argv_add(&a, "-cpu");
    vmm_argv_add(&a, kvm ? "host" : "max");
    vmm_argv_add(&a, "-smp");
    vmm_argv_push(&a, xasprintf("%llu", (unsigned long long)cfg->cpus));
    vmm_argv_add(&a, "-m");
    vmm_argv_push(&a, xasprintf("%lluM", (unsigned long long)(cfg->memory / QEMU_MIB)));
    vmm_argv_add(&a, "-nodefaults");
    vmm_argv_add(&a, "-no-user-config");
    vmm_argv_add(&a, "-nographic");
    vmm_argv_add(&a, "-no-reboot");
    vmm_argv_add(&a, "-action");
    vmm_argv_add(&a, "panic=exit-failure");
    vmm_argv_add(&a, "-kernel");
    vmm_argv_add(&a, cfg->kernel);
    if (cfg->initrd) {
        vmm_argv_add(&a, "-initrd");
        vmm_argv_add(&a, cfg->initrd);
    }
    vmm_argv_add(&a, "-append");
    vmm_argv_add(&a, append);
    vmm_argv_add(&a, "-drive");
    vmm_argv_push(&a, xasprintf("file=%s,if=none,id=rootfs,format=raw%s", disk,
                                cfg->disk_read_only ? ",readonly=on" : ""));
    vmm_argv_add(&a, "-device");
    vmm_argv_add(&a, "virtio-blk-device,drive=rootfs");
    if (netdev) {
        vmm_argv_add(&a, "-netdev");
        vmm_argv_add(&a, netdev);
        vmm_argv_add(&a, "-device");
        vmm_argv_push(&a, xasprintf("virtio-net-device,netdev=net0,mac=%s", cfg->mac));
    } else {
        vmm_argv_add(&a, "-nic");
        vmm_argv_add(&a, "none");
    }
    vmm_argv_add(&a, "-device");
    vmm_argv_add(&a, "i8042");
    vmm_argv_add(&a, "-device");
    vmm_argv_add(&a, "pvpanic");
    vmm_argv_add(&a, "-serial");
    vmm_argv_add(&a, "stdio");
    vmm_argv_add(&a, "-qmp");
    vmm_argv_push(&a, xasprintf("unix:%s,server=on,wait=off", sock));
    if (events) {
        vmm_argv_add(&a, "-qmp");
        vmm_argv_push(&a, xasprintf("unix:%s,server=on,wait=off", events));
    }

    if (a.rc < 0) {
        vmm_argv_free(a.v);
        return error_set(err, a.rc, "out of memory");
    }
    *ret = a.v;
    return 0;
}
