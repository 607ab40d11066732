#!/usr/bin/env bash
# Whole-process benchmark of `meshgen`: wall time, CPU time and peak RSS of real builds of
# synthetic inventories of 1,000 and 10,000 services (and 100,000 with --full), as a markdown
# table, with the cost ratio between sizes, the floor of each stage, and the targets of
# issues 6 and 24 checked.
#
#   scripts/bench.sh                 # 1k and 10k, median of 3 runs per mode
#   scripts/bench.sh --full          # adds 100k
#   scripts/bench.sh --sizes "1000 5000" --runs 5 --dir /tmp/mb
#   scripts/bench.sh --strict        # exit 1 when a target of issue 6 is missed
#   scripts/bench.sh --layouts namespace   # skip the slow per-object and per-service layouts
#   scripts/bench.sh --kustomize "100 300"  # also time `kubectl kustomize` on the same output
#   scripts/bench.sh --cluster       # also `diff --cluster` against a local API server
#   scripts/bench.sh --busy          # every mode again beside a CPU-bound process
#   scripts/bench.sh --sizes 100 --runs 1 --cluster --busy   # a quick check of the script
#
# Modes, per size: `build --stdout >/dev/null`; `check`; for each layout a first build into
# an empty directory, a rebuild with nothing changed (which must write no file, and finds
# that from the inputs' fingerprint without compiling), and a rebuild after an edit that
# changes no object (a comment: it compiles and compares every file, writing none); and
# `diff --against` between that build and the inventory with 1% of its services changed
# (every hundredth service gets another service account: its WorkloadEntries, WorkloadGroup
# and the allow-lists that name it change). With --kustomize, `kubectl kustomize` of the
# per-object output of those (smaller) sizes, for comparison. Then linearity, in rounds: each
# round runs `build --stdout` once per size, back to back, and the target is checked on the
# median of the rounds' ratios (see below).
#
# With --cluster, per size: the API server of the test suite (tests/common/kube_api.rs, run
# as `examples/kube_api_server.rs`: HTTPS on 127.0.0.1, its own CA, a bearer token) serves
# that size's `build` output as a cluster that applied it, with every 100th object drifted
# (a label added by hand: an update) and every 250th missing (a create), and
# `diff --cluster` runs against it, plain and `--server-side`. Beside time and memory, the
# table of requests gives, from the server's own log, the lists (first pages), further
# pages, dry-run applies and all requests, and the count `--timings` printed ("cluster: N
# requests"); the lists must not grow with the estate. The local CPU of reading, normalising
# and comparing the live objects is estimated as the CPU of `diff --cluster` less that of
# `build --stdout` of the same estate (the same compile and rendering), per 10,000 objects.
#
# With --busy, each mode is timed a second time with one CPU-bound process beside it
# (`sh -c 'while :; do :; done'`, started before and killed after that mode's runs), and
# every table and target shows both.
#
# Floors, per size: `cat` of the `build --stdout` output into a file, writing the same
# bytes from memory (one file, and the namespace layout's files), and reading and parsing
# every inventory file with the YAML reader alone (`examples/yaml_throughput.rs --floor`):
# what no version of the stage can beat on this machine.
# Inventories come from `examples/gen_inventory.rs` (seeded, so every run measures the same
# bytes). Timing is a python3 wrapper (getrusage of the child, to the microsecond), which
# needs installing nothing.
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
cluster=0
busy=0
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
        --cluster) cluster=1 ;;
        --busy) busy=1 ;;
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
examples=(--example gen_inventory --example yaml_throughput)
((cluster)) && examples+=(--example kube_api_server)
cargo build --release --quiet --bin meshgen "${examples[@]}"
bin="$PWD/target/release/meshgen"
gen="$PWD/target/release/examples/gen_inventory"
yaml_floor="$PWD/target/release/examples/yaml_throughput"
api_server="$PWD/target/release/examples/kube_api_server"
mkdir -p "$work"
# Other work on the machine skews wall times; say how busy it was.
load_start=$(cut -d' ' -f1 /proc/loadavg)
results="$work/results.tsv"
floors="$work/floors.tsv"
requests="$work/requests.tsv"
: >"$results"
: >"$floors"
: >"$requests"

# The processes this script starts in the background, stopped by their ids when it ends.
busy_pid=""
api_pid=""
cleanup() {
    [[ -n "$busy_pid" ]] && kill "$busy_pid" 2>/dev/null
    [[ -n "$api_pid" ]] && kill "$api_pid" 2>/dev/null
    rm -rf "$work/trash"
    return 0
}
trap cleanup EXIT

# set_aside DIR: moves DIR, if there is one, into "$work/trash", which is emptied when the
# script ends. Trees are set aside, not removed, while anything is measured: on ext4
# without a journal (this VM's disk) the kernel, creating a file, steps over every inode
# freed in the last minute (six while their inode table is unwritten) before it takes a
# free one (`recently_deleted` in a profile), so a build right after `rm -rf` of its last
# output paid for that removal, and more at every run: 10,000 services in the service
# layout (10,000 files) took 0.47, 1.49, 2.79, 4.30 and 4.53 s in five runs (run AL-1,
# docs/performance.md). Emptying it between sizes would bring that back for the next size.
# The price is disk: every first build's tree stays until the end (with --full and the
# per-object layout, 770,000 files and about 3 GB a tree, twice the runs with --busy).
set_aside() {
    [[ -e "$1" ]] || return 0
    mkdir -p "$work/trash"
    mv "$1" "$(mktemp -d "$work/trash/XXXXXX")/"
}

# measure OUT CMD...: runs CMD and writes "wall_seconds max_rss_kb cpu_seconds user_seconds"
# to OUT (cpu: user plus system time, which other tenants of a shared machine disturb less
# than the wall clock). The command's own stdout and stderr are the caller's redirections.
# The child's rusage is read to the microsecond (GNU time, used before, printed CPU time in
# hundredths: a 1,000-service build of 0.02-0.03 s CPU made the 1k -> 10k CPU ratio anything
# from 11x to 25x).
timer="python3 getrusage"
measure() {
    python3 - "$@" <<'EOF'
import resource, subprocess, sys, time
out, cmd = sys.argv[1], sys.argv[2:]
# The children's times from before the command are subtracted: they survive `exec`, and a
# python3 started through a shim (pyenv's) inherits the times of the shim's own children.
before = resource.getrusage(resource.RUSAGE_CHILDREN)
start = time.perf_counter()
rc = subprocess.call(cmd)
wall = time.perf_counter() - start
# ru_maxrss of waited-for children is in KB on Linux: the largest, which is the command's
# (a shim's children are small scripts).
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
user = usage.ru_utime - before.ru_utime
cpu = user + usage.ru_stime - before.ru_stime
with open(out, "w") as f:
    f.write(f"{wall:.4f} {usage.ru_maxrss} {cpu:.4f} {user:.4f}\n")
sys.exit(rc)
EOF
}

# median of the numbers on stdin
median() {
    sort -g | awk '{v[NR] = $1} END {if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}

# run N MODE PREPARE CMD...: PREPARE (a shell snippet, untimed) runs before each of the $runs
# timed runs of CMD; the medians go to the results file. With --busy, the runs are made
# again beside a CPU-bound process.
run() {
    runs_beside quiet "$@"
    if ((busy)); then
        sh -c 'while :; do :; done' &
        busy_pid=$!
        runs_beside busy "$@"
        kill "$busy_pid"
        wait "$busy_pid" 2>/dev/null || true
        busy_pid=""
    fi
}

# runs_beside NEIGHBOUR N MODE PREPARE CMD...: the runs of `run`, recorded as made beside
# NEIGHBOUR (quiet or busy).
runs_beside() {
    local neighbour="$1" n="$2" mode="$3" prepare="$4"
    shift 4
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
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$n" "$mode" "$wall_med" "$rss_med" "${walls[*]}" "$cpu_med" "$neighbour" >>"$results"
    printf '  %-34s %7.2f s %8.1f MB %7.2f s cpu   (runs: %s)\n' "$mode$([[ $neighbour == busy ]] && echo ' [busy]')" "$wall_med" "$(awk -v k="$rss_med" 'BEGIN {print k / 1024}')" "$cpu_med" "${walls[*]}" >&2
}

# written_nothing LAYOUT N: fails unless the last run (a rebuild that changed no object)
# reported no file written or removed.
written_nothing() {
    if ! grep -q ': 0 written, 0 removed' "$work/stderr"; then
        echo "rebuild $1 (N=$2) wrote files:" >&2
        cat "$work/stderr" >&2
        exit 1
    fi
}

# floor N STAGE CMD...: one timed run of CMD (which prints "wall cpu" of the part it times
# itself, or nothing: then the whole process is timed), to the floors file.
floor() {
    local n="$1" stage="$2" m rss cpu own
    shift 2
    sync
    measure "$work/time" "$@" >"$work/stdout" 2>"$work/stderr" || { echo "failed: $*" >&2; cat "$work/stderr" >&2; exit 1; }
    read -r m rss cpu _ <"$work/time"
    # A number of its own: the part it timed (its CPU too, else the same figure: one thread).
    own=$(cat "$work/stdout")
    if [[ -n "$own" ]]; then
        read -r m cpu <<<"$own"
        cpu=${cpu:-$m}
    fi
    printf '%s\t%s\t%s\t%s\n' "$n" "$stage" "$m" "$cpu" >>"$floors"
    printf '  floor: %-38s %7.3f s %7.3f s cpu\n' "$stage" "$m" "$cpu" >&2
}

# The API server of --cluster, a coprocess: `api_start OBJECTS KUBECONFIG`, `api_clear`
# (forget the requests so far), `api_log FILE` (the requests since the last call, one a
# line, to FILE), `api_stop`.
api_start() {
    coproc API { exec "$api_server" --objects "$1" --kubeconfig "$2" 2>"$work/api.log"; }
    api_pid=$API_PID
    local ready
    read -r ready <&"${API[0]}" || { echo "the API server did not start:" >&2; cat "$work/api.log" >&2; exit 1; }
    echo "  API server: $ready" >&2
}
api_clear() {
    local answer
    echo clear >&"${API[1]}"
    read -r answer <&"${API[0]}"
}
api_log() {
    local answer
    echo "log $1" >&"${API[1]}"
    read -r answer <&"${API[0]}"
}
api_stop() {
    echo quit >&"${API[1]}"
    wait "$api_pid" 2>/dev/null || true
    api_pid=""
}

# A python helper that writes bytes it holds in memory and prints "wall cpu" of the writes:
# `python3 $write_from_memory FILE COPY` (one file) or `... DIR COPYDIR` (a tree).
write_from_memory="$work/write_from_memory.py"
cat >"$write_from_memory" <<'PY'
import os, pathlib, sys, time
src, dst = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
files = [(p.relative_to(src), p.read_bytes()) for p in sorted(src.rglob("*")) if p.is_file()] if src.is_dir() else [(None, src.read_bytes())]
wall, cpu = time.perf_counter(), time.process_time()
for rel, data in files:
    target = dst / rel if rel is not None else dst
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "wb") as f:
        f.write(data)
print(f"{time.perf_counter() - wall:.4f} {time.process_time() - cpu:.4f}")
PY

declare -A manifests entities
for n in $sizes; do
    proj="$work/inv-$n"
    set_aside "$proj"
    echo "N=$n: generating..." >&2
    "$gen" --services "$n" --seed "$seed" --out "$proj" 2>"$work/gen.log"
    sed 's/^/  /' "$work/gen.log" >&2
    entities[$n]=$(sed -n 's/^wrote \([0-9]*\) services.* and \([0-9]*\) external APIs.*/\1+\2/p' "$work/gen.log")
    manifests[$n]=$("$bin" build -C "$proj" --stdout | grep -c '^kind: ')
    # The same inventory with 1% of the services changed, for the diff modes.
    set_aside "$proj-changed"
    cp -r "$proj" "$proj-changed"
    python3 - "$proj-changed/inventory" <<'PY'
import pathlib, sys
k = 0
files = sorted(pathlib.Path(sys.argv[1]).rglob("*.yaml"))
for f in files:
    lines = f.read_text().split("\n")
    for i, line in enumerate(lines):
        if line.startswith("    serviceAccount: "):
            k += 1
            if k % 100 == 0:
                lines[i] = line + "-v2"
    f.write_text("\n".join(lines))
# An estate of fewer than 100 service accounts (--sizes 100) gets one change all the same.
for f in files if k < 100 else []:
    text = f.read_text()
    if "\n    serviceAccount: " in text:
        f.write_text(text.replace("\n    serviceAccount: ", "\n    serviceAccount: v2-", 1))
        break
PY

    run "$n" "build --stdout" ":" "$bin" build -C "$proj" --stdout
    run "$n" "check" ":" "$bin" check -C "$proj"

    # Floors: the output copied, written from memory, and the inventory read and parsed.
    built="$work/built-$n.yaml"
    "$bin" build -C "$proj" --stdout >"$built"
    floor "$n" "cat of the output ($(awk -v b="$(stat -c %s "$built")" 'BEGIN {printf "%.1f MB", b / 1e6}'))" sh -c 'cat "$0" >"$1"' "$built" "$work/floor-copy"
    floor "$n" "the output written from memory" python3 "$write_from_memory" "$built" "$work/floor-copy"
    set_aside "$work/floor-tree"
    set_aside "$work/floor-copy"
    "$bin" build -C "$proj" --layout namespace --out-dir "$work/floor-tree" -q
    floor "$n" "namespace layout written from memory" python3 "$write_from_memory" "$work/floor-tree" "$work/floor-copy"
    set_aside "$work/floor-tree"
    set_aside "$work/floor-copy"
    floor "$n" "inventory files read (yaml_throughput)" sh -c '"$0" --floor "$1" | cut -f2' "$yaml_floor" "$proj"
    floor "$n" "inventory parsed, YAML reader alone" sh -c '"$0" --floor "$1" | cut -f4' "$yaml_floor" "$proj"

    if ((cluster)); then
        api_start "$built" "$work/kubeconfig"
        for flags in "" "--server-side"; do
            mode="diff --cluster${flags:+ $flags}"
            # The test server answers each page after filtering every object it holds: slow
            # beside a busy neighbour, so the requests get more than the default 30 s.
            run "$n" "$mode" "api_clear" sh -c '"$0" diff -C "$1" --cluster --kubeconfig "$2" --timeout 600s $3 --timings >/dev/null; test $? -eq 1' "$bin" "$proj" "$work/kubeconfig" "$flags"
            # The requests of the last run (each run's are cleared before it).
            api_log "$work/requests.log"
            awk -v n="$n" -v mode="$mode" -v said="$(sed -n 's/^cluster: \([0-9]*\) requests.*/\1/p' "$work/stderr")" -v objects="$(grep -c '^kind: ' "$built")" '
                $1 == "GET" && $2 ~ /[?&]limit=/ { if ($2 ~ /[?&]continue=/) pages++; else lists++ }
                $1 == "PATCH" { patches++ }
                { all++ }
                END { printf "%s\t%s\t%d\t%d\t%d\t%d\t%s\t%d\n", n, mode, lists, pages, patches, all, said, objects }' "$work/requests.log" >>"$requests"
        done
        api_stop
    fi
    rm -f "$built"
    for layout in $layouts; do
        out="$work/out-$n-$layout"
        run "$n" "build $layout (fresh)" "$(printf 'set_aside %q' "$out")" "$bin" build -C "$proj" --layout "$layout" --out-dir "$out"
        run "$n" "rebuild $layout (unchanged)" ":" "$bin" build -C "$proj" --layout "$layout" --out-dir "$out"
        written_nothing "$layout" "$n"
        # The same rebuild after an edit that changes no object (a comment, another each
        # run): the inputs' fingerprint differs, so it compiles and compares every file.
        run "$n" "rebuild $layout (comment edited)" "echo \"# edit \$RANDOM\" >'$proj/inventory/zz-bench-edit.yaml'" "$bin" build -C "$proj" --layout "$layout" --out-dir "$out"
        written_nothing "$layout" "$n"
        rm -f "$proj/inventory/zz-bench-edit.yaml"
        if [[ "$layout" != service ]]; then
            run "$n" "diff $layout (1% changed)" ":" sh -c '"$0" diff -C "$1" --against "$2" >/dev/null; test $? -eq 1' "$bin" "$proj-changed" "$out"
        fi
        set_aside "$out"
    done
    set_aside "$proj-changed"
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
# rounds NEIGHBOUR: the rounds, recorded as made beside NEIGHBOUR (quiet or busy).
rounds_beside() {
    local neighbour="$1" r n m rss cpu user
    echo "linearity: $runs rounds of build --stdout, one run of each size per round ($neighbour)" >&2
    for ((r = 0; r < runs; r++)); do
        for n in $sizes; do
            sync
            if ! measure "$work/time" "$bin" build -C "$work/inv-$n" --stdout >/dev/null 2>"$work/stderr"; then
                echo "failed: build --stdout (N=$n, linearity round $r)" >&2
                cat "$work/stderr" >&2
                exit 1
            fi
            read -r m rss cpu user <"$work/time"
            printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$n" "$m" "$cpu" "$user" "$neighbour" >>"$rounds"
        done
    done
}
if (($# > 1)); then
    rounds_beside quiet
    if ((busy)); then
        sh -c 'while :; do :; done' &
        busy_pid=$!
        rounds_beside busy
        kill "$busy_pid"
        wait "$busy_pid" 2>/dev/null || true
        busy_pid=""
    fi
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

rm -rf "$work/trash"

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
echo
echo "meshgen $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(nproc) cores ($cpu), $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), timer: $timer, median of $runs runs, load average $load_start at start and $(cut -d' ' -f1 /proc/loadavg) at end"
echo
# One row per size and mode; with --busy, the same runs beside a CPU-bound process too.
if ((busy)); then
    echo "| services | entities | manifests | mode | wall s | cpu s | peak RSS MB | busy: wall s | busy: cpu s | busy: peak RSS MB |"
    echo "|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|"
else
    echo "| services | entities | manifests | mode | wall s | cpu s | peak RSS MB |"
    echo "|---:|---:|---:|---|---:|---:|---:|"
fi
declare -A busy_row
while IFS=$'\t' read -r n mode wall rss _ cpu neighbour; do
    [[ "$neighbour" == busy ]] && busy_row[$n/$mode]=$(printf ' %.2f | %.2f | %.0f |' "$wall" "$cpu" "$(awk -v k="$rss" 'BEGIN {print k / 1024}')")
done <"$results"
while IFS=$'\t' read -r n mode wall rss _ cpu neighbour; do
    [[ "$neighbour" == quiet ]] || continue
    printf '| %s | %s | %s | %s | %.2f | %.2f | %.0f |%s\n' "$n" "${entities[$n]}" "${manifests[$n]}" "$mode" "$wall" "$cpu" "$(awk -v k="$rss" 'BEGIN {print k / 1024}')" "${busy_row[$n/$mode]:-}"
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
        $7 != "quiet" { next }
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

# The floors, beside the mode each bounds (one run each, quiet).
echo
echo "| services | floor | wall s | cpu s |"
echo "|---:|---|---:|---:|"
while IFS=$'\t' read -r n stage wall cpu; do
    printf '| %s | %s | %.3f | %.3f |\n' "$n" "$stage" "$wall" "$cpu"
done <"$floors"

# The requests of `diff --cluster`, from the API server's log of the last run, and the local
# CPU (the diff's CPU less that of `build --stdout` of the same estate), per 10,000 objects.
if ((cluster)); then
    echo
    echo "| services | objects | mode | lists | further pages | dry-run applies | requests (server log) | requests (--timings) | local CPU s | per 10,000 objects s |"
    echo "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|"
    awk -F'\t' '
        FILENAME == ARGV[1] { if ($7 == "quiet") cpu[$1, $2] = $6; next }
        {
            own = cpu[$1, $2] - cpu[$1, "build --stdout"]
            printf "| %s | %s | %s | %d | %d | %d | %d | %s | %.2f | %.2f |\n", $1, $8, $2, $3, $4, $5, $6, $7, own, ($8 > 0 ? own * 10000 / $8 : 0)
        }' "$results" "$requests"
fi

# The targets of issues 6 and 24, where this run measured them, quiet and (with --busy)
# beside a CPU-bound process, one a line: issue, services, seconds, MB (0: no limit), mode;
# or issue, "linear", the smaller and the larger size, the largest ratio of their times.
targets="$work/targets.tsv"
sed 's/  */\t/; s/  */\t/; s/  */\t/; s/  */\t/' >"$targets" <<'EOF'
6  10000  1.0  300  build --stdout
6  10000  1.0  300  build namespace (fresh)
6  10000  1.0  0  rebuild namespace (unchanged)
6  10000  1.0  0  rebuild service (unchanged)
6  10000  1.0  0  rebuild object (unchanged)
6  10000  0.5  0  check
6  10000  1.0  0  diff namespace (1% changed)
6  10000  1.0  0  diff object (1% changed)
6  100000  12  3072  build --stdout
6  100000  12  3072  build namespace (fresh)
6  linear  1000  10000  11
6  linear  10000  100000  11
24  10000  0.20  0  build --stdout
24  10000  0.20  0  build namespace (fresh)
24  100000  2.0  400  build --stdout
24  100000  2.0  400  build namespace (fresh)
24  10000  0.10  0  check
24  10000  0.15  0  rebuild namespace (unchanged)
24  10000  0.15  0  rebuild service (unchanged)
24  10000  0.25  0  diff namespace (1% changed)
24  linear  10000  100000  10.5
24  linear  100000  300000  3.15
EOF
echo
awk -F'\t' '
    function check(what, ok) { printf "- [%s] %s\n", ok ? "x" : " ", what; fails += !ok }
    # time(n, mode) <= limit s and, when mb > 0, peak RSS <= mb; modes not run are skipped.
    function target(n, mode, limit, mb, label,   ok, text, nb, b) {
        for (b = 1; b <= 2; b++) {
            nb = b == 1 ? "quiet" : "busy"
            if (!((n, mode, nb) in wall)) continue
            ok = wall[n, mode, nb] <= limit && (mb == 0 || rss[n, mode, nb] <= mb)
            text = sprintf("%s%s: %s <= %.2f s%s (%.2f s, %.0f MB)", label, nb == "busy" ? " [busy]" : "", mode, limit, mb ? sprintf(" and <= %d MB", mb) : "", wall[n, mode, nb], rss[n, mode, nb])
            check(text, ok)
        }
    }
    # The median of v[1..n], sorting v in place.
    function med(v, n,   i, j, t) {
        for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j - 1] > v[j]; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
        return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
    }
    # Linear: the median over the rounds of time(big) / time(small), both timed in one round,
    # by wall time and by CPU time (user plus system): both must hold. The ratio of user CPU
    # is shown beside them: the kernel time around it (zeroing fresh pages) is what varies
    # from run to run on a VM.
    function linear(small, big, limit, issue,   r, n, v, c, nc, u, nu, m, mc, list, i, b, nb) {
        for (b = 1; b <= 2; b++) {
            nb = b == 1 ? "quiet" : "busy"
            n = 0; nc = 0; nu = 0
            for (r = 0; r < rounds; r++) {
                if (((r, small, nb) in lw) && ((r, big, nb) in lw) && lw[r, small, nb] > 0) v[++n] = lw[r, big, nb] / lw[r, small, nb]
                if (((r, small, nb) in lc) && ((r, big, nb) in lc) && lc[r, small, nb] > 0) c[++nc] = lc[r, big, nb] / lc[r, small, nb]
                if (((r, small, nb) in lu) && ((r, big, nb) in lu) && lu[r, small, nb] > 0) u[++nu] = lu[r, big, nb] / lu[r, small, nb]
            }
            if (n == 0) continue
            m = med(v, n)
            mc = nc ? med(c, nc) : 0
            list = ""
            for (i = 1; i <= n; i++) list = list sprintf("%s%.1fx", i > 1 ? ", " : "", v[i])
            check(sprintf("%s%s linear: build --stdout %d/%d <= %sx by wall and CPU (median of %d rounds: wall %.1fx, CPU %s, user CPU %s; wall by round %s)", issue, nb == "busy" ? " [busy]" : "", big, small, limit, n, m, nc ? sprintf("%.1fx", mc) : "n/a", nu ? sprintf("%.1fx", med(u, nu)) : "n/a", list), m <= limit && nc > 0 && mc <= limit)
        }
    }
    # diff --cluster: as many lists at every size (per mode), and the local CPU per 10,000
    # objects (the diff less build --stdout, quiet and busy) <= limit, from 5,000 objects.
    function cluster(limit,   k, mode, n, nb, b, own, p) {
        for (k in lists) {
            split(k, p, SUBSEP); n = p[1]; mode = p[2]
            if (!(mode in first_lists)) first_lists[mode] = lists[k]
            else if (lists[k] != first_lists[mode]) same[mode] = 0
            if (!(mode in same)) same[mode] = 1
            # Below 5,000 objects the fixed costs of the client (TLS, discovery) would dominate.
            if (objects[n] >= 5000) for (b = 1; b <= 2; b++) {
                nb = b == 1 ? "quiet" : "busy"
                if (!((n, mode, nb) in cpu) || !((n, "build --stdout", nb) in cpu)) continue
                own = (cpu[n, mode, nb] - cpu[n, "build --stdout", nb]) * 10000 / objects[n]
                check(sprintf("24%s: %s local CPU per 10,000 live objects <= %.1f s (%d services, %d objects: %.2f s)", nb == "busy" ? " [busy]" : "", mode, limit, n, objects[n], own), own <= limit)
            }
        }
        for (mode in same) check(sprintf("24: %s lists as many at every size (%s)", mode, lists_of(mode)), same[mode])
    }
    function lists_of(mode,   k, out, p) {
        out = ""
        for (k in lists) { split(k, p, SUBSEP); if (p[2] == mode) out = out (out ? ", " : "") lists[k] " lists and " pages[k] " further pages at " p[1] }
        return out
    }
    FILENAME == ARGV[1] { wall[$1, $2, $7] = $3; rss[$1, $2, $7] = $4 / 1024; cpu[$1, $2, $7] = $6 }
    FILENAME == ARGV[2] { nb = $6 == "" ? "quiet" : $6; lw[$1, $2, nb] = $3; if ($4 != "") lc[$1, $2, nb] = $4; if ($5 != "") lu[$1, $2, nb] = $5; if ($1 + 1 > rounds) rounds = $1 + 1 }
    FILENAME == ARGV[3] { lists[$1, $2] = $3; pages[$1, $2] = $4; objects[$1] = $8 }
    FILENAME == ARGV[4] && $2 == "linear" { ++nlinear; linears[nlinear, 1] = $1; linears[nlinear, 2] = $3; linears[nlinear, 3] = $4; linears[nlinear, 4] = $5; next }
    FILENAME == ARGV[4] { targets[++ntargets] = $1 SUBSEP $2 SUBSEP $3 SUBSEP $4 SUBSEP $5 }
    END {
        for (i = 1; i <= ntargets; i++) {
            split(targets[i], t, SUBSEP)
            if (t[1] != issue) { printf "%sIssue %s:\n", issue ? "\n" : "", t[1]; issue = t[1] }
            target(t[2], t[5], t[3], t[4], sprintf("%s %dk", t[1], t[2] / 1000))
            # After the last target of an issue, its linearity.
            split(targets[i + 1], next_one, SUBSEP)
            if (i == ntargets || next_one[1] != t[1]) {
                for (j = 1; j <= nlinear; j++) if (linears[j, 1] == t[1]) linear(linears[j, 2], linears[j, 3], linears[j, 4], t[1])
            }
        }
        cluster(0.5)
        exit fails > 0
    }' "$results" "$rounds" "$requests" "$targets" || missed=1
echo
echo "raw results: $results, $floors, $requests" >&2
if ((strict && ${missed:-0})); then
    exit 1
fi
