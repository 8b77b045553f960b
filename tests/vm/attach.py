#!/usr/bin/env python3
"""attach.py: drives `hearth attach` through a pseudo-terminal, as a user would.

  attach.py [--send LINE] [--expect TEXT] [--timeout S] [--stay S] -- CMD...

Runs CMD (e.g. `hearth --root R attach VM`) on a new pty, waits for its first
output, types LINE and Enter (when given), waits until TEXT (when given)
appears in what CMD prints, waits --stay seconds more, then types ^P^Q and
waits for CMD to end. Prints everything CMD printed. Exits 0 when TEXT was
seen and CMD exited 0 after ^P^Q; 1 otherwise, saying why on stderr.
"""
import os
import pty
import select
import sys
import time


def main():
    args = sys.argv[1:]
    send, expect, timeout, stay = None, None, 60.0, 0.0
    while args and args[0] != "--":
        opt = args.pop(0)
        if not args:
            sys.exit("attach.py: %s needs a value" % opt)
        val = args.pop(0)
        if opt == "--send":
            send = val
        elif opt == "--expect":
            expect = val
        elif opt == "--timeout":
            timeout = float(val)
        elif opt == "--stay":
            stay = float(val)
        else:
            sys.exit("attach.py: unknown option %s" % opt)
    if not args or args[0] != "--" or len(args) < 2:
        sys.exit(__doc__)
    cmd = args[1:]

    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(cmd[0], cmd)
    out = b""
    eof = False

    def read_for(seconds, until=None):
        nonlocal out, eof
        end = time.monotonic() + seconds
        while not eof and time.monotonic() < end:
            if until is not None and until in out:
                return True
            r, _, _ = select.select([fd], [], [], max(0.0, min(0.2, end - time.monotonic())))
            if r:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    data = b""
                if not data:
                    eof = True
                out += data
        return until is not None and until in out

    ok = True
    read_for(timeout, until=b"\n")  # the "attached" line
    if send is not None:
        time.sleep(0.5)
        os.write(fd, send.encode() + b"\r")
    if expect is not None and not read_for(timeout, until=expect.encode()):
        sys.stderr.write("attach.py: %r not seen within %.0f s\n" % (expect, timeout))
        ok = False
    read_for(stay)
    if not eof:
        os.write(fd, b"\x10\x11")
    read_for(timeout)
    if not eof:
        sys.stderr.write("attach.py: the command did not end after ^P^Q\n")
        os.kill(pid, 9)
        ok = False
    _, status = os.waitpid(pid, 0)
    sys.stdout.write(out.decode(errors="replace"))
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
        pass
    else:
        sys.stderr.write("attach.py: the command ended with status %d\n" % status)
        ok = False
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
