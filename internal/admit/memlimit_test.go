package admit

import (
	"math"
	"testing"
	"testing/fstest"
)

// TestMemLimit_Available reads the memory available to the process from
// fixtures of the files a Linux machine has: cgroup v2 and v1 limits on the
// process's cgroup or an ancestor, no limit, containers with and without a
// cgroup namespace, and no /proc at all.
func TestMemLimit_Available(t *testing.T) {
	const gib = 1 << 30
	meminfo := "MemTotal:       16384000 kB\nMemFree:         1000000 kB\nMemAvailable:    8000000 kB\n"
	const total = 16384000 * 1024
	v2mount := "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate\n"
	v1mounts := "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n" +
		"35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n" +
		"41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n"
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	for _, c := range []struct {
		name string
		fs   fstest.MapFS
		want int64
	}{
		{"v2, the limit on an ancestor", fstest.MapFS{
			"proc/meminfo":        file(meminfo),
			"proc/self/cgroup":    file("0::/user.slice/app.slice/app.scope\n"),
			"proc/self/mountinfo": file(v2mount),
			"sys/fs/cgroup/user.slice/app.slice/app.scope/memory.max": file("max\n"),
			"sys/fs/cgroup/user.slice/app.slice/memory.max":           file("2147483648\n"),
			"sys/fs/cgroup/user.slice/memory.max":                     file("4294967296\n"),
		}, 2 * gib},
		{"v2, the tightest limit on the process's own cgroup", fstest.MapFS{
			"proc/meminfo":                 file(meminfo),
			"proc/self/cgroup":             file("0::/app\n"),
			"proc/self/mountinfo":          file(v2mount),
			"sys/fs/cgroup/app/memory.max": file("536870912\n"),
			"sys/fs/cgroup/memory.max":     file("2147483648\n"),
		}, gib / 2},
		{"v2 container with a cgroup namespace", fstest.MapFS{
			"proc/meminfo":             file(meminfo),
			"proc/self/cgroup":         file("0::/\n"),
			"proc/self/mountinfo":      file(v2mount),
			"sys/fs/cgroup/memory.max": file("1073741824\n"),
		}, gib},
		{"v2 without a limit: physical memory", fstest.MapFS{
			"proc/meminfo":             file(meminfo),
			"proc/self/cgroup":         file("0::/\n"),
			"proc/self/mountinfo":      file(v2mount),
			"sys/fs/cgroup/memory.max": file("max\n"),
		}, total},
		{"a limit above physical memory: physical memory", fstest.MapFS{
			"proc/meminfo":             file(meminfo),
			"proc/self/cgroup":         file("0::/\n"),
			"proc/self/mountinfo":      file(v2mount),
			"sys/fs/cgroup/memory.max": file("68719476736\n"),
		}, total},
		{"v1 hybrid (this project's machine), no limit", fstest.MapFS{
			"proc/meminfo":        file(meminfo),
			"proc/self/cgroup":    file("9:name=systemd:/\n4:memory:/process_api/18731b1b\n1:cpu:/\n0::/\n"),
			"proc/self/mountinfo": file(v1mounts),
			"sys/fs/cgroup/memory/process_api/18731b1b/memory.limit_in_bytes": file("9223372036854771712\n"),
			"sys/fs/cgroup/memory/memory.limit_in_bytes":                      file("9223372036854771712\n"),
		}, total},
		{"v1 hybrid, a limit", fstest.MapFS{
			"proc/meminfo":        file(meminfo),
			"proc/self/cgroup":    file("4:memory:/process_api/18731b1b\n0::/\n"),
			"proc/self/mountinfo": file(v1mounts),
			"sys/fs/cgroup/memory/process_api/18731b1b/memory.limit_in_bytes": file("3221225472\n"),
		}, 3 * gib},
		{"v1 container without a cgroup namespace (its cgroup mounted as the root)", fstest.MapFS{
			"proc/meminfo":        file(meminfo),
			"proc/self/cgroup":    file("12:cpu,cpuacct:/docker/abc\n7:memory:/docker/abc\n"),
			"proc/self/mountinfo": file("40 30 0:35 /docker/abc /sys/fs/cgroup/memory ro,nosuid - cgroup cgroup rw,memory\n"),
			"sys/fs/cgroup/memory/memory.limit_in_bytes": file("805306368\n"),
		}, 768 << 20},
		{"unreadable limits are ignored", fstest.MapFS{
			"proc/meminfo":             file(meminfo),
			"proc/self/cgroup":         file("0::/\n"),
			"proc/self/mountinfo":      file(v2mount),
			"sys/fs/cgroup/memory.max": file("lots\n"),
		}, total},
		{"a mount point with a space", fstest.MapFS{
			"proc/meminfo":        file(meminfo),
			"proc/self/cgroup":    file("0::/\n"),
			"proc/self/mountinfo": file(`30 23 0:26 / /cg\040root rw - cgroup2 cgroup2 rw` + "\n"),
			"cg root/memory.max":  file("1073741824\n"),
		}, gib},
		{"no cgroup files", fstest.MapFS{"proc/meminfo": file(meminfo)}, total},
		{"no /proc (not Linux)", fstest.MapFS{}, 0},
	} {
		if got := availableMemory(c.fs); got != c.want {
			t.Errorf("%s: %d bytes available, want %d", c.name, got, c.want)
		}
	}
}

func TestMemLimit_DefaultBudget(t *testing.T) {
	for _, c := range []struct {
		avail, goLimit, want int64
	}{
		{16 << 30, math.MaxInt64, 4 << 30},       // a quarter
		{2 << 30, math.MaxInt64, 512 << 20},      // a 2 GiB container
		{16 << 30, 1 << 30, 256 << 20},           // GOMEMLIMIT lower
		{1 << 30, 8 << 30, 256 << 20},            // GOMEMLIMIT higher: ignored
		{0, math.MaxInt64, fallbackMemoryBudget}, // unknown
		{0, 4 << 30, 1 << 30},                    // only GOMEMLIMIT
		{32 << 20, math.MaxInt64, 16 << 20},      // at least 16 MiB
	} {
		if got := budgetFor(c.avail, c.goLimit); got != c.want {
			t.Errorf("budgetFor(%d, %d) = %d, want %d", c.avail, c.goLimit, got, c.want)
		}
	}
}
