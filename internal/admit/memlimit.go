package admit

import (
	"io/fs"
	"math"
	"os"
	"path"
	"runtime/debug"
	"strconv"
	"strings"
)

// defaultBudgetDivisor sets the default memory budget: the memory available
// to the process divided by it. A quarter, because the Go collector lets
// the heap grow to twice the live data before collecting (GOGC=100), and
// the storage engine's caches, write buffers and the application need the
// rest.
const defaultBudgetDivisor = 4

// fallbackMemoryBudget is the default budget when the memory available to
// the process is unknown (not Linux, or /proc unreadable).
const fallbackMemoryBudget = 1 << 30

// DefaultMemoryBudget returns the memory budget an index uses when its
// options set none: a quarter of the memory available to the process
// (availableMemory), or 1 GiB when that is unknown.
func DefaultMemoryBudget() int64 {
	return budgetFor(availableMemory(os.DirFS("/")), debug.SetMemoryLimit(-1))
}

// budgetFor returns the default budget for avail bytes of memory available
// (0: unknown) and the Go runtime's memory limit (GOMEMLIMIT; MaxInt64
// when unset): a quarter of the lower, at least 16 MiB, or 1 GiB when
// neither is known.
func budgetFor(avail, goLimit int64) int64 {
	if goLimit > 0 && goLimit < math.MaxInt64 && (avail <= 0 || goLimit < avail) {
		avail = goLimit
	}
	if avail <= 0 {
		return fallbackMemoryBudget
	}
	return max(avail/defaultBudgetDivisor, 16<<20)
}

// availableMemory returns the memory available to the process, read from
// root (the file system's root, "/" on the machine, fixtures in tests): the
// tightest cgroup memory limit on the process's cgroup or its ancestors
// (cgroup v2 memory.max or v1 memory.limit_in_bytes), capped by the
// physical memory (MemTotal in /proc/meminfo). It returns 0 when neither
// is known.
func availableMemory(root fs.FS) int64 {
	total := memTotal(root)
	lim := cgroupLimit(root)
	switch {
	case lim > 0 && (total == 0 || lim < total):
		return lim
	default:
		return total
	}
}

// memTotal returns MemTotal from proc/meminfo in bytes, or 0.
func memTotal(root fs.FS) int64 {
	b, err := fs.ReadFile(root, "proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "MemTotal:" {
			n, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil || n <= 0 {
				return 0
			}
			if len(f) >= 3 && f[2] == "kB" {
				n *= 1024
			}
			return n
		}
	}
	return 0
}

// cgroupLimit returns the tightest memory limit of the process's cgroup
// and its ancestors, or 0 if none is set. It finds the cgroup in
// proc/self/cgroup, where its hierarchy is mounted in
// proc/self/mountinfo, and reads memory.max (v2) or
// memory.limit_in_bytes (v1) from the cgroup up to the mount's root.
func cgroupLimit(root fs.FS) int64 {
	b, err := fs.ReadFile(root, "proc/self/cgroup")
	if err != nil {
		return 0
	}
	var v1, v2 string // the process's cgroup path in each hierarchy
	has1, has2 := false, false
	for _, line := range strings.Split(string(b), "\n") {
		// hierarchy-id:controllers:path
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 {
			continue
		}
		switch {
		case f[0] == "0" && f[1] == "":
			v2, has2 = f[2], true
		case hasField(f[1], "memory"):
			v1, has1 = f[2], true
		}
	}
	mounts, _ := fs.ReadFile(root, "proc/self/mountinfo")
	var best int64
	take := func(lim int64) {
		if lim > 0 && (best == 0 || lim < best) {
			best = lim
		}
	}
	if has1 {
		if mnt, mroot, ok := cgroupMount(string(mounts), "cgroup", "memory"); ok {
			take(walkLimits(root, mnt, mroot, v1, "memory.limit_in_bytes"))
		}
	}
	if has2 {
		if mnt, mroot, ok := cgroupMount(string(mounts), "cgroup2", ""); ok {
			take(walkLimits(root, mnt, mroot, v2, "memory.max"))
		}
	}
	return best
}

// cgroupMount finds the mount of a cgroup hierarchy in mountinfo text:
// fstype "cgroup2", or "cgroup" whose super options include controller.
// It returns the mount point and the cgroup path mounted there.
func cgroupMount(mountinfo, fstype, controller string) (mnt, root string, ok bool) {
	for _, line := range strings.Split(mountinfo, "\n") {
		// id parent major:minor root mountpoint options [optional...] - fstype source superoptions
		pre, post, found := strings.Cut(line, " - ")
		if !found {
			continue
		}
		f, g := strings.Fields(pre), strings.Fields(post)
		if len(f) < 5 || len(g) < 1 || g[0] != fstype {
			continue
		}
		if controller != "" && (len(g) < 3 || !hasField(g[2], controller)) {
			continue
		}
		return unescapeMount(f[4]), unescapeMount(f[3]), true
	}
	return "", "", false
}

// walkLimits reads file in the cgroup at path (mounted at mnt, where the
// cgroup mroot is mounted) and in each ancestor up to the mount, and
// returns the smallest limit set, or 0.
func walkLimits(root fs.FS, mnt, mroot, cgpath, file string) int64 {
	cgpath, mroot = path.Clean(cgpath), path.Clean(mroot)
	rel := "" // a cgroup outside the mounted part: read the mount's root
	switch {
	case mroot == "/":
		rel = cgpath
	case cgpath == mroot || strings.HasPrefix(cgpath, mroot+"/"):
		rel = cgpath[len(mroot):]
	}
	dir := path.Join(strings.TrimPrefix(path.Clean(mnt), "/"), rel)
	top := strings.TrimPrefix(path.Clean(mnt), "/")
	var best int64
	for {
		if b, err := fs.ReadFile(root, path.Join(dir, file)); err == nil {
			if lim := parseLimit(string(b)); lim > 0 && (best == 0 || lim < best) {
				best = lim
			}
		}
		if dir == top || dir == "." || dir == "" {
			return best
		}
		dir = path.Dir(dir)
	}
}

// parseLimit parses a cgroup memory limit: "max" (v2) and the v1 value for
// no limit (near MaxInt64) are no limit (0).
func parseLimit(s string) int64 {
	s = strings.TrimSpace(s)
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n >= 1<<62 {
		return 0
	}
	return n
}

// hasField reports whether the comma-separated list s holds f.
func hasField(s, f string) bool {
	for _, x := range strings.Split(s, ",") {
		if x == f {
			return true
		}
	}
	return false
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
