/*
 * vmm: the virtual machine monitors hearth drives, behind one interface.
 *
 * - firecracker: configured over its HTTP API on a Unix socket (libcurl), in
 *   the documented order: logger, metrics, boot-source, drives,
 *   machine-config, network-interfaces, then InstanceStart. A graceful stop
 *   is SendCtrlAltDel; a kill is SIGKILL.
 * - qemu: `qemu-system-x86_64 -M microvm` with the VM's disk as a
 *   virtio-mmio block device and the serial console on stdio; controlled
 *   over QMP on a Unix socket (query-status, cont, system_powerdown, quit),
 *   with a second QMP socket whose events (SHUTDOWN and its reason,
 *   GUEST_PANICKED) tell how the guest ended. KVM when /dev/kvm really
 *   works (probed), else TCG.
 *
 * This module starts nothing by itself in the background and writes no
 * state: the engine's per-VM monitor owns the VMM process, and the engine
 * records what happened. This header is the driver interface the engine
 * uses; each backend's own calls (the firecracker API client, the QEMU argv
 * and QMP client) are in vmm_priv.h, for this module and its tests.
 */
#ifndef HEARTH_VMM_H
#define HEARTH_VMM_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/util.h"

enum vmm_kind { VMM_FIRECRACKER, VMM_QEMU };

/* "firecracker", "qemu". */
const char *vmm_kind_name(enum vmm_kind k);
int vmm_kind_parse(const char *s, enum vmm_kind *ret) WUR;

/*
 * How a VM's NIC reaches the network. Firecracker takes a tap only; qemu
 * takes each: a tap the caller made (bridge networking), passt's socket, or
 * its own user networking (slirp). The user modes need no root, bridge or
 * firewall rule: the VM's port maps are their forwards.
 */
enum vmm_net {
    VMM_NET_NONE =
        0,         /* no NIC; with cfg.tap set it means VMM_NET_TAP (configs that set tap only) */
    VMM_NET_TAP,   /* -netdev tap on cfg.tap / firecracker's network-interfaces */
    VMM_NET_PASST, /* -netdev stream to passt's socket cfg.passt_socket (vmm_passt_spawn) */
    VMM_NET_SLIRP, /* qemu's -netdev user, when passt is missing */
};

/* "none", "tap", "passt", "slirp". */
const char *vmm_net_name(enum vmm_net n);

#define VMM_FORWARDS_MAX 256 /* port forwards of one VM */

/* A port map of the user modes: host_port on bind_address to vm_port of the guest. */
struct vmm_forward {
    bool udp;                 /* else tcp */
    const char *bind_address; /* a literal address (IPv4; passt also IPv6); NULL: every address */
    uint16_t host_port;       /* 1-65535 */
    uint16_t vm_port;         /* 1-65535 */
};

/* What a VM boots with. Strings are borrowed. */
struct vmm_config {
    const char *vm_id;   /* 16 hex */
    const char *kernel;  /* vmlinux (firecracker needs the ELF) or bzImage (qemu) */
    const char *initrd;  /* NULL when none */
    const char *cmdline; /* kernel command line */
    const char *disk;    /* root disk: a block device or a regular file */
    bool disk_read_only;
    uint64_t cpus;
    uint64_t memory;           /* bytes */
    const char *tap;           /* tap device name, NULL for no network */
    const char *mac;           /* "02:xx:..." when tap is set */
    const char *api_socket;    /* firecracker API socket / qemu QMP socket path */
    const char *events_socket; /* qemu: the QMP socket for events; NULL: none */
    const char *log_path;      /* firecracker's logger FIFO or file; NULL: none */
    const char *metrics_path;  /* firecracker's metrics file; NULL: none */
    /* The network beyond a tap (see enum vmm_net). mac is the NIC's in every mode. */
    enum vmm_net net;
    const char *passt_socket; /* VMM_NET_PASST: passt's socket, relative to the VMM's directory */
    const struct vmm_forward *forwards; /* PASST, SLIRP: the port maps */
    size_t n_forwards;
    /* PASST, SLIRP: the guest's IPv4 address handed out by DHCP, its prefix length
     * (8-30) and gateway, so that the caller knows the address; NULL: the VMM's
     * default (passt: the host's address; slirp: 10.0.2.15/24 via 10.0.2.2). */
    const char *user_address;
    unsigned user_prefix;
    const char *user_gateway; /* NULL: passt's default; slirp: the subnet's .2 */
};

/* ---- probing ------------------------------------------------------------- */

/*
 * Whether KVM really runs guests here: opens /dev/kvm, checks
 * KVM_GET_API_VERSION, creates a VM and a vCPU and runs a few instructions
 * (an `hlt`) to completion within a short time. why says why not.
 */
bool vmm_kvm_usable(char *why, size_t why_size);

/* passt on PATH into *ret (caller frees); -ENOENT when there is none. */
int vmm_passt_find(char **ret) WUR;

/* The firecracker binary: explicit (--firecracker-bin) or found on PATH. Caller frees. */
int vmm_firecracker_find(const char *explicit_path, char **ret, struct error *err) WUR;

/* ---- how a guest ended --------------------------------------------------------- */

/* What a VMM told of its guest's end, from least to most telling. */
enum vmm_end {
    VMM_END_NONE = 0, /* nothing (yet) */
    VMM_END_HOST,     /* the host ended it: QMP quit, a signal (qemu's host-* reasons) */
    VMM_END_SHUTDOWN, /* the guest powered off (guest-shutdown) */
    VMM_END_RESET,    /* the guest reset the machine: a reboot (guest-reset) */
    VMM_END_PANIC,    /* the guest panicked (GUEST_PANICKED, guest-panic; needs pvpanic) */
};

/*
 * A VMM's event channel, read by the process that owns the VMM for as long
 * as it runs: qemu's second QMP monitor (cfg.events_socket), negotiated and
 * then only read. Firecracker has none (fd -1).
 */
struct vmm_events {
    int fd;           /* poll it for POLLIN; -1 when there is none or it ended */
    enum vmm_end end; /* the most telling end the events named so far */
    char *buf;        /* a partial line (internal) */
    size_t len;
};

/*
 * Reads what the channel has without blocking and updates ev->end from the
 * events in it (SHUTDOWN's reason, GUEST_PANICKED, RESET from the guest);
 * anything else is skipped. At the channel's end (or on an error) the
 * descriptor is closed and fd set to -1. Returns whether it is still open.
 */
bool vmm_events_read(struct vmm_events *ev);

/* Closes the channel (fd -1) and frees its buffer; ev->end stays. NULL is fine. */
void vmm_events_release(struct vmm_events *ev);

/* ---- one interface for both VMMs (driver.c) --------------------------------- */

/*
 * Everything that runs one VM in one VMM. The VMM runs with its working
 * directory in the VM's runtime directory, so cfg.api_socket is a name
 * relative to it ("api.sock", "qmp.sock") and socket paths never hit the
 * 108-byte limit of sun_path; control_socket is how the caller reaches the
 * same socket (a relative name when the caller's working directory is the
 * runtime directory too, or "/proc/self/fd/N/api.sock" over an O_PATH
 * descriptor of it). Strings are borrowed.
 */
struct vmm_launch {
    enum vmm_kind kind;
    const char *binary;         /* the VMM executable */
    bool kvm;                   /* qemu: -accel kvm, else tcg */
    struct vmm_config cfg;      /* cfg.api_socket: as the VMM sees it */
    const char *control_socket; /* as this process reaches it; NULL: cfg.api_socket */
};

/* "api.sock" for firecracker, "qmp.sock" for qemu: the control socket's name. */
const char *vmm_socket_name(enum vmm_kind k);

/* "qmp-events.sock" for qemu; NULL for firecracker, which has no event channel. */
const char *vmm_events_socket_name(enum vmm_kind k);

/*
 * Opens the event channel of a freshly spawned VMM (process pid, not reaped
 * by this call), before vmm_configure lets its guest run: qemu's events
 * socket (cfg.events_socket; none when NULL); firecracker has none
 * (ret->fd -1). -ECHILD when the process ended meanwhile.
 */
int vmm_events_open(const struct vmm_launch *l, pid_t pid, int timeout_ms, struct vmm_events *ret,
                    struct error *err) WUR;

/*
 * Brings a freshly spawned VMM (process pid, not reaped by this call) to a
 * running guest: firecracker waits for its API socket and then configures
 * and starts the instance; qemu waits until QMP answers query-status and
 * then resumes the guest (cont; it starts paused, -S). -ECHILD when the
 * process ended meanwhile. timeout_ms bounds it all.
 */
int vmm_configure(const struct vmm_launch *l, pid_t pid, int timeout_ms, struct error *err) WUR;

/*
 * How the guest of an ended VMM (its wait status) ended: qemu's events
 * (ev); firecracker exits with status 0 only when its guest resets the
 * machine (Firecracker exits on CPU reset: a reboot, a panic with panic=N,
 * or the guest's answer to SendCtrlAltDel), so that is VMM_END_RESET.
 */
enum vmm_end vmm_end_of(const struct vmm_launch *l, const struct vmm_events *ev, int wstatus);

/* Asks the guest to shut down: SendCtrlAltDel (firecracker), system_powerdown (qemu). */
int vmm_stop_graceful(const struct vmm_launch *l, int timeout_ms, struct error *err) WUR;

/*
 * Ends the VMM through its control socket when the guest did not shut down:
 * qemu's QMP quit (qemu exits with status 0). -ENOTSUP for firecracker,
 * which has no such call: the caller kills it.
 */
int vmm_stop_hard(const struct vmm_launch *l, int timeout_ms, struct error *err) WUR;

/* What the VMM says of its guest ("Running", "running", ...). Caller frees *ret. */
int vmm_status(const struct vmm_launch *l, int timeout_ms, char **ret, struct error *err) WUR;

/*
 * Starts the VMM for l (util's exec_start, never through a shell) with its
 * serial console on pipes (ret->in: what the guest reads, ret->out: what it
 * writes), stderr on stderr_fd (-1: /dev/null), every other descriptor
 * closed, default signal dispositions and an empty signal mask, and
 * PR_SET_PDEATHSIG SIGKILL: the VMM dies with the process that started it.
 * A VMM that cannot be run is reported here (-ENOENT, -EACCES). The caller
 * reaps the VMM.
 */
int vmm_spawn(const struct vmm_launch *l, int stderr_fd, struct exec_proc *ret,
              struct error *err) WUR;

/* ---- passt, the network of VMM_NET_PASST (passt.c) ------------------------- */

/* How passt runs. Strings are borrowed. */
struct vmm_passt {
    const char *binary; /* the passt executable; "passt" is looked up in PATH */
    /*
     * --runas: the user passt runs as. NULL: passt's own choice, which as root
     * is "nobody" (it then needs the socket's directory writable by nobody);
     * "0" keeps root's uid (passt still drops every capability after binding
     * its ports, ports below 1024 included).
     */
    const char *runas;
};

/*
 * Starts passt for cfg's VMM_NET_PASST network (util's exec_start, never
 * through a shell): in the foreground, its socket at cfg.passt_socket
 * (relative to this process's working directory, as the VMM sees it; an
 * old socket there is removed first), the
 * guest address, prefix and gateway when cfg gives them, one -t or -u per
 * forward, --one-off (it ends when qemu disconnects), errors on stderr_fd
 * (-1: /dev/null), every other descriptor closed, and PR_SET_PDEATHSIG
 * SIGKILL: it dies with the process that started it (the VM's monitor).
 * Start it before the VMM and wait for its socket (vmm_passt_wait): qemu 7.2
 * connects once, at its start. The caller reaps passt.
 */
int vmm_passt_spawn(const struct vmm_passt *p, const struct vmm_config *cfg, int stderr_fd,
                    struct exec_proc *ret, struct error *err) WUR;

/*
 * Waits until passt (process pid, not reaped here) has its socket at
 * cfg.passt_socket. -ECHILD when it ended first (a forward's port taken, no
 * routable interface: its stderr says), -ETIMEDOUT after timeout_ms.
 */
int vmm_passt_wait(const struct vmm_config *cfg, pid_t pid, int timeout_ms, struct error *err) WUR;

#endif
