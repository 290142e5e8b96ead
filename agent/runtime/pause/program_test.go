package pause

import (
	"bytes"
	"debug/elf"
	"testing"
)

func TestProgramELFStructure(t *testing.T) {
	tests := []struct {
		goarch   string
		machine  elf.Machine
		pageSize uint64
		code     []byte
	}{
		{goarch: "amd64", machine: elf.EM_X86_64, pageSize: 0x1000, code: amd64Code},
		{goarch: "arm64", machine: elf.EM_AARCH64, pageSize: 0x10000, code: arm64Code},
	}
	for _, tt := range tests {
		t.Run(tt.goarch, func(t *testing.T) {
			program, err := Program(tt.goarch)
			if err != nil {
				t.Fatalf("Program(%q): %v", tt.goarch, err)
			}
			f, err := elf.NewFile(bytes.NewReader(program))
			if err != nil {
				t.Fatalf("parse ELF: %v", err)
			}
			if f.Class != elf.ELFCLASS64 || f.Data != elf.ELFDATA2LSB {
				t.Errorf("class/data = %v/%v, want ELFCLASS64/ELFDATA2LSB", f.Class, f.Data)
			}
			if f.Type != elf.ET_EXEC || f.Machine != tt.machine {
				t.Errorf("type/machine = %v/%v, want ET_EXEC/%v", f.Type, f.Machine, tt.machine)
			}

			var load, stack *elf.Prog
			for _, p := range f.Progs {
				switch p.Type {
				case elf.PT_LOAD:
					if load != nil {
						t.Fatalf("more than one PT_LOAD segment")
					}
					load = p
				case elf.PT_GNU_STACK:
					stack = p
				default:
					t.Errorf("unexpected program header %v", p.Type)
				}
			}
			if load == nil {
				t.Fatalf("no PT_LOAD segment")
			}
			if load.Flags != elf.PF_R|elf.PF_X {
				t.Errorf("PT_LOAD flags = %v, want PF_R+PF_X", load.Flags)
			}
			if load.Off != 0 || load.Filesz != uint64(len(program)) || load.Memsz != load.Filesz {
				t.Errorf("PT_LOAD maps offset %d size %d/%d, want the whole %d-byte file",
					load.Off, load.Filesz, load.Memsz, len(program))
			}
			if load.Align != tt.pageSize || load.Vaddr%load.Align != load.Off%load.Align {
				t.Errorf("PT_LOAD vaddr %#x align %#x, want page-aligned to %#x", load.Vaddr, load.Align, tt.pageSize)
			}
			if stack == nil || stack.Flags&elf.PF_X != 0 {
				t.Errorf("want a non-executable PT_GNU_STACK, got %+v", stack)
			}

			// The entry point must be inside the segment and be exactly the code.
			if f.Entry < load.Vaddr || f.Entry >= load.Vaddr+load.Memsz {
				t.Fatalf("entry %#x outside the loaded segment [%#x, %#x)", f.Entry, load.Vaddr, load.Vaddr+load.Memsz)
			}
			entryOffset := f.Entry - load.Vaddr + load.Off
			if got := program[entryOffset:]; !bytes.Equal(got, tt.code) {
				t.Errorf("bytes at the entry point differ from the %s code", tt.goarch)
			}
			if tt.machine == elf.EM_AARCH64 && (entryOffset%4 != 0 || len(tt.code)%4 != 0) {
				t.Errorf("arm64 code at offset %d, %d bytes: instructions must be 4-byte words", entryOffset, len(tt.code))
			}
		})
	}
}

func TestProgramUnknownArchitecture(t *testing.T) {
	if _, err := Program("riscv64"); err == nil {
		t.Fatalf("Program(riscv64) succeeded, want an error")
	}
}

// The arm64 listing's branch targets must land on the instructions the
// comments name; decode the branch words and check.
func TestARM64BranchTargets(t *testing.T) {
	const (
		wait = 0x24
		reap = 0x58
		quit = 0x7c
	)
	want := map[int]int{0x40: reap, 0x48: quit, 0x50: quit, 0x54: wait, 0x74: reap, 0x78: wait}
	for at, target := range want {
		word := uint32(arm64Code[at]) | uint32(arm64Code[at+1])<<8 | uint32(arm64Code[at+2])<<16 | uint32(arm64Code[at+3])<<24
		var offset int
		switch {
		case word>>26 == 0b000101: // B imm26
			offset = int(int32(word<<6)>>6) * 4
		case word>>24 == 0b01010100: // B.cond imm19
			offset = int(int32(word<<8)>>13) * 4
		default:
			t.Errorf("instruction at %#x (%#08x) is not a branch", at, word)
			continue
		}
		if at+offset != target {
			t.Errorf("branch at %#x goes to %#x, want %#x", at, at+offset, target)
		}
	}
}

// The amd64 listing's short jumps must land on the instructions the
// comments name.
func TestAMD64JumpTargets(t *testing.T) {
	const (
		wait = 0x19
		reap = 0x3e
		quit = 0x5a
	)
	want := map[int]int{0x30: reap, 0x35: quit, 0x3a: quit, 0x3c: wait, 0x56: reap, 0x58: wait}
	for at, target := range want {
		switch amd64Code[at] {
		case 0x74, 0x7f, 0xeb: // je, jg, jmp with an 8-bit displacement
		default:
			t.Errorf("instruction at %#x (opcode %#02x) is not a short jump", at, amd64Code[at])
			continue
		}
		if got := at + 2 + int(int8(amd64Code[at+1])); got != target {
			t.Errorf("jump at %#x goes to %#x, want %#x", at, got, target)
		}
	}
}
