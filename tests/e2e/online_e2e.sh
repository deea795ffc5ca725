#!/usr/bin/env bash
# online_e2e.sh: end-to-end checks of `prefopt-mpi train` with algorithm ppo and grpo on
# tiny configs (a random 1-layer model, grader rewards):
#   - world-size invariance: params_sha256 equal for mpirun -n 1, 2 and 4
#   - resume invariance: stop after step 2 on 2 ranks, --resume on 4 ranks == straight run
#     (with the adaptive KL controller on, so its state must survive the checkpoint)
#   - self-checks read from metrics.h5: the first mini-batch of every update has ratio
#     exactly 1 and approx-KL exactly 0; objective/kl is exactly 0 at step 1 (policy =
#     reference); TRL metric names present; eval rows
#   - checkpoints: /critic and /train kl_coef (ppo); the policy loads in generate
#   - every grpo loss_type and scale_rewards runs; deterministic: false runs
#   - config errors: world size, missing reward, unknown grader, num_generations,
#     prompt + response beyond max_seq_len, a critic_init without a value head.
# Environment from prefopt_script_test: PREFOPT_BIN, PREFOPT_SRC, PREFOPT_PYTHON.
set -u
BIN=${PREFOPT_BIN:?}
SRC=${PREFOPT_SRC:?}
PY=${PREFOPT_PYTHON:-/usr/bin/python3}
HERE=$(cd "$(dirname "$0")" && pwd)
W=$(mktemp -d "${TMPDIR:-/tmp}/online_e2e.XXXXXX")
trap 'rm -rf "$W"' EXIT
. "$HERE/lib.sh"
cd "$SRC" || exit 1
MPI="mpirun --oversubscribe -q"

# train ALGO N RUN_DIR [ARGS...]: trains tests/data/train/ALGO_tiny.json on N ranks.
train() { train_config "tests/data/train/${1}_tiny.json" "${@:2}"; }

# invariance ALGO: the same parameters on 1, 2 and 4 ranks, and across a resume.
invariance() {
    local algo=$1 ref got
    train "$algo" 1 "$W/$algo-n1" --set ppo.adaptive_kl=true --set ppo.kl_target=0.05
    [ $rc -eq 0 ] && pass "$algo: train on 1 rank" || fail "$algo: train on 1 rank (exit $rc)"
    ref=$(sha "$W/$algo-n1")
    for n in 2 4; do
        train "$algo" $n "$W/$algo-n$n" --set ppo.adaptive_kl=true --set ppo.kl_target=0.05
        got=$(sha "$W/$algo-n$n")
        if [ $rc -eq 0 ] && [ -n "$ref" ] && [ "$got" = "$ref" ]; then
            pass "$algo: params bit-identical on $n ranks"
        else fail "$algo: params bit-identical on $n ranks (exit $rc, $got vs $ref)"; fi
    done
    train "$algo" 2 "$W/$algo-r" --set ppo.adaptive_kl=true --set ppo.kl_target=0.05 \
        --set train.stop_after=2
    train "$algo" 4 "$W/$algo-r" --set ppo.adaptive_kl=true --set ppo.kl_target=0.05 --resume
    got=$(sha "$W/$algo-r")
    if [ $rc -eq 0 ] && [ "$got" = "$ref" ]; then
        pass "$algo: stop at step 2 on 2 ranks + resume on 4 ranks == straight run"
    else fail "$algo: resume (exit $rc, $got vs $ref)"; fi
}
invariance ppo
invariance grpo

# ---------------------------------------------------------------- self-checks, metrics
"$PY" - "$W/ppo-n2" ppo <<'PYEOF' && pass "ppo: ratio 1 and approxkl 0 on first mini-batches, kl 0 at step 1, TRL names, /critic" || fail "ppo metrics / checkpoint"
import sys, h5py, math, glob
run, algo = sys.argv[1], sys.argv[2]
with h5py.File(run + "/metrics.h5", "r") as f:
    m = f["metrics"]
    assert list(m["step"][:]) == [0, 1, 2, 3, 4], list(m["step"][:])  # 0: baseline eval
    def col(name):
        g = m
        for part in name.split("/"):
            g = g[part]
        return g[:]
    for name in ["objective/kl", "objective/entropy", "objective/non_score_reward",
                 "objective/rlhf_reward", "objective/scores", "policy/approxkl_avg",
                 "policy/clipfrac_avg", "loss/policy_avg", "loss/value_avg", "val/clipfrac_avg",
                 "val/ratio", "val/num_eos_tokens", "rollout_tokens_per_s", "kl_coef",
                 "eval/objective/scores", "eval/objective/kl"]:
        col(name)
    tr = slice(1, None)  # training rows
    assert all(v == 0.0 for v in col("policy/first_ratio_dev")[tr]), col("policy/first_ratio_dev")
    assert all(v == 0.0 for v in col("policy/first_approxkl")[tr]), col("policy/first_approxkl")
    assert col("objective/kl")[1] == 0.0, col("objective/kl")
    assert col("objective/non_score_reward")[1] == 0.0
    kc = col("kl_coef")[tr]
    assert kc[0] == 0.05 and len(set(kc)) > 1, kc  # adaptive controller moved it
    ev = col("eval/objective/scores")
    assert not math.isnan(ev[0]) and math.isnan(ev[1]) and not math.isnan(ev[2]), ev
    assert col("eval/objective/kl")[0] == 0.0  # the initial policy is the reference
    assert all(0 < v <= 12 for v in col("completions/mean_length")[tr])
ck = sorted(glob.glob(run + "/checkpoints/step-*.h5"))[-1]
with h5py.File(ck, "r") as f:
    assert "critic" in f and "v_head.weight" in f["critic/params"], list(f)
    assert "v_head.weight" not in f["model/params"]
    assert "kl_coef" in f["train"].attrs
PYEOF
"$PY" - "$W/grpo-n2" <<'PYEOF' && pass "grpo: ratio 1 on first mini-batches, kl 0 at step 1, TRL names, no critic" || fail "grpo metrics / checkpoint"
import sys, h5py, glob
run = sys.argv[1]
with h5py.File(run + "/metrics.h5", "r") as f:
    m = f["metrics"]
    for name in ["loss", "reward", "reward_std", "frac_reward_zero_std", "kl", "entropy",
                 "clip_ratio", "completions/mean_length", "objective/kl"]:
        g = m
        for part in name.split("/"):
            g = g[part]
    assert all(v == 0.0 for v in m["policy/first_ratio_dev"][1:])
    assert m["objective"]["kl"][1] == 0.0  # rollout-time k3 to the reference
ck = sorted(glob.glob(run + "/checkpoints/step-*.h5"))[-1]
with h5py.File(ck, "r") as f:
    assert "critic" not in f
PYEOF
run "$BIN" generate --checkpoint "$W/ppo-n1" --data tests/data/train/prompts_eval.jsonl --max-new-tokens 8
[ $rc -eq 0 ] && [ "$(wc -l <"$W/out")" -eq 12 ] && pass "generate loads the ppo policy" || fail "generate from a ppo run (exit $rc)"

# ---------------------------------------------------------------- variants
variant_failures=0
for lt in grpo dr_grpo dapo; do
    for sc in group batch none; do
        train grpo 2 "$W/lt-$lt-$sc" --set grpo.loss_type=$lt --set grpo.scale_rewards=$sc \
            --set train.steps=2 --set data.eval=
        [ $rc -eq 0 ] || { variant_failures=1; fail "grpo loss_type $lt scale_rewards $sc (exit $rc)"; }
    done
done
[ $variant_failures -eq 0 ] && pass "grpo: every loss_type x scale_rewards trains"
train ppo 2 "$W/k3" --set ppo.kl_estimator=k3 --set ppo.whiten_rewards=true --set train.steps=2 \
    --set ppo.num_mini_batches=2 --set train.deterministic=false
[ $rc -eq 0 ] && pass "ppo: k3, whitened rewards, 2 mini-batches, deterministic false" || fail "ppo variants (exit $rc)"

# ---------------------------------------------------------------- reward model rewards
# An RM trained here scores rollouts (weighted with the grader) and initialises the critic.
run timeout 300 "$BIN" train tests/data/train/rm_tiny.json --set run_dir="$W/rm"
[ $rc -eq 0 ] && pass "a tiny reward model trains" || fail "rm_tiny (exit $rc)"
RMSET=(--set reward.model="$W/rm" --set reward.model_weight=0.5 --set ppo.critic_init=reward_model
       --set train.steps=2)
train ppo 1 "$W/rm1" "${RMSET[@]}"
a=$(sha "$W/rm1")
train ppo 2 "$W/rm2" "${RMSET[@]}"
[ $rc -eq 0 ] && [ -n "$a" ] && [ "$(sha "$W/rm2")" = "$a" ] \
    && pass "ppo with an RM + grader reward and an RM critic: same params on 1 and 2 ranks" \
    || fail "ppo with RM reward (exit $rc)"
"$PY" - "$W/rm2" <<'PYEOF' && pass "score = 0.5 * rm + grader - eos penalty; critic starts as the RM" || fail "rm reward metrics"
import sys, h5py
with h5py.File(sys.argv[1] + "/metrics.h5", "r") as f:
    m = f["metrics"]
    s, r, g = m["objective/scores"][1:], m["objective/rm_score"][1:], m["objective/grader_score"][1:]
    eos = m["completions/eos_fraction"][1:]
    for a, b, c, e in zip(s, r, g, eos):  # missing_eos_penalty 0.5 for unfinished rollouts
        assert abs(a - (0.5 * b + c - 0.5 * (1 - e))) < 1e-9, (a, b, c, e)
    assert abs(r[0]) < 5, r  # normalised scale
    assert m["loss/value_avg"][1] > 0
PYEOF
expect_exit 2 "critic_init reward_model without reward.model exits 2" "$BIN" train \
    tests/data/train/ppo_tiny.json --set run_dir="$W/e7" --set ppo.critic_init=reward_model
expect_stderr "ppo.critic_init: reward_model needs reward.model" "... naming the key"
expect_exit 2 "a critic_init of another shape exits 2" "$BIN" train tests/data/train/ppo_tiny.json \
    --set run_dir="$W/e9" --set ppo.critic_init="$W/rm" --set model.n_layer=2
expect_stderr "another model shape than the policy \(n_layer 1, .* vs 2," "... naming the shapes"
expect_exit 2 "an adaptive KL horizon below 0.2 x global_batch exits 2" "$BIN" train \
    tests/data/train/ppo_tiny.json --set run_dir="$W/e10" --set ppo.adaptive_kl=true --set ppo.kl_horizon=1
expect_stderr "ppo.kl_horizon: 1 is below 0.2 x train.global_batch" "... naming ppo.kl_horizon"
expect_exit 2 "a reward.model without a value head exits 2" "$BIN" train \
    tests/data/train/ppo_tiny.json --set run_dir="$W/e8" --set reward.model="$W/ppo-n1"
expect_stderr "reward.model: .*no value head" "... naming reward.model"

# ---------------------------------------------------------------- config errors
expect_exit 2 "world size not dividing a mini-batch's micro-batches exits 2" \
    $MPI -n 3 "$BIN" train tests/data/train/ppo_tiny.json --set run_dir="$W/e1"
grep -q "3 ranks do not divide the 4 micro-batches" "$W/err" && pass "... and names both numbers" || fail "world-size message"
expect_exit 2 "no reward exits 2" "$BIN" train tests/data/train/ppo_tiny.json --set run_dir="$W/e2" \
    --set reward.graders=
expect_stderr "reward: set reward.model, reward.graders or both" "... naming the reward section"
expect_exit 2 "unknown grader exits 2" "$BIN" train tests/data/train/ppo_tiny.json --set run_dir="$W/e3" \
    --set reward.grader=nope
expect_stderr 'reward.grader: no grader named "nope"' "... naming reward.grader"
expect_exit 2 "num_generations not dividing global_batch exits 2" "$BIN" train \
    tests/data/train/grpo_tiny.json --set run_dir="$W/e4" --set grpo.num_generations=3
expect_stderr "grpo.num_generations: 3 does not divide train.global_batch 8" "... naming the key"
expect_exit 2 "prompt + response beyond max_seq_len exits 2" "$BIN" train \
    tests/data/train/ppo_tiny.json --set run_dir="$W/e5" --set ppo.response_length=100
expect_stderr "ppo.response_length: data.max_prompt_length 200 \+ 100 exceeds model.max_seq_len 256" "... naming the keys"
expect_exit 2 "critic_init without a value head exits 2" "$BIN" train tests/data/train/ppo_tiny.json \
    --set run_dir="$W/e6" --set ppo.critic_init="$W/ppo-n1"
expect_stderr "ppo.critic_init: .* has no value head" "... naming ppo.critic_init"

finish online_e2e
