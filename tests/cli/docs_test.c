/*
 * docs/cli.md against the binary: the schema version it shows is the one
 * `hearth version` prints; every command, alias and group of the table is
 * named there (`hearth NAME`), each command in a heading of its own section,
 * and each of its flags (--long and -s) in that section; every global option
 * is documented; and a heading names no command the table does not have.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli_test.h"

struct section {
    const char *heading; /* the heading line (a copy), "" before the first */
    const char *text;    /* heading and body (a copy) */
};

struct doc {
    char *all;
    struct section s[128];
    size_t n;
};

static void doc_load(struct doc *d) {
    const char *data = getenv("HEARTH_TEST_DATA");
    char path[4096];
    snprintf(path, sizeof(path), "%s/../../docs/cli.md", data ? data : "tests/data");
    struct strbuf sb = STRBUF_INIT;
    struct error err;
    error_init(&err);
    if (strbuf_read_file(&sb, path, 1 << 20, &err) < 0)
        fail_msg("%s", err.msg);
    d->all = sb.buf;
    d->n = 0;
    /* Sections start at lines beginning with '#', outside ``` blocks. */
    const char *start = d->all;
    bool fence = false;
    for (const char *p = d->all;; p = strchr(p, '\n') + 1) {
        bool end = !*p;
        if (strncmp(p, "```", 3) == 0)
            fence = !fence;
        if (end || (*p == '#' && !fence)) {
            if (p > start) {
                assert_true(d->n < ARRAY_SIZE(d->s));
                size_t len = (size_t)(p - start);
                const char *eol = strchr(start, '\n');
                char *text = strndup(start, len);
                char *heading = *start == '#' ? strndup(start, (size_t)(eol - start)) : strdup("");
                assert_non_null(text);
                assert_non_null(heading);
                d->s[d->n++] = (struct section){heading, text};
            }
            start = p;
        }
        if (end || !strchr(p, '\n'))
            break;
    }
}

static void doc_free(struct doc *d) {
    for (size_t i = 0; i < d->n; i++) {
        free((char *)d->s[i].heading);
        free((char *)d->s[i].text);
    }
    free(d->all);
}

/* Whether text names `hearth NAME: followed by a blank, a backtick or '['. */
static bool mentions(const char *text, const char *name) {
    char want[128];
    snprintf(want, sizeof(want), "`hearth %s", name);
    size_t len = strlen(want);
    for (const char *p = strstr(text, want); p; p = strstr(p + 1, want))
        if (p[len] == ' ' || p[len] == '`' || p[len] == '[')
            return true;
    return false;
}

/* Whether text has --long (not followed by more of a name). */
static bool has_long(const char *text, const char *name) {
    char want[64];
    snprintf(want, sizeof(want), "--%s", name);
    size_t len = strlen(want);
    for (const char *p = strstr(text, want); p; p = strstr(p + 1, want))
        if (!isalnum((unsigned char)p[len]) && p[len] != '-' && (p == text || p[-1] != '-'))
            return true;
    return false;
}

/* Whether text has -c as a flag of its own (not inside --name or a word). */
static bool has_short(const char *text, char c) {
    for (const char *p = strchr(text, '-'); p; p = strchr(p + 1, '-'))
        if (p[1] == c && !isalnum((unsigned char)p[2]) && p[2] != '-' &&
            (p == text || (p[-1] != '-' && !isalnum((unsigned char)p[-1]))))
            return true;
    return false;
}

/* A finding: printed, counted; a test fails once at its end with all of them shown. */
static int problems;
#define PROBLEM(...) (print_error(__VA_ARGS__), print_error("\n"), problems++)

static void test_schema_version(void **state) {
    (void)state;
    problems = 0;
    struct doc d;
    doc_load(&d);
    struct engine_versions v;
    engine_versions_get(&v);
    size_t found = 0;
    for (const char *p = strstr(d.all, "schema version "); p;
         p = strstr(p + 1, "schema version ")) {
        const char *num = p + strlen("schema version ");
        if (!isdigit((unsigned char)*num))
            continue;
        found++;
        long shown = strtol(num, NULL, 10);
        if (shown != v.schema)
            PROBLEM("docs/cli.md shows schema version %ld, the binary is at %d", shown, v.schema);
    }
    assert_true(found > 0);
    doc_free(&d);
    if (problems)
        fail_msg("%d problems in docs/cli.md (above)", problems);
}

static void test_commands_and_flags(void **state) {
    (void)state;
    problems = 0;
    struct doc d;
    doc_load(&d);
    for (size_t i = 0; i < cli_n_commands; i++) {
        const struct cli_command *c = &cli_commands[i];
        if (c->hidden)
            continue;
        /* Its sections: those whose heading names the command or an alias. */
        struct strbuf home = STRBUF_INIT;
        for (size_t k = 0; k < d.n; k++) {
            bool named = mentions(d.s[k].heading, c->name);
            for (int a = 0; a < CLI_ALIASES_MAX && c->aliases[a]; a++)
                named |= mentions(d.s[k].heading, c->aliases[a]);
            if (named)
                assert_int_equal(strbuf_adds(&home, d.s[k].text), 0);
        }
        if (!home.len) {
            PROBLEM("docs/cli.md: no heading names `hearth %s`", c->name);
            continue;
        }
        for (int a = 0; a < CLI_ALIASES_MAX && c->aliases[a]; a++)
            if (!mentions(d.all, c->aliases[a]))
                PROBLEM("docs/cli.md does not name the alias `hearth %s` (of %s)", c->aliases[a],
                        c->name);
        for (const struct cli_flag *f = c->flags; f && f->long_name; f++) {
            if (!has_long(home.buf, f->long_name))
                PROBLEM("docs/cli.md: --%s of `hearth %s` is not in its section", f->long_name,
                        c->name);
            if (f->short_name && !has_short(home.buf, f->short_name))
                PROBLEM("docs/cli.md: -%c (--%s) of `hearth %s` is not in its section",
                        f->short_name, f->long_name, c->name);
        }
        strbuf_release(&home);
    }
    for (size_t i = 0; i < cli_n_groups; i++) {
        if (!mentions(d.all, cli_groups[i].name))
            PROBLEM("docs/cli.md does not name the group `hearth %s`", cli_groups[i].name);
        if (cli_groups[i].alias && !mentions(d.all, cli_groups[i].alias))
            PROBLEM("docs/cli.md does not name `hearth %s`", cli_groups[i].alias);
    }
    for (const struct cli_flag *f = cli_global_flags; f->long_name; f++) {
        if (!has_long(d.all, f->long_name))
            PROBLEM("docs/cli.md: the global option --%s is not documented", f->long_name);
        if (f->short_name && !has_short(d.all, f->short_name))
            PROBLEM("docs/cli.md: the global option -%c is not documented", f->short_name);
    }
    doc_free(&d);
    if (problems)
        fail_msg("%d problems in docs/cli.md (above)", problems);
}

/* A heading names only commands and groups the binary has. */
static void test_no_stale_commands(void **state) {
    (void)state;
    problems = 0;
    struct doc d;
    doc_load(&d);
    for (size_t k = 0; k < d.n; k++) {
        const char *h = d.s[k].heading;
        for (const char *p = strstr(h, "`hearth "); p; p = strstr(p + 1, "`hearth ")) {
            char w1[32] = "", w2[32] = "";
            const char *q = p + strlen("`hearth ");
            size_t n1 = strspn(q, "abcdefghijklmnopqrstuvwxyz_");
            if (n1 == 0 || n1 >= sizeof(w1))
                continue; /* `hearth [--root DIR]...` */
            memcpy(w1, q, n1);
            if (q[n1] == ' ') {
                size_t n2 = strspn(q + n1 + 1, "abcdefghijklmnopqrstuvwxyz");
                if (n2 && n2 < sizeof(w2))
                    memcpy(w2, q + n1 + 1, n2);
            }
            char both[72];
            snprintf(both, sizeof(both), "%s %s", w1, w2);
            const struct cli_group *g = cli_group_find(w1);
            bool known =
                g ? !*w2 || cli_command_find(both, NULL) : cli_command_find(w1, NULL) != NULL;
            if (!known)
                PROBLEM("docs/cli.md: heading '%s' names `hearth %s%s%s`, which hearth does not "
                        "have",
                        h, w1, *w2 ? " " : "", w2);
        }
    }
    doc_free(&d);
    if (problems)
        fail_msg("%d problems in docs/cli.md (above)", problems);
}

const struct CMUnitTest cli_docs_tests[] = {
    cmocka_unit_test(test_schema_version),
    cmocka_unit_test(test_commands_and_flags),
    cmocka_unit_test(test_no_stale_commands),
};
const size_t cli_docs_tests_n = ARRAY_SIZE(cli_docs_tests);
