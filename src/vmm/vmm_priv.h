/*
 * vmm internals: each backend's own calls behind the driver interface of
 * vmm.h (the firecracker API client, the QEMU argv, the QMP client) and the
 * argv builders. For src/vmm and its tests; the engine uses vmm.h only.
 */
#ifndef HEARTH_VMM_PRIV_H
#define HEARTH_VMM_PRIV_H

#include "vmm/vmm.h"

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
 * The argv to exec qemu for cfg: -S (the guest waits for QMP cont, so that
 * the events socket is connected before it runs), -M microvm (pit and pic
 * on: TCG hangs without them), -accel kvm or tcg, -cpu host or max, -smp,
 * -m, -kernel, -initrd, -append, the disk as -drive if=none + -device
 * virtio-blk-device, the network as -netdev (tap on cfg->tap, stream to
 * passt's socket, or user) + -device virtio-net-device with cfg->mac (-nic
 * none without a network), -device i8042 (the reset line that
 * reboot=k pulls, as on Firecracker), -device pvpanic (a guest's panic
 * reaches qemu), -serial stdio, -nographic, -no-reboot and -action
 * panic=exit-failure (a guest reset or panic ends qemu: status 0 or 1),
 * -qmp unix:SOCKET,server=on,wait=off, and a second -qmp for
 * cfg->events_socket when given. Caller frees.
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
/* cont (a guest started with -S runs). */
int vmm_qmp_cont(const char *socket, int timeout_ms, struct error *err) WUR;

/* ---- the network (net.c, passt.c) -------------------------------------------- */

/* cfg's network mode: cfg->net, or VMM_NET_TAP for a config that sets only tap. */
enum vmm_net vmm_config_net(const struct vmm_config *cfg);

/*
 * Checks what the user modes take from cfg: the forwards (at most
 * VMM_FORWARDS_MAX, ports 1-65535, a literal bind address: IPv4 for slirp,
 * IPv4 or IPv6 for passt, no host port forwarded twice) and the guest
 * address, prefix and gateway (IPv4, the gateway inside the subnet and not
 * the address). err names the forward or field.
 */
int vmm_user_net_check(const struct vmm_config *cfg, enum vmm_net mode, struct error *err) WUR;

/*
 * The argv that runs passt for cfg (see vmm_passt_spawn): BINARY -f -q -e
 * --one-off -s SOCKET [--runas R] [-a ADDR -n PREFIX] [-g GW]
 * [-t|-u [BIND/]HOSTPORT:VMPORT]... Caller frees with vmm_argv_free.
 */
int vmm_passt_argv(const struct vmm_passt *p, const struct vmm_config *cfg, char ***ret,
                   struct error *err) WUR;

/*
 * qemu's -netdev user value for cfg: "user,id=net0[,net=SUBNET/PREFIX,
 * dhcpstart=ADDR][,host=GW][,hostfwd=tcp|udp:BIND:HOSTPORT-:VMPORT]...".
 * Caller frees.
 */
int vmm_slirp_netdev(const struct vmm_config *cfg, char **ret, struct error *err) WUR;

/* ---- the event channel and argv ---------------------------------------------- */

/*
 * Connects to a QMP socket as an event listener: greeting, qmp_capabilities,
 * then the descriptor is non-blocking and left to vmm_events_read. One
 * attempt within timeout_ms (retried while the socket is not there yet).
 */
int vmm_qmp_events_open(const char *socket, int timeout_ms, struct vmm_events *ret,
                        struct error *err) WUR;

/* The argv that runs the VMM for l (vmm_fc_argv / vmm_qemu_argv). Caller frees. */
int vmm_spawn_argv(const struct vmm_launch *l, char ***ret, struct error *err) WUR;

/* A NULL-terminated argv under construction; rc keeps the first failure (-ENOMEM). */
struct vmm_argv {
    char **v;
    size_t n, cap;
    int rc;
};
/* Appends s, which it owns from then on (NULL: out of memory, recorded in rc). */
void vmm_argv_push(struct vmm_argv *a, char *s);
/* Appends a copy of s. */
void vmm_argv_add(struct vmm_argv *a, const char *s);

void vmm_argv_free(char **argv);

#endif
