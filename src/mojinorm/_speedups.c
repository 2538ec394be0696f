/* mojinorm._speedups: the optional compiled reader and writer of plain batches, the
 * compiled guard of the per-name API, and the column kernel's reader of Arrow columns.
 *
 * A scan spends most of its time finding, in a batch of plain records (one record per line),
 * the few rows whose selected fields hold a code point the target cannot show.  polars does it
 * in several passes (the lines, the checks that make a batch plain, the fields, the guard);
 * plain_hits does it in one pass over the bytes, without the GIL, and makes Python strings
 * only for the rows it finds.  It reads a subset of what ``records.plain_batch`` reads and
 * declines (returns None) everything else, so that the caller falls back on polars; a
 * differential property test proves that the two give the same rows wherever this one
 * answers.  append_fields writes such a batch back for ``normalize``, with the new fields of
 * the rows found and each other row's own value.  NameGuard is the base of
 * ``mojinorm.Normalizer``: its ``normalize`` returns a name every code point of which the
 * target shows, as it is, and substitutes the units the normalizer has already decided; any
 * other name goes to the Python path (``_normalize_python``); its ``_explain_list`` explains
 * a list of names unit by unit for the column kernel, ``_compiled_lines`` copies the compiled
 * decisions of a list of units out of the table, and ``_normalize_arrow`` normalizes a string
 * column where it lies, into a new column of Arrow string views (those of the values it
 * leaves pointing into the input's buffers).  arrow_hits finds, in a string column's Arrow
 * memory, the rows the guard stops at; count_arrow counts their units for scan (a C table
 * of the distinct units, a str made per distinct unit); code_points writes a report's
 * code-point column.  PlainTally reads a plain batch as plain_hits does and counts the rows
 * it finds on the reading threads, from a table of the units met so far (scan's counting
 * without the GIL; a row with a new unit waits, copied, until the caller has decided it,
 * while later batches may be read).  find_byte searches a mapped file for a byte without
 * the GIL (the line-end check).  The package works without this module.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>
#ifndef _WIN32
#include <pthread.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <errno.h>
#include <unistd.h>
#define HAVE_THREADS 1
#endif
#if defined(_MSC_VER)
#include <intrin.h>
#define REFS_DROP(p) _InterlockedDecrement((volatile long *)(p))
#else
#define REFS_DROP(p) __atomic_sub_fetch((p), 1, __ATOMIC_ACQ_REL)
#endif

#if defined(__GNUC__) || defined(__clang__)
#define HOT_INLINE static inline __attribute__((always_inline))
#else
#define HOT_INLINE static inline
#endif

#define BITMAP_BYTES (0x110000 / 8)
#define MAX_THREADS 64
/* a batch read on several threads is cut in parts of at least this many bytes */
#define PART_BYTES (512 * 1024)

typedef struct {
    Py_ssize_t start;  /* content start (after an opening quote) */
    Py_ssize_t end;    /* content end (before a closing quote) */
    int escaped;       /* the content holds "" (a quote written twice) */
} Span;

typedef struct {
    /* what to read */
    const unsigned char *data;
    Py_ssize_t size;
    int delimiter;                      /* a byte 0x01-0x7e, or -1: each line is one value */
    Py_ssize_t ncols;
    const unsigned char *look;          /* ncols + 1 flags: column j is selected */
    const Py_ssize_t *selected;         /* the selected columns, in selection order */
    Py_ssize_t nselected;
    const unsigned char *safe;          /* bit cp set: code point cp passes the guard */
    Py_ssize_t max_line;
    int trailing;
    Py_ssize_t from, to;                /* this part's bytes */
    /* what was read */
    Py_ssize_t height;
    int crlf;
    int terminated;
    int tail;
    int all_exact, all_tail, ok;
    Py_ssize_t nhits, cap;
    Py_ssize_t *hit_rows;               /* nhits row indexes */
    Span *hit_spans;                    /* nhits * nselected spans */
    int no_memory;
    /* counting (PlainTally.read; NULL units: plain_hits): a row found is counted here when
     * every unit of its selected values is in ``units``, else it is a hit (counted later,
     * with the GIL, once its new units are decided) */
    const struct UnitTable *units;      /* read only while the parts run */
    const struct FlagBits *bits;
    Py_ssize_t room;                    /* rows to review wanted */
    struct PartTally *tally;            /* this part's counts */
} Scan;

static int tally_row(Scan *s, Py_ssize_t row, const Span *spans);
static int part_tally_open(Scan *s);
static int part_tally_merge(Scan *into, Scan *part, Py_ssize_t row_offset);
static void part_tally_free(struct PartTally *p);

HOT_INLINE int
passes(const unsigned char *safe, Py_UCS4 cp)
{
    return (safe[cp >> 3] >> (cp & 7)) & 1;
}

/* The code point of the UTF-8 sequence at p (n bytes left), its length in *len; -1 when the
 * bytes are not strict UTF-8 (overlong forms, surrogates, values past U+10FFFF). */
HOT_INLINE long
decode(const unsigned char *p, Py_ssize_t n, int *len)
{
    unsigned char b = p[0];
    if (b >= 0xC2 && b <= 0xDF) {
        if (n < 2 || (p[1] & 0xC0) != 0x80)
            return -1;
        *len = 2;
        return ((long)(b & 0x1F) << 6) | (p[1] & 0x3F);
    }
    if (b >= 0xE0 && b <= 0xEF) {
        if (n < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80)
            return -1;
        long cp = ((long)(b & 0x0F) << 12) | ((long)(p[1] & 0x3F) << 6) | (p[2] & 0x3F);
        if (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))
            return -1;
        *len = 3;
        return cp;
    }
    if (b >= 0xF0 && b <= 0xF4) {
        if (n < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80
                || (p[3] & 0xC0) != 0x80)
            return -1;
        long cp = ((long)(b & 0x07) << 18) | ((long)(p[1] & 0x3F) << 12)
                  | ((long)(p[2] & 0x3F) << 6) | (p[3] & 0x3F);
        if (cp < 0x10000 || cp > 0x10FFFF)
            return -1;
        *len = 4;
        return cp;
    }
    return -1;
}

/* Check the bytes [p, end) of a value: strict UTF-8, no control byte, no quote unless
 * ``quotes`` (a quoted field's content, or a line that is one value); *hit is set when
 * ``look`` and a code point does not pass.  0: the batch is declined.
 *
 * A three-byte sequence whose lead byte needs no check of the second byte's range (E1-EC,
 * EE-EF: kana and almost every kanji) is read without ``decode``; once a value hits, the
 * rest is only checked. */
HOT_INLINE int
check_value(const Scan *s, Py_ssize_t p, Py_ssize_t end, int quotes, int look, int *hit)
{
    const unsigned char *d = s->data;
    const unsigned char *safe = s->safe;
    while (p < end) {
        unsigned char b = d[p];
        if (b < 0x80) {
            /* Controls (CR, tab...) and DEL go to polars and the exact reader: they are
             * rare, and they are what a plain batch's rules are about. */
            if (b < 0x20 || b == 0x7F || (b == '"' && !quotes))
                return 0;
            if (look && !passes(safe, b)) {
                *hit = 1;
                look = 0;
            }
            p++;
            continue;
        }
        if (b >= 0xE1 && b != 0xED && b <= 0xEF && end - p >= 3) {
            unsigned char b1 = d[p + 1], b2 = d[p + 2];
            if ((b1 & 0xC0) != 0x80 || (b2 & 0xC0) != 0x80)
                return 0;
            if (look) {
                Py_UCS4 cp = ((Py_UCS4)(b & 0x0F) << 12) | ((Py_UCS4)(b1 & 0x3F) << 6)
                             | (b2 & 0x3F);
                if (!passes(safe, cp)) {
                    *hit = 1;
                    look = 0;
                }
            }
            p += 3;
            continue;
        }
        int len;
        long cp = decode(d + p, end - p, &len);
        if (cp < 0)
            return 0;
        if (look && !passes(safe, (Py_UCS4)cp)) {
            *hit = 1;
            look = 0;
        }
        p += len;
    }
    return 1;
}

/* The field at p of the line [p, end): its content into *f (without its quotes; f->escaped
 * when it holds "" for a quote) and where it stops (its delimiter, or end); -1 when a quoted
 * field is still open at the line's end or text follows its closing quote. */
static inline Py_ssize_t
next_field(const unsigned char *d, Py_ssize_t p, Py_ssize_t end, int delimiter, Span *f)
{
    f->escaped = 0;
    if (p < end && d[p] == '"') {
        Py_ssize_t q = p + 1;
        for (;;) {
            const unsigned char *quote = memchr(d + q, '"', (size_t)(end - q));
            if (quote == NULL)
                return -1;  /* open at the line's end: a record over lines */
            q = quote - d;
            if (q + 1 < end && d[q + 1] == '"') {
                f->escaped = 1;
                q += 2;
                continue;
            }
            break;
        }
        f->start = p + 1;
        f->end = q;
        if (q + 1 < end && d[q + 1] != delimiter)
            return -1;  /* text after a closing quote */
        return q + 1;
    }
    const unsigned char *dl = memchr(d + p, delimiter, (size_t)(end - p));
    f->start = p;
    f->end = dl == NULL ? end : dl - d;
    return f->end;
}

/* Read the line [p, end) (its line end excluded) into spans (at most ncols + 1 fields), the
 * field count into *nfields, *hit when a selected field holds a code point that does not
 * pass.  0: the line is not plain (the batch is declined). */
static int
read_line(const Scan *s, Py_ssize_t p, Py_ssize_t end, Span *spans, Py_ssize_t *nfields,
          int *hit)
{
    const unsigned char *d = s->data;
    if (s->delimiter < 0) {
        spans[0].start = p;
        spans[0].end = end;
        spans[0].escaped = 0;
        *nfields = 1;
        return check_value(s, p, end, 1, s->look[0], hit);
    }
    Py_ssize_t n = 0;
    for (;;) {
        if (n > s->ncols)
            return 0;  /* more fields than the layout's, and than a trailing delimiter's */
        int quoted = p < end && d[p] == '"';
        Py_ssize_t next = next_field(d, p, end, s->delimiter, &spans[n]);
        if (next < 0 || !check_value(s, spans[n].start, spans[n].end, quoted, s->look[n], hit))
            return 0;
        n++;
        if (next >= end)
            break;
        p = next + 1;  /* past the delimiter; a delimiter at the line's end opens one more,
                          empty, field */
    }
    *nfields = n;
    return 1;
}

static int
add_hit(Scan *s, Py_ssize_t row, const Span *spans)
{
    if (s->nhits == s->cap) {
        Py_ssize_t cap = s->cap ? s->cap * 2 : 256;
        Py_ssize_t *rows = PyMem_RawRealloc(s->hit_rows, (size_t)cap * sizeof(Py_ssize_t));
        if (rows == NULL)
            return 0;
        s->hit_rows = rows;
        Span *sp = PyMem_RawRealloc(s->hit_spans,
                                    (size_t)cap * (size_t)s->nselected * sizeof(Span));
        if (sp == NULL)
            return 0;
        s->hit_spans = sp;
        s->cap = cap;
    }
    s->hit_rows[s->nhits] = row;
    for (Py_ssize_t k = 0; spans != NULL && k < s->nselected; k++)
        s->hit_spans[s->nhits * s->nselected + k] = spans[s->selected[k]];
    s->nhits++;
    return 1;
}

/* The lines of [p, stop) (whole lines; stop is the batch's end or just past a line end),
 * without the GIL.  Sets s->height, s->all_exact, s->all_tail; 1: read; 0: declined (or
 * s->no_memory).  s->crlf: the part holds a CR. */
static int
scan_lines(Scan *s, Py_ssize_t p, Py_ssize_t stop)
{
    const unsigned char *d = s->data;
    Span *spans = PyMem_RawMalloc((size_t)(s->ncols + 1) * sizeof(Span));
    if (spans == NULL) {
        s->no_memory = 1;
        return 0;
    }
    s->all_exact = 1;
    s->all_tail = s->trailing && s->delimiter >= 0;
    int ok = 1;
    Py_ssize_t row = 0;
    while (p < stop) {
        const unsigned char *nl = memchr(d + p, '\n', (size_t)(stop - p));
        Py_ssize_t line_end = nl == NULL ? stop : nl - d;
        Py_ssize_t next = nl == NULL ? stop : line_end + 1;
        if (s->crlf) {
            /* every line ends with CRLF (a CR anywhere else is a control: declined) */
            if (line_end == p || d[line_end - 1] != '\r') {
                ok = 0;
                break;
            }
            line_end--;
        }
        if (line_end == p || line_end - p > s->max_line) {
            ok = 0;  /* a blank line, or a line longer than the fast readers take */
            break;
        }
        Py_ssize_t nfields = 0;
        int hit = 0;
        if (!read_line(s, p, line_end, spans, &nfields, &hit)) {
            ok = 0;
            break;
        }
        if (s->delimiter >= 0) {
            if (nfields != s->ncols)
                s->all_exact = 0;
            if (!(nfields == s->ncols + 1 && spans[s->ncols].start == spans[s->ncols].end))
                s->all_tail = 0;
            if (!s->all_exact && !s->all_tail) {
                ok = 0;
                break;
            }
        }
        if (hit && !(s->tally != NULL && tally_row(s, row, spans)) && !add_hit(s, row, spans)) {
            s->no_memory = 1;
            ok = 0;
            break;
        }
        row++;
        p = next;
    }
    PyMem_RawFree(spans);
    s->height = row;
    return ok;
}

/* Run ``fn`` on each of the n parts (``size`` bytes each, from ``parts``), the first here and
 * the others on threads, side by side; a part no thread can be had for runs here too. */
static void
side_by_side(void *(*fn)(void *), void *parts, size_t size, int n)
{
    char *part = parts;
#ifdef HAVE_THREADS
    pthread_t ids[MAX_THREADS];
    int started[MAX_THREADS] = {0};
    for (int k = 1; k < n; k++)
        started[k] = pthread_create(&ids[k], NULL, fn, part + (size_t)k * size) == 0;
    if (n > 0)
        fn(part);
    for (int k = 1; k < n; k++) {
        if (started[k])
            pthread_join(ids[k], NULL);
        else
            fn(part + (size_t)k * size);
    }
#else
    for (int k = 0; k < n; k++)
        fn(part + (size_t)k * size);
#endif
}

#ifdef HAVE_THREADS
/* The parts a batch's threads take one by one (take_parts). */
typedef struct {
    void *(*fn)(void *);
    char *parts;
    size_t size;
    int n;
    int next;  /* the next part no thread has taken (atomic) */
} PartQueue;

static void *
take_parts(void *arg)
{
    PartQueue *q = arg;
    for (;;) {
        int k = __atomic_fetch_add(&q->next, 1, __ATOMIC_RELAXED);
        if (k >= q->n)
            return NULL;
        q->fn(q->parts + (size_t)k * q->size);
    }
}
#endif

/* Run ``fn`` on each of the n parts on up to ``threads`` threads (this one among them), each
 * taking the next part no other has: a thread the system holds back (another process, the
 * next chunk's read) leaves its parts to the others, where parts of one per thread would
 * wait for it. */
static void
parts_taken(void *(*fn)(void *), void *parts, size_t size, int n, int threads)
{
#ifdef HAVE_THREADS
    if (threads > n)
        threads = n;
    if (threads > 1) {
        PartQueue q = {fn, parts, size, n, 0};
        pthread_t ids[MAX_THREADS];
        int started[MAX_THREADS] = {0};
        for (int k = 1; k < threads; k++)
            started[k] = pthread_create(&ids[k], NULL, take_parts, &q) == 0;
        take_parts(&q);
        for (int k = 1; k < threads; k++)
            if (started[k])
                pthread_join(ids[k], NULL);
        return;
    }
#endif
    (void)threads;
    for (int k = 0; k < n; k++)
        fn((char *)parts + (size_t)k * size);
}

static void *
scan_part(void *arg)
{
    Scan *s = arg;
    if (s->units != NULL && !part_tally_open(s)) {
        s->no_memory = 1;
        s->ok = 0;
        return NULL;
    }
    /* a part that holds a CR has CRLF line ends, or is declined */
    s->crlf = memchr(s->data + s->from, '\r', (size_t)(s->to - s->from)) != NULL;
    s->ok = scan_lines(s, s->from, s->to);
    return NULL;
}

/* The whole batch, without the GIL, its lines cut into up to ``threads`` parts read side by
 * side; the parts' rows and hits are then put together in the first.  1: read; 0: declined
 * (or parts[0].no_memory). */
static int
scan_batch(Scan *parts, int threads)
{
    Scan *s = &parts[0];
    const unsigned char *d = s->data;
    Py_ssize_t size = s->size;
    if (size == 0)
        return 0;
    if (size >= 3 && d[0] == 0xEF && d[1] == 0xBB && d[2] == 0xBF)
        return 0;  /* polars takes a U+FEFF at the start of a buffer for a byte-order mark */
    s->terminated = d[size - 1] == '\n';
    /* on several threads, parts of PART_BYTES or more, each starting after a line end,
     * taken one by one by the threads */
    int nparts = threads <= 1 ? 1 : (int)(size / PART_BYTES < MAX_THREADS ? size / PART_BYTES
                                                                          : MAX_THREADS);
    if (nparts < 1)
        nparts = 1;
    int n = 0;
    Py_ssize_t from = 0;
    for (int k = 0; k < nparts && from < size; k++) {
        Py_ssize_t to = size;
        if (k + 1 < nparts) {
            Py_ssize_t at = size / nparts * (k + 1);
            const unsigned char *nl = at > from ? memchr(d + at, '\n', (size_t)(size - at))
                                                : NULL;
            to = nl == NULL ? size : nl - d + 1;
        }
        if (k > 0) {
            parts[k] = *s;  /* the inputs; no hits yet */
            parts[k].tally = NULL;
        }
        parts[k].from = from;
        parts[k].to = to;
        n++;
        from = to;
    }
    parts_taken(scan_part, parts, sizeof(Scan), n, threads);
    int ok = 1, all_exact = 1, all_tail = 1;
    for (int k = 0; k < n; k++) {
        /* CRLF line ends in every part or in none (a part with a CR reads CRLF lines only) */
        ok = ok && parts[k].ok && parts[k].crlf == s->crlf;
        all_exact = all_exact && parts[k].all_exact;
        all_tail = all_tail && parts[k].all_tail;
        if (parts[k].no_memory)
            s->no_memory = 1;
    }
    if (ok && !all_exact && !all_tail)
        ok = 0;  /* some lines with one field more, some without: mixed widths */
    if (s->crlf && !s->terminated)
        ok = 0;
    for (int k = 1; k < n && ok; k++) {
        /* the part's hits after the first's, their rows counted from the batch's start */
        Scan *t = &parts[k];
        for (Py_ssize_t i = 0; i < t->nhits && ok; i++) {
            if (!add_hit(s, s->height + t->hit_rows[i], NULL)) {
                s->no_memory = 1;
                ok = 0;
                break;
            }
            memcpy(&s->hit_spans[(s->nhits - 1) * s->nselected],
                   &t->hit_spans[i * t->nselected], (size_t)s->nselected * sizeof(Span));
        }
        if (ok && s->tally != NULL && !part_tally_merge(s, t, s->height)) {
            s->no_memory = 1;
            ok = 0;
        }
        s->height += t->height;
    }
    for (int k = 1; k < n; k++) {
        PyMem_RawFree(parts[k].hit_rows);
        PyMem_RawFree(parts[k].hit_spans);
        part_tally_free(parts[k].tally);
    }
    s->tail = !all_exact;
    return ok;
}

static PyObject *
value_of(const Scan *s, const Span *f)
{
    const char *start = (const char *)s->data + f->start;
    Py_ssize_t len = f->end - f->start;
    if (!f->escaped)
        return PyUnicode_DecodeUTF8(start, len, "strict");
    char *buf = PyMem_Malloc((size_t)len);
    if (buf == NULL)
        return PyErr_NoMemory();
    Py_ssize_t n = 0;
    for (Py_ssize_t i = 0; i < len; i++) {
        buf[n++] = start[i];
        if (start[i] == '"')
            i++;  /* "" is one quote */
    }
    PyObject *value = PyUnicode_DecodeUTF8(buf, n, "strict");
    PyMem_Free(buf);
    return value;
}

/* Set up s (the first part of a batch) to read ``data`` as plain_hits' arguments say,
 * checked; *selected and *look are allocated here (the caller frees them).  0; -1 with an
 * error set (``who`` names the function in its message). */
static int
scan_setup(Scan *s, const Py_buffer *data, int delimiter, Py_ssize_t ncols,
           PyObject *selected_obj, const Py_buffer *safe, Py_ssize_t max_line, int trailing,
           const char *who, Py_ssize_t **selected, unsigned char **look)
{
    Py_ssize_t nselected = PyTuple_GET_SIZE(selected_obj);
    if (safe->len != BITMAP_BYTES || ncols < 1 || nselected < 1 || max_line < 0
            || delimiter < -1 || delimiter == 0 || delimiter > 0x7E || delimiter == '"'
            || delimiter == '\n' || delimiter == '\r') {
        PyErr_Format(PyExc_ValueError, "%s: invalid arguments", who);
        return -1;
    }
    *selected = PyMem_Malloc((size_t)nselected * sizeof(Py_ssize_t));
    *look = PyMem_Calloc((size_t)ncols + 1, 1);
    if (*selected == NULL || *look == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t k = 0; k < nselected; k++) {
        Py_ssize_t j = PyLong_AsSsize_t(PyTuple_GET_ITEM(selected_obj, k));
        if (j == -1 && PyErr_Occurred())
            return -1;
        if (j < 0 || j >= ncols || (delimiter < 0 && j != 0) || (*look)[j]) {
            PyErr_Format(PyExc_ValueError, "%s: a selected column out of range or repeated",
                         who);
            return -1;
        }
        (*selected)[k] = j;
        (*look)[j] = 1;
    }
    s->data = data->buf;
    s->size = data->len;
    s->delimiter = delimiter;
    s->ncols = delimiter < 0 ? 1 : ncols;
    s->look = *look;
    s->selected = *selected;
    s->nselected = nselected;
    s->safe = safe->buf;
    s->max_line = max_line;
    s->trailing = trailing;
    return 0;
}

/* scan_batch without the GIL, on at most ``threads`` threads: 1 read; 0 declined; -1 no
 * memory (an error set). */
static int
read_batch(Scan *parts, int threads)
{
    int ok;
    Py_BEGIN_ALLOW_THREADS
    ok = scan_batch(parts, threads < 1 ? 1 : threads > MAX_THREADS ? MAX_THREADS : threads);
    Py_END_ALLOW_THREADS
    if (parts[0].no_memory) {
        PyErr_NoMemory();
        return -1;
    }
    return ok ? 1 : 0;
}

PyDoc_STRVAR(plain_hits_doc,
"plain_hits(data, delimiter, ncols, selected, safe, max_line, trailing, threads, /)\n--\n\n"
"Read the plain batch ``data`` (UTF-8, whole records, no header) in one pass.\n\n"
"``delimiter``: a byte value, or -1 when each line is one value; ``selected``: the columns\n"
"to look at, in order; ``safe``: a bitmap of 0x110000 bits, bit ``cp`` set for the code\n"
"points that pass the guard; lines longer than ``max_line`` bytes are declined;\n"
"``trailing``: every line may have one more, empty, field; ``threads``: read parts of a\n"
"large batch side by side on up to this many threads.\n\n"
"Returns ``(height, crlf, terminated, tail, rows, columns)``: the rows (0-based) with a\n"
"selected value holding a code point that does not pass, and per selected column the\n"
"values of those rows; or None when the batch is not one this reader takes.");

static PyObject *
plain_hits(PyObject *module, PyObject *args)
{
    (void)module;
    Py_buffer data, safe;
    int delimiter, trailing, threads;
    Py_ssize_t ncols, max_line;
    PyObject *selected_obj;
    if (!PyArg_ParseTuple(args, "y*inO!y*npi:plain_hits", &data, &delimiter, &ncols,
                          &PyTuple_Type, &selected_obj, &safe, &max_line, &trailing,
                          &threads))
        return NULL;
    PyObject *result = NULL;
    Py_ssize_t *selected = NULL;
    unsigned char *look = NULL;
    Scan parts[MAX_THREADS];
    Scan *s = parts;
    memset(parts, 0, sizeof(parts));
    if (scan_setup(s, &data, delimiter, ncols, selected_obj, &safe, max_line, trailing,
                   "plain_hits", &selected, &look) < 0)
        goto done;
    Py_ssize_t nselected = s->nselected;
    int read = read_batch(parts, threads);
    if (read <= 0) {
        result = read == 0 ? Py_NewRef(Py_None) : NULL;
        goto done;
    }
    PyObject *rows = PyList_New(s->nhits);
    PyObject *columns = PyTuple_New(nselected);
    if (rows == NULL || columns == NULL) {
        Py_XDECREF(rows);
        Py_XDECREF(columns);
        goto done;
    }
    for (Py_ssize_t i = 0; i < s->nhits; i++) {
        PyObject *r = PyLong_FromSsize_t(s->hit_rows[i]);
        if (r == NULL)
            goto fail;
        PyList_SET_ITEM(rows, i, r);
    }
    for (Py_ssize_t k = 0; k < nselected; k++) {
        PyObject *values = PyList_New(s->nhits);
        if (values == NULL)
            goto fail;
        PyTuple_SET_ITEM(columns, k, values);
        for (Py_ssize_t i = 0; i < s->nhits; i++) {
            PyObject *v = value_of(s, &s->hit_spans[i * nselected + k]);
            if (v == NULL)
                goto fail;
            PyList_SET_ITEM(values, i, v);
        }
    }
    result = Py_BuildValue("(nOOOOO)", s->height, s->crlf ? Py_True : Py_False,
                           s->terminated ? Py_True : Py_False, s->tail ? Py_True : Py_False,
                           rows, columns);
fail:
    Py_DECREF(rows);
    Py_DECREF(columns);
done:
    PyMem_RawFree(s->hit_rows);
    PyMem_RawFree(s->hit_spans);
    PyMem_Free(selected);
    PyMem_Free(look);
    PyBuffer_Release(&data);
    PyBuffer_Release(&safe);
    return result;
}

/* ---------------------------------------------------------------- rewriting a plain batch */

/* The bytes object being written: made once at about its final size (no copy at the end),
 * grown when short, cut to its length when done. */
typedef struct {
    PyObject *bytes;
    char *buf;
    Py_ssize_t len, cap;
} Out;

static int
out_init(Out *o, Py_ssize_t cap)
{
    o->bytes = PyBytes_FromStringAndSize(NULL, cap);
    if (o->bytes == NULL)
        return 0;
    o->buf = PyBytes_AS_STRING(o->bytes);
    o->len = 0;
    o->cap = cap;
    return 1;
}

static int
out_put(Out *o, const char *p, Py_ssize_t n)
{
    if (o->len + n > o->cap) {
        Py_ssize_t cap = o->cap + o->cap / 2 + n + (1 << 16);
        if (_PyBytes_Resize(&o->bytes, cap) < 0)
            return 0;
        o->buf = PyBytes_AS_STRING(o->bytes);
        o->cap = cap;
    }
    memcpy(o->buf + o->len, p, (size_t)n);
    o->len += n;
    return 1;
}

/* ``value`` as the writer writes a field (``csvio.quote_field``): quoted when ``force`` or
 * when a non-empty value holds the delimiter, a quote, CR or LF, quotes doubled.  ``value``
 * is [p, p + n), with "" for a quote when ``escaped`` (a quoted field's content as read). */
static int
out_field(Out *o, const char *p, Py_ssize_t n, int escaped, int delimiter, int force)
{
    int needs = force;
    for (Py_ssize_t i = 0; i < n && !needs; i++) {
        char c = p[i];
        needs = c == delimiter || c == '"' || c == '\r' || c == '\n';
    }
    if (!needs)
        return out_put(o, p, n);
    if (!out_put(o, "\"", 1))
        return 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (p[i] == '"') {
            if (!out_put(o, "\"\"", 2))
                return 0;
            if (escaped)
                i++;  /* "" in the content read is one quote */
        }
        else if (!out_put(o, p + i, 1))
            return 0;
    }
    return out_put(o, "\"", 1);
}

/* The fields of the line [p, end) up to field ``upto`` into spans, of a batch that
 * plain_hits has read (so nothing is checked); returns how many were found. */
static Py_ssize_t
split_fields(const unsigned char *d, Py_ssize_t p, Py_ssize_t end, int delimiter, Span *spans,
             Py_ssize_t upto)
{
    Py_ssize_t n = 0;
    while (n <= upto) {
        Py_ssize_t next = next_field(d, p, end, delimiter, &spans[n]);
        n++;
        if (next < 0 || next >= end)
            break;
        p = next + 1;
    }
    return n;
}

PyDoc_STRVAR(append_fields_doc,
"append_fields(data, delimiter, ncols, columns, tail, rows, new, /)\n--\n\n"
"Rewrite the plain batch ``data`` (UTF-8) that ``plain_hits`` read: each line with, for each\n"
"of ``columns``, two more fields, ``,normalized,changes``, before its trailing empty field\n"
"when ``tail``.  For the lines at ``rows`` (ascending) the two values of column k are\n"
"``new[k][0][i]`` and ``new[k][1][i]``; the other lines are left as they are: their own value\n"
"and an empty change.  Values are quoted as ``csvio.quote_field`` quotes them, every new\n"
"field of a line that ends with a quote quoted.  Returns the new bytes (line ends kept).");

static PyObject *
append_fields(PyObject *module, PyObject *args)
{
    (void)module;
    Py_buffer data;
    int delimiter, tail;
    Py_ssize_t ncols;
    PyObject *columns_obj, *rows_obj, *new_obj;
    if (!PyArg_ParseTuple(args, "y*inO!pO!O!:append_fields", &data, &delimiter, &ncols,
                          &PyTuple_Type, &columns_obj, &tail, &PyList_Type, &rows_obj,
                          &PyTuple_Type, &new_obj))
        return NULL;
    PyObject *result = NULL;
    Out o = {NULL, NULL, 0, 0};
    Span *spans = NULL;
    Py_ssize_t ncolumns = PyTuple_GET_SIZE(columns_obj);
    Py_ssize_t nrows = PyList_GET_SIZE(rows_obj);
    if (delimiter < 1 || delimiter > 0x7E || delimiter == '"' || ncols < 1
            || PyTuple_GET_SIZE(new_obj) != ncolumns) {
        PyErr_SetString(PyExc_ValueError, "append_fields: invalid arguments");
        goto done;
    }
    Py_ssize_t upto = 0;  /* the last column written from */
    for (Py_ssize_t k = 0; k < ncolumns; k++) {
        PyObject *pair = PyTuple_GET_ITEM(new_obj, k);
        Py_ssize_t j = PyLong_AsSsize_t(PyTuple_GET_ITEM(columns_obj, k));
        if (j == -1 && PyErr_Occurred())
            goto done;
        if (j > upto)
            upto = j;
        if (j < 0 || j >= ncols || !PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2
                || !PyList_Check(PyTuple_GET_ITEM(pair, 0))
                || !PyList_Check(PyTuple_GET_ITEM(pair, 1))
                || PyList_GET_SIZE(PyTuple_GET_ITEM(pair, 0)) != nrows
                || PyList_GET_SIZE(PyTuple_GET_ITEM(pair, 1)) != nrows) {
            PyErr_SetString(PyExc_ValueError, "append_fields: invalid new values");
            goto done;
        }
    }
    spans = PyMem_Malloc((size_t)(ncols + 1) * sizeof(Span));
    if (spans == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    const unsigned char *d = data.buf;
    const char *text = data.buf;
    Py_ssize_t size = data.len, p = 0, row = 0, hit = 0;
    /* a name column's two new fields add about half a member file's line to it */
    if (!out_init(&o, size + size / 2 * ncolumns + (1 << 16)))
        goto done;
    Py_ssize_t next_hit = nrows ? PyLong_AsSsize_t(PyList_GET_ITEM(rows_obj, 0)) : -1;
    if (next_hit == -1 && PyErr_Occurred())
        goto done;
    while (p < size) {
        const unsigned char *nl = memchr(d + p, '\n', (size_t)(size - p));
        Py_ssize_t line_end = nl == NULL ? size : nl - d;
        Py_ssize_t eol = line_end;  /* where the line end starts */
        if (nl != NULL && line_end > p && d[line_end - 1] == '\r')
            eol--;
        /* the body, and the trailing empty field that the new fields go before */
        Py_ssize_t body_end = eol;
        if (tail) {
            if (body_end - p >= 3 && d[body_end - 1] == '"' && d[body_end - 2] == '"'
                    && d[body_end - 3] == delimiter)
                body_end -= 3;
            else if (body_end > p && d[body_end - 1] == delimiter)
                body_end -= 1;
            else {
                PyErr_SetString(PyExc_ValueError, "append_fields: a line without its "
                                "trailing field");
                goto done;
            }
        }
        int force = body_end > p && d[body_end - 1] == '"';
        if (!out_put(&o, text + p, body_end - p))
            goto done;
        int is_hit = row == next_hit;
        Py_ssize_t nfields = 0;
        if (!is_hit)
            nfields = split_fields(d, p, body_end, delimiter, spans, upto);
        for (Py_ssize_t k = 0; k < ncolumns; k++) {
            char sep = (char)delimiter;
            if (!out_put(&o, &sep, 1))
                goto done;
            if (is_hit) {
                PyObject *pair = PyTuple_GET_ITEM(new_obj, k);
                for (int v = 0; v < 2; v++) {
                    Py_ssize_t n;
                    const char *u = PyUnicode_AsUTF8AndSize(
                        PyList_GET_ITEM(PyTuple_GET_ITEM(pair, v), hit), &n);
                    if (u == NULL)
                        goto done;
                    if ((v == 1 && !out_put(&o, &sep, 1))
                            || !out_field(&o, u, n, 0, delimiter, force))
                        goto done;
                }
            }
            else {
                Py_ssize_t j = PyLong_AsSsize_t(PyTuple_GET_ITEM(columns_obj, k));
                const Span *f = &spans[j];
                if (j >= nfields) {
                    PyErr_SetString(PyExc_ValueError, "append_fields: a short line");
                    goto done;
                }
                if (!out_field(&o, text + f->start, f->end - f->start, f->escaped, delimiter,
                               force)
                        || !out_put(&o, &sep, 1) || !out_field(&o, "", 0, 0, delimiter, force))
                    goto done;
            }
        }
        if (is_hit) {
            hit++;
            if (hit < nrows) {
                next_hit = PyLong_AsSsize_t(PyList_GET_ITEM(rows_obj, hit));
                if (next_hit == -1 && PyErr_Occurred())
                    goto done;
            }
        }
        Py_ssize_t next = nl == NULL ? size : line_end + 1;
        if (!out_put(&o, text + body_end, next - body_end))  /* trailer and line end */
            goto done;
        row++;
        p = next;
    }
    if (hit != nrows) {
        PyErr_SetString(PyExc_ValueError, "append_fields: rows past the batch's end");
        goto done;
    }
    if (_PyBytes_Resize(&o.bytes, o.len) == 0) {
        result = o.bytes;  /* handed over */
        o.bytes = NULL;
    }
done:
    Py_XDECREF(o.bytes);
    PyMem_Free(spans);
    PyBuffer_Release(&data);
    return result;
}

/* ------------------------------------------------------------------ the per-name guard */

typedef struct {
    PyObject_HEAD
    PyObject *safe;   /* bytes, BITMAP_BYTES: the code points the target shows as they are */
    PyObject *known;  /* dict: unit -> replacement, for units no context can change */
    PyObject *private_use;  /* str written for a private-use code point, or NULL: Python */
    PyObject *rows;   /* bytes: the compiled decisions' table, lines sorted; or NULL */
    uint64_t *row_slots;  /* rows' hash index: (key hash << 32) | (line start + 1), 0 empty */
    size_t row_mask;      /* slots - 1 (a power of two) */
    PyObject *fallback;  /* str written for a compiled row the fallback decides, or NULL */
} NameGuard;

static PyObject *python_path;  /* "_normalize_python" */
static PyObject *decide_unit;  /* "_decide_unit" */
static PyObject *is_safe_path;  /* "_is_safe_python" */
static PyObject *reading_kw;   /* "reading" */

static inline int
is_selector(Py_UCS4 c)
{
    return (c >= 0xFE00 && c <= 0xFE0F) || (c >= 0xE0100 && c <= 0xE01EF);
}

static inline int
is_private_use(Py_UCS4 c)
{
    return (c >= 0xE000 && c <= 0xF8FF) || (c >= 0xF0000 && c <= 0x10FFFD);
}

static inline int
is_joiner(Py_UCS4 c)
{
    return is_selector(c) || c == 0x3099 || c == 0x309A;
}

static inline uint32_t
key_hash(const char *p, Py_ssize_t n)
{
    uint32_t h = 2166136261u;  /* FNV-1a */
    for (Py_ssize_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 16777619u;
    }
    /* mixed (murmur3's finalizer): the tables index by the low bits, which FNV-1a of a few
     * UTF-8 bytes leaves clustered (long probe runs) */
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}

/* The start of the line of ``rows`` whose key (the bytes before its first tab) is want[0, n),
 * or -1: a probe of the hash index. */
static Py_ssize_t
row_at(const NameGuard *self, const char *want, Py_ssize_t n)
{
    const char *data = PyBytes_AS_STRING(self->rows);
    Py_ssize_t size = PyBytes_GET_SIZE(self->rows);
    uint32_t h = key_hash(want, n);
    for (size_t i = h & self->row_mask;; i = (i + 1) & self->row_mask) {
        uint64_t slot = self->row_slots[i];
        if (slot == 0)
            return -1;
        if ((uint32_t)(slot >> 32) != h)
            continue;
        Py_ssize_t at = (Py_ssize_t)(slot & 0xFFFFFFFFu) - 1;
        if (size - at > n && memcmp(data + at, want, (size_t)n) == 0 && data[at + n] == '\t')
            return at;
    }
}

/* Index the lines of ``rows`` (a header line, then lines "key\t...") by key, the first line
 * of a key winning as the bisection of _tables.Resolved finds it: a file's thousands of
 * units then cost a probe each instead of a bisection that misses the cache at every step.
 * 0 with no memory (an error set). */
static int
index_rows(NameGuard *self)
{
    PyMem_Free(self->row_slots);
    self->row_slots = NULL;
    self->row_mask = 0;
    if (self->rows == NULL)
        return 1;
    const char *data = PyBytes_AS_STRING(self->rows);
    Py_ssize_t size = PyBytes_GET_SIZE(self->rows);
    if (size >= 0xFFFFFFFF) {
        PyErr_SetString(PyExc_ValueError, "the compiled decisions' table is too large");
        return 0;
    }
    size_t lines = 0;
    for (const char *p = data; (p = memchr(p, '\n', (size_t)(data + size - p))) != NULL; p++)
        lines++;
    size_t slots = 16;
    while (slots < 2 * lines + 2)
        slots <<= 1;
    uint64_t *table = PyMem_Calloc(slots, sizeof(uint64_t));
    if (table == NULL) {
        PyErr_NoMemory();
        return 0;
    }
    self->row_slots = table;
    self->row_mask = slots - 1;
    const char *nl = memchr(data, '\n', (size_t)size);
    Py_ssize_t at = nl == NULL ? size : nl - data + 1;  /* after the header */
    const char *last = NULL;  /* the key indexed last: the lines of a key follow each other */
    Py_ssize_t last_n = -1;
    while (at < size) {
        const char *eol = memchr(data + at, '\n', (size_t)(size - at));
        Py_ssize_t end = eol == NULL ? size : eol - data;
        const char *tab = memchr(data + at, '\t', (size_t)(end - at));
        Py_ssize_t n = tab == NULL ? -1 : tab - (data + at);
        /* a key's later lines are skipped; were they not together, the first would still
         * win (it holds the earlier place on the probe path) */
        if (n >= 0 && !(n == last_n && memcmp(last, data + at, (size_t)n) == 0)) {
            uint32_t h = key_hash(data + at, n);
            size_t i = h & self->row_mask;
            while (table[i] != 0)
                i = (i + 1) & self->row_mask;
            table[i] = ((uint64_t)h << 32) | (uint64_t)(at + 1);
            last = data + at;
            last_n = n;
        }
        at = end + 1;
    }
    return 1;
}

/* A compiled decision's fields, pointing into the table. */
typedef struct {
    const char *replacement, *rules;
    Py_ssize_t replacement_len, rules_len;
    int fallback, review;
} CompiledRow;

/* The compiled decision of ``unit`` (``rows``: the table's bytes, a header line then lines
 * "unit\treplacement\trules\tflags\t...", sorted), found through the hash index: the row
 * ``_tables.Resolved.get`` finds.  1: found; 0: no row (or no table); -1: an error is set. */
static int compiled_fields_of(NameGuard *self, const char *want, Py_ssize_t k,
                              CompiledRow *row);

static int
compiled_fields(NameGuard *self, PyObject *unit, CompiledRow *row)
{
    if (self->rows == NULL || self->row_slots == NULL)
        return 0;
    Py_ssize_t k;
    const char *want = PyUnicode_AsUTF8AndSize(unit, &k);
    if (want == NULL) {  /* a lone surrogate: no row has it */
        PyErr_Clear();
        return 0;
    }
    return compiled_fields_of(self, want, k, row);
}

/* compiled_fields of the unit whose UTF-8 is want[0, k). */
static int
compiled_fields_of(NameGuard *self, const char *want, Py_ssize_t k, CompiledRow *row)
{
    PyObject *rows = self->rows;
    if (rows == NULL || self->row_slots == NULL)
        return 0;
    const char *data = PyBytes_AS_STRING(rows);
    Py_ssize_t size = PyBytes_GET_SIZE(rows);
    Py_ssize_t at = row_at(self, want, k);
    if (at < 0)
        return 0;
    const char *eol = memchr(data + at, '\n', (size_t)(size - at));
    const char *line_end = eol == NULL ? data + size : eol;
    const char *replacement = data + at + k + 1;
    const char *t1 = memchr(replacement, '\t', (size_t)(line_end - replacement));
    const char *t2 = t1 == NULL ? NULL : memchr(t1 + 1, '\t', (size_t)(line_end - t1 - 1));
    if (t2 == NULL) {
        PyErr_SetString(PyExc_ValueError, "a compiled decision has too few fields");
        return -1;
    }
    const char *t3 = memchr(t2 + 1, '\t', (size_t)(line_end - t2 - 1));
    const char *flags_end = t3 == NULL ? line_end : t3;
    row->replacement = replacement;
    row->replacement_len = t1 - replacement;
    row->rules = t1 + 1;
    row->rules_len = t2 - (t1 + 1);
    row->fallback = memchr(t2 + 1, 'F', (size_t)(flags_end - t2 - 1)) != NULL;
    row->review = memchr(t2 + 1, 'R', (size_t)(flags_end - t2 - 1)) != NULL;
    return 1;
}

/* The replacement of ``unit`` from the compiled decisions (compiled_fields).  1: *out is a
 * new reference; 0: no row, or the fallback decides and no fallback character is set
 * (Python decides); -1: an error is set. */
static int
compiled_decision(NameGuard *self, PyObject *unit, PyObject **out)
{
    CompiledRow row;
    int found = compiled_fields(self, unit, &row);
    if (found <= 0)
        return found;
    if (row.fallback) {
        if (self->fallback == NULL)
            return 0;
        Py_INCREF(self->fallback);
        *out = self->fallback;
        return 1;
    }
    *out = PyUnicode_DecodeUTF8(row.replacement, row.replacement_len, "strict");
    return *out == NULL ? -1 : 1;
}

/* The next unit of text at or after i that Normalizer's substitution pattern finds,
 * ``[^visible vs][joiner]?|[^vs][joiner]|[vs]``: a selector on its own, any other code point
 * with the selector or voiced mark that follows it, or a code point that does not pass.  Its
 * start (n when there is none), its end in *end. */
static inline Py_ssize_t
next_unit(int kind, const void *data, Py_ssize_t n, const unsigned char *safe, Py_ssize_t i,
          Py_ssize_t *end)
{
    for (; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (is_selector(c))
            *end = i + 1;
        else if (i + 1 < n && is_joiner(PyUnicode_READ(kind, data, i + 1)))
            *end = i + 2;
        else if (!passes(safe, c))
            *end = i + 1;
        else
            continue;
        return i;
    }
    return n;
}

/* The index of the first code point of text that does not pass (its length when all do). */
static inline Py_ssize_t
first_stop(PyObject *text, const unsigned char *safe)
{
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    Py_ssize_t i = 0;
    if (kind == PyUnicode_1BYTE_KIND) {
        const Py_UCS1 *p = (const Py_UCS1 *)data;
        while (i < n && passes(safe, p[i]))
            i++;
    }
    else if (kind == PyUnicode_2BYTE_KIND) {
        const Py_UCS2 *p = (const Py_UCS2 *)data;
        while (i < n && passes(safe, p[i]))
            i++;
    }
    else {
        const Py_UCS4 *p = (const Py_UCS4 *)data;
        while (i < n && passes(safe, p[i]))
            i++;
    }
    return i;
}

/* A text being written, code point by code point. */
typedef struct {
    Py_UCS4 *buf;
    Py_ssize_t len, cap;
} Text;

/* Append the code points [from, to) of a str's data to o; -1 with MemoryError set. */
static int
text_put(Text *o, int kind, const void *data, Py_ssize_t from, Py_ssize_t to)
{
    Py_ssize_t need = o->len + (to - from);
    if (need > o->cap) {
        Py_ssize_t cap = o->cap ? o->cap : 32;
        while (cap < need)
            cap *= 2;
        Py_UCS4 *buf = PyMem_Realloc(o->buf, (size_t)cap * sizeof(Py_UCS4));
        if (buf == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        o->buf = buf;
        o->cap = cap;
    }
    for (Py_ssize_t k = from; k < to; k++)
        o->buf[o->len++] = PyUnicode_READ(kind, data, k);
    return 0;
}

/* ``text`` brought into the target unit by unit.  1: done, *out is the result (``text``
 * itself when every code point passes, as Normalizer's guard says); 0: a unit's answer depends
 * on the text (``_decide_unit`` returned None: the Python path decides); -1: an error is set.
 * A private-use code point gets ``private_use`` when it is set (no gaiji table: the
 * fallback); any other unit is looked up in ``known``, then in the compiled decisions
 * (``rows``, once the Python side has set them), else decided by ``self._decide_unit(unit)``.
 *
 * The units are cut as Normalizer's substitution pattern cuts them,
 * ``[^visible vs][joiner]?|[^vs][joiner]|[vs]``: a selector on its own, any other code point
 * with the selector or voiced mark that follows it, or a code point that does not pass. */
static int
guard_text(NameGuard *self, PyObject *text, PyObject **out)
{
    if (self->safe == NULL || self->known == NULL)
        return 0;
    const unsigned char *safe = (const unsigned char *)PyBytes_AS_STRING(self->safe);
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    if (first_stop(text, safe) == n) {
        Py_INCREF(text);
        *out = text;
        return 1;
    }
    /* The bitmap and the dict are held: _decide_unit, called below, may hand the guard new
     * ones (_guard). */
    PyObject *safe_held = self->safe, *known = self->known;
    Py_INCREF(safe_held);
    Py_INCREF(known);
    /* From the start: a unit may begin before the first code point that does not pass (a
     * base and its selector). */
    Text o = {NULL, 0, 0};
    Py_ssize_t copied = 0;  /* text[:copied] is in o */
    int result = -1;
    Py_ssize_t i = 0, end = 0;
    while ((i = next_unit(kind, data, n, safe, i, &end)) < n) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        PyObject *replacement;
        if (end == i + 1 && self->private_use != NULL && is_private_use(c)) {
            /* no gaiji table: every private-use code point gets the fallback */
            Py_INCREF(self->private_use);
            replacement = self->private_use;
        }
        else {
            PyObject *unit = PyUnicode_Substring(text, i, end);
            if (unit == NULL)
                goto done;
            replacement = PyDict_GetItemWithError(known, unit);
            int compiled = 0;
            if (replacement != NULL)
                Py_INCREF(replacement);
            else if (!PyErr_Occurred()
                     && (compiled = compiled_decision(self, unit, &replacement)) != 0) {
                /* remembered as _decide_unit remembers (the table is finite) */
                if (compiled > 0 && PyDict_SetItem(known, unit, replacement) < 0)
                    Py_CLEAR(replacement);
            }
            else if (!PyErr_Occurred()) {
                /* a unit met for the first time: its replacement, or None when the text
                 * decides */
                replacement = PyObject_CallMethodOneArg((PyObject *)self, decide_unit, unit);
                if (replacement == Py_None) {
                    Py_DECREF(replacement);
                    replacement = NULL;
                    result = 0;
                }
                else if (replacement != NULL && !PyUnicode_Check(replacement)) {
                    Py_DECREF(replacement);
                    replacement = NULL;
                    PyErr_SetString(PyExc_TypeError, "_decide_unit must return a str or None");
                }
            }
            Py_DECREF(unit);
            if (replacement == NULL)
                goto done;
        }
        int put = text_put(&o, kind, data, copied, i) == 0
            && text_put(&o, PyUnicode_KIND(replacement), PyUnicode_DATA(replacement), 0,
                        PyUnicode_GET_LENGTH(replacement)) == 0;
        Py_DECREF(replacement);
        if (!put)
            goto done;
        copied = i = end;
    }
    if (text_put(&o, kind, data, copied, n) < 0)
        goto done;
    *out = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, o.buf, o.len);
    result = *out == NULL ? -1 : 1;
done:
    PyMem_Free(o.buf);
    Py_DECREF(safe_held);
    Py_DECREF(known);
    return result;
}

PyDoc_STRVAR(guard_normalize_doc,
"normalize(text, *, reading=None)\n--\n\n"
"Return ``text`` brought into the target (``reading`` is used by fallback ``kana``).\n\n"
"An accelerator of :meth:`explain` (the reference): a name every code point of which the\n"
"target shows is returned as it is; the other names are substituted unit by unit, each\n"
"unit decided once; a name whose answer depends on more than its units goes to the Python\n"
"path.  A property test proves that all three agree.");

static PyObject *
guard_normalize(NameGuard *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    int plain_call = nargs == 1 && PyUnicode_Check(args[0]);
    if (plain_call && kwnames != NULL) {
        /* reading= changes nothing for a known unit (fallback kana is never remembered) */
        plain_call = PyTuple_GET_SIZE(kwnames) == 1
            && PyUnicode_Compare(PyTuple_GET_ITEM(kwnames, 0), reading_kw) == 0;
    }
    if (plain_call) {
        PyObject *out;
        int done = guard_text(self, args[0], &out);
        if (done < 0)
            return NULL;
        if (done > 0)
            return out;
    }
    PyObject *python = PyObject_GetAttr((PyObject *)self, python_path);
    if (python == NULL)
        return NULL;
    PyObject *result = PyObject_Vectorcall(python, args, nargs, kwnames);
    Py_DECREF(python);
    return result;
}

PyDoc_STRVAR(guard_is_safe_doc,
"is_safe(text)\n--\n\n"
"True when ``normalize`` would return ``text`` unchanged.  A name every code point of which\n"
"the target shows is answered here; any other goes to ``_is_safe_python``.");

static PyObject *
guard_is_safe(NameGuard *self, PyObject *text)
{
    if (self->safe != NULL && PyUnicode_Check(text)
            && first_stop(text, (const unsigned char *)PyBytes_AS_STRING(self->safe))
               == PyUnicode_GET_LENGTH(text))
        Py_RETURN_TRUE;
    return PyObject_CallMethodOneArg((PyObject *)self, is_safe_path, text);
}

PyDoc_STRVAR(guard_normalize_list_doc,
"_normalize_list(texts, /)\n--\n\n"
"``[self.normalize(t) for t in texts]`` for a list, in one call.");

static PyObject *
guard_normalize_list(NameGuard *self, PyObject *texts)
{
    if (!PyList_Check(texts)) {
        PyErr_SetString(PyExc_TypeError, "_normalize_list takes a list");
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(texts);
    PyObject *result = PyList_New(n);
    PyObject *python = NULL;
    if (result == NULL)
        return NULL;
    for (Py_ssize_t k = 0; k < n; k++) {
        PyObject *text = PyList_GET_ITEM(texts, k);
        Py_INCREF(text);  /* held across calls into Python, which could change the list */
        PyObject *out = NULL;
        int done = PyUnicode_Check(text) ? guard_text(self, text, &out) : 0;
        if (done == 0) {
            if (python == NULL)
                python = PyObject_GetAttr((PyObject *)self, python_path);
            out = python == NULL ? NULL : PyObject_CallOneArg(python, text);
        }
        Py_DECREF(text);
        if (out == NULL) {
            Py_XDECREF(python);
            Py_DECREF(result);
            return NULL;
        }
        /* the list may have changed under a call into Python: the slot is ours */
        PyList_SET_ITEM(result, k, out);
        if (n != PyList_GET_SIZE(texts)) {
            for (Py_ssize_t rest = k + 1; rest < n; rest++) {
                Py_INCREF(Py_None);
                PyList_SET_ITEM(result, rest, Py_None);
            }
            Py_XDECREF(python);
            Py_DECREF(result);
            PyErr_SetString(PyExc_RuntimeError, "the list of texts changed size");
            return NULL;
        }
    }
    Py_XDECREF(python);
    return result;
}

/* ------------------------------------------------------------------ explaining a list */

#define EXPLAIN_REVIEW 1    /* a person should look at a change of the name */
#define EXPLAIN_FALLBACK 2  /* a unit was replaced by the fallback */
#define EXPLAIN_PER_NAME 4  /* only Normalizer.explain can answer the name */

static PyObject *explain_unit;  /* "_explain_unit" */

static int
text_put_char(Text *o, Py_UCS4 c)
{
    Py_UCS4 one[1] = {c};
    return text_put(o, PyUnicode_4BYTE_KIND, one, 0, 1);
}

static int
text_put_ascii(Text *o, const char *s, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++)
        if (text_put_char(o, (unsigned char)s[i]) < 0)
            return -1;
    return 0;
}

/* invisible._FILLERS: printable code points the invisible policy removes */
static inline int
is_filler(Py_UCS4 c)
{
    return c == 0x115F || c == 0x1160 || c == 0x3164 || c == 0xFFA0 || c == 0x034F;
}

/* Append normalizer.show(s) to o: private-use, selector and filler code points written as
 * <U+XXXX>, printable ones as they are.  1: done; 0: s holds a code point only Python's
 * invisible.classify decides (an unprintable one); -1: an error is set. */
static int
show_put(Text *o, int kind, const void *data, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (is_private_use(c) || is_selector(c) || is_filler(c)) {
            char code[16];
            int len = snprintf(code, sizeof(code), "<U+%04X>", (unsigned int)c);
            if (text_put_ascii(o, code, len) < 0)
                return -1;
        }
        else if (Py_UNICODE_ISPRINTABLE(c)) {
            if (text_put_char(o, c) < 0)
                return -1;
        }
        else
            return 0;
    }
    return 1;
}

/* str(Change) of a unit: show(unit) + "→" + show(replacement or "(removed)") + " " + rules.
 * A new str; Py_None (a new reference) when only Python can write it; NULL on error. */
static PyObject *
change_text(PyObject *unit, PyObject *replacement, PyObject *rules)
{
    Text o = {NULL, 0, 0};
    PyObject *out = NULL;
    int shown = show_put(&o, PyUnicode_KIND(unit), PyUnicode_DATA(unit),
                         PyUnicode_GET_LENGTH(unit));
    if (shown == 1)
        shown = text_put_char(&o, 0x2192) < 0 ? -1 : 1;
    if (shown == 1) {
        if (PyUnicode_GET_LENGTH(replacement) == 0)
            shown = text_put_ascii(&o, "(removed)", 9) < 0 ? -1 : 1;
        else
            shown = show_put(&o, PyUnicode_KIND(replacement), PyUnicode_DATA(replacement),
                             PyUnicode_GET_LENGTH(replacement));
    }
    if (shown == 1)
        shown = text_put_char(&o, ' ') < 0
                || text_put(&o, PyUnicode_KIND(rules), PyUnicode_DATA(rules), 0,
                            PyUnicode_GET_LENGTH(rules)) < 0 ? -1 : 1;
    if (shown == 1)
        out = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, o.buf, o.len);
    else if (shown == 0)
        out = Py_NewRef(Py_None);
    PyMem_Free(o.buf);
    return out;
}

/* The explained row of ``unit``: a tuple (replacement, change text, flags), borrowed from
 * ``units``, where it is put the first time.  Written here for a private-use code when
 * ``private_use`` (replacement, rules, flags) says what every such code becomes, and for a
 * compiled decision the target's fallback does not decide; asked of
 * ``self._explain_unit(unit)`` otherwise.  NULL with an error set. */
static PyObject *
unit_row(NameGuard *self, PyObject *unit, PyObject *units, PyObject *private_use)
{
    PyObject *row = PyDict_GetItemWithError(units, unit);
    if (row != NULL || PyErr_Occurred())
        return row;
    PyObject *replacement = NULL, *rules = NULL;
    long flags = 0;
    if (PyUnicode_GET_LENGTH(unit) == 1 && private_use != Py_None
            && is_private_use(PyUnicode_READ_CHAR(unit, 0))) {
        replacement = Py_NewRef(PyTuple_GET_ITEM(private_use, 0));
        rules = Py_NewRef(PyTuple_GET_ITEM(private_use, 1));
        flags = PyLong_AsLong(PyTuple_GET_ITEM(private_use, 2));
    }
    else {
        CompiledRow found;
        int got = compiled_fields(self, unit, &found);
        if (got < 0)
            return NULL;
        if (got > 0 && (!found.fallback || self->fallback != NULL)) {
            replacement = found.fallback ? Py_NewRef(self->fallback)
                : PyUnicode_DecodeUTF8(found.replacement, found.replacement_len, "strict");
            rules = PyUnicode_DecodeUTF8(found.rules, found.rules_len, "strict");
            flags = (found.review ? EXPLAIN_REVIEW : 0)
                    | (found.fallback ? EXPLAIN_FALLBACK : 0);
            if (replacement == NULL || rules == NULL) {
                Py_XDECREF(replacement);
                Py_XDECREF(rules);
                return NULL;
            }
        }
    }
    PyObject *made = NULL;
    if (replacement != NULL) {
        PyObject *text = change_text(unit, replacement, rules);
        if (text != NULL && text != Py_None)
            made = Py_BuildValue("(OOl)", replacement, text, flags);
        Py_DECREF(replacement);
        Py_DECREF(rules);
        if (text == NULL)
            return NULL;
        Py_DECREF(text);
        if (made == NULL && PyErr_Occurred())
            return NULL;
    }
    if (made == NULL) {
        made = PyObject_CallMethodOneArg((PyObject *)self, explain_unit, unit);
        if (made == NULL)
            return NULL;
        if (!PyTuple_Check(made) || PyTuple_GET_SIZE(made) != 3
                || !PyUnicode_Check(PyTuple_GET_ITEM(made, 0))
                || !PyUnicode_Check(PyTuple_GET_ITEM(made, 1))
                || !PyLong_Check(PyTuple_GET_ITEM(made, 2))) {
            Py_DECREF(made);
            PyErr_SetString(PyExc_TypeError,
                            "_explain_unit must return (replacement, change text, flags)");
            return NULL;
        }
    }
    int put = PyDict_SetItem(units, unit, made);
    Py_DECREF(made);  /* the dict holds it */
    return put < 0 ? NULL : made;
}

/* One name explained unit by unit: *normalized and *changes (new references) and the OR of
 * its units' flags.  0: done; -1: an error is set. */
static int
explain_text(NameGuard *self, PyObject *text, PyObject *units, PyObject *private_use,
             const unsigned char *safe, PyObject **normalized, PyObject **changes, long *flags)
{
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    *flags = 0;
    Text o = {NULL, 0, 0}, c = {NULL, 0, 0};
    Py_ssize_t copied = 0, i = 0, end = 0;
    int result = -1;
    while ((i = next_unit(kind, data, n, safe, i, &end)) < n) {
        PyObject *unit = PyUnicode_Substring(text, i, end);
        if (unit == NULL)
            goto done;
        PyObject *row = unit_row(self, unit, units, private_use);
        Py_DECREF(unit);
        if (row == NULL)
            goto done;
        Py_INCREF(row);  /* a later unit's call into Python may drop the dict's */
        PyObject *replacement = PyTuple_GET_ITEM(row, 0), *change = PyTuple_GET_ITEM(row, 1);
        *flags |= PyLong_AsLong(PyTuple_GET_ITEM(row, 2));
        int put = text_put(&o, kind, data, copied, i) == 0
            && text_put(&o, PyUnicode_KIND(replacement), PyUnicode_DATA(replacement), 0,
                        PyUnicode_GET_LENGTH(replacement)) == 0
            && (PyUnicode_GET_LENGTH(change) == 0
                || ((c.len == 0 || text_put_ascii(&c, "; ", 2) == 0)
                    && text_put(&c, PyUnicode_KIND(change), PyUnicode_DATA(change), 0,
                                PyUnicode_GET_LENGTH(change)) == 0));
        Py_DECREF(row);
        if (!put)
            goto done;
        copied = i = end;
    }
    if (copied == 0) {  /* no unit: the name as it is */
        *normalized = Py_NewRef(text);
        *changes = PyUnicode_New(0, 0);
        result = *changes == NULL ? -1 : 0;
        goto done;
    }
    if (text_put(&o, kind, data, copied, n) < 0)
        goto done;
    *normalized = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, o.buf, o.len);
    *changes = *normalized == NULL ? NULL
        : PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, c.buf, c.len);
    if (*changes == NULL) {
        Py_CLEAR(*normalized);
        goto done;
    }
    result = 0;
done:
    PyMem_Free(o.buf);
    PyMem_Free(c.buf);
    return result;
}

PyDoc_STRVAR(guard_explain_list_doc,
"_explain_list(texts, units, private_use, /)\n--\n\n"
"Each name of the list ``texts`` explained unit by unit, as the column kernel does: returns\n"
"``(normalized, changes, flags)``, two lists of str and bytes of one flag set per name (1: a\n"
"change needs review, 2: a unit took the fallback, 4: the name needs ``explain``, whose\n"
"answer then replaces the two texts).  ``changes`` is the names' ``str(Change)`` joined by\n"
"\"; \".  ``units`` (a dict, kept by the caller) maps each unit met to (replacement, change\n"
"text, flags); ``private_use``, (replacement, rules, flags) or None, what every private-use\n"
"unit becomes.  A unit neither answers is asked of ``self._explain_unit``.  Only for a\n"
"target without multi-code-point characters.");

static PyObject *
guard_explain_list(NameGuard *self, PyObject *args)
{
    PyObject *texts, *units, *private_use;
    if (!PyArg_ParseTuple(args, "O!O!O:_explain_list", &PyList_Type, &texts, &PyDict_Type,
                          &units, &private_use))
        return NULL;
    if (private_use != Py_None
            && (!PyTuple_Check(private_use) || PyTuple_GET_SIZE(private_use) != 3
                || !PyUnicode_Check(PyTuple_GET_ITEM(private_use, 0))
                || !PyUnicode_Check(PyTuple_GET_ITEM(private_use, 1))
                || !PyLong_Check(PyTuple_GET_ITEM(private_use, 2)))) {
        PyErr_SetString(PyExc_TypeError, "private_use must be (str, str, int) or None");
        return NULL;
    }
    if (self->safe == NULL) {
        PyErr_SetString(PyExc_ValueError, "the guard has no bitmap");
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(texts);
    PyObject *normalized = PyList_New(n), *changes = PyList_New(n);
    PyObject *flags = PyBytes_FromStringAndSize(NULL, n);
    /* the bitmap is held: _explain_unit may hand the guard a new one */
    PyObject *safe_held = Py_NewRef(self->safe);
    PyObject *held = Py_NewRef(texts);
    PyObject *result = NULL;
    if (normalized == NULL || changes == NULL || flags == NULL)
        goto done;
    for (Py_ssize_t k = 0; k < n; k++) {
        if (k >= PyList_GET_SIZE(texts)) {
            PyErr_SetString(PyExc_RuntimeError, "the list of texts changed size");
            goto done;
        }
        PyObject *text = PyList_GET_ITEM(texts, k);
        if (!PyUnicode_Check(text)) {
            PyErr_SetString(PyExc_TypeError, "_explain_list takes a list of str");
            goto done;
        }
        Py_INCREF(text);
        PyObject *norm = NULL, *change = NULL;
        long f = 0;
        int ok = explain_text(self, text, units, private_use,
                              (const unsigned char *)PyBytes_AS_STRING(safe_held),
                              &norm, &change, &f);
        Py_DECREF(text);
        if (ok < 0)
            goto done;
        PyList_SET_ITEM(normalized, k, norm);
        PyList_SET_ITEM(changes, k, change);
        PyBytes_AS_STRING(flags)[k] = (char)(f & 0x7F);
    }
    result = PyTuple_Pack(3, normalized, changes, flags);
done:
    Py_XDECREF(normalized);
    Py_XDECREF(changes);
    Py_XDECREF(flags);
    Py_DECREF(safe_held);
    Py_DECREF(held);
    return result;
}

/* ------------------------------------------------------------------ compiled lines */

PyDoc_STRVAR(guard_compiled_lines_doc,
"_compiled_lines(units, /)\n--\n\n"
"The compiled decisions of the list ``units``, found through the hash index: ``(lines,\n"
"found)``, the table's header line and the line of each unit that has one, in order\n"
"(bytes), and the positions in ``units`` of those units.  None when the guard reads no\n"
"table.");

static PyObject *
guard_compiled_lines(NameGuard *self, PyObject *units)
{
    if (!PyList_Check(units)) {
        PyErr_SetString(PyExc_TypeError, "_compiled_lines takes a list of str");
        return NULL;
    }
    if (self->rows == NULL || self->row_slots == NULL)
        Py_RETURN_NONE;
    const char *data = PyBytes_AS_STRING(self->rows);
    Py_ssize_t size = PyBytes_GET_SIZE(self->rows);
    const char *nl = memchr(data, '\n', (size_t)size);
    Py_ssize_t header = nl == NULL ? size : nl - data + 1;
    Out o;
    PyObject *found = PyList_New(0), *result = NULL;
    if (found == NULL || !out_init(&o, header + 64 * PyList_GET_SIZE(units))) {
        Py_XDECREF(found);
        return NULL;
    }
    if (!out_put(&o, data, header) || (nl == NULL && !out_put(&o, "\n", 1)))
        goto done;
    for (Py_ssize_t k = 0; k < PyList_GET_SIZE(units); k++) {
        PyObject *unit = PyList_GET_ITEM(units, k);
        if (!PyUnicode_Check(unit)) {
            PyErr_SetString(PyExc_TypeError, "_compiled_lines takes a list of str");
            goto done;
        }
        Py_ssize_t n;
        const char *want = PyUnicode_AsUTF8AndSize(unit, &n);
        if (want == NULL) {  /* a lone surrogate: no line has it */
            PyErr_Clear();
            continue;
        }
        Py_ssize_t at = row_at(self, want, n);
        if (at < 0)
            continue;
        const char *eol = memchr(data + at, '\n', (size_t)(size - at));
        Py_ssize_t end = eol == NULL ? size : eol - data;
        PyObject *index = PyLong_FromSsize_t(k);
        int put = index != NULL && PyList_Append(found, index) == 0;
        Py_XDECREF(index);
        if (!put || !out_put(&o, data + at, end - at) || !out_put(&o, "\n", 1))
            goto done;
    }
    if (_PyBytes_Resize(&o.bytes, o.len) == 0) {
        result = Py_BuildValue("(NO)", o.bytes, found);  /* the bytes handed over */
        o.bytes = NULL;
    }
done:
    Py_XDECREF(o.bytes);
    Py_DECREF(found);
    return result;
}

PyDoc_STRVAR(guard_set_doc,
"_guard(safe, known, private_use, rows, fallback, /)\n--\n\n"
"Set the bitmap of the code points the target shows (bytes, bit cp of 0x110000), the dict\n"
"of decided units (unit -> replacement) the guard reads, what a private-use code point\n"
"that does not pass becomes (None: ask _decide_unit), the compiled decisions' table (its\n"
"bytes, header line first, lines sorted by unit; or None) and what its fallback rows become\n"
"(None: ask _decide_unit).");

static int
str_or_none(PyObject *o, const char *name)
{
    if (o != Py_None && !PyUnicode_Check(o)) {
        PyErr_Format(PyExc_TypeError, "%s must be a str or None", name);
        return 0;
    }
    return 1;
}

static void
set_optional(PyObject **field, PyObject *value)
{
    if (value == Py_None)
        Py_CLEAR(*field);
    else {
        Py_INCREF(value);
        Py_XSETREF(*field, value);
    }
}

static PyObject *
guard_set(NameGuard *self, PyObject *args)
{
    PyObject *safe, *known, *private_use, *rows, *fallback;
    if (!PyArg_ParseTuple(args, "O!O!OOO:_guard", &PyBytes_Type, &safe, &PyDict_Type, &known,
                          &private_use, &rows, &fallback))
        return NULL;
    if (!str_or_none(private_use, "private_use") || !str_or_none(fallback, "fallback"))
        return NULL;
    if (rows != Py_None && !PyBytes_Check(rows)) {
        PyErr_SetString(PyExc_TypeError, "rows must be bytes or None");
        return NULL;
    }
    if (PyBytes_GET_SIZE(safe) != BITMAP_BYTES) {
        PyErr_SetString(PyExc_ValueError, "the bitmap must have 0x110000 bits");
        return NULL;
    }
    Py_INCREF(safe);
    Py_XSETREF(self->safe, safe);
    Py_INCREF(known);
    Py_XSETREF(self->known, known);
    set_optional(&self->private_use, private_use);
    if ((rows == Py_None ? NULL : rows) != self->rows) {
        set_optional(&self->rows, rows);
        if (!index_rows(self))
            return NULL;
    }
    set_optional(&self->fallback, fallback);
    Py_RETURN_NONE;
}

static int
guard_traverse(NameGuard *self, visitproc visit, void *arg)
{
    Py_VISIT(self->safe);
    Py_VISIT(self->known);
    Py_VISIT(self->private_use);
    Py_VISIT(self->rows);
    Py_VISIT(self->fallback);
    return 0;
}

static int
guard_clear(NameGuard *self)
{
    Py_CLEAR(self->safe);
    Py_CLEAR(self->known);
    Py_CLEAR(self->private_use);
    Py_CLEAR(self->rows);
    Py_CLEAR(self->fallback);
    PyMem_Free(self->row_slots);
    self->row_slots = NULL;
    self->row_mask = 0;
    return 0;
}

static void
guard_dealloc(NameGuard *self)
{
    PyObject_GC_UnTrack(self);
    guard_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

PyDoc_STRVAR(guard_normalize_arrow_doc,
"_normalize_arrow(stream, threads, /)\n--\n\n"
"``normalize`` of each value of a string column given as an Arrow C stream capsule:\n"
"``(column, changed)``, the normalized column as an Arrow C stream capsule of string views\n"
"and the number of values the guard stopped at, or ``(None, 0)`` when it stopped at none.\n"
"The rows are found as ``arrow_hits`` finds them and each distinct unit is decided once, as\n"
"``normalize`` decides it; the views of the values left as they are point into the input's\n"
"buffers (the column holds its arrays), the changed values are written into one more buffer\n"
"per array: no str made but for a value the Python path decides.  None when the column is\n"
"not one ``arrow_hits`` reads, holds a value views cannot point at (past 2 GiB) or bytes\n"
"that are not UTF-8, or the guard has no bitmap yet.");

static PyObject *guard_normalize_arrow(NameGuard *self, PyObject *args);

static PyMethodDef guard_methods[] = {
    {"normalize", (PyCFunction)(void (*)(void))guard_normalize, METH_FASTCALL | METH_KEYWORDS,
     guard_normalize_doc},
    {"is_safe", (PyCFunction)guard_is_safe, METH_O, guard_is_safe_doc},
    {"_normalize_list", (PyCFunction)guard_normalize_list, METH_O, guard_normalize_list_doc},
    {"_explain_list", (PyCFunction)guard_explain_list, METH_VARARGS, guard_explain_list_doc},
    {"_normalize_arrow", (PyCFunction)guard_normalize_arrow, METH_VARARGS,
     guard_normalize_arrow_doc},
    {"_compiled_lines", (PyCFunction)guard_compiled_lines, METH_O, guard_compiled_lines_doc},
    {"_guard", (PyCFunction)guard_set, METH_VARARGS, guard_set_doc},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject NameGuardType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "mojinorm._speedups.NameGuard",
    .tp_doc = PyDoc_STR("The compiled base of mojinorm.Normalizer (see its normalize)."),
    .tp_basicsize = sizeof(NameGuard),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_new = PyType_GenericNew,
    .tp_dealloc = (destructor)guard_dealloc,
    .tp_traverse = (traverseproc)guard_traverse,
    .tp_clear = (inquiry)guard_clear,
    .tp_methods = guard_methods,
};

/* ------------------------------------------------------------------ Arrow string columns */

/* The Arrow C data and stream interfaces (https://arrow.apache.org/docs/format/CDataInterface.html),
 * as a producer such as polars exports a column through __arrow_c_stream__. */
struct ArrowSchema {
    const char *format;
    const char *name;
    const char *metadata;
    int64_t flags;
    int64_t n_children;
    struct ArrowSchema **children;
    struct ArrowSchema *dictionary;
    void (*release)(struct ArrowSchema *);
    void *private_data;
};

struct ArrowArray {
    int64_t length;
    int64_t null_count;
    int64_t offset;
    int64_t n_buffers;
    int64_t n_children;
    const void **buffers;
    struct ArrowArray **children;
    struct ArrowArray *dictionary;
    void (*release)(struct ArrowArray *);
    void *private_data;
};

struct ArrowArrayStream {
    int (*get_schema)(struct ArrowArrayStream *, struct ArrowSchema *out);
    int (*get_next)(struct ArrowArrayStream *, struct ArrowArray *out);
    const char *(*get_last_error)(struct ArrowArrayStream *);
    void (*release)(struct ArrowArrayStream *);
    void *private_data;
};

enum { ARROW_UTF8, ARROW_LARGE_UTF8, ARROW_UTF8_VIEW };

typedef struct {
    int64_t row;
    const unsigned char *value;  /* its UTF-8 bytes, in the array's buffers */
    int64_t size;
} Hit;

typedef struct {
    Hit *hits;
    Py_ssize_t n, cap;
} Rows;

static int
rows_add(Rows *r, int64_t row, const unsigned char *value, int64_t size)
{
    if (r->n == r->cap) {
        Py_ssize_t cap = r->cap ? r->cap * 2 : 1024;
        Hit *grown = PyMem_RawRealloc(r->hits, (size_t)cap * sizeof(Hit));
        if (grown == NULL)
            return 0;
        r->hits = grown;
        r->cap = cap;
    }
    r->hits[r->n].row = row;
    r->hits[r->n].value = value;
    r->hits[r->n].size = size;
    r->n++;
    return 1;
}

/* 1 when the UTF-8 bytes [p, p + n) hold a code point outside ``safe`` (or bytes that are
 * not UTF-8: the caller's polars path then decides), 0 otherwise. */
HOT_INLINE int
holds_outside(const unsigned char *safe, const unsigned char *p, int64_t n)
{
    const unsigned char *end = p + n;
    while (p < end) {
        unsigned char b = *p;
        if (b < 0x80) {
            if (!passes(safe, b))
                return 1;
            p++;
            continue;
        }
        if (b >= 0xE1 && b != 0xED && b <= 0xEF && end - p >= 3) {
            /* three bytes whose lead needs no range check (as in check_value) */
            if ((p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80)
                return 1;
            Py_UCS4 cp = ((Py_UCS4)(b & 0x0F) << 12) | ((Py_UCS4)(p[1] & 0x3F) << 6)
                         | (p[2] & 0x3F);
            if (!passes(safe, cp))
                return 1;
            p += 3;
            continue;
        }
        int len;
        long cp = decode(p, end - p, &len);
        if (cp < 0 || !passes(safe, (Py_UCS4)cp))
            return 1;
        p += len;
    }
    return 0;
}

/* The rows [from, to) of one array (``base`` is the row number of its first row) that hold
 * a code point outside ``safe``.  1 when read, 0 with no memory, -1 for a view into a buffer
 * the array does not have. */
static int
array_hits(const struct ArrowArray *a, int kind, const unsigned char *safe, int64_t base,
           int64_t from, int64_t to, Rows *out)
{
    const unsigned char *valid = a->null_count != 0 ? a->buffers[0] : NULL;
    int64_t data_buffers = a->n_buffers - 3;  /* views: validity, views, data..., sizes */
    int64_t off = a->offset;
    for (int64_t i = from; i < to; i++) {
        int64_t k = off + i;
        if (valid != NULL && !((valid[k >> 3] >> (k & 7)) & 1))
            continue;  /* null */
        const unsigned char *p;
        int64_t n;
        if (kind == ARROW_UTF8_VIEW) {
            const unsigned char *view = (const unsigned char *)a->buffers[1] + 16 * k;
            int32_t len, index, start;
            memcpy(&len, view, 4);
            n = len;
            if (len <= 12)
                p = view + 4;
            else {
                memcpy(&index, view + 8, 4);
                memcpy(&start, view + 12, 4);
                if (index < 0 || index >= data_buffers)
                    return -1;
                p = (const unsigned char *)a->buffers[2 + index] + start;
            }
        }
        else if (kind == ARROW_LARGE_UTF8) {
            const int64_t *offsets = a->buffers[1];
            p = (const unsigned char *)a->buffers[2] + offsets[k];
            n = offsets[k + 1] - offsets[k];
        }
        else {
            const int32_t *offsets = a->buffers[1];
            p = (const unsigned char *)a->buffers[2] + offsets[k];
            n = offsets[k + 1] - offsets[k];
        }
        if (holds_outside(safe, p, n) && !rows_add(out, base + i, p, n))
            return 0;
    }
    return 1;
}

/* The views of a normalized column's arrays, in one block their arrays share (made while
 * the column is read, by the reading threads; on Linux in huge pages: a fresh block of
 * millions of views costs a page fault per 4 KiB otherwise).  Freed with its last array,
 * whichever thread releases it. */
typedef struct {
    unsigned char *views;
    void *mapped;        /* the mapping the block is in, or NULL: views was malloc'ed */
    size_t mapped_size;
    long refs;
} ViewBlock;

#define HUGE_PAGE ((size_t)2 << 20)

static ViewBlock *
view_block_new(size_t size)
{
    ViewBlock *b = PyMem_RawCalloc(1, sizeof(ViewBlock));
    if (b == NULL)
        return NULL;
    b->refs = 1;
#if defined(HAVE_THREADS) && defined(MADV_HUGEPAGE)
    if (size >= 2 * HUGE_PAGE) {
        size_t mapped_size = size + HUGE_PAGE;
        void *mapped = mmap(NULL, mapped_size, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (mapped != MAP_FAILED) {
            uintptr_t at = ((uintptr_t)mapped + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1);
            madvise((void *)at, size, MADV_HUGEPAGE);  /* advice: without it, small pages */
            b->views = (unsigned char *)at;
            b->mapped = mapped;
            b->mapped_size = mapped_size;
            return b;
        }
    }
#endif
    b->views = PyMem_RawMalloc(size > 0 ? size : 1);
    if (b->views == NULL) {
        PyMem_RawFree(b);
        return NULL;
    }
    return b;
}

static void
view_block_drop(ViewBlock *b)
{
    if (b == NULL || REFS_DROP(&b->refs) != 0)
        return;
#if defined(HAVE_THREADS) && defined(MADV_HUGEPAGE)
    if (b->mapped != NULL)
        munmap(b->mapped, b->mapped_size);
    else
#endif
        PyMem_RawFree(b->views);
    PyMem_RawFree(b);
}

/* The 16-byte view of the value [p, p + n): inline when it holds 12 bytes or fewer, else its
 * first four bytes, its buffer and its offset there (the Arrow binary-view layout). */
static void
view_write(unsigned char *view, const unsigned char *p, int32_t n, int32_t buffer,
           int32_t offset)
{
    memset(view, 0, 16);
    memcpy(view, &n, 4);
    if (n <= 12) {
        memcpy(view + 4, p, (size_t)n);
        return;
    }
    memcpy(view + 4, p, 4);
    memcpy(view + 8, &buffer, 4);
    memcpy(view + 12, &offset, 4);
}

/* The views of rows [from, to) of array ``a`` (counted from its offset) written at ``views``
 * (the array's row 0, before its offset): copied from a view array, written over the offsets
 * of another (its data buffer taken as buffer 0).  0: a value past 2 GiB in its buffer. */
static int
write_views(const struct ArrowArray *a, int kind, int64_t from, int64_t to,
            unsigned char *views)
{
    int64_t off = a->offset;
    if (from == 0)
        memset(views, 0, (size_t)off * 16);
    if (kind == ARROW_UTF8_VIEW) {
        memcpy(views + (off + from) * 16, (const unsigned char *)a->buffers[1] + (off + from) * 16,
               (size_t)(to - from) * 16);
        return 1;
    }
    const unsigned char *data = a->buffers[2];
    for (int64_t k = off + from; k < off + to; k++) {
        int64_t start, end;
        if (kind == ARROW_LARGE_UTF8) {
            start = ((const int64_t *)a->buffers[1])[k];
            end = ((const int64_t *)a->buffers[1])[k + 1];
        }
        else {
            start = ((const int32_t *)a->buffers[1])[k];
            end = ((const int32_t *)a->buffers[1])[k + 1];
        }
        if (end > INT32_MAX || end < start)
            return 0;
        view_write(views + k * 16, data + start, (int32_t)(end - start), 0, (int32_t)start);
    }
    return 1;
}

typedef struct {
    const struct ArrowArray *arrays;
    Py_ssize_t narrays;
    int kind;
    const unsigned char *safe;
    int64_t from, to;  /* the rows of this part, numbered across the arrays */
    Rows rows;
    int read;          /* array_hits' answer */
    ViewBlock *block;  /* when set: each array's views are written at views + starts[j] * 16 */
    const int64_t *starts;
    int views_failed;  /* a value views cannot point at */
} ArrowPart;

static void *
arrow_part(void *arg)
{
    ArrowPart *part = arg;
    int64_t base = 0;
    part->read = 1;
    for (Py_ssize_t j = 0; j < part->narrays && part->read == 1; j++) {
        const struct ArrowArray *a = &part->arrays[j];
        int64_t lo = part->from > base ? part->from : base;
        int64_t hi = part->to < base + a->length ? part->to : base + a->length;
        if (lo < hi) {
            part->read = array_hits(a, part->kind, part->safe, base, lo - base, hi - base,
                                    &part->rows);
            if (part->block != NULL && !part->views_failed
                    && !write_views(a, part->kind, lo - base, hi - base,
                                    part->block->views + part->starts[j] * 16))
                part->views_failed = 1;
        }
        base += a->length;
    }
    return NULL;
}

PyDoc_STRVAR(arrow_hits_doc,
"arrow_hits(stream, safe, threads, values, /)\n--\n\n"
"The rows of a string column, given as an Arrow C stream capsule (``__arrow_c_stream__``:\n"
"utf8, large_utf8 or utf8_view chunks), whose value holds a code point that is not set in\n"
"``safe`` (a bitmap of 0x110000 bits): a list of row numbers, in order.  Null rows are not\n"
"listed.  The rows are read without the GIL, cut into up to ``threads`` parts read side by\n"
"side.  With ``values``: ``(rows, texts)``, the texts of those rows as str.  None when the\n"
"stream holds another type, or nested or dictionary arrays.");

/* The Arrow arrays of a stream and the rows found in them: what read_arrow leaves for its
 * caller, who calls release_arrow when done (the hits point into the arrays' buffers). */
typedef struct {
    struct ArrowArrayStream *stream;
    struct ArrowArray *arrays;
    Py_ssize_t narrays;
    ArrowPart parts[MAX_THREADS];
    int nparts;
    int kind;          /* ARROW_UTF8, ARROW_LARGE_UTF8 or ARROW_UTF8_VIEW */
    ViewBlock *block;  /* read_arrow's ``views``: the arrays' views, array j's row 0 at */
    int64_t *starts;   /* starts[j] (views' rows, offsets counted) */
    int views_failed;  /* a value the views cannot point at (past 2 GiB) */
} ArrowRead;

static void
release_arrow(ArrowRead *r)
{
    for (int k = 0; k < MAX_THREADS; k++)
        PyMem_RawFree(r->parts[k].rows.hits);
    view_block_drop(r->block);
    PyMem_RawFree(r->starts);
    for (Py_ssize_t j = 0; j < r->narrays; j++)
        if (r->arrays[j].release != NULL)  /* NULL: moved into a column made from it */
            r->arrays[j].release(&r->arrays[j]);
    PyMem_RawFree(r->arrays);
    if (r->stream != NULL) {
        r->stream->release(r->stream);  /* consumed: the capsule's destructor finds it released */
        r->stream->release = NULL;
    }
}

/* Read the string column of the stream ``capsule`` and find its rows holding a code point
 * outside ``safe``, on up to ``threads`` threads without the GIL; with ``views``, write the
 * views of its values too (r->block, r->starts).  1: read (r->parts hold the rows, in
 * order); 0: not a column this reader takes (another type, nested or dictionary arrays);
 * -1: an error is set.  release_arrow(r) in every case. */
static int
read_arrow(ArrowRead *r, PyObject *capsule, const unsigned char *safe, int threads, int views)
{
    memset(r, 0, sizeof(*r));
    struct ArrowArrayStream *stream = PyCapsule_GetPointer(capsule, "arrow_array_stream");
    if (stream == NULL)
        return -1;
    if (stream->release == NULL) {
        PyErr_SetString(PyExc_ValueError, "the Arrow stream was already consumed");
        return -1;
    }
    r->stream = stream;
    if (threads < 1)
        threads = 1;
    if (threads > MAX_THREADS)
        threads = MAX_THREADS;
    Py_ssize_t cap = 0;
    struct ArrowSchema schema;
    int kind = -1;
    if (stream->get_schema(stream, &schema) != 0) {
        const char *why = stream->get_last_error(stream);
        PyErr_Format(PyExc_ValueError, "the Arrow stream has no schema: %s",
                     why ? why : "no reason given");
        return -1;
    }
    if (schema.dictionary == NULL && schema.n_children == 0) {
        if (strcmp(schema.format, "u") == 0)
            kind = ARROW_UTF8;
        else if (strcmp(schema.format, "U") == 0)
            kind = ARROW_LARGE_UTF8;
        else if (strcmp(schema.format, "vu") == 0)
            kind = ARROW_UTF8_VIEW;
    }
    schema.release(&schema);
    if (kind < 0)
        return 0;
    r->kind = kind;
    int64_t total = 0;
    int failed = 0, no_memory = 0, n = 0;
    Py_BEGIN_ALLOW_THREADS
    for (;;) {  /* every array of the stream, kept until the end */
        if (r->narrays == cap) {
            Py_ssize_t grown_cap = cap ? cap * 2 : 16;
            struct ArrowArray *grown = PyMem_RawRealloc(
                r->arrays, (size_t)grown_cap * sizeof(struct ArrowArray));
            if (grown == NULL) {
                no_memory = 1;
                break;
            }
            r->arrays = grown;
            cap = grown_cap;
        }
        struct ArrowArray *a = &r->arrays[r->narrays];
        if (stream->get_next(stream, a) != 0) {
            failed = 1;
            break;
        }
        if (a->release == NULL)
            break;  /* the end of the stream */
        r->narrays++;
        if (a->n_buffers < 3 || a->n_children != 0 || a->dictionary != NULL) {
            failed = 2;
            break;
        }
        total += a->length;
    }
    if (!failed && !no_memory && views) {
        r->starts = PyMem_RawMalloc((size_t)(r->narrays + 1) * sizeof(int64_t));
        int64_t rows = 0;
        for (Py_ssize_t j = 0; r->starts != NULL && j < r->narrays; j++) {
            r->starts[j] = rows;
            rows += r->arrays[j].offset + r->arrays[j].length;
        }
        if (r->starts == NULL || (r->block = view_block_new((size_t)rows * 16)) == NULL)
            no_memory = 1;
    }
    if (!failed && !no_memory) {
        int64_t per = total / threads + 1;
        if (per < 65536)
            per = 65536;  /* a thread for fewer rows costs more than it saves */
        for (int64_t from = 0; from < total && n < threads; from += per, n++) {
            r->parts[n].arrays = r->arrays;
            r->parts[n].narrays = r->narrays;
            r->parts[n].kind = kind;
            r->parts[n].safe = safe;
            r->parts[n].from = from;
            r->parts[n].to = from + per < total ? from + per : total;
            r->parts[n].block = r->block;
            r->parts[n].starts = r->starts;
        }
        r->nparts = n;
        side_by_side(arrow_part, r->parts, sizeof(ArrowPart), n);
        for (int k = 0; k < n; k++) {
            if (r->parts[k].read == 0)
                no_memory = 1;
            else if (r->parts[k].read < 0)
                failed = 2;
            r->views_failed |= r->parts[k].views_failed;
        }
    }
    Py_END_ALLOW_THREADS
    if (no_memory) {
        PyErr_NoMemory();
        return -1;
    }
    if (failed == 1) {
        const char *why = stream->get_last_error(stream);
        PyErr_Format(PyExc_ValueError, "the Arrow stream failed: %s",
                     why ? why : "no reason given");
        return -1;
    }
    return failed == 2 ? 0 : 1;
}

static PyObject *
arrow_hits(PyObject *module, PyObject *args)
{
    (void)module;
    PyObject *capsule;
    Py_buffer safe;
    int threads, values;
    if (!PyArg_ParseTuple(args, "Oy*ip:arrow_hits", &capsule, &safe, &threads, &values))
        return NULL;
    if (safe.len != BITMAP_BYTES) {
        PyBuffer_Release(&safe);
        PyErr_SetString(PyExc_ValueError, "the bitmap must have 0x110000 bits");
        return NULL;
    }
    ArrowRead r;
    PyObject *result = NULL;
    int read = read_arrow(&r, capsule, safe.buf, threads, 0);
    if (read <= 0) {
        if (read == 0)
            result = Py_NewRef(Py_None);
        goto done;
    }
    Py_ssize_t count = 0;
    for (int k = 0; k < r.nparts; k++)
        count += r.parts[k].rows.n;
    PyObject *found = PyList_New(count);
    PyObject *texts = values ? PyList_New(count) : NULL;
    if (found == NULL || (values && texts == NULL)) {
        Py_XDECREF(found);
        Py_XDECREF(texts);
        goto done;
    }
    Py_ssize_t at = 0;
    for (int k = 0; k < r.nparts; k++) {
        for (Py_ssize_t j = 0; j < r.parts[k].rows.n; j++) {
            const Hit *hit = &r.parts[k].rows.hits[j];
            PyObject *row = PyLong_FromLongLong(hit->row);
            if (row == NULL) {
                Py_DECREF(found);
                Py_XDECREF(texts);
                goto done;
            }
            PyList_SET_ITEM(found, at, row);
            if (values) {
                PyObject *text = PyUnicode_DecodeUTF8((const char *)hit->value,
                                                      (Py_ssize_t)hit->size, "strict");
                if (text == NULL) {
                    Py_DECREF(found);
                    Py_DECREF(texts);
                    goto done;
                }
                PyList_SET_ITEM(texts, at, text);
            }
            at++;
        }
    }
    if (values) {
        result = PyTuple_Pack(2, found, texts);
        Py_DECREF(found);
        Py_DECREF(texts);
    }
    else
        result = found;
done:
    release_arrow(&r);
    PyBuffer_Release(&safe);
    return result;
}

/* The distinct units met in a column read in place: open addressing over their UTF-8 bytes
 * (which stay in the Arrow buffers while the column is read), each decided once. */
typedef struct {
    const unsigned char *p;
    Py_ssize_t n;
    uint32_t hash;
    long flags;        /* counting: the unit's flag bits; -1: the target keeps it; MISSING:
                          not known.  Normalizing: 1 when the text decides the unit */
    Py_ssize_t count;  /* occurrences, when flags >= 0 */
    PyObject *unit;    /* the unit as str, made once */
    PyObject *replacement;  /* normalizing: the unit's replacement (NULL: the text decides) */
    const char *utf8;  /* the replacement's UTF-8 (held by it) */
    Py_ssize_t utf8_len;
} UnitSlot;

/* What a new unit is: sets slot->flags (and, normalizing, the replacement) from slot->unit.
 * 0: done; -1: an error is set. */
typedef int (*UnitResolver)(void *context, UnitSlot *slot);

#define MISSING (-2)

typedef struct UnitTable {
    UnitSlot *slots;   /* in the order met */
    Py_ssize_t n, cap;
    uint64_t *index;   /* hash index: (hash << 32) | (slot + 1), 0 empty: a probe reads the
                          slot only when the hash matches */
    size_t mask;
    int owns;          /* the slots' bytes are copies the table frees (a table kept across
                          batches whose buffers go) */
} UnitTable;

static void
units_free(UnitTable *t)
{
    for (Py_ssize_t k = 0; k < t->n; k++) {
        Py_XDECREF(t->slots[k].unit);
        Py_XDECREF(t->slots[k].replacement);
        if (t->owns)
            PyMem_Free((void *)t->slots[k].p);
    }
    PyMem_Free(t->slots);
    PyMem_Free(t->index);
}

/* memcmp(a, b, n) == 0 for the few bytes of a unit, without a call into the C library. */
HOT_INLINE int
same_bytes(const unsigned char *a, const unsigned char *b, Py_ssize_t n)
{
    for (Py_ssize_t k = 0; k < n; k++)
        if (a[k] != b[k])
            return 0;
    return 1;
}

/* The slot of the unit [p, p + n): found, or added (its str made and decided by
 * ``resolve``).  NULL with an error set. */
/* The slot of the unit [p, p + n) with hash h, or NULL; *at: where the probe ended (the
 * index entry a new unit takes).  Reads the table only (the threads of a batch share it). */
HOT_INLINE UnitSlot *
unit_find(const UnitTable *t, const unsigned char *p, Py_ssize_t n, uint32_t h, size_t *at)
{
    size_t i = h & t->mask;
    for (uint64_t e; (e = t->index[i]) != 0; i = (i + 1) & t->mask) {
        if ((uint32_t)(e >> 32) != h)
            continue;
        UnitSlot *slot = &t->slots[(e & 0xFFFFFFFFu) - 1];
        if (slot->n == n && same_bytes(slot->p, p, n))
            return slot;
    }
    *at = i;
    return NULL;
}

static UnitSlot *
unit_slot(UnitTable *t, const unsigned char *p, Py_ssize_t n, UnitResolver resolve,
          void *context)
{
    uint32_t h = key_hash((const char *)p, n);
    size_t i;
    UnitSlot *found = unit_find(t, p, n, h, &i);
    if (found != NULL)
        return found;
    if (t->n == t->cap) {
        Py_ssize_t cap = t->cap * 2;
        UnitSlot *grown = PyMem_Realloc(t->slots, (size_t)cap * sizeof(UnitSlot));
        if (grown == NULL) {
            PyErr_NoMemory();
            return NULL;
        }
        t->slots = grown;
        t->cap = cap;
    }
    if ((size_t)(t->n + 1) * 2 > t->mask + 1) {  /* keep the index at most half full */
        size_t slots = (t->mask + 1) * 2;
        uint64_t *index = PyMem_Calloc(slots, sizeof(uint64_t));
        if (index == NULL) {
            PyErr_NoMemory();
            return NULL;
        }
        for (Py_ssize_t k = 0; k < t->n; k++) {
            size_t j = t->slots[k].hash & (slots - 1);
            while (index[j] != 0)
                j = (j + 1) & (slots - 1);
            index[j] = ((uint64_t)t->slots[k].hash << 32) | (uint64_t)(k + 1);
        }
        PyMem_Free(t->index);
        t->index = index;
        t->mask = slots - 1;
        for (i = h & t->mask; t->index[i] != 0; i = (i + 1) & t->mask)
            ;
    }
    UnitSlot *slot = &t->slots[t->n];
    memset(slot, 0, sizeof(*slot));
    slot->p = p;
    if (t->owns) {
        unsigned char *copy = PyMem_Malloc(n > 0 ? (size_t)n : 1);
        if (copy == NULL) {
            PyErr_NoMemory();
            return NULL;
        }
        memcpy(copy, p, (size_t)n);
        slot->p = copy;
    }
    slot->n = n;
    slot->hash = h;
    if (resolve(context, slot) < 0) {
        Py_CLEAR(slot->unit);
        Py_CLEAR(slot->replacement);
        if (t->owns)
            PyMem_Free((void *)slot->p);
        return NULL;
    }
    t->index[i] = ((uint64_t)h << 32) | (uint64_t)(++t->n);
    return slot;
}

/* The slot's unit as str (made once). */
static PyObject *
slot_unit(UnitSlot *slot)
{
    if (slot->unit == NULL)
        slot->unit = PyUnicode_DecodeUTF8((const char *)slot->p, slot->n, "strict");
    return slot->unit;
}

/* What counting asks of a new unit: its flags in the dict, or MISSING (put in the list). */
typedef struct {
    PyObject *flags, *missing;
} CountContext;

static int
resolve_flags(void *context, UnitSlot *slot)
{
    CountContext *c = context;
    if (slot_unit(slot) == NULL)
        return -1;
    PyObject *known = PyDict_GetItemWithError(c->flags, slot->unit);  /* borrowed */
    if (known == NULL) {
        slot->flags = MISSING;
        return PyErr_Occurred() || PyList_Append(c->missing, slot->unit) < 0 ? -1 : 0;
    }
    long value = PyLong_AsLong(known);
    if (value == -1 && PyErr_Occurred())
        return -1;
    slot->flags = value < -1 ? -1 : value;
    return 0;
}

/* The code point of the UTF-8 bytes at p (a valid string's), its length in *len. */
HOT_INLINE long
code_point_at(const unsigned char *p, const unsigned char *end, int *len)
{
    if (*p < 0x80) {
        *len = 1;
        return *p;
    }
    return decode(p, end - p, len);
}

/* The next unit of the UTF-8 bytes [p, end), cut as next_unit cuts a str: 1 with its start
 * in *start and its size in *size; 0: none; -1: bytes that are not UTF-8. */
static int
next_utf8_unit(const unsigned char *p, const unsigned char *end, const unsigned char *safe,
               const unsigned char **start, Py_ssize_t *size)
{
    int len, next_len = 0;
    while (p < end) {
        long c = code_point_at(p, end, &len);
        if (c < 0)
            return -1;
        const unsigned char *after = p + len;
        long next = -1;
        if (after < end && (next = code_point_at(after, end, &next_len)) < 0)
            return -1;
        if (is_selector((Py_UCS4)c) || !(next >= 0 && is_joiner((Py_UCS4)next))) {
            if (is_selector((Py_UCS4)c) || !passes(safe, (Py_UCS4)c)) {
                *start = p;
                *size = len;
                return 1;
            }
        }
        else {
            *start = p;
            *size = len + next_len;
            return 1;
        }
        p = after;
    }
    return 0;
}

/* Count the units of one value [p, p + n) (cut by next_utf8_unit) into t: the OR of their
 * known flags in *value.  0: done; -1: an error is set; 1: bytes that are not UTF-8. */
static int
count_value(UnitTable *t, const unsigned char *safe, const unsigned char *p, int64_t n,
            CountContext *context, long *value)
{
    const unsigned char *end = p + n, *start;
    Py_ssize_t size;
    int got;
    *value = 0;
    while ((got = next_utf8_unit(p, end, safe, &start, &size)) > 0) {
        UnitSlot *slot = unit_slot(t, start, size, resolve_flags, context);
        if (slot == NULL)
            return -1;
        if (slot->flags >= 0) {
            *value |= slot->flags;
            slot->count++;
        }
        p = start + size;
    }
    return got < 0 ? 1 : 0;
}

/* What normalizing asks of a new unit, as guard_text decides it: the fallback for a
 * private-use code point when ``private_use`` is set, else ``known``, the compiled decisions
 * (remembered in ``known``), or ``_decide_unit`` (None: the text decides, slot->flags 1). */
typedef struct {
    NameGuard *self;
    PyObject *known;
    PyObject *rows;  /* the compiled table the guard read when the column's reading began */
} NormalizeContext;

/* slot's replacement is ``replacement`` (a new reference, taken) and its UTF-8; one that has
 * none (a lone surrogate) leaves the unit to the Python path.  0. */
static int
take_replacement(UnitSlot *slot, PyObject *replacement)
{
    slot->utf8 = PyUnicode_AsUTF8AndSize(replacement, &slot->utf8_len);
    if (slot->utf8 == NULL) {
        PyErr_Clear();
        Py_DECREF(replacement);
        slot->flags = 1;
        return 0;
    }
    slot->replacement = replacement;
    return 0;
}

static int
resolve_replacement(void *context, UnitSlot *slot)
{
    NormalizeContext *c = context;
    NameGuard *self = c->self;
    int len = 0;
    long first = code_point_at(slot->p, slot->p + slot->n, &len);
    if (first >= 0 && len == slot->n && self->private_use != NULL
            && is_private_use((Py_UCS4)first))
        return take_replacement(slot, Py_NewRef(self->private_use));
    /* a compiled decision read in the table's bytes, as compiled_decision reads it (what
     * ``known`` holds for such a unit): no str made for the unit */
    if (c->rows != NULL && self->rows == c->rows) {
        CompiledRow row;
        int found = compiled_fields_of(self, (const char *)slot->p, slot->n, &row);
        if (found < 0)
            return -1;
        if (found > 0 && !row.fallback) {
            slot->utf8 = row.replacement;  /* in the table's bytes, held by the context */
            slot->utf8_len = row.replacement_len;
            return 0;
        }
        if (found > 0 && self->fallback != NULL)
            return take_replacement(slot, Py_NewRef(self->fallback));
    }
    PyObject *unit = slot_unit(slot), *replacement;
    if (unit == NULL)
        return -1;
    if ((replacement = PyDict_GetItemWithError(c->known, unit)) != NULL)
        return take_replacement(slot, Py_NewRef(replacement));
    if (PyErr_Occurred())
        return -1;
    int compiled = compiled_decision(self, unit, &replacement);
    if (compiled < 0)
        return -1;
    if (compiled > 0) {
        if (PyDict_SetItem(c->known, unit, replacement) < 0) {
            Py_DECREF(replacement);
            return -1;
        }
        return take_replacement(slot, replacement);
    }
    replacement = PyObject_CallMethodOneArg((PyObject *)self, decide_unit, unit);
    if (replacement == NULL)
        return -1;
    if (replacement == Py_None) {  /* the text decides */
        Py_DECREF(replacement);
        slot->flags = 1;
        return 0;
    }
    if (!PyUnicode_Check(replacement)) {
        Py_DECREF(replacement);
        PyErr_SetString(PyExc_TypeError, "_decide_unit must return a str or None");
        return -1;
    }
    return take_replacement(slot, replacement);
}

/* One value [p, p + n) normalized unit by unit.  1: its UTF-8 is o's [0, o->len); 0: a
 * unit's answer depends on the text (the Python path decides); -1: an error is set; 2: not
 * UTF-8. */
static int
normalize_value(UnitTable *t, const unsigned char *safe, const unsigned char *p, int64_t n,
                NormalizeContext *context, Out *o)
{
    const unsigned char *end = p + n, *copied = p, *start;
    Py_ssize_t size;
    int got;
    o->len = 0;
    while ((got = next_utf8_unit(p, end, safe, &start, &size)) > 0) {
        UnitSlot *slot = unit_slot(t, start, size, resolve_replacement, context);
        if (slot == NULL)
            return -1;
        if (slot->flags)
            return 0;
        if (!out_put(o, (const char *)copied, start - copied)
                || !out_put(o, slot->utf8, slot->utf8_len))
            return -1;
        p = copied = start + size;
    }
    if (got < 0)
        return 2;
    return out_put(o, (const char *)copied, end - copied) ? 1 : -1;
}

/* ------------------------------------------------ a normalized column as Arrow string views */

/* What an output array owns: the input array it was made from (whose buffers its views point
 * into, released with it), a share of the block its views are in, the UTF-8 of its changed
 * values, the sizes of its data buffers and the list of its buffers.  Raw memory: a
 * consumer may release it without the GIL. */
typedef struct {
    struct ArrowArray source;
    const void **buffers;
    ViewBlock *block;
    unsigned char *views;  /* row 0 of this array, in block */
    char *data;
    int64_t data_len, data_cap;
    int64_t *sizes;
} ViewArray;

static void
view_array_release(struct ArrowArray *a)
{
    ViewArray *v = a->private_data;
    if (v != NULL) {
        if (v->source.release != NULL)
            v->source.release(&v->source);
        view_block_drop(v->block);
        PyMem_RawFree(v->buffers);
        PyMem_RawFree(v->data);
        PyMem_RawFree(v->sizes);
        PyMem_RawFree(v);
    }
    a->release = NULL;
}

/* The output array of input array ``a`` (of ``kind``), its views at ``views`` in ``block``
 * (written by read_arrow): its data buffers those of ``a`` and one more for the values
 * changed.  ``a`` is moved into it.  0: no memory. */
static int
view_array_open(struct ArrowArray *out, struct ArrowArray *a, int kind, ViewBlock *block,
                unsigned char *views)
{
    memset(out, 0, sizeof(*out));
    int64_t inputs = kind == ARROW_UTF8_VIEW ? a->n_buffers - 3 : 1, rows = a->offset + a->length;
    ViewArray *v = PyMem_RawCalloc(1, sizeof(ViewArray));
    if (v == NULL)
        return 0;
    out->private_data = v;
    out->release = view_array_release;
    v->buffers = PyMem_RawCalloc((size_t)(inputs + 4), sizeof(void *));
    v->sizes = PyMem_RawMalloc((size_t)(inputs + 1) * sizeof(int64_t));
    v->data_cap = 256;
    v->data = PyMem_RawMalloc((size_t)v->data_cap);
    if (v->buffers == NULL || v->sizes == NULL || v->data == NULL)
        return 0;
    v->block = block;
    block->refs++;  /* the column holds a share until every array has its own */
    v->views = views;
    if (kind == ARROW_UTF8_VIEW)
        memcpy(v->sizes, a->buffers[a->n_buffers - 1], (size_t)inputs * sizeof(int64_t));
    else
        v->sizes[0] = rows == 0 ? 0 : kind == ARROW_LARGE_UTF8
            ? ((const int64_t *)a->buffers[1])[rows] : ((const int32_t *)a->buffers[1])[rows];
    v->buffers[0] = a->buffers[0];
    v->buffers[1] = views;
    for (int64_t k = 0; k < inputs; k++)
        v->buffers[2 + k] = a->buffers[kind == ARROW_UTF8_VIEW ? 2 + k : 2];
    out->length = a->length;
    out->null_count = a->null_count;
    out->offset = a->offset;
    out->n_buffers = inputs + 4;
    out->buffers = v->buffers;
    v->source = *a;
    a->release = NULL;  /* moved: released with the output array */
    return 1;
}

/* Row ``k`` of the output array (``k`` counted from its offset) is now [p, p + n).  0: no
 * memory; -1: the changed values pass 2 GiB. */
static int
view_array_put(struct ArrowArray *out, int64_t k, const char *p, Py_ssize_t n)
{
    ViewArray *v = out->private_data;
    int64_t inputs = out->n_buffers - 4;
    if (n > 12) {
        if (v->data_len + n > INT32_MAX)
            return -1;
        if (v->data_len + n > v->data_cap) {
            int64_t cap = v->data_cap * 2 + n;
            char *grown = PyMem_RawRealloc(v->data, (size_t)cap);
            if (grown == NULL)
                return 0;
            v->data = grown;
            v->data_cap = cap;
        }
        memcpy(v->data + v->data_len, p, (size_t)n);
    }
    view_write(v->views + (out->offset + k) * 16, (const unsigned char *)p, (int32_t)n,
               (int32_t)inputs, (int32_t)v->data_len);
    if (n > 12)
        v->data_len += n;
    return 1;
}

/* The output array is complete: its new data buffer and the sizes of all. */
static void
view_array_close(struct ArrowArray *out)
{
    ViewArray *v = out->private_data;
    int64_t inputs = out->n_buffers - 4;
    v->buffers[2 + inputs] = v->data;
    v->sizes[inputs] = v->data_len;
    v->buffers[3 + inputs] = v->sizes;
}

/* A stream of the output arrays, all made before it is handed over. */
typedef struct {
    struct ArrowArray *arrays;
    Py_ssize_t n, next;
} ViewStream;

static void
view_schema_release(struct ArrowSchema *schema)
{
    schema->release = NULL;
}

static int
view_stream_schema(struct ArrowArrayStream *stream, struct ArrowSchema *out)
{
    (void)stream;
    memset(out, 0, sizeof(*out));
    out->format = "vu";
    out->name = "";
    out->flags = 2;  /* ARROW_FLAG_NULLABLE */
    out->release = view_schema_release;
    return 0;
}

static int
view_stream_next(struct ArrowArrayStream *stream, struct ArrowArray *out)
{
    ViewStream *vs = stream->private_data;
    if (vs->next < vs->n) {
        *out = vs->arrays[vs->next];
        vs->arrays[vs->next++].release = NULL;  /* moved */
    }
    else
        memset(out, 0, sizeof(*out));  /* the end */
    return 0;
}

static const char *
view_stream_error(struct ArrowArrayStream *stream)
{
    (void)stream;
    return NULL;
}

static void
view_stream_release(struct ArrowArrayStream *stream)
{
    ViewStream *vs = stream->private_data;
    if (vs != NULL) {
        for (Py_ssize_t j = 0; j < vs->n; j++)
            if (vs->arrays[j].release != NULL)
                vs->arrays[j].release(&vs->arrays[j]);
        PyMem_RawFree(vs->arrays);
        PyMem_RawFree(vs);
    }
    stream->private_data = NULL;
    stream->release = NULL;
}

static void
view_stream_capsule_free(PyObject *capsule)
{
    struct ArrowArrayStream *stream = PyCapsule_GetPointer(capsule, "arrow_array_stream");
    if (stream == NULL) {
        PyErr_Clear();
        return;
    }
    if (stream->release != NULL)
        stream->release(stream);
    PyMem_RawFree(stream);
}

/* A capsule of a stream of ``n`` output arrays (taken: they are moved out of ``arrays``). */
static PyObject *
view_stream_capsule(struct ArrowArray *arrays, Py_ssize_t n)
{
    struct ArrowArrayStream *stream = PyMem_RawCalloc(1, sizeof(*stream));
    ViewStream *vs = PyMem_RawCalloc(1, sizeof(*vs));
    struct ArrowArray *owned = PyMem_RawMalloc(n > 0 ? (size_t)n * sizeof(*owned) : 1);
    if (stream == NULL || vs == NULL || owned == NULL) {
        PyMem_RawFree(stream);
        PyMem_RawFree(vs);
        PyMem_RawFree(owned);
        return PyErr_NoMemory();
    }
    for (Py_ssize_t j = 0; j < n; j++) {
        owned[j] = arrays[j];
        arrays[j].release = NULL;
    }
    vs->arrays = owned;
    vs->n = n;
    stream->get_schema = view_stream_schema;
    stream->get_next = view_stream_next;
    stream->get_last_error = view_stream_error;
    stream->release = view_stream_release;
    stream->private_data = vs;
    PyObject *capsule = PyCapsule_New(stream, "arrow_array_stream", view_stream_capsule_free);
    if (capsule == NULL) {
        stream->release(stream);
        PyMem_RawFree(stream);
    }
    return capsule;
}

/* The output arrays of a column being normalized as views: one per input array. */
typedef struct {
    struct ArrowArray *arrays;
    Py_ssize_t n;
    Py_ssize_t at;    /* the array the next changed row is in */
    int64_t base;     /* the number of its first row */
} ViewColumn;

static void
view_column_free(ViewColumn *c)
{
    for (Py_ssize_t j = 0; j < c->n; j++)
        if (c->arrays[j].release != NULL)
            c->arrays[j].release(&c->arrays[j]);
    PyMem_RawFree(c->arrays);
}

/* The output arrays of r's arrays (whose views read_arrow wrote), the inputs moved into
 * them.  1; 0 with an error set. */
static int
view_column_open(ViewColumn *c, ArrowRead *r)
{
    memset(c, 0, sizeof(*c));
    c->arrays = PyMem_RawCalloc(r->narrays > 0 ? (size_t)r->narrays : 1, sizeof(*c->arrays));
    if (c->arrays == NULL) {
        PyErr_NoMemory();
        return 0;
    }
    for (Py_ssize_t j = 0; j < r->narrays; j++) {
        c->n = j + 1;
        if (!view_array_open(&c->arrays[j], &r->arrays[j], r->kind, r->block,
                             r->block->views + r->starts[j] * 16)) {
            PyErr_NoMemory();
            return 0;
        }
    }
    return 1;
}

/* Row ``row`` (numbered across the arrays; rows come in order) is now [p, p + n).  1; 0
 * with an error set; -1: past what views can point at. */
static int
view_column_put(ViewColumn *c, int64_t row, const char *p, Py_ssize_t n)
{
    while (row >= c->base + c->arrays[c->at].length) {
        c->base += c->arrays[c->at].length;
        c->at++;
    }
    int put = view_array_put(&c->arrays[c->at], row - c->base, p, n);
    if (put == 0)
        PyErr_NoMemory();
    return put;
}

static PyObject *
guard_normalize_arrow(NameGuard *self, PyObject *args)
{
    PyObject *capsule;
    int threads;
    if (!PyArg_ParseTuple(args, "Oi:_normalize_arrow", &capsule, &threads))
        return NULL;
    if (self->safe == NULL || self->known == NULL)
        Py_RETURN_NONE;
    /* held: _decide_unit may hand the guard new ones */
    PyObject *safe_held = Py_NewRef(self->safe), *known = Py_NewRef(self->known);
    PyObject *rows_held = Py_XNewRef(self->rows);
    const unsigned char *safe = (const unsigned char *)PyBytes_AS_STRING(safe_held);
    UnitTable t = {NULL, 0, 256, NULL, 511};
    Out o = {NULL, NULL, 0, 0};  /* one buffer, written again for each value */
    PyObject *result = NULL, *python = NULL;
    ViewColumn column = {NULL, 0, 0, 0};
    ArrowRead r;
    int read = read_arrow(&r, capsule, safe, threads, 1);
    if (read <= 0) {
        if (read == 0)
            result = Py_NewRef(Py_None);
        goto done;
    }
    Py_ssize_t total = 0;
    for (int k = 0; k < r.nparts; k++)
        total += r.parts[k].rows.n;
    if (total == 0) {
        result = Py_BuildValue("(On)", Py_None, total);
        goto done;
    }
    t.slots = PyMem_Malloc((size_t)t.cap * sizeof(UnitSlot));
    t.index = PyMem_Calloc(t.mask + 1, sizeof(uint64_t));
    if (t.slots == NULL || t.index == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    if (!out_init(&o, 256))
        goto done;
    if (r.views_failed) {  /* a value past 2 GiB in its buffer: not a column for views */
        result = Py_NewRef(Py_None);
        goto done;
    }
    if (!view_column_open(&column, &r))
        goto done;
    NormalizeContext context = {self, known, rows_held};
    for (int k = 0; k < r.nparts; k++) {
        for (Py_ssize_t j = 0; j < r.parts[k].rows.n; j++) {
            const Hit *hit = &r.parts[k].rows.hits[j];
            PyObject *text = NULL;
            int got = normalize_value(&t, safe, hit->value, hit->size, &context, &o);
            if (got < 0)
                goto done;
            if (got == 2) {  /* not UTF-8: the caller's other path decides */
                result = Py_NewRef(Py_None);
                goto done;
            }
            const char *utf8 = o.buf;
            Py_ssize_t utf8_len = o.len;
            if (got == 0) {  /* the text decides: the Python path */
                PyObject *value = PyUnicode_DecodeUTF8((const char *)hit->value,
                                                       (Py_ssize_t)hit->size, "strict");
                if (value != NULL && python == NULL)
                    python = PyObject_GetAttr((PyObject *)self, python_path);
                text = value == NULL || python == NULL ? NULL
                    : PyObject_CallOneArg(python, value);
                Py_XDECREF(value);
                if (text == NULL || (utf8 = PyUnicode_AsUTF8AndSize(text, &utf8_len)) == NULL) {
                    Py_XDECREF(text);
                    goto done;
                }
            }
            int put = view_column_put(&column, hit->row, utf8, utf8_len);
            Py_XDECREF(text);
            if (put <= 0) {
                if (put < 0)
                    result = Py_NewRef(Py_None);
                goto done;
            }
        }
    }
    for (Py_ssize_t j = 0; j < column.n; j++)
        view_array_close(&column.arrays[j]);
    PyObject *stream = view_stream_capsule(column.arrays, column.n);
    if (stream != NULL)
        result = Py_BuildValue("(Nn)", stream, total);
done:
    Py_XDECREF(python);
    Py_XDECREF(o.bytes);
    view_column_free(&column);
    units_free(&t);
    release_arrow(&r);
    Py_DECREF(safe_held);
    Py_DECREF(known);
    Py_XDECREF(rows_held);
    return result;
}

PyDoc_STRVAR(count_arrow_doc,
"count_arrow(stream, safe, threads, flags, counts=None, /)\n--\n\n"
"The units of a string column given as an Arrow C stream capsule, read in place (its rows\n"
"found as ``arrow_hits`` finds them, their units cut as the guard cuts a name, i.e. as\n"
"``Target.unit_pattern`` finds them, and each distinct unit looked up once in the dict\n"
"``flags``: unit -> flag bits, -1 for a unit the target keeps; a str made per distinct unit,\n"
"none per row): ``(rows, bytes, counts)``, the rows holding a code point outside ``safe``,\n"
"the OR of their units' bits >= 0 per row, and each counted unit's\n"
"occurrences (added to the dict ``counts`` when given, which is then the one returned).\n"
"The list of units not in ``flags`` when there are some (nothing counted);\n"
"None when the column is not one ``arrow_hits`` reads.");

static PyObject *
count_arrow(PyObject *module, PyObject *args)
{
    (void)module;
    PyObject *capsule, *flags, *into = NULL;
    Py_buffer safe;
    int threads;
    if (!PyArg_ParseTuple(args, "Oy*iO!|O!:count_arrow", &capsule, &safe, &threads,
                          &PyDict_Type, &flags, &PyDict_Type, &into))
        return NULL;
    if (safe.len != BITMAP_BYTES) {
        PyBuffer_Release(&safe);
        PyErr_SetString(PyExc_ValueError, "the bitmap must have 0x110000 bits");
        return NULL;
    }
    UnitTable t = {NULL, 0, 256, NULL, 511};
    PyObject *result = NULL, *missing = NULL, *rows = NULL, *values = NULL, *counts = NULL;
    ArrowRead r;
    int read = read_arrow(&r, capsule, safe.buf, threads, 0);
    if (read <= 0) {
        if (read == 0)
            result = Py_NewRef(Py_None);
        goto done;
    }
    t.slots = PyMem_Malloc((size_t)t.cap * sizeof(UnitSlot));
    t.index = PyMem_Calloc(t.mask + 1, sizeof(uint64_t));
    missing = PyList_New(0);
    Py_ssize_t total = 0;
    for (int k = 0; k < r.nparts; k++)
        total += r.parts[k].rows.n;
    rows = PyList_New(total);
    values = PyBytes_FromStringAndSize(NULL, total);
    if (t.slots == NULL || t.index == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    if (missing == NULL || rows == NULL || values == NULL)
        goto done;
    Py_ssize_t at = 0;
    CountContext context = {flags, missing};
    for (int k = 0; k < r.nparts; k++) {
        for (Py_ssize_t j = 0; j < r.parts[k].rows.n; j++, at++) {
            const Hit *hit = &r.parts[k].rows.hits[j];
            long v = 0;
            int got = count_value(&t, safe.buf, hit->value, hit->size, &context, &v);
            if (got < 0)
                goto done;
            if (got > 0) {  /* not UTF-8: the caller's other path decides */
                result = Py_NewRef(Py_None);
                goto done;
            }
            PyObject *row = PyLong_FromLongLong(hit->row);
            if (row == NULL)
                goto done;
            PyList_SET_ITEM(rows, at, row);
            PyBytes_AS_STRING(values)[at] = (char)(unsigned char)(v & 0xFF);
        }
    }
    if (PyList_GET_SIZE(missing)) {
        result = Py_NewRef(missing);
        goto done;
    }
    counts = into != NULL ? Py_NewRef(into) : PyDict_New();
    if (counts == NULL)
        goto done;
    for (Py_ssize_t k = 0; k < t.n; k++) {
        if (t.slots[k].flags < 0 || t.slots[k].count == 0)
            continue;
        Py_ssize_t had = 0;
        if (into != NULL) {  /* added to what the dict holds */
            PyObject *old = PyDict_GetItemWithError(counts, t.slots[k].unit);
            if (old == NULL && PyErr_Occurred())
                goto done;
            if (old != NULL && (had = PyLong_AsSsize_t(old)) == -1 && PyErr_Occurred())
                goto done;
        }
        PyObject *n = PyLong_FromSsize_t(had + t.slots[k].count);
        int put = n != NULL && PyDict_SetItem(counts, t.slots[k].unit, n) == 0;
        Py_XDECREF(n);
        if (!put)
            goto done;
    }
    result = PyTuple_Pack(3, rows, values, counts);
done:
    Py_XDECREF(missing);
    Py_XDECREF(rows);
    Py_XDECREF(values);
    Py_XDECREF(counts);
    units_free(&t);
    release_arrow(&r);
    PyBuffer_Release(&safe);
    return result;
}

/* ------------------------------------------------------------ counting plain batches in C */

/* The flag bits of a unit's outcome (mojinorm.counting: UNSAFE, INVISIBLE, FALLBACK, LOSSY,
 * REVIEW), given by the caller so that the two never disagree. */
typedef struct FlagBits {
    long unsafe, invisible, fallback, lossy, review;
} FlagBits;

/* What a scan adds up per row and per selected column, in the order the caller reads them
 * (counting.Counts: review, invisible, unsafe, fallback, fixable, lossless; per column:
 * unsafe, invisible, fallback, changed, lossless, review). */
enum { ROW_REVIEW, ROW_INVISIBLE, ROW_UNSAFE, ROW_FALLBACK, ROW_FIXABLE, ROW_LOSSLESS,
       ROW_COUNTS };
enum { COL_UNSAFE, COL_INVISIBLE, COL_FALLBACK, COL_CHANGED, COL_LOSSLESS, COL_REVIEW,
       COL_COUNTS };

/* One part's counts of a batch (a thread's, or the rows counted with the GIL). */
typedef struct PartTally {
    int64_t rows[ROW_COUNTS];
    int64_t *columns;          /* nselected * COL_COUNTS */
    uint32_t *seen;            /* the slot of each unit occurrence counted (a few thousand a
                                  batch: a table of counts per slot would be 17,000 wide) */
    Py_ssize_t nseen, capseen;
    long *values;              /* scratch: the flags of one row's values */
    Py_ssize_t *review;        /* the first rows to review (at most room), ascending */
    Span *review_spans;        /* their selected values: room * nselected */
    Py_ssize_t nreview;
} PartTally;

static void
part_tally_free(PartTally *p)
{
    if (p == NULL)
        return;
    PyMem_RawFree(p->columns);
    PyMem_RawFree(p->seen);
    PyMem_RawFree(p->values);
    PyMem_RawFree(p->review);
    PyMem_RawFree(p->review_spans);
    PyMem_RawFree(p);
}

/* Room for n more occurrences in p->seen.  0: no memory. */
static int
part_tally_reserve(PartTally *p, Py_ssize_t n)
{
    if (p->nseen + n <= p->capseen)
        return 1;
    Py_ssize_t cap = p->capseen ? p->capseen * 2 : 1024;
    while (cap < p->nseen + n)
        cap *= 2;
    uint32_t *grown = PyMem_RawRealloc(p->seen, (size_t)cap * sizeof(uint32_t));
    if (grown == NULL)
        return 0;
    p->seen = grown;
    p->capseen = cap;
    return 1;
}

/* A new, empty, PartTally; NULL without memory (no GIL needed). */
static PartTally *
part_tally_new(Py_ssize_t nselected, Py_ssize_t room)
{
    PartTally *p = PyMem_RawCalloc(1, sizeof(PartTally));
    if (p == NULL)
        return NULL;
    p->columns = PyMem_RawCalloc((size_t)nselected * COL_COUNTS, sizeof(int64_t));
    p->values = PyMem_RawCalloc((size_t)nselected, sizeof(long));
    p->review = PyMem_RawCalloc(room > 0 ? (size_t)room : 1, sizeof(Py_ssize_t));
    p->review_spans = PyMem_RawCalloc(room > 0 ? (size_t)(room * nselected) : 1, sizeof(Span));
    if (p->columns == NULL || p->values == NULL || p->review == NULL
            || p->review_spans == NULL) {
        part_tally_free(p);
        return NULL;
    }
    return p;
}

static int
part_tally_open(Scan *s)
{
    s->tally = part_tally_new(s->nselected, s->room);
    return s->tally != NULL;
}

/* Add one row's values, whose flags are p->values (the OR of their units' bits), to p: the
 * counting rules of counting.count_rows (a value's flags count for its row when it is
 * unsafe, else only its invisible bit). */
static void
tally_values(PartTally *p, const FlagBits *b, Py_ssize_t nselected, Py_ssize_t room,
             Py_ssize_t row, const Span *spans)
{
    long unsafe = b->unsafe, fallback = b->fallback, lossy = b->lossy;
    long row_flags = 0;
    for (Py_ssize_t k = 0; k < nselected; k++) {
        long v = p->values[k];
        int64_t *col = &p->columns[k * COL_COUNTS];
        if (v == 0)
            continue;
        col[COL_CHANGED]++;
        if (v & unsafe)
            col[COL_UNSAFE]++;
        if (v & b->invisible)
            col[COL_INVISIBLE]++;
        if ((v & (unsafe | fallback)) == (unsafe | fallback))
            col[COL_FALLBACK]++;
        if ((v & (unsafe | fallback | lossy)) == unsafe)
            col[COL_LOSSLESS]++;
        if ((v & (unsafe | b->review)) == (unsafe | b->review))
            col[COL_REVIEW]++;
        row_flags |= (v & unsafe) ? v : (v & b->invisible);
    }
    if (row_flags & b->review) {
        p->rows[ROW_REVIEW]++;
        if (p->nreview < room) {
            p->review[p->nreview] = row;
            memcpy(&p->review_spans[p->nreview * nselected], spans,
                   (size_t)nselected * sizeof(Span));
            p->nreview++;
        }
    }
    if (row_flags & b->invisible)
        p->rows[ROW_INVISIBLE]++;
    if (row_flags & unsafe) {
        p->rows[ROW_UNSAFE]++;
        if (row_flags & fallback)
            p->rows[ROW_FALLBACK]++;
        else {
            p->rows[ROW_FIXABLE]++;
            if (!(row_flags & lossy))
                p->rows[ROW_LOSSLESS]++;
        }
    }
}

/* Count the row a part found (its fields' spans, all of them) when every unit of its
 * selected values is known: 1; 0: the row waits (a new unit, or a value written with "",
 * which the GIL's side unquotes).  Runs on the part's thread. */
static int
tally_row(Scan *s, Py_ssize_t row, const Span *spans)
{
    PartTally *p = s->tally;
    const UnitTable *t = s->units;
    const unsigned char *d = s->data;
    Span chosen[64];
    if (s->nselected > 64)
        return 0;  /* a wide selection waits (rare; the GIL's side takes any width) */
    Py_ssize_t mark = p->nseen;  /* the row's occurrences are taken back if it waits */
    for (Py_ssize_t k = 0; k < s->nselected; k++) {
        const Span *f = &spans[s->selected[k]];
        if (f->escaped)
            goto waits;
        chosen[k] = *f;
        const unsigned char *q = d + f->start, *end = d + f->end, *start;
        Py_ssize_t size;
        long v = 0;
        while (next_utf8_unit(q, end, s->safe, &start, &size) > 0) {
            size_t at;
            const UnitSlot *slot = unit_find(t, start, size,
                                             key_hash((const char *)start, size), &at);
            if (slot == NULL || slot->flags == MISSING)
                goto waits;
            if (slot->flags >= 0) {
                v |= slot->flags;
                if (!part_tally_reserve(p, 1))
                    goto waits;  /* no memory for the occurrences: the row waits */
                p->seen[p->nseen++] = (uint32_t)(slot - t->slots);
            }
            q = start + size;
        }
        p->values[k] = v;
    }
    tally_values(p, s->bits, s->nselected, s->room, row, chosen);
    return 1;
waits:
    p->nseen = mark;
    return 0;
}

/* Add part's counts to into's (its rows start at row_offset of the batch). 0: no memory. */
static int
part_tally_merge(Scan *into, Scan *part, Py_ssize_t row_offset)
{
    PartTally *a = into->tally, *b = part->tally;
    if (b == NULL)
        return 1;
    for (int k = 0; k < ROW_COUNTS; k++)
        a->rows[k] += b->rows[k];
    for (Py_ssize_t k = 0; k < into->nselected * COL_COUNTS; k++)
        a->columns[k] += b->columns[k];
    if (!part_tally_reserve(a, b->nseen))
        return 0;
    memcpy(a->seen + a->nseen, b->seen, (size_t)b->nseen * sizeof(uint32_t));
    a->nseen += b->nseen;
    for (Py_ssize_t i = 0; i < b->nreview && a->nreview < into->room; i++) {
        a->review[a->nreview] = b->review[i] + row_offset;
        memcpy(&a->review_spans[a->nreview * into->nselected],
               &b->review_spans[i * into->nselected], (size_t)into->nselected * sizeof(Span));
        a->nreview++;
    }
    return 1;
}

/* The bytes of a value, without its doubled quotes when it has them (into *buf, grown). */
static const unsigned char *
unquoted(const unsigned char *d, const Span *f, unsigned char **buf, Py_ssize_t *cap,
         Py_ssize_t *len)
{
    Py_ssize_t n = f->end - f->start;
    if (!f->escaped) {
        *len = n;
        return d + f->start;
    }
    if (n > *cap) {
        unsigned char *grown = PyMem_Realloc(*buf, (size_t)n);
        if (grown == NULL) {
            PyErr_NoMemory();
            return NULL;
        }
        *buf = grown;
        *cap = n;
    }
    Py_ssize_t w = 0;
    for (Py_ssize_t i = f->start; i < f->end; i++) {
        (*buf)[w++] = d[i];
        if (d[i] == '"')
            i++;  /* "" is one quote */
    }
    *len = w;
    return *buf;
}

/* A batch read and not yet finished: the rows to review its parts found, and the rows
 * waiting for new units (their selected values' spans), pointing into ``owned``: their
 * bytes, copied from the batch (which is let go, however many batches wait). */
typedef struct {
    Py_buffer safe;
    unsigned char *owned;
    Py_ssize_t owned_size;
    Py_ssize_t room;
    Py_ssize_t first_new;  /* the slots from here were added by this batch (or later ones) */
    PartTally *found;
    Scan waiting;
} PendingBatch;

/* Batches read ahead of their finish: the caller decides a batch's new units while the next
 * ones are read. */
#define MAX_PENDING 256

typedef struct {
    PyObject_HEAD
    UnitTable units;       /* every unit met, its bytes copied; flags from the caller's dict */
    FlagBits bits;
    Py_ssize_t nselected;
    int64_t rows[ROW_COUNTS];
    int64_t *columns;      /* nselected * COL_COUNTS */
    /* the batches read and not finished, oldest first: a ring of MAX_PENDING from
     * pending[head]; held: the bytes they copied */
    int head, npending;
    Py_ssize_t held;
    PendingBatch *pending;
} PlainTally;

/* Remove the slots from n on (the units a batch added), their index entries with them. */
static void
units_truncate(UnitTable *t, Py_ssize_t n)
{
    if (n >= t->n)
        return;
    for (Py_ssize_t k = n; k < t->n; k++) {
        Py_CLEAR(t->slots[k].unit);
        Py_CLEAR(t->slots[k].replacement);
        if (t->owns)
            PyMem_Free((void *)t->slots[k].p);
    }
    t->n = n;
    memset(t->index, 0, (t->mask + 1) * sizeof(uint64_t));
    for (Py_ssize_t k = 0; k < n; k++) {
        size_t j = t->slots[k].hash & t->mask;
        while (t->index[j] != 0)
            j = (j + 1) & t->mask;
        t->index[j] = ((uint64_t)t->slots[k].hash << 32) | (uint64_t)(k + 1);
    }
}

/* The k-th batch waiting for finish (0: the oldest). */
static PendingBatch *
pending_at(PlainTally *self, int k)
{
    return &self->pending[(self->head + k) % MAX_PENDING];
}

static void
pending_free(PlainTally *self, PendingBatch *b)
{
    self->held -= b->owned_size;
    PyMem_RawFree(b->owned);
    PyBuffer_Release(&b->safe);
    part_tally_free(b->found);
    PyMem_RawFree(b->waiting.hit_rows);
    PyMem_RawFree(b->waiting.hit_spans);
    memset(b, 0, sizeof(*b));
}

/* The bytes of ``n`` spans of ``d``. */
static Py_ssize_t
spans_size(const Span *spans, Py_ssize_t n)
{
    Py_ssize_t size = 0;
    for (Py_ssize_t i = 0; i < n; i++)
        size += spans[i].end - spans[i].start;
    return size;
}

/* Copy the bytes ``n`` spans of ``d`` point at into ``own`` from *at on, each span pointed
 * at its copy (its quotes written twice stay so: the span's escaped flag still holds). */
static void
spans_copied(const unsigned char *d, Span *spans, Py_ssize_t n, unsigned char *own,
             Py_ssize_t *at)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_ssize_t len = spans[i].end - spans[i].start;
        memcpy(own + *at, d + spans[i].start, (size_t)len);
        spans[i].start = *at;
        spans[i].end = *at + len;
        *at += len;
    }
}

/* Let every batch not finished go, and take the units they brought out of the table, so
 * that none stays undecided (a finish failed, or the scan stops). */
static void
tally_drop_pending(PlainTally *self)
{
    if (self->npending == 0)
        return;
    units_truncate(&self->units, pending_at(self, 0)->first_new);
    for (int k = 0; k < self->npending; k++)
        pending_free(self, pending_at(self, k));
    self->head = self->npending = 0;
}

static int
tally_init(PlainTally *self, PyObject *args, PyObject *kwds)
{
    Py_ssize_t nselected;
    FlagBits b;
    static char *kwlist[] = {"nselected", "unsafe", "invisible", "fallback", "lossy", "review",
                             NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "nlllll:PlainTally", kwlist, &nselected,
                                     &b.unsafe, &b.invisible, &b.fallback, &b.lossy,
                                     &b.review))
        return -1;
    if (nselected < 1 || self->columns != NULL) {
        PyErr_SetString(PyExc_ValueError, "PlainTally: at least one selected column, once");
        return -1;
    }
    self->bits = b;
    self->nselected = nselected;
    self->columns = PyMem_Calloc((size_t)nselected * COL_COUNTS, sizeof(int64_t));
    self->units.cap = 256;
    self->units.mask = 511;
    self->units.owns = 1;
    self->units.slots = PyMem_Malloc((size_t)self->units.cap * sizeof(UnitSlot));
    self->units.index = PyMem_Calloc(self->units.mask + 1, sizeof(uint64_t));
    self->pending = PyMem_Calloc(MAX_PENDING, sizeof(PendingBatch));
    if (self->columns == NULL || self->units.slots == NULL || self->units.index == NULL
            || self->pending == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

/* 1 when __init__ has run (a table to read); else 0 with an error set. */
static int
tally_ready(PlainTally *self)
{
    if (self->columns != NULL)
        return 1;
    PyErr_SetString(PyExc_ValueError, "PlainTally: not initialized");
    return 0;
}

static void
tally_dealloc(PlainTally *self)
{
    if (self->pending != NULL)
        tally_drop_pending(self);
    PyMem_Free(self->pending);
    units_free(&self->units);
    PyMem_Free(self->columns);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

PyDoc_STRVAR(tally_read_doc,
"read(data, delimiter, ncols, selected, safe, max_line, trailing, threads, flags, room, /)\n"
"--\n\n"
"Read the plain batch ``data`` as ``plain_hits`` reads it (same arguments, same batches\n"
"declined: None) and count its rows found: those whose units are all in the table are\n"
"counted on the reading threads, the others wait for :meth:`finish`.  ``flags``: unit ->\n"
"flag bits (-1: the target keeps it), as ``count_arrow`` takes it; ``room``: rows to review\n"
"wanted.  Returns ``(height, crlf, terminated, tail, missing)``, ``missing`` the new units\n"
"``flags`` lacks: put them in ``flags``, then call :meth:`finish`, which finishes the batches\n"
"in the order they were read: more batches may be read meanwhile (up to 256 waiting, each\n"
"holding a copy of its rows that wait or are to review, not the batch; a unit a batch\n"
"waiting brought is not asked for again).");

static PyObject *
tally_read(PlainTally *self, PyObject *args)
{
    Py_buffer data, safe;
    int delimiter, trailing, threads;
    Py_ssize_t ncols, max_line, room;
    PyObject *selected_obj, *flags;
    if (!tally_ready(self))
        return NULL;
    if (self->npending == MAX_PENDING) {
        PyErr_Format(PyExc_ValueError, "PlainTally.read: %d batches read and not finished",
                     MAX_PENDING);
        return NULL;
    }
    if (!PyArg_ParseTuple(args, "y*inO!y*npiO!n:read", &data, &delimiter, &ncols,
                          &PyTuple_Type, &selected_obj, &safe, &max_line, &trailing,
                          &threads, &PyDict_Type, &flags, &room))
        return NULL;
    PyObject *result = NULL, *missing = NULL;
    Py_ssize_t *selected = NULL;
    unsigned char *look = NULL, *buf = NULL;
    Py_ssize_t cap = 0;
    int kept = 0;
    Py_ssize_t added_from = -1;
    Scan parts[MAX_THREADS];
    Scan *s = parts;
    memset(parts, 0, sizeof(parts));
    if (room < 0 || PyTuple_GET_SIZE(selected_obj) != self->nselected) {
        PyErr_SetString(PyExc_ValueError, "PlainTally.read: invalid arguments");
        goto done;
    }
    if (scan_setup(s, &data, delimiter, ncols, selected_obj, &safe, max_line, trailing,
                   "PlainTally.read", &selected, &look) < 0)
        goto done;
    Py_ssize_t nselected = s->nselected;
    s->units = &self->units;
    s->bits = &self->bits;
    s->room = room;
    int read = read_batch(parts, threads);
    if (read <= 0) {
        result = read == 0 ? Py_NewRef(Py_None) : NULL;
        goto done;
    }
    /* the parts' counts are the batch's: added now */
    PartTally *found = s->tally;
    for (int k = 0; k < ROW_COUNTS; k++)
        self->rows[k] += found->rows[k];
    for (Py_ssize_t k = 0; k < nselected * COL_COUNTS; k++)
        self->columns[k] += found->columns[k];
    for (Py_ssize_t i = 0; i < found->nseen; i++)
        self->units.slots[found->seen[i]].count++;
    /* the rows waiting: their units put in the table (the new ones looked up in flags) */
    missing = PyList_New(0);
    if (missing == NULL)
        goto done;
    Py_ssize_t first_new = self->units.n;
    added_from = first_new;
    CountContext context = {flags, missing};
    for (Py_ssize_t i = 0; i < s->nhits * nselected; i++) {
        const Span *f = &s->hit_spans[i];
        Py_ssize_t len;
        const unsigned char *v = unquoted(s->data, f, &buf, &cap, &len), *start;
        if (v == NULL)
            goto done;
        const unsigned char *end = v + len;
        Py_ssize_t size;
        while (next_utf8_unit(v, end, s->safe, &start, &size) > 0) {
            if (unit_slot(&self->units, start, size, resolve_flags, &context) == NULL)
                goto done;
            v = start + size;
        }
    }
    result = Py_BuildValue("(nOOOO)", s->height, s->crlf ? Py_True : Py_False,
                           s->terminated ? Py_True : Py_False, s->tail ? Py_True : Py_False,
                           missing);
    if (result == NULL)
        goto done;
    /* kept for finish: the rows to review found and the rows waiting, their values' bytes
     * copied (the batch's buffer is let go) */
    Py_ssize_t nwaiting = s->nhits * nselected, nfound = s->tally->nreview * nselected;
    Py_ssize_t owned_size = spans_size(s->hit_spans, nwaiting)
                            + spans_size(s->tally->review_spans, nfound);
    unsigned char *owned = PyMem_RawMalloc(owned_size > 0 ? (size_t)owned_size : 1);
    if (owned == NULL) {
        PyErr_NoMemory();
        Py_CLEAR(result);
        goto done;
    }
    Py_ssize_t at = 0;
    spans_copied(s->data, s->hit_spans, nwaiting, owned, &at);
    spans_copied(s->data, s->tally->review_spans, nfound, owned, &at);
    PendingBatch *b = pending_at(self, self->npending++);
    b->owned = owned;
    b->owned_size = owned_size;
    self->held += owned_size;
    b->safe = safe;
    kept = 1;
    b->room = room;
    b->first_new = first_new;
    b->found = s->tally;
    s->tally = NULL;
    b->waiting = *s;
    b->waiting.data = owned;
    b->waiting.size = owned_size;
    b->waiting.selected = NULL;
    b->waiting.look = NULL;
    b->waiting.safe = b->safe.buf;
    b->waiting.hit_rows = s->hit_rows;
    b->waiting.hit_spans = s->hit_spans;
    s->hit_rows = NULL;
    s->hit_spans = NULL;
    b->waiting.units = NULL;
done:
    Py_XDECREF(missing);
    PyMem_Free(buf);
    part_tally_free(s->tally);
    PyMem_RawFree(s->hit_rows);
    PyMem_RawFree(s->hit_spans);
    PyMem_Free(selected);
    PyMem_Free(look);
    PyBuffer_Release(&data);
    if (!kept)
        PyBuffer_Release(&safe);
    if (result == NULL && added_from >= 0)
        units_truncate(&self->units, added_from);  /* the units this batch brought */
    return result;
}

/* The flags of the slots put in the table by the oldest batch waiting, from ``flags`` now
 * that the caller decided them (the slots of the batches read after it may wait).  0; -1:
 * an error is set (a unit still not in flags). */
static int
tally_resolve_new(PlainTally *self, PyObject *flags)
{
    PyObject *missing = PyList_New(0);
    if (missing == NULL)
        return -1;
    CountContext context = {flags, missing};
    Py_ssize_t end = self->npending > 1 ? pending_at(self, 1)->first_new : self->units.n;
    for (Py_ssize_t k = pending_at(self, 0)->first_new; k < end; k++) {
        UnitSlot *slot = &self->units.slots[k];
        if (slot->flags != MISSING)
            continue;
        if (resolve_flags(&context, slot) < 0) {
            Py_DECREF(missing);
            return -1;
        }
    }
    Py_ssize_t n = PyList_GET_SIZE(missing);
    if (n)
        PyErr_Format(PyExc_ValueError, "PlainTally.finish: %zd units left undecided, "
                     "the first %R", n, PyList_GET_ITEM(missing, 0));
    Py_DECREF(missing);
    return n ? -1 : 0;
}

/* A row to review: (row, (value, ...)) with its selected values as str. */
static PyObject *
review_row(const Scan *s, Py_ssize_t row, const Span *spans)
{
    PyObject *values = PyTuple_New(s->nselected);
    if (values == NULL)
        return NULL;
    for (Py_ssize_t k = 0; k < s->nselected; k++) {
        PyObject *v = value_of(s, &spans[k]);
        if (v == NULL) {
            Py_DECREF(values);
            return NULL;
        }
        PyTuple_SET_ITEM(values, k, v);
    }
    PyObject *out = Py_BuildValue("(nN)", row, values);
    return out;
}

PyDoc_STRVAR(tally_finish_doc,
"finish(flags, /)\n--\n\n"
"Count the rows the oldest batch :meth:`read` left waiting, every unit it brought now in\n"
"``flags``, and return the batch's first rows to review (at most ``room``, in file order):\n"
"a list of ``(row, values)``, the row in the batch (0-based) and its selected values.  On\n"
"an error every batch waiting is let go.");

static PyObject *
tally_finish(PlainTally *self, PyObject *flags)
{
    if (!tally_ready(self))
        return NULL;
    if (!PyDict_Check(flags)) {
        PyErr_SetString(PyExc_TypeError, "PlainTally.finish takes the dict of flags");
        return NULL;
    }
    if (self->npending == 0) {
        PyErr_SetString(PyExc_ValueError, "PlainTally.finish: no batch read");
        return NULL;
    }
    PyObject *result = NULL;
    PartTally *late = NULL;
    unsigned char *buf = NULL;
    Py_ssize_t cap = 0;
    PendingBatch *batch = pending_at(self, 0);
    Scan *w = &batch->waiting;
    Py_ssize_t nselected = self->nselected;
    Py_ssize_t room = batch->room;
    if (tally_resolve_new(self, flags) < 0)
        goto done;
    late = part_tally_new(nselected, room);
    if (late == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < w->nhits; i++) {
        const Span *spans = &w->hit_spans[i * nselected];
        for (Py_ssize_t k = 0; k < nselected; k++) {
            Py_ssize_t len;
            const unsigned char *v = unquoted(w->data, &spans[k], &buf, &cap, &len), *start;
            if (v == NULL)
                goto done;
            const unsigned char *end = v + len;
            Py_ssize_t size;
            long flags_of_value = 0;
            while (next_utf8_unit(v, end, w->safe, &start, &size) > 0) {
                size_t at;
                UnitSlot *slot = unit_find(&self->units, start, size,
                                           key_hash((const char *)start, size), &at);
                if (slot == NULL || slot->flags == MISSING) {
                    PyErr_SetString(PyExc_RuntimeError, "PlainTally.finish: a unit not read");
                    goto done;
                }
                if (slot->flags >= 0) {
                    flags_of_value |= slot->flags;
                    slot->count++;
                }
                v = start + size;
            }
            late->values[k] = flags_of_value;
        }
        tally_values(late, &self->bits, nselected, room, w->hit_rows[i], spans);
    }
    for (int k = 0; k < ROW_COUNTS; k++)
        self->rows[k] += late->rows[k];
    for (Py_ssize_t k = 0; k < nselected * COL_COUNTS; k++)
        self->columns[k] += late->columns[k];
    /* the rows to review of both, in file order, the first room */
    PartTally *found = batch->found;
    Py_ssize_t total = found->nreview + late->nreview;
    if (total > room)
        total = room;
    result = PyList_New(total);
    if (result == NULL)
        goto done;
    Py_ssize_t a = 0, b = 0;
    for (Py_ssize_t i = 0; i < total; i++) {
        int from_found = b >= late->nreview
                         || (a < found->nreview && found->review[a] < late->review[b]);
        PyObject *row = from_found
            ? review_row(w, found->review[a], &found->review_spans[a * nselected])
            : review_row(w, late->review[b], &late->review_spans[b * nselected]);
        if (row == NULL) {
            Py_CLEAR(result);
            goto done;
        }
        if (from_found)
            a++;
        else
            b++;
        PyList_SET_ITEM(result, i, row);
    }
done:
    part_tally_free(late);
    PyMem_Free(buf);
    if (result == NULL) {
        tally_drop_pending(self);
    }
    else {
        /* finished: its units stay in the table, decided */
        pending_free(self, batch);
        self->head = (self->head + 1) % MAX_PENDING;
        self->npending--;
    }
    return result;
}

PyDoc_STRVAR(tally_totals_doc,
"totals()\n--\n\n"
"What the batches read so far add up to: ``(rows, columns, units)``, ``rows`` the six row\n"
"counts (review, invisible, unsafe, fallback, fixable, lossless), ``columns`` per selected\n"
"column its six (unsafe, invisible, fallback, changed, lossless, review), ``units`` a dict\n"
"unit -> occurrences of each unit counted (flags >= 0).");

static PyObject *
tally_totals(PlainTally *self, PyObject *unused)
{
    (void)unused;
    if (!tally_ready(self))
        return NULL;
    PyObject *columns = PyList_New(self->nselected), *units = PyDict_New(), *out = NULL;
    if (columns == NULL || units == NULL)
        goto done;
    for (Py_ssize_t j = 0; j < self->nselected; j++) {
        const int64_t *c = &self->columns[j * COL_COUNTS];
        PyObject *t = Py_BuildValue("(LLLLLL)", (long long)c[0], (long long)c[1],
                                    (long long)c[2], (long long)c[3], (long long)c[4],
                                    (long long)c[5]);
        if (t == NULL)
            goto done;
        PyList_SET_ITEM(columns, j, t);
    }
    for (Py_ssize_t k = 0; k < self->units.n; k++) {
        UnitSlot *slot = &self->units.slots[k];
        if (slot->flags < 0 || slot->count == 0)
            continue;
        PyObject *n = PyLong_FromSsize_t(slot->count);
        int put = n != NULL && PyDict_SetItem(units, slot->unit, n) == 0;
        Py_XDECREF(n);
        if (!put)
            goto done;
    }
    const int64_t *r = self->rows;
    out = Py_BuildValue("((LLLLLL)OO)", (long long)r[0], (long long)r[1], (long long)r[2],
                        (long long)r[3], (long long)r[4], (long long)r[5], columns, units);
done:
    Py_XDECREF(columns);
    Py_XDECREF(units);
    return out;
}

static PyMethodDef tally_methods[] = {
    {"read", (PyCFunction)tally_read, METH_VARARGS, tally_read_doc},
    {"finish", (PyCFunction)tally_finish, METH_O, tally_finish_doc},
    {"totals", (PyCFunction)tally_totals, METH_NOARGS, tally_totals_doc},
    {NULL, NULL, 0, NULL},
};

static PyObject *
tally_held(PlainTally *self, void *closure)
{
    (void)closure;
    return PyLong_FromSsize_t(self->held);
}

static PyObject *
tally_waiting(PlainTally *self, void *closure)
{
    (void)closure;
    return PyLong_FromLong(self->npending);
}

static PyGetSetDef tally_getset[] = {
    {"held", (getter)tally_held, NULL,
     PyDoc_STR("Bytes the batches waiting for finish hold (their rows' values, copied)."),
     NULL},
    {"waiting", (getter)tally_waiting, NULL,
     PyDoc_STR("Batches read and not finished (at most 256)."), NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject PlainTallyType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "mojinorm._speedups.PlainTally",
    .tp_doc = PyDoc_STR(
        "PlainTally(nselected, unsafe, invisible, fallback, lossy, review)\n\n"
        "A scan's counts of plain batches, counted where they are read: each row found is\n"
        "cut into units on the reading threads, without the GIL, and counted from the flags\n"
        "of its units (the bits given: counting's flags); a unit met for the first time is\n"
        "decided by the caller between read and finish.  The units' table lives as long as\n"
        "the scan."),
    .tp_basicsize = sizeof(PlainTally),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)tally_init,
    .tp_dealloc = (destructor)tally_dealloc,
    .tp_methods = tally_methods,
    .tp_getset = tally_getset,
};

PyDoc_STRVAR(bitmap_doc,
"bitmap(chars, /)\n--\n\n"
"The bitmap of 0x110000 bits the compiled code reads: bit ``cp`` set for each str of one\n"
"code point among ``chars`` (an iterable of str; longer ones are skipped).");

static PyObject *
bitmap(PyObject *module, PyObject *chars)
{
    (void)module;
    PyObject *out = PyBytes_FromStringAndSize(NULL, BITMAP_BYTES);
    if (out == NULL)
        return NULL;
    unsigned char *bits = (unsigned char *)PyBytes_AS_STRING(out);
    memset(bits, 0, BITMAP_BYTES);
    PyObject *it = PyObject_GetIter(chars), *ch;
    if (it == NULL) {
        Py_DECREF(out);
        return NULL;
    }
    while ((ch = PyIter_Next(it)) != NULL) {
        if (!PyUnicode_Check(ch)) {
            Py_DECREF(ch);
            Py_DECREF(it);
            Py_DECREF(out);
            PyErr_SetString(PyExc_TypeError, "bitmap takes str");
            return NULL;
        }
        if (PyUnicode_GET_LENGTH(ch) == 1) {
            Py_UCS4 cp = PyUnicode_READ_CHAR(ch, 0);
            bits[cp >> 3] |= (unsigned char)(1 << (cp & 7));
        }
        Py_DECREF(ch);
    }
    Py_DECREF(it);
    if (PyErr_Occurred()) {
        Py_DECREF(out);
        return NULL;
    }
    return out;
}

PyDoc_STRVAR(code_points_doc,
"code_points(units, /)\n--\n\n"
"Each str of the list ``units`` written as its code points, ``U+XXXX`` (upper-case hex, at\n"
"least four digits) joined by spaces: a report's ``codepoint`` column.");

static PyObject *
code_points(PyObject *module, PyObject *units)
{
    (void)module;
    if (!PyList_Check(units)) {
        PyErr_SetString(PyExc_TypeError, "code_points takes a list of str");
        return NULL;
    }
    static const char hex[] = "0123456789ABCDEF";
    Py_ssize_t n = PyList_GET_SIZE(units);
    PyObject *out = PyList_New(n);
    char *buf = NULL;
    Py_ssize_t cap = 0;
    if (out == NULL)
        return NULL;
    for (Py_ssize_t k = 0; k < n; k++) {
        PyObject *unit = PyList_GET_ITEM(units, k);
        if (!PyUnicode_Check(unit)) {
            PyErr_SetString(PyExc_TypeError, "code_points takes a list of str");
            goto failed;
        }
        Py_ssize_t len = PyUnicode_GET_LENGTH(unit);
        if (len * 10 > cap) {  /* "U+10FFFF " per code point at most */
            cap = len * 10 + 64;
            char *grown = PyMem_Realloc(buf, (size_t)cap);
            if (grown == NULL) {
                PyErr_NoMemory();
                goto failed;
            }
            buf = grown;
        }
        Py_ssize_t w = 0;
        for (Py_ssize_t i = 0; i < len; i++) {
            Py_UCS4 c = PyUnicode_READ_CHAR(unit, i);
            if (i)
                buf[w++] = ' ';
            buf[w++] = 'U';
            buf[w++] = '+';
            int digits = c > 0xFFFFF ? 6 : c > 0xFFFF ? 5 : 4;
            for (int d = digits - 1; d >= 0; d--)
                buf[w++] = hex[(c >> (4 * d)) & 0xF];
        }
        PyObject *text = PyUnicode_FromStringAndSize(buf, w);
        if (text == NULL)
            goto failed;
        PyList_SET_ITEM(out, k, text);
    }
    PyMem_Free(buf);
    return out;
failed:
    PyMem_Free(buf);
    Py_DECREF(out);
    return NULL;
}

#ifdef HAVE_THREADS
/* One part of a file find_byte searches: [from, to), mapped window by window. */
typedef struct {
    int fd, byte;
    long long from, to, window, page;
    long long found;  /* the first byte's offset, -1: none (read by later parts: atomic) */
    int failed;       /* errno of a mapping that failed, 0: none */
    struct ByteSearchParts *all;
    int k;
} ByteSearch;

typedef struct ByteSearchParts {
    ByteSearch parts[MAX_THREADS];
} ByteSearchParts;

static void *
search_part(void *arg)
{
    ByteSearch *b = arg;
    for (long long offset = b->from - b->from % b->page; offset < b->to; offset += b->window) {
        for (int j = 0; j < b->k; j++)  /* an earlier part found one: this part's is later */
            if (__atomic_load_n(&b->all->parts[j].found, __ATOMIC_RELAXED) >= 0)
                return NULL;
        long long length = b->to - offset < b->window ? b->to - offset : b->window;
        void *view = mmap(NULL, (size_t)length, PROT_READ, MAP_SHARED, b->fd, (off_t)offset);
        if (view == MAP_FAILED) {
            b->failed = errno ? errno : EIO;
            return NULL;
        }
        long long at = b->from > offset ? b->from - offset : 0;
        const char *hit = at < length
            ? memchr((const char *)view + at, b->byte, (size_t)(length - at)) : NULL;
        long long found = hit == NULL ? -1 : offset + (hit - (const char *)view);
        munmap(view, (size_t)length);
        if (found >= 0) {
            __atomic_store_n(&b->found, found, __ATOMIC_RELAXED);
            return NULL;
        }
    }
    return NULL;
}

PyDoc_STRVAR(find_byte_doc,
"find_byte(fd, start, byte, window, threads, /)\n--\n\n"
"The offset of the first ``byte`` of the regular file open as ``fd`` from offset ``start``\n"
"on, or -1: searched where the file lies, mapped ``window`` bytes at a time (a multiple of\n"
"the page size), without the GIL, in up to ``threads`` parts side by side (a scan on\n"
"several threads loads its tables meanwhile).  Raises OSError when the file cannot be\n"
"mapped.");

static PyObject *
find_byte(PyObject *module, PyObject *args)
{
    (void)module;
    int fd, byte, threads;
    long long start, window;
    if (!PyArg_ParseTuple(args, "iLiLi:find_byte", &fd, &start, &byte, &window, &threads))
        return NULL;
    long page = sysconf(_SC_PAGESIZE);
    if (byte < 0 || byte > 255 || start < 0 || page <= 0 || window <= 0
            || window % page != 0) {
        PyErr_SetString(PyExc_ValueError,
                        "find_byte: a byte (0-255), a start >= 0, a window of whole pages");
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    long long size = (long long)st.st_size;
    ByteSearchParts *all = PyMem_Calloc(1, sizeof(ByteSearchParts));
    if (all == NULL)
        return PyErr_NoMemory();
    /* parts of whole windows (at least one each) from start's page on */
    long long first = start - start % page;
    long long span = size > first ? size - first : 0;
    long long windows = (span + window - 1) / window;
    int n = threads < 1 ? 1 : threads > MAX_THREADS ? MAX_THREADS : threads;
    if (n > windows)
        n = windows > 0 ? (int)windows : 1;
    for (int k = 0; k < n; k++) {
        ByteSearch *b = &all->parts[k];
        b->fd = fd;
        b->byte = byte;
        b->window = window;
        b->page = page;
        b->from = k == 0 ? start : first + windows * k / n * window;
        b->to = k + 1 == n ? size : first + windows * (k + 1) / n * window;
        b->found = -1;
        b->all = all;
        b->k = k;
    }
    Py_BEGIN_ALLOW_THREADS
    side_by_side(search_part, all->parts, sizeof(ByteSearch), n);
    Py_END_ALLOW_THREADS
    long long found = -1;
    int failed = 0;
    for (int k = 0; k < n && found < 0 && !failed; k++) {
        failed = all->parts[k].failed;
        found = all->parts[k].found;
    }
    PyMem_Free(all);
    if (failed) {
        errno = failed;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    return PyLong_FromLongLong(found);
}
#endif

static PyMethodDef methods[] = {
    {"plain_hits", plain_hits, METH_VARARGS, plain_hits_doc},
    {"append_fields", append_fields, METH_VARARGS, append_fields_doc},
    {"arrow_hits", arrow_hits, METH_VARARGS, arrow_hits_doc},
    {"count_arrow", count_arrow, METH_VARARGS, count_arrow_doc},
    {"bitmap", bitmap, METH_O, bitmap_doc},
    {"code_points", code_points, METH_O, code_points_doc},
#ifdef HAVE_THREADS
    {"find_byte", find_byte, METH_VARARGS, find_byte_doc},
#endif
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "mojinorm._speedups",
    "The optional compiled reader and writer of plain batches (see mojinorm.records) and the\n"
    "compiled guard of the per-name API (see mojinorm.Normalizer).", -1,
    methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    python_path = PyUnicode_InternFromString("_normalize_python");
    reading_kw = PyUnicode_InternFromString("reading");
    decide_unit = PyUnicode_InternFromString("_decide_unit");
    is_safe_path = PyUnicode_InternFromString("_is_safe_python");
    explain_unit = PyUnicode_InternFromString("_explain_unit");
    if (python_path == NULL || reading_kw == NULL || decide_unit == NULL || is_safe_path == NULL
            || explain_unit == NULL || PyType_Ready(&NameGuardType) < 0
            || PyType_Ready(&PlainTallyType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&NameGuardType);
    if (PyModule_AddObject(m, "NameGuard", (PyObject *)&NameGuardType) < 0) {
        Py_DECREF(&NameGuardType);
        Py_DECREF(m);
        return NULL;
    }
    Py_INCREF(&PlainTallyType);
    if (PyModule_AddObject(m, "PlainTally", (PyObject *)&PlainTallyType) < 0) {
        Py_DECREF(&PlainTallyType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
