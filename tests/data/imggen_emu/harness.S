/*
 * Test harness: a hard-disk boot program (three sectors) that plays the 3Com BootWare ROM's
 * part of the TCP/IP "extended image" hand-off, with the image file on the disk instead of TFTP.
 *
 * Disk: LBA 0-2 = this program, LBA 3-5 = the "ROM's" BOOTP/DHCP reply (1536 bytes, any
 * content the test chooses), LBA 6.. = the MBA image (header + payload), img_sectors long.
 * Like the ROM (BootWare TFTP.ASM / IPNID.ASM as described in the imggen reference notes):
 *   - require "ExTx" at +14 and [+12] KB <= INT 15h AH=88h extended memory;
 *   - put the first [+10] bytes at 1000:0000 and the rest at linear 0x110000 (INT 15h AH=87h);
 *   - far return to 1000:0000 with AX = "ROM" segment, BX = offset of the BOOTP reply in it
 *     (rom_seg:rom_off, patched by the test), CX = 0, DX = 0 (no API table), interrupts on.
 * With bit 0 of h_flags set it also turns A20 off (port 92h) before the hand-off, as a ROM
 * whose last INT 15h AH=87h restored it might; the hand-off line then says A20=0.
 * Progress and errors go to COM1 as "H:..." lines; the hand-off line shows the base memory KB.
 */
        .code16
        .intel_syntax noprefix
        .text
        .globl  _start
        .equ    BUF_SEG, 0x2000                 /* bounce buffer for the extended part */
        .equ    CHUNK, 64                       /* sectors per bounce (32 KB) */
        .equ    BOOTP_SECTORS, 3
        .equ    BOOTP_LBA, 3                    /* after this program */
        .equ    IMG_LBA, BOOTP_LBA + BOOTP_SECTORS
_start:
        cli
        xor     ax, ax
        mov     ss, ax
        mov     sp, 0x7c00
        mov     ds, ax
        mov     es, ax
        sti
        cld
        mov     drive, dl
        mov     si, offset dap1                 /* the rest of this program, to 0000:7E00 */
        mov     ah, 0x42
        int     0x13
        jc      hang
        jmp     main
hang:   cli
        hlt
        jmp     hang
dap1:   .byte   0x10, 0
        .word   BOOTP_LBA - 1, 0x7e00, 0
        .long   1, 0
drive:  .byte   0

        .org    0x1f6                           /* patched by the test: */
rom_seg: .word 0x0060                           /* where the BOOTP reply is handed over */
rom_off: .word 0
h_flags: .word 0                                /* bit 0: A20 off before the hand-off */
img_sectors: .word 0
        .word   0xaa55

main:
        mov     si, offset m_start
        call    puts

        mov     ax, rom_seg                     /* the "ROM's" BOOTP reply */
        mov     dap_seg, ax
        mov     ax, rom_off
        mov     dap_off, ax
        mov     word ptr dap_cnt, BOOTP_SECTORS
        mov     word ptr dap_lba, BOOTP_LBA
        call    read
        mov     word ptr dap_off, 0
        mov     word ptr dap_seg, 0x1000        /* first sector: look at the header */
        mov     word ptr dap_cnt, 1
        mov     word ptr dap_lba, IMG_LBA
        call    read
        push    0x1000
        pop     es
        mov     si, offset m_sig
        cmp     dword ptr es:[14], 0x78547845   /* "ExTx" */
        jne     die
        mov     ah, 0x88
        int     0x15
        mov     si, offset m_mem
        cmp     ax, es:[12]
        jb      die
        mov     ax, es:[10]
        shr     ax, 9
        mov     dap_cnt, ax                     /* whole header to 1000:0000 */
        call    read
        mov     bp, img_sectors
        sub     bp, ax                          /* BP = sectors left */
        add     ax, IMG_LBA
        mov     dap_lba, ax
        mov     dword ptr dst, 0x110000
        mov     word ptr dap_seg, BUF_SEG
copy:
        test    bp, bp
        jz      handoff
        mov     ax, CHUNK
        cmp     bp, ax
        jae     1f
        mov     ax, bp
1:      mov     dap_cnt, ax
        call    read
        sub     bp, ax
        add     dap_lba, ax
        mov     ebx, dst                        /* destination descriptor base */
        mov     word ptr gdt+0x1a, bx
        shr     ebx, 16
        mov     byte ptr gdt+0x1c, bl
        mov     byte ptr gdt+0x1f, bh
        mov     cx, ax
        shl     cx, 8                           /* words */
        movzx   eax, ax
        shl     eax, 9
        add     dst, eax
        push    ds
        pop     es
        mov     si, offset gdt
        mov     ah, 0x87
        int     0x15
        mov     si, offset m_move
        jc      die
        jmp     copy

handoff:
        test    byte ptr h_flags, 1
        jz      1f
        in      al, 0x92                        /* A20 off */
        and     al, 0xfc
        out     0x92, al
1:      mov     si, offset m_go
        call    puts
        mov     ax, ds:[0x413]
        call    hex16
        mov     si, offset m_a20
        call    puts
        push    0xffff                          /* A20: does FFFF:0510 alias 0000:0500? */
        pop     es
        mov     word ptr ds:[0x500], 0x1234
        mov     word ptr es:[0x510], 0x4321
        mov     al, '1'
        cmp     word ptr ds:[0x500], 0x1234
        je      2f
        mov     al, '0'
2:      call    putc
        mov     si, offset m_crlf
        call    puts
        mov     ax, rom_seg
        mov     bx, rom_off
        xor     cx, cx
        xor     dx, dx
        push    0x1000
        push    0
        sti
        retf

read:                                           /* dap_cnt sectors, LBA dap_lba -> dap_seg:0 */
        pusha
        mov     si, offset dap
        mov     dl, drive
        mov     ah, 0x42
        int     0x13
        popa
        mov     si, offset m_read
        jc      die
        ret

die:
        call    puts
1:      cli
        hlt
        jmp     1b

puts:                                           /* DS:SI, NUL-terminated, to COM1 */
        lodsb
        test    al, al
        jz      1f
        call    putc
        jmp     puts
1:      ret

hex16:                                          /* AX as 4 hex digits */
        mov     cx, 4
1:      rol     ax, 4
        push    ax
        and     al, 0x0f
        add     al, '0'
        cmp     al, '9'
        jbe     2f
        add     al, 7
2:      call    putc
        pop     ax
        loop    1b
        ret

putc:
        push    dx
        push    ax
        mov     dx, 0x3fd
1:      in      al, dx
        test    al, 0x20
        jz      1b
        mov     dx, 0x3f8
        pop     ax
        out     dx, al
        pop     dx
        ret

m_start: .asciz "H:start\r\n"
m_sig:   .asciz "H:no ExTx\r\n"
m_mem:   .asciz "H:ext mem\r\n"
m_read:  .asciz "H:disk read\r\n"
m_move:  .asciz "H:int15 87\r\n"
m_go:    .asciz "H:handoff BASEKB="
m_a20:   .asciz " A20="
m_crlf:  .asciz "\r\n"
dst:     .long 0
dap:     .byte 0x10, 0
dap_cnt: .word 0
dap_off: .word 0
dap_seg: .word 0
dap_lba: .long 0, 0
gdt:     .fill 16, 1, 0
         .word 0xffff, 0                        /* source: the bounce buffer */
         .byte BUF_SEG >> 12, 0x93, 0, 0
         .word 0xffff, 0                        /* destination: patched */
         .byte 0, 0x93, 0, 0
         .fill 16, 1, 0

        .org    BOOTP_LBA * 512
