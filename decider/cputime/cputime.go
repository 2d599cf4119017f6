package cputime

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTick is Linux's USER_HZ, the unit of the times in /proc/<pid>/stat
// (100 per second on every mainstream architecture; getconf CLK_TCK).
const clockTick = 10 * time.Millisecond

// Of returns the CPU time (utime + stime) process pid has used, read from
// /proc/<pid>/stat: Linux only, and the process must be readable.
func Of(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("read cpu time of process %d: %w", pid, err)
	}
	// The fields after the command name, which is in parentheses and may hold spaces.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("read cpu time of process %d: short /proc/%d/stat", pid, pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("read cpu time of process %d: parse /proc/%d/stat", pid, pid)
	}
	return time.Duration(utime+stime) * clockTick, nil
}
