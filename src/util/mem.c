/*
 * Allocation wrappers and the growable string buffer.
 *
 * The wrappers behave like libc's, plus a fault hook for tests: after
 * util_alloc_fail_after(N) the Nth allocation returns NULL, which is how the
 * out-of-memory paths are exercised (curl's torture mode, sqlite's fault
 * simulation).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include "util/util.h"

/* Test-only fault counter; 0 means disabled. Process-wide by design. */
static long alloc_fail_countdown;

void util_alloc_fail_after(long n) {
    alloc_fail_countdown = n;
}

static bool alloc_should_fail(void) {
    if (alloc_fail_countdown <= 0)
        return false;
    return --alloc_fail_countdown == 0;
}

void *xmalloc(size_t n) {
    if (alloc_should_fail())
        return NULL;
    return malloc(n ? n : 1);
}

void *xcalloc(size_t nmemb, size_t size) {
    if (alloc_should_fail())
        return NULL;
    return calloc(nmemb ? nmemb : 1, size ? size : 1);
}

void *xrealloc(void *p, size_t n) {
    if (alloc_should_fail())
        return NULL;
    return realloc(p, n ? n : 1);
}

char *xstrdup(const char *s) {
    if (!s)
        return NULL;
    return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n) {
    if (!s)
        return NULL;
    size_t len = strnlen(s, n);
    char *r = xmalloc(len + 1);
    if (!r)
        return NULL;
    memcpy(r, s, len);
    r[len] = '\0';
    return r;
}

char *xvasprintf(const char *fmt, va_list ap) {
    struct strbuf sb = STRBUF_INIT;
    if (strbuf_vaddf(&sb, fmt, ap) < 0) {
        strbuf_release(&sb);
        return NULL;
    }
    return strbuf_detach(&sb);
}

char *xasprintf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *s = xvasprintf(fmt, ap);
    va_end(ap);
    return s;
}

int array_grow(void *arrp, size_t n, size_t elem) {
    void **arr = arrp;
    if (n & (n - 1)) /* room up to the next power of two */
        return 0;
    size_t cap = n ? n * 2 : 1;
    if (elem && cap > SIZE_MAX / elem)
        return -ENOMEM;
    void *p = xrealloc(*arr, cap * elem);
    if (!p)
        return -ENOMEM;
    *arr = p;
    return 0;
}

void strbuf_release(struct strbuf *sb) {
    free(sb->buf);
    sb->buf = NULL;
    sb->len = sb->alloc = 0;
}

void strbuf_reset(struct strbuf *sb) {
    sb->len = 0;
    if (sb->buf)
        sb->buf[0] = '\0';
}

static int strbuf_grow(struct strbuf *sb, size_t extra) {
    if (extra > SIZE_MAX - sb->len - 1)
        return -ENOMEM;
    size_t need = sb->len + extra + 1;
    if (need <= sb->alloc)
        return 0;
    size_t n = sb->alloc ? sb->alloc : 64;
    while (n < need)
        n = n > SIZE_MAX / 2 ? need : n * 2;
    char *p = xrealloc(sb->buf, n);
    if (!p)
        return -ENOMEM;
    /* A new buffer is a string at once, also when nothing is added after all (an empty file). */
    p[sb->len] = '\0';
    sb->buf = p;
    sb->alloc = n;
    return 0;
}

int strbuf_add(struct strbuf *sb, const void *data, size_t len) {
    int r = strbuf_grow(sb, len);
    if (r < 0)
        return r;
    if (len)
        memcpy(sb->buf + sb->len, data, len);
    sb->len += len;
    sb->buf[sb->len] = '\0';
    return 0;
}

int strbuf_adds(struct strbuf *sb, const char *s) {
    return strbuf_add(sb, s, strlen(s));
}

int strbuf_addc(struct strbuf *sb, char c) {
    return strbuf_add(sb, &c, 1);
}

int strbuf_vaddf(struct strbuf *sb, const char *fmt, va_list ap) {
    va_list cp;
    va_copy(cp, ap);
    int n = vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);
    if (n < 0)
        return -EINVAL;
    int r = strbuf_grow(sb, (size_t)n);
    if (r < 0)
        return r;
    vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap);
    sb->len += (size_t)n;
    return 0;
}

int strbuf_addf(struct strbuf *sb, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int r = strbuf_vaddf(sb, fmt, ap);
    va_end(ap);
    return r;
}

char *strbuf_detach(struct strbuf *sb) {
    char *p = sb->buf;
    if (!p)
        p = xstrdup("");
    sb->buf = NULL;
    sb->len = sb->alloc = 0;
    return p;
}

int strbuf_read_fd(struct strbuf *sb, int fd, size_t max) {
    for (;;) {
        if (sb->len >= max) {
            /* Probe for one more byte: exactly max is fine, more is not. */
            char c;
            ssize_t n = read(fd, &c, 1);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                return -errno;
            return n == 0 ? 0 : -EFBIG;
        }
        size_t want = max - sb->len < 65536 ? max - sb->len : 65536;
        int r = strbuf_grow(sb, want);
        if (r < 0)
            return r;
        ssize_t n = read(fd, sb->buf + sb->len, want);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return 0;
        sb->len += (size_t)n;
        sb->buf[sb->len] = '\0';
    }
}

int strbuf_read_file(struct strbuf *sb, const char *path, size_t max, struct error *err) {
    bool is_stdin = strcmp(path, "-") == 0;
    int fd = is_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return error_set(err, -errno, "cannot open '%s': %s", path, strerror(errno));
    int r = strbuf_read_fd(sb, fd, max);
    if (!is_stdin)
        close(fd);
    if (r == -EFBIG)
        return error_set(err, r, "'%s' is larger than the limit of %zu bytes",
                         is_stdin ? "<stdin>" : path, max);
    if (r < 0)
        return error_set(err, r, "cannot read '%s': %s", is_stdin ? "<stdin>" : path, strerror(-r));
    if (!sb->buf) {
        r = strbuf_add(sb, "", 0);
        if (r < 0)
            return error_set(err, r, "out of memory");
    }
    return 0;
}
