/*
 * What vm_run.c (start, stop, kill, refresh, remove), vm_console.c (logs,
 * attach), vm_launch.c (the VM's directories and launch.json), vm_proc.c
 * (whether a process is the VM's) and monitor.c (the per-VM monitor process) share.
 * Internal to src/engine.
 */
#ifndef HEARTH_ENGINE_VM_PRIV_H
#define HEARTH_ENGINE_VM_PRIV_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/engine.h"
#include "net/net.h"
#include "store/store.h"
#include "vmm/vmm.h"

#define VM_CONSOLE_LOG "console.log"
#define VM_CONSOLE_OLD "console.log.1"
#define VM_CONSOLE_MAX (1u << 20) /* console.log is rotated when it passes this */
#define VM_ATTACH_SOCKET "attach.sock"
#define VM_LAUNCH_FILE "launch.json"
#define VM_MONITOR_LOCK "monitor.lock" /* held by the monitor while it lives (vm_proc.c) */
#define VM_READY_TIMEOUT_MS 60000      /* the starter's wait for the monitor's report */

/* ---- the VM's directories and launch file (vm_launch.c) ------------------ */

/* What the starter decided and the monitor runs (<runtime dir>/launch.json). */
struct vm_launch {
    enum vmm_kind kind;
    bool kvm;
    char *binary;  /* owned */
    char *kernel;  /* owned */
    char *initrd;  /* owned, NULL when none */
    char *cmdline; /* owned */
    char *disk;    /* owned */
    uint64_t cpus, memory;
    int64_t device_id;
    char *monitor;         /* owned: the hearth binary the monitor runs, NULL when not recorded */
    enum vmm_net net;      /* how its NIC reaches the network (VMM_NET_NONE: none) */
    char tap[IFNAMSIZ];    /* VMM_NET_TAP: the VM's tap */
    char mac[NET_MAC_MAX]; /* the NIC's MAC, with any net */
    char *passt;           /* owned: VMM_NET_PASST's binary */
    struct vmm_forward *forwards; /* owned (their bind addresses too): the user modes' port maps */
    size_t n_forwards;
    char *netns;                  /* owned: cni: the namespace the VMM runs in, NULL otherwise */
    bool dhcp;                    /* cni: the monitor answers the guest's DHCP on the tap */
    struct net_dhcpd_lease lease; /* what it tells the guest */
};
void vm_launch_release(struct vm_launch *l);
int vm_launch_write(const char *path, const struct vm_launch *l, struct error *err) WUR;
int vm_launch_read(const char *path, struct vm_launch *ret, struct error *err) WUR;

/* "<root>/run/vm/<uid>" and "<root>/vm/<uid>"; caller frees; NULL on OOM. */
char *vm_run_dir(engine *e, const char *uid);
char *vm_data_dir(engine *e, const char *uid);

/* ---- the VM's network (net.c) ---------------------------------------------- */

#define VM_NET_DEFAULT_BRIDGE "hearth0"
/* The guest's address in the user modes (passt and QEMU's user networking alike). */
#define VM_NET_USER_ADDRESS "10.0.2.15"
#define VM_NET_USER_PREFIX 24
#define VM_NET_USER_GATEWAY "10.0.2.2"
#define VM_NET_PASST_SOCKET "passt.sock" /* in the VM's runtime directory */

enum vm_net_mode { VM_NET_NONE, VM_NET_BRIDGE, VM_NET_USER, VM_NET_CNI };

/* What a start decided of a VM's network (vm_net_plan, then vm_net_lease). */
struct vm_net {
    enum vm_net_mode mode;
    struct store_network net; /* bridge: the network it joins */
    struct net_subnet subnet;
    bool fresh;               /* the network is recorded by this start's intent */
    struct store_lease lease; /* after vm_net_lease */
    uint32_t ip;
    char tap[IFNAMSIZ];
    char mac[NET_MAC_MAX];
    struct net_portmap *maps; /* owned: spec.ports as elements */
    size_t n_maps;
    uint16_t ssh_port; /* user mode with spec.ssh: the 127.0.0.1 port forwarded to guest port 22 */
    /* cni (net_cni.c) */
    struct net_cni_conf cni_conf;     /* the list the plugins run from */
    char *cni_path;                   /* owned: CNI_PATH */
    char *netns;                      /* owned: the VM's namespace */
    struct net_cni_result cni_result; /* after ADD */
};

/* spec.networkMode as the VM runs here: -EPERM for bridge or cni without root. */
int vm_net_mode_of(const struct api_object *vm, enum vm_net_mode *ret, struct error *err) WUR;
/* spec.ports as port-map elements to address ip (0: filled later). Caller frees *ret. */
int vm_net_maps(const struct api_object *vm, uint32_t ip, struct net_portmap **ret, size_t *ret_n,
                struct error *err) WUR;
/*
 * Before the intent: the mode, the network, the port maps checked (in use:
 * -EADDRINUSE). notice: what the plan did that the user should hear of.
 */
int vm_net_plan(engine *e, const struct api_object *vm, const struct engine_vm_start_opts *opts,
                struct vm_net *n, char *notice, size_t notice_size, struct error *err) WUR;
/* In the intent's transaction: the network's row when new, the lease, status.ipAddresses. */
int vm_net_lease(engine *e, struct vm_net *n, const char *uid, struct error *err) WUR;
/* The network's lock (<root>/run/net/<name>.lock): its descriptor, to close. */
int vm_net_lock(engine *e, const char *network, struct error *err) WUR;
/* Under the network's lock: its bridge, the nftables table and its dnsmasq (doctor, start). */
int vm_net_ensure(engine *e, const struct store_network *nw, const struct net_subnet *s,
                  struct error *err) WUR;
/* The act's network steps (bridge, host file, tap, port maps; cni's), each a journal step. */
int vm_net_up(engine *e, struct vm_net *n, const char *uid, const char *name, int64_t op,
              struct error *err) WUR;
/*
 * What the monitor needs of the network in l: the tap and MAC, the user
 * mode and forwards, or cni's namespace and DHCP lease.
 */
int vm_net_launch(const struct vm_net *n, const char *name, struct vm_launch *l,
                  struct error *err) WUR;
/* net_tap_delete, waiting up to 3 s while a VMM killed a moment ago still holds the tap. */
int vm_net_tap_delete(const char *tap, struct error *err) WUR;
/* The VM's tap, port-map elements and host file gone (the lease stays). Idempotent. */
void vm_net_down(engine *e, const char *uid);
/*
 * A VM being removed: its network's dnsmasq forgets the lease it gave it,
 * else it would refuse the address to the next VM that leases it (the row
 * goes with the VM's). Idempotent; failures are logged.
 */
void vm_net_forget(engine *e, const char *uid);
void vm_net_release_fields(struct vm_net *n);
/* "<root>/run/net/<network>": dnsmasq's directory. Caller frees. */
char *vm_net_dir(engine *e, const char *network);

/* ---- networkMode cni (net_cni.c) --------------------------------------------- */

#define VM_CNI_IFNAME "eth0" /* the plugins' interface in the namespace */
#define VM_CNI_TAP "tap0"    /* the VMM's, beside it */

/* "<root>/run/cni/netns/<uid>". Caller frees. */
char *vm_cni_netns_path(engine *e, const char *uid);
/* The list (a default one written when there is none: said in notice), CNI_PATH, the netns. */
int vm_cni_plan(engine *e, const struct api_object *vm, const struct engine_vm_start_opts *opts,
                struct vm_net *n, char *notice, size_t notice_size, struct error *err) WUR;
/* In the intent's transaction: the vm_cni row. */
int vm_cni_record(engine *e, const struct vm_net *n, const char *uid, struct error *err) WUR;
/* The act's steps: the namespace, ADD, the tap; n gets the result and the guest's MAC. */
int vm_cni_up(engine *e, struct vm_net *n, const char *uid, int64_t op, struct error *err) WUR;
int vm_cni_launch(const struct vm_net *n, const char *name, struct vm_launch *l,
                  struct error *err) WUR;
/*
 * DEL with the recorded list and result, the namespace gone, then the row
 * and status.ipAddresses. No row: 0. A failed DEL keeps the row and the
 * namespace for a later try, unless force (the VM is being removed).
 */
int vm_cni_down(engine *e, const char *uid, bool force, struct error *err) WUR;

/* ---- runtime (vm_run.c) ---------------------------------------------------- */

/* Running, Starting or Stopping: a monitor may run for the VM. */
bool vm_state_runs(enum api_vm_state state);

/* ---- is it the VM's process? (vm_proc.c) -------------------------------- */

enum vm_proc_role { VM_PROC_MONITOR, VM_PROC_VMM };
/*
 * True when pid runs, started at start (clock ticks since boot), and is the
 * monitor or the VMM of VM uid in this root: its argv, executable and (VMM)
 * working directory say so (vm_proc.c has the rules). Every signal to a VM's
 * processes and every "does the VM run" asks this.
 */
bool vm_proc_is(engine *e, const char *uid, enum vm_proc_role role, int pid, uint64_t start);
/*
 * Sends sig (with value as sigqueue's value when value >= 0) to pid only
 * when vm_proc_is says it is the VM's process. 0, -ESRCH when it is not (or
 * is gone), or another -errno.
 */
int vm_proc_signal(engine *e, const char *uid, enum vm_proc_role role, int pid, uint64_t start,
                   int sig, int value);
/*
 * The monitor's mark (run in its runtime directory, its working directory):
 * VM_MONITOR_LOCK made 0600, "PID START\n" written into it and a write lock
 * (fcntl) taken on it, which the monitor holds until it exits. Returns the
 * descriptor (the caller keeps it open) or -errno.
 */
int vm_proc_monitor_mark(void);
/*
 * The refresh's quick look: true when the VM's runtime directory holds the
 * monitor's mark for exactly this pid and start time and a live process,
 * that pid, holds its lock. Only ever taken to mean "runs": false says
 * nothing, and vm_proc_is decides.
 */
bool vm_proc_monitor_marked(engine *e, const char *uid, int pid, uint64_t start);
/*
 * SIGKILLs every monitor of VM uid in this root (found by its argv in /proc,
 * whether vm_runtime names it or not) and waits up to wait_ms for them to be
 * gone; their VMMs die with them. For a start that is rolled back: a monitor
 * that had not recorded itself yet is known by nothing else.
 */
void vm_proc_kill_monitors(engine *e, const char *uid, int wait_ms);

/*
 * The reasons a VM's end is recorded with (vm_runtime.exit_reason), besides
 * vm_exit_describe's: the monitor's, and the one the engine records itself.
 */
#define VM_REASON_REBOOTED "guest rebooted"
#define VM_REASON_PANICKED "guest panicked"
#define VM_REASON_GRACE_PREFIX "killed after the " /* + "20 s grace" */
#define VM_REASON_REFUSED "killed: the guest could not be asked to shut down"

/* "exited with status N" / "killed by signal N" and the status (code, or 128 + signal). */
void vm_exit_describe(int wstatus, int *ret_status, char *reason, size_t size);

/*
 * Records the end of a VM's VMM in ONE transaction: vm_runtime's stopped,
 * exit_status and exit_reason; state Stopped unless a removal runs (or the
 * VM is gone); the open vm.stop operation of the VM, if any, closed.
 */
int vm_record_stopped(engine *e, const char *uid, int exit_status, const char *reason,
                      struct error *err) WUR;

/* Deactivates the VM's pool device (a missing pool or device is fine; problems are logged). */
void vm_device_deactivate(engine *e, int64_t device_id);

/*
 * An SSH connection to a running VM with spec.ssh (vm_ssh.c), for exec,
 * ssh, cp and the wait for SSH: the VM resolved and checked (has spec.ssh,
 * runs, has an address, a planted host key and a key), the connection
 * made, the host key checked, and with opts->accept_new_host_key a new one
 * recorded (told through opts->notice). The retries stop early when the VM
 * stops. vm_ssh_close frees it all (NULL is fine).
 */
struct vm_ssh {
    engine *e;
    const struct engine_vm_ssh_opts *opts;
    char uid[ID_LEN + 1];
    char name[API_NAME_MAX + 1];
    char host[NET_IP_MAX];
    char *what, *identity;
    struct store_vm_ssh rec;
    struct net_ssh_target t;
    net_ssh *conn;
};
int vm_ssh_open(engine *e, const char *ref, const struct engine_vm_ssh_opts *opts,
                struct vm_ssh **ret, struct error *err) WUR;
/*
 * vm_ssh_open in its two steps, for a caller that tells their failures
 * apart: what is checked before any connection is tried, then connecting.
 */
int vm_ssh_prepare(engine *e, const char *ref, const struct engine_vm_ssh_opts *opts,
                   struct vm_ssh **ret, struct error *err) WUR;
int vm_ssh_connect(struct vm_ssh *v, struct error *err) WUR;
void vm_ssh_close(struct vm_ssh *v);

#endif
