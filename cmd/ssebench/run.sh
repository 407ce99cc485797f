#!/usr/bin/env bash
# Runs every DESIGN §7 scenario against a fresh Caddy with the sse module,
# RUNS times each (default 3), and prints one JSON line per run followed by
# the median of each scenario. Traffic stays on 127.0.0.0/8.
#
#   cmd/ssebench/run.sh            # all scenarios, 3 runs each
#   RUNS=1 cmd/ssebench/run.sh fanout-10k flat-1k
#   HUB=naive cmd/ssebench/run.sh  # the same against cmd/ssebench/naivehub
#   cmd/ssebench/run.sh idle-5k idle-5k-tls-h1 idle-5k-tls-h2 idle-5k-gzip idle-5k-zstd-gzip
#
# Scenarios named *-tls-* reach Caddy over https (tls internal) or naivehub
# -tls (self-signed); *-gzip, *-zstd-gzip and *-encode-off reach a Caddy site
# behind encode, with compress on (the first two) or by default; *-sse-gzip
# and *-sse-zstd one where the module compresses (compress gzip, zstd);
# those are Caddy-only. stream-10-deep streams into a route whose
# subscribers may fall 65,536 events behind (buffer 65536) instead of 4,096.
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${RUNS:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

go build -o "$work/caddy" ./cmd/caddy
go build -o "$work/ssebench" ./cmd/ssebench
go build -o "$work/naivehub" ./cmd/ssebench/naivehub
cat > "$work/Caddyfile" <<'CADDY'
{
	admin 127.0.0.1:2399
	auto_https disable_redirects
	skip_install_trust
	persist_config off
	log {
		level ERROR
	}
}
http://127.0.0.1:8090 {
	sse /events {
		buffer 4096
	}
	sse /publish {
		publish
	}
}
https://127.0.0.1:8443 {
	tls internal
	sse /events {
		buffer 4096
	}
	sse /publish {
		publish
	}
}
http://127.0.0.1:8092 {
	encode gzip
	sse /events {
		buffer 4096
		compress on
	}
	sse /publish {
		publish
	}
}
http://127.0.0.1:8093 {
	encode zstd gzip
	sse /events {
		buffer 4096
		compress on
	}
	sse /publish {
		publish
	}
}
http://127.0.0.1:8094 {
	encode zstd gzip
	sse /events {
		buffer 4096
	}
	sse /publish {
		publish
	}
}
http://127.0.0.1:8095 {
	encode zstd gzip
	sse /events {
		buffer 4096
		compress gzip
	}
	sse /publish {
		publish
	}
}
http://127.0.0.1:8096 {
	encode zstd gzip
	sse /events {
		buffer 4096
		compress zstd
	}
	sse /publish {
		publish
	}
}
http://127.0.0.1:8097 {
	sse /events {
		buffer 65536
	}
	sse /publish {
		publish
	}
}
CADDY

hub=${HUB:-caddy}
port=8090 tlsport=8443
[ "$hub" = naive ] && port=8091 tlsport=8444
urls=(-sub-url "http://127.0.0.1:$port/events" -pub-url "http://127.0.0.1:$port/publish")
# A scenario's own -sub-url/-pub-url come later and win.
at() { echo "-sub-url $1/events -pub-url $1/publish"; }
tls=$(at "https://127.0.0.1:$tlsport")
declare -A scenarios=(
	[idle-10k]="-scenario idle -subscribers 10000 -idle 10s"
	[idle-19800]="-scenario idle -subscribers 19800 -idle 10s"
	[fanout-10k]="-scenario fanout -subscribers 10000 -duration 20s"
	[fanout-19800]="-scenario fanout -subscribers 19800 -duration 20s"
	[flat-1k]="-scenario flat -subscribers 1000 -publishers 16 -duration 10s"
	[publish-10x32]="-scenario publish -duration 10s"
	[reconnect]="-scenario reconnect -subscribers 1000 -publishers 4 -duration 10s"
	[stream-10]="-scenario stream -duration 10s"
	[stream-1k]="-scenario stream -subscribers 1000 -rate 1500 -duration 10s"
	[stream-10-200k]="-scenario stream -rate 200000 -duration 10s"
	[stream-10-deep]="$(at http://127.0.0.1:8097) -scenario stream -duration 10s"
	[idle-5k]="-scenario idle -subscribers 5000 -idle 10s"
	[idle-5k-tls-h1]="$tls -scenario idle -subscribers 5000 -idle 10s"
	[idle-5k-tls-h2]="$tls -proto h2 -scenario idle -subscribers 5000 -idle 10s"
	[idle-5k-gzip]="$(at http://127.0.0.1:8092) -compress gzip -scenario idle -subscribers 5000 -idle 10s"
	[idle-5k-zstd-gzip]="$(at http://127.0.0.1:8093) -compress zstd,gzip -scenario idle -subscribers 5000 -idle 10s"
	[idle-5k-encode-off]="$(at http://127.0.0.1:8094) -compress zstd,gzip -scenario idle -subscribers 5000 -idle 10s"
	[idle-5k-sse-gzip]="$(at http://127.0.0.1:8095) -compress gzip -scenario idle -subscribers 5000 -idle 10s"
	[idle-5k-sse-zstd]="$(at http://127.0.0.1:8096) -compress zstd,gzip -scenario idle -subscribers 5000 -idle 10s"
	[flat-1k-sse-gzip]="$(at http://127.0.0.1:8095) -compress gzip -scenario flat -subscribers 1000 -publishers 16 -duration 10s"
	[flat-1k-sse-zstd]="$(at http://127.0.0.1:8096) -compress zstd,gzip -scenario flat -subscribers 1000 -publishers 16 -duration 10s"
	[fanout-10k-tls-h2]="$tls -proto h2 -scenario fanout -subscribers 10000 -duration 20s"
	[idle-5k-tls-h3]="$tls -proto h3 -scenario idle -subscribers 5000 -idle 10s"
	[fanout-10k-tls-h3]="$tls -proto h3 -scenario fanout -subscribers 10000 -duration 20s"
)
# The stream scenarios need the streaming publish, which the naive hub lacks.
order=(idle-10k idle-19800 fanout-10k fanout-19800 flat-1k publish-10x32 reconnect stream-10 stream-10-200k stream-10-deep stream-1k)
[ $# -gt 0 ] && order=("$@")

results="$work/results.jsonl"
for name in "${order[@]}"; do
	for i in $(seq "$runs"); do
		if [ "$hub" = naive ] && [[ $name == *-tls-* ]]; then
			"$work/naivehub" -tls -listen "127.0.0.1:$tlsport" >"$work/hub.log" 2>&1 &
		elif [ "$hub" = naive ]; then
			"$work/naivehub" -listen "127.0.0.1:$port" >"$work/hub.log" 2>&1 &
		else
			HOME="$work" "$work/caddy" run --config "$work/Caddyfile" >"$work/hub.log" 2>&1 &
		fi
		pid=$!
		probe="http://127.0.0.1:$port/"
		[[ $name == *-tls-* ]] && probe="https://127.0.0.1:$tlsport/"
		for _ in $(seq 100); do
			curl -sk -o /dev/null "$probe" && break
			sleep 0.1
		done
		# shellcheck disable=SC2086
		"$work/ssebench" "${urls[@]}" ${scenarios[$name]} -pid "$pid" -label "$hub $name" 2>>"$work/ssebench.log" | tee -a "$results" || true
		kill "$pid"
		wait "$pid" 2>/dev/null || true
	done
done

python3 - "$results" <<'PY'
import json, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    runs.setdefault(r["label"], []).append(r)
def med(rs, f):
    vals = [f(r) for r in rs if f(r) is not None]
    return statistics.median(vals) if vals else None
print("\nmedians:")
for label, rs in runs.items():
    print(json.dumps({
        "scenario": label, "runs": len(rs),
        "rss_per_sub_bytes": med(rs, lambda r: r.get("rss_per_sub")),
        "deliveries_per_sec": med(rs, lambda r: r["deliveries_per_sec"]),
        "publish_rate": med(rs, lambda r: r["publish_rate"]),
        "p50_ms": med(rs, lambda r: r["latency_ms"]["p50"]),
        "p99_ms": med(rs, lambda r: r["latency_ms"]["p99"]),
        "missing": max(r["missing"] for r in rs),
        "duplicates": max(r["duplicates"] for r in rs),
        "cpu_server_sec": med(rs, lambda r: r.get("cpu_server_sec")),
        "cpu_tool_sec": med(rs, lambda r: r.get("cpu_tool_sec")),
    }))
PY
