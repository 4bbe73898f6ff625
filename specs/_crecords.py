"""The whole-record step check in C: the same instances as :mod:`rmqueue.specs._records`.

Generated once per ``max_order`` as a CPython extension module, compiled with the system C
compiler and cached on disk (:mod:`rmqueue.specs._cbuild`).  The formula instances are the
Python evaluator's folded expressions, printed as C by :mod:`rmqueue.specs._c`; the
surrounding bookkeeping (decoding the record's lists, netting repeated entries, the
``pages_conserved`` multiset comparison, summing the count deltas, advancing the shadow) is
the same algorithm as in :mod:`rmqueue.specs._records`, in C.

``check(state, rec)`` returns True (every instance holds; the checker's shadow advanced) or
False (touching nothing): the general path then checks the record and names the failure.
Records the C code does not decide itself also return False: a failed allocation and a drain
(their predicates read list emptiness, which the caller evaluates first), a malformed entry.
The C source never reads anything but the record, the zone's per-page arrays and counters,
and the shadow lists it is given.
"""

from __future__ import annotations

from rmqueue.model.types import MIGRATE_PCPTYPES, MIGRATE_TYPES

from . import transitions as T
from ._c import py_to_c
from ._codegen import PY_OPS, PyTerm
from ._fold import fold
from ._records import (
    IN_ZONE,
    _delta_names,
    _EntryPage,
    _group,
    _ldc,
    _OnFreeList,
    _OnPcpList,
    _own_reads,
    _page,
    _post_names,
    vm_items,
)


def _c(src_used: tuple[str, list[str]], names: dict[str, str] | None = None) -> str:
    """A folded Python expression (with the entry's own reads already turned into the
    locals lo/bo/ao/cm) as C."""
    return py_to_c(src_used[0], names)


def _delta_c(key: object) -> str | None:
    return _delta_names(key, "c")


def _post_c(key: object) -> str | None:
    return _post_names(key, "c")


def c_source(max_order: int) -> str:
    """The C source of the extension module for ``max_order``."""
    mo = max_order
    nt, np_ = MIGRATE_TYPES, MIGRATE_PCPTYPES
    items = vm_items(mo)
    plain = _EntryPage(mo)
    ldc_fd = py_to_c(fold(f"not ({_ldc(plain, 'free', -1)[0]})"))
    ldc_pd = py_to_c(fold(f"not ({_ldc(plain, 'pcp', -1)[0]})"))
    ldc_fa = _c(_ldc(plain, "free", 1))
    ldc_pa = _c(_ldc(plain, "pcp", 1))
    touched = _c(_page(plain, 0))
    fa_fact = _c(_page(_OnFreeList(mo), 1 | 2))
    fa_plain = _c(_page(plain, 1 | 2))
    pa_fact = _c(_page(_OnPcpList(mo), 1 | 4))
    pa_plain = _c(_page(plain, 1 | 4))
    op_known = IN_ZONE | {"0 <= k", f"k < {mo}"}
    alloc_ok = _c(_own_reads(fold(T.alloc_result_valid(
        PY_OPS, plain, PyTerm("p"), PyTerm("k")).s, op_known)))
    alloc_page = _c(_page(plain, 1, op_known))
    free_ok = _c(_own_reads(fold(T.free_result_valid(
        PY_OPS, plain, PyTerm("p"), PyTerm("k")).s, op_known)))
    free_page = _c(_page(plain, 0, op_known))
    order_chk = py_to_c(_group(mo, "order", "o", _delta_c))
    cpu_chk = py_to_c(_group(mo, "cpu", "cpu", _delta_c))
    zone_chk = py_to_c(_group(mo, "zone", 0, _delta_c))
    post_chk = py_to_c(_group(mo, "post", 0, _post_c))
    vm_decl = "".join(f"    long long v{i}, d{i};\n" for i in items)
    vm_read = "".join(
        f"    if (!get_ll(PyList_GET_ITEM(st->vm_stat, {i}), &v{i}) || "
        f"!get_ll(PyList_GET_ITEM(st->sv, {i}), &d{i})) goto fail;\n"
        f"    d{i} = v{i} - d{i};\n" for i in items)
    nvm_min = max(items) + 1
    return _TEMPLATE.format(
        MO=mo, NT=nt, NP=np_, NVM_MIN=nvm_min, LDC_FD=ldc_fd, LDC_PD=ldc_pd, LDC_FA=ldc_fa,
        LDC_PA=ldc_pa, TOUCHED=touched, FA_FACT=fa_fact, FA_PLAIN=fa_plain, PA_FACT=pa_fact,
        PA_PLAIN=pa_plain, ALLOC_OK=alloc_ok, ALLOC_PAGE=alloc_page, FREE_OK=free_ok,
        FREE_PAGE=free_page, ORDER_CHK=order_chk, CPU_CHK=cpu_chk, ZONE_CHK=zone_chk,
        POST_CHK=post_chk, VM_DECL=vm_decl, VM_READ=vm_read,
    ).replace("{{", "{").replace("}}", "}")


# The module.  Doubled braces are C braces (the template goes through str.format, then
# the doubled braces that remain are undoubled).
_TEMPLATE = r"""
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdlib.h>
#include <string.h>

#define MO {MO}
#define NT {NT}
#define NP {NP}

typedef struct {{
    Py_buffer blo, bbo, bao, bcm, bpb;
    const short *LO_;
    const signed char *BO_, *AO_, *CM_, *PB_;
    long long N, S0, SE, NFL, NCPU, ZP, ABI, NPB, PBO, PB0;
    PyObject *free_area, *pageset, *vm_stat, *snf, *spc, *sv, *zone;
}} St;

static PyObject *s_free_del, *s_free_add, *s_pcp_del, *s_pcp_add, *s_pfn, *s_order, *s_cpu,
    *s_op, *s_nr_free, *s_count, *s_fair, *s_alloc, *s_free;

static inline long long shl_(long long a, long long b, int *bad) {{
    if (b < 0 || b > 62) {{ *bad = 1; return 0; }}
    return (long long)((unsigned long long)a << b);
}}
static inline long long shr_(long long a, long long b, int *bad) {{
    if (b < 0 || b > 62) {{ *bad = 1; return 0; }}
    return a >> b;
}}
static inline long long fdiv_(long long a, long long b) {{
    long long q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) q -= 1;
    return q;
}}
static inline long long fmod_(long long a, long long b) {{
    long long r = a % b;
    if (r != 0 && ((r < 0) != (b < 0))) r += b;
    return r;
}}
#define SHL(a, b) shl_((a), (b), &bad)
#define SHR(a, b) shr_((a), (b), &bad)
#define FDIV(a, b) fdiv_((a), (b))
#define FMOD(a, b) fmod_((a), (b))
#define IDX(x) ((unsigned long long)(x) < (unsigned long long)N)
#define RLO(x) (IDX(x) ? (long long)LO_[(x)] : (bad = 1, 0LL))
#define RBO(x) (IDX(x) ? (long long)BO_[(x)] : (bad = 1, 0LL))
#define RAO(x) (IDX(x) ? (long long)AO_[(x)] : (bad = 1, 0LL))
#define RCM(x) (IDX(x) ? (long long)CM_[(x)] : (bad = 1, 0LL))
#define RPB(x) ((unsigned long long)(x) < (unsigned long long)NPB ? (long long)PB_[(x)] \
                : (bad = 1, 0LL))

static int get_ll(PyObject *o, long long *out) {{
    if (!PyLong_Check(o)) return 0;
    int overflow = 0;
    *out = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (overflow || (*out == -1 && PyErr_Occurred())) {{ PyErr_Clear(); return 0; }}
    return 1;
}}

static int get3(PyObject *t, long long *a, long long *b, long long *c) {{
    if (!PyTuple_Check(t) || PyTuple_GET_SIZE(t) != 3) return 0;
    return get_ll(PyTuple_GET_ITEM(t, 0), a) && get_ll(PyTuple_GET_ITEM(t, 1), b)
        && get_ll(PyTuple_GET_ITEM(t, 2), c);
}}

static int attr_ll(PyObject *obj, PyObject *name, long long *out) {{
    PyObject *v = PyObject_GetAttr(obj, name);
    if (v == NULL) {{ PyErr_Clear(); return 0; }}
    int ok = get_ll(v, out);
    Py_DECREF(v);
    return ok;
}}

static int cmp_ll(const void *x, const void *y) {{
    long long a = *(const long long *)x, b = *(const long long *)y;
    return (a > b) - (a < b);
}}

static void sort_ll(long long *a, Py_ssize_t n) {{
    if (n < 2) return;
    if (n <= 16) {{
        for (Py_ssize_t i = 1; i < n; i++) {{
            long long v = a[i];
            Py_ssize_t j = i;
            while (j > 0 && a[j - 1] > v) {{ a[j] = a[j - 1]; j--; }}
            a[j] = v;
        }}
        return;
    }}
    qsort(a, (size_t)n, sizeof(long long), cmp_ll);
}}

static int has_dup(const long long *sorted, Py_ssize_t n) {{
    for (Py_ssize_t i = 1; i < n; i++) if (sorted[i] == sorted[i - 1]) return 1;
    return 0;
}}

static int in_sorted(const long long *a, Py_ssize_t n, long long key) {{
    Py_ssize_t lo = 0, hi = n;
    while (lo < hi) {{
        Py_ssize_t mid = (lo + hi) / 2;
        if (a[mid] < key) lo = mid + 1; else hi = mid;
    }}
    return lo < n && a[lo] == key;
}}

static void st_free(PyObject *cap) {{
    St *st = (St *)PyCapsule_GetPointer(cap, "rmqueue.St");
    if (st == NULL) return;
    PyBuffer_Release(&st->blo); PyBuffer_Release(&st->bbo);
    PyBuffer_Release(&st->bao); PyBuffer_Release(&st->bcm); PyBuffer_Release(&st->bpb);
    Py_XDECREF(st->free_area); Py_XDECREF(st->pageset); Py_XDECREF(st->vm_stat);
    Py_XDECREF(st->snf); Py_XDECREF(st->spc); Py_XDECREF(st->sv); Py_XDECREF(st->zone);
    PyMem_Free(st);
}}

static int get_buf(PyObject *arr, Py_buffer *b, const char *fmt, Py_ssize_t n) {{
    if (PyObject_GetBuffer(arr, b, PyBUF_FORMAT | PyBUF_C_CONTIGUOUS) < 0) return 0;
    if (b->format == NULL || strcmp(b->format, fmt) != 0
            || (n >= 0 && b->len / b->itemsize != n)) {{
        PyBuffer_Release(b);
        PyErr_Format(PyExc_TypeError, "page array of format %s and %zd pages expected",
                     fmt, n);
        return 0;
    }}
    return 1;
}}

/* make(list_of, buddy_order, alloc_order, cached_mt, pageblock_mt, S0, SE, NFL, NCPU, ZP,
        ABI, PBO, free_area, pageset, vm_stat, snf, spc, sv, zone) -> capsule */
static PyObject *make(PyObject *self, PyObject *args) {{
    PyObject *lo, *bo, *ao, *cm, *pb, *fa, *ps, *vm, *snf, *spc, *sv, *zone;
    long long S0, SE, NFL, NCPU, ZP, ABI, PBO;
    if (!PyArg_ParseTuple(args, "OOOOOLLLLLLLO!O!O!O!O!O!O", &lo, &bo, &ao, &cm, &pb, &S0,
                          &SE, &NFL, &NCPU, &ZP, &ABI, &PBO, &PyList_Type, &fa,
                          &PyList_Type, &ps, &PyList_Type, &vm, &PyList_Type, &snf,
                          &PyList_Type, &spc, &PyList_Type, &sv, &zone))
        return NULL;
    if (PyList_GET_SIZE(fa) != MO || PyList_GET_SIZE(snf) != MO
            || PyList_GET_SIZE(ps) != NCPU || PyList_GET_SIZE(spc) != NCPU
            || PyList_GET_SIZE(vm) < {NVM_MIN} || PyList_GET_SIZE(sv) != PyList_GET_SIZE(vm)
            || NCPU < 1 || NCPU >= (1 << 18) || SE <= S0 || PBO < 0 || PBO > 62) {{
        PyErr_SetString(PyExc_ValueError, "zone geometry does not match this module");
        return NULL;
    }}
    St *st = PyMem_Calloc(1, sizeof(St));
    if (st == NULL) return PyErr_NoMemory();
    Py_ssize_t n = (Py_ssize_t)(SE - S0);
    if (!get_buf(lo, &st->blo, "h", n)) goto err0;
    if (!get_buf(bo, &st->bbo, "b", n)) goto err1;
    if (!get_buf(ao, &st->bao, "b", n)) goto err2;
    if (!get_buf(cm, &st->bcm, "b", n)) goto err3;
    /* the pageblock types, indexed by pageblock number minus the first one's */
    if (!get_buf(pb, &st->bpb, "b", -1)) goto err4;
    Py_ssize_t npb = st->bpb.len;
    st->LO_ = st->blo.buf; st->BO_ = st->bbo.buf; st->AO_ = st->bao.buf; st->CM_ = st->bcm.buf;
    st->PB_ = st->bpb.buf; st->NPB = npb; st->PBO = PBO; st->PB0 = S0 >> PBO;
    st->N = n; st->S0 = S0; st->SE = SE; st->NFL = NFL; st->NCPU = NCPU; st->ZP = ZP;
    st->ABI = ABI;
    Py_INCREF(fa); st->free_area = fa; Py_INCREF(ps); st->pageset = ps;
    Py_INCREF(vm); st->vm_stat = vm; Py_INCREF(snf); st->snf = snf;
    Py_INCREF(spc); st->spc = spc; Py_INCREF(sv); st->sv = sv;
    Py_INCREF(zone); st->zone = zone;
    PyObject *cap = PyCapsule_New(st, "rmqueue.St", st_free);
    if (cap == NULL) st_free(NULL);
    return cap;
err4: PyBuffer_Release(&st->bcm);
err3: PyBuffer_Release(&st->bao);
err2: PyBuffer_Release(&st->bbo);
err1: PyBuffer_Release(&st->blo);
err0: PyMem_Free(st);
    return NULL;
}}

#define STACK 256

static PyObject *check(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {{
    if (nargs != 3) {{
        PyErr_SetString(PyExc_TypeError, "check(state, rec, pred_ok)");
        return NULL;
    }}
    int pred_ok = PyObject_IsTrue(args[2]) == 1;
    St *st = (St *)PyCapsule_GetPointer(args[0], "rmqueue.St");
    if (st == NULL) return NULL;
    PyObject *rec = args[1];
    const short *LO_ = st->LO_;
    const signed char *BO_ = st->BO_, *AO_ = st->AO_, *CM_ = st->CM_, *PB_ = st->PB_;
    const long long N = st->N, S0 = st->S0, SE = st->SE, NFL = st->NFL, NCPU = st->NCPU;
    const long long NPB = st->NPB, PBO = st->PBO, PB0 = st->PB0;
    const long long ZP = st->ZP, ABI = st->ABI;
    int bad = 0, ok = 0;
    PyObject *L[4] = {{NULL, NULL, NULL, NULL}};
    PyObject *names[4] = {{s_free_del, s_free_add, s_pcp_del, s_pcp_add}};
    long long *heap = NULL, stackbuf[STACK * 9];
    long long *E = stackbuf;
    Py_ssize_t n[4], tot = 0;
    long long FL[MO * NT], FP[NT];
    long long cpus[8], PLs[8 * NP];
    int ncpus = 0;
    unsigned long long ords = 0;
    long long p, o, mt, cpu, idx, k, lo, bo, ao, cm, I, ap = 0, pp, dnf, dpc, fair;
{VM_DECL}
    for (int i = 0; i < 4; i++) {{
        L[i] = PyObject_GetAttr(rec, names[i]);
        if (L[i] == NULL || !PyList_Check(L[i])) {{ PyErr_Clear(); goto fail; }}
        n[i] = PyList_GET_SIZE(L[i]);
        tot += n[i];
    }}
    /* decoded entries (3 words each), then sorted keys (1 word each), then the coverage
       lists AL and RL (2 words per entry and 1 for the op's block, each) */
    if (tot + 1 > STACK) {{
        heap = PyMem_Malloc(sizeof(long long) * (size_t)(9 * (tot + 1)));
        if (heap == NULL) {{ PyErr_NoMemory(); goto error; }}
        E = heap;
    }}
    long long *K = E + 3 * (tot + 1);
    long long *AL = K + (tot + 1);
    long long *RL = AL + 2 * (tot + 1);
    Py_ssize_t base[4], na = 0, nr = 0;
    {{
        Py_ssize_t at = 0;
        for (int i = 0; i < 4; i++) {{
            base[i] = at;
            for (Py_ssize_t j = 0; j < n[i]; j++, at++) {{
                long long a, b, c;
                if (!get3(PyList_GET_ITEM(L[i], j), &a, &b, &c)) goto fail;
                long long *e = E + 3 * at;
                if (i < 2) {{
                    /* (pfn, order, migratetype) */
                    if (!(S0 <= a && a < SE && 0 <= b && b < MO && 0 <= c && c < NT))
                        goto fail;
                    e[0] = a; e[1] = b; e[2] = c;
                    K[at] = (a << 8) | (b << 3) | c;
                }} else {{
                    /* (cpu, pcp list index, pfn) */
                    if (!(S0 <= c && c < SE && 0 <= a && a < NCPU && 0 <= b && b < NP))
                        goto fail;
                    e[0] = c; e[1] = a; e[2] = b;
                    K[at] = (c << 20) | (a << 2) | b;
                }}
            }}
        }}
    }}
    /* an entry repeated within one list: the general path nets it */
    for (int i = 0; i < 4; i++) {{
        sort_ll(K + base[i], n[i]);
        if (has_dup(K + base[i], n[i])) goto fail;
    }}
    if (n[0] || n[1]) {{
        memset(FL, 0, sizeof FL);
        memset(FP, 0, sizeof FP);
    }} else {{
        memset(FP, 0, sizeof FP);
    }}
    memset(PLs, 0, sizeof PLs);
    {{
        /* rec.cpu is always a touched CPU */
        PyObject *c = PyObject_GetAttr(rec, s_cpu);
        long long rc;
        if (c == NULL) {{ PyErr_Clear(); goto fail; }}
        int g = get_ll(c, &rc);
        Py_DECREF(c);
        if (!g || rc < 0 || rc >= NCPU) goto fail;
        cpus[ncpus++] = rc;
    }}
    /* free_del */
    for (Py_ssize_t j = 0; j < n[0]; j++) {{
        long long *e = E + 3 * (base[0] + j);
        p = e[0]; o = e[1]; mt = e[2];
        I = p - S0; lo = LO_[I]; bo = BO_[I]; ao = AO_[I]; cm = CM_[I];
        if (({LDC_FD}) && !in_sorted(K + base[1], n[1], (p << 8) | (o << 3) | mt)) goto fail;
        if (!({TOUCHED})) goto fail;
        FL[o * NT + mt] -= 1; FP[mt] -= 1LL << o; ords |= 1ULL << o;
        RL[nr++] = p; AL[na++] = p + (1LL << o);
    }}
    /* free_add */
    for (Py_ssize_t j = 0; j < n[1]; j++) {{
        long long *e = E + 3 * (base[1] + j);
        p = e[0]; o = e[1]; mt = e[2];
        I = p - S0; lo = LO_[I]; bo = BO_[I]; ao = AO_[I]; cm = CM_[I];
        if ({LDC_FA}) {{
            if (!({FA_FACT})) goto fail;
        }} else {{
            if (!in_sorted(K + base[0], n[0], (p << 8) | (o << 3) | mt)) goto fail;
            if (!({FA_PLAIN})) goto fail;
        }}
        FL[o * NT + mt] += 1; FP[mt] += 1LL << o; ords |= 1ULL << o;
        AL[na++] = p; RL[nr++] = p + (1LL << o);
    }}
    /* pcp_del, pcp_add: e = (pfn, cpu, idx) */
    for (int i = 2; i < 4; i++) {{
        for (Py_ssize_t j = 0; j < n[i]; j++) {{
            long long *e = E + 3 * (base[i] + j);
            p = e[0]; cpu = e[1]; idx = e[2];
            I = p - S0; lo = LO_[I]; bo = BO_[I]; ao = AO_[I]; cm = CM_[I];
            long long key = (p << 20) | (cpu << 2) | idx;
            if (i == 2) {{
                if (({LDC_PD}) && !in_sorted(K + base[3], n[3], key)) goto fail;
                if (!({TOUCHED})) goto fail;
                RL[nr++] = p; AL[na++] = p + 1;
            }} else {{
                if ({LDC_PA}) {{
                    if (!({PA_FACT})) goto fail;
                }} else {{
                    if (!in_sorted(K + base[2], n[2], key)) goto fail;
                    if (!({PA_PLAIN})) goto fail;
                }}
                AL[na++] = p; RL[nr++] = p + 1;
            }}
            int s = 0;
            while (s < ncpus && cpus[s] != cpu) s++;
            if (s == ncpus) {{
                if (ncpus == 8) goto fail;
                cpus[ncpus++] = cpu;
            }}
            PLs[s * NP + idx] += (i == 2) ? -1 : 1;
        }}
    }}
    /* the op's own block */
    {{
        PyObject *opv = PyObject_GetAttr(rec, s_op);
        if (opv == NULL) {{ PyErr_Clear(); goto fail; }}
        int is_alloc = PyUnicode_Check(opv) && PyUnicode_Compare(opv, s_alloc) == 0;
        int is_free = !is_alloc && PyUnicode_Check(opv) && PyUnicode_Compare(opv, s_free) == 0;
        Py_DECREF(opv);
        PyObject *pv = PyObject_GetAttr(rec, s_pfn);
        if (pv == NULL) {{ PyErr_Clear(); goto fail; }}
        int none = pv == Py_None;
        int g = none ? 0 : get_ll(pv, &p);
        Py_DECREF(pv);
        if (!is_alloc && !is_free) {{
            /* a drain: drain_empties_pcp was evaluated by the caller */
            if (!pred_ok) goto fail;
            goto op_done;
        }}
        if (none && is_alloc) {{
            /* a failed alloc: alloc_failure_justified was evaluated by the caller */
            if (!pred_ok) goto fail;
            goto op_done;
        }}
        if (!g) goto fail;
        if (!attr_ll(rec, s_order, &k)) goto fail;
        if (!(S0 <= p && p < SE && 0 <= k && k < MO)) goto fail;
        I = p - S0; lo = LO_[I]; bo = BO_[I]; ao = AO_[I]; cm = CM_[I];
        if (is_alloc) {{
            if (!(({ALLOC_OK}) && ({ALLOC_PAGE}))) goto fail;
            AL[na++] = p; RL[nr++] = p + (1LL << k);
            ap = 1LL << k;
        }} else {{
            if (!(({FREE_OK}) && ({FREE_PAGE}))) goto fail;
            RL[nr++] = p; AL[na++] = p + (1LL << k);
            ap = -(1LL << k);
        }}
    }}
op_done:
    /* pages_conserved: added starts and removed ends equal removed starts and added ends */
    if (na != nr) goto fail;
    sort_ll(AL, na);
    sort_ll(RL, nr);
    if (memcmp(AL, RL, sizeof(long long) * (size_t)na) != 0) goto fail;
    pp = n[3] - n[2];
{VM_READ}
    for (o = 0; o < MO; o++) {{
        if (!(ords & (1ULL << o))) continue;
        long long nf, snf;
        if (!attr_ll(PyList_GET_ITEM(st->free_area, o), s_nr_free, &nf)) goto fail;
        if (!get_ll(PyList_GET_ITEM(st->snf, o), &snf)) goto fail;
        dnf = nf - snf;
        const long long *FLO = FL + o * NT;
        if (!({ORDER_CHK})) goto fail;
    }}
    for (int s = 0; s < ncpus; s++) {{
        long long c, sc;
        cpu = cpus[s];
        if (!attr_ll(PyList_GET_ITEM(st->pageset, cpu), s_count, &c)) goto fail;
        if (!get_ll(PyList_GET_ITEM(st->spc, cpu), &sc)) goto fail;
        dpc = c - sc;
        const long long *PLC = PLs + s * NP;
        if (!({CPU_CHK})) goto fail;
    }}
    {{
        PyObject *f = PyObject_GetAttr(st->zone, s_fair);
        if (f == NULL) {{ PyErr_Clear(); goto fail; }}
        int t = PyObject_IsTrue(f);
        Py_DECREF(f);
        if (t < 0) {{ PyErr_Clear(); goto fail; }}
        fair = t;
    }}
    if (!(({ZONE_CHK}) && ({POST_CHK}))) goto fail;
    if (bad) goto fail;
    /* every instance holds: advance the shadow */
    for (o = 0; o < MO; o++) {{
        if (!(ords & (1ULL << o))) continue;
        PyObject *v = PyObject_GetAttr(PyList_GET_ITEM(st->free_area, o), s_nr_free);
        if (v == NULL) goto error;
        PyList_SetItem(st->snf, o, v);
    }}
    for (int s = 0; s < ncpus; s++) {{
        PyObject *v = PyObject_GetAttr(PyList_GET_ITEM(st->pageset, cpus[s]), s_count);
        if (v == NULL) goto error;
        PyList_SetItem(st->spc, cpus[s], v);
    }}
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(st->vm_stat); i++) {{
        PyObject *v = PyList_GET_ITEM(st->vm_stat, i);
        Py_INCREF(v);
        PyList_SetItem(st->sv, i, v);
    }}
    ok = 1;
fail:
    for (int i = 0; i < 4; i++) Py_XDECREF(L[i]);
    PyMem_Free(heap);
    if (ok) Py_RETURN_TRUE;
    Py_RETURN_FALSE;
error:
    for (int i = 0; i < 4; i++) Py_XDECREF(L[i]);
    PyMem_Free(heap);
    return NULL;
}}

static PyMethodDef methods[] = {{
    {{"make", make, METH_VARARGS, "make(...) -> the checker state of one zone"}},
    {{"check", (PyCFunction)(void (*)(void))check, METH_FASTCALL,
     "check(state, rec) -> bool: every instance of the record's step check holds"}},
    {{NULL, NULL, 0, NULL}}
}};

static struct PyModuleDef moddef = {{
    PyModuleDef_HEAD_INIT, MODNAME_STR, "rmqueue C record checks", -1, methods
}};

PyMODINIT_FUNC PYINIT_NAME(void) {{
#define INTERN(v, s) if ((v = PyUnicode_InternFromString(s)) == NULL) return NULL
    INTERN(s_free_del, "free_del"); INTERN(s_free_add, "free_add");
    INTERN(s_pcp_del, "pcp_del"); INTERN(s_pcp_add, "pcp_add"); INTERN(s_pfn, "pfn");
    INTERN(s_order, "order"); INTERN(s_cpu, "cpu"); INTERN(s_op, "op");
    INTERN(s_nr_free, "nr_free"); INTERN(s_count, "count"); INTERN(s_fair, "fair_depleted");
    INTERN(s_alloc, "alloc"); INTERN(s_free, "free");
    return PyModule_Create(&moddef);
}}
"""

__all__ = ["c_source"]
