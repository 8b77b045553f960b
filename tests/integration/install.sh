#!/usr/bin/env bash
# `cmake --install` of this build ($HEARTH_BUILD) into a temporary prefix:
# the binary in bin, hearth(1) in share/man/man1, the completion scripts where
# Debian's bash-completion, zsh and fish look for them. The page is what
# `hearth __man` writes, renders with man -l, groff -ww and mandoc -Tlint
# without a warning, and names every command and flag of the table; the
# installed scripts are what `hearth completion SHELL` prints. Prints
# "N passed, M failed".
set -u

. "$(dirname "$0")/lib/assert.sh"

BUILD=${HEARTH_BUILD:-$(dirname "$HEARTH")}
[ -f "$BUILD/CMakeCache.txt" ] || {
    bad "no build directory at '$BUILD' (set HEARTH_BUILD)"
    finish
    exit 1
}
P="$TMP/prefix"
check "cmake --install" 0 cmake --install "$BUILD" --prefix "$P"

BIN="$P/bin/hearth"
MAN="$P/share/man/man1/hearth.1"
BASH_C="$P/share/bash-completion/completions/hearth"
ZSH_C="$P/share/zsh/vendor-completions/_hearth"
FISH_C="$P/share/fish/vendor_completions.d/hearth.fish"
for f in "$BIN" "$MAN" "$BASH_C" "$ZSH_C" "$FISH_C"; do
    [ -s "$f" ] && ok || bad "not installed: ${f#"$P"/}"
done
[ -x "$BIN" ] && ok || bad "bin/hearth is not executable"
check "installed binary runs" 0 "$BIN" version -o short
equal "installed version" "$OUT" "$("$HEARTH" version -o short)"

# The scripts are the binary's.
for sh in bash zsh fish; do
    case $sh in bash) f=$BASH_C ;; zsh) f=$ZSH_C ;; fish) f=$FISH_C ;; esac
    if cmp -s "$f" <("$HEARTH" completion "$sh"); then ok; else bad "installed $sh script differs"; fi
done

# The page is the binary's (but for the date of the .TH line).
if diff <(grep -v '^\.TH ' "$MAN") <("$HEARTH" __man | grep -v '^\.TH ') >/dev/null; then ok; else
    bad "installed hearth.1 differs from 'hearth __man'"
fi
expect "TH line" "$(grep '^\.TH ' "$MAN")" ".TH HEARTH 1 "
check "man date from SOURCE_DATE_EPOCH" 0 env SOURCE_DATE_EPOCH=86400 "$HEARTH" __man
expect "man date" "$(grep '^\.TH ' <<<"$OUT")" ".TH HEARTH 1 1970-01-02 "

# Renders without a warning.
check "mandoc -Tlint" 0 mandoc -Tlint "$MAN"
equal "mandoc quiet" "$OUT$ERR" ""
check "groff -ww" 0 groff -man -Tutf8 -ww -z "$MAN"
equal "groff quiet" "$ERR" ""
check "man -l" 0 env MANWIDTH=80 man -l "$MAN"
equal "man quiet" "$ERR" ""
expect "page rendered" "$OUT" "GLOBAL OPTIONS"
# Every command and alias of `hearth --help`, and every flag of each command, is
# on the page: its text without font escapes, lines joined.
PAGE=$(sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' -e 's/\\&//g' -e 's/\\e/\\/g' "$MAN" | tr '\n' ' ')
expect "page name" "$PAGE" "hearth - run microVMs from OCI images"
"$HEARTH" --help | sed -n '/^Commands:/,/^$/p' | awk -F '  +' 'NF > 2 { print $2 }' >"$TMP/commands"
[ "$(wc -l <"$TMP/commands")" -gt 20 ] && ok || bad "too few commands read from --help"
while read -r c; do
    expect "page has hearth $c" "$PAGE" "hearth $c"
    # shellcheck disable=SC2086
    for fl in $("$HEARTH" $c --help | grep -oE '^  (-[a-z], )?--[a-z-]+' | grep -oE -- '--[a-z-]+'); do
        expect "page has $c $fl" "$PAGE" "$fl"
    done
    # shellcheck disable=SC2086
    for a in $("$HEARTH" $c --help | sed -n "s/^Also: //p" | grep -oE "'hearth [a-z ]+'" | tr -d "'" | sed 's/ /_/g'); do
        expect "page has alias ${a//_/ }" "$PAGE" "${a//_/ }"
    done
done <"$TMP/commands"

finish
