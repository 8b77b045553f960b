/*
 * net link: the bridge and the taps, with ioctls on the current network
 * namespace (no `ip` at run time). What no ioctl tells, a link's kind
 * ("bridge", "tun") and the bridge it is attached to, comes from one
 * rtnetlink RTM_GETLINK request (link_info, through nl.c). /sys/class/net is not read: it
 * shows the namespace of whoever mounted /sys, not this process's.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/net.h"
#include "net/nl.h"

#define TAP_FLAGS (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR)

static int link_name_check(const char *name, struct error *err) {
    if (!name || !*name || strlen(name) >= IFNAMSIZ || strchr(name, '/'))
        return error_set(err, -EINVAL, "'%s' is not a link name (1 to %d characters, no '/')",
                         name ? name : "", IFNAMSIZ - 1);
    return 0;
}

static int ctl_socket(struct error *err) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return error_set(err, -errno, "cannot open a socket for link ioctls: %s", strerror(errno));
    return fd;
}

static void ifr_init(struct ifreq *ifr, const char *name) {
    memset(ifr, 0, sizeof(*ifr));
    snprintf(ifr->ifr_name, IFNAMSIZ, "%s", name);
}

bool net_link_exists(const char *name) {
    return name && *name && strlen(name) < IFNAMSIZ && if_nametoindex(name) > 0;
}

/* A link's kind (IFLA_INFO_KIND; "" when it has none, as lo) and its master's index. */
struct link_info {
    char kind[32];
    unsigned master;
};

static void link_info_parse(struct rtattr *rta, int len, struct link_info *ret) {
    for (; RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
        if (rta->rta_type == IFLA_MASTER && RTA_PAYLOAD(rta) >= sizeof(uint32_t)) {
            memcpy(&ret->master, RTA_DATA(rta), sizeof(uint32_t));
        } else if (rta->rta_type == IFLA_LINKINFO) {
            int n = (int)RTA_PAYLOAD(rta);
            for (struct rtattr *a = RTA_DATA(rta); RTA_OK(a, n); a = RTA_NEXT(a, n))
                if (a->rta_type == IFLA_INFO_KIND)
                    snprintf(ret->kind, sizeof(ret->kind), "%.*s", (int)RTA_PAYLOAD(a),
                             (const char *)RTA_DATA(a));
        }
    }
}

static int link_info_msg(const struct nlmsghdr *nh, void *ud) {
    if (nh->nlmsg_type != RTM_NEWLINK || nh->nlmsg_len < NLMSG_LENGTH(sizeof(struct ifinfomsg)))
        return -EIO;
    struct ifinfomsg *ifi = NLMSG_DATA(nh);
    link_info_parse(IFLA_RTA(ifi), (int)IFLA_PAYLOAD(nh), ud);
    return 0;
}

/* RTM_GETLINK for name: -ENODEV naming it when there is no such link. */
static int link_info(const char *name, struct link_info *ret, struct error *err) {
    struct nl_msg m;
    nl_msg_init(&m, RTM_GETLINK, 0);
    struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC};
    nl_msg_put(&m, &ifi, sizeof(ifi));
    nl_attr_put_str(&m, IFLA_IFNAME, name);

    struct nl_sock s;
    int r = nl_open(&s, err);
    if (r < 0)
        return r;
    struct link_info li = {0};
    char why[NL_WHY_MAX];
    r = nl_talk(&s, &m, link_info_msg, &li, why);
    nl_close(&s);
    if (r == -ENODEV)
        return error_set(err, -ENODEV, "link '%s' does not exist", name);
    if (r < 0)
        return error_set(err, r, "link '%s': netlink: %s", name, strerror(-r));
    *ret = li;
    return 0;
}

int net_link_master(const char *name, char master[IFNAMSIZ], struct error *err) {
    int r = link_name_check(name, err);
    if (r < 0)
        return r;
    struct link_info li;
    r = link_info(name, &li, err);
    if (r < 0)
        return r;
    char m[IFNAMSIZ] = "";
    if (li.master && !if_indextoname(li.master, m))
        return error_set(err, -errno, "link '%s': its master %u: %s", name, li.master,
                         strerror(errno));
    memcpy(master, m, IFNAMSIZ);
    return 0;
}

/* Sets IFF_UP (up) or clears it on name. */
static int link_set_up(int sock, const char *name, bool up, struct error *err) {
    struct ifreq ifr;
    ifr_init(&ifr, name);
    if (ioctl(sock, SIOCGIFFLAGS, &ifr) < 0)
        return error_set(err, -errno, "link '%s': SIOCGIFFLAGS: %s", name, strerror(errno));
    short want = up ? (short)(ifr.ifr_flags | IFF_UP) : (short)(ifr.ifr_flags & ~IFF_UP);
    if (want == ifr.ifr_flags)
        return 0;
    ifr.ifr_flags = want;
    if (ioctl(sock, SIOCSIFFLAGS, &ifr) < 0)
        return error_set(err, -errno, "cannot set link '%s' %s: %s", name, up ? "up" : "down",
                         strerror(errno));
    return 0;
}

static int sysctl_write(const char *path, const char *value, struct error *err) {
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, value, strlen(value)) != (ssize_t)strlen(value))
        return error_set(err, -errno, "cannot write %s to '%s': %s", value, path, strerror(errno));
    return 0;
}

static void sin_set(struct sockaddr *sa, uint32_t ip) {
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(ip)};
    memcpy(sa, &sin, sizeof(sin));
}

static uint32_t sin_get(const struct sockaddr *sa) {
    struct sockaddr_in sin;
    memcpy(&sin, sa, sizeof(sin));
    return ntohl(sin.sin_addr.s_addr);
}

/* The gateway address with the subnet's mask on name, unless it has them already. */
static int bridge_address(int sock, const char *name, const struct net_subnet *s,
                          struct error *err) {
    struct ifreq ifr;
    ifr_init(&ifr, name);
    bool has =
        ioctl(sock, SIOCGIFADDR, &ifr) == 0 && sin_get(&ifr.ifr_addr) == net_subnet_gateway(s);
    if (has) {
        ifr_init(&ifr, name);
        has = ioctl(sock, SIOCGIFNETMASK, &ifr) == 0 &&
              sin_get(&ifr.ifr_netmask) == net_subnet_mask(s);
    }
    if (has)
        return 0;
    char ip[NET_IP_MAX];
    net_ip_format(net_subnet_gateway(s), ip);
    ifr_init(&ifr, name);
    sin_set(&ifr.ifr_addr, net_subnet_gateway(s));
    if (ioctl(sock, SIOCSIFADDR, &ifr) < 0)
        return error_set(err, -errno, "cannot give bridge '%s' the address %s: %s", name, ip,
                         strerror(errno));
    ifr_init(&ifr, name);
    sin_set(&ifr.ifr_netmask, net_subnet_mask(s));
    if (ioctl(sock, SIOCSIFNETMASK, &ifr) < 0)
        return error_set(err, -errno, "cannot set the netmask of bridge '%s': %s", name,
                         strerror(errno));
    return 0;
}

int net_bridge_ensure(const char *name, const struct net_subnet *s, struct error *err) {
    int r = link_name_check(name, err);
    if (r < 0)
        return r;
    _cleanup_close_ int sock = ctl_socket(err);
    if (sock < 0)
        return sock;
    struct link_info li;
    if (link_info(name, &li, NULL) == -ENODEV && ioctl(sock, SIOCBRADDBR, name) < 0 &&
        errno != EEXIST)
        return error_set(err, -errno, "cannot create bridge '%s': %s", name, strerror(errno));
    r = link_info(name, &li, err);
    if (r < 0)
        return r;
    if (strcmp(li.kind, "bridge") != 0)
        return error_set(err, -EEXIST,
                         "link '%s' exists and is not a bridge (%s): remove it or choose "
                         "another bridge name",
                         name, li.kind[0] ? li.kind : "no kind");
    r = bridge_address(sock, name, s, err);
    if (r < 0)
        return r;
    r = link_set_up(sock, name, true, err);
    if (r < 0)
        return r;
    r = sysctl_write("/proc/sys/net/ipv4/ip_forward", "1", err);
    if (r < 0)
        return r;
    char path[128];
    snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/route_localnet", name);
    return sysctl_write(path, "1", err);
}

/*
 * Before deleting link name: 1 when it is gone already, 0 when it is there
 * and of kind ("bridge", "tun"), else an error (another kind is refused,
 * naming what it is not).
 */
static int link_to_delete(const char *name, const char *kind, const char *what, struct error *err) {
    int r = link_name_check(name, err);
    if (r < 0)
        return r;
    struct link_info li;
    r = link_info(name, &li, err);
    if (r == -ENODEV)
        return 1;
    if (r < 0)
        return r;
    if (strcmp(li.kind, kind) != 0)
        return error_set(err, -EINVAL, "link '%s' is not a %s: not deleting it", name, what);
    return 0;
}

int net_bridge_delete(const char *name, struct error *err) {
    int r = link_to_delete(name, "bridge", "bridge", err);
    if (r != 0)
        return r < 0 ? r : 0;
    _cleanup_close_ int sock = ctl_socket(err);
    if (sock < 0)
        return sock;
    r = link_set_up(sock, name, false, err);
    if (r < 0)
        return r;
    if (ioctl(sock, SIOCBRDELBR, name) < 0 && errno != ENXIO)
        return error_set(err, -errno, "cannot delete bridge '%s': %s", name, strerror(errno));
    return 0;
}

/* Opens /dev/net/tun attached to the tap name (made when missing). */
static int tap_open(const char *name, struct error *err) {
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return error_set(err, -errno, "cannot open '/dev/net/tun': %s", strerror(errno));
    struct ifreq ifr;
    ifr_init(&ifr, name);
    ifr.ifr_flags = TAP_FLAGS;
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        int e = errno;
        close(fd);
        if (e == EBUSY)
            return error_set(err, -EBUSY, "tap '%s' is open in a running VMM", name);
        return error_set(err, -e, "tap '%s': TUNSETIFF: %s", name, strerror(e));
    }
    return fd;
}

int net_tap_create(const char *name, const char *bridge, uid_t owner, struct error *err) {
    int r = link_name_check(name, err);
    if (r < 0)
        return r;
    struct link_info li;
    r = link_info(name, &li, NULL);
    if (r == 0 && strcmp(li.kind, "tun") != 0)
        return error_set(err, -EEXIST, "link '%s' exists and is not a tap: remove it", name);
    if (r == 0 && li.master && bridge) {
        char m[IFNAMSIZ] = "";
        if (if_indextoname(li.master, m) && strcmp(m, bridge) != 0)
            return error_set(err, -EBUSY, "tap '%s' is attached to '%s', not to bridge '%s'", name,
                             m, bridge);
    }
    _cleanup_close_ int fd = tap_open(name, err);
    if (fd < 0)
        return fd;
    if (ioctl(fd, TUNSETOWNER, (unsigned long)owner) < 0)
        return error_set(err, -errno, "tap '%s': TUNSETOWNER %u: %s", name, (unsigned)owner,
                         strerror(errno));
    if (ioctl(fd, TUNSETPERSIST, 1UL) < 0)
        return error_set(err, -errno, "tap '%s': TUNSETPERSIST: %s", name, strerror(errno));
    _cleanup_close_ int sock = ctl_socket(err);
    if (sock < 0)
        return sock;
    r = link_info(name, &li, err);
    if (r < 0)
        return r;
    if (!li.master && bridge) {
        struct ifreq ifr;
        ifr_init(&ifr, bridge);
        ifr.ifr_ifindex = (int)if_nametoindex(name);
        if (ioctl(sock, SIOCBRADDIF, &ifr) < 0)
            return error_set(err, -errno, "cannot attach tap '%s' to bridge '%s': %s", name, bridge,
                             strerror(errno));
    }
    return link_set_up(sock, name, true, err);
}

int net_tap_delete(const char *name, struct error *err) {
    int r = link_to_delete(name, "tun", "tap", err);
    if (r != 0)
        return r < 0 ? r : 0;
    _cleanup_close_ int fd = tap_open(name, err);
    if (fd < 0)
        return fd;
    if (ioctl(fd, TUNSETPERSIST, 0UL) < 0)
        return error_set(err, -errno, "tap '%s': TUNSETPERSIST 0: %s", name, strerror(errno));
    return 0; /* the tap goes when fd closes */
}

int net_tap_list(char ***ret, size_t *ret_n, struct error *err) {
    struct if_nameindex *ifs = if_nameindex();
    if (!ifs)
        return error_set(err, -errno, "cannot list the links: %s", strerror(errno));
    char **v = NULL;
    size_t n = 0;
    int r = 0;
    char prefix[13];
    for (struct if_nameindex *i = ifs; i->if_index; i++) {
        if (!net_tap_name_parse(i->if_name, prefix))
            continue;
        if (array_grow(&v, n, sizeof(*v)) < 0 || !(v[n] = xstrdup(i->if_name))) {
            r = error_oom(err);
            break;
        }
        n++;
    }
    if_freenameindex(ifs);
    if (r < 0) {
        net_names_free(v, n);
        return r;
    }
    *ret = v;
    *ret_n = n;
    return 0;
}
