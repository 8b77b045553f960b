/*
 * VM summary tests: store_vm_summary_list gives, for every VM, the same
 * fields store_object_list gives (ports and IPs joined as `ps` shows them,
 * labels but not annotations), in the same order, for VMs with and without
 * claims, ports, IPs and labels; an empty store lists nothing; a failing
 * allocation fails the call cleanly; the active listing reads only the
 * active VMs.
 */
#include <errno.h>
#include <string.h>

#include "store/store_test.h"

static void put_ok(store *s, const struct api_object *o) {
    struct error err;
    error_init(&err);
    if (store_object_put(s, o, &err) < 0)
        fail_msg("put: %s", err.msg);
}

static void assert_str_or_null(const char *want, const char *got) {
    if (!want)
        assert_null(got);
    else
        assert_string_equal(want, got);
}

/* Joins the VM's ports the way `ps` always has: api_port_format, ", " between. */
static void joined_ports(const struct api_vm *v, char *buf, size_t size) {
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < v->n_ports; i++) {
        char p[160];
        api_port_format(&v->ports[i], p, sizeof(p));
        len += (size_t)snprintf(buf + len, size - len, "%s%s", i ? ", " : "", p);
    }
}

static void joined_ips(const struct api_vm *v, char *buf, size_t size) {
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < v->n_ip_addresses; i++)
        len += (size_t)snprintf(buf + len, size - len, "%s%s", i ? ", " : "", v->ip_addresses[i]);
}

static void assert_summary_matches(const struct api_object *o, const struct store_vm_summary *s) {
    const struct api_vm *v = &o->u.vm;
    assert_string_equal(o->meta.uid, s->uid);
    assert_string_equal(o->meta.name, s->name);
    assert_int_equal(o->meta.created, s->created);
    assert_str_or_null(v->image_claim ? v->image_claim->ref : NULL, s->image_ref);
    assert_str_or_null(v->kernel_claim ? v->kernel_claim->ref : NULL, s->kernel_ref);
    assert_str_or_null(v->cmdline, s->cmdline);
    assert_str_or_null(v->network_mode, s->network_mode);
    assert_int_equal(v->state, s->state);
    assert_str_or_null(v->status_image.source.id, s->image_id);
    assert_str_or_null(v->status_kernel.source.id, s->kernel_id);
    assert_int_equal(v->cpus, s->cpus);
    assert_int_equal(v->memory, s->memory);
    assert_int_equal(v->disk_size, s->disk_size);
    char buf[2048];
    joined_ports(v, buf, sizeof(buf));
    assert_string_equal(buf, s->ports);
    joined_ips(v, buf, sizeof(buf));
    assert_string_equal(buf, s->ips);
    assert_int_equal(o->meta.n_labels, s->n_labels);
    for (size_t i = 0; i < s->n_labels; i++) {
        assert_string_equal(o->meta.labels[i].key, s->labels[i].key);
        assert_string_equal(o->meta.labels[i].value, s->labels[i].value);
    }
}

/* Clears the lists and optional parts of a VM, one kind of emptiness per i. */
static void strip_vm(struct api_object *o, int i) {
    struct api_vm *v = &o->u.vm;
    switch (i % 4) {
    case 0: /* no ports, no IPs, no labels */
        for (size_t k = 0; k < v->n_ports; k++)
            api_port_release(&v->ports[k]);
        v->n_ports = 0;
        for (size_t k = 0; k < v->n_ip_addresses; k++)
            free(v->ip_addresses[k]);
        v->n_ip_addresses = 0;
        for (size_t k = 0; k < o->meta.n_labels; k++) {
            free(o->meta.labels[k].key);
            free(o->meta.labels[k].value);
        }
        o->meta.n_labels = 0;
        break;
    case 1: /* no kernel claim, no status ids, no cmdline (the image claim and the state
               are required: without them the row is corrupt) */
        free(v->kernel_claim->type);
        free(v->kernel_claim->ref);
        free(v->kernel_claim);
        v->kernel_claim = NULL;
        free(v->status_image.source.id);
        v->status_image.source.id = NULL;
        free(v->status_kernel.source.id);
        v->status_kernel.source.id = NULL;
        free(v->cmdline);
        v->cmdline = NULL;
        o->meta.created = API_TIME_NONE;
        break;
    case 2: /* an IPv6 bind address */
        free(v->ports[0].bind_address);
        v->ports[0].bind_address = strdup("::1");
        break;
    default: /* everything make_vm sets */
        break;
    }
}

static void test_summary_equals_list(void **state) {
    struct tctx *t = *state;
    struct error err;
    error_init(&err);
    enum { N = 40 };
    for (int i = 0; i < N; i++) {
        char uid[ID_LEN + 1], name[32];
        snprintf(uid, sizeof(uid), "%016x", (unsigned)(i * 2654435761u));
        snprintf(name, sizeof(name), "vm-%02d", (i * 7) % N); /* creation order != name order */
        struct api_object *v = make_vm(uid, name, i % 5);
        strip_vm(v, i);
        put_ok(t->s, v);
        api_object_free(v);
    }
    /* Rows that break apply's rules are left out of both (with a warning):
     * a uid that is not 16 hex digits, a name with '/', no state. */
    struct api_object *odd = make_vm("not-a-hex-uid", "odd", 3);
    put_ok(t->s, odd);
    api_object_free(odd);
    odd = make_vm("00000000000000aa", "odd-name", 3);
    put_ok(t->s, odd);
    api_object_free(odd);
    raw_exec(t->s, "UPDATE vm SET name = 'a/b' WHERE uid = '00000000000000aa'");
    odd = make_vm("00000000000000bb", "no-state", 3);
    put_ok(t->s, odd);
    api_object_free(odd);
    raw_exec(t->s, "UPDATE vm SET state = NULL WHERE uid = '00000000000000bb'");

    struct api_object **objs = NULL;
    size_t n = 0;
    assert_int_equal(store_object_list(t->s, API_KIND_VM, &objs, &n, &err), 0);
    struct store_vm_summaries *sum = NULL;
    assert_int_equal(store_vm_summary_list(t->s, &sum, &err), 0);
    assert_int_equal(n, N);
    assert_int_equal(sum->n, n);
    for (size_t i = 0; i < n; i++)
        assert_summary_matches(objs[i], &sum->items[i]);
    /* Spot checks that the comparison saw real data, not two empty lists. */
    size_t with_ports = 0, with_ips = 0, v6 = 0;
    for (size_t i = 0; i < n; i++) {
        with_ports += sum->items[i].ports[0] != '\0';
        with_ips += sum->items[i].ips[0] != '\0';
        v6 += strstr(sum->items[i].ports, "[::1]:8080->80/tcp") != NULL;
    }
    assert_true(with_ports > N / 2 && with_ports < n);
    assert_true(with_ips > N / 2 && with_ips < n);
    assert_int_equal(v6, N / 4);
    api_objects_free(objs, n);
    store_vm_summaries_free(sum);
}

static void test_summary_fields(void **state) {
    struct tctx *t = *state;
    struct error err;
    error_init(&err);
    struct api_object *v = make_vm("0123456789abcdef", "web", 1);
    put_ok(t->s, v);
    api_object_free(v);
    struct store_vm_summaries *sum = NULL;
    assert_int_equal(store_vm_summary_list(t->s, &sum, &err), 0);
    assert_int_equal(sum->n, 1);
    const struct store_vm_summary *s = &sum->items[0];
    assert_string_equal(s->ports, "0.0.0.0:8080->80/tcp, 127.0.0.1:5353->53/udp");
    assert_string_equal(s->ips, "10.61.0.2, 10.61.0.3");
    assert_int_equal(s->n_labels, 2); /* the annotation is not a label */
    assert_string_equal(s->labels[0].key, "team");
    assert_string_equal(s->labels[1].value, "web");
    assert_string_equal(s->image_ref, "weaveworks/ignite-ubuntu:latest");
    assert_string_equal(s->image_id, "sha256:aaaa");
    assert_int_equal(s->memory, 1024ull << 20);
    store_vm_summaries_free(sum);
}

static void test_summary_empty(void **state) {
    struct tctx *t = *state;
    struct error err;
    error_init(&err);
    struct store_vm_summaries *sum = NULL;
    assert_int_equal(store_vm_summary_list(t->s, &sum, &err), 0);
    assert_int_equal(sum->n, 0);
    store_vm_summaries_free(sum);
    store_vm_summaries_free(NULL);
}

static void test_summary_alloc_failures(void **state) {
    struct tctx *t = *state;
    struct error err;
    error_init(&err);
    for (int i = 0; i < 3; i++) {
        char uid[ID_LEN + 1], name[32];
        snprintf(uid, sizeof(uid), "%016x", i + 1);
        snprintf(name, sizeof(name), "vm-%d", i);
        struct api_object *v = make_vm(uid, name, i);
        put_ok(t->s, v);
        api_object_free(v);
    }
    int k;
    for (k = 1; k < 1000; k++) {
        struct store_vm_summaries *sum = NULL;
        util_alloc_fail_after(k);
        int r = store_vm_summary_list(t->s, &sum, &err);
        util_alloc_fail_after(0);
        if (r == 0) {
            assert_int_equal(sum->n, 3);
            store_vm_summaries_free(sum);
            break;
        }
        assert_int_equal(r, -ENOMEM);
        assert_null(sum);
    }
    assert_true(k > 1 && k < 1000);
    assert_true(sqlite3_get_autocommit(t->s->db)); /* no read transaction left open */
}

/* Counts the virtual machine instructions SQLite runs: rows read cost instructions. */
static int count_op(void *ud) {
    (*(uint64_t *)ud)++;
    return 0;
}

static uint64_t ops_of_active_list(store *s, size_t want_n) {
    struct error err;
    error_init(&err);
    uint64_t ops = 0;
    sqlite3_progress_handler(s->db, 1, count_op, &ops);
    struct store_vm_summaries *sum = NULL;
    int r = store_vm_summary_list_active(s, &sum, &err);
    sqlite3_progress_handler(s->db, 0, NULL, NULL);
    if (r < 0)
        fail_msg("active list: %s", err.msg);
    assert_int_equal(sum->n, want_n);
    store_vm_summaries_free(sum);
    return ops;
}

static void put_vms(store *s, int from, int to, const char *const *states, size_t n_states) {
    for (int i = from; i < to; i++) {
        char uid[ID_LEN + 1], name[32];
        snprintf(uid, sizeof(uid), "%016x", (unsigned)(i * 2654435761u));
        snprintf(name, sizeof(name), "vm-%04d", i);
        struct api_object *v = make_vm(uid, name, i);
        assert_int_equal(api_vm_state_parse(states[(size_t)i % n_states], &v->u.vm.state), 0);
        put_ok(s, v);
        api_object_free(v);
    }
}

/*
 * The active listing (ps without -a) gives exactly the summaries of the VMs
 * in an active state, as the full listing has them, and never reads the
 * others: the instructions SQLite runs for it stay the same when 300 more
 * stopped VMs (with ports, IPs and labels) are added, while the full
 * listing's grow by about 90 per VM.
 */
static void test_summary_active(void **state) {
    struct tctx *t = *state;
    struct error err;
    error_init(&err);
    static const char *const states[] = {"Created",  "Running",  "Stopped", "Creating",
                                         "Starting", "Stopping", "Removing"};
    put_vms(t->s, 0, 21, states, ARRAY_SIZE(states)); /* 15 active, 6 not */

    struct store_vm_summaries *all = NULL, *active = NULL;
    assert_int_equal(store_vm_summary_list(t->s, &all, &err), 0);
    assert_int_equal(store_vm_summary_list_active(t->s, &active, &err), 0);
    assert_int_equal(all->n, 21);
    assert_int_equal(active->n, 15);
    size_t k = 0;
    for (size_t i = 0; i < all->n; i++) {
        const struct store_vm_summary *a = &all->items[i];
        if (a->state == API_VM_CREATED || a->state == API_VM_STOPPED)
            continue;
        const struct store_vm_summary *b = &active->items[k++];
        assert_string_equal(a->uid, b->uid);
        assert_string_equal(a->name, b->name);
        assert_int_equal(a->state, b->state);
        assert_string_equal(a->ports, b->ports);
        assert_string_equal(a->ips, b->ips);
        assert_int_equal(a->n_labels, b->n_labels);
        assert_string_equal(a->labels[0].key, b->labels[0].key);
        assert_int_equal(a->created, b->created);
    }
    assert_int_equal(k, active->n);
    store_vm_summaries_free(all);
    store_vm_summaries_free(active);

    static const char *const stopped[] = {"Stopped", "Created"};
    uint64_t before = ops_of_active_list(t->s, 15);
    uint64_t all_before = 0;
    sqlite3_progress_handler(t->s->db, 1, count_op, &all_before);
    assert_int_equal(store_vm_summary_list(t->s, &all, &err), 0);
    sqlite3_progress_handler(t->s->db, 0, NULL, NULL);
    store_vm_summaries_free(all);

    put_vms(t->s, 21, 321, stopped, ARRAY_SIZE(stopped));
    uint64_t after = ops_of_active_list(t->s, 15);
    uint64_t all_after = 0;
    sqlite3_progress_handler(t->s->db, 1, count_op, &all_after);
    assert_int_equal(store_vm_summary_list(t->s, &all, &err), 0);
    sqlite3_progress_handler(t->s->db, 0, NULL, NULL);
    assert_int_equal(all->n, 321);
    store_vm_summaries_free(all);

    /* Reading the added rows would cost at least one instruction each; what
     * remains is SQLite choosing between a seek and a few steps along the
     * index around each state (3 instructions in the runs seen). */
    assert_true(before > 0);
    assert_true(after >= before && after < before + 30);
    assert_true(all_after > all_before + 300 * 10); /* the counter does see rows being read */

    /* No active VM: the listing is empty and reads nothing of the others. */
    raw_exec(t->s, "UPDATE vm SET state = 'Stopped'");
    assert_true(ops_of_active_list(t->s, 0) < before);
}

int run_summary_tests(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_summary_equals_list, tctx_setup, tctx_teardown),
        cmocka_unit_test_setup_teardown(test_summary_fields, tctx_setup, tctx_teardown),
        cmocka_unit_test_setup_teardown(test_summary_empty, tctx_setup, tctx_teardown),
        cmocka_unit_test_setup_teardown(test_summary_alloc_failures, tctx_setup, tctx_teardown),
        cmocka_unit_test_setup_teardown(test_summary_active, tctx_setup, tctx_teardown),
    };
    return cmocka_run_group_tests_name("store vm summaries", tests, NULL, NULL);
}
