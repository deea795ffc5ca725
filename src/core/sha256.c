/*
 * sha256.c: SHA-256 as specified in FIPS 180-4, section 6.2.
 *
 * The message is processed in 64-byte blocks; bytes that do not fill a block wait in
 * ctx->block (invariant: block_len < 64 between calls). Words are big-endian as the
 * standard requires, assembled byte by byte so the code is endian-neutral and never
 * does unaligned loads. No allocation, no failure paths.
 */
#include "prefopt/sha256.h"

#include <string.h>

/* The first 32 bits of the fractional parts of the cube roots of the first 64 primes
 * (FIPS 180-4, 4.2.2). */
static const uint32_t round_constants[64] = {
    0x428a2f98u, 0x71374491u, 0xb5c0fbcfu, 0xe9b5dba5u, 0x3956c25bu, 0x59f111f1u, 0x923f82a4u,
    0xab1c5ed5u, 0xd807aa98u, 0x12835b01u, 0x243185beu, 0x550c7dc3u, 0x72be5d74u, 0x80deb1feu,
    0x9bdc06a7u, 0xc19bf174u, 0xe49b69c1u, 0xefbe4786u, 0x0fc19dc6u, 0x240ca1ccu, 0x2de92c6fu,
    0x4a7484aau, 0x5cb0a9dcu, 0x76f988dau, 0x983e5152u, 0xa831c66du, 0xb00327c8u, 0xbf597fc7u,
    0xc6e00bf3u, 0xd5a79147u, 0x06ca6351u, 0x14292967u, 0x27b70a85u, 0x2e1b2138u, 0x4d2c6dfcu,
    0x53380d13u, 0x650a7354u, 0x766a0abbu, 0x81c2c92eu, 0x92722c85u, 0xa2bfe8a1u, 0xa81a664bu,
    0xc24b8b70u, 0xc76c51a3u, 0xd192e819u, 0xd6990624u, 0xf40e3585u, 0x106aa070u, 0x19a4c116u,
    0x1e376c08u, 0x2748774cu, 0x34b0bcb5u, 0x391c0cb3u, 0x4ed8aa4au, 0x5b9cca4fu, 0x682e6ff3u,
    0x748f82eeu, 0x78a5636fu, 0x84c87814u, 0x8cc70208u, 0x90befffau, 0xa4506cebu, 0xbef9a3f7u,
    0xc67178f2u,
};

/* Rotate right by n (0 < n < 32). */
static uint32_t rotr(uint32_t x, unsigned n) { return (x >> n) | (x << (32u - n)); }

/* Reads a big-endian 32-bit word. */
static uint32_t load_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

/* Writes a big-endian 32-bit word. */
static void store_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Expands one block into the 64-word message schedule W (FIPS 180-4, 6.2.2 step 1). */
static void message_schedule(const uint8_t block[64], uint32_t w[64])
{
    for (int t = 0; t < 16; t++)
        w[t] = load_be32(block + 4 * t);
    for (int t = 16; t < 64; t++) {
        uint32_t s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> 3);
        uint32_t s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> 10);
        w[t] = w[t - 16] + s0 + w[t - 7] + s1;
    }
}

/* Folds one 64-byte block into the running hash (FIPS 180-4, 6.2.2 steps 2-4). */
static void compress(uint32_t state[8], const uint8_t block[64])
{
    uint32_t w[64];
    uint32_t v[8];
    message_schedule(block, w);
    memcpy(v, state, sizeof v);
    for (int t = 0; t < 64; t++) {
        uint32_t sum1 = rotr(v[4], 6) ^ rotr(v[4], 11) ^ rotr(v[4], 25);
        uint32_t choose = (v[4] & v[5]) ^ (~v[4] & v[6]);
        uint32_t t1 = v[7] + sum1 + choose + round_constants[t] + w[t];
        uint32_t sum0 = rotr(v[0], 2) ^ rotr(v[0], 13) ^ rotr(v[0], 22);
        uint32_t majority = (v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]);
        uint32_t t2 = sum0 + majority;
        memmove(v + 1, v, 7 * sizeof v[0]);
        v[4] += t1;
        v[0] = t1 + t2;
    }
    for (int i = 0; i < 8; i++)
        state[i] += v[i];
}

void pf_sha256_init(pf_sha256_ctx *ctx)
{
    /* The first 32 bits of the fractional parts of the square roots of the first
     * 8 primes (FIPS 180-4, 5.3.3). */
    static const uint32_t initial[8] = {0x6a09e667u, 0xbb67ae85u, 0x3c6ef372u, 0xa54ff53au,
                                        0x510e527fu, 0x9b05688cu, 0x1f83d9abu, 0x5be0cd19u};
    memcpy(ctx->state, initial, sizeof initial);
    ctx->total_bytes = 0;
    ctx->block_len = 0;
}

void pf_sha256_update(pf_sha256_ctx *ctx, const void *data, size_t len)
{
    const uint8_t *p = data;
    if (len == 0)
        return; /* data may be NULL: memcpy must not see it */
    ctx->total_bytes += len;
    if (ctx->block_len > 0) {
        size_t take = 64 - ctx->block_len;
        if (take > len)
            take = len;
        memcpy(ctx->block + ctx->block_len, p, take);
        ctx->block_len += take;
        p += take;
        len -= take;
        if (ctx->block_len < 64)
            return;
        compress(ctx->state, ctx->block);
        ctx->block_len = 0;
    }
    for (; len >= 64; p += 64, len -= 64)
        compress(ctx->state, p);
    if (len > 0)
        memcpy(ctx->block, p, len);
    ctx->block_len = len;
}

void pf_sha256_final(pf_sha256_ctx *ctx, uint8_t digest[PF_SHA256_DIGEST_BYTES])
{
    /* Padding (FIPS 180-4, 5.1.1): a 1 bit, zeros up to 56 mod 64, then the message
     * length in bits as a 64-bit big-endian integer. */
    uint64_t bits = ctx->total_bytes * 8u;
    size_t n = ctx->block_len;
    ctx->block[n++] = 0x80;
    if (n > 56) {
        memset(ctx->block + n, 0, 64 - n);
        compress(ctx->state, ctx->block);
        n = 0;
    }
    memset(ctx->block + n, 0, 56 - n);
    store_be32(ctx->block + 56, (uint32_t)(bits >> 32));
    store_be32(ctx->block + 60, (uint32_t)bits);
    compress(ctx->state, ctx->block);
    for (int i = 0; i < 8; i++)
        store_be32(digest + 4 * i, ctx->state[i]);
    ctx->block_len = 0;
}

void pf_sha256_hex(const uint8_t digest[PF_SHA256_DIGEST_BYTES], char hex[65])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < PF_SHA256_DIGEST_BYTES; i++) {
        hex[2 * i] = digits[digest[i] >> 4];
        hex[2 * i + 1] = digits[digest[i] & 15];
    }
    hex[PF_SHA256_HEX_CHARS] = '\0';
}

void pf_sha256_hex_of(const void *data, size_t len, char hex[65])
{
    pf_sha256_ctx ctx;
    uint8_t digest[PF_SHA256_DIGEST_BYTES];
    pf_sha256_init(&ctx);
    pf_sha256_update(&ctx, data, len);
    pf_sha256_final(&ctx, digest);
    pf_sha256_hex(digest, hex);
}
