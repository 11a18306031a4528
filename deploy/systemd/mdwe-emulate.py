#!/usr/bin/env python3
"""Runs a command under the seccomp filter systemd 252 installs for MemoryDenyWriteExecute=yes.

    python3 deploy/systemd/mdwe-emulate.py /opt/autoglm/autoglm-edge doctor

The filter (systemd's seccomp_memory_deny_write_execute) refuses with EPERM: mmap with PROT_WRITE and PROT_EXEC,
mprotect and pkey_mprotect with PROT_EXEC, shmat with SHM_EXEC. It shows, without systemd, why the unit leaves
MemoryDenyWriteExecute off: the .NET runtime does not survive it. Needs python3-seccomp (apt-get install python3-seccomp).
"""
import errno, os, sys, seccomp
PROT_WRITE, PROT_EXEC, SHM_EXEC = 0x2, 0x4, 0o100000
f = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
f.add_rule(seccomp.ERRNO(errno.EPERM), "mmap", seccomp.Arg(2, seccomp.MASKED_EQ, PROT_EXEC | PROT_WRITE, PROT_EXEC | PROT_WRITE))
f.add_rule(seccomp.ERRNO(errno.EPERM), "mprotect", seccomp.Arg(2, seccomp.MASKED_EQ, PROT_EXEC, PROT_EXEC))
f.add_rule(seccomp.ERRNO(errno.EPERM), "pkey_mprotect", seccomp.Arg(2, seccomp.MASKED_EQ, PROT_EXEC, PROT_EXEC))
f.add_rule(seccomp.ERRNO(errno.EPERM), "shmat", seccomp.Arg(2, seccomp.MASKED_EQ, SHM_EXEC, SHM_EXEC))
f.load()
os.execv(sys.argv[1], sys.argv[1:])
