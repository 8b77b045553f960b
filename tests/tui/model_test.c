/*
 * The dashboard's model: what each screen shows, filtered, sorted,
 * scrolled, with the selection kept across refreshes; the layout at narrow
 * widths; the pager; the run form; the key table. No terminal involved.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tui_test.h"

/* n VM summaries "vm-00000".. with uid "%016x" of i, memory alternating 512MB, 1GB, 2GB. */
struct fake_vms {
    struct engine_vm_summaries l;
    char (*uids)[ID_LEN + 1];
    char (*names)[32];
};

static const enum api_vm_state states[] = {API_VM_RUNNING, API_VM_STOPPED, API_VM_CREATED,
                                           API_VM_STARTING};

static void fake_vms_init(struct fake_vms *f, size_t n, size_t offset) {
    f->l.items = calloc(n ? n : 1, sizeof(*f->l.items));
    f->uids = calloc(n ? n : 1, sizeof(*f->uids));
    f->names = calloc(n ? n : 1, sizeof(*f->names));
    assert_non_null(f->l.items);
    f->l.n = n;
    for (size_t i = 0; i < n; i++) {
        size_t k = i + offset;
        snprintf(f->uids[i], sizeof(f->uids[i]), "%016zx", k);
        snprintf(f->names[i], sizeof(f->names[i]), "vm-%05zu", k);
        struct engine_vm_summary *v = &f->l.items[i];
        v->uid = f->uids[i];
        v->name = f->names[i];
        v->image_ref = k % 2 ? "busybox:latest" : "alpine:3.19";
        v->kernel_ref = "weaveworks/ignite-kernel:5.10";
        v->state = states[k % 4];
        v->cpus = 1 + k % 3;
        v->memory = (k % 3 == 0 ? 512ull : k % 3 == 1 ? 1024ull : 2048ull) << 20;
        v->disk_size = 4ull << 30;
        v->created = 1700000000 + (int64_t)k;
        v->ports = "";
        v->ips = "";
    }
}

static void fake_vms_release(struct fake_vms *f) {
    free(f->l.items);
    free(f->uids);
    free(f->names);
}

static struct tui_table *vm_table(size_t n, size_t offset) {
    struct fake_vms f;
    fake_vms_init(&f, n, offset);
    struct tui_table *t = NULL;
    assert_int_equal(tui_table_vms(&f.l, 1700000000 + 3600, &t), 0);
    fake_vms_release(&f); /* the table holds copies */
    return t;
}

/* The column index of title in t. */
static int col(const struct tui_table *t, const char *title) {
    for (size_t c = 0; c < t->ncols; c++)
        if (strcmp(t->cols[c].title, title) == 0)
            return (int)c;
    fail_msg("no column %s", title);
    return -1;
}

static const char *shown_cell(const struct tui_list *l, size_t i, const char *title) {
    assert_true(i < l->n);
    return l->table->rows[l->order[i]].cells[col(l->table, title)];
}

static void test_tones(void **state) {
    (void)state;
    assert_int_equal(tui_tone_of_state(API_VM_RUNNING), TUI_TONE_RUNNING);
    assert_int_equal(tui_tone_of_state(API_VM_STOPPED), TUI_TONE_STOPPED);
    assert_int_equal(tui_tone_of_state(API_VM_CREATED), TUI_TONE_STOPPED);
    assert_int_equal(tui_tone_of_state(API_VM_STOPPING), TUI_TONE_BUSY);
    assert_int_equal(tui_tone_of_state(API_VM_CREATING), TUI_TONE_BUSY);
    assert_int_equal(tui_tone_of_state(API_VM_STATE_NONE), TUI_TONE_NORMAL);
    assert_int_equal(tui_tone_of_state((enum api_vm_state)99), TUI_TONE_NORMAL);
}

static void test_vm_table(void **state) {
    (void)state;
    struct tui_table *t = vm_table(4, 0);
    assert_int_equal(t->nrows, 4);
    assert_string_equal(t->rows[1].cells[col(t, "NAME")], "vm-00001");
    assert_string_equal(t->rows[1].cells[col(t, "VM ID")], "0000000000000001");
    assert_string_equal(t->rows[1].cells[col(t, "IMAGE")], "busybox:latest");
    assert_string_equal(t->rows[1].cells[col(t, "MEMORY")], "1.0 GB");
    assert_string_equal(t->rows[0].cells[col(t, "MEMORY")], "512.0 MB");
    assert_string_equal(t->rows[1].cells[col(t, "STATUS")], "Stopped");
    assert_string_equal(t->rows[1].cells[col(t, "CREATED")], "59m ago");
    assert_string_equal(t->rows[1].key, "0000000000000001");
    assert_int_equal(t->rows[0].tone, TUI_TONE_RUNNING);
    assert_int_equal(t->rows[3].tone, TUI_TONE_BUSY);
    assert_int_equal(t->rows[0].kind, API_KIND_VM);
    /* Natural width: the longest cell, here the 16-character id. */
    assert_int_equal(t->width[col(t, "VM ID")], 16);
    tui_table_free(t);
}

/* CREATED and a running VM's STATUS say what `ps` says, and move on with the time. */
static void test_vm_table_times(void **state) {
    (void)state;
    struct fake_vms f;
    fake_vms_init(&f, 2, 0); /* vm-00000 Running, vm-00001 Stopped */
    int64_t now = 1700000000 + 3600;
    f.l.items[0].started = now - 21;
    f.l.items[0].created = now - 4;
    f.l.items[1].started = now - 30; /* not running: no uptime */
    struct tui_table *t = NULL;
    assert_int_equal(tui_table_vms(&f.l, now, &t), 0);
    fake_vms_release(&f);
    int created = col(t, "CREATED"), status = col(t, "STATUS");
    char want[48];
    api_vm_status_format(API_VM_RUNNING, now - 21, now, want, sizeof(want));
    assert_string_equal(want, "Up 21s");
    assert_string_equal(t->rows[0].cells[status], want);
    assert_string_equal(t->rows[0].cells[created], "4s ago");
    assert_string_equal(t->rows[1].cells[status], "Stopped");
    assert_string_equal(t->rows[1].cells[created], "59m ago");
    /* Nothing moved within the same second. */
    assert_false(tui_table_retime(t, now));
    /* 18 s later: the cells follow without reloading; a state stays. */
    assert_true(tui_table_retime(t, now + 18));
    assert_string_equal(t->rows[0].cells[status], "Up 39s");
    assert_string_equal(t->rows[0].cells[created], "22s ago");
    assert_string_equal(t->rows[1].cells[status], "Stopped");
    assert_string_equal(t->rows[1].cells[created], "1h ago");
    /* The width follows the longest cell. */
    assert_true(tui_table_retime(t, now + 7200));
    assert_string_equal(t->rows[0].cells[status], "Up 2h");
    assert_string_equal(t->rows[1].cells[created], "2h ago");
    assert_int_equal(t->width[status], strlen("Stopped"));
    assert_int_equal(t->width[created], strlen("CREATED"));
    tui_table_free(t);
}

static void test_filter(void **state) {
    (void)state;
    struct tui_list l;
    tui_list_init(&l);
    assert_int_equal(tui_list_set_table(&l, vm_table(100, 0)), 0);
    assert_int_equal(l.n, 100);
    assert_int_equal(tui_list_set_filter(&l, "vm-0004"), 0);
    assert_int_equal(l.n, 10); /* vm-00040 .. vm-00049 */
    assert_string_equal(shown_cell(&l, 0, "NAME"), "vm-00040");
    /* Case-insensitive, any column. */
    assert_int_equal(tui_list_set_filter(&l, "BUSYBOX"), 0);
    assert_int_equal(l.n, 50);
    assert_int_equal(tui_list_set_filter(&l, "running"), 0);
    assert_int_equal(l.n, 25);
    assert_int_equal(tui_list_set_filter(&l, "no such thing"), 0);
    assert_int_equal(l.n, 0);
    assert_null(tui_list_selected(&l));
    assert_int_equal(tui_list_set_filter(&l, ""), 0);
    assert_int_equal(l.n, 100);
    tui_list_release(&l);
}

static void test_sort_and_reverse(void **state) {
    (void)state;
    struct tui_list l;
    tui_list_init(&l);
    assert_int_equal(tui_list_set_table(&l, vm_table(6, 0)), 0);
    int mem = col(l.table, "MEMORY"), name = col(l.table, "NAME");
    /* Memory sorts by bytes: "512.0 MB" before "1.0 GB", which text order would not give. */
    assert_int_equal(tui_list_sort(&l, mem, false), 0);
    assert_string_equal(shown_cell(&l, 0, "MEMORY"), "512.0 MB");
    assert_string_equal(shown_cell(&l, 1, "MEMORY"), "512.0 MB");
    assert_string_equal(shown_cell(&l, 2, "MEMORY"), "1.0 GB");
    assert_string_equal(shown_cell(&l, 5, "MEMORY"), "2.0 GB");
    /* Stable: equal memory keeps the natural order. */
    assert_string_equal(shown_cell(&l, 0, "NAME"), "vm-00000");
    assert_string_equal(shown_cell(&l, 1, "NAME"), "vm-00003");
    assert_int_equal(tui_list_sort(&l, mem, true), 0);
    assert_string_equal(shown_cell(&l, 0, "MEMORY"), "2.0 GB");
    assert_string_equal(shown_cell(&l, 5, "MEMORY"), "512.0 MB");
    assert_int_equal(tui_list_sort(&l, name, true), 0);
    assert_string_equal(shown_cell(&l, 0, "NAME"), "vm-00005");
    assert_string_equal(shown_cell(&l, 5, "NAME"), "vm-00000");
    /* Natural order again. */
    assert_int_equal(tui_list_sort(&l, -1, false), 0);
    assert_string_equal(shown_cell(&l, 0, "NAME"), "vm-00000");
    /* Sorting keeps the selection on its row. */
    tui_list_move(&l, 2);
    assert_string_equal(tui_list_selected(&l)->key, "0000000000000002");
    assert_int_equal(tui_list_sort(&l, name, true), 0);
    assert_string_equal(tui_list_selected(&l)->key, "0000000000000002");
    assert_int_equal(l.sel, 3);
    tui_list_release(&l);
}

static void test_selection_kept_across_refresh(void **state) {
    (void)state;
    struct tui_list l;
    tui_list_init(&l);
    assert_int_equal(tui_list_set_table(&l, vm_table(50, 10)), 0);
    tui_list_move(&l, 5);
    assert_string_equal(tui_list_selected(&l)->key, "000000000000000f");
    /* A refresh with 10 more rows in front: the selection follows its row. */
    assert_int_equal(tui_list_set_table(&l, vm_table(60, 0)), 0);
    assert_string_equal(tui_list_selected(&l)->key, "000000000000000f");
    assert_int_equal(l.sel, 15);
    /* ... also through a filter and a sort. */
    assert_int_equal(tui_list_set_filter(&l, "vm-0001"), 0);
    assert_string_equal(tui_list_selected(&l)->key, "000000000000000f");
    assert_int_equal(tui_list_sort(&l, col(l.table, "NAME"), true), 0);
    assert_int_equal(tui_list_set_table(&l, vm_table(60, 0)), 0);
    assert_string_equal(tui_list_selected(&l)->key, "000000000000000f");
    assert_int_equal(l.sel, 4); /* vm-00019 .. vm-00015 */
    /* The selected row is gone: the selection stays at its position. */
    assert_int_equal(tui_list_set_filter(&l, ""), 0);
    assert_int_equal(tui_list_sort(&l, -1, false), 0);
    tui_list_home(&l);
    tui_list_move(&l, 20);
    assert_int_equal(tui_list_set_table(&l, vm_table(40, 30)), 0);
    assert_int_equal(l.sel, 20);
    assert_string_equal(tui_list_selected(&l)->key, "0000000000000032");
    /* Fewer rows than the position: clamped to the last. */
    assert_int_equal(tui_list_set_table(&l, vm_table(3, 0)), 0);
    assert_int_equal(l.sel, 2);
    tui_list_release(&l);
}

static void test_scrolling(void **state) {
    (void)state;
    struct tui_list l;
    tui_list_init(&l);
    assert_int_equal(tui_list_set_table(&l, vm_table(10000, 0)), 0);
    size_t h = 20;
    tui_list_scroll(&l, h);
    assert_int_equal(l.top, 0);
    tui_list_move(&l, 19);
    tui_list_scroll(&l, h);
    assert_int_equal(l.top, 0);
    tui_list_move(&l, 1); /* row 20: one past the window */
    tui_list_scroll(&l, h);
    assert_int_equal(l.top, 1);
    tui_list_move(&l, (long)h - 1); /* a page down */
    tui_list_scroll(&l, h);
    assert_int_equal(l.sel, 39);
    assert_int_equal(l.top, 20);
    tui_list_move(&l, -30);
    tui_list_scroll(&l, h);
    assert_int_equal(l.sel, 9);
    assert_int_equal(l.top, 9);
    tui_list_end(&l);
    tui_list_scroll(&l, h);
    assert_int_equal(l.sel, 9999);
    assert_int_equal(l.top, 9980);
    tui_list_move(&l, 100); /* clamped */
    assert_int_equal(l.sel, 9999);
    tui_list_home(&l);
    tui_list_scroll(&l, h);
    assert_int_equal(l.top, 0);
    tui_list_move(&l, -5);
    assert_int_equal(l.sel, 0);
    /* The window grows (a resize): no empty space below the last row. */
    tui_list_end(&l);
    tui_list_scroll(&l, h);
    tui_list_scroll(&l, 40);
    assert_int_equal(l.top, 9960);
    /* A filter leaves fewer rows than the window: top back to 0. */
    assert_int_equal(tui_list_set_filter(&l, "vm-0999"), 0);
    tui_list_scroll(&l, h);
    assert_int_equal(l.n, 10);
    assert_int_equal(l.top, 0);
    tui_list_release(&l);
}

static void test_layout(void **state) {
    (void)state;
    struct tui_table *t = vm_table(3, 0);
    int w[TUI_COLS_MAX];
    /* Wide: everything, at natural width. */
    size_t shown = tui_layout(t, 400, w);
    assert_int_equal(shown, t->ncols);
    assert_int_equal(w[col(t, "VM ID")], 16);
    /* 80 columns: NAME and STATUS first, KERNEL, IPS and PORTS dropped. */
    shown = tui_layout(t, 80, w);
    assert_true(shown >= 4 && shown < t->ncols);
    assert_int_equal(w[col(t, "NAME")], 8);
    assert_true(w[col(t, "STATUS")] > 0);
    assert_true(w[col(t, "VM ID")] > 0);
    assert_int_equal(w[col(t, "PORTS")], 0);
    assert_int_equal(w[col(t, "KERNEL")], 0);
    int total = 0, n = 0;
    for (size_t c = 0; c < t->ncols; c++)
        if (w[c]) {
            total += w[c];
            n++;
        }
    assert_true(total + 2 * (n - 1) <= 80);
    /* Tiny: the most important column alone, cut. */
    shown = tui_layout(t, 5, w);
    assert_int_equal(shown, 1);
    assert_int_equal(w[col(t, "NAME")], 5);
    tui_table_free(t);
}

static void test_pool_tree(void **state) {
    (void)state;
    /* 0 Image <- 1 Resize <- 2 Kernel <- {3 VM, 5 VM}; 4 Image alone; 7 VM whose parent is gone. */
    struct engine_device devs[] = {
        {.id = 0, .type = "Image", .parent = -1, .size = 1 << 20, .state = ENGINE_POOL_ACTIVE},
        {.id = 1, .type = "Resize", .parent = 0, .size = 4u << 30, .state = ENGINE_POOL_ACTIVE},
        {.id = 2, .type = "Kernel", .parent = 1, .size = 4u << 30, .state = ENGINE_POOL_ACTIVE},
        {.id = 3, .type = "VM", .parent = 2, .size = 4u << 30, .state = ENGINE_POOL_ACTIVE},
        {.id = 4, .type = "Image", .parent = -1, .size = 1 << 20, .state = ENGINE_POOL_PLANNED},
        {.id = 5, .type = "VM", .parent = 2, .size = 4u << 30, .state = ENGINE_POOL_ACTIVE},
        {.id = 7, .type = "VM", .parent = 6, .size = 4u << 30, .state = ENGINE_POOL_ACTIVE},
    };
    struct engine_pool_status st = {.driver = "file",
                                    .name = "abcd1234",
                                    .state = ENGINE_POOL_ACTIVE,
                                    .usage_known = true,
                                    .data_used = 1 << 30,
                                    .data_total = 4u << 30,
                                    .n_devices = 7};
    struct tui_table *t = NULL;
    assert_int_equal(tui_table_pool(&st, NULL, devs, ARRAY_SIZE(devs), 1700000000, &t), 0);
    assert_int_equal(t->nrows, 7);
    const char *want_keys[] = {"0", "1", "2", "3", "5", "4", "7"};
    const char *want_labels[] = {"0", "`- 1", "   `- 2", "      |- 3", "      `- 5", "4", "7"};
    for (size_t i = 0; i < 7; i++) {
        assert_string_equal(t->rows[i].key, want_keys[i]);
        assert_string_equal(t->rows[i].cells[0], want_labels[i]);
    }
    assert_int_equal(t->rows[5].tone, TUI_TONE_BUSY); /* planned */
    assert_int_equal(t->n_gauges, 1);                 /* file: no metadata */
    assert_int_equal(t->gauges[0].used, 1 << 30);
    assert_int_equal(t->gauges[0].total, 4u << 30);
    assert_non_null(strstr(t->info, "driver file"));
    tui_table_free(t);
    /* No pool: the reason, no gauges. */
    assert_int_equal(tui_table_pool(NULL, "no pool", NULL, 0, 0, &t), 0);
    assert_int_equal(t->nrows, 0);
    assert_int_equal(t->n_gauges, 0);
    assert_string_equal(t->info, "no pool");
    tui_table_free(t);
}

static void test_ops_table(void **state) {
    (void)state;
    struct engine_journal_entry ops[] = {
        {.id = 9,
         .op = "vm.start",
         .kind = API_KIND_VM,
         .object_uid = "0123456789abcdef",
         .step = "intent",
         .owner_pid = 42,
         .started = 1700000000},
        {.id = 8,
         .op = "image.import",
         .kind = API_KIND_IMAGE,
         .object_uid = "00000000000000aa",
         .step = "unpacked",
         .owner_pid = 41,
         .started = 1699999000,
         .finished = 1699999010,
         .error = "pulling 'x': 404 not found"},
        {.id = 7,
         .op = "pool.create",
         .kind = API_KIND_POOL,
         .step = "done",
         .owner_pid = 40,
         .started = 1699990000,
         .finished = 1699990001,
         .device_id = 3},
    };
    struct tui_table *t = NULL;
    assert_int_equal(tui_table_ops(ops, 3, 1700000060, &t), 0);
    assert_int_equal(t->nrows, 3);
    assert_string_equal(t->rows[0].cells[col(t, "STATE")], "running");
    assert_int_equal(t->rows[0].tone, TUI_TONE_BUSY);
    assert_string_equal(t->rows[1].cells[col(t, "STATE")], "failed");
    assert_string_equal(t->rows[1].cells[col(t, "ERROR")], "pulling 'x': 404 not found");
    assert_int_equal(t->rows[1].tone, TUI_TONE_ERROR);
    assert_string_equal(t->rows[2].cells[col(t, "STATE")], "done");
    assert_string_equal(t->rows[2].cells[col(t, "OBJECT")], "device 3");
    assert_string_equal(t->rows[0].cells[col(t, "STARTED")], "1m ago");
    tui_table_free(t);

    struct strbuf sb = STRBUF_INIT;
    assert_int_equal(tui_describe_op(&ops[1], &sb), 0);
    assert_non_null(strstr(sb.buf, "operation: image.import\n"));
    assert_non_null(strstr(sb.buf, "state: failed\n"));
    assert_non_null(strstr(sb.buf, "error: 'pulling ''x'': 404 not found'\n"));
    assert_non_null(strstr(sb.buf, "finished: '2023-11-14T21:56:50Z'\n"));
    strbuf_release(&sb);
}

static void test_text_pager(void **state) {
    (void)state;
    struct tui_text t;
    tui_text_init(&t);
    struct strbuf sb = STRBUF_INIT;
    for (int i = 0; i < 100; i++)
        assert_int_equal(strbuf_addf(&sb, "line %d\n", i), 0);
    assert_int_equal(tui_text_set(&t, "describe", sb.buf, sb.len), 0);
    size_t len;
    const char *s = tui_text_line(&t, 42, &len);
    assert_int_equal(len, 7);
    assert_memory_equal(s, "line 42", 7);
    tui_text_line(&t, 100, &len); /* past the end: empty */
    assert_int_equal(len, 0);
    tui_text_scroll(&t, 10, 20);
    assert_int_equal(t.top, 10);
    assert_false(t.follow);
    tui_text_scroll(&t, 1000, 20);
    assert_int_equal(t.top, 80);
    assert_true(t.follow);
    tui_text_scroll(&t, -1000, 20);
    assert_int_equal(t.top, 0);
    tui_text_end(&t, 20);
    assert_int_equal(t.top, 80);
    tui_text_home(&t);
    assert_int_equal(t.top, 0);
    /* A log arriving in pieces: lines joined across appends. */
    assert_int_equal(tui_text_set(&t, "logs", "", 0), 0);
    assert_int_equal(tui_text_append(&t, "boo", 3), 0);
    assert_int_equal(tui_text_append(&t, "ting\nlogin", 10), 0);
    assert_int_equal(tui_text_append(&t, ": \n", 3), 0);
    s = tui_text_line(&t, 0, &len);
    assert_int_equal(len, 7);
    assert_memory_equal(s, "booting", 7);
    s = tui_text_line(&t, 1, &len);
    assert_int_equal(len, 7);
    assert_memory_equal(s, "login: ", 7);
    tui_text_end(&t, 20);
    assert_int_equal(t.top, 0);
    /* A guest's console ends its lines with CRLF: the CR is not shown. */
    assert_int_equal(tui_text_set(&t, "logs", "", 0), 0);
    assert_int_equal(tui_text_append(&t, "Welcome\r\nlogin:\r", 16), 0);
    assert_int_equal(tui_text_append(&t, "\nx\ry\r\n", 7), 0);
    s = tui_text_line(&t, 0, &len);
    assert_int_equal(len, 7);
    assert_memory_equal(s, "Welcome", 7);
    s = tui_text_line(&t, 1, &len);
    assert_int_equal(len, 6);
    assert_memory_equal(s, "login:", 6);
    s = tui_text_line(&t, 2, &len); /* a CR inside a line stays (shown as '.') */
    assert_int_equal(len, 3);
    assert_memory_equal(s, "x\ry", 3);
    /* Bounded: past TUI_TEXT_MAX the oldest lines go. */
    char chunk[4096];
    memset(chunk, 'x', sizeof(chunk) - 1);
    chunk[sizeof(chunk) - 1] = '\n';
    for (size_t i = 0; i < (TUI_TEXT_MAX / sizeof(chunk)) * 2; i++)
        assert_int_equal(tui_text_append(&t, chunk, sizeof(chunk)), 0);
    assert_true(t.buf.len <= TUI_TEXT_MAX);
    s = tui_text_line(&t, 0, &len);
    assert_int_equal(len, sizeof(chunk) - 1);
    tui_text_release(&t);
    strbuf_release(&sb);
}

static void test_form(void **state) {
    (void)state;
    struct tui_form f;
    tui_form_init(&f, "busybox:latest", NULL);
    struct api_object *vm = NULL;
    /* A bad cpus value: refused, the field focused, the message names it. */
    f.field = TUI_FORM_CPUS;
    tui_form_backspace(&f);
    tui_form_insert(&f, 'x');
    assert_int_equal(tui_form_build(&f, &vm), -EINVAL);
    assert_null(vm);
    assert_int_equal(f.field, TUI_FORM_CPUS);
    assert_non_null(strstr(f.error, "CPUs: 'x'"));
    tui_form_backspace(&f);
    tui_form_insert(&f, '2');
    f.field = TUI_FORM_NAME;
    for (const char *p = "Web"; *p; p++)
        tui_form_insert(&f, *p);
    assert_int_equal(tui_form_build(&f, &vm), -EINVAL); /* uppercase is no name */
    assert_int_equal(f.field, TUI_FORM_NAME);
    f.values[TUI_FORM_NAME][0] = '\0';
    for (const char *p = "web-1"; *p; p++)
        tui_form_insert(&f, *p);
    tui_form_next(&f, 1);
    tui_form_next(&f, 1);
    assert_int_equal(f.field, TUI_FORM_MEMORY);
    tui_form_next(&f, -3);
    assert_int_equal(f.field, TUI_FORM_KERNEL);
    for (const char *p = "weaveworks/ignite-kernel:5.10"; *p; p++)
        tui_form_insert(&f, *p);
    assert_int_equal(tui_form_build(&f, &vm), 0);
    assert_string_equal(vm->meta.name, "web-1");
    assert_int_equal(vm->u.vm.cpus, 2);
    assert_int_equal(vm->u.vm.memory, 512ull << 20);
    assert_int_equal(vm->u.vm.disk_size, 4ull << 30);
    assert_string_equal(vm->u.vm.image_claim->ref, "busybox:latest");
    assert_string_equal(vm->u.vm.kernel_claim->ref, "weaveworks/ignite-kernel:5.10");
    api_object_free(vm);
}

static void test_keys(void **state) {
    (void)state;
    assert_int_equal(tui_key_action('j', NULL), TUI_ACT_DOWN);
    assert_int_equal(tui_key_action('k', NULL), TUI_ACT_UP);
    assert_int_equal(tui_key_action('q', NULL), TUI_ACT_QUIT);
    assert_int_equal(tui_key_action(4, NULL), TUI_ACT_DELETE); /* Ctrl-D */
    assert_int_equal(tui_key_action('Z', NULL), TUI_ACT_NONE);
    const struct tui_key *k = NULL;
    assert_int_equal(tui_key_action('S', &k), TUI_ACT_STOP);
    assert_true(k->changes);
    assert_int_equal(tui_key_action('d', &k), TUI_ACT_DESCRIBE);
    assert_false(k->changes);
    /* No key is bound twice, and the help names every key. */
    struct strbuf help = STRBUF_INIT;
    assert_int_equal(tui_help_text(true, &help), 0);
    for (size_t i = 0; i < tui_n_keys; i++) {
        for (size_t c = 0; c < 3 && tui_keys[i].codes[c]; c++) {
            const struct tui_key *found = NULL;
            tui_key_action(tui_keys[i].codes[c], &found);
            assert_ptr_equal(found, &tui_keys[i]);
        }
        assert_non_null(strstr(help.buf, tui_keys[i].label));
        assert_non_null(strstr(help.buf, tui_keys[i].help));
    }
    assert_non_null(strstr(help.buf, "read-only"));
    strbuf_release(&help);
}

const struct CMUnitTest tui_model_tests[] = {
    cmocka_unit_test(test_tones),
    cmocka_unit_test(test_vm_table),
    cmocka_unit_test(test_vm_table_times),
    cmocka_unit_test(test_filter),
    cmocka_unit_test(test_sort_and_reverse),
    cmocka_unit_test(test_selection_kept_across_refresh),
    cmocka_unit_test(test_scrolling),
    cmocka_unit_test(test_layout),
    cmocka_unit_test(test_pool_tree),
    cmocka_unit_test(test_ops_table),
    cmocka_unit_test(test_text_pager),
    cmocka_unit_test(test_form),
    cmocka_unit_test(test_keys),
};
const size_t tui_model_tests_n = ARRAY_SIZE(tui_model_tests);
