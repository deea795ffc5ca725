/*
 * maps.c: open-addressing hash maps for byte strings and id pairs (see maps.h).
 *
 * Invariants: slot counts are powers of two and at least twice the key count, so a
 * probe always reaches an empty slot; pf_strmap slots hold entry index + 1 (0 = empty)
 * and each entry keeps its full hash, so growing rehashes without touching the keys.
 */
#include "text/maps.h"

#include <stdlib.h>
#include <string.h>

#include "prefopt/error.h"

/* Final avalanche of a 64-bit value (xor-shift-multiply rounds). */
static inline uint64_t mix64(uint64_t h)
{
    h ^= h >> 32;
    h *= 0xD6E8FEB86659FD93ULL;
    h ^= h >> 32;
    h *= 0xD6E8FEB86659FD93ULL;
    h ^= h >> 32;
    return h;
}

uint64_t pf_hash_bytes(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ (uint64_t)n;
    while (n >= 8) {
        uint64_t k;
        memcpy(&k, s, 8);
        h = (h ^ k) * 0xBF58476D1CE4E5B9ULL;
        h ^= h >> 29;
        s += 8;
        n -= 8;
    }
    uint64_t k = 0;
    memcpy(&k, s, n);
    return mix64(h ^ k ^ ((uint64_t)n << 59));
}

/* The smallest power of two >= 2 * expected (at least 16). */
static uint32_t slot_count_for(uint32_t expected)
{
    uint32_t n = 16;
    while (n < 2u * expected && n < (1u << 31))
        n <<= 1;
    return n;
}

int pf_strmap_init(pf_strmap *m, uint32_t expected)
{
    memset(m, 0, sizeof *m);
    uint32_t slots = slot_count_for(expected);
    m->slots = calloc(slots, sizeof *m->slots);
    m->entries_cap = slots / 2;
    m->entries = malloc((size_t)m->entries_cap * sizeof *m->entries);
    m->pool_cap = (size_t)slots * 8;
    m->pool = malloc(m->pool_cap);
    if (!m->slots || !m->entries || !m->pool) {
        pf_strmap_free(m);
        return pf_fail(PF_ERR_RUNTIME, "hash map: out of memory");
    }
    m->mask = slots - 1;
    return PF_OK;
}

void pf_strmap_free(pf_strmap *m)
{
    free(m->pool);
    free(m->entries);
    free(m->slots);
    memset(m, 0, sizeof *m);
}

void pf_strmap_clear(pf_strmap *m)
{
    m->count = 0;
    m->pool_len = 0;
    memset(m->slots, 0, ((size_t)m->mask + 1) * sizeof *m->slots);
}

int32_t pf_strmap_get(const pf_strmap *m, const void *key, size_t len)
{
    uint64_t h = pf_hash_bytes(key, len);
    for (uint32_t i = (uint32_t)h & m->mask;; i = (i + 1) & m->mask) {
        uint32_t s = m->slots[i];
        if (s == 0)
            return -1;
        const pf_strmap_entry *e = &m->entries[s - 1];
        if (e->hash == h && e->len == len && memcmp(m->pool + e->off, key, len) == 0)
            return e->value;
    }
}

/* Doubles the slot array and re-inserts every entry by its stored hash. */
static int strmap_grow_slots(pf_strmap *m)
{
    uint32_t n = (m->mask + 1) * 2;
    uint32_t *slots = calloc(n, sizeof *slots);
    if (!slots)
        return pf_fail(PF_ERR_RUNTIME, "hash map: out of memory");
    for (uint32_t e = 0; e < m->count; e++) {
        uint32_t i = (uint32_t)m->entries[e].hash & (n - 1);
        while (slots[i])
            i = (i + 1) & (n - 1);
        slots[i] = e + 1;
    }
    free(m->slots);
    m->slots = slots;
    m->mask = n - 1;
    return PF_OK;
}

/* Makes room for one more entry and len + 1 more pool bytes. */
static int strmap_reserve(pf_strmap *m, size_t len)
{
    if (2u * (m->count + 1) > m->mask + 1 && strmap_grow_slots(m) != PF_OK)
        return PF_ERR_RUNTIME;
    if (m->count == m->entries_cap) {
        pf_strmap_entry *e = realloc(m->entries, 2 * (size_t)m->entries_cap * sizeof *e);
        if (!e)
            return pf_fail(PF_ERR_RUNTIME, "hash map: out of memory");
        m->entries = e;
        m->entries_cap *= 2;
    }
    if (m->pool_len + len + 1 > m->pool_cap) {
        size_t cap = m->pool_cap * 2;
        while (cap < m->pool_len + len + 1)
            cap *= 2;
        char *p = realloc(m->pool, cap);
        if (!p)
            return pf_fail(PF_ERR_RUNTIME, "hash map: out of memory");
        m->pool = p;
        m->pool_cap = cap;
    }
    return PF_OK;
}

int pf_strmap_add(pf_strmap *m, const void *key, size_t len, int32_t value)
{
    if (len >= UINT32_MAX || m->pool_len + len >= UINT32_MAX || m->count >= INT32_MAX / 2)
        return pf_fail(PF_ERR_RUNTIME, "hash map: too large");
    if (strmap_reserve(m, len) != PF_OK)
        return PF_ERR_RUNTIME;
    pf_strmap_entry *e = &m->entries[m->count];
    e->hash = pf_hash_bytes(key, len);
    e->off = (uint32_t)m->pool_len;
    e->len = (uint32_t)len;
    e->value = value;
    if (len)
        memcpy(m->pool + m->pool_len, key, len);
    m->pool[m->pool_len + len] = '\0';
    m->pool_len += len + 1;
    uint32_t i = (uint32_t)e->hash & m->mask;
    while (m->slots[i])
        i = (i + 1) & m->mask;
    m->slots[i] = ++m->count;
    return PF_OK;
}

/* Slot index of key in a pair map: its slot, or the empty slot where it would go. */
static inline uint32_t pair_probe(const pf_pair_slot *slots, uint32_t mask, uint64_t key)
{
    uint32_t i = (uint32_t)mix64(key) & mask;
    while (slots[i].key != key && slots[i].key != PF_PAIR_EMPTY)
        i = (i + 1) & mask;
    return i;
}

/* A slot array of n free slots, or NULL. */
static pf_pair_slot *pair_slots_new(uint32_t n)
{
    pf_pair_slot *s = malloc((size_t)n * sizeof *s);
    for (uint32_t i = 0; s && i < n; i++)
        s[i].key = PF_PAIR_EMPTY;
    return s;
}

int pf_pairmap_init(pf_pairmap *m, uint32_t expected)
{
    uint32_t n = slot_count_for(expected);
    m->count = 0;
    m->slots = pair_slots_new(n);
    m->mask = n - 1;
    return m->slots ? PF_OK : pf_fail(PF_ERR_RUNTIME, "pair map: out of memory");
}

void pf_pairmap_free(pf_pairmap *m)
{
    free(m->slots);
    memset(m, 0, sizeof *m);
}

const pf_pair_slot *pf_pairmap_get(const pf_pairmap *m, uint64_t key)
{
    const pf_pair_slot *s = &m->slots[pair_probe(m->slots, m->mask, key)];
    return s->key == key ? s : NULL;
}

/* Doubles the slot array of a pair map. */
static int pairmap_grow(pf_pairmap *m)
{
    uint32_t n = (m->mask + 1) * 2;
    pf_pair_slot *slots = pair_slots_new(n);
    if (!slots)
        return pf_fail(PF_ERR_RUNTIME, "pair map: out of memory");
    for (uint32_t i = 0; i <= m->mask; i++)
        if (m->slots[i].key != PF_PAIR_EMPTY)
            slots[pair_probe(slots, n - 1, m->slots[i].key)] = m->slots[i];
    free(m->slots);
    m->slots = slots;
    m->mask = n - 1;
    return PF_OK;
}

int pf_pairmap_put(pf_pairmap *m, uint64_t key, int32_t a, int32_t b)
{
    if (2u * (m->count + 1) > m->mask + 1 && pairmap_grow(m) != PF_OK)
        return PF_ERR_RUNTIME;
    pf_pair_slot *s = &m->slots[pair_probe(m->slots, m->mask, key)];
    if (s->key == PF_PAIR_EMPTY) {
        s->key = key;
        m->count++;
    }
    s->a = a;
    s->b = b;
    return PF_OK;
}
