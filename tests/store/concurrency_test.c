/*
 * Concurrency tests: PRAGMA data_version across connections, and several
 * processes writing big transactions at once without "database is locked"
 * reaching anyone.
 */
#include <errno.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/store_test.h"

static void test_data_version(void **state) {
    struct tctx *t = *state;
    struct error err;
    store *other = NULL;
    assert_int_equal(store_open(t->path, &other, &err), 0);
    int64_t v1 = 0, v2 = 0, v3 = 0;
    assert_int_equal(store_data_version(t->s, &v1), 0);
    assert_int_equal(store_data_version(t->s, &v2), 0);
    assert_true(v1 == v2); /* nothing happened */
    struct api_object *vm = make_vm("0123456789abcdef", "a", 1);
    assert_int_equal(store_object_put(other, vm, &err), 0);
    api_object_free(vm);
    assert_int_equal(store_data_version(t->s, &v3), 0);
    assert_true(v3 != v1);
    /* The other connection sees the row. */
    char uid[ID_LEN + 1];
    assert_int_equal(store_object_find_name(t->s, API_KIND_VM, "a", uid, &err), 0);
    store_free(other);
}

/* HEARTH_STORE_STRESS=1 runs the full load: 8 processes of 1,000 VMs each. */
#define MAX_CHILDREN 8

/* Writes n VMs named prefix-i in one transaction; returns 0 or the error code. */
static int write_batch(const char *path, const char *prefix, int base, int n, bool one_tx) {
    struct error err;
    error_init(&err);
    store *s = NULL;
    int r = store_open(path, &s, &err);
    if (r < 0) {
        fprintf(stderr, "%s: open: %s\n", prefix, err.msg);
        return r;
    }
    if (one_tx)
        r = store_begin(s, &err);
    for (int i = 0; r == 0 && i < n; i++) {
        char uid[ID_LEN + 1], name[64];
        snprintf(uid, sizeof(uid), "%08x%08x", (unsigned)base, (unsigned)i);
        snprintf(name, sizeof(name), "%s-%d", prefix, i);
        struct api_object *vm = make_vm(uid, name, i);
        r = store_object_put(s, vm, &err);
        api_object_free(vm);
    }
    if (r == 0 && one_tx)
        r = store_commit(s, &err);
    if (r < 0) {
        fprintf(stderr, "%s: %s\n", prefix, err.msg);
        store_rollback(s);
    }
    store_free(s);
    return r;
}

static void test_concurrent_writers(void **state) {
    struct tctx *t = *state;
    const char *stress = getenv("HEARTH_STORE_STRESS");
    bool big = stress && strcmp(stress, "1") == 0;
    const int CHILDREN = big ? 8 : 4, PER_CHILD = big ? 1000 : 250, PARENT_N = 250;
    /* Children start from a fresh path too: they race through store_open's migrations. */
    char path[400];
    snprintf(path, sizeof(path), "%s/race.db", t->dir);
    pid_t pids[MAX_CHILDREN];
    for (int c = 0; c < CHILDREN; c++) {
        pids[c] = fork();
        assert_true(pids[c] >= 0);
        if (pids[c] == 0) {
            char prefix[32];
            snprintf(prefix, sizeof(prefix), "child%d", c);
            int r = write_batch(path, prefix, c + 1, PER_CHILD, true);
            _exit(r == 0 ? 0 : 1);
        }
    }
    /* The parent writes too, in many short transactions of its own. */
    assert_int_equal(write_batch(path, "parent", 0x77, PARENT_N, false), 0);
    for (int c = 0; c < CHILDREN; c++) {
        int status = 0;
        assert_int_equal(waitpid(pids[c], &status, 0), pids[c]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    struct error err;
    store *s = NULL;
    assert_int_equal(store_open(path, &s, &err), 0);
    assert_int_equal(raw_int(s, "SELECT count(*) FROM vm"), CHILDREN * PER_CHILD + PARENT_N);
    assert_int_equal(raw_int(s, "SELECT count(*) FROM vm_ports"),
                     2 * (CHILDREN * PER_CHILD + PARENT_N));
    assert_int_equal(raw_int(s, "SELECT count(DISTINCT substr(name, 1, 6)) FROM vm"), CHILDREN + 1);
    /* A fresh database racing through migrations leaves no backup behind. */
    char backup[450];
    snprintf(backup, sizeof(backup), "%s.pre-0002", path);
    assert_int_not_equal(access(backup, F_OK), 0);
    store_free(s);
}

static void test_begin_waits_for_lock(void **state) {
    struct tctx *t = *state;
    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(pipefd[0]);
        struct error err;
        store *s = NULL;
        if (store_open(t->path, &s, &err) < 0 || store_begin(s, &err) < 0)
            _exit(1);
        struct api_object *vm = make_vm("0123456789abcdef", "holder", 1);
        if (store_object_put(s, vm, &err) < 0)
            _exit(1);
        api_object_free(vm);
        if (write(pipefd[1], "x", 1) != 1)
            _exit(1);
        usleep(300 * 1000); /* hold the write lock a while */
        if (store_commit(s, &err) < 0)
            _exit(1);
        store_free(s);
        _exit(0);
    }
    close(pipefd[1]);
    char c;
    assert_int_equal(read(pipefd[0], &c, 1), 1);
    close(pipefd[0]);
    struct error err;
    assert_int_equal(store_begin(t->s, &err), 0); /* waits, then gets the lock */
    /* The holder committed before we got in. */
    assert_int_equal(raw_int(t->s, "SELECT count(*) FROM vm WHERE name = 'holder'"), 1);
    store_rollback(t->s);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int run_concurrency_tests(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_data_version, tctx_setup, tctx_teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_writers, tctx_setup, tctx_teardown),
        cmocka_unit_test_setup_teardown(test_begin_waits_for_lock, tctx_setup, tctx_teardown),
    };
    return cmocka_run_group_tests_name("store concurrency", tests, NULL, NULL);
}
