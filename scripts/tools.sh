# Installs what the tests need, pinned, into .tools/ (git-ignored). Sourced by scripts/test.
# A fresh machine has only the Rust toolchain, python3 and Debian's package manager.

MOTO_VERSION="5.2.5"

# The local AWS emulator (moto server) in its own virtual environment.
install_moto() {
  local py=.tools/venv/bin/python
  if [ -x "$py" ] && "$py" -c "import sys, moto; sys.exit(moto.__version__ != '$MOTO_VERSION')" 2>/dev/null; then
    return 0
  fi
  echo "installing moto[server]==$MOTO_VERSION into .tools/venv"
  rm -rf .tools/venv
  mkdir -p .tools
  if ! python3 -m venv .tools/venv 2>/dev/null; then
    # Debian ships venv separately.
    apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv .tools/venv
  fi
  .tools/venv/bin/pip install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
}
