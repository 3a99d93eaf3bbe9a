/* A read-only shared mapping of a file that may shrink under us, without SIGBUS.
 *
 * QEMU hands its display surfaces over as memfds with no seals (only F_SEAL_SEAL), so
 * it can ftruncate one after we mapped it; reading a mapped page past the file's new
 * end then raises SIGBUS, in C code (numpy's conversion, the GL upload) where Python
 * cannot catch it, and the whole shell dies.  This is what libwayland-server does for
 * wl_shm pools: a SIGBUS handler that, for an address inside a guarded mapping, puts
 * private zero pages over the rest of that mapping and returns, so the interrupted read
 * finishes (reading zeros) and the mapping is marked as faulted for Python to report.
 * A SIGBUS anywhere else goes to the handler that was there before (faulthandler's,
 * say) or kills the process as it always would.
 *
 * Mappings are registered in a fixed table the handler reads without locks; the table
 * is written only with the GIL held, so writers never race each other.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#define SLOTS 1024 /* guarded mappings alive at once: one per VM screen */

typedef struct {
    _Atomic uintptr_t start; /* 0: a free slot */
    _Atomic uintptr_t end;
    atomic_int faulted;
} Slot;

static Slot slots[SLOTS];
static struct sigaction previous;
static int installed;
static uintptr_t page_size;

static void on_sigbus(int sig, siginfo_t *info, void *context) {
    uintptr_t address = (uintptr_t)info->si_addr;
    for (int i = 0; i < SLOTS; i++) {
        uintptr_t start = atomic_load(&slots[i].start);
        uintptr_t end = atomic_load(&slots[i].end);
        if (start == 0 || address < start || address >= end)
            continue;
        /* Every page from the faulting one on lies past the file's end: replace them all. */
        uintptr_t page = address & ~(page_size - 1);
        if (mmap((void *)page, end - page, PROT_READ, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) ==
            MAP_FAILED)
            break;
        atomic_store(&slots[i].faulted, 1);
        return;
    }
    if (previous.sa_flags & SA_SIGINFO) {
        if (previous.sa_sigaction != NULL) {
            previous.sa_sigaction(sig, info, context);
            return;
        }
    } else if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
        previous.sa_handler(sig);
        return;
    }
    /* Not ours and no handler before us: returning re-runs the access, which now kills. */
    signal(sig, SIG_DFL);
}

static int install(void) {
    if (installed)
        return 0;
    struct sigaction action = {0};
    action.sa_sigaction = on_sigbus;
    action.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&action.sa_mask);
    if (sigaction(SIGBUS, &action, &previous) != 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    installed = 1;
    return 0;
}

typedef struct {
    PyObject_HEAD
    char *base;
    size_t length;  /* what the caller asked for */
    size_t mapped;  /* rounded up to pages */
    int slot;       /* -1: closed */
    Py_ssize_t exports;
} GuardedMap;

static void unmap(GuardedMap *self) {
    if (self->slot < 0)
        return;
    atomic_store(&slots[self->slot].start, 0); /* the handler forgets it before the pages go */
    atomic_store(&slots[self->slot].end, 0);
    atomic_store(&slots[self->slot].faulted, 0);
    munmap(self->base, self->mapped);
    self->slot = -1;
    self->base = NULL;
}

static PyObject *GuardedMap_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    static char *keywords[] = {"fd", "length", NULL};
    int fd;
    Py_ssize_t length;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "in:GuardedMap", keywords, &fd, &length))
        return NULL;
    if (length <= 0) {
        PyErr_SetString(PyExc_ValueError, "a guarded mapping needs a positive length");
        return NULL;
    }
    if (install() != 0)
        return NULL;
    int slot = -1;
    for (int i = 0; i < SLOTS; i++) {
        if (atomic_load(&slots[i].start) == 0) {
            slot = i;
            break;
        }
    }
    if (slot < 0) {
        PyErr_Format(PyExc_OSError, "more than %d guarded mappings at once", SLOTS);
        return NULL;
    }
    size_t mapped = ((size_t)length + page_size - 1) & ~(page_size - 1);
    void *base = mmap(NULL, mapped, PROT_READ, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED)
        return PyErr_SetFromErrno(PyExc_OSError);
    GuardedMap *self = (GuardedMap *)type->tp_alloc(type, 0);
    if (self == NULL) {
        munmap(base, mapped);
        return NULL;
    }
    self->base = base;
    self->length = (size_t)length;
    self->mapped = mapped;
    self->slot = slot;
    self->exports = 0;
    atomic_store(&slots[slot].faulted, 0);
    atomic_store(&slots[slot].end, (uintptr_t)base + mapped);
    atomic_store(&slots[slot].start, (uintptr_t)base);
    return (PyObject *)self;
}

static void GuardedMap_dealloc(GuardedMap *self) {
    unmap(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *GuardedMap_close(GuardedMap *self, PyObject *Py_UNUSED(ignored)) {
    if (self->exports > 0) {
        PyErr_SetString(PyExc_BufferError, "the guarded mapping is still viewed");
        return NULL;
    }
    unmap(self);
    Py_RETURN_NONE;
}

static PyObject *GuardedMap_faulted(GuardedMap *self, void *Py_UNUSED(closure)) {
    return PyBool_FromLong(self->slot >= 0 && atomic_load(&slots[self->slot].faulted));
}

static int GuardedMap_getbuffer(GuardedMap *self, Py_buffer *view, int flags) {
    if (self->slot < 0) {
        PyErr_SetString(PyExc_ValueError, "the guarded mapping is closed");
        return -1;
    }
    if (PyBuffer_FillInfo(view, (PyObject *)self, self->base, (Py_ssize_t)self->length, 1, flags) != 0)
        return -1;
    self->exports++;
    return 0;
}

static void GuardedMap_releasebuffer(GuardedMap *self, Py_buffer *Py_UNUSED(view)) {
    self->exports--;
}

static PyBufferProcs GuardedMap_as_buffer = {
    .bf_getbuffer = (getbufferproc)GuardedMap_getbuffer,
    .bf_releasebuffer = (releasebufferproc)GuardedMap_releasebuffer,
};

static PyMethodDef GuardedMap_methods[] = {
    {"close", (PyCFunction)GuardedMap_close, METH_NOARGS,
     "Unmap now (BufferError while a view of it lives); later faults in its pages are no longer ours."},
    {NULL},
};

static PyGetSetDef GuardedMap_getset[] = {
    {"faulted", (getter)GuardedMap_faulted, NULL,
     "True once a read hit a page past the file's end (those pages now read as zeros).", NULL},
    {NULL},
};

static PyTypeObject GuardedMapType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "geometry_os.plugins.qemu._guarded_map.GuardedMap",
    .tp_doc = "GuardedMap(fd, length): a read-only shared mapping of fd's first length bytes "
              "that reads zeros instead of raising SIGBUS when the file shrinks under it.",
    .tp_basicsize = sizeof(GuardedMap),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = GuardedMap_new,
    .tp_dealloc = (destructor)GuardedMap_dealloc,
    .tp_as_buffer = &GuardedMap_as_buffer,
    .tp_methods = GuardedMap_methods,
    .tp_getset = GuardedMap_getset,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "geometry_os.plugins.qemu._guarded_map",
    .m_doc = "Shared mappings that survive their file shrinking (see the comment at the top of the C file).",
    .m_size = -1,
};

PyMODINIT_FUNC PyInit__guarded_map(void) {
    page_size = (uintptr_t)sysconf(_SC_PAGESIZE);
    if (PyType_Ready(&GuardedMapType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&GuardedMapType);
    if (PyModule_AddObject(m, "GuardedMap", (PyObject *)&GuardedMapType) < 0) {
        Py_DECREF(&GuardedMapType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
