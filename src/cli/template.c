/*
 * -t/--template: a small subset of Go's text/template (what Ignite's `ps -t`
 * and `inspect -t` and Docker's --format are mostly used for) over the JSON
 * form of an object. The grammar is in cli_priv.h and docs/cli.md: literal
 * text with \t, \n and \\ escapes, {{.field.path}}, {{json .field.path}},
 * and Go's {{- -}} trim markers. A template is parsed once into a list of
 * nodes and run for each object.
 */
#include <errno.h>
#include <string.h>

#include "cli/cli_priv.h"

#define TEMPLATE_MAX 4096 /* bytes of a template */
#define PATH_MAX_KEYS 32  /* fields in one path */

enum node_kind { NODE_TEXT, NODE_VALUE, NODE_JSON };

struct node {
    enum node_kind kind;
    size_t pos;  /* 1-based byte offset of the action in the template */
    char *text;  /* NODE_TEXT: the text; else the path as written (".a.b") for messages */
    char **keys; /* NODE_VALUE, NODE_JSON: the path's fields */
    size_t n_keys;
};

struct cli_template {
    struct node *nodes;
    size_t n;
};

void cli_template_free(struct cli_template *t) {
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++) {
        free(t->nodes[i].text);
        for (size_t k = 0; k < t->nodes[i].n_keys; k++)
            free(t->nodes[i].keys[k]);
        free(t->nodes[i].keys);
    }
    free(t->nodes);
    free(t);
}

static int bad(struct error *err, size_t pos, const char *msg) {
    return error_set(err, -EINVAL, "template: position %zu: %s", pos, msg);
}

static struct node *node_add(struct cli_template *t, enum node_kind kind, size_t pos) {
    struct node *nodes = xrealloc(t->nodes, (t->n + 1) * sizeof(*nodes));
    if (!nodes)
        return NULL;
    t->nodes = nodes;
    struct node *n = &t->nodes[t->n++];
    *n = (struct node){.kind = kind, .pos = pos};
    return n;
}

static bool is_blank(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool is_ident(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* Literal text src[0..len): the escapes typed on a command line become characters. */
static int text_add(struct cli_template *t, const char *src, size_t len, size_t pos) {
    if (len == 0)
        return 0;
    struct node *n = node_add(t, NODE_TEXT, pos);
    if (!n || !(n->text = xmalloc(len + 1)))
        return -ENOMEM;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (src[i] == '\\' && i + 1 < len && strchr("tn\\", src[i + 1])) {
            i++;
            n->text[o++] = src[i] == 't' ? '\t' : src[i] == 'n' ? '\n' : '\\';
        } else {
            n->text[o++] = src[i];
        }
    }
    n->text[o] = '\0';
    return 0;
}

/* Drops the blanks at the end of the last text node ({{- ). */
static void trim_last_text(struct cli_template *t) {
    if (t->n == 0 || t->nodes[t->n - 1].kind != NODE_TEXT)
        return;
    char *s = t->nodes[t->n - 1].text;
    size_t len = strlen(s);
    while (len && is_blank(s[len - 1]))
        s[--len] = '\0';
}

/*
 * Parses a path at src[*i] (within an action ending at end): "." alone or
 * ".a.b.c". Fills n's keys.
 */
static int path_parse(const char *src, size_t *i, size_t end, struct node *n, struct error *err) {
    size_t start = *i;
    if (src[*i] != '.')
        return -1; /* not a path: the caller names what it is */
    (*i)++;
    if (*i < end && is_ident(src[*i])) {
        for (;;) {
            size_t from = *i;
            while (*i < end && is_ident(src[*i]))
                (*i)++;
            if (n->n_keys == PATH_MAX_KEYS)
                return bad(err, start + 1, "a path of more than 32 fields");
            char **keys = xrealloc(n->keys, (n->n_keys + 1) * sizeof(*keys));
            if (!keys)
                return -ENOMEM;
            n->keys = keys;
            if (!(n->keys[n->n_keys] = xmalloc(*i - from + 1)))
                return -ENOMEM;
            memcpy(n->keys[n->n_keys], src + from, *i - from);
            n->keys[n->n_keys++][*i - from] = '\0';
            if (*i < end && src[*i] == '.' && *i + 1 < end && is_ident(src[*i + 1])) {
                (*i)++;
                continue;
            }
            break;
        }
    }
    if (*i < end && !is_blank(src[*i])) {
        char msg[96];
        snprintf(msg, sizeof(msg),
                 "unexpected '%c' in the field path (fields are letters, "
                 "digits and _)",
                 src[*i]);
        return bad(err, *i + 1, msg);
    }
    if (!(n->text = xmalloc(*i - start + 1)))
        return -ENOMEM;
    memcpy(n->text, src + start, *i - start);
    n->text[*i - start] = '\0';
    return 0;
}

/* Parses the action between open (the first "{{") and close (its "}}"). */
static int action_parse(struct cli_template *t, const char *src, size_t open, size_t close,
                        struct error *err) {
    size_t i = open + 2, end = close;
    if (i + 1 < end && src[i] == '-' && is_blank(src[i + 1])) {
        trim_last_text(t);
        i += 2;
    }
    if (end >= i + 2 && src[end - 1] == '-' && is_blank(src[end - 2]))
        end -= 2;
    while (i < end && is_blank(src[i]))
        i++;
    while (end > i && is_blank(src[end - 1]))
        end--;
    if (i == end)
        return bad(err, open + 1, "an empty action");
    enum node_kind kind = NODE_VALUE;
    if (is_ident(src[i])) {
        size_t from = i;
        while (i < end && is_ident(src[i]))
            i++;
        char msg[128];
        if (i - from != 4 || strncmp(src + from, "json", 4) != 0) {
            snprintf(msg, sizeof(msg), "unknown function '%.*s' (only json is supported)",
                     (int)(i - from < 32 ? i - from : 32), src + from);
            return bad(err, from + 1, msg);
        }
        kind = NODE_JSON;
        while (i < end && is_blank(src[i]))
            i++;
        if (i == end || src[i] != '.')
            return bad(err, i + 1, "json needs a field path such as .status");
    }
    struct node *n = node_add(t, kind, open + 1);
    if (!n)
        return -ENOMEM;
    int r = path_parse(src, &i, end, n, err);
    if (r == -1) {
        char msg[128];
        snprintf(msg, sizeof(msg),
                 "unexpected '%c': an action is {{.field.path}} or {{json .field.path}}", src[i]);
        return bad(err, i + 1, msg);
    }
    if (r < 0)
        return r;
    while (i < end && is_blank(src[i]))
        i++;
    if (i < end)
        return bad(err, i + 1, "one field path per action (no pipelines or arguments)");
    return 0;
}

int cli_template_parse(const char *src, struct cli_template **ret, struct error *err) {
    size_t len = strlen(src);
    if (len > TEMPLATE_MAX)
        return error_set(err, -EINVAL, "template: longer than %d bytes", TEMPLATE_MAX);
    struct cli_template *t = xcalloc(1, sizeof(*t));
    if (!t)
        return error_oom(err);
    int r = 0;
    size_t i = 0;
    bool trim_next = false;
    while (r == 0 && i < len) {
        const char *open = strstr(src + i, "{{");
        size_t to = open ? (size_t)(open - src) : len;
        size_t from = i;
        if (trim_next)
            while (from < to && is_blank(src[from]))
                from++;
        r = text_add(t, src + from, to - from, from + 1);
        if (r < 0 || !open)
            break;
        const char *close = strstr(open + 2, "}}");
        if (!close) {
            r = bad(err, to + 1, "an action without its closing }}");
            break;
        }
        size_t c = (size_t)(close - src);
        r = action_parse(t, src, to, c, err);
        trim_next = c >= to + 4 && src[c - 1] == '-' && is_blank(src[c - 2]);
        i = c + 2;
    }
    if (r == -ENOMEM)
        r = error_oom(err);
    if (r < 0) {
        cli_template_free(t);
        return r;
    }
    *ret = t;
    return 0;
}

/* Appends v as JSON, compact; NULL (a missing field) as null. */
static int add_json(struct strbuf *out, const json_t *v) {
    if (!v)
        return strbuf_adds(out, "null");
    char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!s)
        return -ENOMEM;
    int r = strbuf_adds(out, s);
    free(s);
    return r;
}

int cli_template_exec(const struct cli_template *t, const json_t *doc, struct strbuf *out,
                      struct error *err) {
    for (size_t i = 0; i < t->n; i++) {
        const struct node *n = &t->nodes[i];
        int r;
        if (n->kind == NODE_TEXT) {
            if (strbuf_adds(out, n->text) < 0)
                return error_oom(err);
            continue;
        }
        /* Walk the path; a missing field (or a null on the way) gives no value, as Go's maps. */
        const json_t *v = doc;
        for (size_t k = 0; k < n->n_keys && v; k++) {
            if (json_is_null(v)) {
                v = NULL;
                break;
            }
            if (!json_is_object(v)) {
                char msg[256];
                snprintf(msg, sizeof(msg), "%s: '%.64s' is %s, which has no field '%.64s'", n->text,
                         k ? n->keys[k - 1] : ".",
                         json_is_array(v)     ? "a list"
                         : json_is_string(v)  ? "a string"
                         : json_is_boolean(v) ? "a boolean"
                                              : "a number",
                         n->keys[k]);
                return bad(err, n->pos, msg);
            }
            v = json_object_get(v, n->keys[k]);
        }
        if (n->kind == NODE_JSON)
            r = add_json(out, v);
        else if (!v)
            r = strbuf_adds(out, "<no value>");
        else if (json_is_string(v))
            r = strbuf_add(out, json_string_value(v), json_string_length(v));
        else if (json_is_null(v))
            r = strbuf_adds(out, "<nil>");
        else
            r = add_json(out, v);
        if (r < 0)
            return error_oom(err);
    }
    return 0;
}
