/*
 * util: the small pieces every other module uses.
 *
 * - struct error: a code (negative errno) plus a message, filled once where a
 *   failure is found and printed once at the edge (cli, tui).
 * - cleanup helpers (_cleanup_free_ and friends) and steal_ptr().
 * - arenas: many small allocations freed together.
 * - struct strbuf: a growable, always NUL-terminated byte buffer.
 * - identifiers: 16-hex-character ids from the kernel's random source and
 *   random adjective-noun names.
 * - logging at a process-wide level chosen by the front end.
 */
#ifndef HEARTH_UTIL_H
#define HEARTH_UTIL_H

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>

#define WUR __attribute__((warn_unused_result))
#define PRINTF(a, b) __attribute__((format(printf, a, b)))

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- errors ------------------------------------------------------------ */

#define ERROR_MSG_MAX 2048

struct error {
    int code;                /* 0 or a negative errno */
    char msg[ERROR_MSG_MAX]; /* lowercase, names the object in quotes */
};

/* Clears err (err may be NULL). */
void error_init(struct error *err);

/*
 * Records code (a negative errno) and a formatted message in err, which may be
 * NULL, and gives the code back, so a failing function can end with
 * `return error_set(err, -EINVAL, "...", ...);`. A code that is not negative
 * (-errno read after a call that did not set errno) is recorded as -EIO, so a
 * failure is never returned as success. error_set is a macro so that the
 * compiler sees that its value is negative: the callers' `if (r < 0) return r;`
 * then visibly leaves their outputs unread.
 */
void error_record(struct error *err, int code, const char *fmt, ...) PRINTF(3, 4);
#define error_set(err, code, ...)                                                                  \
    __extension__({                                                                                \
        int error_code_ = (code);                                                                  \
        if (error_code_ >= 0)                                                                      \
            error_code_ = -EIO;                                                                    \
        error_record((err), error_code_, __VA_ARGS__);                                             \
        error_code_;                                                                               \
    })

/* error_set(err, -ENOMEM, "out of memory"), for the many places that can only fail so. */
#define error_oom(err) error_set((err), -ENOMEM, "out of memory")

/* Puts "PREFIX: " in front of the message already in err. Returns err->code. */
int error_prefix(struct error *err, const char *fmt, ...) PRINTF(2, 3);

/* ---- cleanup ----------------------------------------------------------- */

static inline void freep(void *p) {
    free(*(void **)p);
}
static inline void fclosep(FILE **f) {
    if (*f)
        fclose(*f);
}
static inline void closep(int *fd);

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_fclose_ _cleanup_(fclosep)
#define _cleanup_close_ _cleanup_(closep)

/* Returns *pp and sets *pp to NULL: hands ownership out of a cleanup variable. */
#define steal_ptr(pp)                                                                              \
    ({                                                                                             \
        __typeof__(*(pp)) _p = *(pp);                                                              \
        *(pp) = NULL;                                                                              \
        _p;                                                                                        \
    })

/* ---- memory ------------------------------------------------------------ */

/*
 * Allocation wrappers. They return NULL on out-of-memory like their libc
 * counterparts; callers map that to -ENOMEM. In test builds a fault counter
 * (util_alloc_fail_after) makes the Nth allocation fail.
 */
void *xmalloc(size_t n) WUR;
void *xcalloc(size_t nmemb, size_t size) WUR;
void *xrealloc(void *p, size_t n) WUR;
char *xstrdup(const char *s) WUR; /* NULL in gives NULL out */
char *xstrndup(const char *s, size_t n) WUR;
char *xasprintf(const char *fmt, ...) PRINTF(1, 2) WUR;
char *xvasprintf(const char *fmt, va_list ap) PRINTF(1, 0) WUR;
/*
 * Makes room for element n of the array *arrp (void ** in disguise) that
 * holds n elements of elem bytes: it grows to the next power of two when n
 * is one, so appending one at a time costs log(n) reallocations. 0, or
 * -ENOMEM with *arrp unchanged.
 */
int array_grow(void *arrp, size_t n, size_t elem) WUR;

/* Test hook: the Nth allocation from now fails (0 disables). */
void util_alloc_fail_after(long n);

/* ---- arenas (arena.c) ------------------------------------------------- */

/*
 * An arena hands out memory from a few large blocks, front to back, and frees
 * it all at once: for the many small strings of a listing. Nothing in it is
 * freed alone.
 */
struct arena;

/* An empty arena; NULL on out-of-memory. Free with arena_free. */
struct arena *arena_new(void) WUR;
/* Frees the arena and everything in it; NULL is fine. */
void arena_free(struct arena *a);
/* Frees everything in the arena, which stays usable; NULL is fine. */
void arena_clear(struct arena *a);
/*
 * n bytes aligned to align (a power of two, at most _Alignof(max_align_t)),
 * owned by the arena; NULL on out-of-memory (the arena stays as it was).
 */
void *arena_alloc(struct arena *a, size_t n, size_t align) WUR;
/* A NUL-terminated copy of s[0..len) in the arena; NULL on out-of-memory. */
char *arena_strndup(struct arena *a, const char *s, size_t len) WUR;

/* ---- strbuf ------------------------------------------------------------ */

struct strbuf {
    char *buf; /* always NUL-terminated once anything was added; may be NULL when empty */
    size_t len;
    size_t alloc;
};

#define STRBUF_INIT                                                                                \
    { NULL, 0, 0 }

void strbuf_release(struct strbuf *sb);
int strbuf_add(struct strbuf *sb, const void *data, size_t len) WUR; /* 0 or -ENOMEM */
int strbuf_adds(struct strbuf *sb, const char *s) WUR;
int strbuf_addf(struct strbuf *sb, const char *fmt, ...) PRINTF(2, 3) WUR;
int strbuf_vaddf(struct strbuf *sb, const char *fmt, va_list ap) PRINTF(2, 0) WUR;
int strbuf_addc(struct strbuf *sb, char c) WUR;
void strbuf_reset(struct strbuf *sb);
/* Returns the buffer (never NULL, "" when empty) and leaves sb empty; caller frees. */
char *strbuf_detach(struct strbuf *sb);
/* Reads all of fd into sb, up to max bytes (-EFBIG past that). */
int strbuf_read_fd(struct strbuf *sb, int fd, size_t max) WUR;
/* Reads a whole file ("-" is stdin), up to max bytes; errors name the path. */
int strbuf_read_file(struct strbuf *sb, const char *path, size_t max, struct error *err) WUR;

static inline void strbuf_releasep(struct strbuf *sb) {
    strbuf_release(sb);
}
#define _cleanup_strbuf_ _cleanup_(strbuf_releasep)

/* ---- identifiers ------------------------------------------------------- */

#define ID_LEN 16

/* Fills ret[ID_LEN + 1] with 16 lowercase hex characters from getrandom(2). */
int id_generate(char ret[ID_LEN + 1]) WUR;
/* True if s is exactly 16 lowercase hex characters. */
bool id_is_valid(const char *s);
/* Writes a random "adjective-noun" name into ret (size at least 64). */
int name_generate(char *ret, size_t size) WUR;

/* ---- strings ----------------------------------------------------------- */

bool str_starts_with(const char *s, const char *prefix);
/* Whether s holds a control character (below 0x20, or 0x7f); NULL holds none. */
bool str_has_control(const char *s);
/* Whether s is an absolute path without "." or ".." components. */
bool path_is_clean(const char *s);
/*
 * A path on the host that hearth makes or removes files at: path_is_clean,
 * no control characters, shorter than PATH_MAX.
 */
bool path_is_host_clean(const char *s);
/* Parses a whole decimal unsigned number; -EINVAL on junk, -ERANGE past max. */
int parse_u64(const char *s, uint64_t max, uint64_t *ret) WUR;

/* ---- time -------------------------------------------------------------- */

/* Formats t (seconds since the epoch) as RFC 3339 UTC, "2006-01-02T15:04:05Z". */
void time_format_rfc3339(int64_t t, char buf[32]);
/* Parses RFC 3339 ("...Z" or "+hh:mm", optional fraction, which is dropped); the time
 * in UTC must fall in the years 0000 to 9999, which time_format_rfc3339 writes back. */
int time_parse_rfc3339(const char *s, int64_t *ret) WUR;
/* Compact age like Ignite's CREATED column, without " ago": "45s", "3m", "5h", "4d", "2y". */
void time_format_ago(int64_t t, int64_t now, char *buf, size_t size);
/* Milliseconds of CLOCK_MONOTONIC: for deadlines and durations, never for dates. */
int64_t time_now_ms(void);
/* Sleeps ms milliseconds, going on after a signal that interrupts it. */
void sleep_ms(int64_t ms);

/* ---- sizes ------------------------------------------------------------- */

/* A size for people, as Ignite's tables show it: the largest binary unit the
 * size reaches, one decimal: "512.0 MB", "4.0 GB", "1.5 KB", "100 B".
 * (api_size_format_human is this; the pool's messages use it directly.) */
void size_format_human(uint64_t bytes, char *buf, size_t size);

/* ---- files and directories (fs.c) ------------------------------------- */

/* Deepest nesting a tree removal descends (keeps it bounded in fds). */
#define FS_TREE_DEPTH_MAX 1024

/* Creates path and its missing parents with mode (mkdir -p); existing ones are fine. */
int fs_mkdir_parents(const char *path, mode_t mode, struct error *err) WUR;
/*
 * Removes the file or the tree at path, never following a symlink (a
 * symlink is removed, not what it names); read-only directories in it are
 * made writable first. A missing path is fine.
 */
int fs_tree_remove(const char *path, struct error *err) WUR;
/* fs_tree_remove of name relative to dirfd; depth is the current nesting (0). */
int fs_tree_remove_at(int dirfd, const char *name, int depth, struct error *err) WUR;
/*
 * A file in dir (mode 0600, O_CLOEXEC) that has no name, so it goes with
 * its last descriptor: O_TMPFILE, or a named file removed at once where the
 * file system has no O_TMPFILE. The descriptor, or -errno.
 */
int fs_tmpfile(const char *dir, struct error *err) WUR;

/* ---- processes (exec.c) ------------------------------------------------ */

#define EXEC_OUTPUT_MAX (16u << 20) /* bytes of a child's stdout kept */

/* What stdin_fd, stdout_fd and stderr_fd hold besides 0 (/dev/null) and a descriptor > 0. */
#define EXEC_PIPE (-1)    /* a pipe; this process's end is in struct exec_proc */
#define EXEC_INHERIT (-2) /* this process's own descriptor of that number */

struct exec_opts {
    const char *const *envp; /* NULL: inherit the environment */
    const char *cwd;         /* NULL: this process's; else the child's working directory (relative
                                paths in argv, argv[0] included, are then relative to it) */
    const char *program;     /* the file to exec when it is not argv[0], which is then only the
                                name the child sees (ps); NULL: argv[0] */
    /* The child's 0, 1 and 2: 0 (the default) is /dev/null (for stdin: stdin_path when set),
     * EXEC_PIPE, EXEC_INHERIT, or a descriptor of this process (> 0), which the child gets a
     * copy of. exec_run collects stdout and stderr itself and ignores those two. */
    int stdin_fd, stdout_fd, stderr_fd;
    const char *stdin_path; /* NULL: /dev/null */
    int pass_fd;            /* > 0: given to the child as its descriptor 3 as well */
    int pdeathsig;          /* > 0: the child gets this signal when the thread that started it
                               ends (PR_SET_PDEATHSIG); not with detach */
    bool detach; /* fork, setsid, fork again: the child runs in its own session, is no child of
                    this process and is never reaped here (a daemon, the VM monitor) */
    /* Instead of exec'ing argv: the child runs fn(fn_arg) and exits with what it returns
     * (argv[0] then only names it in messages). Everything above applies. */
    int (*fn)(void *fn_arg);
    void *fn_arg;
    /* exec_run only */
    struct strbuf *out;     /* NULL: stdout discarded; else collected (up to EXEC_OUTPUT_MAX) */
    struct strbuf *err_out; /* NULL: none; else the tail of stderr (its last 4 KiB), also when
                               the child fails (the error message has it in any case) */
    int timeout_ms;         /* 0: none; else the child is killed (SIGKILL) past it */
};

/* A started child. Descriptors are O_CLOEXEC and owned by the caller; -1 when not a pipe. */
struct exec_proc {
    pid_t pid;
    int in;        /* write end of the child's stdin (stdin_fd EXEC_PIPE) */
    int out;       /* read end of its stdout (stdout_fd EXEC_PIPE) */
    int err;       /* read end of its stderr (stderr_fd EXEC_PIPE) */
    bool detached; /* opts.detach: not this process's child */
};

/*
 * Starts argv[0] (looked up in PATH when it has no '/') with argv, never
 * through a shell, as opts say (NULL: the defaults): descriptors other than
 * 0-2 (and pass_fd as 3) closed, an empty signal mask and every signal at its
 * default action. A program that cannot be run is reported here (-ENOENT,
 * -EACCES, ...; a missing cwd or stdin_path too) and the child reaped. The
 * caller ends the child with exec_finish (nothing to reap when detached).
 */
int exec_start(const char *const *argv, const struct exec_opts *opts, struct exec_proc *ret,
               struct error *err) WUR;
/*
 * Closes p's pipes that are still open and waits for the child; its wait
 * status in *ret_status (0 for a detached child, which is not waited for).
 */
int exec_finish(struct exec_proc *p, int *ret_status, struct error *err) WUR;

/*
 * exec_start, then collects stdout (opts->out) and stderr while the child
 * runs and reaps it. Returns 0 when it exits 0; otherwise an error whose
 * message names the program, how it ended and the tail of its stderr (-EIO
 * on a non-zero exit, -ETIMEDOUT, -EINTR on a signal, -ENOENT when it cannot
 * be run). opts may be NULL; detach is refused.
 */
int exec_run(const char *const *argv, const struct exec_opts *opts, struct error *err) WUR;

/* ---- process identity (proc.c; pid 0 is this process) ------------------ */

/* Reads field 22 (starttime, clock ticks since boot) of /proc/PID/stat. */
int proc_start_time(int pid, uint64_t *ret) WUR;
/*
 * True if pid still runs and is the process that started at start_time (clock
 * ticks since boot): the one liveness check for recorded processes. A zombie
 * (or a dead task) is dead: it runs nothing any more, only its reaping is left.
 */
bool proc_is_alive(int pid, uint64_t start_time);
/*
 * The executable (/proc/PID/exe) and the working directory (/proc/PID/cwd)
 * of pid, without the " (deleted)" the kernel adds once the file was
 * replaced or removed. -errno (-EACCES for another user's process when this
 * one may not look; -ENAMETOOLONG when size is too small).
 */
int proc_exe(int pid, char *buf, size_t size) WUR;
int proc_cwd(int pid, char *buf, size_t size) WUR;
/*
 * The argv of pid (/proc/PID/cmdline) into buf, its words separated by NULs
 * and the last one NUL-terminated; *ret_argc is their number (0 for a kernel
 * thread or a zombie). -E2BIG when it does not fit in size.
 */
int proc_cmdline(int pid, char *buf, size_t size, size_t *ret_argc) WUR;

/* The user name of uid (from the password database), or its number, in buf. */
void user_name_format(unsigned uid, char *buf, size_t size);

/* ---- libraries loaded on first use ------------------------------------- */

/*
 * libcurl, libarchive, libnftables and libssh are not linked: lazylib.c
 * defines the functions hearth calls and loads the library on the first
 * call. After a constructor (curl_easy_init, curl_multi_init,
 * archive_read_new, nft_ctx_new, ssh_new) returned NULL, these set
 * err to the reason and return its code: -ELIBACC with a message naming the
 * library when it cannot be loaded, else -ENOMEM.
 */
int lazylib_curl_error(struct error *err);
int lazylib_archive_error(struct error *err);
int lazylib_nft_error(struct error *err);
int lazylib_ssh_error(struct error *err);
/*
 * The process's one libnftables context, output and error buffered and
 * empty, output flags 0, locked for the caller until lazylib_nft_ctx_put;
 * NULL with err set (as lazylib_nft_error) when it cannot be made. Kept
 * open because closing it after a deletion waits for the kernel (lazylib.c).
 */
struct nft_ctx;
struct nft_ctx *lazylib_nft_ctx_get(struct error *err) WUR;
void lazylib_nft_ctx_put(struct nft_ctx *c);

/* ---- fault points ------------------------------------------------------ */

/*
 * A named step boundary. When the environment variable HEARTH_FAULT names
 * this point ("pool.create.after-intent"), the process exits at once with
 * status FAULT_EXIT_STATUS, as a crash would leave it: no cleanup, no
 * atexit handlers. "NAME@N" fires on the Nth time the point is reached.
 * Tests use it to prove that recovery handles a death at every step. When
 * HEARTH_FAULT_LOG names a file, a firing point first appends its name and a
 * newline to it: the test suite checks that every point in src/ fired.
 */
#define FAULT_EXIT_STATUS 86
void fault_point(const char *name);

/* ---- logging ----------------------------------------------------------- */

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* Parses "error|warn|info|debug"; -EINVAL otherwise. */
int log_level_parse(const char *s, enum log_level *ret) WUR;
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Writes "hearth: LEVEL: message" to stderr when level is enabled. */
void log_msg(enum log_level level, const char *fmt, ...) PRINTF(2, 3);

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)

#include <unistd.h>
static inline void closep(int *fd) {
    if (*fd >= 0)
        close(*fd);
}

#endif
