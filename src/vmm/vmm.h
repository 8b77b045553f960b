/*
 * vmm: the virtual machine monitors hearth drives, behind one interface.
 *
 * - firecracker: configured over its HTTP API on a Unix socket (libcurl), in
 *   the documented order: logger, metrics, boot-source, drives,
 *   machine-config, network-interfaces, then InstanceStart. A graceful stop
 *   is SendCtrlAltDel; a kill is SIGKILL.
 * - qemu: `qemu-system-x86_64 -M microvm` with the VM's disk as a
 *   virtio-mmio block device and the serial console on stdio; controlled
 *   over QMP on a Unix socket (query-status, system_powerdown, quit). KVM
 *   when /dev/kvm really works (probed), else TCG.
 *
 * This module starts nothing by itself in the background and writes no
 * state: the engine's per-VM monitor owns the VMM process, and the engine
 * records what happened.
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

/* What a VM boots with. Strings are borrowed. */
struct vmm_config {
    const char *vm_id;   /* 16 hex */
    const char *kernel;  /* vmlinux (firecracker needs the ELF) or bzImage (qemu) */
    const char *initrd;  /* NULL when none */
    const char *cmdline; /* kernel command line */
    const char *disk;    /* root disk: a block device or a regular file */
    bool disk_read_only;
    uint64_t cpus;
    uint64_t memory;          /* bytes */
    const char *tap;          /* tap device name, NULL for no network */
    const char *mac;          /* "02:xx:..." when tap is set */
    const char *api_socket;   /* firecracker API socket / qemu QMP socket path */
    const char *log_path;     /* firecracker's logger FIFO or file; NULL: none */
    const char *metrics_path; /* firecracker's metrics file; NULL: none */
};

/* ---- probing ------------------------------------------------------------- */

/*
 * Whether KVM really runs guests here: opens /dev/kvm, checks
 * KVM_GET_API_VERSION, creates a VM and a vCPU and runs a few instructions
 * (an `hlt`) to completion within a short time. why says why not.
 */
bool vmm_kvm_usable(char *why, size_t why_size);

/* The firecracker binary: explicit (--firecracker-bin) or found on PATH. Caller frees. */
int vmm_firecracker_find(const char *explicit_path, char **ret, struct error *err) WUR;

/* ---- firecracker ----------------------------------------------------------- */

/*
 * Configures a firecracker process that is listening on cfg->api_socket and
 * starts the instance: PUT /logger (when log_path), PUT /metrics (when
 * metrics_path), PUT /boot-source, PUT /drives/rootfs, PUT /machine-config,
 * PUT /network-interfaces/eth0 (when tap), PUT /actions InstanceStart. Each
 * request body conforms to Firecracker's API (specs/firecracker-v1.16.1.yaml);
 * an error response's fault_message is carried into err.
 * timeout_ms bounds each request.
 */
int vmm_fc_configure_and_start(const struct vmm_config *cfg, int timeout_ms, struct error *err) WUR;
/* PUT /actions SendCtrlAltDel. */
int vmm_fc_send_ctrl_alt_del(const char *api_socket, int timeout_ms, struct error *err) WUR;
/* GET / (instance info): state "Not started", "Running", "Paused" into ret (caller frees). */
int vmm_fc_state(const char *api_socket, int timeout_ms, char **ret, struct error *err) WUR;

/* The argv to exec firecracker for cfg (`firecracker --api-sock PATH --id ID`).
 * Caller frees with vmm_argv_free. */
int vmm_fc_argv(const char *binary, const struct vmm_config *cfg, char ***ret,
                struct error *err) WUR;

/* ---- qemu ------------------------------------------------------------------ */

/*
 * The argv to exec qemu for cfg: -M microvm (pit and pic on: TCG hangs
 * without them), -accel kvm or tcg, -cpu host or max, -smp, -m, -kernel,
 * -initrd, -append, the disk as -drive if=none + -device
 * virtio-blk-device, the network as -netdev tap + -device virtio-net-device
 * when a tap is given (else -nic none), -serial stdio, -nographic,
 * -no-reboot, -qmp unix:SOCKET,server=on,wait=off. Caller frees.
 */
int vmm_qemu_argv(const char *binary, const struct vmm_config *cfg, bool kvm, char ***ret,
                  struct error *err) WUR;

/* QMP: connect, read the greeting, qmp_capabilities; then one command. */
/* query-status: "running", "paused", "shutdown", ... into ret (caller frees). */
int vmm_qmp_status(const char *socket, int timeout_ms, char **ret, struct error *err) WUR;
/* system_powerdown (the guest's ACPI power button). */
int vmm_qmp_powerdown(const char *socket, int timeout_ms, struct error *err) WUR;
/* quit (qemu exits at once). */
int vmm_qmp_quit(const char *socket, int timeout_ms, struct error *err) WUR;

void vmm_argv_free(char **argv);

#endif
