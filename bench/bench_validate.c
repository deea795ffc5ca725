/*
 * bench_validate.c: throughput and memory of the JSONL validator on one core.
 *
 * usage: bench_validate [--mb N] [--file PATH] [--keep]
 *
 * Writes a deterministic DPO file of about N MB (default 200; lines mix plain answers,
 * multi-part content, tool calls with tool results, escapes and non-ASCII text, with
 * metadata) unless --file names an existing one, then times, on that file:
 *   validate   pf_data_validate_file (the `prefopt-mpi validate` path),
 *   load       pf_data_load_file (parse + build records),
 *   cjson      a baseline: cJSON_ParseWithLength + cJSON_Delete of every line.
 * Prints MB/s for each and the peak resident set size so far: for validate and cjson it
 * must not grow with the file (load runs last, since its records do). The generated file is removed
 * unless --keep is given.
 */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "prefopt/data.h"
#include "prefopt/error.h"

static const char *const WORDS[] = {
    "the", "model", "answer", "Paris", "weather",        "is",           "café", "naïve", "résumé",
    "a",   "token", "of",     "data",  "\\\"quoted\\\"", "line\\nbreak", "数据"};

/* Next value of a 64-bit LCG. */
static uint64_t lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return *s >> 33;
}

/* Writes a sentence of n random words. */
static void sentence(FILE *f, uint64_t *s, int n)
{
    for (int k = 0; k < n; k++)
        fprintf(f, "%s%s", k ? " " : "", WORDS[lcg(s) % (sizeof WORDS / sizeof WORDS[0])]);
}

/* Writes one DPO line (example i). */
static void dpo_line(FILE *f, uint64_t *s, long i)
{
    fprintf(f,
            "{\"input\": {\"messages\": [{\"role\": \"system\", \"content\": \"You are "
            "helpful.\"}, {\"role\": \"user\", \"content\": \"Q%ld: ",
            i);
    sentence(f, s, 20 + (int)(lcg(s) % 40));
    fputs("\"}]", f);
    int tools = i % 4 == 0;
    if (tools)
        fputs(", \"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", "
              "\"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": "
              "\"string\"}}}}}]",
              f);
    fputs("}, \"preferred_output\": [", f);
    if (tools)
        fputs("{\"role\": \"assistant\", \"tool_calls\": [{\"id\": \"call_1\", \"type\": "
              "\"function\", \"function\": {\"name\": \"get_weather\", \"arguments\": "
              "\"{\\\"city\\\": \\\"Paris\\\"}\"}}]}, {\"role\": \"tool\", \"tool_call_id\": "
              "\"call_1\", \"content\": \"21 C\"}, ",
              f);
    fputs("{\"role\": \"assistant\", \"content\": \"", f);
    sentence(f, s, 40 + (int)(lcg(s) % 80));
    fputs("\"}], \"non_preferred_output\": [{\"role\": \"assistant\", \"content\": [{\"type\": "
          "\"text\", \"text\": \"",
          f);
    sentence(f, s, 30 + (int)(lcg(s) % 60));
    fprintf(f, "\"}]}], \"metadata\": {\"reason\": \"r%d\", \"score\": %.3f}}\n", (int)(i % 7),
            (double)(lcg(s) % 1000) / 1000.0);
}

/* Generates about mb megabytes at path. */
static int generate(const char *path, long mb)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    uint64_t s = 42;
    for (long i = 0; ftell(f) < mb * 1000000L; i++)
        dpo_line(f, &s, i);
    return fclose(f);
}

/* Seconds on the monotonic clock. */
static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Parses every line of path with cJSON; returns the bytes read. */
static long cjson_pass(const char *path)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    long bytes = 0;
    ssize_t n;
    while (f && (n = getline(&line, &cap, f)) > 0) {
        cJSON *j = cJSON_ParseWithLength(line, (size_t)n);
        cJSON_Delete(j);
        bytes += n;
    }
    free(line);
    if (f)
        fclose(f);
    return bytes;
}

/* Peak resident set size in MiB. */
static double peak_mib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;
}

/* Runs one timed pass and prints its line. */
static void timed(const char *what, const char *path, int mode)
{
    pf_data_summary sum;
    pf_data_options o;
    pf_data_options_init(&o);
    pf_record_set set = {0};
    double t0 = now();
    int rc = PF_OK;
    double bytes;
    if (mode == 2) {
        bytes = (double)cjson_pass(path);
    } else {
        rc = mode ? pf_data_load_file(path, PF_DATA_DPO, &o, &set, &sum)
                  : pf_data_validate_file(path, PF_DATA_DPO, &o, &sum);
        bytes = (double)sum.bytes;
    }
    double dt = now() - t0;
    printf("%-9s %8.1f MB in %6.2f s = %7.1f MB/s  (status %d, peak RSS %.1f MiB)\n", what,
           bytes / 1e6, dt, bytes / 1e6 / dt, rc, peak_mib());
    pf_record_set_free(&set);
}

int main(int argc, char **argv)
{
    long mb = 200;
    const char *file = NULL;
    int keep = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--mb") == 0 && i + 1 < argc)
            mb = atol(argv[++i]);
        else if (strcmp(argv[i], "--file") == 0 && i + 1 < argc)
            file = argv[++i];
        else if (strcmp(argv[i], "--keep") == 0)
            keep = 1;
        else {
            fprintf(stderr, "usage: bench_validate [--mb N] [--file PATH] [--keep]\n");
            return 2;
        }
    }
    char tmp[] = "/tmp/bench_validate_XXXXXX";
    if (!file) {
        int fd = mkstemp(tmp);
        if (fd < 0 || close(fd) != 0 || generate(tmp, mb) != 0) {
            fprintf(stderr, "bench_validate: cannot write %s\n", tmp);
            return 1;
        }
        file = tmp;
    }
    printf("bench_validate: %s (dpo), one core\n", file);
    timed("validate", file, 0);
    timed("validate", file, 0);
    timed("cjson", file, 2);
    timed("load", file, 1); /* last: its records make the peak RSS grow */
    if (!keep && file == tmp)
        unlink(tmp);
    return 0;
}
