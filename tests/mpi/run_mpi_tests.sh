#!/usr/bin/env bash
# Runs an MPI test program under mpirun for several rank counts (oversubscribed past the
# core count) and checks that every run passes and that all runs print the same digest
# line, i.e. the result does not depend on the number of ranks.
# usage: run_mpi_tests.sh PROGRAM RANKS...
set -u
prog=$1; shift
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
name=$(basename "$prog")
pass=0 fail=0 first_digest=""
for n in "$@"; do
  out=$(timeout 300 mpirun --oversubscribe -n "$n" "$prog" 2>&1)
  rc=$?
  digest=$(printf '%s\n' "$out" | grep '^digest ' | head -n 1)
  if [ $rc -ne 0 ]; then
    echo "$name -n $n: exit $rc"; printf '%s\n' "$out" | tail -n 20; fail=$((fail + 1))
  else
    echo "$name -n $n: $(printf '%s\n' "$out" | grep -E 'passed, [0-9]+ failed' | tail -n 1) $digest"
    pass=$((pass + 1))
  fi
  if [ -z "$first_digest" ]; then first_digest=$digest
  elif [ "$digest" != "$first_digest" ]; then
    echo "$name -n $n: digest differs from the first run ($digest vs $first_digest)"; fail=$((fail + 1))
  fi
done
echo "$name: $pass passed, $fail failed"
[ $fail -eq 0 ]
