/*
 * sha256.h: SHA-256 (FIPS 180-4), streaming and one-shot.
 *
 * Used for checkpoint identity (params_sha256, reference identity) where a stable,
 * well-known digest lets users compare runs and tools outside prefopt-mpi (sha256sum,
 * hashlib) reproduce the value. The context is a plain struct: no allocation, no
 * failure modes. Feeding the same bytes in any split gives the same digest.
 */
#ifndef PREFOPT_SHA256_H
#define PREFOPT_SHA256_H

#include <stddef.h>
#include <stdint.h>

enum { PF_SHA256_DIGEST_BYTES = 32, PF_SHA256_HEX_CHARS = 64 };

typedef struct {
    uint32_t state[8];    /* running hash H0..H7 */
    uint64_t total_bytes; /* message length so far */
    uint8_t block[64];    /* pending partial block */
    size_t block_len;     /* bytes pending in block, always < 64 */
} pf_sha256_ctx;

/* Starts a new digest with the FIPS 180-4 initial hash value. */
void pf_sha256_init(pf_sha256_ctx *ctx);

/* Feeds len bytes (data may be NULL when len is 0). */
void pf_sha256_update(pf_sha256_ctx *ctx, const void *data, size_t len);

/* Pads, finishes and writes the 32-byte digest; the context must be re-initialised
 * before it is used again. */
void pf_sha256_final(pf_sha256_ctx *ctx, uint8_t digest[PF_SHA256_DIGEST_BYTES]);

/* Writes the digest as 64 lowercase hex characters plus a terminating NUL. */
void pf_sha256_hex(const uint8_t digest[PF_SHA256_DIGEST_BYTES], char hex[65]);

/* One-shot: the lowercase hex digest of len bytes. */
void pf_sha256_hex_of(const void *data, size_t len, char hex[65]);

#endif
