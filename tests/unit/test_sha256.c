/*
 * test_sha256.c: SHA-256 against the FIPS 180-2 / NIST example vectors, padding
 * boundary lengths, and streaming (any split of the input gives the same digest).
 */
#include <stdlib.h>
#include <string.h>

#include "cunit_run.h"
#include "prefopt/sha256.h"

/* One-shot hex digest of a string. */
static void hex_of_str(const char *s, char hex[65]) { pf_sha256_hex_of(s, strlen(s), hex); }

/* The NIST short examples: "", "abc" and the two multi-block messages. */
static void test_nist_vectors(void)
{
    char hex[65];
    hex_of_str("", hex);
    CU_ASSERT_STRING_EQUAL(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    hex_of_str("abc", hex);
    CU_ASSERT_STRING_EQUAL(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    hex_of_str("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", hex);
    CU_ASSERT_STRING_EQUAL(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    hex_of_str("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopq"
               "klmnopqrlmnopqrsmnopqrstnopqrstu",
               hex);
    CU_ASSERT_STRING_EQUAL(hex, "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

/* One million 'a', fed in uneven chunks through the streaming interface. */
static void test_million_a(void)
{
    char chunk[997];
    pf_sha256_ctx ctx;
    uint8_t digest[PF_SHA256_DIGEST_BYTES];
    char hex[65];
    memset(chunk, 'a', sizeof chunk);
    pf_sha256_init(&ctx);
    size_t left = 1000000;
    while (left > 0) {
        size_t n = left < sizeof chunk ? left : sizeof chunk;
        pf_sha256_update(&ctx, chunk, n);
        left -= n;
    }
    pf_sha256_final(&ctx, digest);
    pf_sha256_hex(digest, hex);
    CU_ASSERT_STRING_EQUAL(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

/* Lengths around the padding boundaries (55/56 bytes: one or two final blocks). */
static void test_padding_boundaries(void)
{
    static const struct {
        size_t len;
        const char *hex;
    } cases[] = {
        {55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
        {56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"},
        {63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"},
        {64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
        {119, "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb"},
        {120, "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c"},
    };
    char buf[128], hex[65];
    memset(buf, 'a', sizeof buf);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pf_sha256_hex_of(buf, cases[i].len, hex);
        CU_ASSERT_STRING_EQUAL(hex, cases[i].hex);
    }
}

/* Every split point of a 300-byte message gives the one-shot digest. */
static void test_streaming_splits(void)
{
    uint8_t msg[300];
    char want[65], got[65];
    for (size_t i = 0; i < sizeof msg; i++)
        msg[i] = (uint8_t)(i * 131 + 7);
    pf_sha256_hex_of(msg, sizeof msg, want);
    for (size_t a = 0; a <= sizeof msg; a += 7) {
        for (size_t b = a; b <= sizeof msg; b += 13) {
            pf_sha256_ctx ctx;
            uint8_t digest[PF_SHA256_DIGEST_BYTES];
            pf_sha256_init(&ctx);
            pf_sha256_update(&ctx, msg, a);
            pf_sha256_update(&ctx, msg + a, b - a);
            pf_sha256_update(&ctx, NULL, 0);
            pf_sha256_update(&ctx, msg + b, sizeof msg - b);
            pf_sha256_final(&ctx, digest);
            pf_sha256_hex(digest, got);
            CU_ASSERT_STRING_EQUAL(got, want);
        }
    }
}

int main(void)
{
    static const pf_test_case cases[] = {
        {"nist_vectors", test_nist_vectors},
        {"million_a", test_million_a},
        {"padding_boundaries", test_padding_boundaries},
        {"streaming_splits", test_streaming_splits},
        {NULL, NULL},
    };
    return pf_cunit_run("sha256", cases);
}
