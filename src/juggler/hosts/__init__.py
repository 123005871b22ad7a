"""What plays the host for ``juggler run``, read without the lab.

Production code reads a host two ways: the machine itself
(:mod:`juggler.backends.linuxhost`), or a memory cgroup whose limit the VMs share
(:mod:`juggler.hosts.cgroup`). Which VMs run where comes from a plain
description file (:mod:`juggler.hosts.description`) that anyone who starts VMs
may write; the lab's ``lab up`` is one such writer, not a dependency.
"""
