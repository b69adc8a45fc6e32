#!/usr/bin/env bash
# Assembles the operator image's whole root filesystem into OUT_DIR: the release binary and
# exactly what it needs at run time, nothing else (no shell, no package manager, no CA bundle:
# CAMS's roots are compiled in, the cluster's CA comes from the ServiceAccount mount, extra
# roots from --ca-bundle).
#
#   hack/image/rootfs.sh BINARY OUT_DIR
#
# What lands in OUT_DIR:
#   usr/local/bin/cams-operator         the binary (0755)
#   <its ELF interpreter and NEEDED libraries, at the paths the loader finds them>
#                                       glibc's loader, libc, libm, libgcc_s (as ldd resolves them)
#   usr/share/doc/<pkg>/copyright       the licences of the Debian packages those files come from
#   etc/passwd, etc/group               root and nonroot (65532), no login shell
#   etc/nsswitch.conf                   hosts: files dns
#   tmp/                                1777, empty (the chart mounts an emptyDir there)
# Every file's mtime is SOURCE_DATE_EPOCH (default 0), so two runs on the same binary and
# libraries give the same tree. Both `make image` (hack/image/Containerfile, FROM scratch) and
# the multi-stage Dockerfile (its build stage) run this script, so both images have one layout.
set -euo pipefail
[[ $# -eq 2 ]] || { sed -n '6p' "$0" | sed 's/^# *//' >&2; exit 2; }
bin=$1 out=$2
die() { printf 'rootfs.sh: error: %s\n' "$*" >&2; exit 1; }
[[ -x "$bin" ]] || die "$bin is not an executable"
command -v ldd >/dev/null || die "ldd is required"
epoch="${SOURCE_DATE_EPOCH:-0}"

rm -rf "$out"
mkdir -p "$out/usr/local/bin" "$out/etc" "$out/tmp"
install -m 0755 "$bin" "$out/usr/local/bin/cams-operator"

# The loader and every shared library, at the path ldd resolves (glibc's loader searches the
# multiarch directories, e.g. /lib/x86_64-linux-gnu, by default: no ld.so.cache needed).
mapfile -t libs < <(ldd "$bin" | awk '$2=="=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' | sort -u)
(( ${#libs[@]} > 0 )) || die "ldd found no libraries (a static binary needs none: remove this check)"
for lib in "${libs[@]}"; do
  mkdir -p "$out$(dirname "$lib")"
  cp -L "$lib" "$out$lib"
  chmod 0755 "$out$lib"
  # The licence of the Debian package that owns it (dpkg -S knows both /lib and /usr/lib).
  if command -v dpkg >/dev/null; then
    real="$(readlink -f "$lib")"
    pkg="$(dpkg -S "$real" 2>/dev/null || dpkg -S "${real#/usr}" 2>/dev/null || true)"
    pkg="${pkg%%:*}"
    if [[ -n "$pkg" && -f "/usr/share/doc/$pkg/copyright" ]]; then
      install -D -m 0644 "/usr/share/doc/$pkg/copyright" "$out/usr/share/doc/$pkg/copyright"
    fi
  fi
done

cat >"$out/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
PASSWD
cat >"$out/etc/group" <<'GROUP'
root:x:0:
nonroot:x:65532:
GROUP
echo 'hosts: files dns' >"$out/etc/nsswitch.conf"
chmod 0644 "$out/etc/passwd" "$out/etc/group" "$out/etc/nsswitch.conf"
chmod 1777 "$out/tmp"
find "$out" -exec touch -h -d "@$epoch" {} +
printf 'rootfs.sh: %s: %s files, %s\n' "$out" "$(find "$out" -type f | wc -l)" "$(du -sh "$out" | cut -f1)" >&2
