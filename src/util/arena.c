/*
 * Arenas: many small allocations carved front to back out of a few large
 * blocks and freed together, so a listing of 10,000 rows costs a few dozen
 * allocations instead of one per string. The tables of the cli and the tui
 * and the store's VM summaries keep their strings in one.
 */
#include <string.h>

#include "util/util.h"

#define ARENA_BLOCK (64u << 10) /* bytes of an ordinary block */

struct arena_block {
    struct arena_block *next;
    size_t used;
    size_t size;
    max_align_t data[]; /* size bytes */
};

struct arena {
    struct arena_block *head; /* the block being filled; older ones follow */
};

struct arena *arena_new(void) {
    return xcalloc(1, sizeof(struct arena));
}

void arena_clear(struct arena *a) {
    if (!a)
        return;
    for (struct arena_block *b = a->head, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    a->head = NULL;
}

void arena_free(struct arena *a) {
    arena_clear(a);
    free(a);
}

void *arena_alloc(struct arena *a, size_t n, size_t align) {
    struct arena_block *b = a->head;
    size_t off = b ? (b->used + align - 1) & ~(align - 1) : 0;
    if (!b || off > b->size || n > b->size - off) {
        if (n > SIZE_MAX / 2)
            return NULL;
        size_t size = n > ARENA_BLOCK ? n : ARENA_BLOCK;
        b = xmalloc(sizeof(*b) + size);
        if (!b)
            return NULL;
        b->size = size;
        b->used = 0;
        b->next = a->head;
        a->head = b;
        off = 0;
    }
    b->used = off + n;
    return (char *)b->data + off;
}

char *arena_strndup(struct arena *a, const char *s, size_t len) {
    if (len >= SIZE_MAX / 2)
        return NULL;
    char *c = arena_alloc(a, len + 1, 1);
    if (!c)
        return NULL;
    memcpy(c, s, len);
    c[len] = '\0';
    return c;
}
