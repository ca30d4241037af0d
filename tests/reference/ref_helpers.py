"""Shared by the reference-machine tests."""

import os

import pytest


def kvm_usable() -> bool:
    return os.path.exists("/dev/kvm") and os.access("/dev/kvm", os.R_OK | os.W_OK)


needs_kvm = pytest.mark.skipif(not kvm_usable(), reason="no usable /dev/kvm on this host")
