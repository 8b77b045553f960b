/*
 * hearth apply -f FILE...: creates and updates objects from the documents of
 * one or more files, all of them in one transaction.
 *
 * The documents are read and applied one at a time (api_doc_reader into an
 * engine_apply_batch), so memory does not grow with their number. Input that
 * is not a regular file (stdin, a pipe) is first copied into an unnamed file
 * under the root, so that the write transaction never waits on whoever
 * writes the input. The "kind/name action" lines are printed after the
 * commit, so nothing is claimed for a batch that fails; past OUT_KEEP bytes
 * they wait in an unnamed file under the root too.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli_priv.h"

#define OUT_KEEP (64 * 1024) /* bytes of result lines kept in memory */
#define COPY_BLOCK (64 * 1024)

/* One -f argument, opened. */
struct input {
    const char *name; /* as messages name it: the path, or "<stdin>" */
    int fd;           /* a regular file (a copy for stdin and pipes); -1 when not open */
};

static int write_all(int fd, const char *buf, size_t len) {
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Copies fd to its end into an unnamed file under the root; *ret_fd is the copy, rewound. */
static int input_copy(struct cli_ctx *ctx, int fd, const char *name, int *ret_fd) {
    int tmp = engine_tmpfile(ctx->eng, &ctx->err);
    if (tmp < 0)
        return tmp;
    _cleanup_free_ char *buf = xmalloc(COPY_BLOCK);
    size_t total = 0;
    int r = buf ? 0 : error_oom(&ctx->err);
    while (r == 0) {
        ssize_t n = read(fd, buf, COPY_BLOCK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            r = error_set(&ctx->err, -errno, "cannot read '%s': %s", name, strerror(errno));
        if (n <= 0)
            break;
        total += (size_t)n;
        if (total > API_INPUT_MAX)
            r = error_set(&ctx->err, -EFBIG, "%s: larger than %u MiB", name, API_INPUT_MAX >> 20);
        else if ((r = write_all(tmp, buf, (size_t)n)) < 0)
            r = error_set(&ctx->err, r, "cannot copy '%s' under the root: %s", name, strerror(-r));
    }
    if (r == 0 && lseek(tmp, 0, SEEK_SET) < 0)
        r = error_set(&ctx->err, -errno, "cannot read back the copy of '%s': %s", name,
                      strerror(errno));
    if (r < 0) {
        close(tmp);
        return r;
    }
    *ret_fd = tmp;
    return 0;
}

static int input_open(struct cli_ctx *ctx, const char *path, struct input *in) {
    bool is_stdin = strcmp(path, "-") == 0;
    in->name = is_stdin ? "<stdin>" : path;
    int fd = is_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return error_set(&ctx->err, -errno, "cannot open '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
        in->fd = is_stdin ? dup(fd) : fd;
        if (in->fd < 0)
            return error_set(&ctx->err, -errno, "cannot read '%s': %s", in->name, strerror(errno));
        return 0;
    }
    int r = input_copy(ctx, fd, in->name, &in->fd);
    if (!is_stdin)
        close(fd);
    return r;
}

/* What is printed once the batch committed: the result lines, and one
 * notice for what was skipped as another root's runtime state. */
struct out_lines {
    struct strbuf buf;
    int fd;           /* past OUT_KEEP bytes: the lines so far, under the root; -1 before */
    unsigned skipped; /* engine_apply_result.skipped of all documents, or'ed */
    size_t n_skipped; /* documents that had something skipped */
};

static int out_add(struct cli_ctx *ctx, struct out_lines *o,
                   const struct engine_apply_result *res) {
    int r;
    if (res->kind == API_KIND_POOL)
        r = strbuf_addf(&o->buf, "pool %s\n", engine_apply_action_name(res->action));
    else
        r = strbuf_addf(&o->buf, "%s/%s %s\n",
                        res->kind == API_KIND_VM      ? "vm"
                        : res->kind == API_KIND_IMAGE ? "image"
                                                      : "kernel",
                        res->name, engine_apply_action_name(res->action));
    if (r < 0)
        return error_oom(&ctx->err);
    if (o->buf.len < OUT_KEEP)
        return 0;
    if (o->fd < 0 && (o->fd = engine_tmpfile(ctx->eng, &ctx->err)) < 0)
        return o->fd;
    if ((r = write_all(o->fd, o->buf.buf, o->buf.len)) < 0)
        return error_set(&ctx->err, r, "cannot keep the output under the root: %s", strerror(-r));
    strbuf_reset(&o->buf);
    return 0;
}

static int out_print(struct cli_ctx *ctx, struct out_lines *o) {
    if (o->fd >= 0) {
        if (lseek(o->fd, 0, SEEK_SET) < 0)
            return error_set(&ctx->err, -errno, "cannot read back the output: %s", strerror(errno));
        _cleanup_free_ char *block = xmalloc(COPY_BLOCK);
        if (!block)
            return error_oom(&ctx->err);
        for (;;) {
            ssize_t n = read(o->fd, block, COPY_BLOCK);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                return error_set(&ctx->err, -errno, "cannot read back the output: %s",
                                 strerror(errno));
            if (n == 0)
                break;
            if (fwrite(block, 1, (size_t)n, stdout) != (size_t)n)
                return error_set(&ctx->err, -EIO, "cannot write the output: %s", strerror(errno));
        }
    }
    return cli_write_out(ctx, &o->buf);
}

/* Applies the documents of in; on failure err names the file and, when it
 * holds more than one, the document. */
static int apply_file(struct cli_ctx *ctx, engine_apply_batch *b, const struct input *in,
                      struct out_lines *out) {
    api_doc_reader *reader = NULL;
    int r = api_doc_reader_new(in->fd, in->name, &reader, &ctx->err);
    size_t n = 0;
    while (r == 0) {
        _cleanup_object_ struct api_object *obj = NULL;
        r = api_doc_reader_next(reader, &obj, &ctx->err);
        if (r < 0 || !obj)
            break; /* the reader's messages name the file and document */
        n++;
        struct engine_apply_result res;
        r = engine_apply_batch_add(b, obj, &res, &ctx->err);
        if (r < 0) {
            /* Objects are numbered in the file; a file of one is named alone. */
            struct error ignored;
            error_init(&ignored);
            struct api_object *more = NULL;
            if (n == 1 && api_doc_reader_next(reader, &more, &ignored) == 0 && !more)
                error_prefix(&ctx->err, "%s", in->name);
            else
                error_prefix(&ctx->err, "%s: document %zu", in->name, n);
            api_object_free(more);
            break;
        }
        out->skipped |= res.skipped;
        out->n_skipped += res.skipped != 0;
        if (!ctx->quiet)
            r = out_add(ctx, out, &res);
    }
    api_doc_reader_free(reader);
    return r;
}

int cmd_apply(struct cli_ctx *ctx) {
    int nfiles = 0;
    const char *const *files = cli_flag_values(ctx, "filename", &nfiles);
    if (nfiles == 0)
        return cli_usage_error(ctx, "'hearth apply' needs -f FILE (- for stdin)");
    int stdin_uses = 0;
    for (int f = 0; f < nfiles; f++)
        stdin_uses += strcmp(files[f], "-") == 0;
    if (stdin_uses > 1)
        return cli_usage_error(ctx, "stdin (-f -) can be read only once");

    /* Every input is opened (and stdin copied) before the transaction begins. */
    struct input inputs[CLI_VALUES_MAX];
    int r = 0, opened = 0;
    for (; opened < nfiles && r == 0; opened++) {
        inputs[opened].fd = -1;
        r = input_open(ctx, files[opened], &inputs[opened]);
    }
    struct out_lines out = {.buf = STRBUF_INIT, .fd = -1};
    engine_apply_batch *b = NULL;
    if (r == 0)
        r = engine_apply_batch_begin(ctx->eng, &b, &ctx->err);
    for (int f = 0; f < nfiles && r == 0; f++)
        r = apply_file(ctx, b, &inputs[f], &out);
    if (r == 0)
        r = engine_apply_batch_commit(b, &ctx->err);
    engine_apply_batch_free(b);
    for (int f = 0; f < opened; f++)
        if (inputs[f].fd >= 0)
            close(inputs[f].fd);
    if (r == 0 && !ctx->quiet) {
        char notice[1024];
        engine_apply_skipped_describe(out.skipped, out.n_skipped, notice, sizeof(notice));
        if (notice[0])
            fprintf(stderr, "hearth: %s\n", notice);
        r = out_print(ctx, &out);
    }
    strbuf_release(&out.buf);
    if (out.fd >= 0)
        close(out.fd);
    return r;
}
