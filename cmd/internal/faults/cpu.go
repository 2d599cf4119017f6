package faults

import (
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTick is USER_HZ, 100 on Linux x86-64 (getconf CLK_TCK).
const clockTick = 10 * time.Millisecond

// ProcessCPU reads the CPU time (utime+stime) pid has used from /proc (0
// when unreadable: the process is gone or this is not Linux).
func ProcessCPU(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:]) // the command name may hold spaces
	if len(fields) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * clockTick
}
