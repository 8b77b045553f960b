/*
 * The SSH client's parts (net ssh.c, ssh_client.c): fingerprints against
 * ssh-keygen's, the command line joined for the remote shell read back by a
 * real sh, and a connection that finds no server.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/net.h"
#include "net_test.h"
#include "testrun.h"

/* A key of type made by ssh-keygen in dir; its fingerprint as ssh-keygen -l prints it. */
static void keygen(const char *dir, const char *type, char *pub, size_t size, char fp[64]) {
    char key[300];
    snprintf(key, sizeof(key), "%s/%s", dir, type);
    const char *gen[] = {"ssh-keygen", "-q", "-t", type, "-N", "", "-C", "x y", "-f", key, NULL};
    struct error err;
    if (exec_run(gen, &(struct exec_opts){.timeout_ms = 60000}, &err) < 0)
        fail_msg("ssh-keygen: %s", err.msg);
    snprintf(pub, size, "%s.pub", key);
    struct strbuf out = STRBUF_INIT;
    const char *list[] = {"ssh-keygen", "-l", "-E", "sha256", "-f", pub, NULL};
    if (exec_run(list, &(struct exec_opts){.out = &out, .timeout_ms = 60000}, &err) < 0)
        fail_msg("ssh-keygen -l: %s", err.msg);
    /* "256 SHA256:xxxx x y (ED25519)" */
    assert_int_equal(sscanf(out.buf, "%*d %63s", fp), 1);
    strbuf_release(&out);
}

static void test_fingerprint(void **state) {
    (void)state;
    test_need_program("ssh-keygen", "openssh-client");
    char dir[] = "/tmp/hearth-ssh-test-XXXXXX";
    assert_non_null(mkdtemp(dir));
    static const char *const types[] = {"ed25519", "rsa", "ecdsa"};
    for (size_t i = 0; i < ARRAY_SIZE(types); i++) {
        char pub[400], want[64];
        keygen(dir, types[i], pub, sizeof(pub), want);
        struct strbuf line = STRBUF_INIT;
        struct error err;
        assert_int_equal(strbuf_read_file(&line, pub, 65536, &err), 0);
        char got[NET_SSH_FINGERPRINT_MAX];
        assert_int_equal(net_ssh_fingerprint(line.buf, got, &err), 0);
        assert_string_equal(got, want);
        assert_int_equal(strlen(got), 50);
        /* the base64 blob alone gives the same */
        char *b64 = strchr(line.buf, ' ') + 1;
        *strchr(b64, ' ') = '\0';
        assert_int_equal(net_ssh_fingerprint(b64, got, &err), 0);
        assert_string_equal(got, want);
        strbuf_release(&line);
    }
    struct error err;
    assert_int_equal(fs_tree_remove(dir, &err), 0);
}

static void test_fingerprint_refused(void **state) {
    (void)state;
    static const char *const bad[] = {"",
                                      "ssh-ed25519",
                                      "ssh-ed25519 ",
                                      "ssh-ed25519 abc",
                                      "ssh-ed25519 !!!!!!!!",
                                      "ssh-ed25519 AA=="};
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        char got[NET_SSH_FINGERPRINT_MAX];
        struct error err;
        error_init(&err);
        assert_int_equal(net_ssh_fingerprint(bad[i], got, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "not an ssh public key"));
    }
}

static void test_command_join(void **state) {
    (void)state;
    const char *a[] = {"ls", "-l", "/tmp"};
    char *s = net_ssh_command_join(a, 3);
    assert_string_equal(s, "ls -l /tmp");
    free(s);
    const char *b[] = {"sh", "-c", "wc -c", "", "it's", "a@b%c+d=e:f,g.h/i-j_k"};
    s = net_ssh_command_join(b, 6);
    assert_string_equal(s, "sh -c 'wc -c' '' 'it'\"'\"'s' a@b%c+d=e:f,g.h/i-j_k");
    free(s);
    /* the first word as given: a shell line */
    const char *c[] = {"echo a | wc -l"};
    s = net_ssh_command_join(c, 1);
    assert_string_equal(s, "echo a | wc -l");
    free(s);
}

/* What a real sh makes of the joined line: the same words back. */
static void test_command_join_sh(void **state) {
    (void)state;
    const char *words[] = {"printf", "%s|\\n", "a b", "",       "it's",      "$HOME", "x;y",
                           "`id`",   "\"q\"",  "*",   "tab\tx", "new\nline", "é"};
    size_t n = ARRAY_SIZE(words);
    char *line = net_ssh_command_join(words, n);
    assert_non_null(line);
    const char *argv[] = {"sh", "-c", line, NULL};
    struct strbuf out = STRBUF_INIT;
    struct error err;
    assert_int_equal(exec_run(argv, &(struct exec_opts){.out = &out, .timeout_ms = 60000}, &err),
                     0);
    struct strbuf want = STRBUF_INIT;
    for (size_t i = 2; i < n; i++)
        assert_int_equal(strbuf_addf(&want, "%s|\n", words[i]), 0);
    assert_string_equal(out.buf, want.buf);
    strbuf_release(&out);
    strbuf_release(&want);
    free(line);
}

/* A loopback port nothing listens on. */
static unsigned closed_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* Nothing listens: connecting is retried until the timeout, and the error says where. */
static void test_open_no_server(void **state) {
    (void)state;
    struct net_ssh_target t = {.what = "vm 'dev'",
                               .host = "127.0.0.1",
                               .port = closed_port(),
                               .user = "root",
                               .identity = "/nonexistent",
                               .fingerprint = "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s",
                               .timeout_s = 1,
                               .timeout_flag = "--timeout"};
    net_ssh *c = NULL;
    struct error err;
    error_init(&err);
    int64_t t0 = time_now_ms();
    assert_int_equal(net_ssh_open(&t, &c, &err), -ETIMEDOUT);
    assert_true(time_now_ms() - t0 >= 500); /* it tried more than once */
    assert_null(c);
    assert_non_null(strstr(err.msg, "vm 'dev'"));
    char where[64];
    snprintf(where, sizeof(where), "127.0.0.1:%u", t.port);
    assert_non_null(strstr(err.msg, where));
    assert_non_null(strstr(err.msg, "--timeout waits longer"));
}

struct retries {
    int calls;
    int64_t last_elapsed;
    char last[256];
};

static bool stop_at_third(void *ud, int64_t elapsed_ms, const char *last, struct error *err) {
    struct retries *r = ud;
    r->calls++;
    assert_true(elapsed_ms >= r->last_elapsed);
    r->last_elapsed = elapsed_ms;
    snprintf(r->last, sizeof(r->last), "%s", last);
    if (r->calls < 3)
        return true;
    error_set(err, -ECHILD, "vm 'dev' stopped");
    return false;
}

/* The retry callback hears each failed attempt, and ends the wait with its own error. */
static void test_open_retry_stops(void **state) {
    (void)state;
    struct retries rs = {0};
    struct net_ssh_target t = {.what = "vm 'dev'",
                               .host = "127.0.0.1",
                               .port = closed_port(),
                               .user = "root",
                               .identity = "/nonexistent",
                               .fingerprint = "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s",
                               .timeout_s = 600,
                               .retry = stop_at_third,
                               .retry_ud = &rs};
    net_ssh *c = NULL;
    struct error err;
    error_init(&err);
    assert_int_equal(net_ssh_open(&t, &c, &err), -ECHILD);
    assert_int_equal(rs.calls, 3);
    assert_true(rs.last_elapsed >= 1000); /* two half-second pauses before the third */
    assert_true(rs.last[0] != '\0');      /* the attempt's error, e.g. "Connection refused" */
    assert_string_equal(err.msg, "vm 'dev' stopped");
}

const struct CMUnitTest net_ssh_tests[] = {
    cmocka_unit_test(test_fingerprint),    cmocka_unit_test(test_fingerprint_refused),
    cmocka_unit_test(test_command_join),   cmocka_unit_test(test_command_join_sh),
    cmocka_unit_test(test_open_no_server), cmocka_unit_test(test_open_retry_stops),
};
const size_t net_ssh_tests_n = ARRAY_SIZE(net_ssh_tests);
