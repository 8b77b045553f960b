/*
 * The dashboard's keys: one table maps every key of the list screens to an
 * action and says what it does, so that the dispatcher and the `?` help
 * overlay cannot disagree. Keys that change state are marked; --readonly
 * refuses them.
 */
#include <curses.h>
#include <string.h>

#include "tui/tui_priv.h"

#define CTRL(c) ((c)&0x1f)

const struct tui_key tui_keys[] = {
    {{KEY_UP, 'k'}, "Up / k", TUI_ACT_UP, "move up", false},
    {{KEY_DOWN, 'j'}, "Down / j", TUI_ACT_DOWN, "move down", false},
    {{KEY_PPAGE, CTRL('b')}, "PgUp / ^B", TUI_ACT_PAGE_UP, "one page up", false},
    {{KEY_NPAGE, CTRL('f'), ' '}, "PgDn / ^F / Space", TUI_ACT_PAGE_DOWN, "one page down", false},
    {{KEY_HOME, 'g'}, "Home / g", TUI_ACT_HOME, "first row", false},
    {{KEY_END, 'G'}, "End / G", TUI_ACT_END, "last row", false},
    {{'\t'}, "Tab", TUI_ACT_NEXT_SCREEN, "next screen", false},
    {{KEY_BTAB}, "Shift-Tab", TUI_ACT_PREV_SCREEN, "previous screen", false},
    {{'1'}, "1", TUI_ACT_SCREEN_1, "VMs", false},
    {{'2'}, "2", TUI_ACT_SCREEN_2, "Images", false},
    {{'3'}, "3", TUI_ACT_SCREEN_3, "Kernels", false},
    {{'4'}, "4", TUI_ACT_SCREEN_4, "Pool", false},
    {{'5'}, "5", TUI_ACT_SCREEN_5, "Operations", false},
    {{'/'}, "/", TUI_ACT_FILTER, "filter by a substring of any column (Enter keeps it)", false},
    {{27}, "Esc", TUI_ACT_CLEAR, "clear the filter", false},
    {{'<'}, "<", TUI_ACT_SORT_PREV, "sort by the column to the left", false},
    {{'>'}, ">", TUI_ACT_SORT_NEXT, "sort by the column to the right", false},
    {{'R'}, "R", TUI_ACT_REVERSE, "reverse the sort", false},
    {{'\n', KEY_ENTER, 'd'},
     "Enter / d",
     TUI_ACT_DESCRIBE,
     "describe the selection as YAML",
     false},
    {{'l'}, "l", TUI_ACT_LOGS, "the VM's console log, following it", false},
    {{'s'}, "s", TUI_ACT_START, "start the VM", true},
    {{'S'}, "S", TUI_ACT_STOP, "stop the VM (killed after 20 s)", true},
    {{'K'}, "K", TUI_ACT_KILL, "kill the VM", true},
    {{'r'}, "r", TUI_ACT_RUN, "run a new VM from the selected image (a form)", true},
    {{CTRL('d')}, "Ctrl-D", TUI_ACT_DELETE, "delete the VM, image or kernel (asks y/N)", true},
    {{'a'}, "a", TUI_ACT_ATTACH, "attach to the VM's console (detach with ^P^Q)", true},
    {{CTRL('l')}, "Ctrl-L", TUI_ACT_REFRESH, "reload and redraw", false},
    {{'?'}, "?", TUI_ACT_HELP, "this help", false},
    {{'q'}, "q", TUI_ACT_QUIT, "quit", false},
};
const size_t tui_n_keys = ARRAY_SIZE(tui_keys);

enum tui_action tui_key_action(int ch, const struct tui_key **ret_key) {
    for (size_t i = 0; i < tui_n_keys; i++)
        for (size_t k = 0; k < ARRAY_SIZE(tui_keys[i].codes) && tui_keys[i].codes[k]; k++)
            if (tui_keys[i].codes[k] == ch) {
                if (ret_key)
                    *ret_key = &tui_keys[i];
                return tui_keys[i].action;
            }
    if (ret_key)
        *ret_key = NULL;
    return TUI_ACT_NONE;
}

int tui_help_text(bool readonly, struct strbuf *out) {
    int r = strbuf_adds(out, readonly ? "Keys (read-only: actions that change state are off)\n\n"
                                      : "Keys\n\n");
    for (size_t i = 0; i < tui_n_keys && r == 0; i++)
        r = strbuf_addf(out, "  %-20s %s%s\n", tui_keys[i].label, tui_keys[i].help,
                        readonly && tui_keys[i].changes ? " (read-only: off)" : "");
    if (r == 0)
        r = strbuf_adds(out,
                        "\nDescribe, logs and this help\n\n"
                        "  Up/Down/j/k, PgUp/PgDn, Home/End   scroll (End follows a log)\n"
                        "  q / Esc                            back to the list\n"
                        "\nFilter (after /)\n\n"
                        "  text, Backspace                    edit; the list follows as you type\n"
                        "  Enter                              keep the filter\n"
                        "  Esc                                clear it\n"
                        "\nRun form (after r)\n\n"
                        "  Tab / Down, Shift-Tab / Up         next, previous field\n"
                        "  Enter                              create and start the VM\n"
                        "  Esc                                cancel\n"
                        "\nColours: Running green, Stopped and Created dim, Creating, Starting,\n"
                        "Stopping and Removing yellow, failed operations and errors red.\n"
                        "NO_COLOR (set to anything) turns colours off.\n");
    return r;
}
