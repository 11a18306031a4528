#!/usr/bin/env python3
"""Runs a command under the seccomp rules a unit file asks systemd for, without systemd.

    python3 deploy/systemd/seccomp-emulate.py deploy/systemd/autoglm-edge.service -- /opt/autoglm/autoglm-edge doctor
    python3 deploy/systemd/seccomp-emulate.py --mdwe deploy/systemd/autoglm-edge.service -- /opt/autoglm/autoglm-edge doctor

It reads the unit's SystemCallFilter= lines (the first is the allow list, each ~ line takes groups away, as systemd
does), expands the @groups with `systemd-analyze syscall-filter`, and answers every other system call with the unit's
SystemCallErrorNumber= (EPERM here). --mdwe adds the rules systemd 252 installs for MemoryDenyWriteExecute=yes:
EPERM for mmap with PROT_WRITE|PROT_EXEC, mprotect/pkey_mprotect with PROT_EXEC, shmat with SHM_EXEC.

It shows whether the daemon survives the unit's filters on a machine without systemd (a container, CI). It does not
emulate the rest of the sandbox (namespaces, device policy, capabilities). Needs python3-seccomp and systemd-analyze.
"""
import errno
import os
import subprocess
import sys

import seccomp

PROT_WRITE, PROT_EXEC, SHM_EXEC = 0x2, 0x4, 0o100000


def expand(name, seen):
    """The system calls of @group (recursively) or of a plain name."""
    if not name.startswith("@"):
        return {name}
    if name in seen:
        return set()
    seen.add(name)
    listing = subprocess.run(["systemd-analyze", "syscall-filter", name], check=True, capture_output=True, text=True).stdout
    calls = set()
    for line in listing.splitlines()[1:]:
        entry = line.strip()
        if entry and not entry.startswith("#"):
            calls |= expand(entry, seen)
    return calls


def unit_filter(unit):
    """(allowed system calls or None for no filter, errno for the rest) from the unit's [Service] section."""
    allowed, number = None, errno.EPERM
    for raw in open(unit, encoding="utf-8"):
        line = raw.strip()
        if line.startswith("SystemCallErrorNumber="):
            number = getattr(errno, line.split("=", 1)[1])
        if not line.startswith("SystemCallFilter="):
            continue
        value = line.split("=", 1)[1]
        deny = value.startswith("~")
        names = set()
        for item in value.lstrip("~").split():
            names |= expand(item, set())
        if deny:
            allowed = (allowed if allowed is not None else set()) - names
        else:
            allowed = (allowed or set()) | names
    return allowed, number


def main(argv):
    mdwe = "--mdwe" in argv
    argv = [a for a in argv if a != "--mdwe"]
    if "--" not in argv or argv.index("--") != 1:
        sys.exit(__doc__)
    unit, command = argv[0], argv[2:]
    allowed, number = unit_filter(unit)
    default_allow = allowed is None
    f = seccomp.SyscallFilter(defaction=seccomp.ALLOW if default_allow else seccomp.ERRNO(number))
    # MemoryDenyWriteExecute: (call, argument index, mask, masked values refused).
    mdwe_rules = [("mmap", 2, PROT_EXEC | PROT_WRITE, PROT_EXEC | PROT_WRITE), ("mprotect", 2, PROT_EXEC, PROT_EXEC),
                  ("pkey_mprotect", 2, PROT_EXEC, PROT_EXEC), ("shmat", 2, SHM_EXEC, SHM_EXEC)] if mdwe else []
    guarded = {rule[0] for rule in mdwe_rules}
    for call in sorted((allowed or set()) - guarded):
        try:
            f.add_rule(seccomp.ALLOW, call)
        except (RuntimeError, ValueError):
            pass  # a name this architecture does not have (e.g. arm_fadvise64_64 on x86-64), as systemd skips it
    for call, arg, mask, refused in mdwe_rules:
        if default_allow:
            f.add_rule(seccomp.ERRNO(errno.EPERM), call, seccomp.Arg(arg, seccomp.MASKED_EQ, mask, refused))
        elif call in allowed:
            # The default already refuses; allow every other masked value (libseccomp cannot mix an unconditional allow
            # with a conditional refusal on one call).
            for value in range(mask + 1):
                if value & mask == value and value != refused:
                    f.add_rule(seccomp.ALLOW, call, seccomp.Arg(arg, seccomp.MASKED_EQ, mask, value))
    f.load()
    os.execvp(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])
