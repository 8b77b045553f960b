/*
 * Fuzz target: the streaming reader of v1alpha1 documents
 * (api_doc_reader over a file descriptor, src/api/stream.c and yaml.c),
 * which `hearth apply -f FILE` and `-f -` use, against the in-memory reader
 * (api_docs_parse) as the reference: on the same bytes both give the same
 * objects, or both an error (the same one when reads are not cut short).
 *
 * The first byte of the input sets the most read(2) returns at once (0: no
 * limit), as a pipe hands over what a writer wrote so far; the rest is the
 * document text, put in a memfd. The build links this target with
 * -Wl,--wrap=read so that every read(2) of the reader goes through
 * __wrap_read below.
 */
#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include "api/api.h"
#include "fuzz.h"

ssize_t __real_read(int fd, void *buf, size_t n);
ssize_t __wrap_read(int fd, void *buf, size_t n);

/* The memfd being read and the most one read gives (0: any): this run's. */
static int fuzz_fd = -1;
static size_t fuzz_chunk;

ssize_t __wrap_read(int fd, void *buf, size_t n) {
    if (fd == fuzz_fd && fuzz_chunk && n > fuzz_chunk)
        n = fuzz_chunk;
    return __real_read(fd, buf, n);
}

/* The object as JSON text, to compare objects. Caller frees. */
static char *object_text(const struct api_object *obj) {
    json_t *j = api_object_to_json(obj);
    fuzz_check(j, "encode");
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(j);
    fuzz_check(s, "dump");
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    fuzz_chunk = data[0];
    const char *text = (const char *)data + 1;
    size_t len = size - 1;

    struct api_object **objs = NULL;
    size_t n = 0;
    struct error want;
    error_init(&want);
    int r_mem = api_docs_parse(text, len, "fuzz", &objs, &n, &want);

    fuzz_fd = memfd_create("fuzz", MFD_CLOEXEC);
    fuzz_check(fuzz_fd >= 0, "memfd");
    fuzz_check(len == 0 || write(fuzz_fd, text, len) == (ssize_t)len, "write");
    fuzz_check(lseek(fuzz_fd, 0, SEEK_SET) == 0, "lseek");
    api_doc_reader *reader = NULL;
    struct error err;
    error_init(&err);
    fuzz_check(api_doc_reader_new(fuzz_fd, "fuzz", &reader, &err) == 0, "reader");
    size_t i = 0;
    int r = 0;
    for (;;) {
        struct api_object *obj = NULL;
        r = api_doc_reader_next(reader, &obj, &err);
        if (r < 0 || !obj)
            break;
        if (r_mem == 0) {
            fuzz_check(i < n, "the stream gives more than %zu objects", n);
            char *a = object_text(objs[i]), *b = object_text(obj);
            fuzz_check(strcmp(a, b) == 0, "object %zu: in memory %s, streamed %s", i, a, b);
            free(a);
            free(b);
        }
        api_object_free(obj);
        i++;
    }
    if (r_mem == 0) {
        fuzz_check(r == 0, "in memory: %zu objects; streamed: error after %zu: %s", n, i, err.msg);
        fuzz_check(i == n, "in memory: %zu objects; streamed: %zu", n, i);
    } else {
        fuzz_check(r < 0, "in memory: %s; streamed: %zu objects and no error", want.msg, i);
        /* Short reads change how far libyaml reads ahead, and so which of two
         * problems it sees first; whole reads must say the same. */
        fuzz_check(fuzz_chunk || strcmp(want.msg, err.msg) == 0, "in memory: %s; streamed: %s",
                   want.msg, err.msg);
    }
    api_doc_reader_free(reader);
    close(fuzz_fd);
    fuzz_fd = -1;
    api_objects_free(objs, n);
    return 0;
}
