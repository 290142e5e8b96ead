package pause

// arm64Code is the pause program for AArch64 Linux, hand-assembled; the same
// algorithm as amd64Code. Linux arm64 syscall convention: number in x8,
// arguments in x0-x3, result in x0. Every instruction is one little-endian
// 32-bit word; branch offsets count words from the branch itself.
var arm64Code = []byte{
	// _start: block SIGINT, SIGTERM and SIGCHLD so they queue for
	// rt_sigtimedwait instead of being delivered or dropped.
	0x40, 0x00, 0x88, 0xd2, // 00: movz x0, #0x4002
	0x20, 0x00, 0xa0, 0xf2, // 04: movk x0, #0x1, lsl #16   ; sigset 0x14002: bits 1 (INT), 14 (TERM), 16 (CHLD)
	0xe0, 0x0f, 0x1f, 0xf8, // 08: str  x0, [sp, #-16]!     ; keep sp 16-byte aligned
	0x00, 0x00, 0x80, 0xd2, // 0c: mov  x0, #0              ; how = SIG_BLOCK
	0xe1, 0x03, 0x00, 0x91, // 10: mov  x1, sp              ; set = &sigset
	0x02, 0x00, 0x80, 0xd2, // 14: mov  x2, #0              ; oldset = NULL
	0x03, 0x01, 0x80, 0xd2, // 18: mov  x3, #8              ; sigsetsize
	0xe8, 0x10, 0x80, 0xd2, // 1c: mov  x8, #135            ; rt_sigprocmask
	0x01, 0x00, 0x00, 0xd4, // 20: svc  #0

	// wait: sleep until one of the blocked signals is pending.
	0xe0, 0x03, 0x00, 0x91, // 24: mov  x0, sp              ; set = &sigset
	0x01, 0x00, 0x80, 0xd2, // 28: mov  x1, #0              ; info = NULL
	0x02, 0x00, 0x80, 0xd2, // 2c: mov  x2, #0              ; timeout = NULL (forever)
	0x03, 0x01, 0x80, 0xd2, // 30: mov  x3, #8              ; sigsetsize
	0x28, 0x11, 0x80, 0xd2, // 34: mov  x8, #137            ; rt_sigtimedwait
	0x01, 0x00, 0x00, 0xd4, // 38: svc  #0
	0x1f, 0x44, 0x00, 0xf1, // 3c: cmp  x0, #17             ; SIGCHLD?
	0xc0, 0x00, 0x00, 0x54, // 40: b.eq reap (58)
	0x1f, 0x08, 0x00, 0xf1, // 44: cmp  x0, #2              ; SIGINT?
	0xa0, 0x01, 0x00, 0x54, // 48: b.eq quit (7c)
	0x1f, 0x3c, 0x00, 0xf1, // 4c: cmp  x0, #15             ; SIGTERM?
	0x60, 0x01, 0x00, 0x54, // 50: b.eq quit (7c)
	0xf4, 0xff, 0xff, 0x17, // 54: b    wait (24)           ; anything else (-EINTR): wait again

	// reap: collect every exited child; SIGCHLDs coalesce.
	0x00, 0x00, 0x80, 0x92, // 58: movn x0, #0              ; pid = -1, any child
	0x01, 0x00, 0x80, 0xd2, // 5c: mov  x1, #0              ; wstatus = NULL
	0x22, 0x00, 0x80, 0xd2, // 60: mov  x2, #1              ; options = WNOHANG
	0x03, 0x00, 0x80, 0xd2, // 64: mov  x3, #0              ; rusage = NULL
	0x88, 0x20, 0x80, 0xd2, // 68: mov  x8, #260            ; wait4
	0x01, 0x00, 0x00, 0xd4, // 6c: svc  #0
	0x1f, 0x00, 0x00, 0xf1, // 70: cmp  x0, #0
	0x2c, 0xff, 0xff, 0x54, // 74: b.gt reap (58)           ; reaped one: look for more
	0xeb, 0xff, 0xff, 0x17, // 78: b    wait (24)           ; 0 (none exited) or -ECHILD

	// quit: exit the whole process with status 0.
	0x00, 0x00, 0x80, 0xd2, // 7c: mov  x0, #0              ; status = 0
	0xc8, 0x0b, 0x80, 0xd2, // 80: mov  x8, #94             ; exit_group
	0x01, 0x00, 0x00, 0xd4, // 84: svc  #0
}
