/*
 * graders_json.c: the JSON side of the graders: a strict RFC 8259 validity check, the
 * JSON Schema subset json_schema graders validate against, deep equality and a
 * canonical printer.
 *
 * cJSON is lenient (it accepts "+1", "01", raw control characters in strings and any
 * byte below 0x21 as white space), so json_valid runs gj_valid, a recursive-descent
 * recogniser of exactly RFC 8259 (UTF-8 checked, no lone surrogates, nesting at most
 * GJ_MAX_DEPTH), and only then hands the text to cJSON for the schema. The schema subset:
 * type (a name or a list of names: object, array, string, integer, number, boolean,
 * null; integer = a number with an integral value), const, enum, minLength and
 * maxLength (code points), minimum and maximum, properties, required,
 * additionalProperties (boolean or schema), items (one schema for every element),
 * minItems and maxItems, and the boolean schemas true and false. Other keys are ignored.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "algo/graders_internal.h"

enum { GJ_MAX_DEPTH = 512 };

/* A cursor over the text being recognised. */
typedef struct {
    const unsigned char *p, *end;
    int depth;
} jcur;

static int j_value(jcur *c);

/* Skips JSON white space. */
static void j_ws(jcur *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

/* Whether the next bytes are lit (then consumed). */
static int j_lit(jcur *c, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, lit, n) != 0)
        return 0;
    c->p += n;
    return 1;
}

/* Consumes one or more digits; returns how many. */
static int j_digits(jcur *c)
{
    int n = 0;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9')
        c->p++, n++;
    return n;
}

/* -? (0 | [1-9][0-9]*) (.[0-9]+)? ([eE][+-]?[0-9]+)? */
static int j_number(jcur *c)
{
    if (c->p < c->end && *c->p == '-')
        c->p++;
    if (c->p < c->end && *c->p == '0')
        c->p++;
    else if (!j_digits(c))
        return 0;
    if (c->p < c->end && *c->p == '.') {
        c->p++;
        if (!j_digits(c))
            return 0;
    }
    if (c->p < c->end && (*c->p == 'e' || *c->p == 'E')) {
        c->p++;
        if (c->p < c->end && (*c->p == '+' || *c->p == '-'))
            c->p++;
        if (!j_digits(c))
            return 0;
    }
    return 1;
}

/* The value of the 4 hex digits at p, or -1. */
static long hex4(const unsigned char *p)
{
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int d = p[i] >= '0' && p[i] <= '9'   ? p[i] - '0'
                : p[i] >= 'a' && p[i] <= 'f' ? p[i] - 'a' + 10
                : p[i] >= 'A' && p[i] <= 'F' ? p[i] - 'A' + 10
                                             : -1;
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/* One escape after the backslash at c->p; a high surrogate must pair with a low one. */
static int j_escape(jcur *c)
{
    c->p++;
    if (c->p >= c->end)
        return 0;
    if (*c->p && strchr("\"\\/bfnrt", *c->p)) {
        c->p++;
        return 1;
    }
    if (*c->p != 'u' || c->end - c->p < 5)
        return 0;
    long u = hex4(c->p + 1);
    c->p += 5;
    if (u < 0 || (u >= 0xDC00 && u <= 0xDFFF))
        return 0;
    if (u < 0xD800 || u > 0xDBFF)
        return 1;
    if (c->end - c->p < 6 || c->p[0] != '\\' || c->p[1] != 'u')
        return 0;
    long lo = hex4(c->p + 2);
    c->p += 6;
    return lo >= 0xDC00 && lo <= 0xDFFF;
}

/* Length of the valid UTF-8 sequence at p (below end), or 0 when invalid. */
static int utf8_len(const unsigned char *p, const unsigned char *end)
{
    unsigned char b = p[0];
    int n = b < 0x80                 ? 1
            : b >= 0xC2 && b <= 0xDF ? 2
            : b >= 0xE0 && b <= 0xEF ? 3
            : b >= 0xF0 && b <= 0xF4 ? 4
                                     : 0;
    if (!n || end - p < n)
        return 0;
    unsigned char lo = b == 0xE0 ? 0xA0 : b == 0xF0 ? 0x90 : 0x80;
    unsigned char hi = b == 0xED ? 0x9F : b == 0xF4 ? 0x8F : 0xBF;
    for (int i = 1; i < n; i++)
        if (p[i] < (i == 1 ? lo : 0x80) || p[i] > (i == 1 ? hi : 0xBF))
            return 0;
    return n;
}

/* A string; c->p is at the opening quote. */
static int j_string(jcur *c)
{
    c->p++;
    while (c->p < c->end) {
        unsigned char b = *c->p;
        int n;
        if (b == '"') {
            c->p++;
            return 1;
        }
        if (b < 0x20)
            return 0;
        if (b == '\\') {
            if (!j_escape(c))
                return 0;
            continue;
        }
        if (!(n = utf8_len(c->p, c->end)))
            return 0;
        c->p += n;
    }
    return 0;
}

/* The members or elements of a container; c->p is at its opening bracket. */
static int j_container(jcur *c, int object)
{
    const unsigned char close = object ? '}' : ']';
    if (++c->depth > GJ_MAX_DEPTH)
        return 0;
    c->p++;
    j_ws(c);
    if (c->p < c->end && *c->p == close) {
        c->p++, c->depth--;
        return 1;
    }
    for (;;) {
        if (object) {
            if (c->p >= c->end || *c->p != '"' || !j_string(c))
                return 0;
            j_ws(c);
            if (c->p >= c->end || *c->p++ != ':')
                return 0;
        }
        if (!j_value(c))
            return 0;
        j_ws(c);
        if (c->p < c->end && *c->p == ',') {
            c->p++;
            j_ws(c);
            continue;
        }
        if (c->p >= c->end || *c->p != close)
            return 0;
        c->p++, c->depth--;
        return 1;
    }
}

/* One value, white space around it included. */
static int j_value(jcur *c)
{
    j_ws(c);
    if (c->p >= c->end)
        return 0;
    int ok;
    switch (*c->p) {
    case '{':
    case '[':
        ok = j_container(c, *c->p == '{');
        break;
    case '"':
        ok = j_string(c);
        break;
    case 't':
        ok = j_lit(c, "true");
        break;
    case 'f':
        ok = j_lit(c, "false");
        break;
    case 'n':
        ok = j_lit(c, "null");
        break;
    default:
        ok = j_number(c);
    }
    j_ws(c);
    return ok;
}

/* Whether text[0..n) is exactly one JSON value. */
int gj_valid(const char *text, size_t n)
{
    jcur c = {(const unsigned char *)text, (const unsigned char *)text + n, 0};
    return j_value(&c) && c.p == c.end;
}

/* ---------------------------------------------------------------- equality, printing */

/* Deep equality: numbers by value, objects as unordered member sets. */
static int gj_equal(const cJSON *a, const cJSON *b)
{
    if ((a->type & 0xFF) != (b->type & 0xFF))
        return 0;
    if (cJSON_IsNumber(a))
        return a->valuedouble == b->valuedouble;
    if (cJSON_IsString(a))
        return strcmp(a->valuestring, b->valuestring) == 0;
    if (!cJSON_IsArray(a) && !cJSON_IsObject(a))
        return 1;
    if (cJSON_GetArraySize(a) != cJSON_GetArraySize(b))
        return 0;
    const cJSON *y = b->child;
    for (const cJSON *x = a->child; x; x = x->next) {
        const cJSON *other = cJSON_IsArray(a) ? y : cJSON_GetObjectItemCaseSensitive(b, x->string);
        if (!other || !gj_equal(x, other))
            return 0;
        y = y ? y->next : NULL;
    }
    return 1;
}

/* Appends a number: integral values below 1e15 as integers, others in the shortest
 * %g form that reads back to the same double; non-finite values as null. */
static int print_number(double x, pj_buf *b)
{
    char tmp[40];
    if (!isfinite(x))
        return pj_buf_put(b, "null", 4);
    if (x == floor(x) && fabs(x) < 1e15)
        snprintf(tmp, sizeof tmp, "%.0f", x);
    else
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(tmp, sizeof tmp, "%.*g", prec, x);
            if (strtod(tmp, NULL) == x)
                break;
        }
    return pj_buf_put(b, tmp, strlen(tmp));
}

/* Appends the canonical JSON text of v to b: no white space, members in order. */
int gj_print(const cJSON *v, pj_buf *b)
{
    if (cJSON_IsNumber(v))
        return print_number(v->valuedouble, b);
    if (cJSON_IsString(v))
        return pj_write_string(b, v->valuestring, strlen(v->valuestring));
    if (cJSON_IsTrue(v) || cJSON_IsFalse(v))
        return cJSON_IsTrue(v) ? pj_buf_put(b, "true", 4) : pj_buf_put(b, "false", 5);
    if (!cJSON_IsArray(v) && !cJSON_IsObject(v))
        return pj_buf_put(b, "null", 4);
    int obj = cJSON_IsObject(v);
    int rc = pj_buf_put(b, obj ? "{" : "[", 1);
    for (const cJSON *x = v->child; x && !rc; x = x->next) {
        if (x != v->child)
            rc = pj_buf_put(b, ",", 1);
        const char *key = x->string ? x->string : "";
        if (obj && !rc)
            rc = pj_write_string(b, key, strlen(key)) || pj_buf_put(b, ":", 1);
        if (!rc)
            rc = gj_print(x, b);
    }
    return rc ? rc : pj_buf_put(b, obj ? "}" : "]", 1);
}

/* ---------------------------------------------------------------- schema validation */

static const char *const TYPES[] = {"object", "array",   "string", "integer",
                                    "number", "boolean", "null"};
enum { N_TYPES = sizeof TYPES / sizeof TYPES[0] };

/* Whether v has the JSON Schema type named t. */
static int type_is(const cJSON *v, const char *t)
{
    if (strcmp(t, "integer") == 0)
        return cJSON_IsNumber(v) && isfinite(v->valuedouble) &&
               v->valuedouble == floor(v->valuedouble);
    return strcmp(t, "object") == 0    ? cJSON_IsObject(v)
           : strcmp(t, "array") == 0   ? cJSON_IsArray(v)
           : strcmp(t, "string") == 0  ? cJSON_IsString(v)
           : strcmp(t, "number") == 0  ? cJSON_IsNumber(v)
           : strcmp(t, "boolean") == 0 ? cJSON_IsBool(v)
           : strcmp(t, "null") == 0    ? cJSON_IsNull(v)
                                       : 0;
}

/* Whether v matches "type" (one name or a list of names). */
static int type_ok(const cJSON *v, const cJSON *t)
{
    if (cJSON_IsString(t))
        return type_is(v, t->valuestring);
    for (const cJSON *x = t->child; x; x = x->next)
        if (type_is(v, x->valuestring))
            return 1;
    return 0;
}

/* The number under key in s, or dflt. */
static double num(const cJSON *s, const char *key, double dflt)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(s, key);
    return cJSON_IsNumber(x) ? x->valuedouble : dflt;
}

/* Whether n lies within [s.lo_key, s.hi_key] (absent bounds are open). */
static int within(const cJSON *s, const char *lo_key, const char *hi_key, double n)
{
    return n >= num(s, lo_key, -INFINITY) && n <= num(s, hi_key, INFINITY);
}

/* Whether the members of object v satisfy properties, required, additionalProperties. */
static int object_ok(const cJSON *v, const cJSON *s)
{
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(s, "properties");
    const cJSON *req = cJSON_GetObjectItemCaseSensitive(s, "required");
    const cJSON *extra = cJSON_GetObjectItemCaseSensitive(s, "additionalProperties");
    for (const cJSON *k = req ? req->child : NULL; k; k = k->next)
        if (!cJSON_GetObjectItemCaseSensitive(v, k->valuestring))
            return 0;
    for (const cJSON *m = v->child; m; m = m->next) {
        const cJSON *sub = props ? cJSON_GetObjectItemCaseSensitive(props, m->string) : NULL;
        if (!sub)
            sub = extra;
        if (sub && !gj_schema_ok(m, sub))
            return 0;
    }
    return 1;
}

/* Whether array v satisfies items, minItems and maxItems. */
static int array_ok(const cJSON *v, const cJSON *s)
{
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(s, "items");
    if (!within(s, "minItems", "maxItems", cJSON_GetArraySize(v)))
        return 0;
    for (const cJSON *x = v->child; items && x; x = x->next)
        if (!gj_schema_ok(x, items))
            return 0;
    return 1;
}

/* Whether v satisfies schema (checked with gj_schema_check beforehand). */
int gj_schema_ok(const cJSON *v, const cJSON *s)
{
    if (cJSON_IsBool(s))
        return cJSON_IsTrue(s);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(s, "type");
    const cJSON *cst = cJSON_GetObjectItemCaseSensitive(s, "const");
    const cJSON *en = cJSON_GetObjectItemCaseSensitive(s, "enum");
    if ((t && !type_ok(v, t)) || (cst && !gj_equal(v, cst)))
        return 0;
    int in_enum = !en;
    for (const cJSON *x = en ? en->child : NULL; x && !in_enum; x = x->next)
        in_enum = gj_equal(v, x);
    if (!in_enum)
        return 0;
    if (cJSON_IsString(v))
        return within(s, "minLength", "maxLength",
                      (double)gx_chars(v->valuestring, strlen(v->valuestring)));
    if (cJSON_IsNumber(v))
        return within(s, "minimum", "maximum", v->valuedouble);
    if (cJSON_IsArray(v))
        return array_ok(v, s);
    return cJSON_IsObject(v) ? object_ok(v, s) : 1;
}

/* ---------------------------------------------------------------- schema checking */

/* Records "path: what" into msg; returns -1. */
static int bad(char *msg, size_t cap, const char *path, const char *what)
{
    snprintf(msg, cap, "%s%s%s", path, *path ? ": " : "", what);
    return -1;
}

/* Whether x is a known type name. */
static int known_type(const cJSON *x)
{
    for (int i = 0; cJSON_IsString(x) && i < N_TYPES; i++)
        if (strcmp(x->valuestring, TYPES[i]) == 0)
            return 1;
    return 0;
}

/* Checks "type": a known name or a non-empty list of them. */
static int check_type(const cJSON *t)
{
    if (!cJSON_IsArray(t))
        return known_type(t);
    for (const cJSON *x = t->child; x; x = x->next)
        if (!known_type(x))
            return 0;
    return t->child != NULL;
}

/* Checks the scalar keywords of s. */
static int check_scalars(const cJSON *s, const char *path, char *msg, size_t cap)
{
    static const char *const COUNTS[] = {"minLength", "maxLength", "minItems", "maxItems"};
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(s, "type");
    if (x && !check_type(x))
        return bad(msg, cap, path,
                   "type: must be one of object|array|string|integer|number|boolean|null or a "
                   "list of them");
    for (int i = 0; i < 4; i++) {
        x = cJSON_GetObjectItemCaseSensitive(s, COUNTS[i]);
        if (x &&
            !(cJSON_IsNumber(x) && x->valuedouble >= 0 && x->valuedouble == floor(x->valuedouble)))
            return bad(msg, cap, path,
                       i < 2 ? "minLength/maxLength: must be a count (integer >= 0)"
                             : "minItems/maxItems: must be a count (integer >= 0)");
    }
    x = cJSON_GetObjectItemCaseSensitive(s, "minimum");
    const cJSON *y = cJSON_GetObjectItemCaseSensitive(s, "maximum");
    if ((x && !cJSON_IsNumber(x)) || (y && !cJSON_IsNumber(y)))
        return bad(msg, cap, path, "minimum/maximum: must be numbers");
    x = cJSON_GetObjectItemCaseSensitive(s, "enum");
    if (x && !cJSON_IsArray(x))
        return bad(msg, cap, path, "enum: must be a list");
    x = cJSON_GetObjectItemCaseSensitive(s, "required");
    for (const cJSON *k = cJSON_IsArray(x) ? x->child : NULL; k; k = k->next)
        if (!cJSON_IsString(k))
            return bad(msg, cap, path, "required: must be a list of strings");
    if (x && !cJSON_IsArray(x))
        return bad(msg, cap, path, "required: must be a list of strings");
    return 0;
}

static int check_schema(const cJSON *s, char *path, size_t plen, size_t pcap, char *msg, size_t cap,
                        int depth);

/* Checks the sub-schema s under key (appended to path). */
static int check_sub(const cJSON *s, const char *key, char *path, size_t plen, size_t pcap,
                     char *msg, size_t cap, int depth)
{
    int n = snprintf(path + plen, pcap - plen, "%s%s", plen ? "." : "", key);
    size_t len = n < 0 || (size_t)n >= pcap - plen ? pcap - 1 : plen + (size_t)n;
    int rc = check_schema(s, path, len, pcap, msg, cap, depth + 1);
    path[plen] = '\0';
    return rc;
}

/* Checks properties, additionalProperties and items of s. */
static int check_children(const cJSON *s, char *path, size_t plen, size_t pcap, char *msg,
                          size_t cap, int depth)
{
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(s, "properties");
    const cJSON *extra = cJSON_GetObjectItemCaseSensitive(s, "additionalProperties");
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(s, "items");
    if (props && !cJSON_IsObject(props))
        return bad(msg, cap, path, "properties: must be an object of schemas");
    for (const cJSON *p = props ? props->child : NULL; p; p = p->next) {
        char key[300];
        snprintf(key, sizeof key, "properties.%s", p->string);
        if (check_sub(p, key, path, plen, pcap, msg, cap, depth))
            return -1;
    }
    if (extra && check_sub(extra, "additionalProperties", path, plen, pcap, msg, cap, depth))
        return -1;
    if (items && cJSON_IsArray(items))
        return bad(msg, cap, path, "items: must be one schema (the tuple form is not supported)");
    return items ? check_sub(items, "items", path, plen, pcap, msg, cap, depth) : 0;
}

/* Checks schema s at path (path[0..plen) is its location, for messages). */
static int check_schema(const cJSON *s, char *path, size_t plen, size_t pcap, char *msg, size_t cap,
                        int depth)
{
    if (cJSON_IsBool(s))
        return 0;
    if (!cJSON_IsObject(s))
        return bad(msg, cap, path, "must be a schema (an object, or true/false)");
    if (depth > GJ_MAX_DEPTH)
        return bad(msg, cap, path, "nested too deeply");
    if (check_scalars(s, path, msg, cap))
        return -1;
    return check_children(s, path, plen, pcap, msg, cap, depth);
}

/* Checks that schema uses the subset correctly; "PATH: what" into msg on an error. */
int gj_schema_check(const cJSON *schema, char *msg, size_t cap)
{
    char path[512] = "";
    return check_schema(schema, path, 0, sizeof path, msg, cap, 0);
}
