#!/usr/bin/env bash
# vm.sh: boot a multi-NUMA Linux guest under QEMU and run programs in it.
#
#   vm.sh setup                      install/download what the guest needs (cached)
#   vm.sh run [options] -- BINARY [ARGS...] [::: BINARY [ARGS...]]...
#   vm.sh topology [--nodes N] [--memonly]   print the HMAT/distance table
#   vm.sh clean                      remove the cache
#
# The guest is a stock Debian 12 kernel booted directly (PVH) from an
# initramfs holding busybox, the program, its shared libraries and any extra
# files. The firmware tables (SRAT/SLIT/HMAT) give it 2 or 4 NUMA nodes with
# distinct bandwidth and latency, optionally a CPU-less memory-only node and a
# virtio-gpu DRM device. See README.md beside this file for the values.
#
# Programs separated by ":::" run one after the other in the same guest.
# Exit status of `run`: the program's own exit status (several programs: the
# first failure's, else 0 if one passed, else 77); 77 with "SKIP: reason"
# when QEMU cannot run here; 124 when the guest timed out; 2 on bad usage;
# 1 when the guest died without reporting a status.
set -euo pipefail
export LC_ALL=C

readonly PROG=vm.sh
readonly SKIP=77
CACHE=${UMS_VM_CACHE:-${HOME:-/tmp}/.cache/umshim-vm}
readonly QEMU=qemu-system-x86_64
# Debian packages the host needs, as "command:package".
readonly HOST_NEEDS=("$QEMU:qemu-system-x86" "xz:xz-utils")

say() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { say "error: $*"; exit 1; }
skip() { printf 'SKIP: %s\n' "$*"; exit "$SKIP"; }
usage() {
  sed -n '2,7p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  cat >&2 <<'EOF'
run options:
  --nodes 2|4        CPU NUMA nodes (default 2)
  --cpus-per-node K  vCPUs per CPU node, 1 to 4 (default 1)
  --memonly          add a CPU-less memory-only node (HBM-like)
  --gpu              add a virtio-gpu device and load its driver
  --gpu-node N       with --gpu: put it behind a PCIe expander bridge on NUMA
                     node N, so its PCI locality is that node (default: the
                     root complex, local to every node)
  --mem MIB          memory per node in MiB (default 512; 1G style suffixes ok)
  --timeout S        bound the whole boot+run (default 300)
  --env K=V          set a variable for the program (repeatable)
  --file SRC[:DST]   copy a file or folder into the guest, at DST or at SRC's
                     absolute path, with the shared libraries its ELF files need
  --module NAME      load a kernel module (and its dependencies) before the run
  --append ARGS      extra kernel command-line arguments
  --qemu-arg ARG     extra QEMU argument (repeatable)
EOF
  exit 2
}
now() { printf '%s' "${EPOCHREALTIME/,/.}"; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# ---------------------------------------------------------------- topology
# One row per CPU node: local latency (ns) and bandwidth (GiB/s, as QEMU's
# "G" suffix). The memory-only node is attached to node 0.
readonly LOCAL_LAT=(100 140 120 160)
readonly LOCAL_BW=(20 16 12 8)
readonly MEMONLY_LAT=200 MEMONLY_BW=48          # seen from node 0
readonly MEMONLY_FAR_LAT=300 MEMONLY_FAR_BW=24  # seen from the other nodes

# distance A B: SLIT distance between nodes in a topology of $NODES CPU nodes
# plus, when $MEMONLY=1, memory-only node $NODES.
distance() {
  local a=$1 b=$2
  if ((a == b)); then echo 10; return; fi
  if ((a > b)); then local t=$a; a=$b; b=$t; fi
  if ((MEMONLY && b == NODES)); then
    case $a in 0) echo 17 ;; 1) echo 28 ;; *) echo 38 ;; esac
    return
  fi
  # Nodes {0,1} and {2,3} are pairs (like two packages of two dies).
  if ((a / 2 == b / 2)); then echo 21; else echo 31; fi
}

# hmat I T: prints "latency_ns bandwidth_GiB" for initiator I to target T.
hmat() {
  local i=$1 t=$2
  if ((MEMONLY && t == NODES)); then
    if ((i == 0)); then echo "$MEMONLY_LAT $MEMONLY_BW"; else echo "$MEMONLY_FAR_LAT $MEMONLY_FAR_BW"; fi
    return
  fi
  if ((i == t)); then echo "${LOCAL_LAT[t]} ${LOCAL_BW[t]}"; return; fi
  local d; d=$(distance "$i" "$t")
  if ((d == 21)); then
    echo "$((LOCAL_LAT[t] + 100)) $((LOCAL_BW[t] / 2))"
  else
    echo "$((LOCAL_LAT[t] + 200)) $((LOCAL_BW[t] / 4))"
  fi
}

total_nodes() { echo $((NODES + MEMONLY)); }

# The values Linux exposes (access0: the attached initiator only), as
# "node:latency_ns:bandwidth_MiBps,..." for UMS_VM_HMAT.
hmat_expect() {
  local t out="" lat bw
  for ((t = 0; t < $(total_nodes); t++)); do
    if ((MEMONLY && t == NODES)); then read -r lat bw < <(hmat 0 "$t"); else read -r lat bw < <(hmat "$t" "$t"); fi
    out+="${out:+,}$t:$lat:$((bw * 1024))"
  done
  echo "$out"
}

dist_expect() {
  local a b row out=""
  for ((a = 0; a < $(total_nodes); a++)); do
    row=""
    for ((b = 0; b < $(total_nodes); b++)); do row+="${row:+,}$(distance "$a" "$b")"; done
    out+="${out:+;}$row"
  done
  echo "$out"
}

# ---------------------------------------------------------------- setup
as_root() {
  if ((EUID == 0)); then "$@"; elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo -n "$@"; else return 1; fi
}

apt_quiet() { DEBIAN_FRONTEND=noninteractive as_root apt-get -q -y -o Dpkg::Use-Pty=0 "$@"; }

host_busybox() {
  local b
  for b in /bin/busybox /usr/bin/busybox; do
    # Only a static busybox works in the guest without its libraries.
    if [[ -x $b ]] && ! ldd "$b" >/dev/null 2>&1; then echo "$b"; return 0; fi
  done
  return 1
}

host_ready() {
  local need
  for need in "${HOST_NEEDS[@]}"; do command -v "${need%%:*}" >/dev/null || return 1; done
  host_busybox >/dev/null
}

install_host_packages() {
  local need pkgs=()
  for need in "${HOST_NEEDS[@]}"; do
    command -v "${need%%:*}" >/dev/null || pkgs+=("${need#*:}")
  done
  host_busybox >/dev/null || pkgs+=(busybox-static)
  ((${#pkgs[@]})) || return 0
  say "installing ${pkgs[*]}"
  if ! apt_quiet install --no-install-recommends "${pkgs[@]}" >&2; then
    apt_quiet update >&2 || true
    apt_quiet install --no-install-recommends "${pkgs[@]}" >&2 ||
      skip "cannot install ${pkgs[*]} (needs root and Debian's package archive)"
  fi
  host_ready || skip "${pkgs[*]} installed but not usable"
}

# newest_deb PATTERN: the newest cached .deb whose name matches PATTERN.
newest_deb() { find "$CACHE/deb" -maxdepth 1 -name "$1" | sort -V | tail -n 1; }

# apt_download PKG: fetch PKG's .deb into the current folder.
apt_download() {
  local opts=(-q)
  if ((EUID == 0)); then opts+=(-o APT::Sandbox::User=root); fi
  apt-get "${opts[@]}" download "$1" >&2 && return 0
  apt_quiet update >&2 || true
  apt-get "${opts[@]}" download "$1" >&2
}

# extract_vmlinux VMLINUZ OUT: the kernel's scripts/extract-vmlinux method for
# an xz-compressed bzImage: try each xz stream start until one unpacks to ELF.
extract_vmlinux() {
  local img=$1 out=$2 off magic
  while IFS=: read -r off _; do
    tail -c +$((off + 1)) "$img" | xz -dc --single-stream >"$out" 2>/dev/null || true
    magic=$(head -c 4 "$out" | od -An -tx1 | tr -d ' \n')
    [[ $magic == 7f454c46 ]] && return 0
  done < <(grep -abo $'\xfd7zXZ\x00' "$img")
  rm -f "$out"
  return 1
}

do_setup() {
  local t0 stamp=$CACHE/ready
  if [[ -s $stamp ]] && host_ready; then
    # shellcheck source=/dev/null
    . "$stamp"
    [[ -f $KDIR/vmlinux && -f $KDIR/modules/lib/modules/$KVER/modules.dep ]] && return 0
  fi
  t0=$(now)
  mkdir -p "$CACHE/deb"
  exec 9>"$CACHE/.lock"
  flock 9
  install_host_packages
  if [[ -s $stamp ]]; then
    # shellcheck source=/dev/null
    . "$stamp"
    if [[ -f $KDIR/vmlinux && -f $KDIR/modules/lib/modules/$KVER/modules.dep ]]; then exec 9>&-; return 0; fi
  fi

  local meta img imgdeb tmp
  meta=$(newest_deb 'linux-image-amd64_*.deb')
  if [[ -z $meta ]]; then
    say "downloading linux-image-amd64"
    (cd "$CACHE/deb" && apt_download linux-image-amd64) || skip "cannot download linux-image-amd64"
    meta=$(newest_deb 'linux-image-amd64_*.deb')
  fi
  img=$(dpkg-deb -f "$meta" Depends | grep -o 'linux-image-[0-9][^ ,|(]*' | head -n 1)
  [[ -n $img ]] || die "no kernel image named in $meta's Depends"
  imgdeb=$(newest_deb "${img}_*.deb")
  if [[ -z $imgdeb ]]; then
    say "downloading $img"
    (cd "$CACHE/deb" && apt_download "$img") || skip "cannot download $img"
    imgdeb=$(newest_deb "${img}_*.deb")
  fi

  KVER=${img#linux-image-}
  KDIR=$CACHE/kernel/$KVER
  tmp=$CACHE/kernel/.unpack.$$
  rm -rf "$CACHE"/kernel/.unpack.* "$KDIR" # leftovers of an interrupted setup
  mkdir -p "$tmp"
  say "unpacking $(basename "$imgdeb")"
  dpkg -x "$imgdeb" "$tmp"
  [[ -f $tmp/boot/vmlinuz-$KVER ]] || die "no boot/vmlinuz-$KVER in $imgdeb"
  extract_vmlinux "$tmp/boot/vmlinuz-$KVER" "$tmp/vmlinux" || die "no xz-compressed ELF kernel in vmlinuz-$KVER"
  # Keep the uncompressed kernel and the module tree, drop the rest.
  mkdir -p "$tmp/modules/lib/modules"
  mv "$tmp/lib/modules/$KVER" "$tmp/modules/lib/modules/"
  cp "$tmp/boot/config-$KVER" "$tmp/config" 2>/dev/null || true
  rm -rf "${tmp:?}/boot" "${tmp:?}/lib" "${tmp:?}/usr" "${tmp:?}/etc"
  "$(host_busybox)" depmod -b "$tmp/modules" "$KVER"
  mkdir -p "$CACHE/kernel"
  mv "$tmp" "$KDIR"
  printf 'KVER=%q\nKDIR=%q\n' "$KVER" "$KDIR" >"$stamp.tmp"
  mv "$stamp.tmp" "$stamp"
  rm -f "$imgdeb" # unpacked for good; a new setup fetches it again if needed
  exec 9>&-
  say "setup done in $(elapsed "$t0") s (kernel $KVER, cache $CACHE)"
}

# ---------------------------------------------------------------- run
# shq STR: STR quoted for a POSIX shell.
shq() { printf "'%s'" "${1//\'/\'\\\'\'}"; }

is_elf() {
  local m
  [[ -f $1 ]] || return 1
  m=$(head -c 4 "$1" 2>/dev/null | od -An -tx1 | tr -d ' \n')
  [[ $m == 7f454c46 ]]
}

declare -A COPIED=()
BINS=()

# put SRC DST: copy SRC (dereferenced) to DST inside the guest root.
put() {
  local src=$1 dst=$2
  [[ -n ${COPIED[$dst]:-} ]] && return 0
  COPIED[$dst]=1
  mkdir -p "$ROOT$(dirname "$dst")"
  cp -L "$src" "$ROOT$dst"
}

# put_libs FILE: copy the shared libraries and loader ldd lists for FILE.
put_libs() {
  local out line lib
  out=$(ldd "$1" 2>&1) || return 0 # static, or not a program for this host
  while IFS= read -r line; do
    lib=""
    if [[ $line == *'=> not found'* ]]; then
      say "warning: $1 needs ${line%% =>*} which ldd cannot find"
      continue
    elif [[ $line =~ =\>\ (/[^ ]+) ]]; then
      lib=${BASH_REMATCH[1]}
    elif [[ $line =~ ^[[:space:]]*(/[^ ]+) ]]; then
      lib=${BASH_REMATCH[1]}
    fi
    if [[ -n $lib && -e $lib ]]; then put "$lib" "$lib"; fi
  done <<<"$out"
}

# put_tree SRC DST: copy a file or a folder, with what its ELF files need.
put_tree() {
  local src=$1 dst=$2 f rel
  if [[ -d $src ]]; then
    while IFS= read -r -d '' f; do
      rel=${f#"$src"}
      put "$f" "$dst$rel"
      if is_elf "$f"; then put_libs "$f"; fi
    done < <(find -L "$src" -type f -print0)
  else
    put "$src" "$dst"
    if is_elf "$src"; then put_libs "$src"; fi
  fi
}

# put_module NAME: the module's file and its dependencies, from modules.dep;
# fails (status 1) when the module is built into the kernel.
put_module() {
  local name=${1//-/_} mdir=$KDIR/modules/lib/modules/$KVER line file dep
  line=$(awk -v want="$name" -F: '{
      n = $1; sub(/.*\//, "", n); sub(/\.ko.*$/, "", n); gsub(/-/, "_", n)
      if (n == want) { print; exit }
    }' "$mdir/modules.dep")
  if [[ -z $line ]]; then
    if grep -qE "/${1//[-_]/[-_]}\.ko" "$mdir/modules.builtin" 2>/dev/null; then return 1; fi
    die "no kernel module named $1 in $KVER"
  fi
  file=${line%%:*}
  for dep in $file ${line#*:}; do
    put "$mdir/$dep" "/lib/modules/$KVER/$dep"
    grep -m1 "^$dep:" "$mdir/modules.dep" >>"$ROOT/lib/modules/$KVER/modules.dep.new"
  done
}

write_init() {
  cat >"$ROOT/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mkdir -p /proc /sys /dev /tmp /run /root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
exec 0</dev/console 1>/dev/console 2>&1
. /ums-vm/setup.sh
for m in $UMS_VM_LOAD_MODULES; do
  modprobe "$m" || echo "vm: modprobe $m failed"
done
echo "$UMS_VM_MARK START"
cd /tmp
sh /ums-vm/cmd.sh </dev/null
rc=$?
echo "$UMS_VM_MARK EXIT=$rc"
# Wait for the console to drain (stty sets with TCSADRAIN) before power-off.
stty onlcr 2>/dev/null || sleep 1
poweroff -f
EOF
  chmod 755 "$ROOT/init"
}

do_run() {
  local nodes=2 cpn=1 memonly=0 gpu=0 gpu_node=-1 mem=512 timeout=300 append="" arg
  local envs=() files=() modules=() qargs=()
  while (($#)); do
    case $1 in
      --nodes) nodes=${2:?}; shift 2 ;;
      --cpus-per-node) cpn=${2:?}; shift 2 ;;
      --memonly) memonly=1; shift ;;
      --gpu) gpu=1; shift ;;
      --gpu-node) gpu_node=${2:?}; shift 2 ;;
      --mem) mem=${2:?}; shift 2 ;;
      --timeout) timeout=${2:?}; shift 2 ;;
      --env) envs+=("${2:?}"); shift 2 ;;
      --file) files+=("${2:?}"); shift 2 ;;
      --module) modules+=("${2:?}"); shift 2 ;;
      --append) append+=" ${2:?}"; shift 2 ;;
      --qemu-arg) qargs+=("${2:?}"); shift 2 ;;
      --) shift; break ;;
      -h | --help) usage ;;
      *) say "unknown option $1"; usage ;;
    esac
  done
  (($#)) || { say "no program given"; usage; }
  [[ $nodes == 2 || $nodes == 4 ]] || { say "--nodes must be 2 or 4"; usage; }
  [[ $cpn =~ ^[1-4]$ ]] || { say "--cpus-per-node must be 1 to 4"; usage; }
  if ((gpu_node != -1)); then
    ((gpu)) || { say "--gpu-node needs --gpu"; usage; }
    [[ $gpu_node =~ ^[0-9]$ ]] && ((gpu_node < nodes + memonly)) || { say "--gpu-node must name a node of the guest"; usage; }
  fi
  if [[ $mem =~ ^([0-9]+)[gG]$ ]]; then
    mem=$((BASH_REMATCH[1] * 1024))
  elif [[ $mem =~ ^([0-9]+)[mM]$ ]]; then
    mem=${BASH_REMATCH[1]}
  fi
  if ! [[ $mem =~ ^[0-9]+$ ]] || ((mem < 128)); then say "--mem must be at least 128 (MiB per node)"; usage; fi
  [[ $timeout =~ ^[0-9]+$ ]] || { say "--timeout must be whole seconds"; usage; }
  # virtio-pci is a module in Debian's kernel, and no symbol pulls it in.
  if ((gpu)); then modules=(virtio_pci virtio-gpu "${modules[@]}"); fi

  # Programs separated by ":::", each one a line of the guest's script.
  local progs=() line="" bin first=1
  while (($#)); do
    if [[ $1 == ::: ]]; then
      [[ -n $line ]] || { say "empty program before :::"; usage; }
      progs+=("$line"); line=""; first=1; shift; continue
    fi
    arg=$1; shift
    if ((first)); then
      bin=$arg
      [[ $bin == */* ]] || bin=$(command -v "$bin" || echo "$bin")
      [[ -f $bin ]] || die "no such program: $bin"
      bin=$(realpath "$bin")
      BINS+=("$bin")
      arg=$bin first=0
    fi
    line+="${line:+ }$(shq "$arg")"
  done
  [[ -n $line ]] || { say "empty program after :::"; usage; }
  progs+=("$line")

  do_setup
  # shellcheck source=/dev/null
  . "$CACHE/ready"
  NODES=$nodes MEMONLY=$memonly

  local work t0
  work=$(mktemp -d "${TMPDIR:-/tmp}/ums-vm.XXXXXX")
  # shellcheck disable=SC2064
  trap "rm -rf '$work'" EXIT
  trap 'exit 130' INT TERM
  ROOT=$work/root
  t0=$(now)

  # --- initramfs
  mkdir -p "$ROOT"/{bin,sbin,etc,proc,sys,dev,tmp,run,root,ums-vm,"lib/modules/$KVER"}
  cp "$(host_busybox)" "$ROOT/bin/busybox"
  printf 'root:x:0:0:root:/root:/bin/sh\n' >"$ROOT/etc/passwd"
  printf 'root:x:0:\n' >"$ROOT/etc/group"
  [[ -f /etc/ld.so.cache ]] && cp /etc/ld.so.cache "$ROOT/etc/"
  for bin in "${BINS[@]}"; do put_tree "$bin" "$bin"; done
  local f src dst
  for f in "${files[@]}"; do
    if [[ $f == *:* ]]; then src=${f%%:*} dst=${f#*:}; else src=$f dst=""; fi
    [[ -e $src ]] || die "--file $src: no such file or folder"
    src=$(realpath -s "$src")
    [[ -n $dst ]] || dst=$src
    [[ $dst == /* ]] || die "--file $f: the guest path must be absolute"
    put_tree "$src" "$dst"
  done
  local m load=()
  for m in "${modules[@]}"; do
    if put_module "$m"; then load+=("$m"); fi
  done
  if [[ -f $ROOT/lib/modules/$KVER/modules.dep.new ]]; then
    sort -u "$ROOT/lib/modules/$KVER/modules.dep.new" >"$ROOT/lib/modules/$KVER/modules.dep"
    rm "$ROOT/lib/modules/$KVER/modules.dep.new"
  fi

  local mark="UMS-VM-$$-$RANDOM$RANDOM"
  {
    echo "UMS_VM_MARK=$(shq "$mark")"
    echo "UMS_VM_LOAD_MODULES=$(shq "${load[*]}")"
  } >"$ROOT/ums-vm/setup.sh"
  {
    echo "export HOME=/root PATH=/bin:/sbin:/usr/bin:/usr/sbin TERM=dumb"
    echo "export UMS_VM=1 UMS_VM_NODES=$(total_nodes) UMS_VM_CPU_NODES=$NODES UMS_VM_CPUS_PER_NODE=$cpn UMS_VM_GPU=$gpu UMS_VM_GPU_NODE=$gpu_node UMS_VM_NODE_MIB=$mem"
    if ((MEMONLY)); then echo "export UMS_VM_MEMONLY_NODE=$NODES UMS_VM_MEMONLY_INITIATOR=0"; fi
    echo "export UMS_VM_HMAT=$(shq "$(hmat_expect)") UMS_VM_DISTANCES=$(shq "$(dist_expect)")"
    local e
    for e in "${envs[@]}"; do
      [[ $e == [A-Za-z_]*=* ]] || die "--env wants K=V, got $e"
      echo "export ${e%%=*}=$(shq "${e#*=}")"
    done
    if ((${#progs[@]} == 1)); then
      echo "exec ${progs[0]}"
    else
      # Several programs: each runs whatever the others did; the status is the
      # first failure's, else 0 when one passed, else 77 (all skipped).
      cat <<'EOS'
ums_vm_status=0 ums_vm_passed=0
ums_vm_one() {
  echo "vm: == $*"
  "$@"
  s=$?
  if [ "$s" -eq 77 ]; then echo "vm: $1: skipped"
  elif [ "$s" -ne 0 ]; then echo "vm: $1: exit $s"; [ "$ums_vm_status" -eq 0 ] && ums_vm_status=$s
  else ums_vm_passed=1; fi
}
EOS
      for line in "${progs[@]}"; do echo "ums_vm_one $line"; done
      echo '[ "$ums_vm_status" -ne 0 ] && exit "$ums_vm_status"'
      echo '[ "$ums_vm_passed" -eq 1 ] && exit 0'
      echo 'exit 77'
    fi
  } >"$ROOT/ums-vm/cmd.sh"
  write_init
  (cd "$ROOT" && find . -mindepth 1 | "$ROOT/bin/busybox" cpio -o -H newc -R 0:0 2>/dev/null) >"$work/initrd.cpio"

  # --- QEMU command line
  local total i t lat bw q=()
  total=$(total_nodes)
  # shellcheck disable=SC2054 # QEMU options are comma-separated
  q=("$QEMU" -machine q35,accel=tcg,hmat=on -cpu max
    -smp "$((NODES * cpn)),sockets=$NODES,cores=$cpn,threads=1" -m "$((mem * total))M")
  for ((i = 0; i < total; i++)); do
    q+=(-object "memory-backend-ram,id=m$i,size=${mem}M")
    if ((i < NODES)); then
      q+=(-numa "node,nodeid=$i,cpus=$((i * cpn))-$((i * cpn + cpn - 1)),memdev=m$i,initiator=$i")
    else
      q+=(-numa "node,nodeid=$i,memdev=m$i,initiator=0")
    fi
  done
  for ((i = 0; i < total; i++)); do
    for ((t = i + 1; t < total; t++)); do
      q+=(-numa "dist,src=$i,dst=$t,val=$(distance "$i" "$t")")
    done
  done
  for ((i = 0; i < NODES; i++)); do
    for ((t = 0; t < total; t++)); do
      read -r lat bw < <(hmat "$i" "$t")
      q+=(-numa "hmat-lb,initiator=$i,target=$t,hierarchy=memory,data-type=access-latency,latency=$lat"
        -numa "hmat-lb,initiator=$i,target=$t,hierarchy=memory,data-type=access-bandwidth,bandwidth=${bw}G")
    done
  done
  if ((gpu && gpu_node >= 0)); then
    # A PCIe expander bridge with a NUMA node gets an ACPI proximity domain
    # (_PXM): Linux and hwloc then place the GPU below that node.
    q+=(-device "pxb-pcie,id=pxb1,bus_nr=32,numa_node=$gpu_node,bus=pcie.0"
      -device pcie-root-port,id=rp1,bus=pxb1,chassis=1,slot=1 -device virtio-gpu-pci,bus=rp1)
  elif ((gpu)); then
    q+=(-device virtio-gpu-pci)
  fi
  # shellcheck disable=SC2054
  q+=(-nodefaults -display none -no-user-config -chardev stdio,id=con,signal=off -serial chardev:con
    -no-reboot -kernel "$KDIR/vmlinux" -initrd "$work/initrd.cpio"
    -append "console=ttyS0,115200 quiet loglevel=1 panic=-1 mitigations=off tsc=reliable numa_balancing=disable$append"
    "${qargs[@]}")

  # --- boot, stream the guest's output, collect its status
  local rcs qrc status
  set +e
  timeout -k 5 "$timeout" "${q[@]}" </dev/null 2>"$work/qemu.err" |
    tee "$work/console.log" |
    awk -v mark="$mark" -v rcfile="$work/rc" '
      { sub(/\r$/, "") }
      !on { if (index($0, mark " START")) on = 1; next }
      {
        i = index($0, mark " EXIT=")
        if (i) {
          if (i > 1) print substr($0, 1, i - 1)
          print substr($0, i + length(mark " EXIT=")) > rcfile
          on = 0; fflush(); next
        }
        print; fflush()
      }'
  rcs=("${PIPESTATUS[@]}")
  set -e
  qrc=${rcs[0]}
  if [[ -s $work/rc ]]; then
    status=$(tr -dc 0-9 <"$work/rc")
    say "guest exit $status after $(elapsed "$t0") s ($total nodes$( ((MEMONLY)) && echo ", memory-only node $NODES")$( ((gpu)) && echo ", virtio-gpu"))"
    exit "$status"
  fi
  if ((qrc == 124 || qrc == 137)); then
    say "guest timed out after $timeout s; console tail:"
    tail -n 30 "$work/console.log" | tr -d '\r' >&2
    exit 124
  fi
  if [[ ! -s $work/console.log ]] && ((qrc != 0)); then
    skip "$QEMU failed to start: $(grep -v '^$' "$work/qemu.err" | head -n 3 | tr '\n' ' ')"
  fi
  say "guest ended without an exit status (qemu status $qrc); console tail:"
  tail -n 30 "$work/console.log" | tr -d '\r' >&2
  [[ -s $work/qemu.err ]] && sed 's/^/qemu: /' "$work/qemu.err" >&2
  exit 1
}

do_topology() {
  NODES=2 MEMONLY=0
  while (($#)); do
    case $1 in
      --nodes) NODES=${2:?}; shift 2 ;;
      --memonly) MEMONLY=1; shift ;;
      *) usage ;;
    esac
  done
  local i t lat bw
  echo "UMS_VM_HMAT=$(hmat_expect)"
  echo "UMS_VM_DISTANCES=$(dist_expect)"
  for ((i = 0; i < NODES; i++)); do
    for ((t = 0; t < $(total_nodes); t++)); do
      read -r lat bw < <(hmat "$i" "$t")
      printf 'initiator %d -> target %d: distance %d, latency %d ns, bandwidth %d GiB/s\n' \
        "$i" "$t" "$(distance "$i" "$t")" "$lat" "$bw"
    done
  done
}

main() {
  (($#)) || usage
  local cmd=$1; shift
  case $cmd in
    setup) do_setup ;;
    run) do_run "$@" ;;
    topology) do_topology "$@" ;;
    clean) rm -rf "$CACHE" ;;
    *) usage ;;
  esac
}

main "$@"
