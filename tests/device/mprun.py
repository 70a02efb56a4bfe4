# Runs one device test module on MicroPython: every test_* function, one result line each.
# Used by tests/device/conftest.py; the same modules also run under pytest on CPython.
import gc
import sys


def main(name):
    mod = __import__(name)
    names = sorted(n for n in dir(mod) if n.startswith("test_"))
    for n in names:
        fn = getattr(mod, n)
        gc.collect()
        try:
            fn()
            print("@@RESULT", n, "PASS")
        except Exception as e:  # report and go on: one failure must not hide the others
            print("@@TRACE", n)
            sys.print_exception(e, sys.stdout)
            print("@@RESULT", n, "FAIL")


main(sys.argv[1])
