#!/usr/bin/env bash
# Whole-process benchmark of `meshgen`: wall time and peak RSS of real builds of synthetic
# inventories of 1,000 and 10,000 services (and 100,000 with --full), as a markdown table,
# with the cost ratio between sizes and the targets of issue 6 checked.
#
#   scripts/bench.sh                 # 1k and 10k, median of 3 runs per mode
#   scripts/bench.sh --full          # adds 100k
#   scripts/bench.sh --sizes "1000 5000" --runs 5 --dir /tmp/mb
#   scripts/bench.sh --strict        # exit 1 when a target of issue 6 is missed
#   scripts/bench.sh --layouts namespace   # skip the slow per-object and per-service layouts
#   scripts/bench.sh --kustomize "100 300"  # also time `kubectl kustomize` on the same output
#
# Modes, per size: `build --stdout >/dev/null`; `check`; for each layout a first build into
# an empty directory and a rebuild with nothing changed (which must write no file); and
# `diff --against` between that build and the inventory with 1% of its services changed
# (every hundredth service gets another service account: its WorkloadEntries, WorkloadGroup
# and the allow-lists that name it change). With --kustomize, `kubectl kustomize` of the
# per-object output of those (smaller) sizes, for comparison. Then linearity, in rounds: each
# round runs `build --stdout` once per size, back to back, and the target is checked on the
# median of the rounds' ratios (see below).
# Inventories come from `examples/gen_inventory.rs` (seeded, so every run measures the same
# bytes). Timing uses GNU time when present, else a python3 wrapper (getrusage of the child);
# neither needs installing anything.
#
# Profiling the same builds (symbols of the release profile, full debug info):
#   cargo build --profile profiling --bin meshgen
#   perf record -g -o /tmp/perf.data target/profiling/meshgen build -C DIR/inv-10000 --stdout >/dev/null
#   perf report -i /tmp/perf.data --no-children
set -euo pipefail

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
}

sizes="1000 10000"
full=0
strict=0
runs=3
seed=1
layouts="namespace service object"
kustomize_sizes=""
work="${TMPDIR:-/tmp}/meshgen-bench"
while (($#)); do
    case "$1" in
        --full) full=1 ;;
        --strict) strict=1 ;;
        --sizes) sizes="$2"; shift ;;
        --runs) runs="$2"; shift ;;
        --layouts) layouts="$2"; shift ;;
        --kustomize) kustomize_sizes="$2"; shift ;;
        --seed) seed="$2"; shift ;;
        --dir) work="$2"; shift ;;
        -h | --help) usage; exit 0 ;;
        *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done
((full)) && sizes="$sizes 100000"
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || { echo "--runs needs a positive number" >&2; exit 2; }

cd "$(dirname "$0")/.."
echo "building release binaries..." >&2
cargo build --release --quiet --bin meshgen --example gen_inventory
bin="$PWD/target/release/meshgen"
gen="$PWD/target/release/examples/gen_inventory"
mkdir -p "$work"
# Other work on the machine skews wall times; say how busy it was.
load_start=$(cut -d' ' -f1 /proc/loadavg)
results="$work/results.tsv"
: >"$results"

# measure OUT CMD...: runs CMD and writes "wall_seconds max_rss_kb cpu_seconds" to OUT (cpu:
# user plus system time, which other tenants of a shared machine disturb less than the wall
# clock). The command's own stdout and stderr are the caller's redirections.
if [[ -x /usr/bin/time ]] && /usr/bin/time -f "%e" true 2>/dev/null >/dev/null; then
    timer="GNU time"
    measure() {
        local out="$1"
        shift
        local rc=0 last start end
        # The wall clock from bash, to the millisecond: GNU time's %e has hundredths, too
        # coarse for the ratio of two runs of 0.04 and 0.4 s.
        start=$EPOCHREALTIME
        /usr/bin/time -f "%M %U %S" -o "$out" -- "$@" || rc=$?
        end=$EPOCHREALTIME
        # A failing command makes GNU time add a line before the numbers; keep the numbers.
        last=$(tail -1 "$out")
        awk -v s="$start" -v e="$end" '{printf "%.3f %s %.2f %.2f\n", e - s, $1, $2 + $3, $2}' <<<"$last" >"$out"
        return "$rc"
    }
else
    timer="python3 getrusage"
    measure() {
        python3 - "$@" <<'EOF'
import resource, subprocess, sys, time
out, cmd = sys.argv[1], sys.argv[2:]
start = time.perf_counter()
rc = subprocess.call(cmd)
wall = time.perf_counter() - start
# ru_maxrss of waited-for children is in KB on Linux; this process has one child.
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
rss, cpu = usage.ru_maxrss, usage.ru_utime + usage.ru_stime
with open(out, "w") as f:
    f.write(f"{wall:.3f} {rss} {cpu:.2f} {usage.ru_utime:.2f}\n")
sys.exit(rc)
EOF
    }
fi

# median of the numbers on stdin
median() {
    sort -g | awk '{v[NR] = $1} END {if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}

# run N MODE PREPARE CMD...: PREPARE (a shell snippet, untimed) runs before each of the $runs
# timed runs of CMD; the medians go to the results file.
run() {
    local n="$1" mode="$2" prepare="$3"
    shift 3
    local walls=() rsss=() cpus=() i m rss cpu
    for ((i = 0; i < runs; i++)); do
        eval "$prepare"
        # Start from a quiet disk: otherwise the write-back of the previous run's files (77,000
        # of them after a per-object build) lands in this run's time.
        sync
        if ! measure "$work/time" "$@" >"$work/stdout" 2>"$work/stderr"; then
            echo "failed: $* (N=$n, $mode)" >&2
            cat "$work/stderr" >&2
            exit 1
        fi
        read -r m rss cpu _ <"$work/time"
        walls+=("$m")
        rsss+=("$rss")
        cpus+=("$cpu")
    done
    local wall_med rss_med cpu_med
    wall_med=$(printf '%s\n' "${walls[@]}" | median)
    rss_med=$(printf '%s\n' "${rsss[@]}" | median)
    cpu_med=$(printf '%s\n' "${cpus[@]}" | median)
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$n" "$mode" "$wall_med" "$rss_med" "${walls[*]}" "$cpu_med" >>"$results"
    printf '  %-28s %7.2f s %8.1f MB %7.2f s cpu   (runs: %s)\n' "$mode" "$wall_med" "$(awk -v k="$rss_med" 'BEGIN {print k / 1024}')" "$cpu_med" "${walls[*]}" >&2
}

declare -A manifests entities
for n in $sizes; do
    proj="$work/inv-$n"
    rm -rf "$proj"
    echo "N=$n: generating..." >&2
    "$gen" --services "$n" --seed "$seed" --out "$proj" 2>"$work/gen.log"
    sed 's/^/  /' "$work/gen.log" >&2
    entities[$n]=$(sed -n 's/^wrote \([0-9]*\) services.* and \([0-9]*\) external APIs.*/\1+\2/p' "$work/gen.log")
    manifests[$n]=$("$bin" build -C "$proj" --stdout | grep -c '^kind: ')
    # The same inventory with 1% of the services changed, for the diff modes.
    rm -rf "$proj-changed"
    cp -r "$proj" "$proj-changed"
    python3 - "$proj-changed/inventory" <<'PY'
import pathlib, sys
k = 0
for f in sorted(pathlib.Path(sys.argv[1]).rglob("*.yaml")):
    lines = f.read_text().split("\n")
    for i, line in enumerate(lines):
        if line.startswith("    serviceAccount: "):
            k += 1
            if k % 100 == 0:
                lines[i] = line + "-v2"
    f.write_text("\n".join(lines))
PY

    run "$n" "build --stdout" ":" "$bin" build -C "$proj" --stdout
    run "$n" "check" ":" "$bin" check -C "$proj"
    for layout in $layouts; do
        out="$work/out-$n-$layout"
        run "$n" "build $layout (fresh)" "rm -rf '$out'" "$bin" build -C "$proj" --layout "$layout" --out-dir "$out"
        run "$n" "rebuild $layout (unchanged)" ":" "$bin" build -C "$proj" --layout "$layout" --out-dir "$out"
        # A rebuild with nothing changed must write no file.
        if ! grep -q ': 0 written, 0 removed' "$work/stderr"; then
            echo "rebuild $layout (N=$n) wrote files:" >&2
            cat "$work/stderr" >&2
            exit 1
        fi
        if [[ "$layout" != service ]]; then
            run "$n" "diff $layout (1% changed)" ":" sh -c '"$0" diff -C "$1" --against "$2" >/dev/null; test $? -eq 1' "$bin" "$proj-changed" "$out"
        fi
        rm -rf "$out"
    done
    rm -rf "$proj-changed"
done

# Linearity, in rounds: each round builds every size once, back to back, and the ratio of
# each round is taken between runs minutes apart at most. The machine's speed drifts (a
# shared VM: up to 2x within the hour), and medians of runs made far apart can fall in a
# fast minute for one size and a slow one for the other; the median of the rounds' ratios
# is what the linearity target is checked against.
rounds="$work/rounds.tsv"
: >"$rounds"
# shellcheck disable=SC2086 # the sizes are words on purpose
set -- $sizes
if (($# > 1)); then
    echo "linearity: $runs rounds of build --stdout, one run of each size per round" >&2
    for ((r = 0; r < runs; r++)); do
        for n in $sizes; do
            sync
            if ! measure "$work/time" "$bin" build -C "$work/inv-$n" --stdout >/dev/null 2>"$work/stderr"; then
                echo "failed: build --stdout (N=$n, linearity round $r)" >&2
                cat "$work/stderr" >&2
                exit 1
            fi
            read -r m rss cpu user <"$work/time"
            printf '%s\t%s\t%s\t%s\t%s\n' "$r" "$n" "$m" "$cpu" "$user" >>"$rounds"
        done
    done
fi

# `kubectl kustomize` on meshgen's per-object output (with its kustomization.yaml), against
# meshgen building the same estate from its inventory.
for n in $kustomize_sizes; do
    command -v kubectl >/dev/null || { echo "kubectl not found: skipping --kustomize" >&2; break; }
    proj="$work/inv-$n"
    out="$work/out-$n-kustomize"
    "$gen" --services "$n" --seed "$seed" --out "$proj" 2>"$work/gen.log"
    entities[$n]=$(sed -n 's/^wrote \([0-9]*\) services.* and \([0-9]*\) external APIs.*/\1+\2/p' "$work/gen.log")
    manifests[$n]=$("$bin" build -C "$proj" --stdout | grep -c '^kind: ')
    rm -rf "$out"
    "$bin" build -C "$proj" --layout object --out-dir "$out" -q
    echo "N=$n (kustomize comparison):" >&2
    run "$n" "build --stdout" ":" "$bin" build -C "$proj" --stdout
    run "$n" "kubectl kustomize" ":" kubectl kustomize "$out"
    rm -rf "$out"
done

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
echo
echo "meshgen $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(nproc) cores ($cpu), $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), timer: $timer, median of $runs runs, load average $load_start at start and $(cut -d' ' -f1 /proc/loadavg) at end"
echo
echo "| services | entities | manifests | mode | wall s | cpu s | peak RSS MB |"
echo "|---:|---:|---:|---|---:|---:|---:|"
while IFS=$'\t' read -r n mode wall rss _ cpu; do
    printf '| %s | %s | %s | %s | %.2f | %.2f | %.0f |\n' "$n" "${entities[$n]}" "${manifests[$n]}" "$mode" "$wall" "$cpu" "$(awk -v k="$rss" 'BEGIN {print k / 1024}')"
done <"$results"

# Ratio of each mode's time between consecutive sizes, from the medians above (runs made
# minutes apart; the linearity target is checked on the rounds instead).
# shellcheck disable=SC2086 # the sizes are words on purpose
set -- $sizes
if (($# > 1)); then
    echo
    header="| mode |"
    rule="|---|"
    prev="$1"
    for n in "${@:2}"; do
        header+=" ${n}/${prev} |"
        rule+="---:|"
        prev="$n"
    done
    echo "$header"
    echo "$rule"
    awk -F'\t' -v sizes="$sizes" '
        BEGIN { k = split(sizes, s, " ") }
        { wall[$1, $2] = $3; cpu[$1, $2] = $6; if (!($2 in seen)) { seen[$2] = 1; order[++m] = $2 } }
        END {
            for (i = 1; i <= m; i++) {
                line = "| " order[i] " |"
                for (j = 2; j <= k; j++) {
                    a = wall[s[j - 1], order[i]]; b = wall[s[j], order[i]]
                    ca = cpu[s[j - 1], order[i]]; cb = cpu[s[j], order[i]]
                    line = line sprintf(" %s |", a > 0 ? sprintf("%.1fx (cpu %s, input %.0fx)", b / a, ca > 0 ? sprintf("%.1fx", cb / ca) : "n/a", s[j] / s[j - 1]) : "n/a")
                }
                print line
            }
        }' "$results"
fi

# The targets of issue 6, where this run measured them.
echo
awk -F'\t' '
    function check(what, ok) { printf "- [%s] %s\n", ok ? "x" : " ", what; fails += !ok }
    # time(n, mode) <= limit s and, when mb > 0, peak RSS <= mb; modes not run are skipped.
    function target(n, mode, limit, mb, label,   ok, text) {
        if (!((n, mode) in wall)) return
        ok = wall[n, mode] <= limit && (mb == 0 || rss[n, mode] <= mb)
        text = sprintf("%s: %s <= %.1f s%s (%.2f s, %.0f MB)", label, mode, limit, mb ? sprintf(" and <= %d MB", mb) : "", wall[n, mode], rss[n, mode])
        check(text, ok)
    }
    # The median of v[1..n], sorting v in place.
    function med(v, n,   i, j, t) {
        for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j - 1] > v[j]; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
        return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
    }
    # Linear: the median over the rounds of time(big) / time(small), both timed in one round.
    # The ratio of user CPU is shown beside it: the kernel time around it (zeroing fresh
    # pages) is what varies from run to run on a VM.
    function linear(small, big,   r, n, v, u, nu, m, list, i) {
        n = 0; nu = 0
        for (r = 0; r < rounds; r++) {
            if (((r, small) in lw) && ((r, big) in lw) && lw[r, small] > 0) v[++n] = lw[r, big] / lw[r, small]
            if (((r, small) in lu) && ((r, big) in lu) && lu[r, small] > 0) u[++nu] = lu[r, big] / lu[r, small]
        }
        if (n == 0) return
        m = med(v, n)
        list = ""
        for (i = 1; i <= n; i++) list = list sprintf("%s%.1fx", i > 1 ? ", " : "", v[i])
        check(sprintf("linear: build --stdout %d/%d <= 11x (median of %d rounds %.1fx; rounds %s; user CPU %s)", big, small, n, m, list, nu ? sprintf("%.1fx", med(u, nu)) : "n/a"), m <= 11)
    }
    FILENAME == ARGV[1] { wall[$1, $2] = $3; rss[$1, $2] = $4 / 1024 }
    FILENAME == ARGV[2] { lw[$1, $2] = $3; if ($5 != "") lu[$1, $2] = $5; if ($1 + 1 > rounds) rounds = $1 + 1 }
    END {
        target(10000, "build --stdout", 1.0, 300, "10k")
        target(10000, "build namespace (fresh)", 1.0, 300, "10k")
        target(10000, "rebuild namespace (unchanged)", 1.0, 0, "10k")
        target(10000, "rebuild service (unchanged)", 1.0, 0, "10k")
        target(10000, "rebuild object (unchanged)", 1.0, 0, "10k")
        target(10000, "check", 0.5, 0, "10k")
        target(10000, "diff namespace (1% changed)", 1.0, 0, "10k")
        target(10000, "diff object (1% changed)", 1.0, 0, "10k")
        target(100000, "build --stdout", 12, 3072, "100k")
        target(100000, "build namespace (fresh)", 12, 3072, "100k")
        linear(1000, 10000)
        linear(10000, 100000)
        exit fails > 0
    }' "$results" "$rounds" || missed=1
echo
echo "raw results: $results" >&2
if ((strict && ${missed:-0})); then
    exit 1
fi
