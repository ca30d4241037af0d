"""virtcheck.hypervisor"""
