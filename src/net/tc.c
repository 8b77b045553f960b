/*
 * net tc: two links joined by traffic-control redirects, by rtnetlink (no
 * `tc` at run time), as tc-redirect-tap joins a VM's tap to the eth0 a CNI
 * plugin made: each link gets an ingress qdisc, and on it one u32 filter
 * that matches every frame (one key of mask 0) with a mirred action that
 * steals the frame and sends it out of the other link. The namespace's own
 * stack never sees those frames; the guest speaks with eth0's MAC and
 * address as if it were eth0.
 *
 * u32 rather than matchall: both do, but kernels built without
 * CONFIG_NET_CLS_MATCHALL are common (this project's test machines have
 * none), while u32 is everywhere; it is also what tc-redirect-tap adds.
 *
 * The filter sits at a priority of hearth's own (TC_PRIO) on the qdisc's
 * ingress hook (ffff:fff2, which an ingress qdisc and a clsact one both
 * have). Again on a link that has it: the filters at that priority are
 * read back, and left alone when they are exactly the redirect asked for;
 * anything else there is replaced.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/tc_act/tc_mirred.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/net.h"
#include "net/nl.h"

#define TC_PRIO 0x4854 /* "HT": no tool picks it on its own (tc's first is 49152) */
#define TC_PARENT TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS)
#define TC_INFO TC_H_MAKE((uint32_t)TC_PRIO << 16, htons(ETH_P_ALL))

static int link_index(const char *name, unsigned *ret, struct error *err) {
    if (!name || !*name || strlen(name) >= IFNAMSIZ)
        return error_set(err, -EINVAL, "'%s' is not a link name (1 to %d characters)",
                         name ? name : "", IFNAMSIZ - 1);
    unsigned i = if_nametoindex(name);
    if (!i)
        return error_set(err, errno == ENODEV ? -ENODEV : -errno, "link '%s': %s", name,
                         errno == ENODEV ? "it does not exist" : strerror(errno));
    *ret = i;
    return 0;
}

static struct tcmsg tcmsg_of(unsigned ifindex, uint32_t parent, uint32_t handle, uint32_t info) {
    return (struct tcmsg){.tcm_family = AF_UNSPEC,
                          .tcm_ifindex = (int)ifindex,
                          .tcm_parent = parent,
                          .tcm_handle = handle,
                          .tcm_info = info};
}

/* An ingress qdisc on the link; one that is there (or a clsact one) is fine. */
static int qdisc_ensure(struct nl_sock *s, const char *name, unsigned ifindex, struct error *err) {
    struct nl_msg m;
    nl_msg_init(&m, RTM_NEWQDISC, NLM_F_CREATE | NLM_F_EXCL);
    struct tcmsg t = tcmsg_of(ifindex, TC_H_INGRESS, TC_H_MAKE(TC_H_INGRESS, 0), 0);
    nl_msg_put(&m, &t, sizeof(t));
    nl_attr_put_str(&m, TCA_KIND, "ingress");
    char why[NL_WHY_MAX];
    int r = nl_talk(s, &m, NULL, NULL, why);
    if (r < 0 && r != -EEXIST)
        return error_set(err, r, "cannot add an ingress qdisc to link '%s': %s%s%s%s", name,
                         strerror(-r), why[0] ? " (" : "", why, why[0] ? ")" : "");
    return 0;
}

/* Whether attribute a holds the string s (NUL included, as the kernel sends it). */
static bool attr_is(const struct rtattr *a, const char *s) {
    return a && RTA_PAYLOAD(a) == strlen(s) + 1 && memcmp(RTA_DATA(a), s, strlen(s) + 1) == 0;
}

/* Whether the u32 options opts (len bytes) match every frame and only redirect to target. */
static bool u32_is_redirect(const struct rtattr *opts, size_t len, unsigned target) {
    const struct rtattr *sel = nl_attr_find(opts, len, TCA_U32_SEL);
    if (!sel || RTA_PAYLOAD(sel) < sizeof(struct tc_u32_sel))
        return false;
    struct tc_u32_sel sh;
    memcpy(&sh, RTA_DATA(sel), sizeof(sh));
    if (!(sh.flags & TC_U32_TERMINAL) ||
        RTA_PAYLOAD(sel) < sizeof(sh) + sh.nkeys * sizeof(struct tc_u32_key))
        return false;
    for (unsigned i = 0; i < sh.nkeys; i++) {
        struct tc_u32_key k;
        memcpy(&k, (const char *)RTA_DATA(sel) + sizeof(sh) + i * sizeof(k), sizeof(k));
        if (k.mask != 0)
            return false;
    }
    const struct rtattr *acts = nl_attr_find(opts, len, TCA_U32_ACT);
    if (!acts)
        return false;
    int n = (int)RTA_PAYLOAD(acts), count = 0;
    bool redirect = false;
    for (const struct rtattr *a = RTA_DATA(acts); RTA_OK(a, n); a = RTA_NEXT(a, n)) {
        count++;
        const struct rtattr *kind = nl_attr_find(RTA_DATA(a), RTA_PAYLOAD(a), TCA_ACT_KIND);
        const struct rtattr *aopts = nl_attr_find(RTA_DATA(a), RTA_PAYLOAD(a), TCA_ACT_OPTIONS);
        if (!attr_is(kind, "mirred") || !aopts)
            continue;
        const struct rtattr *parms =
            nl_attr_find(RTA_DATA(aopts), RTA_PAYLOAD(aopts), TCA_MIRRED_PARMS);
        if (!parms || RTA_PAYLOAD(parms) < sizeof(struct tc_mirred))
            continue;
        struct tc_mirred p;
        memcpy(&p, RTA_DATA(parms), sizeof(p));
        redirect =
            p.eaction == TCA_EGRESS_REDIR && p.action == TC_ACT_STOLEN && p.ifindex == target;
    }
    return count == 1 && redirect;
}

/* What is at TC_PRIO on a link: rules that are the redirect asked for, and anything else. */
struct filter_scan {
    unsigned target;
    int ours, others;
};

static int filter_scan_msg(const struct nlmsghdr *nh, void *ud) {
    struct filter_scan *fs = ud;
    if (nh->nlmsg_type != RTM_NEWTFILTER || nh->nlmsg_len < NLMSG_LENGTH(sizeof(struct tcmsg)))
        return 0;
    const struct tcmsg *t = NLMSG_DATA(nh);
    if (TC_H_MAJ(t->tcm_info) >> 16 != TC_PRIO)
        return 0;
    const struct rtattr *attrs = (const struct rtattr *)((const char *)t + NLMSG_ALIGN(sizeof(*t)));
    size_t len = nh->nlmsg_len - NLMSG_LENGTH(sizeof(*t));
    const struct rtattr *kind = nl_attr_find(attrs, len, TCA_KIND);
    const struct rtattr *opts = nl_attr_find(attrs, len, TCA_OPTIONS);
    if (!attr_is(kind, "u32") || TC_H_MIN(t->tcm_info) != htons(ETH_P_ALL)) {
        fs->others++;
        return 0;
    }
    /* u32 lists its priority, then each hash table, then each rule (the ones with a selector) */
    if (!opts || !nl_attr_find(RTA_DATA(opts), RTA_PAYLOAD(opts), TCA_U32_SEL))
        return 0;
    if (u32_is_redirect(RTA_DATA(opts), RTA_PAYLOAD(opts), fs->target))
        fs->ours++;
    else
        fs->others++;
    return 0;
}

static int filter_add(struct nl_sock *s, unsigned ifindex, unsigned target, char *why) {
    struct nl_msg m;
    nl_msg_init(&m, RTM_NEWTFILTER, NLM_F_CREATE | NLM_F_EXCL);
    struct tcmsg t = tcmsg_of(ifindex, TC_PARENT, 0, TC_INFO);
    nl_msg_put(&m, &t, sizeof(t));
    nl_attr_put_str(&m, TCA_KIND, "u32");
    struct rtattr *opts = nl_nest_begin(&m, TCA_OPTIONS);
    /* The selector and its one key: mask 0 at offset 0, which every frame matches. */
    uint8_t sel[sizeof(struct tc_u32_sel) + sizeof(struct tc_u32_key)] = {0};
    struct tc_u32_sel head = {.flags = TC_U32_TERMINAL, .nkeys = 1};
    memcpy(sel, &head, sizeof(head));
    nl_attr_put(&m, TCA_U32_SEL, sel, sizeof(sel));
    struct rtattr *acts = nl_nest_begin(&m, TCA_U32_ACT);
    struct rtattr *act = nl_nest_begin(&m, 1); /* the first action, in order */
    nl_attr_put_str(&m, TCA_ACT_KIND, "mirred");
    struct rtattr *aopts = nl_nest_begin(&m, TCA_ACT_OPTIONS);
    struct tc_mirred p = {.action = TC_ACT_STOLEN, .eaction = TCA_EGRESS_REDIR, .ifindex = target};
    nl_attr_put(&m, TCA_MIRRED_PARMS, &p, sizeof(p));
    nl_nest_end(&m, aopts);
    nl_nest_end(&m, act);
    nl_nest_end(&m, acts);
    nl_nest_end(&m, opts);
    return nl_talk(s, &m, NULL, NULL, why);
}

/* On link name (ifindex): every frame that arrives goes out of to (target). */
static int filter_ensure(struct nl_sock *s, const char *name, unsigned ifindex, const char *to,
                         unsigned target, struct error *err) {
    struct nl_msg m;
    nl_msg_init(&m, RTM_GETTFILTER, NLM_F_DUMP);
    struct tcmsg t = tcmsg_of(ifindex, TC_PARENT, 0, TC_INFO);
    nl_msg_put(&m, &t, sizeof(t));
    struct filter_scan fs = {.target = target};
    char why[NL_WHY_MAX];
    int r = nl_talk(s, &m, filter_scan_msg, &fs, why);
    if (r < 0)
        return error_set(err, r, "cannot list the ingress filters of link '%s': %s", name,
                         strerror(-r));
    if (fs.ours == 1 && fs.others == 0)
        return 0;
    if (fs.ours || fs.others) { /* the whole priority goes, whatever it holds */
        nl_msg_init(&m, RTM_DELTFILTER, 0);
        t = tcmsg_of(ifindex, TC_PARENT, 0, TC_H_MAKE((uint32_t)TC_PRIO << 16, 0));
        nl_msg_put(&m, &t, sizeof(t));
        r = nl_talk(s, &m, NULL, NULL, why);
        if (r < 0 && r != -ENOENT)
            return error_set(err, r, "cannot remove the old redirect of link '%s': %s%s%s%s", name,
                             strerror(-r), why[0] ? " (" : "", why, why[0] ? ")" : "");
    }
    r = filter_add(s, ifindex, target, why);
    if (r < 0)
        return error_set(err, r, "cannot redirect link '%s' to '%s': %s%s%s%s", name, to,
                         strerror(-r), why[0] ? " (" : "", why, why[0] ? ")" : "");
    return 0;
}

int net_tc_redirect(const char *a, const char *b, struct error *err) {
    unsigned ia, ib;
    int r = link_index(a, &ia, err);
    if (r < 0)
        return r;
    r = link_index(b, &ib, err);
    if (r < 0)
        return r;
    if (ia == ib)
        return error_set(err, -EINVAL, "cannot redirect link '%s' to itself", a);
    struct nl_sock s;
    r = nl_open(&s, err);
    if (r < 0)
        return r;
    r = qdisc_ensure(&s, a, ia, err);
    if (r == 0)
        r = qdisc_ensure(&s, b, ib, err);
    if (r == 0)
        r = filter_ensure(&s, a, ia, b, ib, err);
    if (r == 0)
        r = filter_ensure(&s, b, ib, a, ia, err);
    nl_close(&s);
    return r;
}

int net_link_mac(const char *name, char mac[NET_MAC_MAX], struct error *err) {
    unsigned i;
    int r = link_index(name, &i, err);
    if (r < 0)
        return r;
    _cleanup_close_ int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return error_set(err, -errno, "cannot open a socket for link ioctls: %s", strerror(errno));
    struct ifreq ifr = {0};
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
    if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0)
        return error_set(err, -errno, "link '%s': SIOCGIFHWADDR: %s", name, strerror(errno));
    if (ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER)
        return error_set(err, -EINVAL, "link '%s' has no Ethernet address", name);
    const unsigned char *h = (const unsigned char *)ifr.ifr_hwaddr.sa_data;
    snprintf(mac, NET_MAC_MAX, "%02x:%02x:%02x:%02x:%02x:%02x", h[0], h[1], h[2], h[3], h[4], h[5]);
    return 0;
}
