; x86 kernel workload: a protected-mode kernel that a trap-and-emulate monitor can run
; bare-identically, although IA-32 is not virtualizable (docs/x86.md, docs/hypervisor.md).
;
; The kernel (CPL 0, flat segments from reset) builds its GDT and IDT, loads them, loads
; DS and ES with a flat data segment, and enters a user task at ring 2 with IRET. The task
; computes, makes system calls with INT 30H, takes a #GP on a privileged instruction (CLI
; at CPL 2 > IOPL 0) and exits with INT 31H; the kernel counts every trap and halts.
;
; Why ring 2, not ring 3: under the monitor the kernel runs at real CPL 3. An IRET from
; it to ring 3 completes directly (RPL 3 = the real CPL) and leaves the monitor's virtual
; CPL at 0 -- exactly IRET's Theorem 1 violation. An IRET to ring 2 has RPL < the real CPL,
; so it faults and the monitor emulates it. For the same reason DS and ES are loaded with
; a DPL-2 descriptor (a load at real CPL 3 faults, the monitor emulates it; the outer-level
; IRET keeps segments whose DPL is at least the new CPL).
;
; The model's trap entry is abstracted (SDM Vol. 3A §6.12 frame and stack switch left out:
; ring 0 at the gate's offset, IF = 0), so a handler returns through a frame it builds:
; the task leaves its continuation in r6 and its stack pointer stays in r4. Jumps to a
; label are PUSH label; RET (the model's JMP and Jcc take displacements, not labels).
;
; Memory (all below 0x800, so two guests fit in 4 KiB):
;   0x0F0 GDT pseudo-descriptor   0x0F8 IDT pseudo-descriptor
;   0x100 GDT: null, 08H ring-0 code, 10H ring-0 data, 18H ring-2 code, 20H ring-2 data
;   0x200 IDT (vectors 0-31H)     0x400 code
;   0x600 results: 0x600 sum, 0x604 calls, 0x608 faults, 0x60C exits
;   0x6F0 user stack top          0x7F0 kernel stack top

.org 0x400
start:  MOV r4, 0x7F0
        ; --- GDT (SDM Vol. 3A §3.4.5): flat 4-GiB segments, G = 1, D = 1 -----------------
        MOV r0, 0x0000FFFF
        MOV [0x108], r0
        MOV [0x110], r0
        MOV [0x118], r0
        MOV [0x120], r0
        MOV r0, 0x00CF9A00      ; 08H: code, DPL 0, execute/read
        MOV [0x10C], r0
        MOV r0, 0x00CF9200      ; 10H: data, DPL 0, read/write
        MOV [0x114], r0
        MOV r0, 0x00CFDA00      ; 18H: code, DPL 2
        MOV [0x11C], r0
        MOV r0, 0x00CFD200      ; 20H: data, DPL 2
        MOV [0x124], r0
        MOV r0, 0x01000027      ; limit 27H, base 0x100 (low half)
        MOV [0x0F0], r0
        MOV r0, 0
        MOV [0x0F4], r0
        ; --- IDT (SDM Vol. 3A §6.11): 32-bit interrupt gates to selector 08H ------------
        MOV r0, gp_fault        ; vector 13: #GP, DPL 0
        ADD r0, 0x00080000
        MOV [0x268], r0
        MOV r0, 0x00008E00
        MOV [0x26C], r0
        MOV r0, syscall         ; vector 30H: system call, DPL 3 (INT n from any ring)
        ADD r0, 0x00080000
        MOV [0x380], r0
        MOV r0, 0x0000EE00
        MOV [0x384], r0
        MOV r0, exit            ; vector 31H: exit
        ADD r0, 0x00080000
        MOV [0x388], r0
        MOV r0, 0x0000EE00
        MOV [0x38C], r0
        MOV r0, 0x0200018F      ; limit 18FH, base 0x200 (low half)
        MOV [0x0F8], r0
        MOV r0, 0
        MOV [0x0FC], r0
        LGDT [0x0F0]            ; privileged: the monitor emulates it
        LIDT [0x0F8]
        MOV r0, 0x20
        MOV DS, r0              ; DPL 2 < the real CPL 3: faults, emulated
        MOV ES, r0
        ; --- enter the user task at ring 2 (IRET to an outer level, SDM Vol. 2A IRET) ---
        MOV r6, user
        MOV r5, 0x6F0
        PUSH resume             ; jump: the model's JMP takes a displacement, not a label
        RET

; resume the task at r6 with stack r5: push SS, ESP, EFLAGS (IF = 1), CS, EIP; IRET
resume: MOV r4, 0x7F0
        PUSH 0x22
        PUSH r5
        PUSH 0x202
        PUSH 0x1A
        PUSH r6
        IRET

; --- handlers (ring 0, IF = 0) ---------------------------------------------------------
syscall:
        MOV r0, [0x604]         ; calls += 1; sum += the task's r1
        INC r0
        MOV [0x604], r0
        MOV r0, [0x600]
        ADD r0, r1
        MOV [0x600], r0
        MOV r5, r4
        PUSH resume             ; jump: the model's JMP takes a displacement, not a label
        RET

gp_fault:
        MOV r0, [0x608]         ; faults += 1; skip to the task's continuation
        INC r0
        MOV [0x608], r0
        MOV r5, r4
        PUSH resume             ; jump: the model's JMP takes a displacement, not a label
        RET

exit:   MOV r0, [0x60C]
        INC r0
        MOV [0x60C], r0
        MOV r7, [0x600]
        HLT                     ; privileged: the monitor emulates it, the VM halts

; --- the user task (ring 2) ------------------------------------------------------------
user:   MOV r1, 5
        MOV r2, 7
        ADD r1, r2              ; 12
        PUSH r1
        POP r3
        MOV [0x6F8], r3
        MOV r6, back1
        INT 0x30                ; sum = 12
back1:  MOV r2, 1
        ADD r1, r2              ; loop: r1 += 1 .. 10 (r1 = 67)
        INC r2
        CMP r2, 11
        JNZ -11                 ; rel8 from the next instruction: back over these 11 bytes
        MOV r6, back2
        INT 0x30                ; sum = 12 + r1
back2:  MOV r6, back3
        CLI                     ; #GP: CPL 2 > IOPL 0
back3:  MOV r6, back3
        INT 0x31
