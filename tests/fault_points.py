#!/usr/bin/env python3
"""Every fault point in src/ has a crash test that really kills a process there.

    fault_points.py SRC_DIR FIRED_LOG

Reads the names of the fault points from the C sources under SRC_DIR: each
fault_point(...) call whose argument is string literals (a ?: choice between
literals is fine) names its points. A name built from a format ("vm.%s.after-x"
in the call, or in the few lines before it that build the argument) is a
pattern that at least one fired name must match. Any other argument cannot be
checked and fails here, saying where. The engine's operation helpers
engine_op_intent and engine_op_commit fire the point their caller names:
their fault argument (string literals, or NULL) names points like a
fault_point call, and their own fault_point(fault) is the pass-through
that is no point itself. FIRED_LOG is the file that fault_point appends its
name to when it fires (HEARTH_FAULT_LOG): ctest empties it before the crash
tests (fault_points_reset) and runs this after them (ctest fixture
fault_log). Each point in src/ that never fired, and each fired name that is
not in src/, is a failure. Prints "N passed, M failed"; exits 1 on a failure.
"""
import os
import re
import sys


def strip_comments(text):
    """The C text with comments blanked out (newlines kept), strings intact."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == '"' or c == "'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            i = j + 1
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append("".join(ch if ch == "\n" else " " for ch in text[i:j]))
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def call_argument(text, start):
    """The text between the parenthesis at start and its match."""
    depth, i = 0, start
    while i < len(text):
        c = text[i]
        if c == '"':
            i += 1
            while i < len(text) and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return text[start + 1:i]
        i += 1
    return text[start + 1:]


def literal_choice(expr):
    """Whether expr (string literals replaced by L) is L, or COND ? L : <the same>."""
    expr = expr.strip()
    while expr.startswith("(") and expr.endswith(")"):
        expr = expr[1:-1].strip()
    if expr == "L":
        return True
    m = re.match(r"^[^?]*\?\s*L\s*:(.*)$", expr, re.S)
    return bool(m) and literal_choice(m.group(1))


FORMAT_LINES = 6  # how far before a call the format of a built name may be

NAME = re.compile(r"^[a-z0-9_-]+(\.[a-z0-9_-]+)+$")
STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')
CALL = re.compile(r"(?<![A-Za-z0-9_])fault_point\s*\(")
# Helpers that take a fault point's name from their caller, and which argument it is.
HELPERS = {"engine_op_intent": 4, "engine_op_commit": 4}
HELPER_CALL = re.compile(r"(?<![A-Za-z0-9_])(" + "|".join(HELPERS) + r")\s*\(")
PASS_THROUGH = "fault"  # the helpers' parameter, handed to fault_point


def split_arguments(arg):
    """The top-level comma-separated arguments of a call's argument text."""
    parts, depth, cur, i = [], 0, [], 0
    while i < len(arg):
        c = arg[i]
        if c == '"':
            j = i + 1
            while j < len(arg) and arg[j] != '"':
                j += 2 if arg[j] == "\\" else 1
            cur.append(arg[i:j + 1])
            i = j + 1
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        if c == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(c)
        i += 1
    parts.append("".join(cur))
    return [p.strip() for p in parts]


def helper_points(text, path, src, points, problems):
    """The points named at calls of HELPERS in text (a file's, comments blanked)."""
    for m in HELPER_CALL.finditer(text):
        line_start = text.rfind("\n", 0, m.start()) + 1
        if re.search(r"\b(int|void)\s+$", text[line_start:m.start()]):
            continue  # the declaration or definition
        where = "%s:%d" % (os.path.relpath(path, os.path.dirname(src)),
                           text.count("\n", 0, m.start()) + 1)
        args = split_arguments(call_argument(text, m.end() - 1))
        index = HELPERS[m.group(1)]
        fault = args[index] if index < len(args) else ""
        if fault == "NULL":
            continue
        if not literal_choice(STRING.sub(" L ", fault)):
            problems.append("%s: %s(): its fault point is neither string literals nor NULL"
                            % (where, m.group(1)))
            continue
        for name in STRING.findall(fault):
            if not NAME.match(name):
                problems.append("%s: fault point '%s' is not a dotted lowercase name"
                                % (where, name))
            points.setdefault(name, where)
DECL = re.compile(r"\bvoid\s+$")


def points_in(src):
    """{name: "file:line"} of the fault points, and the problems found."""
    points, problems = {}, []
    for top, dirs, files in os.walk(src):
        dirs.sort()
        for f in sorted(files):
            if not f.endswith((".c", ".h")):
                continue
            path = os.path.join(top, f)
            with open(path, encoding="utf-8") as fh:
                text = strip_comments(fh.read())
            helper_points(text, path, src, points, problems)
            for m in CALL.finditer(text):
                line_start = text.rfind("\n", 0, m.start()) + 1
                if DECL.search(text[line_start:m.start()]):
                    continue  # the declaration or definition of fault_point itself
                where = "%s:%d" % (os.path.relpath(path, os.path.dirname(src)),
                                   text.count("\n", 0, m.start()) + 1)
                arg = call_argument(text, m.end() - 1)
                if arg.strip() == PASS_THROUGH:
                    continue  # a helper's: its callers name the points
                names = STRING.findall(arg)
                if not literal_choice(STRING.sub(" L ", arg)):
                    # A name built from a format: the formats in the call or just before it.
                    before = text[:m.start()].splitlines()[-FORMAT_LINES:]
                    names = [f for f in STRING.findall(arg + "\n".join(before)) if "%" in f]
                    if not names:
                        problems.append("%s: fault_point(%s): the name is neither string literals "
                                        "nor built from a format nearby, so no check can tell "
                                        "which crash test covers it"
                                        % (where, " ".join(arg.split())))
                        continue
                for name in names:
                    if "%" in name:
                        points.setdefault(name, where)
                    elif not NAME.match(name):
                        problems.append("%s: fault point '%s' is not a dotted lowercase name"
                                        % (where, name))
                    points.setdefault(name, where)
    return points, problems


def main():
    if len(sys.argv) != 3:
        sys.stderr.write("usage: fault_points.py SRC_DIR FIRED_LOG\n")
        return 2
    src, log = sys.argv[1], sys.argv[2]
    points, problems = points_in(os.path.abspath(src))
    fired = set()
    if os.path.exists(log):
        with open(log, encoding="utf-8") as fh:
            fired = {line.strip() for line in fh if line.strip()}
    if not fired:
        problems.append("no fault point fired in this run (%s is empty): the crash tests did "
                        "not run; run this check with them (ctest -R 'engine|fault_points')" % log)
    passed, matched = 0, set()
    for name in sorted(points):
        if "%" in name:
            pattern = re.compile("^" + re.sub(r"%[-0-9.]*(?:l|ll|z|j)?[sdiux]", "[^.]+",
                                              re.escape(name).replace(r"\%", "%")) + "$")
            hits = {f for f in fired if pattern.match(f)}
            matched |= hits
            if hits:
                passed += 1
            else:
                problems.append("%s: no fault point built from '%s' fired under a crash test"
                                % (points[name], name))
        elif name in fired:
            passed += 1
        else:
            problems.append("%s: fault point '%s' has no crash test that killed a process "
                            "there (add one: tests/engine/image_test.c shows how)"
                            % (points[name], name))
    for name in sorted(fired - set(points) - matched):
        problems.append("fault point '%s' fired but is not in %s" % (name, src))
    for p in problems:
        print("FAIL: " + p)
    print("%d fault points in %s, %d of them fired under a crash test" % (len(points), src, passed))
    print("%d passed, %d failed" % (passed, len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
