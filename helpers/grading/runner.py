"""The cell runner that executes one submission INSIDE the sandbox (standard library only).

Started by `execute.py` as ``python -s -B runner.py REQUEST_FD REPLY_FD TIMEOUT 1 PATH`` in the
bubblewrap sandbox. It executes code cells that the trusted parent process sends one at
a time over the request pipe, in notebook order, and answers each with one reply line on
the reply pipe. The tests' source therefore never exists on the sandbox's filesystem: a
test cell arrives only when the notebook reaches it, after the student cells above it
have finished.

Request: ``<nonce> <kind> <index> <nbytes>\\n`` then ``nbytes`` of UTF-8 source, where
kind is ``student`` (the student's code), ``locked`` (instructor code, e.g. imports),
``test`` (an autograded test cell) or ``references`` (sent once, before the cells: the
dotted names of the kit's functions that solve a task of the lab, one per line). Reply: ``<nonce> <index> <status> <lineno> <threads> <ename>
<evalue>\\n`` with status ``ok`` or ``error``, ``ename``/``evalue`` hex-encoded UTF-8,
``lineno`` the failing line of the cell (0 if unknown) and ``threads`` the number of
Python threads alive when the cell started. A fresh random nonce per cell
ties each reply to its request, so text a student prints (stdout is never read for
grading) or writes cannot pass for a result.

Before every test cell the runner undoes what earlier student code may have done to the
machinery tests rely on:
- ``builtins`` gets back every name it had at start (``print``, ``AssertionError``, ...);
- ``sys.exit``, ``os._exit``, ``sys.stdout``/``stderr``, the exception hooks and the
  timeout signal handler are reset;
- names bound by instructor cells (``torch``, ``F``, ``data``, ...) are rebound to the
  objects the instructor's cells created, and attributes of already imported modules and
  of their classes (``torch.isclose``, ``torch.Tensor.__eq__``) are restored;
- random generators (``random``, NumPy, PyTorch) are reseeded from the cell index, so
  grades do not depend on how much randomness student code consumed.
After every cell, stray processes (forked by student code) are killed, and a copy of the
runner that is not the original process exits instead of answering.

While a test cell runs, a profile hook records calls into the lab's reference functions.
A call counts against the student when the nearest notebook cell on the call stack is a
student cell (the student's function delegating to the kit); a test cell calling the
reference itself, to compare, is fine. Such a test cell fails with ``ReferenceUsed``.
Student code that removes the hook fails the cell as ``TamperingSuspected``.

What this cannot stop: student code runs in the same process as the tests (tests call
it), so code written against this runner's internals -- walking its stack frames or
reading its pipes from a thread while a test runs -- could forge a reply. `execute.py`
flags such submissions for review (background threads at test time, replies that do
not match their request).
"""

import builtins
import os
import signal
import sys

SEED = 0
IMMUTABLE_TYPE = 1 << 8  # Py_TPFLAGS_IMMUTABLETYPE: attributes cannot be set


class CellTimeoutError(Exception):
    """A cell ran longer than the per-cell time limit."""


def _snapshot_modules(modules):
    """``{(module, attribute owner): dict copy}`` of every loaded module and its classes."""
    import warnings
    saved = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # reading deprecated module attributes warns
        for module in list(modules.values()):
            _snapshot_one(module, saved)
    return saved


def _snapshot_one(module, saved):
    """Add ``module`` and the classes it defines to ``saved`` (see `_snapshot_modules`)."""
    try:
        namespace = vars(module)
    except TypeError:
        return
    saved[id(module)] = (module, dict(namespace))
    for value in list(namespace.values()):
        # Classes implemented in C (int, torch._C types) cannot be patched: skip them.
        if isinstance(value, type) and id(value) not in saved and \
                not value.__flags__ & IMMUTABLE_TYPE:
            try:
                saved[id(value)] = (value, dict(vars(value)))
            except TypeError:
                pass


def _unchanged(current, attributes, _missing=object()):
    """Whether a namespace still holds exactly ``attributes`` (same objects, no extra
    names). A C-level scan: most of the thousands of namespaces never change, and this
    check runs before every test cell."""
    import itertools
    import operator
    return len(current) == len(attributes) and not any(map(
        operator.is_not, map(current.get, attributes, itertools.repeat(_missing)),
        attributes.values()))


def _restore_attributes(saved):
    """Put back attributes changed since `_snapshot_modules`; on classes, also remove the
    ones added since (a patched ``torch.Tensor.__gt__``). Returns how many changed."""
    changed = 0
    for owner, attributes in saved.values():
        current = vars(owner)
        if _unchanged(current, attributes):
            continue
        for name, value in attributes.items():
            if current.get(name, _restore_attributes) is not value:
                try:
                    setattr(owner, name, value)
                    changed += 1
                except (AttributeError, TypeError):
                    pass
        if isinstance(owner, type):
            for name in [n for n in current if n not in attributes]:
                try:
                    delattr(owner, name)
                    changed += 1
                except (AttributeError, TypeError):
                    pass
    return changed


def _reseed(index):
    """Seed the random generators a test may use, from the cell index."""
    import random
    random.seed(SEED + index)
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed(SEED + index)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(SEED + index)


def _reap():
    """Collect the runner's killed child processes (else they stay as zombies)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _resolve_references(text):
    """``{code object: dotted name}`` of the functions named in ``text`` (one per line).
    A class stands for the functions it defines; decorated functions are unwrapped."""
    import importlib
    import inspect
    codes = {}
    for name in text.split():
        module_name, _, attribute = name.rpartition(".")
        target = getattr(importlib.import_module(module_name), attribute)
        members = vars(target).values() if isinstance(target, type) else [target]
        for member in members:
            member = inspect.unwrap(member) if callable(member) else member
            code = getattr(member, "__code__", None)
            if code is not None:
                codes[code] = name
    return codes


def _reference_behind(value, references):
    """The reference function ``value`` is, or wraps (a partial, a bound method, a
    decorated function), else None."""
    import functools
    import inspect
    for _ in range(10):
        if isinstance(value, functools.partial):
            value = value.func
        elif hasattr(value, "__func__"):
            value = value.__func__
        else:
            break
    try:
        value = inspect.unwrap(value)
    except ValueError:
        return None
    return references.get(getattr(value, "__code__", None))


def _mark_delegates(namespace, student_names, references, _compile, _exec):
    """A name a student cell bound to a reference itself (``fgsm = attacks.fgsm``, or a
    partial of it) is wrapped in a function compiled as part of that student cell, so
    that a test calling it is seen calling the reference from student code."""
    for name, index in student_names.items():
        value = namespace.get(name)
        if _reference_behind(value, references) is None:
            continue
        scope = {"target": value}
        _exec(_compile("def delegate(*args, **kwargs):\n    return target(*args, **kwargs)\n",
                       f"<cell {index}>", "exec"), scope)
        namespace[name] = scope["delegate"]


def _display(*objects, **_):
    """Stand-in for IPython's ``display`` (cells run as plain Python): prints the objects."""
    for item in objects:
        print(repr(item))


def serve(request_fd, reply_fd, timeout, kill_strays=True, _read=os.read, _write=os.write,
          _getpid=os.getpid, _kill=os.kill, _exit=os._exit, _exec=exec, _compile=compile,
          _frames=sys._current_frames, _setprofile=sys.setprofile,
          _getprofile=sys.getprofile):
    """Execute requested cells until the request pipe closes. Captured defaults: student
    code that replaces ``os.write`` or ``exec`` does not change what the runner calls."""
    me = _getpid()
    pristine_builtins = dict(vars(builtins))
    pristine_sys = {name: getattr(sys, name) for name in
                    ("exit", "stdout", "stderr", "excepthook", "displayhook")}
    os_exit = os._exit
    namespace = {"__name__": "__main__", "__builtins__": builtins, "display": _display}
    instructor_names = {}
    module_snapshot = None
    buffer = b""
    references, student_cells, student_names, used = {}, set(), {}, []

    def watch(frame, event, arg):
        if event == "call" and frame.f_code in references and not used:
            caller = frame.f_back
            while caller is not None and not caller.f_code.co_filename.startswith("<cell "):
                caller = caller.f_back
            if caller is not None and caller.f_code.co_filename in student_cells:
                used.append(references[frame.f_code])

    def on_alarm(signum, frame):
        raise CellTimeoutError(f"the cell ran longer than {timeout:g} s")

    def read_exactly(count):
        nonlocal buffer
        while len(buffer) < count:
            chunk = _read(request_fd, 1 << 16)
            if not chunk:
                _exit(0)
            buffer += chunk
        data, buffer = buffer[:count], buffer[count:]
        return data

    def read_line():
        nonlocal buffer
        while b"\n" not in buffer:
            chunk = _read(request_fd, 1 << 16)
            if not chunk:
                _exit(0)
            buffer += chunk
        line, buffer = buffer.split(b"\n", 1)
        return line.decode()

    def restore_machinery():
        for name in ("stdout", "stderr"):  # the runner leaves with os._exit: flush now
            try:
                pristine_sys[name].flush()
            except (OSError, ValueError):
                pass
        d = vars(builtins)
        for name in [n for n in d if n not in pristine_builtins]:
            del d[name]
        d.update(pristine_builtins)
        for name, value in pristine_sys.items():
            setattr(sys, name, value)
        os._exit = os_exit
        namespace["__builtins__"] = builtins
        signal.signal(signal.SIGALRM, on_alarm)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGALRM])

    while True:
        nonce, kind, index, nbytes = read_line().split()
        index = int(index)
        source = read_exactly(int(nbytes)).decode("utf-8")
        filename = f"<cell {index}>"
        restore_machinery()
        if kind == "references":
            status, ename, evalue = "ok", "", ""
            try:
                references = _resolve_references(source)
            except Exception as error:  # noqa: BLE001 -- reported to the instructor
                status, ename, evalue = "error", "ReferenceNotFound", f"{source!r}: {error}"[:500]
            _write(reply_fd, (f"{nonce} {index} {status} 0 1 {ename.encode().hex() or '-'} "
                              f"{evalue.encode().hex() or '-'}\n").encode())
            continue
        if kind == "student":
            student_cells.add(filename)
        if kind == "student" and module_snapshot is None:
            module_snapshot = _snapshot_modules(sys.modules)  # before any student code runs
        if kind == "test":
            namespace.update(instructor_names)
            if module_snapshot is not None:
                _restore_attributes(module_snapshot)
            _reseed(index)
        status, lineno, ename, evalue = "ok", 0, "", ""
        threads = len(_frames())
        before = dict(namespace)
        if kind == "test" and references:
            _mark_delegates(namespace, student_names, references, _compile, _exec)
        watching = kind == "test" and bool(references)
        used.clear()
        signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            if watching:
                _setprofile(watch)
            _exec(_compile(source, filename, "exec"), namespace)
        except BaseException as error:  # noqa: BLE001 -- every failure is a result
            signal.setitimer(signal.ITIMER_REAL, 0)
            status, ename = "error", type(error).__name__
            try:
                evalue = str(error)[:500]
            except BaseException:  # noqa: BLE001 -- a hostile __str__
                evalue = "(unprintable)"
            trace = error.__traceback__
            while trace is not None:
                if trace.tb_frame.f_code.co_filename == filename:
                    lineno = trace.tb_lineno
                trace = trace.tb_next
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            hook = _getprofile()
            _setprofile(None)
        if watching and hook is not watch:
            status, lineno, ename = "error", 0, "TamperingSuspected"
            evalue = "the grader's call monitor was switched off during this test"
        elif used:
            status, lineno, ename = "error", 0, "ReferenceUsed"
            evalue = (f"your code called the kit's {used[0]}, which does this task for you; "
                      "write it yourself (tests during which your code calls the kit's "
                      "version score 0)")
        del source
        restore_machinery()
        if _getpid() != me:  # a forked copy of the runner: never answer
            _exit(0)
        if kill_strays:  # only in the sandbox's own PID namespace: kill(-1) means "all"
            try:
                _kill(-1, signal.SIGKILL)
            except OSError:
                pass
            _reap()
        bound = instructor_names if kind != "student" else student_names
        for name, value in namespace.items():  # remember who bound what
            if before.get(name, before) is not value:
                bound[name] = value if kind != "student" else index
        reply = (f"{nonce} {index} {status} {lineno} {threads} {ename.encode().hex() or '-'} "
                 f"{evalue.encode('utf-8', 'replace').hex() or '-'}\n").encode()
        _write(reply_fd, reply)


def main():
    """``runner.py REQUEST_FD REPLY_FD TIMEOUT SANDBOXED [PATH ...]``: serve until the
    request pipe closes. SANDBOXED=1 means the runner has its own PID namespace."""
    request_fd, reply_fd, timeout = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    in_sandbox = sys.argv[4] == "1"
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = sys.argv[5:] + [p for p in sys.path if p != here]  # + where `helpers` is
    os.set_inheritable(request_fd, False)
    os.set_inheritable(reply_fd, False)
    sys.stdin = open(os.devnull)
    serve(request_fd, reply_fd, timeout, kill_strays=in_sandbox)


if __name__ == "__main__":
    main()
