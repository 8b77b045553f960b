/*
 * Tests of the vmm module's firecracker side: the API client against
 * fcfake (tests/vmm/fake), a server that checks every request against
 * Firecracker's v1.16.1 OpenAPI spec and the order Firecracker accepts;
 * raw requests proving the fake rejects what Firecracker rejects; the argv
 * and the binary lookup. Without the fake or the spec the fake-based tests
 * fail, saying what is missing.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmm/vmm_priv.h"
#include "vmm/vmm_test.h"

#define TMO 5000

struct fx {
    char dir[64];
    char sock[128];
    char log[128];
    pid_t pid;
};

static int fx_setup(void **state) {
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/hearth-fc-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->sock, sizeof(f->sock), "%s/api.sock", f->dir);
    snprintf(f->log, sizeof(f->log), "%s/fake.log", f->dir);
    f->pid = -1;
    *state = f;
    return 0;
}

static int fx_teardown(void **state) {
    struct fx *f = *state;
    if (f->pid > 0) {
        kill(f->pid, SIGKILL);
        waitpid(f->pid, NULL, 0);
    }
    unlink(f->sock);
    unlink(f->log);
    char p[128];
    snprintf(p, sizeof(p), "%s/bin/firecracker", f->dir);
    unlink(p);
    snprintf(p, sizeof(p), "%s/bin", f->dir);
    rmdir(p);
    rmdir(f->dir);
    free(f);
    return 0;
}

static bool can_connect(const char *path) {
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    assert_true(strlen(path) < sizeof(sa.sun_path));
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    bool ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return ok;
}

/* Starts fcfake on f->sock with extra arguments (NULL-terminated); fails the test if it cannot. */
static void fake_start(struct fx *f, ...) {
    const char *fake = getenv("HEARTH_FCFAKE");
    const char *spec = getenv("HEARTH_FC_SPEC");
    if (!fake || access(fake, X_OK) < 0 || !spec || access(spec, R_OK) < 0)
        fail_msg("fcfake (HEARTH_FCFAKE) or the firecracker spec (HEARTH_FC_SPEC) not found: "
                 "run the tests through ctest, with shared/specs beside the checkout");
    const char *argv[16] = {fake, "--api-sock", f->sock, "--spec", spec, "--log", f->log};
    size_t n = 7;
    va_list ap;
    va_start(ap, f);
    for (const char *a; (a = va_arg(ap, const char *)) && n + 1 < ARRAY_SIZE(argv);)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        if (null >= 0) {
            dup2(null, 0);
            dup2(null, 1);
        }
        execv(fake, (char *const *)argv);
        _exit(127);
    }
    f->pid = pid;
    for (int i = 0; i < 500; i++) {
        if (can_connect(f->sock))
            return;
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            f->pid = -1;
            fail_msg("fcfake exited at start (status %d)", st);
        }
        usleep(10000);
    }
    fail_msg("fcfake did not listen on '%s'", f->sock);
}

/* The fake's log without GET lines: one "METHOD PATH STATUS" per line. */
static char *fake_log(const struct fx *f) {
    struct strbuf sb = STRBUF_INIT, out = STRBUF_INIT;
    struct error err;
    error_init(&err);
    assert_int_equal(strbuf_read_file(&sb, f->log, 1 << 20, &err), 0);
    for (char *line = sb.buf; line && *line;) {
        char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line + 1) : strlen(line);
        if (!str_starts_with(line, "GET "))
            assert_int_equal(strbuf_add(&out, line, len), 0);
        line += len;
    }
    strbuf_release(&sb);
    return strbuf_detach(&out);
}

static struct vmm_config full_config(const struct fx *f) {
    return (struct vmm_config){
        .vm_id = "0123456789abcdef",
        .kernel = "/var/lib/hearth/kernels/vmlinux",
        .initrd = "/var/lib/hearth/kernels/initrd.img",
        .cmdline = "console=ttyS0 reboot=k panic=1",
        .disk = "/dev/mapper/hearth-vm",
        .disk_read_only = false,
        .cpus = 2,
        .memory = 512ull << 20,
        .tap = "hthtest0",
        .mac = "02:00:00:00:00:01",
        .api_socket = f->sock,
        .log_path = "/run/hearth/vm.log",
        .metrics_path = "/run/hearth/vm.metrics",
    };
}

/* One raw request; returns the status, the answer's body into *ret_body (caller frees). */
static long raw(const struct fx *f, const char *method, const char *path, const char *body,
                char **ret_body) {
    CURL *c = curl_easy_init();
    assert_non_null(c);
    char url[256];
    snprintf(url, sizeof(url), "http://localhost%s", path);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    assert_non_null(mem);
    curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, f->sock);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, mem);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)TMO);
    if (body)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    fclose(mem);
    *ret_body = buf;
    return status;
}

/* Asserts a 400 whose fault_message contains want. */
static void expect_400(const struct fx *f, const char *method, const char *path, const char *body,
                       const char *want) {
    char *resp = NULL;
    long st = raw(f, method, path, body, &resp);
    if (st != 400 || !strstr(resp, "\"fault_message\"") || !strstr(resp, want))
        fail_msg("%s %s %s: got %ld %s, want 400 with '%s'", method, path, body ? body : "", st,
                 resp, want);
    free(resp);
}

static void expect_204(const struct fx *f, const char *method, const char *path, const char *body) {
    char *resp = NULL;
    long st = raw(f, method, path, body, &resp);
    if (st != 204)
        fail_msg("%s %s %s: got %ld %s, want 204", method, path, body, st, resp);
    free(resp);
}

static void assert_state(const struct fx *f, const char *want) {
    struct error err;
    error_init(&err);
    char *state = NULL;
    int r = vmm_fc_state(f->sock, TMO, &state, &err);
    if (r < 0)
        fail_msg("vmm_fc_state: %s", err.msg);
    assert_string_equal(state, want);
    free(state);
}

/* ---- tests -------------------------------------------------------------- */

/* The tap full_config names, made with iproute2 in this test's network namespace (main). */
static void tap_make(void) {
    if (geteuid() != 0)
        test_skip("making a tap needs root");
    test_need_program("ip", "iproute2");
    static bool made;
    if (made)
        return;
    const char *argv[] = {"ip", "tuntap", "add", "dev", "hthtest0", "mode", "tap", NULL};
    struct error err;
    error_init(&err);
    if (exec_run(argv, NULL, &err) < 0)
        fail_msg("%s", err.msg);
    made = true;
}

static void test_configure_full(void **state) {
    struct fx *f = *state;
    tap_make();
    fake_start(f, NULL);
    assert_state(f, "Not started");
    struct vmm_config cfg = full_config(f);
    struct error err;
    error_init(&err);
    int r = vmm_fc_configure_and_start(&cfg, TMO, &err);
    if (r < 0)
        fail_msg("configure: %s", err.msg);
    assert_state(f, "Running");
    char *log = fake_log(f);
    assert_string_equal(log, "PUT /logger 204\n"
                             "PUT /metrics 204\n"
                             "PUT /boot-source 204\n"
                             "PUT /drives/rootfs 204\n"
                             "PUT /machine-config 204\n"
                             "PUT /network-interfaces/eth0 204\n"
                             "PUT /actions 204\n");
    free(log);
    /* A second start is refused, and the client says why. */
    r = vmm_fc_configure_and_start(&cfg, TMO, &err);
    assert_int_equal(r, -EINVAL);
    assert_non_null(strstr(err.msg, "firecracker refused PUT /logger: The requested operation "
                                    "is not supported after starting the microVM."));
}

/* A host device that is no tap is refused, as Firecracker fails to open it, and the client says so.
 */
static void test_configure_missing_tap(void **state) {
    struct fx *f = *state;
    fake_start(f, NULL);
    struct vmm_config cfg = full_config(f);
    cfg.tap = "lo";
    struct error err;
    error_init(&err);
    int r = vmm_fc_configure_and_start(&cfg, TMO, &err);
    assert_int_equal(r, -EINVAL);
    assert_non_null(strstr(err.msg, "PUT /network-interfaces/eth0"));
    assert_non_null(strstr(err.msg, "Invalid TUN/TAP Backend provided by lo"));
}

static void test_configure_minimal(void **state) {
    struct fx *f = *state;
    fake_start(f, NULL);
    struct vmm_config cfg = full_config(f);
    cfg.initrd = NULL;
    cfg.tap = NULL;
    cfg.mac = NULL;
    cfg.log_path = NULL;
    cfg.metrics_path = NULL;
    cfg.disk_read_only = true;
    cfg.cpus = 1;
    struct error err;
    error_init(&err);
    int r = vmm_fc_configure_and_start(&cfg, TMO, &err);
    if (r < 0)
        fail_msg("configure: %s", err.msg);
    char *log = fake_log(f);
    assert_string_equal(log, "PUT /boot-source 204\n"
                             "PUT /drives/rootfs 204\n"
                             "PUT /machine-config 204\n"
                             "PUT /actions 204\n");
    free(log);
    assert_state(f, "Running");
}

static void test_ctrl_alt_del(void **state) {
    struct fx *f = *state;
    fake_start(f, NULL);
    struct error err;
    error_init(&err);
    /* Not running yet: refused, with Firecracker's reason. */
    assert_int_equal(vmm_fc_send_ctrl_alt_del(f->sock, TMO, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "firecracker refused PUT /actions: The microVM is not "
                                    "running."));
    struct vmm_config cfg = full_config(f);
    int r = vmm_fc_configure_and_start(&cfg, TMO, &err);
    if (r < 0)
        fail_msg("configure: %s", err.msg);
    error_init(&err);
    r = vmm_fc_send_ctrl_alt_del(f->sock, TMO, &err);
    if (r < 0)
        fail_msg("ctrl-alt-del: %s", err.msg);
    int st = -1;
    pid_t w = 0;
    for (int i = 0; i < 500 && w == 0; i++) {
        w = waitpid(f->pid, &st, WNOHANG);
        if (w == 0)
            usleep(10000);
    }
    assert_int_equal(w, f->pid);
    f->pid = -1;
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    /* Gone: the client names the socket. */
    char *s = NULL;
    r = vmm_fc_state(f->sock, TMO, &s, &err);
    assert_true(r < 0);
    assert_null(s);
    assert_non_null(strstr(err.msg, f->sock));
}

static void test_fake_rejects(void **state) {
    struct fx *f = *state;
    fake_start(f, NULL);
    /* Each body is the valid one with one thing wrong. */
    expect_400(f, "PUT", "/drives/rootfs",
               "{\"drive_id\":\"rootfs\",\"path_on_host\":\"/d\",\"is_root_device\":true,"
               "\"is_read_only\":false,\"readonly\":true}",
               "unknown field `readonly`");
    expect_400(f, "PUT", "/drives/rootfs", "{\"drive_id\":\"rootfs\",\"path_on_host\":\"/d\"}",
               "missing field `is_root_device`");
    expect_400(f, "PUT", "/machine-config", "{\"vcpu_count\":\"2\",\"mem_size_mib\":128}",
               "invalid type");
    expect_400(f, "PUT", "/machine-config", "{\"vcpu_count\":0,\"mem_size_mib\":128}",
               "below the minimum");
    expect_400(f, "PUT", "/logger", "{\"log_path\":\"/l\",\"level\":\"Loud\"}", "unknown variant");
    expect_400(f, "PUT", "/drives/other",
               "{\"drive_id\":\"rootfs\",\"path_on_host\":\"/d\",\"is_root_device\":true}",
               "does not match");
    expect_400(f, "PUT", "/boot-source", NULL, "Empty request body");
    expect_400(f, "PUT", "/boot-source", "{\"kernel_image_path\":", "invalid json");
    expect_400(f, "PUT", "/nonsense", "{}", "Invalid request method and/or path");
    expect_400(f, "DELETE", "/boot-source", NULL, "Invalid request method and/or path");
    expect_400(f, "PUT", "/actions", "{\"action_type\":\"InstanceStart\"}",
               "without kernel configuration");
    /* The valid forms pass, in order. */
    expect_204(f, "PUT", "/machine-config",
               "{\"vcpu_count\":2,\"mem_size_mib\":128,\"smt\":false}");
    expect_204(f, "PUT", "/boot-source",
               "{\"kernel_image_path\":\"/k\",\"boot_args\":\"console=ttyS0\"}");
    expect_400(f, "PUT", "/logger", "{\"log_path\":\"/l\"}", "before the boot source");
    expect_204(f, "PUT", "/drives/rootfs",
               "{\"drive_id\":\"rootfs\",\"path_on_host\":\"/d\",\"is_root_device\":true,"
               "\"is_read_only\":false}");
    expect_204(f, "PUT", "/actions", "{\"action_type\":\"InstanceStart\"}");
    expect_400(f, "PUT", "/boot-source", "{\"kernel_image_path\":\"/k\"}",
               "not supported after starting");
    expect_400(f, "PUT", "/actions", "{\"action_type\":\"InstanceStart\"}", "already running");
}

static void test_client_surfaces_fault(void **state) {
    struct fx *f = *state;
    fake_start(f, "--refuse", "/drives/", NULL);
    struct vmm_config cfg = full_config(f);
    struct error err;
    error_init(&err);
    assert_int_equal(vmm_fc_configure_and_start(&cfg, TMO, &err), -EINVAL);
    assert_string_equal(err.msg,
                        "firecracker refused PUT /drives/rootfs: fcfake refuses /drives/rootfs as "
                        "told");
    /* It stopped there: nothing after the drive was sent. */
    char *log = fake_log(f);
    assert_non_null(strstr(log, "PUT /boot-source 204\nPUT /drives/rootfs 400"));
    assert_null(strstr(log, "machine-config"));
    assert_null(strstr(log, "/actions"));
    free(log);
    assert_state(f, "Not started");
}

static void test_config_checks(void **state) {
    struct fx *f = *state;
    struct vmm_config cfg = full_config(f);
    struct error err;
    error_init(&err);
    cfg.cpus = 0;
    assert_int_equal(vmm_fc_configure_and_start(&cfg, TMO, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "vcpus"));
    cfg = full_config(f);
    cfg.cpus = 33;
    assert_int_equal(vmm_fc_configure_and_start(&cfg, TMO, &err), -EINVAL);
    cfg = full_config(f);
    cfg.memory = (512ull << 20) + 1;
    assert_int_equal(vmm_fc_configure_and_start(&cfg, TMO, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "MiB"));
    cfg = full_config(f);
    cfg.mac = NULL;
    assert_int_equal(vmm_fc_configure_and_start(&cfg, TMO, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "'hthtest0'"));
    /* Nobody listening: the error names the socket. */
    cfg = full_config(f);
    int r = vmm_fc_configure_and_start(&cfg, TMO, &err);
    assert_true(r < 0);
    assert_non_null(strstr(err.msg, f->sock));
}

static void test_argv(void **state) {
    struct fx *f = *state;
    struct vmm_config cfg = full_config(f);
    struct error err;
    error_init(&err);
    char **argv = NULL;
    assert_int_equal(vmm_fc_argv("/usr/bin/firecracker", &cfg, &argv, &err), 0);
    const char *want[] = {"/usr/bin/firecracker", "--api-sock", f->sock, "--id",
                          "0123456789abcdef"};
    for (size_t i = 0; i < ARRAY_SIZE(want); i++)
        assert_string_equal(argv[i], want[i]);
    assert_null(argv[ARRAY_SIZE(want)]);
    vmm_argv_free(argv);
    vmm_argv_free(NULL);
    cfg.vm_id = "not-an-id";
    argv = NULL;
    assert_int_equal(vmm_fc_argv("/usr/bin/firecracker", &cfg, &argv, &err), -EINVAL);
    assert_null(argv);
    assert_non_null(strstr(err.msg, "'not-an-id'"));
}

static void test_find(void **state) {
    struct fx *f = *state;
    char bin[128], exe[160];
    snprintf(bin, sizeof(bin), "%s/bin", f->dir);
    snprintf(exe, sizeof(exe), "%s/firecracker", bin);
    assert_int_equal(mkdir(bin, 0700), 0);
    int fd = open(exe, O_CREAT | O_WRONLY | O_CLOEXEC, 0755);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "#!/bin/sh\n", 10), 10);
    close(fd);
    struct error err;
    error_init(&err);
    char *found = NULL;
    /* Explicit. */
    assert_int_equal(vmm_firecracker_find(exe, &found, &err), 0);
    assert_string_equal(found, exe);
    free(found);
    found = NULL;
    assert_int_equal(vmm_firecracker_find(f->sock, &found, &err), -ENOENT);
    assert_null(found);
    assert_non_null(strstr(err.msg, f->sock));
    /* PATH, with a directory that has none before the one that has it. */
    char *old = getenv("PATH") ? strdup(getenv("PATH")) : NULL;
    char path[400];
    snprintf(path, sizeof(path), "/nonexistent-hearth::%s:/usr/bin", bin);
    setenv("PATH", path, 1);
    int r = vmm_firecracker_find(NULL, &found, &err);
    assert_int_equal(r, 0);
    assert_string_equal(found, exe);
    free(found);
    found = NULL;
    /* Not executable: skipped. */
    assert_int_equal(chmod(exe, 0644), 0);
    setenv("PATH", bin, 1);
    assert_int_equal(vmm_firecracker_find(NULL, &found, &err), -ENOENT);
    assert_string_equal(err.msg, "firecracker not found on PATH; install it or pass "
                                 "--firecracker-bin");
    unsetenv("PATH");
    assert_int_equal(vmm_firecracker_find(NULL, &found, &err), -ENOENT);
    assert_null(found);
    if (old) {
        setenv("PATH", old, 1);
        free(old);
    }
}

static void test_kind(void **state) {
    (void)state;
    enum vmm_kind k = VMM_QEMU;
    assert_int_equal(vmm_kind_parse("firecracker", &k), 0);
    assert_int_equal(k, VMM_FIRECRACKER);
    assert_string_equal(vmm_kind_name(k), "firecracker");
    assert_int_equal(vmm_kind_parse("qemu", &k), 0);
    assert_int_equal(k, VMM_QEMU);
    assert_string_equal(vmm_kind_name(k), "qemu");
    assert_int_equal(vmm_kind_parse("Qemu", &k), -EINVAL);
    assert_int_equal(vmm_kind_parse(NULL, &k), -EINVAL);
    assert_int_equal(k, VMM_QEMU);
}

int firecracker_tests_run(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_configure_full, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_configure_missing_tap, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_configure_minimal, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_ctrl_alt_del, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_fake_rejects, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_client_surfaces_fault, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_config_checks, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_argv, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_find, fx_setup, fx_teardown),
        cmocka_unit_test(test_kind),
    };
    return cmocka_run_group_tests_name("vmm_firecracker", tests, NULL, NULL);
}
