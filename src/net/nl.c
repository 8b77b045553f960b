/*
 * net nl: rtnetlink requests built by hand and their answers read (nl.h).
 * A request that does not fit its buffer is a programmer's error (assert):
 * what net sends has a fixed shape.
 */
#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/nl.h"

#define NL_RECV_MAX 32768 /* the kernel fills a dump's recv up to 32 KiB */

void nl_msg_init(struct nl_msg *m, uint16_t type, uint16_t flags) {
    memset(m, 0, sizeof(*m));
    m->nh.nlmsg_len = NLMSG_HDRLEN;
    m->nh.nlmsg_type = type;
    m->nh.nlmsg_flags = (uint16_t)(flags | NLM_F_REQUEST);
}

static void *msg_tail(struct nl_msg *m) {
    return m->buf + NLMSG_ALIGN(m->nh.nlmsg_len);
}

void *nl_msg_put(struct nl_msg *m, const void *data, size_t len) {
    size_t at = NLMSG_ALIGN(m->nh.nlmsg_len);
    assert(at + NLMSG_ALIGN(len) <= sizeof(m->buf));
    void *p = m->buf + at;
    memset(p, 0, NLMSG_ALIGN(len));
    memcpy(p, data, len);
    m->nh.nlmsg_len = (uint32_t)(at + NLMSG_ALIGN(len));
    return p;
}

void nl_attr_put(struct nl_msg *m, uint16_t type, const void *data, size_t len) {
    size_t at = NLMSG_ALIGN(m->nh.nlmsg_len);
    assert(at + RTA_SPACE(len) <= sizeof(m->buf));
    struct rtattr *rta = msg_tail(m);
    memset(rta, 0, RTA_SPACE(len));
    rta->rta_type = type;
    rta->rta_len = (unsigned short)RTA_LENGTH(len);
    if (len)
        memcpy(RTA_DATA(rta), data, len);
    m->nh.nlmsg_len = (uint32_t)(at + RTA_SPACE(len));
}

void nl_attr_put_str(struct nl_msg *m, uint16_t type, const char *s) {
    nl_attr_put(m, type, s, strlen(s) + 1);
}

struct rtattr *nl_nest_begin(struct nl_msg *m, uint16_t type) {
    struct rtattr *nest = msg_tail(m);
    nl_attr_put(m, type, NULL, 0);
    return nest;
}

void nl_nest_end(struct nl_msg *m, struct rtattr *nest) {
    nest->rta_len = (unsigned short)((char *)msg_tail(m) - (char *)nest);
}

const struct rtattr *nl_attr_find(const struct rtattr *rta, size_t len, uint16_t type) {
    int n = len > NL_RECV_MAX ? NL_RECV_MAX : (int)len;
    for (; RTA_OK(rta, n); rta = RTA_NEXT(rta, n))
        if (rta->rta_type == type)
            return rta;
    return NULL;
}

int nl_open(struct nl_sock *s, struct error *err) {
    s->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (s->fd < 0)
        return error_set(err, -errno, "cannot open a netlink socket: %s", strerror(errno));
    int one = 1; /* older kernels have no extended acks: the errno alone then */
    (void)setsockopt(s->fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
    s->seq = 1;
    return 0;
}

void nl_close(struct nl_sock *s) {
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
}

/* The NLMSGERR_ATTR_MSG of an error message with NLM_F_ACK_TLVS into why. */
static void extack_msg(const struct nlmsghdr *nh, char why[NL_WHY_MAX]) {
    if (!(nh->nlmsg_flags & NLM_F_ACK_TLVS))
        return;
    const struct nlmsgerr *e = NLMSG_DATA(nh);
    size_t at = sizeof(*e);
    if (!(nh->nlmsg_flags & NLM_F_CAPPED)) /* the request's attributes are echoed too */
        at += e->msg.nlmsg_len > NLMSG_HDRLEN ? e->msg.nlmsg_len - NLMSG_HDRLEN : 0;
    size_t payload = nh->nlmsg_len - NLMSG_HDRLEN;
    if (at >= payload)
        return;
    const struct rtattr *a =
        nl_attr_find((const struct rtattr *)((const char *)e + NLMSG_ALIGN(at)),
                     payload - NLMSG_ALIGN(at), NLMSGERR_ATTR_MSG);
    if (a && RTA_PAYLOAD(a) > 0)
        snprintf(why, NL_WHY_MAX, "%.*s", (int)strnlen(RTA_DATA(a), RTA_PAYLOAD(a)),
                 (const char *)RTA_DATA(a));
}

int nl_talk(struct nl_sock *s, struct nl_msg *m, int (*fn)(const struct nlmsghdr *nh, void *ud),
            void *ud, char why[NL_WHY_MAX]) {
    why[0] = '\0';
    bool dump = (m->nh.nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP;
    if (!dump)
        m->nh.nlmsg_flags |= NLM_F_ACK;
    m->nh.nlmsg_seq = s->seq++;
    if (send(s->fd, m, m->nh.nlmsg_len, 0) < 0)
        return -errno;
    _cleanup_free_ long *buf = xmalloc(NL_RECV_MAX); /* long: aligned for nlmsghdr */
    if (!buf)
        return -ENOMEM;
    for (;;) {
        ssize_t n = recv(s->fd, buf, NL_RECV_MAX, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        size_t left = (size_t)n;
        for (struct nlmsghdr *nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, left);
             nh = NLMSG_NEXT(nh, left)) {
            if (nh->nlmsg_seq != m->nh.nlmsg_seq)
                continue; /* an answer to an earlier request that gave up */
            if (nh->nlmsg_type == NLMSG_ERROR) {
                if (nh->nlmsg_len < NLMSG_LENGTH(sizeof(struct nlmsgerr)))
                    return -EIO;
                const struct nlmsgerr *e = NLMSG_DATA(nh);
                if (e->error < 0)
                    extack_msg(nh, why);
                if (e->error > 0)
                    return -EIO;
                return e->error; /* 0: the ack */
            }
            if (nh->nlmsg_type == NLMSG_DONE) {
                int e = 0;
                if (nh->nlmsg_len >= NLMSG_LENGTH(sizeof(int)))
                    memcpy(&e, NLMSG_DATA(nh), sizeof(int));
                return e < 0 ? e : 0;
            }
            if (nh->nlmsg_type == NLMSG_NOOP || nh->nlmsg_type == NLMSG_OVERRUN)
                continue;
            int r = fn ? fn(nh, ud) : 0;
            if (r < 0)
                return r;
        }
    }
}
