#!/usr/bin/env bash
# The one test command (README and CI run exactly this). On a fresh Debian machine, as root,
# it installs what the tests need (MariaDB, Chromium + chromedriver, nginx-light, systemd-analyze), then
# checks formatting and lints, starts a private MariaDB on loopback and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
# Every test runs here: one whose service (MariaDB, Chromium, nginx) is missing fails instead
# of skipping, as it would under CI. (`cargo test` alone still skips them, saying so.)
export CI="${CI:-1}"

missing=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
have mariadbd || missing+=(mariadb-server)
have chromium || missing+=(chromium)
have chromedriver || missing+=(chromium-driver)
have systemd-analyze || missing+=(systemd)
have nginx || missing+=(nginx-light)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "run-all: installing ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
        echo "run-all: missing ${missing[*]}; the tests that need them will fail (run as root to install)"
    fi
fi

echo "run-all: cargo fmt --check"
cargo fmt --check
echo "run-all: cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --quiet -- -D warnings
echo "run-all: cargo doc (warnings are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --quiet
echo "run-all: building"
cargo build --all-targets --quiet
echo "run-all: tests (a private MariaDB on loopback for the MySQL tests)"
exec tests/db.sh run -- cargo test --lib --bins --tests
