#!/usr/bin/env bash
# The completion scripts (`hearth completion bash|zsh|fish`) in real shells:
# bash's function driven directly (COMP_WORDS as bash sets them) and in an
# interactive bash in tmux (where bash splits words at : and =), zsh in tmux
# with the script autoloaded from $fpath as Debian installs it, and fish with
# `complete -C`. Commands, subcommands, flags, flag values, and VM, image and
# kernel names from the root (--root, --root=, HEARTH_ROOT), which completing
# never creates. Every command of `hearth --help` is offered. Prints
# "N passed, M failed".
set -u

. "$(dirname "$0")/lib/assert.sh"

for sh in tmux zsh fish; do
    command -v "$sh" >/dev/null || {
        bad "$sh is not installed (scripts/install-deps installs it)"
        finish
        exit 1
    }
done

# The scripts complete the command `hearth`: put the built binary on PATH as that.
mkdir -p "$TMP/bin" "$TMP/home"
ln -s "$HEARTH" "$TMP/bin/hearth"
export PATH="$TMP/bin:$PATH" HOME="$TMP/home" XDG_CONFIG_HOME="$TMP/home/.config" \
    XDG_DATA_HOME="$TMP/home/.local/share"
unset HEARTH_ROOT
check "apply" 0 h apply -f "$HEARTH_SRC/examples/all.yaml" # web-1, db-1, an image, a kernel
for sh in bash zsh fish; do
    check "completion $sh" 0 hearth completion "$sh"
    printf '%s\n' "$OUT" >"$TMP/hearth.$sh"
done
check "completion of another shell" 2 hearth completion tcsh
expect "another shell" "$ERR" "unknown shell 'tcsh' (use bash, zsh or fish)"
check "bash syntax" 0 bash -n "$TMP/hearth.bash"
check "zsh syntax" 0 zsh -n "$TMP/hearth.zsh"
check "fish syntax" 0 fish -n "$TMP/hearth.fish"

# ---- names: hearth __complete ---------------------------------------------------
check "__complete vm" 0 h __complete vm
equal "vm names" "$OUT" "$(printf 'db-1\nweb-1')"
check "__complete image" 0 h __complete image
equal "image names" "$OUT" "weaveworks/ignite-ubuntu:latest"
check "__complete in no root" 0 hearth --root "$TMP/none" __complete vm
equal "no names" "$OUT$ERR" ""
[ -e "$TMP/none" ] && bad "completing created the root" || ok
check "__complete of another kind" 2 h __complete pool

# ---- bash, the function itself -------------------------------------------------
# bcomp LINE: what _hearth offers at the end of LINE, sorted, one per line.
bcomp() {
    bash -c '
        source "$1"
        COMP_LINE=$2
        COMP_POINT=${#2}
        read -ra COMP_WORDS <<<"$2"
        [[ $2 == *" " ]] && COMP_WORDS+=("")
        COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
        _hearth
        printf "%s\n" "${COMPREPLY[@]}" | sort' _ "$TMP/hearth.bash" "$1"
}
check "complete -p" 0 bash -c 'source "$1"; complete -p hearth' _ "$TMP/hearth.bash"
equal "registered" "$OUT" "complete -F _hearth hearth"
B=$(bcomp "hearth ")
for c in $(hearth --help | sed -n '/^Commands:/,/^$/p' | awk 'NR > 1 && NF { print $1 }' | sort -u); do
    expect "bash offers $c" "$B" "$c"
done
expect "bash offers groups" "$B" "vms"
equal "bash: p" "$(bcomp "hearth p")" "$(printf 'pool\nps')"
equal "bash: vm l" "$(bcomp "hearth vm l")" "$(printf 'list\nlogs\nls')"
equal "bash: vms st" "$(bcomp "hearth vms st")" "$(printf 'start\nstop')"
equal "bash: ps -" "$(bcomp "hearth ps -" | grep -c .)" "15"
expect "bash: run flags" "$(bcomp "hearth run --")" "--kernel-image"
expect "bash: run -n" "$(bcomp "hearth run -")" "-n"
expect "bash: run -s" "$(bcomp "hearth run -")" "-s"
equal "bash: -o values" "$(bcomp "hearth ps -o ")" "$(printf 'csv\njson\ntable\nwide\nyaml')"
equal "bash: --output=" "$(bcomp "hearth image ls --output=y")" "--output=yaml"
equal "bash: version -o" "$(bcomp "hearth version -o s")" "short"
equal "bash: --log-level" "$(bcomp "hearth --log-level d")" "debug"
equal "bash: rm names" "$(bcomp "hearth --root $ROOT rm ")" "$(printf 'db-1\nweb-1')"
equal "bash: --root= names" "$(bcomp "hearth --root=$ROOT vm stop w")" "web-1"
equal "bash: root after the command" "$(bcomp "hearth logs --root $ROOT d")" "db-1"
equal "bash: HEARTH_ROOT" "$(HEARTH_ROOT=$ROOT bcomp "hearth attach ")" "$(printf 'db-1\nweb-1')"
equal "bash: image names" "$(bcomp "hearth --root $ROOT create ")" "weaveworks/ignite-ubuntu:latest"
equal "bash: kernel names" "$(bcomp "hearth --root $ROOT run -k ")" "weaveworks/ignite-kernel:4.19.47"
equal "bash: inspect kinds" "$(bcomp "hearth inspect ")" "$(printf 'image\nkernel\nvm')"
equal "bash: inspect names" "$(bcomp "hearth --root $ROOT inspect kernels w")" "weaveworks/ignite-kernel:4.19.47"
equal "bash: group default's flags" "$(bcomp "hearth vm --al")" "--all"
equal "bash: help" "$(bcomp "hearth help vm ru")" "run"
equal "bash: completion" "$(bcomp "hearth completion ")" "$(printf 'bash\nfish\nzsh')"
equal "bash: export" "$(bcomp "hearth export p")" "pool"
equal "bash: files" "$(cd "$TMP" && bcomp "hearth apply -f hearth.b")" "hearth.bash"
equal "bash: no names in no root" "$(bcomp "hearth --root $TMP/none rm ")" ""
[ -e "$TMP/none" ] && bad "bash completion created the root" || ok

# ---- bash and zsh, interactive in tmux -----------------------------------------
SOCK="hearth-completion-test-$$"
T() { tmux -L "$SOCK" "$@"; }
trap 'T kill-server 2>/dev/null; tmp_cleanup' EXIT
# line SESSION: the last line of the screen.
line() { T capture-pane -t "$1" -p | grep -v '^$' | tail -1; }
# typed SESSION NAME TEXT WANT: types TEXT and Tab; the line becomes WANT (polled).
typed() {
    local end=$(($(date +%s) + 15)) got
    T send-keys -t "$1" -l "$3"
    T send-keys -t "$1" Tab
    while [ "$(date +%s)" -le "$end" ]; do
        got=$(line "$1")
        [ "$got" = "$4" ] && break
        sleep 0.1
    done
    equal "$1: $2" "$got" "$4"
    T send-keys -t "$1" C-u C-l
    sleep 0.2
}
# ready SESSION PROMPT: waits for the shell's prompt.
ready() {
    local end=$(($(date +%s) + 15))
    while [ "$(date +%s)" -le "$end" ]; do
        [ "$(line "$1")" = "$2" ] && return 0
        sleep 0.1
    done
    bad "$1: no prompt: $(line "$1")"
}

T new-session -d -s bash -x 200 -y 20 "env PS1='$ ' bash --norc --noprofile"
T send-keys -t bash "source $TMP/hearth.bash; clear" Enter
ready bash '$'
typed bash "name with a colon" "hearth --root $ROOT rmi weaveworks/ignite-ubuntu:l" \
    "$ hearth --root $ROOT rmi weaveworks/ignite-ubuntu:latest"
typed bash "value after =" "hearth ps --output=j" "$ hearth ps --output=json"
typed bash "vm name" "hearth --root=$ROOT inspect vm w" "$ hearth --root=$ROOT inspect vm web-1"
typed bash "subcommand" "hearth kernel im" "$ hearth kernel import"

mkdir -p "$TMP/zfunc"
cp "$TMP/hearth.zsh" "$TMP/zfunc/_hearth"
T new-session -d -s zsh -x 200 -y 20 "zsh -f"
T send-keys -t zsh "PS1='%% '; fpath=($TMP/zfunc \$fpath); autoload -U compinit; compinit -u -D; clear" Enter
ready zsh '%'
typed zsh "name with a colon" "hearth --root $ROOT rmi weaveworks/ignite-ubuntu:l" \
    "% hearth --root $ROOT rmi weaveworks/ignite-ubuntu:latest"
typed zsh "value after =" "hearth ps --output=j" "% hearth ps --output=json"
typed zsh "vm name" "hearth --root=$ROOT inspect vm w" "% hearth --root=$ROOT inspect vm web-1"
typed zsh "subcommand" "hearth kernel im" "% hearth kernel import"
typed zsh "kernel flag" "hearth run --kernel-i" "% hearth run --kernel-image"
typed zsh "kernel name" "hearth --root $ROOT run -k w" \
    "% hearth --root $ROOT run -k weaveworks/ignite-kernel:4.19.47"
T send-keys -t zsh "export HEARTH_ROOT=$ROOT; clear" Enter
ready zsh '%'
typed zsh "HEARTH_ROOT" "hearth logs d" "% hearth logs db-1"
T send-keys -t zsh "unset HEARTH_ROOT; clear" Enter
ready zsh '%'
# A list with descriptions: Tab twice on a group.
T send-keys -t zsh -l "hearth vm "
T send-keys -t zsh Tab
sleep 1
expect "zsh: subcommands described" "$(T capture-pane -t zsh -p)" "-- Remove VMs"

# ---- fish ------------------------------------------------------------------------
fcomp() { fish -c 'source $argv[1]; complete -C$argv[2]' "$TMP/hearth.fish" "$1" | cut -f1 | sort; }
F=$(fcomp "hearth ")
for c in apply dash ps rmi vm vms images version completion help; do
    expect "fish offers $c" "$F" "$c"
done
equal "fish: vm l" "$(fcomp "hearth vm l")" "$(printf 'list\nlogs\nls')"
expect "fish: flags described" "$(fish -c 'source $argv[1]; complete -C"hearth ps -"' "$TMP/hearth.fish")" \
    "$(printf -- '-a\tshow all VMs, not only running ones')"
equal "fish: -o values" "$(fcomp "hearth ps -o ")" "$(printf 'csv\njson\ntable\nwide\nyaml')"
equal "fish: --output=" "$(fcomp "hearth ps --output=j")" "--output=json"
equal "fish: names" "$(fcomp "hearth --root $ROOT rm ")" "$(printf 'db-1\nweb-1')"
equal "fish: --root= names" "$(fcomp "hearth --root=$ROOT vm start w")" "web-1"
equal "fish: image with a colon" "$(fcomp "hearth --root $ROOT rmi weaveworks/ignite-ubuntu:l")" \
    "weaveworks/ignite-ubuntu:latest"
equal "fish: kernel names" "$(fcomp "hearth --root $ROOT run --kernel-image ")" \
    "weaveworks/ignite-kernel:4.19.47"
equal "fish: inspect" "$(fcomp "hearth --root $ROOT inspect image ")" "weaveworks/ignite-ubuntu:latest"
equal "fish: HEARTH_ROOT" "$(HEARTH_ROOT=$ROOT fcomp "hearth attach ")" "$(printf 'db-1\nweb-1')"
equal "fish: help" "$(fcomp "hearth help image i")" "$(printf 'import\ninspect')"
equal "fish: no names in no root" "$(fcomp "hearth --root $TMP/none kill ")" ""
[ -e "$TMP/none" ] && bad "fish completion created the root" || ok

finish
