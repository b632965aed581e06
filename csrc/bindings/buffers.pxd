# Inline helpers for bindings that take raw buffers (PyObject_GetBuffer)
# instead of typed memoryviews: cimported by _loss.pyx and _plan.pyx.

cdef inline char buffer_kind(const Py_buffer *b) noexcept:
    """The struct character of a one-item format ('f', 'd', 'q', ...), past a
    native / little-endian prefix; 0 for anything else."""
    cdef const char *f = b.format
    if f == NULL:
        return 0
    if f[0] == b'@' or f[0] == b'=' or f[0] == b'<':
        f += 1
    return f[0] if f[0] != 0 and f[1] == 0 else 0
