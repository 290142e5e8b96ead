package pause

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
)

// loadAddress is where the executable is mapped; the conventional base of
// non-PIE static executables, aligned for 64 KiB pages.
const loadAddress = 0x400000

// elfExecutable wraps position-dependent machine code into a minimal static
// ELF64 little-endian executable: the ELF header, a PT_LOAD segment mapping
// the whole file read+execute at loadAddress, a PT_GNU_STACK header asking
// for a non-executable stack, then the code, which is the entry point. There
// are no sections: the kernel only reads program headers.
func elfExecutable(machine elf.Machine, pageSize uint64, code []byte) []byte {
	const (
		headerSize        = 64 // sizeof(Elf64_Ehdr)
		programHeaderSize = 56 // sizeof(Elf64_Phdr)
		programHeaders    = 2
		codeOffset        = headerSize + programHeaders*programHeaderSize
	)
	fileSize := uint64(codeOffset + len(code))

	header := elf.Header64{
		Type:      uint16(elf.ET_EXEC),
		Machine:   uint16(machine),
		Version:   uint32(elf.EV_CURRENT),
		Entry:     loadAddress + codeOffset,
		Phoff:     headerSize,
		Ehsize:    headerSize,
		Phentsize: programHeaderSize,
		Phnum:     programHeaders,
	}
	copy(header.Ident[:], elf.ELFMAG)
	header.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	header.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	header.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	header.Ident[elf.EI_OSABI] = byte(elf.ELFOSABI_NONE)

	load := elf.Prog64{
		Type:   uint32(elf.PT_LOAD),
		Flags:  uint32(elf.PF_R | elf.PF_X),
		Off:    0,
		Vaddr:  loadAddress,
		Paddr:  loadAddress,
		Filesz: fileSize,
		Memsz:  fileSize,
		Align:  pageSize,
	}
	stack := elf.Prog64{
		Type:  uint32(elf.PT_GNU_STACK),
		Flags: uint32(elf.PF_R | elf.PF_W),
		Align: 16,
	}

	var out bytes.Buffer
	out.Grow(int(fileSize))
	// Writes to a bytes.Buffer of fixed-size structs cannot fail.
	_ = binary.Write(&out, binary.LittleEndian, &header)
	_ = binary.Write(&out, binary.LittleEndian, &load)
	_ = binary.Write(&out, binary.LittleEndian, &stack)
	out.Write(code)
	return out.Bytes()
}
