package pause

// amd64Code is the pause program for x86-64 Linux, hand-assembled. It takes
// no arguments and uses no memory beyond the 8 bytes it pushes on the stack
// the kernel gave it. Linux x86-64 syscall convention: number in eax,
// arguments in rdi, rsi, rdx, r10; the result comes back in rax, and rcx and
// r11 are clobbered, so rsp stays valid across calls.
//
// The offsets in the listing are from the first instruction; jump
// displacements are relative to the end of the jump instruction.
var amd64Code = []byte{
	// _start: block SIGINT, SIGTERM and SIGCHLD so they queue for
	// rt_sigtimedwait instead of being delivered (or, as PID 1 of a
	// namespace with default handlers, silently dropped).
	0x68, 0x02, 0x40, 0x01, 0x00, // 00: push  0x14002          ; sigset: bits 1 (INT), 14 (TERM), 16 (CHLD)
	0x48, 0x89, 0xe6, //             05: mov   rsi, rsp         ; set = &sigset
	0x31, 0xff, //                   08: xor   edi, edi         ; how = SIG_BLOCK
	0x31, 0xd2, //                   0a: xor   edx, edx         ; oldset = NULL
	0x41, 0xba, 0x08, 0x00, 0x00, 0x00, // 0c: mov r10d, 8      ; sigsetsize
	0xb8, 0x0e, 0x00, 0x00, 0x00, // 12: mov   eax, 14          ; rt_sigprocmask
	0x0f, 0x05, //                   17: syscall

	// wait: sleep until one of the blocked signals is pending.
	0x48, 0x89, 0xe7, //             19: mov   rdi, rsp         ; set = &sigset
	0x31, 0xf6, //                   1c: xor   esi, esi         ; info = NULL
	0x31, 0xd2, //                   1e: xor   edx, edx         ; timeout = NULL (forever)
	0x41, 0xba, 0x08, 0x00, 0x00, 0x00, // 20: mov r10d, 8      ; sigsetsize
	0xb8, 0x80, 0x00, 0x00, 0x00, // 26: mov   eax, 128         ; rt_sigtimedwait
	0x0f, 0x05, //                   2b: syscall
	0x83, 0xf8, 0x11, //             2d: cmp   eax, 17          ; SIGCHLD?
	0x74, 0x0c, //                   30: je    reap (3e)
	0x83, 0xf8, 0x02, //             32: cmp   eax, 2           ; SIGINT?
	0x74, 0x23, //                   35: je    quit (5a)
	0x83, 0xf8, 0x0f, //             37: cmp   eax, 15          ; SIGTERM?
	0x74, 0x1e, //                   3a: je    quit (5a)
	0xeb, 0xdb, //                   3c: jmp   wait (19)        ; anything else (-EINTR): wait again

	// reap: collect every exited child; SIGCHLDs coalesce, so one signal
	// may stand for many children.
	0xbf, 0xff, 0xff, 0xff, 0xff, // 3e: mov   edi, -1          ; pid = any child
	0x31, 0xf6, //                   43: xor   esi, esi         ; wstatus = NULL
	0xba, 0x01, 0x00, 0x00, 0x00, // 45: mov   edx, 1           ; options = WNOHANG
	0x45, 0x31, 0xd2, //             4a: xor   r10d, r10d       ; rusage = NULL
	0xb8, 0x3d, 0x00, 0x00, 0x00, // 4d: mov   eax, 61          ; wait4
	0x0f, 0x05, //                   52: syscall
	0x85, 0xc0, //                   54: test  eax, eax
	0x7f, 0xe6, //                   56: jg    reap (3e)        ; reaped one: look for more
	0xeb, 0xbf, //                   58: jmp   wait (19)        ; 0 (none exited) or -ECHILD

	// quit: exit the whole process with status 0.
	0x31, 0xff, //                   5a: xor   edi, edi         ; status = 0
	0xb8, 0xe7, 0x00, 0x00, 0x00, // 5c: mov   eax, 231         ; exit_group
	0x0f, 0x05, //                   61: syscall
}
