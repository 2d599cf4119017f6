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

// Host returns the time all of the machine's CPUs spent idle (idle and
// iowait) and in total since boot, from the first line of /proc/stat: Linux
// only. The idle share of an interval is the difference of two readings.
func Host() (idle, total time.Duration, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, fmt.Errorf("read host cpu time: %w", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 6 || f[0] != "cpu" {
		return 0, 0, fmt.Errorf("read host cpu time: unexpected /proc/stat line %q", line)
	}
	var sum int64
	for i, s := range f[1:] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("read host cpu time: parse /proc/stat field %d: %w", i+1, err)
		}
		if i < 8 { // user nice system idle iowait irq softirq steal; guest times are inside user
			sum += n
		}
		if i == 3 || i == 4 {
			idle += time.Duration(n) * clockTick
		}
	}
	return idle, time.Duration(sum) * clockTick, nil
}

// IdleShare is the share of the machine's CPU time that was idle between
// two readings of Host, between 0 and 1 (0 when the readings are equal).
func IdleShare(idle0, total0, idle1, total1 time.Duration) float64 {
	if total1 <= total0 {
		return 0
	}
	return float64(idle1-idle0) / float64(total1-total0)
}
