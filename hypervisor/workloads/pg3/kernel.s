; pg3 kernel workload: an operating system as PG's third-generation machine is used.
;
; The kernel (supervisor mode, R = (0, 4095)) installs its trap PSW, starts one user
; process relocated to 0x200 with bound 0x100 and interrupts enabled, and then serves
; traps until the process exits:
;   svc 1      add the process's r1 to the kernel's total (a "write" system call)
;   svc 0      exit: store the totals and halt the machine
;   timer      count a tick and resume the process where it was interrupted
;   privileged / bounds   count a fault and skip the offending instruction
; Convention: r0 = 0 in user code and kernel alike (pg3 has no hardwired zero).
;
; Trap PSW words (pg3 §2): word0 = cause[31:24] | IE[17] | M[16] | P[11:0],
;                          word1 = l[27:16] | b[11:0].

.org 0
        .word 0                 ; E[0..1] old PSW
        .word 0
        .word 0x10040           ; E[2] new PSW: M = s, IE = 0, P = handler
        .word 0x00000fff        ; E[3]          l = 0, b = 4095
        .word 0                 ; E[4] trap info

.org 0x8
start:  LI r1, upsw
        LPSW r1                 ; enter the user process

.org 0x10
upsw:   .word 0x20000           ; user PSW: IE = 1, M = u, P = 0
        .word 0x02000100        ;           l = 0x200, b = 0x100
total:  .word 0                 ; sum of svc 1 arguments
ticks:  .word 0                 ; timer interrupts taken
faults: .word 0                 ; privileged / bounds faults
calls:  .word 0                 ; system calls served
save:   .word 0                 ; r1 .. r7 of the interrupted process
        .word 0
        .word 0
        .word 0
        .word 0
        .word 0
        .word 0

.org 0x40
handler:
        ST r1, save(r0)
        ST r2, 0x17(r0)
        ST r3, 0x18(r0)
        ST r4, 0x19(r0)
        ST r5, 0x1a(r0)
        ST r6, 0x1b(r0)
        ST r7, 0x1c(r0)
        LD r1, 0(r0)            ; old PSW word0
        LI r2, 24
        SHR r3, r1, r2          ; cause
        LI r2, 3
        BEQ r3, r2, svc
        LI r2, 5
        BEQ r3, r2, timer
        LI r2, 2
        BEQ r3, r2, fault
        LI r2, 1
        BEQ r3, r2, fault
        HALT                    ; an unexpected trap stops the machine

fault:  LD r4, faults(r0)
        ADDI r4, r4, 1
        ST r4, faults(r0)
        JMP skip

svc:    LD r4, calls(r0)
        ADDI r4, r4, 1
        ST r4, calls(r0)
        LD r4, 4(r0)            ; the svc number
        BEQ r4, r0, exit
        LD r5, save(r0)         ; svc 1: the process's r1
        LD r6, total(r0)
        ADD r6, r6, r5
        ST r6, total(r0)
        JMP skip

timer:  LD r4, ticks(r0)
        ADDI r4, r4, 1
        ST r4, ticks(r0)
        JMP resume              ; the saved P is the next instruction to run

skip:   LD r1, 0(r0)            ; resume after the trapping instruction
        ADDI r1, r1, 1
        ST r1, 0(r0)
resume: LD r1, save(r0)
        LD r2, 0x17(r0)
        LD r3, 0x18(r0)
        LD r4, 0x19(r0)
        LD r5, 0x1a(r0)
        LD r6, 0x1b(r0)
        LD r7, 0x1c(r0)
        LPSW r0                 ; back to the process (old PSW at E[0..1])

exit:   LD r5, save(r0)
        ST r5, 0x30(r0)         ; the process's exit value
        HALT

; --- the user process, relocated: virtual address 0 is physical 0x200 -----------------
.org 0x200
        LI r7, 5                ; outer rounds
round:  LI r1, 0                ; sum
        LI r2, 0                ; i
        LI r3, 150              ; n
loop:   ADD r1, r1, r2
        ADDI r2, r2, 1
        BNE r2, r3, loop
        ST r1, 0x80(r0)         ; user data at virtual 0x80
        SVC 1                   ; report the sum
        GETR r4                 ; privileged in user mode: the kernel counts a fault
        LD r5, 0x100(r0)        ; outside the bound: the kernel counts a fault
        ADDI r7, r7, -1
        BNE r7, r0, round
        LD r1, 0x80(r0)
        SVC 0                   ; exit
