/*
 * The dashboard's internals: the model (a plain snapshot of what a screen
 * shows, with no curses in it, tested alone by tests/tui), the text pager,
 * the run form, the key table, and the painting and loop functions that use
 * them. Internal to src/tui and its tests.
 */
#ifndef HEARTH_TUI_PRIV_H
#define HEARTH_TUI_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/engine.h"
#include "tui/tui.h"
#include "util/util.h"

/* ---- screens ------------------------------------------------------------ */

enum tui_screen {
    TUI_SCREEN_VMS,
    TUI_SCREEN_IMAGES,
    TUI_SCREEN_KERNELS,
    TUI_SCREEN_POOL,
    TUI_SCREEN_OPS,
    TUI_SCREEN_COUNT
};

/* "VMs", "Images", "Kernels", "Pool", "Operations". */
const char *tui_screen_title(enum tui_screen s);

/* How a row is coloured: by its state. */
enum tui_tone {
    TUI_TONE_NORMAL,
    TUI_TONE_RUNNING, /* green */
    TUI_TONE_STOPPED, /* dim */
    TUI_TONE_BUSY,    /* a transitional state: yellow */
    TUI_TONE_ERROR,   /* red */
};

/* Running -> RUNNING; Stopped, Created -> STOPPED; Creating, Starting, Stopping,
 * Removing -> BUSY; NULL or anything else -> NORMAL. */
enum tui_tone tui_tone_of_state(enum api_vm_state state);

/* ---- the snapshot of one screen ----------------------------------------- */

#define TUI_COLS_MAX 16
#define TUI_CELL_MAX 256 /* bytes of one cell shown; longer values are cut */

/*
 * Columns whose text depends on the time: their cells are written again by
 * tui_table_retime from the row's nums[] (a unix time), with the words `ps`
 * uses (api_age_format, api_vm_status_format).
 */
enum tui_col_time {
    TUI_TIME_NONE,
    TUI_TIME_AGE, /* "5m ago" from nums[c], "-" when there is no time */
    TUI_TIME_UP,  /* "Up 5m" from nums[c] (the VMM's start) when > 0; else the cell as given */
};
#define TUI_TIME_CELL 32 /* bytes of a time cell's own buffer */

struct tui_col {
    const char *title;
    bool numeric;     /* sorted by the row's nums[] rather than the text */
    int priority;     /* columns with a larger number go first when the screen is narrow */
    size_t max_width; /* a column is never wider than this (0: TUI_CELL_MAX) */
    enum tui_col_time time;
};

struct tui_row {
    const char *key;    /* what selection follows across refreshes: a uid, a device or op id */
    const char **cells; /* ncols strings, never NULL */
    int64_t *nums;      /* ncols numeric sort keys (meaningful for numeric columns) */
    enum tui_tone tone;
    enum api_kind kind; /* the object a row stands for; API_KIND_COUNT for none */
};

struct tui_gauge {
    const char *label;
    uint64_t used, total; /* bytes; total 0: unknown */
};

/* What one screen shows: rows in their natural order, plus a few lines above them. */
struct tui_table {
    enum tui_screen screen;
    const struct tui_col *cols;
    size_t ncols;
    struct tui_row *rows;
    size_t nrows;
    size_t width[TUI_COLS_MAX]; /* natural width: the longest cell or title, capped */
    struct tui_gauge gauges[2]; /* Pool: data and metadata */
    size_t n_gauges;
    const char *info;    /* one line above the rows (Pool: driver, paths); NULL for none */
    struct arena *arena; /* owned: every row's cells, numbers and key */
    size_t alloc_rows;
    int64_t now; /* the time (unix seconds) the time cells were written for */
};

void tui_table_free(struct tui_table *t);

/* The VMs screen from the VMs' summaries (Ignite's ps columns). now is for ages. */
int tui_table_vms(const struct engine_vm_summaries *l, int64_t now, struct tui_table **ret) WUR;
/* The Images (kind API_KIND_IMAGE) or Kernels screen from the objects. */
int tui_table_objects(enum api_kind kind, struct api_object *const *objs, size_t n, int64_t now,
                      struct tui_table **ret) WUR;
/*
 * The Pool screen: the gauges (from st when it is not NULL), a line naming
 * the driver (or why_none when there is no pool), and the devices as a tree
 * by parent, each child below its parent, indented.
 */
int tui_table_pool(const struct engine_pool_status *st, const char *why_none,
                   const struct engine_device *devs, size_t n, int64_t now,
                   struct tui_table **ret) WUR;
/* The Operations screen, in the order given (newest first). */
int tui_table_ops(const struct engine_journal_entry *ops, size_t n, int64_t now,
                  struct tui_table **ret) WUR;

/*
 * Writes the time columns' cells again for now (unix seconds), so that ages
 * and uptimes move on without reading the database; the widths follow.
 * Returns whether any cell changed. The rows shown (filter) and their
 * order stay as they are until the next tui_list_set_table.
 */
bool tui_table_retime(struct tui_table *t, int64_t now);

/*
 * Which columns fit in width cells (a gap of 2 between columns): the most
 * important ones (lowest priority number) first, shown in table order; the
 * last one shown may be cut. ret_widths[i] is the width given to column i,
 * 0 for a hidden one. Returns how many columns are shown.
 */
size_t tui_layout(const struct tui_table *t, int width, int *ret_widths);

/* ---- a screen's list: filter, sort, selection, scrolling ----------------- */

#define TUI_FILTER_MAX 128

struct tui_list {
    struct tui_table *table; /* owned; NULL before the first load */
    size_t *order;           /* the rows shown: indices into table->rows */
    size_t n;
    char filter[TUI_FILTER_MAX]; /* a case-insensitive substring of any cell; "" for all */
    int sort_col;                /* -1: the table's own order */
    bool reverse;
    size_t sel; /* index into order */
    size_t top; /* the first row on screen */
};

void tui_list_init(struct tui_list *l);
void tui_list_release(struct tui_list *l);
/*
 * Replaces the snapshot (takes ownership of t, also on failure) and applies
 * the filter and sort again. The selection stays on the row with the same
 * key when it is still shown, else at the same position (clamped).
 */
int tui_list_set_table(struct tui_list *l, struct tui_table *t) WUR;
/* Sets the filter (cut to TUI_FILTER_MAX - 1 bytes) and applies it. */
int tui_list_set_filter(struct tui_list *l, const char *filter) WUR;
/* Sorts by column col (-1: natural order), reversed or not. The selection stays on its row. */
int tui_list_sort(struct tui_list *l, int col, bool reverse) WUR;
/* Moves the selection by delta rows, clamped to the list. */
void tui_list_move(struct tui_list *l, long delta);
void tui_list_home(struct tui_list *l);
void tui_list_end(struct tui_list *l);
/* Makes the selection visible in a window of height rows (adjusts top). */
void tui_list_scroll(struct tui_list *l, size_t height);
/* The selected row, or NULL when the list is empty. */
const struct tui_row *tui_list_selected(const struct tui_list *l);

/* ---- text pager: describe, help, logs ------------------------------------ */

#define TUI_TEXT_MAX (4u << 20) /* bytes kept; older lines are dropped past it */

struct tui_text {
    char title[128];
    struct strbuf buf;
    size_t *lines; /* offsets of line starts in buf */
    size_t nlines;
    size_t alloc_lines;
    size_t top;  /* the first line on screen */
    bool follow; /* keep the last line on screen as text arrives */
};

void tui_text_init(struct tui_text *t);
void tui_text_release(struct tui_text *t);
/* Replaces the text (and title), top at the start. */
int tui_text_set(struct tui_text *t, const char *title, const char *text, size_t len) WUR;
/* Appends data (lines may arrive in pieces); drops the oldest lines past TUI_TEXT_MAX. */
int tui_text_append(struct tui_text *t, const char *data, size_t len) WUR;
/* Line i (without its newline, and without the CR of a CRLF line end, which
 * a guest's console writes) and its length. */
const char *tui_text_line(const struct tui_text *t, size_t i, size_t *ret_len);
/* Scrolls by delta lines in a window of height lines; follow is on when the end is shown. */
void tui_text_scroll(struct tui_text *t, long delta, size_t height);
void tui_text_home(struct tui_text *t);
void tui_text_end(struct tui_text *t, size_t height);

/*
 * The YAML shown by `d`/Enter for the selected row of screen: the object as
 * api_docs_write writes it (VMs, images, kernels; the pool with its
 * devices), a device row's fields, or an operation's fields. Appends to out.
 */
int tui_describe(engine *e, enum tui_screen screen, const struct tui_row *row, struct strbuf *out,
                 struct error *err) WUR;
/* The YAML of one operation (the Operations screen's describe). */
int tui_describe_op(const struct engine_journal_entry *op, struct strbuf *out) WUR;

/* ---- the run form -------------------------------------------------------- */

enum {
    TUI_FORM_NAME,
    TUI_FORM_CPUS,
    TUI_FORM_MEMORY,
    TUI_FORM_SIZE,
    TUI_FORM_KERNEL,
    TUI_FORM_FIELDS
};
#define TUI_FIELD_MAX 128

struct tui_form {
    char image[512]; /* the image the VM is made from */
    char values[TUI_FORM_FIELDS][TUI_FIELD_MAX];
    int field; /* the field being edited */
    char error[768];
};

/* "Name", "CPUs", "Memory", "Disk size", "Kernel". */
const char *tui_form_label(int field);
/* Starts the form for image with the defaults (a generated name when empty). */
void tui_form_init(struct tui_form *f, const char *image, const char *kernel);
void tui_form_next(struct tui_form *f, int delta);
void tui_form_insert(struct tui_form *f, int ch);
void tui_form_backspace(struct tui_form *f);
/*
 * The VM document the form describes; -EINVAL with f->error set when a
 * value is wrong. Caller frees *ret.
 */
int tui_form_build(struct tui_form *f, struct api_object **ret) WUR;

/* ---- keys ---------------------------------------------------------------- */

enum tui_action {
    TUI_ACT_NONE,
    TUI_ACT_QUIT,
    TUI_ACT_HELP,
    TUI_ACT_NEXT_SCREEN,
    TUI_ACT_PREV_SCREEN,
    TUI_ACT_SCREEN_1,
    TUI_ACT_SCREEN_2,
    TUI_ACT_SCREEN_3,
    TUI_ACT_SCREEN_4,
    TUI_ACT_SCREEN_5,
    TUI_ACT_UP,
    TUI_ACT_DOWN,
    TUI_ACT_PAGE_UP,
    TUI_ACT_PAGE_DOWN,
    TUI_ACT_HOME,
    TUI_ACT_END,
    TUI_ACT_FILTER,
    TUI_ACT_CLEAR,
    TUI_ACT_SORT_PREV,
    TUI_ACT_SORT_NEXT,
    TUI_ACT_REVERSE,
    TUI_ACT_DESCRIBE,
    TUI_ACT_LOGS,
    TUI_ACT_START,
    TUI_ACT_STOP,
    TUI_ACT_KILL,
    TUI_ACT_RUN,
    TUI_ACT_DELETE,
    TUI_ACT_ATTACH,
    TUI_ACT_REFRESH,
};

struct tui_key {
    int codes[3];      /* the keys (curses codes), 0-terminated */
    const char *label; /* as the help shows it: "j / Down" */
    enum tui_action action;
    const char *help;
    bool changes; /* changes state: not offered with --readonly */
};

/* Every key of the list screens, in the order the help lists them. */
extern const struct tui_key tui_keys[];
extern const size_t tui_n_keys;
/* The action of key ch (TUI_ACT_NONE when none); *ret_key (may be NULL) its entry. */
enum tui_action tui_key_action(int ch, const struct tui_key **ret_key);
/* The help overlay's text: every key, and what the pager, filter and form take. */
int tui_help_text(bool readonly, struct strbuf *out) WUR;

/* ---- the loop's state (dash.c) and painting (view.c) ---------------------- */

enum tui_mode {
    TUI_MODE_LIST,    /* a list screen */
    TUI_MODE_FILTER,  /* typing the filter */
    TUI_MODE_CONFIRM, /* a y/N question in the message line */
    TUI_MODE_FORM,    /* the run form */
    TUI_MODE_TEXT,    /* the pager: describe, help or logs */
};

struct tui_dash {
    engine *e;
    const struct tui_opts *opts;
    enum tui_screen screen;
    struct tui_list lists[TUI_SCREEN_COUNT];
    bool stale[TUI_SCREEN_COUNT]; /* reload before it is shown */
    enum tui_mode mode;
    struct tui_text text;
    bool text_is_log; /* the pager shows a log (followed) */
    struct tui_form form;
    char confirm[512];  /* the question while in TUI_MODE_CONFIRM */
    char message[1024]; /* the message line */
    bool message_error; /* shown red */
    char status[1024];  /* the worker's progress; "" when idle */
    bool color;         /* colours are on (has_colors() and no NO_COLOR) */
    size_t list_height; /* rows of the list as last painted (for paging) */
    size_t text_height; /* lines of the pager as last painted */
};

/* Sets the message line (printf-like); error shows it red. */
void tui_dash_message(struct tui_dash *d, bool error, const char *fmt, ...) PRINTF(3, 4);

/* Starts colours when the terminal has them and NO_COLOR is unset; returns whether. */
bool tui_view_colors_init(void);
/* Paints the whole screen from d (curses then sends only what changed). */
void tui_view_paint(struct tui_dash *d);

#endif
