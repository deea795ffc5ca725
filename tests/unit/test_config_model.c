/*
 * test_config_model.c: strict parsing of the config's "model" section and top level:
 * defaults, and errors (unknown, duplicate, mistyped, out-of-range or missing keys)
 * whose message names the file and the dotted key.
 */
#include <string.h>

#include "cunit_run.h"
#include "prefopt/config_model.h"
#include "prefopt/error.h"

/* Parses a JSON text's "model" section as config file "c.json". */
static int parse_model(const char *json, pf_model_config *cfg)
{
    cJSON *root = cJSON_Parse(json);
    CU_ASSERT_PTR_NOT_NULL_FATAL(root);
    int rc = pf_config_model_parse(cJSON_GetObjectItemCaseSensitive(root, "model"), "c.json", cfg);
    cJSON_Delete(root);
    return rc;
}

/* Expects json's model section to fail naming the given message fragment. */
static void expect_model_error(const char *json, const char *fragment)
{
    pf_model_config cfg;
    pf_error_clear();
    CU_ASSERT_EQUAL(parse_model(json, &cfg), PF_ERR_USAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(pf_error_message(), "c.json: "));
    CU_ASSERT_PTR_NOT_NULL(strstr(pf_error_message(), fragment));
}

/* Absent keys take their documented defaults. */
static void test_defaults(void)
{
    pf_model_config cfg;
    CU_ASSERT_EQUAL_FATAL(parse_model("{\"model\": {\"vocab_size\": 300}}", &cfg), PF_OK);
    CU_ASSERT_EQUAL(cfg.arch, PF_ARCH_GPT2);
    CU_ASSERT_EQUAL(cfg.n_layer, 4);
    CU_ASSERT_EQUAL(cfg.n_head, 4);
    CU_ASSERT_EQUAL(cfg.d_model, 128);
    CU_ASSERT_EQUAL(cfg.vocab_size, 300);
    CU_ASSERT_EQUAL(cfg.max_seq_len, 256);
    CU_ASSERT_EQUAL(cfg.value_head, 0);
    CU_ASSERT_EQUAL_FATAL(parse_model("{\"model\": {\"arch\": \"gpt2\", \"n_layer\": 1, "
                                      "\"n_head\": 2, \"d_model\": 8, \"vocab_size\": 9, "
                                      "\"max_seq_len\": 4, \"value_head\": true, "
                                      "\"init\": \"random\", \"tokenizer\": {}}}",
                                      &cfg),
                          PF_OK);
    CU_ASSERT(cfg.n_layer == 1 && cfg.n_head == 2 && cfg.d_model == 8 && cfg.value_head == 1);
}

/* Each kind of mistake is refused with the dotted key in the message. */
static void test_errors(void)
{
    expect_model_error("{\"model\": {\"vocab_size\": 9, \"n_heads\": 2}}",
                       "model.n_heads: unknown key");
    expect_model_error("{\"model\": {\"vocab_size\": 9, \"n_head\": 0}}",
                       "model.n_head: must be an integer in [1, 256]");
    expect_model_error("{\"model\": {\"vocab_size\": 9, \"n_head\": 2.5}}", "model.n_head");
    expect_model_error("{\"model\": {\"vocab_size\": 9, \"n_layer\": \"4\"}}", "model.n_layer");
    expect_model_error("{\"model\": {\"vocab_size\": 9, \"n_layer\": null}}", "model.n_layer");
    expect_model_error("{\"model\": {\"vocab_size\": 9, \"n_head\": 3}}", "model.n_head");
    expect_model_error("{\"model\": {\"vocab_size\": 9, \"value_head\": 1}}", "model.value_head");
    expect_model_error("{\"model\": {\"vocab_size\": 9, \"arch\": \"llama\"}}", "model.arch");
    expect_model_error("{\"model\": {\"n_head\": 2}}", "model.vocab_size: required");
    expect_model_error("{\"model\": {\"tokenizer\": {}}}", "model.vocab_size: required");
    expect_model_error("{\"model\": {\"vocab_size\": 9, \"vocab_size\": 10}}",
                       "model.vocab_size: duplicate key");
    expect_model_error("{\"model\": [1]}", "model: must be an object");
}

/* Known sections pass the top-level check; anything else is named; seeds default. */
static void test_top_level_and_seed(void)
{
    uint64_t seed = 0;
    cJSON *ok = cJSON_Parse("{\"algorithm\": \"dpo\", \"run_dir\": \"r\", \"data\": {}, "
                            "\"train\": {}, \"optim\": {}, \"dpo\": {}, \"sft\": {}, "
                            "\"rm\": {}, \"ppo\": {}, \"grpo\": {}, \"reward\": {}}");
    cJSON *bad = cJSON_Parse("{\"model\": {}, \"modle\": {}, \"seed\": -1}");
    CU_ASSERT_EQUAL(pf_config_check_top_level(ok, "c.json"), PF_OK);
    CU_ASSERT_EQUAL(pf_config_seed(ok, "c.json", &seed), PF_OK);
    CU_ASSERT_EQUAL(seed, 1234);
    CU_ASSERT_EQUAL(pf_config_check_top_level(bad, "c.json"), PF_ERR_USAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(pf_error_message(), "c.json: modle: unknown key"));
    CU_ASSERT_EQUAL(pf_config_seed(bad, "c.json", &seed), PF_ERR_USAGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(pf_error_message(), "seed"));
    cJSON_Delete(ok);
    cJSON_Delete(bad);
}

/* The resolved JSON parses back to the same config. */
static void test_to_json_round_trip(void)
{
    pf_model_config cfg, back;
    CU_ASSERT_EQUAL_FATAL(parse_model("{\"model\": {\"vocab_size\": 77, \"n_layer\": 3}}", &cfg),
                          PF_OK);
    cJSON *model = pf_config_model_to_json(&cfg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(model);
    CU_ASSERT_EQUAL(pf_config_model_parse(model, "r.json", &back), PF_OK);
    CU_ASSERT_EQUAL(memcmp(&cfg, &back, sizeof cfg), 0);
    cJSON_Delete(model);
}

int main(void)
{
    static const pf_test_case cases[] = {
        {"defaults", test_defaults},
        {"errors", test_errors},
        {"top_level_and_seed", test_top_level_and_seed},
        {"to_json_round_trip", test_to_json_round_trip},
        {NULL, NULL},
    };
    return pf_cunit_run("config_model", cases);
}
