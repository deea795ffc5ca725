/*
 * test_config.c: the training config: defaults, --set overrides, and an error naming
 * the key for every kind of mistake (unknown key, wrong type, out of range, missing
 * required key, inconsistent keys); resume compatibility; and that docs/config.md
 * documents every key of the table.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cunit_run.h"
#include "prefopt/config.h"
#include "prefopt/error.h"

static const char *BASE = "{\"run_dir\": \"runs/x\", \"data\": {\"train\": \"t.jsonl\"}, "
                          "\"train\": {\"steps\": 5}}";

/* Parses BASE with extra --set overrides and expects rc; checks the message names key. */
static void expect(const char *const *sets, int n, int rc, const char *key)
{
    pf_config c;
    int got = pf_config_from_text(BASE, "cfg.json", sets, n, &c);
    CU_ASSERT(got == rc);
    if (got != rc || (key && !strstr(pf_error_message(), key)))
        printf("\n  sets[0]=%s: rc %d, message: %s\n", n ? sets[0] : "", got, pf_error_message());
    if (key)
        CU_ASSERT(strstr(pf_error_message(), key) != NULL);
    pf_config_free(&c);
}

static void test_defaults_and_sets(void)
{
    pf_config c;
    const char *sets[] = {"dpo.beta=0.5", "optim.betas=[0.9,0.95]", "dpo.loss_type=ipo",
                          "model.tokenizer.vocab=data/v.json"};
    CU_ASSERT_FATAL(pf_config_from_text(BASE, "cfg.json", sets, 4, &c) == PF_OK);
    CU_ASSERT_STRING_EQUAL(c.algorithm, "dpo");
    CU_ASSERT(c.seed == 1234 && c.global_batch == 32 && c.micro_batch == 4 && c.steps == 5);
    CU_ASSERT(c.deterministic == 1 && c.epochs == 0);
    CU_ASSERT(c.dpo_beta == 0.5 && c.betas[1] == 0.95);
    CU_ASSERT_STRING_EQUAL(c.dpo_loss_type, "ipo");
    CU_ASSERT_STRING_EQUAL(c.tokenizer_vocab, "data/v.json");
    CU_ASSERT(c.model.n_layer == 4 && c.model.max_seq_len == 256);
    CU_ASSERT(strstr(c.resolved_json, "\"keep_checkpoints\":3") != NULL);
    /* the resolved JSON parses back to the same config */
    pf_config again;
    CU_ASSERT_FATAL(pf_config_from_text(c.resolved_json, "resolved", NULL, 0, &again) == PF_OK);
    CU_ASSERT_STRING_EQUAL(again.resolved_json, c.resolved_json);
    pf_config_free(&again);
    pf_config_free(&c);
}

static void test_errors_name_the_key(void)
{
    const char *unknown[] = {"train.stepz=3"}, *type[] = {"train.steps=\"many\""};
    const char *range[] = {"dpo.beta=0"}, *choice[] = {"dpo.loss_type=kto"};
    const char *div[] = {"train.micro_batch=5"}, *both[] = {"train.epochs=2"};
    const char *top[] = {"colour=1"}, *bad_set[] = {"novalue"}, *section[] = {"dpo=3"};
    const char *prompt[] = {"data.max_prompt_length=300"};
    expect(unknown, 1, PF_ERR_USAGE, "train.stepz: unknown key");
    expect(type, 1, PF_ERR_USAGE, "train.steps: must be an integer");
    expect(range, 1, PF_ERR_USAGE, "dpo.beta: must be a number in (0");
    expect(choice, 1, PF_ERR_USAGE, "dpo.loss_type: must be one of sigmoid|robust|hinge|ipo");
    expect(div, 1, PF_ERR_USAGE, "train.micro_batch");
    expect(both, 1, PF_ERR_USAGE, "train.epochs");
    expect(top, 1, PF_ERR_USAGE, "colour: unknown key");
    expect(bad_set, 1, PF_ERR_USAGE, "--set novalue");
    expect(section, 1, PF_ERR_USAGE, "dpo: must be an object");
    expect(prompt, 1, PF_ERR_USAGE, "data.max_prompt_length");
    pf_config c;
    CU_ASSERT(pf_config_from_text("{\"data\": {\"train\": \"t\"}}", "c.json", NULL, 0, &c) ==
              PF_ERR_USAGE);
    CU_ASSERT(strstr(pf_error_message(), "c.json: run_dir: required") != NULL);
    CU_ASSERT(pf_config_from_text("[1]", "c.json", NULL, 0, &c) == PF_ERR_USAGE);
}

static void test_resume_rules(void)
{
    pf_config a, b, d;
    const char *more_steps[] = {"train.steps=50", "train.log_every=1"};
    const char *new_lr[] = {"optim.lr=0.5"};
    CU_ASSERT_FATAL(pf_config_from_text(BASE, "a", NULL, 0, &a) == PF_OK);
    CU_ASSERT_FATAL(pf_config_from_text(BASE, "b", more_steps, 2, &b) == PF_OK);
    CU_ASSERT_FATAL(pf_config_from_text(BASE, "d", new_lr, 1, &d) == PF_OK);
    CU_ASSERT(pf_config_check_resume(&a, &b) == PF_OK);
    CU_ASSERT(pf_config_check_resume(&a, &d) == PF_ERR_USAGE);
    CU_ASSERT(strstr(pf_error_message(), "optim.lr") != NULL);
    pf_config_free(&a), pf_config_free(&b), pf_config_free(&d);
}

/* docs/config.md (path from PREFOPT_SRC or the working directory) names every key. */
static void test_docs_cover_every_key(void)
{
    char path[1024];
    const char *src = getenv("PREFOPT_SRC");
    snprintf(path, sizeof path, "%s/docs/config.md", src ? src : ".");
    FILE *fp = fopen(path, "rb");
    CU_ASSERT_FATAL(fp != NULL);
    static char text[1 << 16];
    size_t n = fread(text, 1, sizeof text - 1, fp);
    text[n] = '\0';
    fclose(fp);
    for (int i = 0; i < pf_config_key_count(); i++) {
        char needle[160];
        snprintf(needle, sizeof needle, "`%s`", pf_config_key_name(i));
        if (!strstr(text, needle))
            printf("\n  docs/config.md does not document %s\n", pf_config_key_name(i));
        CU_ASSERT(strstr(text, needle) != NULL);
    }
}

int main(void)
{
    static const pf_test_case cases[] = {
        {"defaults and --set", test_defaults_and_sets},
        {"errors name the key", test_errors_name_the_key},
        {"resume may only change harmless keys", test_resume_rules},
        {"docs/config.md documents every key", test_docs_cover_every_key},
        {NULL, NULL},
    };
    return pf_cunit_run("config", cases);
}
