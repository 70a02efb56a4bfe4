"""CPython stand-in for MicroPython's `@micropython.native` decorator.

On the tag, `@micropython.native` is a compiler directive: the function becomes machine
code (about twice as fast for the parser's byte loops) and the name is never looked up.
Modules shared with CPython import this when `import micropython` fails, so there the
decorator returns the function unchanged.
"""


class micropython:  # noqa: N801  (stands in for the module of that name)
    @staticmethod
    def native(f):
        return f
