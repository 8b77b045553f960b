/*
 * The command table: names and aliases are unique and found, no short flag
 * collides with another of its command or with a global one (-q, -h),
 * Ignite's short forms are there, and the man page and the completion
 * scripts written from the table name every command, alias and flag.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli_test.h"

/* Every name of every command, its own and its aliases, with its command. */
struct name {
    const struct cli_command *cmd;
    const char *name;
};

static size_t all_names(struct name *ret, size_t max) {
    size_t n = 0;
    for (size_t i = 0; i < cli_n_commands; i++)
        for (int a = -1; a < CLI_ALIASES_MAX; a++) {
            const char *name = a < 0 ? cli_commands[i].name : cli_commands[i].aliases[a];
            if (name) {
                assert_true(n < max);
                ret[n++] = (struct name){&cli_commands[i], name};
            }
        }
    return n;
}

static void test_names(void **state) {
    (void)state;
    struct name names[256];
    size_t count = all_names(names, ARRAY_SIZE(names));
    for (size_t i = 0; i < count; i++) {
        const struct cli_command *c = names[i].cmd;
        const char *n = names[i].name;
        /* Found, and by the name it was called. */
        const char *called = NULL;
        assert_ptr_equal(cli_command_find(n, &called), c);
        assert_string_equal(called, n);
        /* A two-word name belongs to a group; a one-word name is no group. */
        const char *sp = strchr(n, ' ');
        if (sp) {
            char group[32];
            snprintf(group, sizeof(group), "%.*s", (int)(sp - n), n);
            assert_non_null(cli_group_find(group));
        } else {
            assert_null(cli_group_find(n));
        }
        /* Unique: no other command answers to it. */
        for (size_t j = i + 1; j < count; j++)
            assert_string_not_equal(n, names[j].name);
        assert_true(c->min_args >= 0);
        assert_true(c->max_args < 0 || c->max_args >= c->min_args);
        assert_non_null(c->handler);
        assert_non_null(c->summary);
    }
    assert_true(count > 40);
    /* A group's alias stands for the group in a name. */
    const char *called = NULL;
    assert_ptr_equal(cli_command_find("vms list", &called), cli_command_find("vm ls", NULL));
    assert_string_equal(called, "vm list");
    assert_ptr_equal(cli_command_find("images rm", NULL), cli_command_find("rmi", NULL));
    assert_null(cli_command_find("vm nope", NULL));
    assert_null(cli_command_find("vms", NULL));
    assert_null(cli_command_find("", NULL));
    /* Groups: a default that exists. */
    for (size_t i = 0; i < cli_n_groups; i++) {
        assert_ptr_equal(cli_group_find(cli_groups[i].name), &cli_groups[i]);
        if (cli_groups[i].alias)
            assert_ptr_equal(cli_group_find(cli_groups[i].alias), &cli_groups[i]);
        if (cli_groups[i].dflt)
            assert_non_null(cli_command_find(cli_groups[i].dflt, NULL));
    }
    assert_string_equal(cli_group_find("vms")->dflt, "vm ls");
    assert_string_equal(cli_group_find("images")->dflt, "image ls");
    assert_string_equal(cli_group_find("kernels")->dflt, "kernel ls");
}

static void test_flags(void **state) {
    (void)state;
    for (size_t i = 0; i < cli_n_commands; i++) {
        const struct cli_command *c = &cli_commands[i];
        size_t n = 0;
        for (const struct cli_flag *f = c->flags; f && f->long_name; f++, n++) {
            assert_non_null(f->help);
            /* -q and -h are global; -- names and short letters unique in the command. */
            if (f->short_name == 'q' || f->short_name == 'h')
                fail_msg("'%s': -%c is a global option", c->name, f->short_name);
            for (const struct cli_flag *g = f + 1; g->long_name; g++) {
                if (f->short_name && f->short_name == g->short_name)
                    fail_msg("'%s': -%c is both --%s and --%s", c->name, f->short_name,
                             f->long_name, g->long_name);
                if (strcmp(f->long_name, g->long_name) == 0)
                    fail_msg("'%s': --%s twice", c->name, f->long_name);
            }
            assert_true(!f->values || f->arg);
            assert_true(!f->optional || f->arg);
        }
        assert_true(n < CLI_FLAGS_MAX);
    }
}

/* The flag of command called name with that short letter, or NULL. */
static const struct cli_flag *short_flag(const char *name, char letter) {
    const struct cli_command *c = cli_command_find(name, NULL);
    assert_non_null(c);
    for (const struct cli_flag *f = c->flags; f && f->long_name; f++)
        if (f->short_name == letter)
            return f;
    return NULL;
}

static void expect_short(const char *name, char letter, const char *long_name) {
    const struct cli_flag *f = short_flag(name, letter);
    if (!f || strcmp(f->long_name, long_name) != 0)
        fail_msg("'hearth %s': -%c is not --%s", name, letter, long_name);
}

/* Ignite's short forms (its cmd/ignite/cmd/vmcmd and cmdutil flags). */
static void test_ignite_short_flags(void **state) {
    (void)state;
    const char *const create_like[] = {"create", "run", "vm create", "vm run"};
    for (size_t i = 0; i < ARRAY_SIZE(create_like); i++) {
        expect_short(create_like[i], 'n', "name");
        expect_short(create_like[i], 's', "size");
        expect_short(create_like[i], 'k', "kernel-image");
        expect_short(create_like[i], 'p', "ports");
        expect_short(create_like[i], 'f', "copy-files");
        expect_short(create_like[i], 'l', "label");
    }
    expect_short("run", 'i', "interactive");
    expect_short("start", 'i', "interactive");
    expect_short("ps", 'a', "all");
    expect_short("ps", 'f', "filter");
    expect_short("ps", 't', "template");
    expect_short("vm ls", 't', "template");
    expect_short("inspect", 'o', "output");
    expect_short("inspect", 't', "template");
    expect_short("vm inspect", 't', "template");
    expect_short("version", 'o', "output");
    expect_short("stop", 'f', "force");
    expect_short("rm", 'f', "force");
    expect_short("cp", 'r', "recursive");
    expect_short("cp", 'i', "identity");
    expect_short("vm cp", 'r', "recursive");
}

/* cp's arguments: VM:PATH when a ':' comes before any '/', as docker cp reads them. */
static void test_cp_split(void **state) {
    (void)state;
    static const struct {
        const char *arg, *vm, *path; /* vm NULL: a host path */
    } cases[] = {
        {"dev:/tmp/f", "dev", "/tmp/f"},
        {"dev:", "dev", ""},
        {"dev:rel/f", "dev", "rel/f"},
        {"dev:a:b", "dev", "a:b"},
        {"d0187fa3:/x", "d0187fa3", "/x"},
        {"/tmp/a:b", NULL, NULL},
        {"./a:b", NULL, NULL},
        {":x", NULL, NULL},
        {"plain", NULL, NULL},
        {"dir/f", NULL, NULL},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char vm[64] = "";
        const char *path = NULL;
        int r = cli_cp_split(cases[i].arg, vm, sizeof(vm), &path);
        if (!cases[i].vm) {
            if (r != 0)
                fail_msg("'%s': %d, want a host path", cases[i].arg, r);
            continue;
        }
        if (r != 1 || strcmp(vm, cases[i].vm) != 0 || strcmp(path, cases[i].path) != 0)
            fail_msg("'%s': %d '%s' '%s'", cases[i].arg, r, vm, path ? path : "(null)");
    }
    char small[4];
    const char *path;
    assert_int_equal(cli_cp_split("toolong:/x", small, sizeof(small), &path), -ENAMETOOLONG);
}

static void test_man_page(void **state) {
    (void)state;
    struct strbuf out = STRBUF_INIT;
    assert_int_equal(cli_man_page("2024-05-01", &out), 0);
    assert_non_null(strstr(out.buf, ".TH HEARTH 1 2024-05-01 \"hearth "));
    for (size_t i = 0; i < cli_n_commands; i++) {
        const struct cli_command *c = &cli_commands[i];
        char want[128];
        snprintf(want, sizeof(want), "\n.SS %s\n", c->name);
        if (c->hidden) {
            assert_null(strstr(out.buf, want));
            continue;
        }
        if (!strstr(out.buf, want))
            fail_msg("no section for '%s' in the man page", c->name);
        for (const struct cli_flag *f = c->flags; f && f->long_name; f++) {
            /* Written with roff's minus: \-\-long-name as \-\-long\-name. */
            char flag[96];
            size_t k = (size_t)snprintf(flag, sizeof(flag), "\\fB\\-\\-");
            for (const char *p = f->long_name; *p && k + 3 < sizeof(flag); p++)
                k += (size_t)snprintf(flag + k, sizeof(flag) - k, *p == '-' ? "\\-" : "%c", *p);
            if (!strstr(out.buf, flag))
                fail_msg("no %s in the man page", flag);
        }
    }
    /* A line beginning with . is one of the man(7) macros used; none begins with '. */
    static const char *const macros[] = {".TH ",  ".SH ",  ".SS ",  ".TP\n", ".PP\n",
                                         ".B ",   ".BR ",  ".I ",   ".RS\n", ".RE\n",
                                         ".nf\n", ".fi\n", ".\\\" "};
    for (const char *l = out.buf; l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        if (*l == '\'')
            fail_msg("a line begins with ': %.40s", l);
        bool known = *l != '.';
        for (size_t i = 0; i < ARRAY_SIZE(macros) && !known; i++)
            known = strncmp(l, macros[i], strlen(macros[i])) == 0;
        if (!known)
            fail_msg("a line begins with '.' and no macro: %.40s", l);
    }
    strbuf_release(&out);
}

static void test_completion_scripts(void **state) {
    (void)state;
    const char *const shells[] = {"bash", "zsh", "fish"};
    for (size_t s = 0; s < ARRAY_SIZE(shells); s++) {
        struct strbuf out = STRBUF_INIT;
        assert_int_equal(cli_completion_script(shells[s], &out), 0);
        struct name names[256];
        size_t count = all_names(names, ARRAY_SIZE(names));
        for (size_t i = 0; i < count; i++) {
            const struct cli_command *c = names[i].cmd;
            const char *n = names[i].name;
            /* Every name: the first word among the top words, the second among the group's. */
            const char *sp = strchr(n, ' ');
            char want[128];
            snprintf(want, sizeof(want), "'%s\t", sp ? sp + 1 : n);
            if (!c->hidden && !strstr(out.buf, want))
                fail_msg("%s: '%s' is not offered", shells[s], n);
            if (c->hidden && !sp && strstr(out.buf, want))
                fail_msg("%s: hidden '%s' is offered", shells[s], n);
            for (const struct cli_flag *f = c->flags; f && f->long_name && !c->hidden; f++) {
                snprintf(want, sizeof(want), "'--%s%s\t", f->long_name, f->optional ? "=" : "");
                if (!strstr(out.buf, want))
                    fail_msg("%s: --%s of '%s' is not offered", shells[s], f->long_name, n);
            }
        }
        strbuf_release(&out);
    }
    struct strbuf out = STRBUF_INIT;
    assert_int_equal(cli_completion_script("tcsh", &out), -EINVAL);
    strbuf_release(&out);
}

const struct CMUnitTest cli_table_tests[] = {
    cmocka_unit_test(test_names),
    cmocka_unit_test(test_flags),
    cmocka_unit_test(test_ignite_short_flags),
    cmocka_unit_test(test_cp_split),
    cmocka_unit_test(test_man_page),
    cmocka_unit_test(test_completion_scripts),
};
const size_t cli_table_tests_n = ARRAY_SIZE(cli_table_tests);
