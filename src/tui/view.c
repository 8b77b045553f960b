/*
 * Painting: the tab bar, the list of the current screen (only the rows that
 * fit), the status and message lines, and the overlays (pager, form). Each
 * frame is painted with erase() into curses' virtual screen and sent with
 * one refresh(), so curses writes only the cells that changed: no flicker,
 * and scrolling 10,000 rows costs one window of rows. Colours only when the
 * terminal has them and NO_COLOR is unset; attributes (dim, bold, reverse)
 * carry the same meaning on a monochrome terminal.
 */
#include <curses.h>
#include <stdlib.h>
#include <string.h>

#include "tui/tui_priv.h"

enum { PAIR_GREEN = 1, PAIR_YELLOW, PAIR_RED, PAIR_CYAN };

bool tui_view_colors_init(void) {
    const char *nc = getenv("NO_COLOR");
    if ((nc && *nc) || !has_colors())
        return false;
    if (start_color() == ERR)
        return false;
    use_default_colors();
    init_pair(PAIR_GREEN, COLOR_GREEN, -1);
    init_pair(PAIR_YELLOW, COLOR_YELLOW, -1);
    init_pair(PAIR_RED, COLOR_RED, -1);
    init_pair(PAIR_CYAN, COLOR_CYAN, -1);
    return true;
}

static attr_t tone_attr(const struct tui_dash *d, enum tui_tone tone) {
    switch (tone) {
    case TUI_TONE_RUNNING:
        return d->color ? COLOR_PAIR(PAIR_GREEN) : A_BOLD;
    case TUI_TONE_STOPPED:
        return A_DIM;
    case TUI_TONE_BUSY:
        return d->color ? COLOR_PAIR(PAIR_YELLOW) | A_BOLD : A_BOLD;
    case TUI_TONE_ERROR:
        return d->color ? COLOR_PAIR(PAIR_RED) | A_BOLD : A_BOLD | A_UNDERLINE;
    default:
        return A_NORMAL;
    }
}

/* Writes s (up to len bytes) at (y, x), cut at the right edge; returns the column after. */
static int put(int y, int x, const char *s, size_t len, int maxx) {
    if (x >= maxx)
        return x;
    size_t room = (size_t)(maxx - x);
    if (len > room)
        len = room;
    mvaddnstr(y, x, s, (int)len);
    return x + (int)len;
}

static int puts_at(int y, int x, const char *s, int maxx) {
    return put(y, x, s, strlen(s), maxx);
}

/* Fills the rest of row y from x with blanks (in the current attributes). */
static void fill(int y, int x, int maxx) {
    if (x < maxx)
        mvhline(y, x, ' ', maxx - x);
}

static void paint_tabs(struct tui_dash *d, int cols) {
    int x = 0;
    attrset(A_REVERSE);
    fill(0, 0, cols);
    x = puts_at(0, x, " hearth ", cols);
    for (int s = 0; s < TUI_SCREEN_COUNT; s++) {
        char tab[32];
        snprintf(tab, sizeof(tab), " %d %s ", s + 1, tui_screen_title((enum tui_screen)s));
        attrset(s == (int)d->screen ? A_BOLD : A_REVERSE);
        x = puts_at(0, x, tab, cols);
    }
    attrset(A_REVERSE);
    const char *right = d->opts->readonly ? " read-only  ? help " : " ? help ";
    int rx = cols - (int)strlen(right);
    if (rx > x)
        puts_at(0, rx, right, cols);
    attrset(A_NORMAL);
}

/* A gauge "data      [#####.....]  45%  1.2 GB of 2.5 GB". */
static void paint_gauge(struct tui_dash *d, int y, const struct tui_gauge *g, int cols) {
    char used[32], total[32], line[256];
    int x = 0;
    snprintf(line, sizeof(line), " %-9s[", g->label);
    x = puts_at(y, x, line, cols);
    int bar = cols - x - 32;
    if (bar > 50)
        bar = 50;
    if (bar < 10)
        bar = 10;
    int pct = g->total ? (int)(g->used * 100 / g->total) : 0;
    int filled = g->total ? (int)((uint64_t)bar * g->used / g->total) : 0;
    if (filled > bar)
        filled = bar;
    attr_t a = pct >= 90   ? tone_attr(d, TUI_TONE_ERROR)
               : pct >= 75 ? tone_attr(d, TUI_TONE_BUSY)
                           : tone_attr(d, TUI_TONE_RUNNING);
    attrset(a);
    for (int i = 0; i < filled && x < cols; i++)
        mvaddch(y, x++, '#');
    attrset(A_DIM);
    for (int i = filled; i < bar && x < cols; i++)
        mvaddch(y, x++, '.');
    attrset(A_NORMAL);
    api_size_format_human(g->used, used, sizeof(used));
    api_size_format_human(g->total, total, sizeof(total));
    if (g->total)
        snprintf(line, sizeof(line), "] %3d%%  %s of %s", pct, used, total);
    else
        snprintf(line, sizeof(line), "] usage unknown");
    puts_at(y, x, line, cols);
}

/* Lays out one row's cells into buf (cols wide, blank padded). */
static void row_text(const struct tui_table *t, const char *const *cells, const int *widths,
                     char *buf, int cols) {
    memset(buf, ' ', (size_t)cols);
    buf[cols] = '\0';
    int x = 1;
    bool first = true;
    for (size_t c = 0; c < t->ncols && x < cols; c++) {
        if (!widths[c])
            continue;
        if (!first)
            x += 2;
        first = false;
        size_t len = strlen(cells[c]);
        size_t w = (size_t)widths[c];
        if (x + (int)w > cols)
            w = (size_t)(cols - x);
        if (len > w) {
            len = w;
            if (w >= 2) { /* mark the cut */
                memcpy(buf + x, cells[c], w - 1);
                buf[x + w - 1] = '~';
                x += widths[c];
                continue;
            }
        }
        memcpy(buf + x, cells[c], len);
        x += widths[c];
    }
}

static void paint_list(struct tui_dash *d, int top_y, int bottom_y, int cols) {
    struct tui_list *l = &d->lists[d->screen];
    struct tui_table *t = l->table;
    int y = top_y;
    char line[512];
    if (!t) {
        puts_at(y, 1, "loading...", cols);
        return;
    }
    if (t->screen == TUI_SCREEN_POOL) {
        if (t->info)
            puts_at(y++, 1, t->info, cols);
        for (size_t i = 0; i < t->n_gauges && y < bottom_y; i++)
            paint_gauge(d, y++, &t->gauges[i], cols);
    }
    /* The summary: counts, filter and sort. */
    char sort[96] = "";
    if (l->sort_col >= 0)
        snprintf(sort, sizeof(sort), "  sort: %s%s", t->cols[l->sort_col].title,
                 l->reverse ? " (reversed)" : "");
    else if (l->reverse)
        snprintf(sort, sizeof(sort), "  sort: reversed");
    snprintf(line, sizeof(line), "%s: %zu of %zu%s%s%s%s", tui_screen_title(d->screen), l->n,
             t->nrows, l->filter[0] ? "  filter: " : "", l->filter, l->filter[0] ? "" : "", sort);
    attrset(A_BOLD);
    puts_at(y++, 1, line, cols);
    attrset(A_NORMAL);
    if (y >= bottom_y)
        return;

    int widths[TUI_COLS_MAX];
    int w = cols - 1 < (int)sizeof(line) - 1 ? cols - 1 : (int)sizeof(line) - 1;
    tui_layout(t, w, widths);
    const char *titles[TUI_COLS_MAX];
    char sorted_title[64];
    for (size_t c = 0; c < t->ncols; c++) {
        titles[c] = t->cols[c].title;
        if ((int)c == l->sort_col) {
            snprintf(sorted_title, sizeof(sorted_title), "%s%s", t->cols[c].title,
                     l->reverse ? "v" : "^");
            titles[c] = sorted_title;
        }
    }
    int lw = w + 1 < (int)sizeof(line) ? w + 1 : (int)sizeof(line) - 1;
    row_text(t, titles, widths, line, lw);
    attrset(d->color ? COLOR_PAIR(PAIR_CYAN) | A_BOLD : A_BOLD | A_UNDERLINE);
    put(y++, 0, line, (size_t)lw, cols);
    attrset(A_NORMAL);

    size_t height = bottom_y > y ? (size_t)(bottom_y - y) : 0;
    d->list_height = height ? height : 1;
    tui_list_scroll(l, d->list_height);
    if (l->n == 0) {
        attrset(A_DIM);
        puts_at(y, 1, l->filter[0] ? "(nothing matches the filter; Esc clears it)" : "(none)",
                cols);
        attrset(A_NORMAL);
        return;
    }
    for (size_t i = l->top; i < l->n && y < bottom_y; i++, y++) {
        const struct tui_row *row = &t->rows[l->order[i]];
        row_text(t, row->cells, widths, line, lw);
        attr_t a = tone_attr(d, row->tone);
        if (i == l->sel)
            a = (a & ~A_DIM) | A_REVERSE;
        attrset(a);
        put(y, 0, line, (size_t)lw, cols);
        if (i == l->sel)
            fill(y, lw, cols);
        attrset(A_NORMAL);
    }
}

static void paint_text(struct tui_dash *d, int rows, int cols) {
    struct tui_text *t = &d->text;
    attrset(A_REVERSE);
    fill(0, 0, cols);
    char title[256];
    snprintf(title, sizeof(title), " %s%s", t->title,
             d->text_is_log && t->follow ? " (following)" : "");
    puts_at(0, 0, title, cols);
    attrset(A_NORMAL);
    size_t height = rows > 2 ? (size_t)(rows - 2) : 1;
    d->text_height = height;
    if (t->follow)
        tui_text_end(t, height);
    for (size_t i = 0; i < height; i++) {
        size_t len;
        const char *s = tui_text_line(t, t->top + i, &len);
        /* Control characters (a console's escapes) would move the cursor: show them as '.'. */
        char buf[512];
        size_t n = len < sizeof(buf) ? len : sizeof(buf);
        for (size_t k = 0; k < n; k++)
            buf[k] = (s[k] >= 0x20 && s[k] != 0x7f) || s[k] == '\t' || (unsigned char)s[k] >= 0x80
                         ? (s[k] == '\t' ? ' ' : s[k])
                         : '.';
        put((int)i + 1, 0, buf, n, cols);
    }
    size_t count = t->nlines && t->lines[t->nlines - 1] == t->buf.len ? t->nlines - 1 : t->nlines;
    char hint[160];
    snprintf(hint, sizeof(hint),
             " q/Esc back   Up/Down/PgUp/PgDn/Home/End scroll   lines %zu-%zu of %zu",
             count ? t->top + 1 : 0, t->top + height < count ? t->top + height : count, count);
    attrset(A_DIM);
    puts_at(rows - 1, 0, hint, cols);
    attrset(A_NORMAL);
}

static void paint_form(struct tui_dash *d, int rows, int cols) {
    int w = cols - 4 < 64 ? cols - 4 : 64;
    int h = TUI_FORM_FIELDS + 6;
    int y0 = (rows - h) / 2 > 1 ? (rows - h) / 2 : 1;
    int x0 = (cols - w) / 2 > 0 ? (cols - w) / 2 : 0;
    if (w < 20)
        return;
    for (int y = y0; y < y0 + h && y < rows; y++)
        fill(y, x0, x0 + w);
    attrset(A_BOLD);
    mvhline(y0, x0, ACS_HLINE, w);
    mvhline(y0 + h - 1, x0, ACS_HLINE, w);
    mvvline(y0, x0, ACS_VLINE, h);
    mvvline(y0, x0 + w - 1, ACS_VLINE, h);
    mvaddch(y0, x0, ACS_ULCORNER);
    mvaddch(y0, x0 + w - 1, ACS_URCORNER);
    mvaddch(y0 + h - 1, x0, ACS_LLCORNER);
    mvaddch(y0 + h - 1, x0 + w - 1, ACS_LRCORNER);
    char line[640];
    snprintf(line, sizeof(line), " Run a VM from %s ", d->form.image);
    puts_at(y0, x0 + 2, line, x0 + w - 1);
    attrset(A_NORMAL);
    for (int f = 0; f < TUI_FORM_FIELDS; f++) {
        int y = y0 + 2 + f;
        snprintf(line, sizeof(line), "%-10s", tui_form_label(f));
        int x = puts_at(y, x0 + 2, line, x0 + w - 1);
        attrset(f == d->form.field ? A_REVERSE : A_UNDERLINE);
        int fw = x0 + w - 2 - x - 1;
        fill(y, x + 1, x + 1 + fw);
        const char *v = d->form.values[f];
        size_t len = strlen(v);
        const char *shown = len > (size_t)fw - 1 ? v + len - (size_t)(fw - 1) : v;
        if (f == TUI_FORM_NAME && !*v && f != d->form.field)
            shown = "(generated)";
        else if (f == TUI_FORM_KERNEL && !*v && f != d->form.field)
            shown = "(the newest imported)";
        puts_at(y, x + 1, shown, x + 1 + fw);
        attrset(A_NORMAL);
    }
    if (d->form.error[0]) {
        attrset(tone_attr(d, TUI_TONE_ERROR));
        puts_at(y0 + h - 3, x0 + 2, d->form.error, x0 + w - 1);
        attrset(A_NORMAL);
    }
    attrset(A_DIM);
    puts_at(y0 + h - 2, x0 + 2, "Enter run   Tab next field   Esc cancel", x0 + w - 1);
    attrset(A_NORMAL);
}

static void paint_bottom(struct tui_dash *d, int rows, int cols) {
    /* Status line: the worker's progress. */
    attrset(A_REVERSE);
    fill(rows - 2, 0, cols);
    char line[1100];
    if (d->status[0])
        snprintf(line, sizeof(line), " working: %s", d->status);
    else
        snprintf(line, sizeof(line), " %s", engine_root(d->e));
    puts_at(rows - 2, 0, line, cols);
    attrset(A_NORMAL);

    if (d->mode == TUI_MODE_FILTER) {
        snprintf(line, sizeof(line), "/%s", d->lists[d->screen].filter);
        int x = puts_at(rows - 1, 0, line, cols);
        attrset(A_DIM);
        puts_at(rows - 1, x + 2, "(Enter keep, Esc clear)", cols);
        attrset(A_NORMAL);
        return;
    }
    if (d->mode == TUI_MODE_CONFIRM) {
        attrset(A_BOLD);
        puts_at(rows - 1, 0, d->confirm, cols);
        attrset(A_NORMAL);
        return;
    }
    if (d->message[0]) {
        attrset(d->message_error ? tone_attr(d, TUI_TONE_ERROR) : A_NORMAL);
        puts_at(rows - 1, 0, d->message, cols);
        attrset(A_NORMAL);
        return;
    }
    attrset(A_DIM);
    /* Help and quit first: a narrow terminal cuts the end of the line. */
    if (d->opts->readonly)
        puts_at(rows - 1, 0,
                "? help  q quit  read-only  / filter  </> sort  R reverse  d describe  l logs",
                cols);
    else
        puts_at(rows - 1, 0,
                "? help  q quit  / filter  </> sort  d describe  l logs  s start  S stop  K kill"
                "  r run  ^D delete  a attach",
                cols);
    attrset(A_NORMAL);
}

void tui_view_paint(struct tui_dash *d) {
    int rows, cols;
    getmaxyx(stdscr, rows, cols);
    erase();
    if (rows < 6 || cols < 20) {
        puts_at(0, 0, "the terminal is too small", cols);
        refresh();
        return;
    }
    if (d->mode == TUI_MODE_TEXT) {
        paint_text(d, rows, cols);
        refresh();
        return;
    }
    paint_tabs(d, cols);
    paint_list(d, 1, rows - 2, cols);
    if (d->mode == TUI_MODE_FORM)
        paint_form(d, rows, cols);
    paint_bottom(d, rows, cols);
    refresh();
}
