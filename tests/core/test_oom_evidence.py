"""The OOM evidence rules on their own, over texts as the kernel writes them (cgroup v1
and v2, the kernel's log), so they are checked on any machine, whatever it allows."""

from __future__ import annotations

import pytest

from app.core.oom_evidence import (
    CgroupFile,
    Clues,
    killed_pid,
    kmsg_record,
    memory_cgroup,
    oom_kill_count,
    verdict,
)

V1_CGROUP = """\
9:name=systemd:/
4:memory:/process_api/800a428efe3a91027a89e3521a953f75
2:cpuacct:/
1:cpu:/
0::/
"""
V1_MOUNTS = """\
25 22 0:23 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
29 25 0:27 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
30 25 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
31 25 0:29 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
V2_CGROUP = "0::/user.slice/user-1000.slice/session-2.scope\n"
V2_MOUNTS = (
    "35 24 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - "
    "cgroup2 cgroup2 rw,nsdelegate\n"
)

V1_OOM_CONTROL = "oom_kill_disable 0\nunder_oom 0\noom_kill 4\n"
V2_MEMORY_EVENTS = "low 0\nhigh 0\nmax 12\noom 2\noom_kill 2\noom_group_kill 0\n"


def test_a_v1_memory_hierarchy_wins_on_a_hybrid_system() -> None:
    assert memory_cgroup(V1_CGROUP, V1_MOUNTS) == CgroupFile(
        1,
        "/sys/fs/cgroup/memory/process_api/800a428efe3a91027a89e3521a953f75/memory.oom_control",
    )


def test_a_v2_only_system_uses_memory_events() -> None:
    assert memory_cgroup(V2_CGROUP, V2_MOUNTS) == CgroupFile(
        2, "/sys/fs/cgroup/user.slice/user-1000.slice/session-2.scope/memory.events"
    )


def test_the_root_cgroup_and_a_namespaced_mount_root() -> None:
    assert memory_cgroup("0::/\n", V2_MOUNTS) == CgroupFile(2, "/sys/fs/cgroup/memory.events")
    # A container's mount shows its own cgroup as the root: the path is cut to it.
    mounts = "40 30 0:31 /docker/abc /sys/fs/cgroup/memory ro - cgroup cgroup rw,memory\n"
    assert memory_cgroup("5:memory:/docker/abc/job\n", mounts) == CgroupFile(
        1, "/sys/fs/cgroup/memory/job/memory.oom_control"
    )


def test_no_memory_cgroup_mounted_means_no_counter() -> None:
    assert memory_cgroup(V1_CGROUP, "") is None
    assert memory_cgroup("", V2_MOUNTS) is None
    assert memory_cgroup("garbage without colons\n", V2_MOUNTS) is None
    assert memory_cgroup(V2_CGROUP, "short line\n") is None


def test_a_mount_point_with_an_escaped_space() -> None:
    mounts = r"35 24 0:30 / /sys/fs/my\040cgroup rw - cgroup2 cgroup2 rw" + "\n"
    assert memory_cgroup("0::/a\n", mounts) == CgroupFile(2, "/sys/fs/my cgroup/a/memory.events")


@pytest.mark.parametrize(
    ("text", "count"),
    [
        (V1_OOM_CONTROL, 4),
        (V2_MEMORY_EVENTS, 2),
        ("oom_kill_disable 0\nunder_oom 0\n", None),  # a kernel before 4.13
        ("", None),
        ("oom_kill x\n", None),
    ],
)
def test_the_oom_kill_count(text: str, count: int | None) -> None:
    assert oom_kill_count(text) == count


def test_kernel_log_records_and_the_pid_they_name() -> None:
    record = kmsg_record(
        "3,2211,13600441922,-;Memory cgroup out of memory: Killed process 4242 (python) "
        "total-vm:612000kB, anon-rss:498000kB, file-rss:0kB, shmem-rss:0kB, UID:0\n"
        " SUBSYSTEM=memory\n"
    )
    assert record is not None
    usec, message = record
    assert usec == 13600441922 and message.startswith("Memory cgroup out of memory")
    assert killed_pid(message) == 4242
    assert killed_pid("Out of memory: Killed process 17 (stress) total-vm:1kB") == 17
    assert killed_pid("python[9979]: segfault at 0 ip 00007f1aa2185ad8") is None
    assert killed_pid("Killed process x") is None
    assert kmsg_record("no header here") is None
    assert kmsg_record("6,1,notanumber,-;text") is None


def test_only_a_sigkill_can_be_the_oom_killer() -> None:
    assert verdict(Clues(3)) == (
        False,
        "ruled out: it ended with exit code 3, and the OOM killer only sends SIGKILL",
    )
    oom, evidence = verdict(Clues(-11, count_before=0, count_after=5))
    assert oom is False and "SIGSEGV" in evidence
    oom, evidence = verdict(Clues(None))
    assert oom is False and "unknown exit code" in evidence


def test_a_sigkill_the_parent_sent_is_ruled_out_whatever_the_counters_say() -> None:
    clues = Clues(-9, "cancel(force=True) of its running task", 0, 3, "/x", "Killed process 5")
    assert verdict(clues) == (
        False,
        "ruled out: the parent sent the SIGKILL (cancel(force=True) of its running task)",
    )


def test_the_kernel_log_naming_it_is_the_strongest_evidence() -> None:
    oom, evidence = verdict(
        Clues(-9, kernel_line="Out of memory: Killed process 12 (python)", kernel_log_whole=True)
    )
    assert oom is True
    assert evidence == "the kernel's log says: Out of memory: Killed process 12 (python)"


def test_a_risen_cgroup_counter_without_a_kernel_log_is_likely_the_oom_killer() -> None:
    oom, evidence = verdict(Clues(-9, None, 1, 2, "/sys/fs/cgroup/memory/job/memory.oom_control"))
    assert oom is True
    assert evidence == (
        "a SIGKILL the parent did not send, and the oom_kill count of its memory cgroup "
        "(/sys/fs/cgroup/memory/job/memory.oom_control) went from 1 to 2 during its life"
    )


def test_a_whole_kernel_log_that_names_no_kill_rules_it_out_unless_the_count_rose() -> None:
    oom, evidence = verdict(Clues(-9, None, 1, 1, "/c", None, kernel_log_whole=True))
    assert oom is False
    assert evidence == (
        "ruled out: a SIGKILL the parent did not send, but the kernel's log, read over its "
        "whole life, names no OOM kill of it"
    )
    assert verdict(Clues(-9, kernel_log_whole=True))[0] is False
    # The kernel counts a kill before it signals and logs it just after: the count wins.
    oom, evidence = verdict(Clues(-9, None, 1, 2, "/c", None, kernel_log_whole=True))
    assert oom is True
    assert evidence.endswith(
        "went from 1 to 2 during its life (the kernel's log does not name it: another "
        "process of that cgroup may have been the one killed)"
    )


def test_an_unexplained_sigkill_without_a_kernel_log_is_unknown() -> None:
    oom, evidence = verdict(Clues(-9, None, 2, 2, "/c"))
    assert oom is None and "stayed at 2" in evidence
    oom, evidence = verdict(Clues(-9))
    assert oom is None
    assert evidence == (
        "unknown: a SIGKILL the parent did not send, and neither its memory cgroup's "
        "oom_kill count nor the kernel's log could be read"
    )
    # A counter read before but not after (the cgroup was removed) is no evidence.
    assert verdict(Clues(-9, None, 2, None, "/c"))[0] is None
    # A log that was not read whole, and names nobody, is no evidence either.
    assert verdict(Clues(-9, None, None, None, None, None, kernel_log_whole=False))[0] is None
