/* Table inet hearth (net nft.c) and host ports in use (ports.c), in the test's namespace. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/net.h"
#include "net_test.h"
#include "testrun.h"

/* `nft list ruleset` into sb (which the caller releases). */
static void ruleset(struct strbuf *sb) {
    test_need_program("nft", "nftables");
    const char *argv[] = {"nft", "list", "ruleset", NULL};
    struct exec_opts o = {.out = sb};
    struct error err;
    strbuf_reset(sb);
    assert_int_equal(exec_run(argv, &o, &err), 0);
}

static size_t count(const char *s, const char *what) {
    size_t n = 0;
    for (const char *p = s ? strstr(s, what) : NULL; p; p = strstr(p + 1, what))
        n++;
    return n;
}

static uint32_t ip(const char *s) {
    uint32_t a = 0;
    struct error err;
    assert_int_equal(net_ip_parse(s, &a, &err), 0);
    return a;
}

static const struct net_portmap *find(const struct net_portmap *v, size_t n, bool udp,
                                      uint32_t bind, uint16_t port) {
    for (size_t i = 0; i < n; i++)
        if (v[i].udp == udp && v[i].bind == bind && v[i].host_port == port)
            return &v[i];
    return NULL;
}

static void test_nft_table(void **state) {
    (void)state;
    struct strbuf sb = STRBUF_INIT;
    struct error err;
    struct net_subnet s;
    assert_int_equal(net_subnet_parse("10.61.0.0/16", &s, &err), 0);
    ruleset(&sb);
    assert_int_equal(count(sb.buf, "table"), 0); /* a fresh namespace */
    assert_false(net_nft_exists());
    for (int i = 0; i < 2; i++) {
        error_init(&err);
        assert_int_equal(net_nft_ensure("hearth0", &s, &err), 0);
    }
    assert_true(net_nft_exists());
    ruleset(&sb);
    assert_int_equal(count(sb.buf, "\ntable ") + (strncmp(sb.buf, "table ", 6) == 0), 1);
    assert_non_null(strstr(sb.buf, "table inet hearth {"));
    assert_int_equal(count(sb.buf, "masquerade"), 3); /* ensured twice, rules once */
    assert_int_equal(count(sb.buf, "dnat ip to"), 4);
    assert_non_null(strstr(sb.buf, "\"hearth0\""));
    assert_non_null(strstr(sb.buf, "10.61.0.0/16"));
    assert_int_equal(net_nft_ensure("bad\"name", &s, &err), -EINVAL);

    struct net_portmap maps[] = {
        {.udp = false, .host_port = 8080, .vm_ip = ip("10.61.0.2"), .vm_port = 80},
        {.udp = true, .host_port = 5353, .vm_ip = ip("10.61.0.2"), .vm_port = 53},
        {.udp = false,
         .bind = ip("127.0.0.1"),
         .host_port = 8080,
         .vm_ip = ip("10.61.0.3"),
         .vm_port = 80},
    };
    assert_int_equal(net_nft_add(maps, ARRAY_SIZE(maps), &err), 0);
    struct net_portmap *v;
    size_t n;
    assert_int_equal(net_nft_list(&v, &n, &err), 0);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < ARRAY_SIZE(maps); i++) {
        const struct net_portmap *m = find(v, n, maps[i].udp, maps[i].bind, maps[i].host_port);
        assert_non_null(m);
        assert_int_equal(m->vm_ip, maps[i].vm_ip);
        assert_int_equal(m->vm_port, maps[i].vm_port);
    }
    free(v);
    ruleset(&sb);
    assert_non_null(strstr(sb.buf, "tcp . 8080 : 10.61.0.2 . 80"));

    /* Whether a host port is taken, by its keys: on every address, on its own, or
     * (asked without an address) on any one address. */
    struct net_portmap bound = {
        .host_port = 7070, .bind = ip("127.0.0.1"), .vm_ip = ip("10.61.0.4"), .vm_port = 70};
    assert_int_equal(net_nft_add(&bound, 1, &err), 0);
    struct net_portmap got, ask = {.host_port = 8080};
    assert_int_equal(net_nft_mapped(&ask, &got, &err), 1);
    assert_int_equal(got.vm_ip, ip("10.61.0.2"));
    assert_int_equal(got.vm_port, 80);
    ask.bind = ip("127.0.0.2"); /* 8080 on every address takes it on this one too */
    assert_int_equal(net_nft_mapped(&ask, &got, &err), 1);
    assert_int_equal(got.vm_ip, ip("10.61.0.2"));
    ask = (struct net_portmap){.udp = true, .host_port = 5353};
    assert_int_equal(net_nft_mapped(&ask, &got, &err), 1);
    assert_int_equal(got.vm_port, 53);
    ask.udp = false; /* tcp 5353 is free */
    assert_int_equal(net_nft_mapped(&ask, &got, &err), 0);
    ask = (struct net_portmap){.host_port = 7070};
    assert_int_equal(net_nft_mapped(&ask, &got, &err), 1);
    assert_int_equal(got.vm_ip, ip("10.61.0.4"));
    assert_int_equal(got.bind, ip("127.0.0.1"));
    ask.bind = ip("127.0.0.1");
    assert_int_equal(net_nft_mapped(&ask, &got, &err), 1);
    assert_int_equal(got.vm_port, 70);
    ask.bind = ip("127.0.0.2"); /* another address's 7070 is free */
    assert_int_equal(net_nft_mapped(&ask, &got, &err), 0);
    ask = (struct net_portmap){.udp = true, .host_port = 7070};
    assert_int_equal(net_nft_mapped(&ask, &got, &err), 0);
    assert_int_equal(net_nft_del(&bound, 1, &err), 0);
    ask = (struct net_portmap){.host_port = 7070};
    assert_int_equal(net_nft_mapped(&ask, &got, &err), 0);

    /* The same key again, also beside a new one: refused, naming it, and nothing added. */
    struct net_portmap again[] = {
        {.udp = false, .host_port = 9090, .vm_ip = ip("10.61.0.9"), .vm_port = 90},
        {.udp = false, .host_port = 8080, .vm_ip = ip("10.61.0.9"), .vm_port = 22},
    };
    assert_int_equal(net_nft_add(again, 2, &err), -EADDRINUSE);
    assert_non_null(strstr(err.msg, "8080/tcp"));
    assert_non_null(strstr(err.msg, "10.61.0.2:80"));
    assert_int_equal(net_nft_add(&maps[2], 1, &err), -EADDRINUSE);
    assert_non_null(strstr(err.msg, "127.0.0.1:8080/tcp"));
    struct net_portmap twice[] = {again[0], again[0]};
    assert_int_equal(net_nft_add(twice, 2, &err), -EADDRINUSE);
    assert_non_null(strstr(err.msg, "9090/tcp"));
    struct net_portmap zero = {.host_port = 1, .vm_ip = ip("10.61.0.9")};
    assert_int_equal(net_nft_add(&zero, 1, &err), -EINVAL);
    assert_int_equal(net_nft_list(&v, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_null(find(v, n, false, 0, 9090));
    free(v);

    /* Deleting what exists and what does not: the existing ones go. */
    assert_int_equal(net_nft_del(again, 2, &err), 0);
    assert_int_equal(net_nft_list(&v, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_null(find(v, n, false, 0, 8080));
    free(v);
    assert_int_equal(net_nft_del(again, 2, &err), 0);
    assert_int_equal(net_nft_del(maps, 3, &err), 0);
    assert_int_equal(net_nft_list(&v, &n, &err), 0);
    assert_int_equal(n, 0);
    free(v);

    /* The whole table goes, and only it; gone already is fine. */
    assert_int_equal(net_nft_add(maps, 1, &err), 0);
    assert_int_equal(net_nft_delete(&err), 0);
    assert_false(net_nft_exists());
    ruleset(&sb);
    assert_int_equal(sb.len, 0);
    assert_int_equal(net_nft_delete(&err), 0);
    assert_int_equal(net_nft_list(&v, &n, &err), 0);
    assert_int_equal(n, 0);
    struct net_portmap gone;
    assert_int_equal(net_nft_mapped(&maps[0], &gone, &err), 0); /* no table: nothing taken */
    assert_int_equal(net_nft_del(maps, 1, &err), 0);
    assert_true(net_nft_add(maps, 1, &err) < 0); /* no table to add to */
    assert_non_null(strstr(err.msg, "nftables"));
    strbuf_release(&sb);
}

/* A socket of type on addr (port 0: any), listening for TCP; its port in *port. */
static int sock_on(int family, int type, const char *addr, uint16_t *port) {
    int fd = socket(family, type | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_storage ss = {0};
    socklen_t len;
    if (family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        assert_int_equal(inet_pton(AF_INET, addr, &a->sin_addr), 1);
        len = sizeof(*a);
    } else {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        assert_int_equal(inet_pton(AF_INET6, addr, &a->sin6_addr), 1);
        len = sizeof(*a);
    }
    assert_int_equal(bind(fd, (struct sockaddr *)&ss, len), 0);
    if (type == SOCK_STREAM)
        assert_int_equal(listen(fd, 1), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
    *port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                    : ((struct sockaddr_in6 *)&ss)->sin6_port);
    return fd;
}

static void test_port_listening(void **state) {
    (void)state;
    uint16_t p;
    int fd = sock_on(AF_INET, SOCK_STREAM, "127.0.0.1", &p);
    assert_true(net_port_listening(false, 0, p));
    assert_true(net_port_listening(false, ip("127.0.0.1"), p));
    assert_false(net_port_listening(false, ip("127.0.0.2"), p));
    assert_false(net_port_listening(true, 0, p));
    close(fd);
    assert_false(net_port_listening(false, 0, p));

    fd = sock_on(AF_INET6, SOCK_STREAM, "::", &p); /* any address, IPv4 too */
    assert_true(net_port_listening(false, ip("10.1.2.3"), p));
    close(fd);

    fd = sock_on(AF_INET6, SOCK_DGRAM, "::1", &p); /* IPv6 only: no IPv4 port map meets it */
    assert_false(net_port_listening(true, 0, p));
    close(fd);
    fd = sock_on(AF_INET, SOCK_DGRAM, "0.0.0.0", &p);
    assert_true(net_port_listening(true, 0, p));
    assert_true(net_port_listening(true, ip("127.0.0.1"), p));
    assert_false(net_port_listening(false, 0, p));
    close(fd);
    assert_false(net_port_listening(true, 0, p));
}

const struct CMUnitTest net_nft_tests[] = {
    cmocka_unit_test(test_nft_table),
    cmocka_unit_test(test_port_listening),
};
const size_t net_nft_tests_n = ARRAY_SIZE(net_nft_tests);
