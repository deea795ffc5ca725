/*
 * maps.h: the two hash maps of the tokenizer and its trainer.
 *
 * Internal to src/text. pf_strmap maps byte strings to non-negative int32 values; keys
 * are copied into one pool, entries keep insertion order (entry i is the i-th key
 * added, so a map can also number distinct strings), and clearing keeps all capacity,
 * so a map in steady use allocates nothing. pf_pairmap maps a pair of int32 ids packed
 * in a uint64 to two int32 values. Both use open addressing with linear probing at a
 * load factor of at most 1/2 and grow by doubling. Hashing is deterministic (no seed),
 * so iteration-free results never depend on the run.
 */
#ifndef PREFOPT_TEXT_MAPS_H
#define PREFOPT_TEXT_MAPS_H

#include <stddef.h>
#include <stdint.h>

/* One key of a pf_strmap: its bytes at pool + off (NUL-terminated), len, value. */
typedef struct {
    uint64_t hash;
    uint32_t off, len;
    int32_t value;
} pf_strmap_entry;

typedef struct {
    char *pool;
    size_t pool_len, pool_cap;
    pf_strmap_entry *entries;
    uint32_t count, entries_cap;
    uint32_t *slots; /* 0 = empty, else entry index + 1 */
    uint32_t mask;   /* slot count - 1 (a power of two) */
} pf_strmap;

/* A 64-bit hash of n bytes. */
uint64_t pf_hash_bytes(const void *p, size_t n);

/* Creates an empty map sized for about expected keys. PF_OK or PF_ERR_RUNTIME. */
int pf_strmap_init(pf_strmap *m, uint32_t expected);

/* Frees everything the map owns (safe on a zeroed map). */
void pf_strmap_free(pf_strmap *m);

/* Removes every key, keeping the capacity. */
void pf_strmap_clear(pf_strmap *m);

/* The value stored for key, or -1 when absent. */
int32_t pf_strmap_get(const pf_strmap *m, const void *key, size_t len);

/* Adds key (which must be absent) with value >= 0. PF_OK or PF_ERR_RUNTIME. */
int pf_strmap_add(pf_strmap *m, const void *key, size_t len, int32_t value);

/* The bytes of entry i (NUL-terminated) and their length. */
static inline const char *pf_strmap_key(const pf_strmap *m, uint32_t i, size_t *len)
{
    *len = m->entries[i].len;
    return m->pool + m->entries[i].off;
}

/* One slot of a pf_pairmap; key PF_PAIR_EMPTY marks a free slot. */
typedef struct {
    uint64_t key;
    int32_t a, b;
} pf_pair_slot;

#define PF_PAIR_EMPTY UINT64_MAX

typedef struct {
    pf_pair_slot *slots;
    uint32_t mask, count;
} pf_pairmap;

/* The key of the pair (left, right) of non-negative ids. */
static inline uint64_t pf_pair_key(int32_t left, int32_t right)
{
    return ((uint64_t)(uint32_t)left << 32) | (uint32_t)right;
}

/* Creates an empty pair map sized for about expected keys. PF_OK or PF_ERR_RUNTIME. */
int pf_pairmap_init(pf_pairmap *m, uint32_t expected);

/* Frees the slots (safe on a zeroed map). */
void pf_pairmap_free(pf_pairmap *m);

/* The slot holding key, or NULL when absent. */
const pf_pair_slot *pf_pairmap_get(const pf_pairmap *m, uint64_t key);

/* Stores (a, b) for key, replacing any previous values. PF_OK or PF_ERR_RUNTIME. */
int pf_pairmap_put(pf_pairmap *m, uint64_t key, int32_t a, int32_t b);

#endif
