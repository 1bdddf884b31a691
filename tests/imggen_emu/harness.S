/*
 * Test harness: a hard-disk boot sector that plays the 3Com BootWare ROM's part of the
 * TCP/IP "extended image" hand-off, with the image file on the disk instead of TFTP.
 *
 * Disk: LBA 0 = this sector, LBA 1.. = the MBA image (header + payload), img_sectors long.
 * Like the ROM (BootWare TFTP.ASM / IPNID.ASM as described in the imggen reference notes):
 *   - require "ExTx" at +14 and [+12] KB <= INT 15h AH=88h extended memory;
 *   - put the first [+10] bytes at 1000:0000 and the rest at linear 0x110000 (INT 15h AH=87h);
 *   - far return to 1000:0000 with AX = "ROM" segment, BX = offset of a BOOTP reply in it,
 *     CX = 0, DX = 0 (no API table), interrupts enabled.
 * The fake BOOTP reply is the text "RAMSES-FAKE-BOOTP" at 0060:0000.
 * Progress and errors go to COM1 as "H:..." lines; the hand-off line shows the base memory KB.
 */
        .code16
        .intel_syntax noprefix
        .text
        .globl  _start
        .equ    BUF_SEG, 0x2000                 /* bounce buffer for the extended part */
        .equ    CHUNK, 64                       /* sectors per bounce (32 KB) */
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
        mov     si, offset m_start
        call    puts

        mov     word ptr dap_seg, 0x1000        /* first sector: look at the header */
        mov     word ptr dap_cnt, 1
        mov     word ptr dap_lba, 1
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
        add     ax, 1
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
        mov     si, offset bootp                /* the fake BOOTP reply */
        push    0x60
        pop     es
        xor     di, di
        mov     cx, bootp_end - bootp
        rep     movsb
        mov     si, offset m_go
        call    puts
        mov     ax, ds:[0x413]
        call    hex16
        mov     si, offset m_crlf
        call    puts
        mov     ax, 0x60
        xor     bx, bx
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
m_crlf:  .asciz "\r\n"
bootp:   .ascii "RAMSES-FAKE-BOOTP"
bootp_end:
drive:   .byte 0
dst:     .long 0
dap:     .byte 0x10, 0
dap_cnt: .word 0
         .word 0                                /* offset */
dap_seg: .word 0
dap_lba: .long 0, 0
gdt:     .fill 16, 1, 0
         .word 0xffff, 0                        /* source: the bounce buffer */
         .byte BUF_SEG >> 12, 0x93, 0, 0
         .word 0xffff, 0                        /* destination: patched */
         .byte 0, 0x93, 0, 0
         .fill 16, 1, 0

        .org    0x1fc
img_sectors: .word 0                            /* patched by the test */
        .word   0xaa55
