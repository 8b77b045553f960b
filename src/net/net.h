/*
 * net: the host side of hearth's networks.
 *
 * A bridged network is a Linux bridge with an IPv4 subnet (the bridge holds
 * the subnet's first address, the guests' gateway), one tap per running VM
 * attached to it, one dnsmasq per bridge that hands out the addresses the
 * engine leased (one host file per VM in its --dhcp-hostsdir) and forwards
 * DNS, and one nftables table, `inet hearth`, for everything hearth adds to
 * the firewall: masquerade of the subnets, and the port maps as elements of
 * maps keyed by (protocol, host port), so that a VM adds elements and never
 * rules.
 *
 * This module keeps no state and decides nothing: the engine knows what
 * should exist (the database) and calls these to make the machine agree,
 * and the listings to compare. Every "ensure" and "delete" is idempotent:
 * ensuring what exists and deleting what is gone succeed and change
 * nothing, so recovery can call them again after a crash at any point.
 *
 * Addresses are IPv4 in host byte order.
 */
#ifndef HEARTH_NET_H
#define HEARTH_NET_H

#include <net/if.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/util.h"

/* ---- addresses --------------------------------------------------------------- */

struct net_subnet {
    uint32_t addr; /* the network address: host bits are zero */
    uint8_t prefix;
};

#define NET_IP_MAX 16     /* "255.255.255.255" and its NUL */
#define NET_SUBNET_MAX 19 /* "255.255.255.255/32" and its NUL */
#define NET_MAC_MAX 18    /* "02:xx:xx:xx:xx:xx" and its NUL */

/* "10.61.0.0/16"; host bits set, a prefix outside 8..30, garbage: -EINVAL naming s. */
int net_subnet_parse(const char *s, struct net_subnet *ret, struct error *err) WUR;
void net_subnet_format(const struct net_subnet *s, char buf[NET_SUBNET_MAX]);
int net_ip_parse(const char *s, uint32_t *ret, struct error *err) WUR;
void net_ip_format(uint32_t ip, char buf[NET_IP_MAX]);
uint32_t net_subnet_mask(const struct net_subnet *s);
/* The bridge's address (the subnet's first host address), and the last usable one. */
uint32_t net_subnet_gateway(const struct net_subnet *s);
uint32_t net_subnet_last(const struct net_subnet *s);
bool net_subnet_contains(const struct net_subnet *s, uint32_t ip);

/*
 * Whether s overlaps a route of the main routing table or an address of an
 * interface here; why names the one it overlaps. Interfaces named skip_link
 * (the network's own bridge; NULL: none) do not count.
 */
bool net_subnet_in_use(const struct net_subnet *s, const char *skip_link, char *why, size_t size);

/*
 * A free /16 for a new network: 10.61.0.0/16 (Ignite's) when it is free,
 * else the next free one of 10.62..10.254, then 172.16..172.31.
 * -EADDRINUSE when none is.
 */
int net_subnet_pick(struct net_subnet *ret, struct error *err) WUR;

/* The VM's MAC, stable for its uid (16 hex, random): "02:" and the uid's first five bytes. */
void net_mac_of(const char *uid, char mac[NET_MAC_MAX]);

/* The VM's tap: NET_TAP_PREFIX and the first 12 characters of its uid. */
#define NET_TAP_PREFIX "hth"
void net_tap_name_of(const char *uid, char name[IFNAMSIZ]);
/* Whether name is a tap name net_tap_name_of makes; the uid's first 12 characters in prefix12. */
bool net_tap_name_parse(const char *name, char prefix12[13]);

/* Frees what the listings return. */
void net_names_free(char **v, size_t n);

/* ---- links ------------------------------------------------------------------------ */

bool net_link_exists(const char *name);

/*
 * The bridge name with the subnet's gateway address, up; net.ipv4.ip_forward
 * set to 1 and the bridge's route_localnet to 1 (port maps reached through
 * localhost). An existing bridge keeps its links; a missing address is added.
 * A link of that name that is not a bridge: -EEXIST naming it.
 */
int net_bridge_ensure(const char *name, const struct net_subnet *s, struct error *err) WUR;
int net_bridge_delete(const char *name, struct error *err) WUR;

/*
 * The persistent tap name (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR), owned by
 * owner (so an unprivileged VMM may open it), attached to bridge (NULL: to
 * none) and up.
 */
int net_tap_create(const char *name, const char *bridge, uid_t owner, struct error *err) WUR;
int net_tap_delete(const char *name, struct error *err) WUR;
/* The names of the links that net_tap_name_parse accepts. Caller frees with net_names_free. */
int net_tap_list(char ***ret, size_t *ret_n, struct error *err) WUR;
/* The bridge a link is attached to ("" when none). */
int net_link_master(const char *name, char master[IFNAMSIZ], struct error *err) WUR;

/* ---- nftables: table inet hearth ------------------------------------------------- */

/* One port map as an element: (protocol, [bind address,] host port) -> (vm ip, vm port). */
struct net_portmap {
    bool udp;      /* else tcp */
    uint32_t bind; /* 0: every address of the host */
    uint16_t host_port;
    uint32_t vm_ip;
    uint16_t vm_port;
};

/*
 * Table inet hearth with its sets and maps, its NAT and forward chains, and
 * bridge and s in its sets (bridges, subnets). Nothing outside the table is
 * touched. libnftables, loaded on first use (util/lazylib.c).
 */
int net_nft_ensure(const char *bridge, const struct net_subnet *s, struct error *err) WUR;
/*
 * Adds the elements; an element of that (protocol, bind, host port) present:
 * -EADDRINUSE naming it.
 */
int net_nft_add(const struct net_portmap *m, size_t n, struct error *err) WUR;
/* Deletes the elements that exist; those gone are fine. */
int net_nft_del(const struct net_portmap *m, size_t n, struct error *err) WUR;
/* Every port-map element; *ret_n 0 when the table does not exist. Caller frees *ret. */
int net_nft_list(struct net_portmap **ret, size_t *ret_n, struct error *err) WUR;
/*
 * Whether a port-map element takes m's host port (the same protocol and port,
 * on m's bind address or on every address; m->vm_* are not looked at): 1
 * with the element in *ret, 0 when none (or no table), -errno. It asks for
 * m's keys (`get element`) and lists map bind_ports, not the whole table, so
 * it costs the same at one element or thousands.
 */
int net_nft_mapped(const struct net_portmap *m, struct net_portmap *ret, struct error *err) WUR;
bool net_nft_exists(void);
/* The whole table; gone already is fine. */
int net_nft_delete(struct error *err) WUR;

/* A host port something listens on (sock_diag, else /proc/net/{tcp,udp}{,6}), on bind or any. */
bool net_port_listening(bool udp, uint32_t bind, uint16_t port);
/*
 * The lowest port a process without CAP_NET_BIND_SERVICE may bind in this
 * network namespace (net.ipv4.ip_unprivileged_port_start; 1024 when it
 * cannot be read).
 */
unsigned net_port_unprivileged_start(void);

/* ---- dnsmasq: one per bridge, in a directory of its own -------------------------- */

/*
 * dir (made 0700 if missing) holds dnsmasq.pid, hosts/ (the --dhcp-hostsdir)
 * and leases (both files 0600). Starts dnsmasq (Debian's dnsmasq-base) on bridge for s, static
 * leases only, DNS forwarded to the host's resolvers, unless the one whose
 * pid the pid file names still runs with this dir in its argv. A dnsmasq it
 * starts begins with no lease file: what an earlier one remembered may be
 * of VMs removed since (see net_dnsmasq_release), and every address it
 * gives is in a host file anyway. Its pid in *ret_pid (may be NULL).
 */
int net_dnsmasq_ensure(const char *dir, const char *bridge, const struct net_subnet *s,
                       int *ret_pid, struct error *err) WUR;
/* The running dnsmasq of dir (checked as above), else 0. */
int net_dnsmasq_pid(const char *dir);
int net_dnsmasq_stop(const char *dir, struct error *err) WUR;
/*
 * Makes dir's running dnsmasq forget its lease of ip to mac (a removed
 * VM's), so that the next VM given ip gets it: dnsmasq refuses a host
 * file's address that it remembers leased to another MAC. A DHCPRELEASE
 * from this host, sent on bridge to the gateway of s as the client would
 * send it; returns once the lease file no longer has the lease (-ETIMEDOUT
 * after 2 s). No lease, or no dnsmasq (its next start forgets every lease),
 * is fine. Needs root (SO_BINDTODEVICE).
 */
int net_dnsmasq_release(const char *dir, const char *bridge, const struct net_subnet *s,
                        uint32_t ip, const char *mac, struct error *err) WUR;

/* hosts/<uid>: "mac,ip,name", written atomically; dnsmasq picks it up by inotify. */
int net_hostfile_write(const char *dir, const char *uid, const char *mac, uint32_t ip,
                       const char *name, struct error *err) WUR;
/* hosts/<uid> gone, and dir's dnsmasq told to reload its host files (SIGHUP) when it was there. */
int net_hostfile_remove(const char *dir, const char *uid, struct error *err) WUR;
/* The uids that have a host file. Caller frees with net_names_free. */
int net_hostfile_list(const char *dir, char ***ret, size_t *ret_n, struct error *err) WUR;

/* ---- network namespaces (netns.c) ----------------------------------------------- */

/*
 * A new network namespace kept by a bind mount on path (made, 0600, its
 * missing parents 0755), as `ip netns add` keeps one on /run/netns/NAME; lo
 * is up in it. The mount is in the caller's mount namespace. An existing
 * namespace on path: -EEXIST; an empty file (a create that died before its
 * mount) is used.
 */
int net_netns_create(const char *path, struct error *err) WUR;
/* path unmounted and removed; missing is fine. */
int net_netns_delete(const char *path, struct error *err) WUR;
/* Whether path holds a network namespace (a bind mount of one). */
bool net_netns_exists(const char *path);
/*
 * The calling thread moves into the namespace on path; *ret_back is a
 * descriptor of the one it was in, for net_netns_leave (which closes it).
 * A thread that cannot go back aborts the process: it would act on the
 * wrong network.
 */
int net_netns_enter(const char *path, int *ret_back, struct error *err) WUR;
void net_netns_leave(int back);

/* ---- tc: a tap joined to a link by redirects (tc.c) ------------------------------ */

/*
 * Everything that arrives on a goes out of b and everything that arrives on
 * b goes out of a (tc-redirect-tap's way): an ingress qdisc on each (one
 * there, or a clsact one, is kept), with a u32 filter that matches every
 * frame and whose mirred action steals it to the other's egress, at a
 * priority of hearth's own, by rtnetlink. In the calling thread's
 * namespace; the links' other settings (up, addresses) are left alone.
 * Again on links that have it: 0, nothing changed; a filter of another kind
 * or target at that priority is replaced. A link missing: -ENODEV naming it.
 */
int net_tc_redirect(const char *a, const char *b, struct error *err) WUR;
/* The link's MAC ("aa:bb:cc:dd:ee:ff"); a link without one (lo): -EINVAL. */
int net_link_mac(const char *name, char mac[NET_MAC_MAX], struct error *err) WUR;

/* ---- a DHCP server for one guest behind a tap (dhcpd.c, dhcp.c) ----------------- */

/* What the guest is told. */
struct net_dhcpd_lease {
    char mac[NET_MAC_MAX]; /* only this client is answered */
    uint32_t ip;
    uint8_t prefix;    /* 1..32 */
    uint32_t gateway;  /* 0: no router option */
    uint32_t dns[3];   /* 0-terminated */
    char hostname[64]; /* "" : none */
    char domain[64];   /* "" : none */
    uint32_t lease_s;  /* 0: a day */
};
typedef struct net_dhcpd net_dhcpd;
/*
 * Answers, on link ifname (the guest's tap), the client of l->mac (the
 * Ethernet source and chaddr both) and no other, by an AF_PACKET socket: it
 * needs no address on the link and sees the guest's frames before any tc
 * redirect. DHCPDISCOVER gets an offer of l->ip; DHCPREQUEST an ack when it
 * asks for l->ip (selecting with this server's id, init-reboot, renewing,
 * rebinding), a nak when it asks for another address, nothing when it
 * names another server; DHCPINFORM an ack without a lease; DHCPRELEASE and
 * DHCPDECLINE nothing. Offers and acks carry the lease time (renewal at a
 * half, rebinding at 7/8), the mask, the router, DNS, hostname, domain and
 * broadcast address that l has, those the client asks for (option 55)
 * first, and its client id back. Replies come from the link's MAC and from
 * the server id: l->gateway, or when there is none an address of l->ip's
 * subnet that is not l->ip (its first host, or the second when l->ip is
 * the first; l->ip ^ 1 for a /31 or /32). They go to the client's MAC
 * and yiaddr, to its ciaddr when it has one, and to the broadcast
 * addresses when it sets the broadcast flag (a nak always). In the calling
 * thread's namespace. Needs CAP_NET_RAW. A lease that makes no sense (a
 * MAC that is not one, no address, a gateway that is the address):
 * -EINVAL.
 */
int net_dhcpd_open(const char *ifname, const struct net_dhcpd_lease *l, net_dhcpd **ret,
                   struct error *err) WUR;
/* The descriptor to poll for input; net_dhcpd_handle when it is readable. */
int net_dhcpd_fd(const net_dhcpd *d);
/*
 * Reads what is there (up to 64 frames) and answers it; never blocks.
 * Malformed frames and failed sends are dropped without a word: a guest
 * retries, and nothing here is the caller's to report.
 */
void net_dhcpd_handle(net_dhcpd *d);
void net_dhcpd_close(net_dhcpd *d);

/* ---- CNI: plugins run as the CNI spec says (cni.c) ------------------------------- */

/* A network configuration list, as read. */
struct net_cni_conf {
    char *file;        /* the file it was read from */
    char *name;        /* its "name" */
    char *cni_version; /* its "cniVersion" */
    char *json;        /* the whole list, as read (kept with the VM for DEL) */
};
/*
 * The first network configuration in dir, in lexical order of the file
 * names, as libcni picks it: *.conflist, or *.conf / *.json holding one
 * plugin's configuration (made a list of one). -ENOENT when there is none;
 * a file that is not valid: -EINVAL naming the file and the field.
 */
int net_cni_conf_find(const char *dir, struct net_cni_conf *ret, struct error *err) WUR;
/* conf from a list kept earlier (file only names it in messages). */
int net_cni_conf_parse(const char *file, const char *json, struct net_cni_conf *ret,
                       struct error *err) WUR;
/*
 * Writes dir/10-hearth.conflist (dir made if missing): network "hearth-cni",
 * cniVersion 1.0.0, bridge hearth-cni0 (isGateway, ipMasq) with host-local
 * IPAM on subnet s (its store in data_dir), portmap (capability
 * portMappings, snat) and firewall. Its path in *ret_file (caller frees).
 */
int net_cni_conf_default(const char *dir, const struct net_subnet *s, const char *data_dir,
                         char **ret_file, struct error *err) WUR;
void net_cni_conf_release(struct net_cni_conf *c);

/* Where a list's plugins run (the CNI_* variables) and the runtime configuration. */
struct net_cni_args {
    const char *path;               /* CNI_PATH: the plugins' directories, ':'-separated */
    const char *container_id;       /* CNI_CONTAINERID */
    const char *netns;              /* CNI_NETNS: the namespace's path */
    const char *ifname;             /* CNI_IFNAME: "eth0" */
    const struct net_portmap *maps; /* runtimeConfig.portMappings, to plugins with the capability */
    size_t n_maps;
    int timeout_ms; /* one plugin's time (0: 60 s) */
};
/*
 * ADD through the list: each plugin in order with the previous one's result
 * as prevResult; the last result (JSON) in *ret_result (caller frees). A
 * plugin that fails: DEL through it and the plugins before it, in reverse,
 * with the last result there is (as libcni does not, but the spec allows:
 * a failed ADD leaves nothing), and an error that names the plugin (its
 * "type"), the list's file, and the plugin's error object as given (code,
 * msg, details) with the tail of its stderr (-EIO; -EAGAIN for code 11,
 * "try again later"; -ETIMEDOUT when it did not finish in time). A plugin
 * missing from every directory of path: -ENOENT naming it and path, found
 * before any plugin runs.
 */
int net_cni_add(const struct net_cni_conf *c, const struct net_cni_args *a, char **ret_result,
                struct error *err) WUR;
/*
 * CHECK through the list with result (an ADD's) as prevResult; the first
 * failure as above. A list of a cniVersion before 0.4.0 (the spec has no
 * CHECK there) or with "disableCheck": 0 without running anything. The
 * failure of Debian 12's portmap (plugins 1.1.1) to find IPv6 rules of a
 * container that has no IPv6 address passes, as it does in plugins 1.2.0.
 */
int net_cni_check(const struct net_cni_conf *c, const struct net_cni_args *a, const char *result,
                  struct error *err) WUR;
/*
 * DEL through the list in reverse order with result (NULL: unknown, after a
 * crash) as prevResult (from cniVersion 0.4.0 on; a result that is not a
 * JSON object is an error, and DEL runs without it). Every plugin is run
 * even when one fails, or is missing; the first failure is returned. A
 * plugin's error code 3 ("container unknown": nothing to clean up) is no
 * failure. a->netns may be NULL (the namespace is gone).
 */
int net_cni_del(const struct net_cni_conf *c, const struct net_cni_args *a, const char *result,
                struct error *err) WUR;

/* What hearth uses of a result. */
struct net_cni_result {
    uint32_t ip; /* the first IPv4 address (of the sandbox's interface when one is named) */
    uint8_t prefix;
    uint32_t gateway;      /* its gateway, 0 when none */
    uint32_t dns[3];       /* dns.nameservers (IPv4), 0-terminated */
    char domain[64];       /* dns.domain */
    char mac[NET_MAC_MAX]; /* the sandbox interface's MAC, "" when the result has none */
};
/* -EINVAL naming what is missing (no IPv4 address) or malformed. */
int net_cni_result_parse(const char *json, struct net_cni_result *ret, struct error *err) WUR;

/* ---- ssh (ssh.c, ssh_client.c) ---------------------------------------------- */

#define NET_SSH_FINGERPRINT_MAX 51 /* "SHA256:" + 43 base64 characters + NUL */

/*
 * The SHA256 fingerprint of an ssh public key as OpenSSH prints it
 * ("SHA256:" and the unpadded base64 of the digest of the key blob). key is
 * a .pub line ("ssh-ed25519 AAAA... comment") or the base64 blob alone;
 * -EINVAL for anything else.
 */
int net_ssh_fingerprint(const char *key, char ret[NET_SSH_FINGERPRINT_MAX], struct error *err) WUR;
/*
 * One command line for the remote shell from argv, as Ignite joins it: the
 * first word as it is (so "ls -l | wc" given as one word is a shell line),
 * each further one quoted for a POSIX shell when it is empty or has a
 * character outside [A-Za-z0-9_@%+=:,./-] ('it'"'"'s'). Caller frees; NULL
 * for out-of-memory.
 */
char *net_ssh_command_join(const char *const *argv, size_t argc);

/* Where and as whom to connect, and the key the server must have. */
struct net_ssh_target {
    const char *what;         /* the server in messages: "vm 'dev'" */
    const char *host;         /* an IPv4 address */
    unsigned port;            /* 22 unless mapped */
    const char *user;         /* "root" */
    const char *identity;     /* the private key file */
    const char *fingerprint;  /* the server's ed25519 host key must have it */
    bool accept_new_key;      /* take another host key than fingerprint (net_ssh_host_key tells) */
    int timeout_s;            /* how long to keep trying to connect */
    const char *timeout_flag; /* the flag that sets it, for the error ("--timeout") */
    /*
     * Called before each new attempt with the milliseconds since the first
     * and the last attempt's error; returning false ends the wait (the
     * caller's err says why). NULL: keep trying until timeout_s.
     */
    bool (*retry)(void *ud, int64_t elapsed_ms, const char *last, struct error *err);
    void *retry_ud;
};

typedef struct net_ssh net_ssh;

/*
 * Connects to the target over SSH (libssh, loaded on first use), checks its
 * host key and authenticates with the target's key. Connecting is retried
 * every half second while the server refuses or does not answer, up to
 * t->timeout_s; then -ETIMEDOUT naming the target, the address and the last
 * error. A server whose ed25519 host key is not the recorded one is refused
 * at once (-EBADMSG naming both fingerprints) unless t->accept_new_key; one
 * with no ed25519 host key too (-EBADMSG, saying what to put in
 * sshd_config); a refused key is -EACCES. No known_hosts file and no ssh
 * configuration is read or written. t must outlive the connection.
 */
int net_ssh_open(const struct net_ssh_target *t, net_ssh **ret, struct error *err) WUR;
/* The fingerprint of the host key the server showed. */
const char *net_ssh_host_key(const net_ssh *c);
void net_ssh_close(net_ssh *c);

/* The command's ends: stdin is read to its end and sent (-1: none), with a PTY when tty. */
struct net_ssh_io {
    int in_fd, out_fd, err_fd;
    bool tty;
    const char *term; /* $TERM for the PTY (NULL: "xterm") */
};
/*
 * Runs command on the connection (NULL: the user's login shell) and waits
 * for it; *ret_status is its exit status (128 + N for a command ended by
 * signal N; 255 when the server sent none). With a PTY whose out_fd is a
 * terminal, the terminal's size goes with the request and every change of
 * it (SIGWINCH) after.
 */
int net_ssh_run(net_ssh *c, const char *command, const struct net_ssh_io *io, int *ret_status,
                struct error *err) WUR;

/* ---- sftp (sftp.c, sftp_wire.c, sftp_copy.c) ----------------------------- */

typedef struct net_sftp net_sftp;

/*
 * An SFTP session (protocol version 3) on the connection, on a channel of
 * its own. -ENOTSUP, saying what the server lacks, when it refuses the
 * "sftp" subsystem or closes it before answering; any other error means
 * the connection failed.
 */
int net_sftp_open(net_ssh *c, net_sftp **ret, struct error *err) WUR;
void net_sftp_close(net_sftp *s);
/* Whether the session broke: the connection failed, or the server broke the protocol. */
bool net_sftp_broken(const net_sftp *s);
/* The flag that stops what runs on the session (a signal handler sets it; NULL: none). */
void net_sftp_set_cancel(net_sftp *s, volatile sig_atomic_t *cancel);

/* A copy between this host and the server (hearth cp). */
struct net_cp {
    bool to_server;          /* host_path to server_path; else server_path to host_path */
    const char *host_path;   /* as given */
    const char *server_path; /* as given; relative to the login's home ("" is the home) */
    bool recursive;          /* copy directories */
    /*
     * A file's progress: its source path as shown, the bytes the other side
     * has, and the size it had; called as it starts (0), as its data goes,
     * and once it is in place. NULL: none.
     */
    void (*progress)(void *ud, const char *path, uint64_t done, uint64_t total);
    void (*notice)(void *ud, const char *msg); /* what was skipped (a special file in a tree) */
    void *ud;
};

/*
 * Copies a file, or with o->recursive a directory, between this host and
 * the server as cp and docker cp do. The source is followed when it is a
 * symlink; inside a tree, symlinks are copied as symlinks, other special
 * files are skipped (told through o->notice). The destination:
 *
 *   DST is a directory           the copy goes into it, as DST/NAME (NAME the
 *                                source's last component; a source ending in
 *                                "/." or "." copies the directory's contents)
 *   DST is missing               the copy is DST (a file, or a directory made
 *                                with the source's content); its parent must
 *                                exist; DST ending in '/' must be a directory
 *   DST is a file                a file replaces it; a directory is refused
 *
 * A directory copied onto an existing one merges into it. Modes (without
 * setuid and setgid, as cp -p drops them for a new owner) and access and
 * modification times (whole seconds, all SFTP v3 carries) are kept; new
 * files belong to the user on each side (root in a guest). Each file is
 * written under a temporary name beside its destination (".hearth-XXXXXXXX-NAME")
 * and renamed over it when complete, so a failed or cancelled copy leaves
 * no partial file where the destination was (the temporary one is removed).
 * Errors name the side and the path: "host: ./f: No such file or directory",
 * "vm 'dev': /nope: No such file or directory". At the cancel flag
 * (net_sftp_set_cancel): -ECANCELED once the file in progress is removed.
 */
int net_sftp_copy(net_sftp *s, const struct net_cp *o, struct error *err) WUR;
/*
 * What net_sftp_copy checks first and needs no server for: copying to the
 * server, the host source is a regular file, or with o->recursive a
 * directory (errors as net_sftp_copy's). So a missing source is said
 * before any connection is tried.
 */
int net_cp_check(const struct net_cp *o, struct error *err) WUR;

#endif
