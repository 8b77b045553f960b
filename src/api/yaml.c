/*
 * YAML <-> jansson.
 *
 * api_yaml_reader reads a YAML stream with libyaml's event parser, pulling
 * events only until the next document (or, for a List, the next item) is
 * complete, and builds one jansson value for it; api_yaml_load collects
 * every document of a buffer. Scalars are typed as the YAML 1.2 core schema
 * types plain scalars (null, bool, int, float, otherwise string); quoted and
 * block scalars are strings. Mapping keys are scalars and unique. Aliases are
 * expanded by copying the anchored node, and the expansion is bounded so that
 * a "billion laughs" document fails fast instead of eating the machine. Every
 * error names the input, the line and the column.
 *
 * api_yaml_dump writes one value through libyaml's emitter in block style, the
 * way kubectl prints objects. A string is written plain only when a reader,
 * YAML 1.2 or YAML 1.1 (Ignite's go-yaml, where `yes` and `on` are booleans),
 * would read it back as the same string; otherwise it is quoted.
 */
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <yaml.h>

#include "api/api_priv.h"

/* Alias expansion budget for one stream: nodes and string bytes copied. */
#define YAML_ALIAS_NODES_MAX 1000000u
#define YAML_ALIAS_BYTES_MAX (64u << 20)
/* api_yaml_dump refuses deeper values (jansson's own parser stops at 2048). */
#define YAML_DUMP_DEPTH_MAX 2048

#define TAG_PREFIX "tag:yaml.org,2002:"

/* ---- scalars ----------------------------------------------------------- */

enum scalar_type { SCALAR_STR, SCALAR_NULL, SCALAR_BOOL, SCALAR_INT, SCALAR_FLOAT };

static bool word_in(const char *s, const char *const *words) {
    for (size_t i = 0; words[i]; i++)
        if (strcmp(s, words[i]) == 0)
            return true;
    return false;
}

static const char *const null_words[] = {"", "~", "null", "Null", "NULL", NULL};
static const char *const true_words[] = {"true", "True", "TRUE", NULL};
static const char *const false_words[] = {"false", "False", "FALSE", NULL};
static const char *const inf_words[] = {".inf", ".Inf", ".INF", NULL};
static const char *const nan_words[] = {".nan", ".NaN", ".NAN", NULL};

static bool is_dec(char c) {
    return c >= '0' && c <= '9';
}
static bool is_oct(char c) {
    return c >= '0' && c <= '7';
}
static bool is_hex(char c) {
    return is_dec(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Number of leading characters of s accepted by ok. */
static size_t span(const char *s, bool (*ok)(char)) {
    size_t n = 0;
    while (s[n] && ok(s[n]))
        n++;
    return n;
}

/* [-+]?[0-9]+ | 0o[0-7]+ | 0x[0-9a-fA-F]+ */
static bool scalar_is_int(const char *s) {
    if (s[0] == '0' && s[1] == 'o')
        return s[2] && span(s + 2, is_oct) == strlen(s + 2);
    if (s[0] == '0' && s[1] == 'x')
        return s[2] && span(s + 2, is_hex) == strlen(s + 2);
    if (*s == '-' || *s == '+')
        s++;
    return *s && span(s, is_dec) == strlen(s);
}

/* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?, .inf with a sign, .nan */
static bool scalar_is_float(const char *s) {
    if (word_in(s, nan_words))
        return true;
    if (*s == '-' || *s == '+')
        s++;
    if (word_in(s, inf_words))
        return true;
    size_t n = span(s, is_dec);
    if (n == 0) {
        if (s[0] != '.' || !is_dec(s[1]))
            return false;
        s += 1 + span(s + 1, is_dec);
    } else {
        s += n;
        if (*s == '.')
            s += 1 + span(s + 1, is_dec);
    }
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '-' || *s == '+')
            s++;
        n = span(s, is_dec);
        if (n == 0)
            return false;
        s += n;
    }
    return *s == '\0';
}

/* The type the YAML 1.2 core schema gives the plain scalar s. */
static enum scalar_type scalar_classify(const char *s) {
    if (word_in(s, null_words))
        return SCALAR_NULL;
    if (word_in(s, true_words) || word_in(s, false_words))
        return SCALAR_BOOL;
    if (scalar_is_int(s))
        return SCALAR_INT;
    if (scalar_is_float(s))
        return SCALAR_FLOAT;
    return SCALAR_STR;
}

/*
 * True if a YAML 1.1 reader could take plain s for something else than a
 * string: its booleans (yes, no, on, off, y, n), the merge key, and anything
 * that starts like a number and holds only number characters (1_000, 0b101,
 * 0755, 12:30:00, 1.5e3) or a date. Deliberately broad: quoting a string that
 * did not need it costs nothing.
 */
static bool scalar_is_yaml11_special(const char *s) {
    static const char *const words[] = {"y",   "Y",   "yes", "Yes", "YES", "n",  "N",
                                        "no",  "No",  "NO",  "on",  "On",  "ON", "off",
                                        "Off", "OFF", "<<",  "=",   NULL};
    if (word_in(s, words))
        return true;
    const char *p = s;
    if (*p == '-' || *p == '+')
        p++;
    if (!is_dec(*p) && *p != '.')
        return false;
    if (span(s, is_dec) == 4 && s[4] == '-')
        return true; /* 2001-12-14... */
    size_t dots = 0;
    for (; *p; p++) {
        if (*p == '.')
            dots++;
        else if (!strchr("0123456789abcdefABCDEFxXoO_:+-", *p))
            return false;
    }
    return dots <= 1;
}

/* ---- load -------------------------------------------------------------- */

/* One open sequence or mapping. */
struct load_frame {
    json_t *node;    /* the array or object being filled (owned) */
    char *anchor;    /* its anchor, registered once the node is complete */
    char *key;       /* mapping: the key waiting for its value, or NULL */
    size_t nodes_at; /* ctx->nodes when the node began */
    size_t bytes_at; /* ctx->bytes when the node began */
    size_t height;   /* collections nested in it, itself included */
    bool stream;     /* a List's items, handed out one at a time instead of kept */
};

struct load_ctx {
    const char *name;
    struct error *err;
    struct load_frame stack[API_DEPTH_MAX];
    size_t depth;
    json_t *root;                    /* the current document's root, once parsed */
    json_t *anchors;                 /* anchor -> [node, nodes, bytes, height], current document */
    size_t nodes;                    /* nodes in the current document, copies included */
    size_t bytes;                    /* string bytes in the current document, copies included */
    size_t alias_nodes, alias_bytes; /* what alias expansion copied, whole stream */
    size_t n_docs;                   /* documents begun */
    bool stream_lists;               /* hand a List's items out one at a time */
    bool listed;                     /* the current document's items were handed out */
    bool ready;                      /* unit is complete */
    struct api_unit unit;            /* what the reader hands out next */
};

static int load_fail(struct load_ctx *ctx, int code, const yaml_mark_t *mark, const char *fmt, ...)
    PRINTF(4, 5);

static int load_fail(struct load_ctx *ctx, int code, const yaml_mark_t *mark, const char *fmt,
                     ...) {
    char msg[ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (!mark)
        return error_set(ctx->err, code, "%s: %s", ctx->name, msg);
    return error_set(ctx->err, code, "%s:%zu:%zu: %s", ctx->name, mark->line + 1, mark->column + 1,
                     msg);
}

static int load_oom(struct load_ctx *ctx) {
    return error_set(ctx->err, -ENOMEM, "%s: out of memory", ctx->name);
}

static int load_parser_error(struct load_ctx *ctx, const yaml_parser_t *parser) {
    const char *problem = parser->problem ? parser->problem : "invalid YAML";
    switch (parser->error) {
    case YAML_MEMORY_ERROR:
        return load_oom(ctx);
    case YAML_READER_ERROR:
        return load_fail(ctx, -EINVAL, NULL, "%s at byte %zu", problem, parser->problem_offset);
    default:
        if (parser->context)
            return load_fail(ctx, -EINVAL, &parser->problem_mark, "%s (%s at line %zu)", problem,
                             parser->context, parser->context_mark.line + 1);
        return load_fail(ctx, -EINVAL, &parser->problem_mark, "%s", problem);
    }
}

/*
 * The value of a scalar: an explicit core tag (!!str, !!int, ...) says the
 * type, which the text must match; "!" and quoted or block scalars are
 * strings; an untagged plain scalar gets the type its text resolves to.
 * Returns 0 and a new value, or fails naming the scalar's position.
 */
static int load_scalar_value(struct load_ctx *ctx, const yaml_event_t *ev, const char *tag,
                             json_t **ret) {
    const char *s = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    bool plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    enum scalar_type want;
    json_t *v = NULL;

    if (!tag)
        want = plain ? scalar_classify(s) : SCALAR_STR;
    else if (strcmp(tag, "!") == 0 || strcmp(tag, TAG_PREFIX "str") == 0)
        want = SCALAR_STR;
    else if (strcmp(tag, TAG_PREFIX "null") == 0)
        want = SCALAR_NULL;
    else if (strcmp(tag, TAG_PREFIX "bool") == 0)
        want = SCALAR_BOOL;
    else if (strcmp(tag, TAG_PREFIX "int") == 0)
        want = SCALAR_INT;
    else if (strcmp(tag, TAG_PREFIX "float") == 0)
        want = SCALAR_FLOAT;
    else
        return load_fail(ctx, -EINVAL, &ev->start_mark, "unsupported tag \"%s\"", tag);

    /* !!float also takes a decimal integer ("1" is 1.0) */
    enum scalar_type have = scalar_classify(s);
    if (want == SCALAR_FLOAT && have == SCALAR_INT &&
        !(s[0] == '0' && (s[1] == 'o' || s[1] == 'x')))
        have = SCALAR_FLOAT;
    if (want != SCALAR_STR && (memchr(s, '\0', len) || have != want))
        return load_fail(ctx, -EINVAL, &ev->start_mark, "\"%.100s\" is not a valid !!%s", s,
                         tag ? tag + strlen(TAG_PREFIX) : "scalar");

    switch (want) {
    case SCALAR_STR:
        v = json_stringn(s, len);
        break;
    case SCALAR_NULL:
        v = json_null();
        break;
    case SCALAR_BOOL:
        v = json_boolean(word_in(s, true_words));
        break;
    case SCALAR_INT: {
        const char *digits = s;
        int base = 10;
        if (s[0] == '0' && (s[1] == 'o' || s[1] == 'x')) {
            base = s[1] == 'o' ? 8 : 16;
            digits = s + 2;
        }
        errno = 0;
        long long n = strtoll(digits, NULL, base);
        if (errno == ERANGE)
            return load_fail(ctx, -EINVAL, &ev->start_mark,
                             "integer \"%.100s\" is out of range (64-bit signed); quote it to "
                             "keep it as a string",
                             s);
        v = json_integer((json_int_t)n);
        break;
    }
    case SCALAR_FLOAT: {
        const char *p = s + (*s == '-' || *s == '+');
        if (*p == '.' && !is_dec(p[1]))
            return load_fail(ctx, -EINVAL, &ev->start_mark,
                             "\"%s\" cannot be represented (JSON has no infinity or NaN)", s);
        double d = strtod(s, NULL); /* in the C locale, see api_yaml_load */
        if (!isfinite(d))
            return load_fail(ctx, -EINVAL, &ev->start_mark, "number \"%.100s\" is out of range", s);
        v = json_real(d);
        break;
    }
    }
    if (!v)
        return load_oom(ctx);
    *ret = v;
    return 0;
}

/* Records v (a node just completed) under anchor for later aliases. */
static int load_anchor_add(struct load_ctx *ctx, const char *anchor, json_t *v, size_t nodes,
                           size_t bytes, size_t height) {
    if (!anchor)
        return 0;
    json_t *entry =
        json_pack("[OIII]", v, (json_int_t)nodes, (json_int_t)bytes, (json_int_t)height);
    if (!entry || json_object_set_new(ctx->anchors, anchor, entry) < 0)
        return load_oom(ctx);
    return 0;
}

/* Hands the complete node v (stolen) to its parent, or makes it the root. */
static int load_attach(struct load_ctx *ctx, json_t *v, size_t height) {
    if (ctx->depth == 0) {
        assert(!ctx->root);
        ctx->root = v;
        return 0;
    }
    struct load_frame *top = &ctx->stack[ctx->depth - 1];
    if (top->height < height + 1)
        top->height = height + 1;
    if (top->stream) {
        ctx->unit = (struct api_unit){API_UNIT_ITEM, v};
        ctx->ready = true;
        return 0;
    }
    if (json_is_array(top->node)) {
        if (json_array_append_new(top->node, v) < 0)
            return load_oom(ctx);
        return 0;
    }
    _cleanup_free_ char *key = steal_ptr(&top->key);
    assert(key);
    if (json_object_set_new(top->node, key, v) < 0)
        return load_oom(ctx);
    return 0;
}

/* True when the next node of the open mapping is a key. */
static bool load_wants_key(const struct load_ctx *ctx) {
    if (ctx->depth == 0)
        return false;
    const struct load_frame *top = &ctx->stack[ctx->depth - 1];
    return json_is_object(top->node) && !top->key;
}

static int load_key(struct load_ctx *ctx, const yaml_event_t *ev) {
    struct load_frame *top = &ctx->stack[ctx->depth - 1];
    const char *s = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;

    if (memchr(s, '\0', len))
        return load_fail(ctx, -EINVAL, &ev->start_mark, "mapping key contains a NUL character");
    if (json_object_get(top->node, s))
        return load_fail(ctx, -EINVAL, &ev->start_mark, "duplicate key \"%.200s\"", s);
    top->key = xstrndup(s, len);
    if (!top->key)
        return load_oom(ctx);
    ctx->bytes += len;
    if (ev->data.scalar.anchor) {
        _cleanup_(json_decrefp) json_t *k = json_stringn(s, len);
        if (!k)
            return load_oom(ctx);
        return load_anchor_add(ctx, (const char *)ev->data.scalar.anchor, k, 1, len, 0);
    }
    return 0;
}

static int load_scalar(struct load_ctx *ctx, const yaml_event_t *ev) {
    if (load_wants_key(ctx))
        return load_key(ctx, ev);

    json_t *v = NULL;
    int r = load_scalar_value(ctx, ev, (const char *)ev->data.scalar.tag, &v);
    if (r < 0)
        return r;
    size_t bytes = json_is_string(v) ? ev->data.scalar.length : 0;
    ctx->nodes++;
    ctx->bytes += bytes;
    r = load_anchor_add(ctx, (const char *)ev->data.scalar.anchor, v, 1, bytes, 0);
    if (r < 0) {
        json_decref(v);
        return r;
    }
    return load_attach(ctx, v, 0);
}

static int load_alias(struct load_ctx *ctx, const yaml_event_t *ev) {
    const char *anchor = (const char *)ev->data.alias.anchor;
    json_t *entry = json_object_get(ctx->anchors, anchor);
    if (!entry)
        return load_fail(ctx, -EINVAL, &ev->start_mark, "unknown alias \"*%s\"", anchor);
    if (load_wants_key(ctx))
        return load_fail(ctx, -EINVAL, &ev->start_mark,
                         "an alias (\"*%s\") cannot be a mapping key", anchor);

    size_t nodes = (size_t)json_integer_value(json_array_get(entry, 1));
    size_t bytes = (size_t)json_integer_value(json_array_get(entry, 2));
    size_t height = (size_t)json_integer_value(json_array_get(entry, 3));
    if (ctx->depth + height > API_DEPTH_MAX)
        return load_fail(ctx, -EINVAL, &ev->start_mark, "alias \"*%s\" nests deeper than %d levels",
                         anchor, API_DEPTH_MAX);
    if (nodes > YAML_ALIAS_NODES_MAX - ctx->alias_nodes ||
        bytes > YAML_ALIAS_BYTES_MAX - ctx->alias_bytes)
        return load_fail(ctx, -EINVAL, &ev->start_mark,
                         "aliases expand to more than %u nodes or %u MiB; refusing (is this a "
                         "\"billion laughs\" document?)",
                         YAML_ALIAS_NODES_MAX, YAML_ALIAS_BYTES_MAX >> 20);
    ctx->alias_nodes += nodes;
    ctx->alias_bytes += bytes;

    json_t *copy = json_deep_copy(json_array_get(entry, 0));
    if (!copy)
        return load_oom(ctx);
    ctx->nodes += nodes;
    ctx->bytes += bytes;
    return load_attach(ctx, copy, height);
}

/* True when the sequence starting now is the items of a List whose kind came first. */
static bool load_starts_items(const struct load_ctx *ctx) {
    if (!ctx->stream_lists || ctx->depth != 1 || !json_is_object(ctx->stack[0].node) ||
        !ctx->stack[0].key || strcmp(ctx->stack[0].key, "items") != 0)
        return false;
    const json_t *kind = json_object_get(ctx->stack[0].node, "kind");
    return json_is_string(kind) && strcmp(json_string_value(kind), "List") == 0;
}

static int load_collection_start(struct load_ctx *ctx, const yaml_event_t *ev) {
    bool map = ev->type == YAML_MAPPING_START_EVENT;
    const char *tag =
        (const char *)(map ? ev->data.mapping_start.tag : ev->data.sequence_start.tag);
    const char *anchor =
        (const char *)(map ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor);

    if (load_wants_key(ctx))
        return load_fail(ctx, -EINVAL, &ev->start_mark, "mapping keys must be scalars");
    if (tag && strcmp(tag, "!") != 0 && strcmp(tag, map ? TAG_PREFIX "map" : TAG_PREFIX "seq") != 0)
        return load_fail(ctx, -EINVAL, &ev->start_mark, "unsupported tag \"%s\"", tag);
    if (ctx->depth >= API_DEPTH_MAX)
        return load_fail(ctx, -EINVAL, &ev->start_mark, "nesting deeper than %d levels",
                         API_DEPTH_MAX);

    struct load_frame f = {.nodes_at = ctx->nodes, .bytes_at = ctx->bytes, .height = 1};
    f.node = map ? json_object() : json_array();
    if (!f.node)
        return load_oom(ctx);
    if (anchor) {
        f.anchor = xstrdup(anchor);
        if (!f.anchor) {
            json_decref(f.node);
            return load_oom(ctx);
        }
    }
    ctx->nodes++;
    if (!map && !anchor && load_starts_items(ctx)) {
        /* The items of a List: hand each out when it is complete. */
        f.stream = true;
        ctx->listed = true;
        ctx->unit = (struct api_unit){API_UNIT_LIST_BEGIN, json_incref(ctx->stack[0].node)};
        ctx->ready = true;
    }
    ctx->stack[ctx->depth++] = f;
    return 0;
}

static int load_collection_end(struct load_ctx *ctx) {
    assert(ctx->depth > 0);
    struct load_frame f = ctx->stack[--ctx->depth];
    _cleanup_free_ char *anchor = f.anchor;
    assert(!f.key);
    int r = load_anchor_add(ctx, anchor, f.node, ctx->nodes - f.nodes_at, ctx->bytes - f.bytes_at,
                            f.height);
    if (r < 0) {
        json_decref(f.node);
        return r;
    }
    return load_attach(ctx, f.node, f.height);
}

static int load_event(struct load_ctx *ctx, const yaml_event_t *ev) {
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (ctx->n_docs >= API_DOCS_MAX)
            return load_fail(ctx, -EINVAL, &ev->start_mark, "more than %d documents", API_DOCS_MAX);
        ctx->n_docs++;
        ctx->nodes = ctx->bytes = 0;
        ctx->listed = false;
        return 0;
    case YAML_DOCUMENT_END_EVENT: {
        json_t *doc = ctx->root ? steal_ptr(&ctx->root) : json_null();
        json_object_clear(ctx->anchors); /* anchors are scoped to their document */
        ctx->unit = (struct api_unit){ctx->listed ? API_UNIT_LIST_END : API_UNIT_DOC, doc};
        ctx->ready = true;
        return 0;
    }
    case YAML_STREAM_END_EVENT:
        ctx->unit = (struct api_unit){API_UNIT_END, NULL};
        ctx->ready = true;
        return 0;
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        return load_collection_start(ctx, ev);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        return load_collection_end(ctx);
    case YAML_SCALAR_EVENT:
        return load_scalar(ctx, ev);
    case YAML_ALIAS_EVENT:
        return load_alias(ctx, ev);
    default:
        return 0;
    }
}

static void load_ctx_release(struct load_ctx *ctx) {
    while (ctx->depth > 0) {
        struct load_frame *f = &ctx->stack[--ctx->depth];
        json_decref(f->node);
        free(f->anchor);
        free(f->key);
    }
    json_decref(ctx->root);
    json_decref(ctx->anchors);
    json_decref(ctx->unit.value);
}

/* Switches the calling thread to the C locale for numbers; restore with numeric_leave. */
static int numeric_enter(locale_t *ret_c, locale_t *ret_old) {
    locale_t c = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    if (!c)
        return -ENOMEM;
    *ret_old = uselocale(c);
    *ret_c = c;
    return 0;
}

static void numeric_leave(locale_t c, locale_t old) {
    uselocale(old);
    freelocale(c);
}

struct api_yaml_reader {
    yaml_parser_t parser;
    bool parser_ok;
    struct load_ctx ctx;
    locale_t c_locale; /* numbers are read in the C locale */
    struct api_input *in;
    struct error read_err; /* why the input could not be read */
    bool read_failed;
    bool done;
};

/* libyaml's read handler: the input's next bytes. */
static int yaml_read(void *data, unsigned char *buffer, size_t size, size_t *size_read) {
    struct api_yaml_reader *r = data;
    ssize_t n = api_input_read(r->in, buffer, size, &r->read_err);
    if (n < 0) {
        r->read_failed = true;
        return 0;
    }
    *size_read = (size_t)n;
    return 1;
}

int api_yaml_reader_new(struct api_input *in, bool stream_lists, struct api_yaml_reader **ret,
                        struct error *err) {
    struct api_yaml_reader *r = xcalloc(1, sizeof(*r));
    if (!r)
        return error_set(err, -ENOMEM, "%s: out of memory", in->name);
    r->in = in;
    r->ctx.name = in->name;
    r->ctx.stream_lists = stream_lists;
    r->ctx.anchors = json_object();
    r->c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    r->parser_ok = r->ctx.anchors && r->c_locale && yaml_parser_initialize(&r->parser);
    if (!r->parser_ok) {
        api_yaml_reader_free(r);
        return error_set(err, -ENOMEM, "%s: out of memory", in->name);
    }
    yaml_parser_set_input(&r->parser, yaml_read, r);
    *ret = r;
    return 0;
}

void api_yaml_reader_free(struct api_yaml_reader *r) {
    if (!r)
        return;
    load_ctx_release(&r->ctx);
    if (r->parser_ok)
        yaml_parser_delete(&r->parser);
    if (r->c_locale)
        freelocale(r->c_locale);
    free(r);
}

int api_yaml_reader_next(struct api_yaml_reader *r, struct api_unit *ret, struct error *err) {
    struct load_ctx *ctx = &r->ctx;
    if (r->done) {
        *ret = (struct api_unit){API_UNIT_END, NULL};
        return 0;
    }
    ctx->err = err;
    locale_t old = uselocale(r->c_locale);
    int rc = 0;
    while (!ctx->ready) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&r->parser, &ev)) {
            if (r->read_failed) {
                *err = r->read_err;
                rc = err->code;
            } else {
                rc = load_parser_error(ctx, &r->parser);
            }
            break;
        }
        rc = load_event(ctx, &ev);
        yaml_event_delete(&ev);
        if (rc < 0)
            break;
    }
    uselocale(old);
    if (rc < 0) {
        r->done = true;
        return rc;
    }
    *ret = ctx->unit;
    ctx->unit = (struct api_unit){API_UNIT_END, NULL};
    ctx->ready = false;
    r->done = ret->type == API_UNIT_END;
    return 0;
}

int api_yaml_load(const char *data, size_t len, const char *name, json_t **ret_docs,
                  struct error *err) {
    struct api_input in;
    api_input_init_buffer(&in, data, len, name);
    if (len > API_INPUT_MAX)
        return error_set(err, -EFBIG, "%s: input is larger than %u MiB", in.name,
                         API_INPUT_MAX >> 20);
    struct api_yaml_reader *r = NULL;
    int rc = api_yaml_reader_new(&in, false, &r, err);
    if (rc < 0)
        return rc;
    json_t *docs = json_array();
    if (!docs)
        rc = error_set(err, -ENOMEM, "%s: out of memory", in.name);
    for (;;) {
        struct api_unit u = {API_UNIT_END, NULL};
        if (rc < 0 || (rc = api_yaml_reader_next(r, &u, err)) < 0 || u.type == API_UNIT_END)
            break;
        if (json_array_append_new(docs, u.value) < 0) {
            rc = error_set(err, -ENOMEM, "%s: out of memory", in.name);
            break;
        }
    }
    api_yaml_reader_free(r);
    if (rc < 0) {
        json_decref(docs);
        return rc;
    }
    *ret_docs = docs;
    return 0;
}

/* ---- dump -------------------------------------------------------------- */

static int dump_write(void *data, unsigned char *buffer, size_t size) {
    return strbuf_add(data, buffer, size) == 0;
}

/* Emits ev (which the emitter takes over, also on failure). */
static int dump_emit(yaml_emitter_t *em, yaml_event_t *ev) {
    if (yaml_emitter_emit(em, ev))
        return 0;
    /* The writer only fails when the strbuf cannot grow. */
    return em->error == YAML_MEMORY_ERROR || em->error == YAML_WRITER_ERROR ? -ENOMEM : -EINVAL;
}

static int dump_scalar(yaml_emitter_t *em, const char *s, size_t len, bool plain_ok) {
    yaml_event_t ev;
    yaml_scalar_style_t style = YAML_ANY_SCALAR_STYLE;
    if (len > INT_MAX)
        return -EINVAL;
    /* Multi-line text reads best as a literal block; libyaml falls back to a
     * quoted style where a block cannot hold the string exactly. */
    if (plain_ok && memchr(s, '\n', len))
        style = YAML_LITERAL_SCALAR_STYLE;
    /* plain_implicit = 0 with no tag makes libyaml quote the scalar. */
    if (!yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)len, plain_ok, 1,
                                      style))
        return -ENOMEM;
    return dump_emit(em, &ev);
}

static int dump_string(yaml_emitter_t *em, const char *s, size_t len) {
    bool plain_ok = len > 0 && !memchr(s, '\0', len) && scalar_classify(s) == SCALAR_STR &&
                    !scalar_is_yaml11_special(s);
    return dump_scalar(em, s, len, plain_ok);
}

/* The shortest "%g" form that reads back as d, always with a '.' or an exponent. */
static void dump_format_real(double d, char *buf, size_t size) {
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, size, "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    if (!strpbrk(buf, ".eE")) {
        size_t n = strlen(buf);
        snprintf(buf + n, size - n, ".0");
    }
}

static int dump_node(yaml_emitter_t *em, const json_t *v, int depth) {
    yaml_event_t ev;
    char buf[64];
    int r;

    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *key;
        json_t *child;
        bool empty = json_object_size(v) == 0;
        if (depth >= YAML_DUMP_DEPTH_MAX)
            return -EINVAL;
        if (!yaml_mapping_start_event_initialize(
                &ev, NULL, NULL, 1, empty ? YAML_FLOW_MAPPING_STYLE : YAML_BLOCK_MAPPING_STYLE))
            return -ENOMEM;
        r = dump_emit(em, &ev);
        if (r < 0)
            return r;
        /* json_object_foreach takes a non-const object; it does not modify it. */
        json_object_foreach((json_t *)v, key, child) {
            r = dump_string(em, key, strlen(key));
            if (r < 0)
                return r;
            r = dump_node(em, child, depth + 1);
            if (r < 0)
                return r;
        }
        if (!yaml_mapping_end_event_initialize(&ev))
            return -ENOMEM;
        return dump_emit(em, &ev);
    }
    case JSON_ARRAY: {
        bool empty = json_array_size(v) == 0;
        if (depth >= YAML_DUMP_DEPTH_MAX)
            return -EINVAL;
        if (!yaml_sequence_start_event_initialize(
                &ev, NULL, NULL, 1, empty ? YAML_FLOW_SEQUENCE_STYLE : YAML_BLOCK_SEQUENCE_STYLE))
            return -ENOMEM;
        r = dump_emit(em, &ev);
        if (r < 0)
            return r;
        for (size_t i = 0; i < json_array_size(v); i++) {
            r = dump_node(em, json_array_get(v, i), depth + 1);
            if (r < 0)
                return r;
        }
        if (!yaml_sequence_end_event_initialize(&ev))
            return -ENOMEM;
        return dump_emit(em, &ev);
    }
    case JSON_STRING:
        return dump_string(em, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return dump_scalar(em, buf, strlen(buf), true);
    case JSON_REAL:
        dump_format_real(json_real_value(v), buf, sizeof(buf));
        return dump_scalar(em, buf, strlen(buf), true);
    case JSON_TRUE:
        return dump_scalar(em, "true", 4, true);
    case JSON_FALSE:
        return dump_scalar(em, "false", 5, true);
    case JSON_NULL:
        return dump_scalar(em, "null", 4, true);
    }
    return -EINVAL;
}

static int dump_document(yaml_emitter_t *em, const json_t *doc) {
    yaml_event_t ev;
    int r;

    if (!yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING))
        return -ENOMEM;
    r = dump_emit(em, &ev);
    if (r < 0)
        return r;
    if (!yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1))
        return -ENOMEM;
    r = dump_emit(em, &ev);
    if (r < 0)
        return r;
    r = dump_node(em, doc, 0);
    if (r < 0)
        return r;
    if (!yaml_document_end_event_initialize(&ev, 1))
        return -ENOMEM;
    r = dump_emit(em, &ev);
    if (r < 0)
        return r;
    if (!yaml_stream_end_event_initialize(&ev))
        return -ENOMEM;
    r = dump_emit(em, &ev);
    if (r < 0)
        return r;
    return yaml_emitter_flush(em) ? 0 : -ENOMEM;
}

int api_yaml_dump(const json_t *doc, struct strbuf *out) {
    size_t start = out->len;
    yaml_emitter_t em;
    locale_t c_locale, old_locale;
    int r;

    if (!doc)
        return -EINVAL;
    if (numeric_enter(&c_locale, &old_locale) < 0)
        return -ENOMEM;
    if (!yaml_emitter_initialize(&em)) {
        numeric_leave(c_locale, old_locale);
        return -ENOMEM;
    }
    yaml_emitter_set_output(&em, dump_write, out);
    yaml_emitter_set_unicode(&em, 1);
    yaml_emitter_set_indent(&em, 2);
    yaml_emitter_set_width(&em, -1); /* never fold long lines */
    yaml_emitter_set_break(&em, YAML_LN_BREAK);

    r = dump_document(&em, doc);
    yaml_emitter_delete(&em);
    numeric_leave(c_locale, old_locale);

    if (r == 0) {
        /* libyaml ends an open-ended document (a plain scalar at the root) with
         * "..."; documents are joined by "---" lines, so drop it. */
        static const char end_marker[] = "...\n";
        size_t m = sizeof(end_marker) - 1;
        size_t n = out->len - start;
        if (n >= m && memcmp(out->buf + out->len - m, end_marker, m) == 0 &&
            (n == m || out->buf[out->len - m - 1] == '\n'))
            out->len -= m;
    } else {
        out->len = start; /* leave out as it was */
    }
    if (out->buf)
        out->buf[out->len] = '\0';
    return r;
}
