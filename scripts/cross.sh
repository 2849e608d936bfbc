# Sourced by build-image-rootfs and package-lambda: one CPU architecture's Rust target,
# C cross toolchain and emulator. Installs what is missing (the Rust target with rustup,
# the cross gcc and glibc and qemu-user-static from Debian), so a fresh machine builds and
# runs either architecture with the project's scripts alone.
#
# Measured on the 2-core CI machine (docs/performance.md, "Graviton"): Debian's cross gcc
# with a static glibc (crt-static, as the x86_64 sidecar already is) builds as fast as a
# native build and needs nothing from outside Debian; zig (cargo-zigbuild, cargo-lambda)
# would be a second toolchain from PyPI for the same result.

# The machine's architecture in Docker's names (amd64, arm64).
host_arch() {
  case "$(uname -m)" in
    x86_64) echo amd64 ;;
    aarch64 | arm64) echo arm64 ;;
    *) echo "unsupported machine: $(uname -m)" >&2; return 1 ;;
  esac
}

# ARCH (amd64 | x86_64 | arm64 | aarch64) → Docker's name, or an error naming the choices.
arch_name() {
  case "$1" in
    amd64 | x86_64) echo amd64 ;;
    arm64 | aarch64) echo arm64 ;;
    *) echo "unknown architecture '$1': amd64 (x86_64) or arm64 (aarch64)" >&2; return 64 ;;
  esac
}

# Sets triple, elf_machine (readelf's name) and, for a cross build, the linker and C
# compiler cargo and the -sys crates use; installs the Rust target and Debian's cross gcc
# when missing.
cross_setup() {
  local arch=$1 gnu pkg
  case "$arch" in
    amd64) triple=x86_64-unknown-linux-gnu; elf_machine="Advanced Micro Devices X86-64"; gnu=x86_64-linux-gnu; pkg="gcc-x86-64-linux-gnu libc6-dev-amd64-cross" ;;
    arm64) triple=aarch64-unknown-linux-gnu; elf_machine="AArch64"; gnu=aarch64-linux-gnu; pkg="gcc-aarch64-linux-gnu libc6-dev-arm64-cross" ;;
  esac
  if ! rustup target list --installed 2>/dev/null | grep -qx "$triple"; then
    echo "installing the Rust target $triple (rustup)"
    rustup target add "$triple"
  fi
  if [ "$arch" = "$(host_arch)" ]; then
    return 0
  fi
  if ! command -v "$gnu-gcc" >/dev/null 2>&1; then
    echo "installing the $arch cross toolchain from Debian: $pkg"
    apt_install $pkg
  fi
  local upper
  upper=$(echo "$triple" | tr 'a-z-' 'A-Z_')
  export "CARGO_TARGET_${upper}_LINKER=$gnu-gcc"
  export "CC_${triple//-/_}=$gnu-gcc"
  export "AR_${triple//-/_}=$gnu-ar"
}

# The command that runs an ARCH binary here: nothing for the machine's own architecture,
# else qemu-user (installed from Debian when missing). Prints its path, or nothing.
cross_runner() {
  local arch=$1 qemu
  if [ "$arch" = "$(host_arch)" ]; then
    return 0
  fi
  case "$arch" in
    amd64) qemu=qemu-x86_64-static ;;
    arm64) qemu=qemu-aarch64-static ;;
  esac
  if ! command -v "$qemu" >/dev/null 2>&1; then
    echo "installing qemu-user-static from Debian" >&2
    apt_install qemu-user-static >&2
  fi
  command -v "$qemu"
}

# Checks BIN is a static ELF executable for ELF_MACHINE (readelf, from binutils, which
# every machine with gcc has).
check_static_elf() {
  local bin=$1
  local machine
  machine=$(readelf -h "$bin" | sed -n 's/^ *Machine: *//p')
  if [ "$machine" != "$elf_machine" ]; then
    echo "error: $bin is for '$machine', not $elf_machine" >&2
    return 1
  fi
  if readelf -l "$bin" | grep -q 'INTERP'; then
    echo "error: $bin is dynamically linked (it asks for an interpreter)" >&2
    return 1
  fi
}

apt_install() {
  local sudo=()
  if [ "$(id -u)" != 0 ]; then sudo=(sudo); fi
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
