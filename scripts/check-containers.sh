#!/usr/bin/env bash
# check-containers.sh: static checks of the container recipes, run by
# scripts/check-static.sh (no container engine runs on the CI machines, and hadolint is
# not packaged in Debian 12, so these are our own rules):
#   1. docker/Dockerfile and docker/prefopt-mpi.def install exactly the packages of
#      scripts/install-deps.sh: its PACKAGES list plus every group it adds outside the
#      optional PREFOPT_WITH_* blocks (nodejs npm), between "# packages: begin/end";
#   2. both build the same way: scripts/install-deps.sh, the same cmake and ctest lines;
#   3. Dockerfile rules after hadolint's: a pinned debian:bookworm base (DL3006/DL3007),
#      apt-get update + install -y --no-install-recommends + list cleanup in one RUN
#      (DL3009, DL3015), no upgrade (DL3005), no ADD (DL3020), no sudo (DL3004), no cd in
#      RUN (DL3003), absolute WORKDIR (DL3000), pipefail before a pipe (DL4006), JSON
#      ENTRYPOINT (DL3025) running prefopt-mpi; a .dockerignore keeping build trees out;
#   4. Apptainer rules: "Bootstrap: docker" and "From: debian:bookworm" first, %files
#      copying every top-level source entry git tracks, %post, %runscript exec'ing
#      prefopt-mpi.
# Prints one line per problem and exits 1 when there is any.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
DOCKERFILE=${1:-docker/Dockerfile}
DEF=${2:-docker/prefopt-mpi.def}
DEPS=${3:-scripts/install-deps.sh}
bad=0
problem() {
    echo "check-containers: $*" >&2
    bad=1
}
for f in "$DOCKERFILE" "$DEF" "$DEPS"; do
    [ -f "$f" ] || {
        echo "check-containers: $f: missing" >&2
        exit 1
    }
done

# ---------------------------------------------------------------- 1. package lists
# install-deps.sh: the PACKAGES=( ... ) block and each PACKAGES+=( ... ) outside an
# `if [ "${PREFOPT_WITH_...` block.
deps_list() {
    awk '
        /^PACKAGES=\(/ { inlist = 1; sub(/^PACKAGES=\(/, ""); }
        inlist { line = $0; if (sub(/\).*/, "", line)) inlist = 0; sub(/#.*/, "", line); print line; next }
        /^if .*PREFOPT_WITH_/ { optional = 1 }
        /^fi/ { optional = 0 }
        /PACKAGES\+=\(/ && !optional { line = $0; sub(/.*PACKAGES\+=\(/, "", line); sub(/\).*/, "", line); print line }
    ' "$DEPS" | tr -s '[:blank:]' '\n' | grep -v '^$' | sort -u
}
# a recipe: the words of `apt-get install` between "# packages: begin" and "# packages: end"
recipe_list() {
    sed -n '/# packages: begin/,/# packages: end/p' "$1" | sed 's/\\$//' | tr '\n' ' ' |
        sed -n 's/.*apt-get install \(.*\)/\1/p' | sed 's/&&.*//; s/rm -rf.*//' |
        tr -s '[:blank:]' '\n' | grep -v -e '^-' -e '^$' | sort -u
}
want=$(deps_list)
[ -n "$want" ] || problem "$DEPS: no PACKAGES list found"
for f in "$DOCKERFILE" "$DEF"; do
    got=$(recipe_list "$f")
    if [ -z "$got" ]; then
        problem "$f: no apt-get install between '# packages: begin' and '# packages: end'"
        continue
    fi
    missing=$(comm -23 <(echo "$want") <(echo "$got") | tr '\n' ' ')
    extra=$(comm -13 <(echo "$want") <(echo "$got") | tr '\n' ' ')
    [ -z "$missing" ] || problem "$f: lacks packages that $DEPS installs: $missing"
    [ -z "$extra" ] || problem "$f: installs packages that $DEPS does not: $extra"
done

# ---------------------------------------------------------------- 2. same build
build_lines() {
    grep -oE '(scripts/install-deps.sh|cmake -S [^&]*|cmake --build [^&]*|ctest [^&]*|install -m [^&]*)' "$1" |
        sed 's/[[:space:]]*\\\{0,1\}[[:space:]]*$//'
}
if ! diff <(build_lines "$DOCKERFILE") <(build_lines "$DEF") >/dev/null; then
    problem "$DOCKERFILE and $DEF build differently:"
    diff <(build_lines "$DOCKERFILE") <(build_lines "$DEF") | sed 's/^/    /' >&2
fi
for f in "$DOCKERFILE" "$DEF"; do
    build_lines "$f" | grep -q 'DPREFOPT_NATIVE=OFF' ||
        problem "$f: build with -DPREFOPT_NATIVE=OFF (an image runs on other CPUs than it was built on)"
    build_lines "$f" | grep -q '^ctest ' || problem "$f: does not run the tests (ctest)"
    build_lines "$f" | grep -qx 'scripts/install-deps.sh' || problem "$f: does not run scripts/install-deps.sh"
done

# ---------------------------------------------------------------- 3. Dockerfile rules
df=$(sed 's/\r$//' "$DOCKERFILE")
# logical instructions: continuation lines joined, comments dropped
instr=$(echo "$df" | grep -v '^[[:space:]]*#' | sed ':a;/\\$/{N;s/\\\n/ /;ba}')
from=$(echo "$instr" | grep -E '^FROM ' | head -n 1 | awk '{print $2}')
[ "$from" = "debian:bookworm" ] || problem "$DOCKERFILE: base image '$from', want debian:bookworm (DL3006/DL3007)"
n=0
seen_pipefail=0
while IFS= read -r line; do
    n=$((n + 1))
    case "$line" in
        SHELL*pipefail*) seen_pipefail=1 ;;
        ADD\ *) problem "$DOCKERFILE: instruction $n: use COPY, not ADD (DL3020)" ;;
        WORKDIR\ *)
            case "${line#WORKDIR }" in /*) ;; *) problem "$DOCKERFILE: instruction $n: WORKDIR must be absolute (DL3000)" ;; esac
            ;;
        ENTRYPOINT\ * | CMD\ *)
            case "$line" in *' ['*']') ;; *) problem "$DOCKERFILE: instruction $n: use the JSON form (DL3025)" ;; esac
            ;;
        RUN\ *)
            run=${line#RUN }
            case "$run" in *apt-get\ upgrade* | *dist-upgrade*) problem "$DOCKERFILE: instruction $n: no apt-get upgrade (DL3005)" ;; esac
            case "$run" in *sudo\ *) problem "$DOCKERFILE: instruction $n: no sudo (DL3004)" ;; esac
            if grep -qE '(^|[;&|] *)cd ' <<<"$run"; then problem "$DOCKERFILE: instruction $n: use WORKDIR, not cd (DL3003)"; fi
            if grep -qE '[^|]\|[^|]' <<<"$run" && [ "$seen_pipefail" = 0 ]; then
                problem "$DOCKERFILE: instruction $n: a pipe without SHELL [\"/bin/bash\", \"-o\", \"pipefail\", \"-c\"] (DL4006)"
            fi
            if grep -q 'apt-get install' <<<"$run"; then
                grep -q 'apt-get update' <<<"$run" || problem "$DOCKERFILE: instruction $n: apt-get update and install in one RUN"
                grep -qE 'apt-get install (.* )?-y' <<<"$run" || problem "$DOCKERFILE: instruction $n: apt-get install without -y"
                grep -q -- '--no-install-recommends' <<<"$run" || problem "$DOCKERFILE: instruction $n: apt-get install without --no-install-recommends (DL3015)"
                grep -q 'rm -rf /var/lib/apt/lists/\*' <<<"$run" || problem "$DOCKERFILE: instruction $n: remove /var/lib/apt/lists/* after installing (DL3009)"
            fi
            ;;
    esac
done <<<"$instr"
echo "$instr" | tail -n 1 | grep -qx 'ENTRYPOINT \["prefopt-mpi"\]' ||
    problem "$DOCKERFILE: want ENTRYPOINT [\"prefopt-mpi\"] as the last instruction"
if echo "$instr" | grep -qE '^COPY \. '; then
    if [ ! -f .dockerignore ]; then
        problem ".dockerignore: missing (COPY . would send build trees and runs into the image)"
    else
        for p in build 'build-\*' runs .git; do
            grep -qx "$p" .dockerignore || problem ".dockerignore: does not exclude ${p//\\/}"
        done
    fi
fi

# ---------------------------------------------------------------- 4. Apptainer rules
head2=$(grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' "$DEF" | head -n 2 | tr '\n' '|')
[ "$head2" = "Bootstrap: docker|From: debian:bookworm|" ] ||
    problem "$DEF: must start with 'Bootstrap: docker' and 'From: debian:bookworm' (got '$head2')"
for s in '%files' '%post' '%runscript'; do
    grep -qE "^$s( |$)" "$DEF" || problem "$DEF: no $s section"
done
sed -n '/^%runscript/,/^%/p' "$DEF" | grep -qE '^[[:space:]]+exec prefopt-mpi "\$@"' ||
    problem "$DEF: %runscript must exec prefopt-mpi \"\$@\""
files=$(sed -n '/^%files/,/^%/p' "$DEF" | awk 'NF == 2 {print $1}' | sort -u)
if command -v git >/dev/null 2>&1 && git rev-parse --git-dir >/dev/null 2>&1; then
    for top in $(git ls-files | cut -d/ -f1 | sort -u); do
        case "$top" in .* | docker) continue ;; esac
        grep -qx "$top" <<<"$files" || problem "$DEF: %files does not copy $top (git tracks it)"
    done
fi

if [ "$bad" = 0 ]; then
    echo "check-containers: $DOCKERFILE and $DEF match $DEPS ($(echo "$want" | wc -l) packages) and pass the recipe rules"
fi
exit "$bad"
