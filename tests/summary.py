#!/usr/bin/env python3
"""The end of scripts/test: what was skipped and why, what failed, the totals.

    summary.py NAME=JUNIT_XML...

Each argument is one build's ctest run (ctest --output-junit). Prints each
skipped test with the "SKIP: why" lines of its output, each failed test, and
closes with "suite: N passed, N failed, N skipped" over all the runs. Exits
1 when a test failed or a report is missing, and, with CI=true, also when a
test was skipped (a CI run must run everything); else 0.
"""
import os
import sys
import xml.etree.ElementTree as ET


def main():
    runs = []
    for arg in sys.argv[1:]:
        name, sep, path = arg.partition("=")
        if not sep:
            sys.stderr.write("usage: summary.py NAME=JUNIT_XML...\n")
            return 2
        runs.append((name, path))
    if not runs:
        sys.stderr.write("usage: summary.py NAME=JUNIT_XML...\n")
        return 2

    passed, failed, skipped = 0, [], []
    broken = False
    for name, path in runs:
        try:
            cases = ET.parse(path).getroot().iter("testcase")
        except (OSError, ET.ParseError) as e:
            print("%s: no test report (%s): ctest did not finish" % (name, e))
            broken = True
            continue
        for case in cases:
            test = case.get("name")
            out = case.findtext("system-out") or ""
            if case.find("skipped") is not None or case.get("status") == "notrun":
                reasons = [l[len("SKIP:"):].strip() for l in out.splitlines()
                           if l.startswith("SKIP:")]
                skipped.append((name, test, reasons or ["(it printed no SKIP: line)"]))
            elif case.find("failure") is not None or case.get("status") == "fail":
                failed.append((name, test))
            else:
                passed += 1

    if skipped:
        print("== skipped tests, and why")
        for name, test, reasons in skipped:
            for r in reasons:
                print("%s: %s: %s" % (name, test, r))
    if failed:
        print("== failed tests")
        for name, test in failed:
            print("%s: %s" % (name, test))
    status = 1 if failed or broken else 0
    if skipped and os.environ.get("CI") == "true":
        print("CI=true: a skipped test fails the run (every test must run in CI)")
        status = 1
    print("suite: %d passed, %d failed, %d skipped" % (passed, len(failed), len(skipped)))
    return status


if __name__ == "__main__":
    sys.exit(main())
