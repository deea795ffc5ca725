/*
 * test_pretok.c: the GPT-2 pre-tokenizer, UTF-8 validation and the Unicode tables.
 *
 * Expected splits are what GPT-2's regex gives under Python's `regex` module (checked by
 * hand against it): pieces are written joined by '|'.
 */
#include <stdlib.h>
#include <string.h>

#include "cunit_run.h"
#include "text/unicode.h"

/* Splits text with pf_pretok_next and joins the pieces with '|' into out. */
static void split(const char *text, char *out, size_t size)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t len = strlen(text), k = 0;
    for (size_t i = 0; i < len;) {
        size_t j = pf_pretok_next(s, len, i);
        CU_ASSERT_FATAL(j > i && j <= len);
        if (i > 0 && k + 1 < size)
            out[k++] = '|';
        for (size_t t = i; t < j && k + 1 < size; t++)
            out[k++] = text[t];
        i = j;
    }
    out[k] = '\0';
}

/* Asserts that text splits into want. */
static void check_split(const char *text, const char *want)
{
    char got[1024];
    split(text, got, sizeof got);
    if (strcmp(got, want) != 0)
        fprintf(stderr, "\n  text [%s]: got [%s] want [%s]\n", text, got, want);
    CU_ASSERT_STRING_EQUAL(got, want);
}

static void test_contractions(void)
{
    check_split("it's", "it|'s");
    check_split("don't you're we've I'm they'll he'd",
                "don|'t| you|'re| we|'ve| I|'m| they|'ll| he|'d");
    check_split("IT'S", "IT|'|S");   /* contractions are lowercase only */
    check_split("she'S", "she|'|S"); /* 'S is punctuation then a letter */
    check_split("'sa", "'s|a");      /* a contraction may start a word */
    check_split(" 's", " '|s");      /* a space before ' belongs to the punctuation */
    check_split("''s", "''|s");      /* a punctuation run takes the first quote */
    check_split("'ll've're", "'ll|'ve|'re");
    check_split("'", "'");
    check_split("'r", "'|r");
}

static void test_letters_numbers_other(void)
{
    check_split("Hello world", "Hello| world");
    check_split("abc123def", "abc|123|def");
    check_split(" 42 x", " 42| x");
    check_split("3.14", "3|.|14");
    check_split("a!!b ??c", "a|!!|b| ??|c");
    check_split("x+=1;", "x|+=|1|;");
    check_split("caf\xc3\xa9 na\xc3\xafve", "caf\xc3\xa9| na\xc3\xafve");
    /* e + COMBINING ACUTE (Mn: other) */
    check_split("e\xcc\x81t", "e|\xcc\x81|t");
    /* CJK letters run together; the fullwidth comma is other */
    check_split("\xe4\xbd\xa0\xe5\xa5\xbd\xef\xbc\x8c", "\xe4\xbd\xa0\xe5\xa5\xbd|\xef\xbc\x8c");
    /* superscript two and VULGAR ONE HALF are numbers (No) */
    check_split("x\xc2\xb2\xc2\xbd", "x|\xc2\xb2\xc2\xbd");
    /* an emoji (So) followed by a letter */
    check_split("\xf0\x9f\x98\x80"
                "a",
                "\xf0\x9f\x98\x80|a");
}

static void test_whitespace(void)
{
    check_split("a  b", "a| | b");
    check_split("a   b", "a|  | b");
    check_split("a\tb", "a|\t|b");
    check_split("a\t\tb", "a|\t|\t|b");
    check_split("a\n\nb", "a|\n|\n|b");
    check_split("a \n b", "a| \n| b");
    check_split("x   ", "x|   ");
    check_split("   x", "  | x");
    check_split(" ", " ");
    check_split("\n", "\n");
    check_split("\r\n", "\r\n");
    check_split("\t \t x", "\t \t| x");
    /* NO-BREAK SPACE is whitespace but not the optional leading space */
    check_split("a\xc2\xa0"
                "b",
                "a|\xc2\xa0|b");
    /* U+0085 is White_Space (as in Python's regex); U+FEFF is not */
    check_split("a\xc2\x85\xc2\x85"
                "b",
                "a|\xc2\x85|\xc2\x85|b");
    check_split("a\xef\xbb\xbf"
                "b",
                "a|\xef\xbb\xbf|b");
    /* U+001C..U+001F are not whitespace for regex (unlike str.isspace) */
    check_split("a\x1c"
                "b",
                "a|\x1c|b");
    /* IDEOGRAPHIC SPACE runs */
    check_split("a\xe3\x80\x80\xe3\x80\x80"
                "b",
                "a|\xe3\x80\x80|\xe3\x80\x80|b");
}

static void test_classes(void)
{
    CU_ASSERT_EQUAL(pf_uc_class('a'), PF_UC_LETTER);
    CU_ASSERT_EQUAL(pf_uc_class('7'), PF_UC_NUMBER);
    CU_ASSERT_EQUAL(pf_uc_class(' '), PF_UC_SPACE);
    CU_ASSERT_EQUAL(pf_uc_class('_'), PF_UC_OTHER);
    CU_ASSERT_EQUAL(pf_uc_class(0x4E00), PF_UC_LETTER); /* CJK */
    CU_ASSERT_EQUAL(pf_uc_class(0x0661), PF_UC_NUMBER); /* Arabic-Indic one */
    CU_ASSERT_EQUAL(pf_uc_class(0x2167), PF_UC_NUMBER); /* Roman numeral eight (Nl) */
    CU_ASSERT_EQUAL(pf_uc_class(0x3000), PF_UC_SPACE);
    CU_ASSERT_EQUAL(pf_uc_class(0x2029), PF_UC_SPACE);
    CU_ASSERT_EQUAL(pf_uc_class(0x0300), PF_UC_OTHER);   /* combining mark */
    CU_ASSERT_EQUAL(pf_uc_class(0x1F600), PF_UC_OTHER);  /* emoji */
    CU_ASSERT_EQUAL(pf_uc_class(0x1D400), PF_UC_LETTER); /* math bold A */
    CU_ASSERT_EQUAL(pf_uc_class(0x10FFFF), PF_UC_OTHER);
    CU_ASSERT_EQUAL(pf_uc_class(0x110000), PF_UC_OTHER);
    /* the tables are sorted and disjoint */
    for (unsigned i = 1; i < pf_uc_range_count; i++)
        CU_ASSERT(pf_uc_ranges[i - 1].hi < pf_uc_ranges[i].lo);
}

/* Asserts pf_utf8_check(s, n) == want. */
static void check_utf8(const char *s, size_t n, size_t want)
{
    CU_ASSERT_EQUAL(pf_utf8_check((const unsigned char *)s, n), want);
}

static void test_utf8_check(void)
{
    check_utf8("plain", 5, 5);
    check_utf8("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9, 9);
    check_utf8("\xf4\x8f\xbf\xbf", 4, 4); /* U+10FFFF */
    check_utf8("\xef\xbf\xbf", 3, 3);     /* U+FFFF (noncharacter, valid) */
    check_utf8("ab\x80", 3, 2);           /* lone continuation */
    check_utf8("ab\xc0\x80", 4, 2);       /* overlong NUL */
    check_utf8("\xc1\xbf", 2, 0);         /* overlong */
    check_utf8("a\xe0\x80\xaf", 4, 1);    /* overlong 3-byte */
    check_utf8("a\xed\xa0\x80", 4, 1);    /* surrogate U+D800 */
    check_utf8("\xf0\x80\x80\x80", 4, 0); /* overlong 4-byte */
    check_utf8("\xf4\x90\x80\x80", 4, 0); /* above U+10FFFF */
    check_utf8("\xf5\x80\x80\x80", 4, 0);
    check_utf8("abc\xe2\x82", 5, 3); /* truncated */
    check_utf8("\xc3(", 2, 0);       /* bad continuation */
    check_utf8("\xff", 1, 0);
}

/* Pre-tokenization tiles the text for every input, including odd mixtures. */
static void test_tiling_random(void)
{
    static const char *atoms[] = {"a",
                                  "Z",
                                  "7",
                                  " ",
                                  "  ",
                                  "\t",
                                  "\n",
                                  "'",
                                  "'s",
                                  "!",
                                  "\xc3\xa9",
                                  "\xe4\xbd\xa0",
                                  "\xf0\x9f\x98\x80",
                                  "\xc2\xa0",
                                  "\xcc\x81",
                                  "\xc2\xb2",
                                  "\xe3\x80\x80",
                                  "'ll",
                                  "-"};
    unsigned state = 12345;
    for (int t = 0; t < 2000; t++) {
        char text[256] = "";
        int n = (int)((state = state * 1103515245u + 12345u) >> 16) % 20;
        for (int k = 0; k < n; k++) {
            state = state * 1103515245u + 12345u;
            strcat(text, atoms[(state >> 16) % (sizeof atoms / sizeof atoms[0])]);
        }
        const unsigned char *s = (const unsigned char *)text;
        size_t len = strlen(text);
        for (size_t i = 0; i < len;) {
            size_t j = pf_pretok_next(s, len, i);
            CU_ASSERT_FATAL(j > i && j <= len);
            CU_ASSERT(pf_utf8_check(s + i, j - i) == j - i); /* pieces are whole characters */
            i = j;
        }
    }
}

int main(void)
{
    static const pf_test_case cases[] = {
        {"contractions", test_contractions},
        {"letters_numbers_other", test_letters_numbers_other},
        {"whitespace", test_whitespace},
        {"unicode_classes", test_classes},
        {"utf8_check", test_utf8_check},
        {"tiling_random", test_tiling_random},
        {NULL, NULL},
    };
    return pf_cunit_run("pretok", cases);
}
